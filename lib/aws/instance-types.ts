/**
 * Facts about EC2 instance types that a Slurm node line and gres.conf depend on, and the rule that turns
 * them into a pool's `NodeHardware` + `GpuSpec`. Pure data: no cdktf, no AWS calls at synth time, so a
 * plan never depends on the credentials of whoever synthesizes it.
 *
 * Sources (checked 2025):
 * - vCPUs, memory, GPU count and GPU memory of g4dn/g5/g6/p4d/p5: AWS Batch User Guide, "GPU jobs"
 *   (https://docs.aws.amazon.com/batch/latest/userguide/gpu-jobs.html) and the EC2 accelerated computing
 *   instance specifications (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html).
 * - Which sizes support EFA: eksctl's table generated from EC2 DescribeInstanceTypes
 *   (eksctl-io/eksctl pkg/utils/instance/instance_types.go), cross-checked with the EFA user guide.
 * - EFA interfaces per instance: one per network card. P5 has 32 network cards (EC2 user guide, "Maximize
 *   network bandwidth on accelerated instances with EFA"), p4d 4 (4 x 100 Gbps); the single-card g-family
 *   and CPU sizes take 1.
 * - m6i/c6i/r6i/t3: EC2 general purpose / compute / memory optimized / burstable specifications.
 * A wrong number here becomes a node Slurm drains ("Low RealMemory", GRES count mismatch), so a type is
 * only listed when every field was checked; anything else goes through the explicit-hardware path.
 */
import type { GpuSpec, NodeHardware } from '../slurm/model';
import { type NodeTypeTable, resolvePoolHardware } from '../slurm/pool-hardware';

/** GPU models in the table, spelled as the lower-case GRES type Slurm uses (`gpu:<type>:<n>`). */
export type AwsGpuModel = 't4' | 'a10g' | 'l4' | 'a100' | 'h100';

export interface InstanceGpuInfo {
  /** Lower-case GRES type, e.g. `a10g`. */
  readonly type: AwsGpuModel;
  /** GPUs per instance. */
  readonly count: number;
  /** Memory of one GPU, GiB. */
  readonly memoryGiBPerGpu: number;
}

export interface InstanceTypeInfo {
  readonly instanceType: string;
  readonly vcpus: number;
  /** Memory as EC2 sells it (GiB x 1024), before the kernel's share. */
  readonly memoryMiB: number;
  /** @default undefined (no GPUs) */
  readonly gpu?: InstanceGpuInfo;
  /** Whether the type can take an Elastic Fabric Adapter. */
  readonly efa: boolean;
  /** EFA interfaces the type accepts (one per network card); 0 when `efa` is false. */
  readonly maxEfaInterfaces: number;
}

const GIB = 1024;

type Row = readonly [type: string, vcpus: number, memoryGiB: number, gpus: number, maxEfaInterfaces: number];

/** Rows of one family sharing a GPU model (or none): `[type, vCPUs, memory GiB, GPUs, max EFA interfaces]`. */
function family(gpu: { type: AwsGpuModel; memoryGiBPerGpu: number } | undefined, rows: readonly Row[]): InstanceTypeInfo[] {
  return rows.map(([instanceType, vcpus, memoryGiB, gpus, maxEfaInterfaces]) => ({
    instanceType,
    vcpus,
    memoryMiB: memoryGiB * GIB,
    ...(gpu && gpus > 0 ? { gpu: { type: gpu.type, count: gpus, memoryGiBPerGpu: gpu.memoryGiBPerGpu } } : {}),
    efa: maxEfaInterfaces > 0,
    maxEfaInterfaces,
  }));
}

