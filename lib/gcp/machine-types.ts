/**
 * Facts about Compute Engine machine types that a Slurm node line, gres.conf and the instance template
 * depend on, and the rule that turns them into a pool's `NodeHardware` + `GpuSpec`. Pure data: no cdktf,
 * no Google API calls at synth time, so a plan never depends on the credentials of whoever synthesizes it.
 *
 * Sources (checked 2026-11):
 * - vCPUs, memory, GPU model and count, bundled Local SSD and physical NIC count of the A3, A2 and G2
 *   types: Compute Engine "GPU machine types" (https://cloud.google.com/compute/docs/gpus, as mirrored
 *   at documentation.s3ns.fr/compute/docs/gpus, last updated 2026-08-26). Memory there is in "GB" that
 *   are GiB: the API reports n1-standard-1's "3.75 GB" as `memoryMb: 3840`.
 * - `gpuNics`: the physical NIC count minus the one system NIC (A3 Mega 9 -> 8, A3 High 8g 5 -> 4);
 *   every other type here has a single NIC.
 * - GPUDirect flavour: TCPXO on A3 Mega, TCPX on A3 High (Google's A3 docs; cross-checked with the
 *   `gpu_direct_name` of AI-Hypercomputer/xpk src/xpk/core/system_characteristics.py).
 * - n2/c2/e2 standard types: 4 GiB per vCPU. n2 from Google's Cluster Director "Compute" page; c2 from
 *   SkyPilot's GCP catalog (skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv, generated from the
 *   Compute Engine API); e2-standard-4 (4 vCPU, 16 GB) from several public machine tables, not from
 *   Google's own page.
 * A wrong number here becomes a node Slurm drains ("Low RealMemory", GRES count mismatch), so a type is
 * only listed when every field was checked; anything else goes through the explicit-hardware path.
 */
import type { ConfigIssue } from '../slurm/errors';
import type { GpuSpec, NodeHardware } from '../slurm/model';
import { type NodeTypeTable, resolvePoolHardware } from '../slurm/pool-hardware';

/** GPU models in the table, spelled as the lower-case GRES type Slurm uses (`gpu:<type>:<n>`). */
export type GcpGpuModel = 'h100' | 'a100' | 'l4';

/** GPUDirect flavour the type's GPU NICs speak; decides which NCCL plugin and daemons a node needs. */
export type GcpGpuDirect = 'tcpxo' | 'tcpx';

/** Size of one Local SSD disk, GiB. Bundled disks of A2 Ultra and A3 come in this unit. */
export const LOCAL_SSD_DISK_GIB = 375;

export interface GcpMachineGpuInfo {
  /** Lower-case GRES type, e.g. `h100`. */
  readonly type: GcpGpuModel;
  /** GPUs per VM; fixed by the machine type. */
  readonly count: number;
  /** Memory of one GPU, GB. */
  readonly memoryGiBPerGpu: number;
  /** Compute Engine accelerator type, as quotas and `gcloud compute accelerator-types` name it. */
  readonly acceleratorType: string;
}

export interface GcpMachineTypeInfo {
  readonly machineType: string;
  readonly vcpus: number;
  /** Memory as Compute Engine sells it (the API's `memoryMb`, which is MiB), before the kernel's share. */
  readonly memoryMiB: number;
  /** @default undefined (no GPUs) */
  readonly gpu?: GcpMachineGpuInfo;
  /** NICs needed besides the system NIC, one per GPU VPC (A3 Mega 8, A3 High 4, others 0). */
  readonly gpuNics: number;
  /** GPUDirect flavour of the GPU NICs. @default undefined (no GPUDirect networking) */
  readonly gpuDirect?: GcpGpuDirect;
  /** Local SSDs that come with the type and cannot be left out (each {@link LOCAL_SSD_DISK_GIB} GiB); 0 if none. */
  readonly localSsdCount: number;
  /** GPU VMs cannot live-migrate: their `on_host_maintenance` must be `TERMINATE`. */
  readonly requiresTerminateOnMaintenance: boolean;
}

const GIB = 1024;

type Row = readonly [machineType: string, vcpus: number, memoryGiB: number, gpus: number, localSsdCount: number];

/** What every row of a family shares. */
interface FamilyFacts {
  /** GPU model of the family; each row gives the count. @default undefined (CPU family) */
  readonly gpu?: Omit<GcpMachineGpuInfo, 'count'>;
  /** @default 0 */
  readonly gpuNics?: number;
  /** @default undefined (no GPUDirect networking) */
  readonly gpuDirect?: GcpGpuDirect;
  readonly requiresTerminateOnMaintenance: boolean;
}

