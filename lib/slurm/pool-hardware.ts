/**
 * A pool's `NodeHardware` and `GpuSpec` from a cloud's table of node types (EC2 instance types, Compute
 * Engine machine types), one rule for every cloud: a known type gives the values and the user may only repeat
 * or lower them; an unknown type needs them all. Each cloud's table supplies its facts and its wording.
 */
import { SlurmConfigError, type ConfigIssue } from './errors';
import type { GpuSpec, NodeHardware } from './model';

/** What a table knows about one node type. */
export interface NodeTypeFacts {
  readonly vcpus: number;
  /** Sold memory, MiB. */
  readonly memoryMiB: number;
  /** @default no GPUs */
  readonly gpu?: { readonly type: string; readonly count: number };
}

/** GPUs per node as a user gives them. */
export interface RequestedGpus {
  readonly type?: string;
  readonly count?: number;
}

/** A cloud's table and how its messages speak of it. */
export interface NodeTypeTable<I extends NodeTypeFacts> {
  /** Prop naming the type, e.g. `instanceType`. */
  readonly field: string;
  readonly namePattern: RegExp;
  /** e.g. `is not an EC2 instance type name` */
  readonly nameProblem: string;
  readonly nameFix: string;
  readonly lookup: (name: string) => I | undefined;
  /** e.g. `instance-type table` */
  readonly tableName: string;
  /** What one node is called, e.g. `instance` or `VM`. */
  readonly unit: string;
  /** GRES type examples for a malformed `gpus.type`, e.g. `"a10g", "l4" or "h100"`. */
  readonly gpuTypeExamples: string;
  /** A GPU model the table lacks, for the fix of an unknown type, e.g. `"l40s"`. */
  readonly unknownGpuExample: string;
  /** Adds an issue for each way the user's `gpus` disagree with a known type's entry. */
  readonly checkGpus: (issues: ConfigIssue[], name: string, info: I, gpus: RequestedGpus) => void;
}

export interface PoolHardwareRequest {
  /** The node type, e.g. `g5.12xlarge` or `a3-megagpu-8g`. */
  readonly name: string;
  /** @default the table's GPUs (none for CPU types); required for types not in the table, if any */
  readonly gpus?: RequestedGpus;
  /** @default the table's vCPUs; required for types not in the table */
  readonly cpus?: number;
  /** @default {@link realMemoryForMiB} of the table's memory; required for types not in the table */
  readonly realMemoryMiB?: number;
  /** Prefix of error messages, e.g. a construct path. */
  readonly where: string;
  /**
   * Put before the names of the type and hardware fields in messages, where they are settings of a placement
   * (`nodes.instanceType`); `gpus.*` are the pool's own. @default none
   */
  readonly fieldPrefix?: string;
}

export interface ResolvedPoolHardware<I> {
  readonly hardware: NodeHardware;
  /** @default undefined (no GPUs) */
  readonly gpus?: GpuSpec;
  /** The table's entry, when the type is known. @default undefined */
  readonly info?: I;
}

const GIB = 1024;

/**
 * `RealMemory` for a node with `memoryMiB` of sold memory: 95% of it, and at least 2 GiB less on nodes of
 * 4 GiB and up (half of the memory below that).
 *
 * Why: slurmd reports the kernel's MemTotal, which on EC2 and GCE is already 2-4% below the sold size, and Slurm
 * drains a node whose configured RealMemory exceeds what it reports. The 5% covers that plus the OS and
 * daemons; the 2 GiB floor protects small sizes, where 5% is less than the OS needs. ParallelCluster
 * uses the same 95%.
 */
export function realMemoryForMiB(memoryMiB: number): number {
  const floor = memoryMiB >= 4 * GIB ? 2 * GIB : Math.floor(memoryMiB / 2);
  return memoryMiB - Math.max(floor, Math.ceil(memoryMiB * 0.05));
}

/**
 * The node hardware and GPUs of a pool of `request.name` nodes: from the table when the type is known, from
 * the user's values otherwise. Throws a {@link SlurmConfigError} naming `where`, the field, the value, the
 * table's value and the fix.
 */