const ROWS: readonly InstanceTypeInfo[] = [
  // G4dn: NVIDIA T4, 16 GiB each. EFA on 8xlarge and up.
  ...family({ type: 't4', memoryGiBPerGpu: 16 }, [
    ['g4dn.xlarge', 4, 16, 1, 0],
    ['g4dn.2xlarge', 8, 32, 1, 0],
    ['g4dn.4xlarge', 16, 64, 1, 0],
    ['g4dn.8xlarge', 32, 128, 1, 1],
    ['g4dn.12xlarge', 48, 192, 4, 1],
    ['g4dn.16xlarge', 64, 256, 1, 1],
    ['g4dn.metal', 96, 384, 8, 1],
  ]),
  // G5: NVIDIA A10G, 24 GiB each. EFA on 8xlarge and up.
  ...family({ type: 'a10g', memoryGiBPerGpu: 24 }, [
    ['g5.xlarge', 4, 16, 1, 0],
    ['g5.2xlarge', 8, 32, 1, 0],
    ['g5.4xlarge', 16, 64, 1, 0],
    ['g5.8xlarge', 32, 128, 1, 1],
    ['g5.12xlarge', 48, 192, 4, 1],
    ['g5.16xlarge', 64, 256, 1, 1],
    ['g5.24xlarge', 96, 384, 4, 1],
    ['g5.48xlarge', 192, 768, 8, 1],
  ]),
  // G6: NVIDIA L4, 24 GiB each. EFA on 8xlarge and up.
  ...family({ type: 'l4', memoryGiBPerGpu: 24 }, [
    ['g6.xlarge', 4, 16, 1, 0],
    ['g6.2xlarge', 8, 32, 1, 0],
    ['g6.4xlarge', 16, 64, 1, 0],
    ['g6.8xlarge', 32, 128, 1, 1],
    ['g6.12xlarge', 48, 192, 4, 1],
    ['g6.16xlarge', 64, 256, 1, 1],
    ['g6.24xlarge', 96, 384, 4, 1],
    ['g6.48xlarge', 192, 768, 8, 1],
  ]),
  // P4d: 8 x NVIDIA A100 40 GiB, 4 x 100 Gbps EFA.
  ...family({ type: 'a100', memoryGiBPerGpu: 40 }, [['p4d.24xlarge', 96, 1152, 8, 4]]),
  // P5: 8 x NVIDIA H100 80 GiB, 32 network cards (3200 Gbps EFA).
  ...family({ type: 'h100', memoryGiBPerGpu: 80 }, [['p5.48xlarge', 192, 2048, 8, 32]]),
  // CPU types for controllers, login nodes and CPU pools. EFA only on the 32xlarge sizes.
  ...family(undefined, [
    ['m6i.large', 2, 8, 0, 0],
    ['m6i.xlarge', 4, 16, 0, 0],
    ['m6i.2xlarge', 8, 32, 0, 0],
    ['m6i.4xlarge', 16, 64, 0, 0],
    ['m6i.8xlarge', 32, 128, 0, 0],
    ['m6i.16xlarge', 64, 256, 0, 0],
    ['m6i.32xlarge', 128, 512, 0, 1],
    ['c6i.large', 2, 4, 0, 0],
    ['c6i.xlarge', 4, 8, 0, 0],
    ['c6i.2xlarge', 8, 16, 0, 0],
    ['c6i.4xlarge', 16, 32, 0, 0],
    ['c6i.8xlarge', 32, 64, 0, 0],
    ['c6i.16xlarge', 64, 128, 0, 0],
    ['c6i.32xlarge', 128, 256, 0, 1],
    ['r6i.large', 2, 16, 0, 0],
    ['r6i.xlarge', 4, 32, 0, 0],
    ['r6i.2xlarge', 8, 64, 0, 0],
    ['r6i.4xlarge', 16, 128, 0, 0],
    ['r6i.8xlarge', 32, 256, 0, 0],
    ['r6i.16xlarge', 64, 512, 0, 0],
    ['r6i.32xlarge', 128, 1024, 0, 1],
    ['t3.micro', 2, 1, 0, 0],
    ['t3.small', 2, 2, 0, 0],
    ['t3.medium', 2, 4, 0, 0],
    ['t3.large', 2, 8, 0, 0],
    ['t3.xlarge', 4, 16, 0, 0],
    ['t3.2xlarge', 8, 32, 0, 0],
  ]),
];

/** Every type in the table, by name. */
export const EC2_INSTANCE_TYPES: Readonly<Record<string, InstanceTypeInfo>> = Object.freeze(
  Object.fromEntries(ROWS.map((r) => [r.instanceType, Object.freeze(r)])),
);