/** Rows of one family sharing a GPU model (or none): `[type, vCPUs, memory GiB, GPUs, bundled local SSDs]`. */
function family(facts: FamilyFacts, rows: readonly Row[]): GcpMachineTypeInfo[] {
  return rows.map(([machineType, vcpus, memoryGiB, gpus, localSsdCount]) => ({
    machineType,
    vcpus,
    memoryMiB: memoryGiB * GIB,
    ...(facts.gpu && gpus > 0 ? { gpu: { ...facts.gpu, count: gpus } } : {}),
    gpuNics: facts.gpuNics ?? 0,
    ...(facts.gpuDirect ? { gpuDirect: facts.gpuDirect } : {}),
    localSsdCount,
    requiresTerminateOnMaintenance: facts.requiresTerminateOnMaintenance,
  }));
}

const ROWS: readonly GcpMachineTypeInfo[] = [
  // A3 Mega: 8 x H100 80GB, 1 system NIC + 8 GPU NICs (9 physical), GPUDirect-TCPXO, 6,000 GiB bundled SSD.
  ...family(
    {
      gpu: { type: 'h100', memoryGiBPerGpu: 80, acceleratorType: 'nvidia-h100-mega-80gb' },
      gpuNics: 8,
      gpuDirect: 'tcpxo',
      requiresTerminateOnMaintenance: true,
    },
    [['a3-megagpu-8g', 208, 1872, 8, 16]],
  ),
  // A3 High 8g: 8 x H100 80GB, 1 system NIC + 4 GPU NICs (5 physical), GPUDirect-TCPX, 6,000 GiB SSD.
  ...family(
    {
      gpu: { type: 'h100', memoryGiBPerGpu: 80, acceleratorType: 'nvidia-h100-80gb' },
      gpuNics: 4,
      gpuDirect: 'tcpx',
      requiresTerminateOnMaintenance: true,
    },
    [['a3-highgpu-8g', 208, 1872, 8, 16]],
  ),
  // A2 Standard: A100 40GB; Local SSD optional (not bundled).
  ...family(
    { gpu: { type: 'a100', memoryGiBPerGpu: 40, acceleratorType: 'nvidia-tesla-a100' }, requiresTerminateOnMaintenance: true },
    [
      ['a2-highgpu-1g', 12, 85, 1, 0],
      ['a2-highgpu-2g', 24, 170, 2, 0],
      ['a2-highgpu-4g', 48, 340, 4, 0],
      ['a2-highgpu-8g', 96, 680, 8, 0],
    ],
  ),
  // A2 Ultra: A100 80GB, 3,000 GiB bundled SSD on the 8g.
  ...family(
    { gpu: { type: 'a100', memoryGiBPerGpu: 80, acceleratorType: 'nvidia-a100-80gb' }, requiresTerminateOnMaintenance: true },
    [['a2-ultragpu-8g', 96, 1360, 8, 8]],
  ),
  // G2: NVIDIA L4 24GB, default memory; Local SSD optional. Note g2-standard-32 has one GPU, like 4-16.
  ...family(
    { gpu: { type: 'l4', memoryGiBPerGpu: 24, acceleratorType: 'nvidia-l4' }, requiresTerminateOnMaintenance: true },
    [
      ['g2-standard-4', 4, 16, 1, 0],
      ['g2-standard-8', 8, 32, 1, 0],
      ['g2-standard-12', 12, 48, 1, 0],
      ['g2-standard-16', 16, 64, 1, 0],
      ['g2-standard-24', 24, 96, 2, 0],
      ['g2-standard-32', 32, 128, 1, 0],
      ['g2-standard-48', 48, 192, 4, 0],
      ['g2-standard-96', 96, 384, 8, 0],
    ],
  ),
  // CPU types for controllers, login and debug nodes; these live-migrate.
  ...family({ requiresTerminateOnMaintenance: false }, [
    ['n2-standard-2', 2, 8, 0, 0],
    ['n2-standard-4', 4, 16, 0, 0],
    ['n2-standard-8', 8, 32, 0, 0],
    ['n2-standard-16', 16, 64, 0, 0],
    ['c2-standard-4', 4, 16, 0, 0],
    ['c2-standard-8', 8, 32, 0, 0],
    ['c2-standard-16', 16, 64, 0, 0],
    ['e2-standard-4', 4, 16, 0, 0],
  ]),
];