export function resolvePoolHardware<I extends NodeTypeFacts>(table: NodeTypeTable<I>, request: PoolHardwareRequest): ResolvedPoolHardware<I> {
  const { name, gpus, cpus, realMemoryMiB, where } = request;
  const issues: ConfigIssue[] = [];
  const prefix = request.fieldPrefix ?? '';
  const fail = (): never => {
    throw new SlurmConfigError(issues.map((i) => (i.field.startsWith('gpus') ? i : { ...i, field: `${prefix}${i.field}` })), where);
  };

  if (typeof name !== 'string' || !table.namePattern.test(name)) {
    issues.push({ field: table.field, value: name, problem: table.nameProblem, fix: table.nameFix });
    fail();
  }
  checkPositiveInt(issues, 'cpus', cpus);
  checkPositiveInt(issues, 'realMemoryMiB', realMemoryMiB);
  if (gpus?.count !== undefined) checkPositiveInt(issues, 'gpus.count', gpus.count);
  if (gpus?.type !== undefined && !/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(gpus.type)) {
    issues.push({
      field: 'gpus.type',
      value: gpus.type,
      problem: 'must be a lower-case GRES type token',
      fix: `Use the GPU model in lower case, e.g. ${table.gpuTypeExamples}.`,
    });
  }
  if (issues.length) fail();

  const info = table.lookup(name);
  if (info === undefined) return fromUser(table, request, issues, fail);

  if (cpus !== undefined && cpus > info.vcpus) {
    issues.push({
      field: 'cpus',
      value: cpus,
      problem: `is more than the ${info.vcpus} vCPUs of ${name}; Slurm would drain every node`,
      fix: `Leave cpus out (the table gives ${info.vcpus}) or give at most ${info.vcpus}.`,
    });
  }
  if (realMemoryMiB !== undefined && realMemoryMiB > info.memoryMiB) {
    issues.push({
      field: 'realMemoryMiB',
      value: realMemoryMiB,
      problem: `is more than the ${info.memoryMiB} MiB ${name} has; Slurm would drain every node (Low RealMemory)`,
      fix: `Leave realMemoryMiB out (the default is ${realMemoryForMiB(info.memoryMiB)} MiB, leaving room for the OS) or give less.`,
    });
  }
  if (gpus !== undefined) table.checkGpus(issues, name, info, gpus);
  if (issues.length) fail();

  return {
    hardware: { cpus: cpus ?? info.vcpus, realMemoryMiB: realMemoryMiB ?? realMemoryForMiB(info.memoryMiB) },
    ...(info.gpu ? { gpus: { type: info.gpu.type, count: info.gpu.count } } : {}),
    info,
  };
}

function fromUser<I extends NodeTypeFacts>(
  table: NodeTypeTable<I>,
  request: PoolHardwareRequest,
  issues: ConfigIssue[],
  fail: () => never,
): ResolvedPoolHardware<I> {
  const { name, gpus, cpus, realMemoryMiB } = request;
  const unknown = `${name} is not in the library's ${table.tableName}`;
  if (cpus === undefined) {
    issues.push({ field: 'cpus', value: undefined, problem: `is required because ${unknown}`, fix: `Give cpus: the vCPUs of ${name}.` });
  }
  if (realMemoryMiB === undefined) {
    issues.push({
      field: 'realMemoryMiB',
      value: undefined,
      problem: `is required because ${unknown}`,
      fix: `Give realMemoryMiB, about 95% of ${name}'s memory in MiB (at least 2 GiB below it), or what 'slurmd -C' prints on one.`,
    });
  }
  if (gpus !== undefined) {
    if (gpus.type === undefined) {
      issues.push({ field: 'gpus.type', value: undefined, problem: `is required because ${unknown}`, fix: `Give the GPU model in lower case, e.g. ${table.unknownGpuExample}.` });
    }
    if (gpus.count === undefined) {
      issues.push({ field: 'gpus.count', value: undefined, problem: `is required because ${unknown}`, fix: `Give the GPUs per ${name} ${table.unit}.` });
    }
  }
  if (issues.length) fail();
  return {
    hardware: { cpus: cpus as number, realMemoryMiB: realMemoryMiB as number },
    ...(gpus ? { gpus: { type: gpus.type as string, count: gpus.count as number } } : {}),
  };
}

function checkPositiveInt(issues: ConfigIssue[], field: string, value: number | undefined): void {
  if (value === undefined) return;
  if (!Number.isSafeInteger(value) || value < 1) {
    issues.push({ field, value, problem: 'must be a whole number of at least 1', fix: `Give ${field} as a positive integer, or leave it out.` });
  }
}

/** GPU models whose 8-GPU boards (HGX: A3, A2 8g/16g, p4d, p5) join the GPUs through NVSwitch. */
const NVSWITCH_MODELS = new Set(['a100', 'h100', 'h200', 'b200']);

/**
 * Whether a node's GPUs sit on an NVSwitch board, where NVIDIA Fabric Manager must run before CUDA works
 * ("system not yet initialized" otherwise): 8 or more SXM data-centre GPUs of those models.
 */
export function needsFabricManager(gpus: { readonly type: string; readonly count: number } | undefined): boolean {
  return gpus !== undefined && gpus.count >= 8 && NVSWITCH_MODELS.has(gpus.type.toLowerCase());
}