/** Facts for `instanceType`, or `undefined` when the table does not know it. Case-sensitive, as EC2 is. */
export function instanceTypeInfo(instanceType: string): InstanceTypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(EC2_INSTANCE_TYPES, instanceType) ? EC2_INSTANCE_TYPES[instanceType] : undefined;
}

export interface PoolHardwareOptions {
  /** EC2 instance type of every node in the pool, e.g. `g5.12xlarge`. */
  readonly instanceType: string;
  /**
   * GPUs per node. For a type in the table, leave it out (the table decides) or repeat the table's values;
   * for other types give both `type` and `count`.
   * @default the table's GPUs (none for CPU types)
   */
  readonly gpus?: { readonly type?: string; readonly count?: number };
  /**
   * `CPUs=` of the node line. For a type in the table it may be lower than its vCPUs (to keep some for the
   * OS), never higher.
   * @default the table's vCPUs; required for types not in the table
   */
  readonly cpus?: number;
  /**
   * `RealMemory=` in MiB. For a type in the table it may not exceed the sold memory.
   * @default `realMemoryForMiB` (lib/slurm/pool-hardware) of the table's memory; required for types not in the table
   */
  readonly realMemoryMiB?: number;
  /** Prefix of error messages, e.g. `ComputeNodePool 'gpu'` or a construct path. */
  readonly where: string;
  /** Put before the type and hardware field names in messages (`nodes.`). @default none */
  readonly fieldPrefix?: string;
}

export interface PoolHardware {
  readonly hardware: NodeHardware;
  /** @default undefined (no GPUs) */
  readonly gpus?: GpuSpec;
  /** The table's entry, when the type is known. @default undefined */
  readonly info?: InstanceTypeInfo;
}

const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;

/** The EC2 table as the shared pool-hardware rule reads it. */
const EC2_TABLE: NodeTypeTable<InstanceTypeInfo> = {
  field: 'instanceType',
  namePattern: INSTANCE_TYPE,
  nameProblem: 'is not an EC2 instance type name',
  nameFix: 'Use the family.size form in lower case, e.g. "g5.12xlarge" or "m6i.large".',
  lookup: instanceTypeInfo,
  tableName: 'instance-type table',
  unit: 'instance',
  gpuTypeExamples: '"a10g", "l4" or "h100"',
  unknownGpuExample: '"l40s"',
  checkGpus: (issues, instanceType, info, gpus) => {
    if (info.gpu === undefined) {
      issues.push({
        field: 'gpus',
        value: gpus,
        problem: `but ${instanceType} has no GPUs`,
        fix: 'Leave gpus out, or pick a GPU instance type (g4dn, g5, g6, p4d, p5).',
      });
      return;
    }
    if (gpus.type !== undefined && gpus.type !== info.gpu.type) {
      issues.push({
        field: 'gpus.type',
        value: gpus.type,
        problem: `disagrees with ${instanceType}, whose GPUs are "${info.gpu.type}"`,
        fix: `Leave gpus.type out or set it to "${info.gpu.type}".`,
      });
    }
    if (gpus.count !== undefined && gpus.count !== info.gpu.count) {
      issues.push({
        field: 'gpus.count',
        value: gpus.count,
        problem: `disagrees with ${instanceType}, which has ${info.gpu.count} GPU${info.gpu.count === 1 ? '' : 's'}`,
        fix: `Leave gpus.count out or set it to ${info.gpu.count}; for fewer GPUs per node pick a smaller size.`,
      });
    }
  },
};

/**
 * The node hardware and GPUs of a pool of `instanceType` nodes: from the table when the type is known
 * (user values may only repeat or lower it), from the user's values otherwise. Throws a
 * {@link SlurmConfigError} naming `where`, the field, the value, the table's value and the fix.
 */
export function poolHardwareFor(options: PoolHardwareOptions): PoolHardware {
  const { instanceType, ...rest } = options;
  return resolvePoolHardware(EC2_TABLE, { name: instanceType, ...rest });
}