/** Every type in the table, by name. */
export const GCP_MACHINE_TYPES: Readonly<Record<string, GcpMachineTypeInfo>> = Object.freeze(
  Object.fromEntries(ROWS.map((r) => [r.machineType, Object.freeze({ ...r, ...(r.gpu ? { gpu: Object.freeze(r.gpu) } : {}) })])),
);

/** Facts for `machineType`, or `undefined` when the table does not know it. */
export function gcpMachineTypeInfo(machineType: string): GcpMachineTypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(GCP_MACHINE_TYPES, machineType) ? GCP_MACHINE_TYPES[machineType] : undefined;
}

const US_CENTRAL1_ABC = ['us-central1-a', 'us-central1-b', 'us-central1-c'];

/**
 * Zones that offer each GPU type. A DATED SNAPSHOT (2026-11), not live data: Google adds zones over time,
 * so a zone missing here may have gained the type since. Taken from SkyPilot's GCP catalog
 * (skypilot-org/skypilot-catalog catalogs/v8/gcp/vms.csv, generated from the Compute Engine API); the
 * Google page "GPU regions and zones availability" could not be read from where this was written.
 * Check a zone with `gcloud compute machine-types list --filter="name=<type>" --zones=<zone>`.
 * Types not listed here (G2, CPU types) are offered too widely to be worth a list.
 */
export const GCP_ZONES_BY_MACHINE_TYPE: Readonly<Record<string, readonly string[]>> = deepFreeze({
  'a3-megagpu-8g': [
    'asia-east1-c',
    'asia-northeast1-b',
    'asia-southeast1-b',
    'asia-southeast1-c',
    'australia-southeast1-c',
    'europe-north1-c',
    'europe-west1-b',
    'europe-west1-c',
    'europe-west3-c',
    'europe-west4-b',
    'europe-west4-c',
    ...US_CENTRAL1_ABC,
    'us-east4-a',
    'us-east4-b',
    'us-east4-c',
    'us-east5-a',
    'us-west1-a',
    'us-west1-b',
    'us-west4-a',
  ],
  'a3-highgpu-8g': [
    'asia-east1-c',
    'asia-northeast1-b',
    'asia-south1-c',
    'asia-south2-b',
    'asia-southeast1-b',
    'asia-southeast1-c',
    'australia-southeast1-c',
    'europe-north1-c',
    'europe-west1-b',
    'europe-west1-c',
    'europe-west3-c',
    'europe-west4-b',
    'europe-west4-c',
    'europe-west9-c',
    ...US_CENTRAL1_ABC,
    'us-east4-a',
    'us-east4-b',
    'us-east4-c',
    'us-east5-a',
    'us-west1-a',
    'us-west1-b',
    'us-west4-a',
  ],
  // The four A2 Standard sizes share their zones.
  ...Object.fromEntries(
    ['a2-highgpu-1g', 'a2-highgpu-2g', 'a2-highgpu-4g', 'a2-highgpu-8g'].map((t) => [
      t,
      [
        'asia-northeast1-a',
        'asia-northeast1-c',
        'asia-northeast3-a',
        'asia-northeast3-b',
        'asia-southeast1-a',
        'asia-southeast1-b',
        'asia-southeast1-c',
        'europe-west4-a',
        'europe-west4-b',
        'me-west1-a',
        'me-west1-c',
        ...US_CENTRAL1_ABC,
        'us-central1-f',
        'us-east1-b',
        'us-west1-b',
        'us-west3-b',
        'us-west4-b',
      ],
    ]),
  ),
  'a2-ultragpu-8g': ['asia-southeast1-c', 'europe-west4-a', 'us-central1-a', 'us-central1-c', 'us-east4-c', 'us-east5-a', 'us-east5-b'],
});

function deepFreeze<T extends Record<string, readonly string[]>>(table: T): Readonly<T> {
  for (const zones of Object.values(table)) Object.freeze(zones);
  return Object.freeze(table);
}

/**
 * Why `zone` cannot host `machineType`, or `undefined` when it can (or when the type has no zone list, so
 * nothing is known against it). The message names the zones that have the type.
 */
export function zoneProblem(machineType: string, zone: string): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(GCP_ZONES_BY_MACHINE_TYPE, machineType)) return undefined;
  const zones = GCP_ZONES_BY_MACHINE_TYPE[machineType];
  if (zones.includes(zone)) return undefined;
  const region = zone.replace(/-[a-z]$/, '');
  const sameRegion = zones.filter((z) => z.startsWith(`${region}-`));
  const hint = sameRegion.length ? ` In ${region}: ${sameRegion.join(', ')}.` : '';
  return (
    `${machineType} is not offered in zone "${zone}" (library snapshot of 2026-11).${hint} Zones that have it: ${zones.join(', ')}. ` +
    `Pick one of them, or if Google has added "${zone}" since, check with ` +
    `'gcloud compute machine-types list --filter="name=${machineType}" --zones=${zone}'.`
  );
}

export interface GcpPoolHardwareOptions {
  /** Machine type of every node in the pool, e.g. `a3-megagpu-8g`. */
  readonly machineType: string;
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
  /** Prefix of error messages, e.g. `ComputeNodePool 'a3mega'` or a construct path. */
  readonly where: string;
  /** Put before the type and hardware field names in messages (`nodes.`). @default none */
  readonly fieldPrefix?: string;
}

export interface GcpPoolHardware {
  readonly hardware: NodeHardware;
  /** @default undefined (no GPUs) */
  readonly gpus?: GpuSpec;
  /** The table's entry, when the type is known. @default undefined */
  readonly info?: GcpMachineTypeInfo;
}

/** Shape of a predefined or custom machine type name: `<series>-<rest>` in lower case. */
export const GCP_MACHINE_TYPE_NAME = /^[a-z][a-z0-9]*-[a-z0-9-]+$/;

/**
 * The node hardware and GPUs of a pool of `machineType` nodes: from the table when the type is known
 * (user values may only repeat or lower it), from the user's values otherwise. Throws a
 * {@link SlurmConfigError} naming `where`, the field, the value, the table's value and the fix.
 */
export function gcpPoolHardwareFor(options: GcpPoolHardwareOptions): GcpPoolHardware {
  const { machineType, ...rest } = options;
  return resolvePoolHardware(GCE_TABLE, { name: machineType, ...rest });
}

/** The Compute Engine table as the shared pool-hardware rule reads it. */
const GCE_TABLE: NodeTypeTable<GcpMachineTypeInfo> = {
  field: 'machineType',
  namePattern: GCP_MACHINE_TYPE_NAME,
  nameProblem: 'is not a Compute Engine machine type name',
  nameFix: 'Use the series-shape form in lower case, e.g. "a3-megagpu-8g" or "n2-standard-4".',
  lookup: (name) => gcpMachineTypeInfo(name),
  tableName: 'GCP machine-type table',
  unit: 'VM',
  gpuTypeExamples: '"h100", "a100" or "l4"',
  unknownGpuExample: '"h200"',
  checkGpus: (issues, _name, info, gpus) => checkGpusAgainstTable(issues, info, gpus),
};

function checkGpusAgainstTable(issues: ConfigIssue[], info: GcpMachineTypeInfo, gpus: { readonly type?: string; readonly count?: number }): void {
  const { machineType, gpu } = info;
  if (gpu === undefined) {
    issues.push({
      field: 'gpus',
      value: gpus,
      problem: `but ${machineType} has no GPUs`,
      fix: 'Leave gpus out, or pick a GPU machine type (a3-megagpu-8g, a3-highgpu-8g, a2-highgpu-*, a2-ultragpu-8g, g2-standard-*).',
    });
    return;
  }
  const has = `${machineType} has ${gpu.count} ${gpu.type.toUpperCase()} GPU${gpu.count === 1 ? '' : 's'}`;
  if (gpus.type !== undefined && gpus.type !== gpu.type) {
    issues.push({
      field: 'gpus.type',
      value: gpus.type,
      problem: `disagrees with the machine type: ${has} (GRES type "${gpu.type}")`,
      fix: `Leave gpus.type out or set it to "${gpu.type}"; for ${gpus.type} GPUs pick a machine type that has them.`,
    });
  }
  if (gpus.count !== undefined && gpus.count !== gpu.count) {
    const smaller = Object.values(GCP_MACHINE_TYPES)
      .filter((t) => t.gpu?.type === gpu.type && t.gpu.count === gpus.count)
      .map((t) => t.machineType);
    const other = smaller.length
      ? `for ${gpus.count} per node use ${smaller.join(' or ')}`
      : `no ${gpu.type.toUpperCase()} machine type in the table has ${gpus.count}`;
    issues.push({
      field: 'gpus.count',
      value: gpus.count,
      problem: `disagrees with the machine type: ${has}; the GPU count of a GPU machine type is fixed`,
      fix: `Leave gpus.count out or set it to ${gpu.count}; ${other}.`,
    });
  }
}
