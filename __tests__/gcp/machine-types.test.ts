import {
  GCP_MACHINE_TYPE_NAME,
  GCP_MACHINE_TYPES,
  GCP_ZONES_BY_MACHINE_TYPE,
  LOCAL_SSD_DISK_GIB,
  gcpMachineTypeInfo,
  gcpPoolHardwareFor,
  zoneProblem,
} from '../../lib/gcp/machine-types';
import { realMemoryForMiB } from '../../lib/slurm/pool-hardware';
import { SlurmConfigError } from '../../lib/slurm/errors';

const WHERE = "ComputeNodePool 'a3mega'";

function thrown(fn: () => unknown): SlurmConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SlurmConfigError) return e;
    throw e;
  }
  throw new Error('expected a SlurmConfigError, nothing was thrown');
}

describe('machine-type table facts (Compute Engine "GPU machine types")', () => {
  test('a3-megagpu-8g: 8 H100 80GB, 208 vCPUs, 1872 GiB, 8 GPU NICs with TCPXO, 16 x 375 GiB local SSD', () => {
    const info = gcpMachineTypeInfo('a3-megagpu-8g');
    expect(info).toEqual({
      machineType: 'a3-megagpu-8g',
      vcpus: 208,
      memoryMiB: 1872 * 1024,
      gpu: { type: 'h100', count: 8, memoryGiBPerGpu: 80, acceleratorType: 'nvidia-h100-mega-80gb' },
      gpuNics: 8,
      gpuDirect: 'tcpxo',
      localSsdCount: 16,
      requiresTerminateOnMaintenance: true,
    });
    // Google lists 6,000 GiB of attached Local SSD and 9 physical NICs (one of them the system NIC).
    expect(info!.localSsdCount * LOCAL_SSD_DISK_GIB).toBe(6000);
    expect(info!.gpuNics + 1).toBe(9);
  });

  test('a3-highgpu-8g: same host as A3 Mega but 4 GPU NICs and TCPX', () => {
    const info = gcpMachineTypeInfo('a3-highgpu-8g')!;
    expect([info.vcpus, info.memoryMiB, info.gpu?.type, info.gpu?.count]).toEqual([208, 1872 * 1024, 'h100', 8]);
    expect(info.gpuNics).toBe(4);
    expect(info.gpuDirect).toBe('tcpx');
    expect(info.gpu?.acceleratorType).toBe('nvidia-h100-80gb');
  });

  test.each([
    // type, vCPUs, memory GiB, GPU type, GPUs, GPU GB, bundled local SSDs
    ['a2-highgpu-1g', 12, 85, 'a100', 1, 40, 0],
    ['a2-highgpu-2g', 24, 170, 'a100', 2, 40, 0],
    ['a2-highgpu-4g', 48, 340, 'a100', 4, 40, 0],
    ['a2-highgpu-8g', 96, 680, 'a100', 8, 40, 0],
    ['a2-ultragpu-8g', 96, 1360, 'a100', 8, 80, 8],
    ['g2-standard-4', 4, 16, 'l4', 1, 24, 0],
    ['g2-standard-8', 8, 32, 'l4', 1, 24, 0],
    ['g2-standard-12', 12, 48, 'l4', 1, 24, 0],
    ['g2-standard-16', 16, 64, 'l4', 1, 24, 0],
    ['g2-standard-24', 24, 96, 'l4', 2, 24, 0],
    ['g2-standard-32', 32, 128, 'l4', 1, 24, 0],
    ['g2-standard-48', 48, 192, 'l4', 4, 24, 0],
    ['g2-standard-96', 96, 384, 'l4', 8, 24, 0],
  ])('%s: %i vCPUs, %i GiB, %s x%i (%i GB), %i bundled SSDs', (type, vcpus, memGiB, gpuType, gpus, gpuGiB, ssds) => {
    const info = gcpMachineTypeInfo(type)!;
    expect(info.vcpus).toBe(vcpus);
    expect(info.memoryMiB).toBe(memGiB * 1024);
    expect(info.gpu).toMatchObject({ type: gpuType, count: gpus, memoryGiBPerGpu: gpuGiB });
    expect(info.localSsdCount).toBe(ssds);
    expect(info.gpuNics).toBe(0);
    expect(info.gpuDirect).toBeUndefined();
  });

  test('a2-ultragpu-8g bundles 3,000 GiB of local SSD', () => {
    expect(gcpMachineTypeInfo('a2-ultragpu-8g')!.localSsdCount * LOCAL_SSD_DISK_GIB).toBe(3000);
  });

  test.each([
    ['n2-standard-2', 2, 8],
    ['n2-standard-4', 4, 16],
    ['n2-standard-8', 8, 32],
    ['n2-standard-16', 16, 64],
    ['c2-standard-4', 4, 16],
    ['c2-standard-8', 8, 32],
    ['c2-standard-16', 16, 64],
    ['e2-standard-4', 4, 16],
  ])('%s: %i vCPUs, %i GiB, no GPUs, live-migrates', (type, vcpus, memGiB) => {
    expect(gcpMachineTypeInfo(type)).toEqual({
      machineType: type,
      vcpus,
      memoryMiB: memGiB * 1024,
      gpuNics: 0,
      localSsdCount: 0,
      requiresTerminateOnMaintenance: false,
    });
  });

  test('table sanity: GPU types have GPUs and TERMINATE; numbers positive; names well formed', () => {
    const all = Object.values(GCP_MACHINE_TYPES);
    const required = ['a3-megagpu-8g', 'a3-highgpu-8g', 'a2-ultragpu-8g', 'n2-standard-2', 'c2-standard-8', 'e2-standard-4'];
    for (const s of ['1g', '2g', '4g', '8g']) required.push(`a2-highgpu-${s}`);
    for (const n of [4, 8, 12, 16, 24, 32, 48, 96]) required.push(`g2-standard-${n}`);
    expect(all.map((t) => t.machineType)).toEqual(expect.arrayContaining(required));
    for (const t of all) {
      expect(t.machineType).toMatch(/^[a-z][a-z0-9]*-[a-z0-9-]+$/);
      expect(GCP_MACHINE_TYPES[t.machineType]).toBe(t);
      expect(Number.isSafeInteger(t.vcpus) && t.vcpus > 0).toBe(true);
      expect(Number.isSafeInteger(t.memoryMiB) && t.memoryMiB > 0).toBe(true);
      expect(t.localSsdCount).toBeGreaterThanOrEqual(0);
      if (t.gpu) {
        expect(t.gpu.count).toBeGreaterThanOrEqual(1);
        expect(t.requiresTerminateOnMaintenance).toBe(true);
        expect(t.gpu.type).toBe(t.gpu.type.toLowerCase());
      } else {
        expect(t.gpuNics).toBe(0);
        expect(t.gpuDirect).toBeUndefined();
      }
      // GPUDirect needs its own NICs and the other way round.
      expect(t.gpuDirect !== undefined).toBe(t.gpuNics > 0);
    }
  });

  test('every type with a zone list is in the table, and its zones are well formed and unique', () => {
    for (const [type, zones] of Object.entries(GCP_ZONES_BY_MACHINE_TYPE)) {
      expect(gcpMachineTypeInfo(type)?.gpu).toBeDefined();
      expect(zones.length).toBeGreaterThan(0);
      expect(new Set(zones).size).toBe(zones.length);
      for (const z of zones) expect(z).toMatch(/^[a-z]+-[a-z]+\d+-[a-z]$/);
    }
    expect(Object.keys(GCP_ZONES_BY_MACHINE_TYPE)).toEqual(expect.arrayContaining(['a3-megagpu-8g', 'a3-highgpu-8g', 'a2-ultragpu-8g']));
  });

  test('unknown or prototype names are not found; the tables cannot be changed', () => {
    expect(gcpMachineTypeInfo('a4-highgpu-8g')).toBeUndefined();
    expect(gcpMachineTypeInfo('A3-MEGAGPU-8G')).toBeUndefined();
    expect(gcpMachineTypeInfo('constructor')).toBeUndefined();
    expect(Object.isFrozen(GCP_MACHINE_TYPES)).toBe(true);
    expect(Object.isFrozen(GCP_MACHINE_TYPES['a3-megagpu-8g'])).toBe(true);
    expect(Object.isFrozen(GCP_MACHINE_TYPES['a3-megagpu-8g'].gpu)).toBe(true);
    expect(Object.isFrozen(GCP_ZONES_BY_MACHINE_TYPE)).toBe(true);
    expect(Object.isFrozen(GCP_ZONES_BY_MACHINE_TYPE['a3-megagpu-8g'])).toBe(true);
    expect(GCP_MACHINE_TYPE_NAME.test('n2-custom-4-16384')).toBe(true);
  });
});

describe('zoneProblem', () => {
  test('zones Google lists for A3 Mega pass', () => {
    for (const zone of ['us-central1-a', 'us-east5-a', 'europe-west4-b', 'asia-northeast1-b']) {
      expect(zoneProblem('a3-megagpu-8g', zone)).toBeUndefined();
    }
  });

  test('a zone without the type names the zones that have it, those of the same region first', () => {
    const msg = zoneProblem('a3-megagpu-8g', 'us-central1-f');
    expect(msg).toBeDefined();
    expect(msg).toContain('a3-megagpu-8g is not offered in zone "us-central1-f"');
    expect(msg).toContain('2026-11');
    expect(msg).toContain('In us-central1: us-central1-a, us-central1-b, us-central1-c.');
    for (const z of GCP_ZONES_BY_MACHINE_TYPE['a3-megagpu-8g']) expect(msg).toContain(z);
    expect(msg).toContain('gcloud compute machine-types list --filter="name=a3-megagpu-8g" --zones=us-central1-f');
  });

  test('a region without the type gets no same-region hint', () => {
    const msg = zoneProblem('a2-ultragpu-8g', 'europe-west2-a')!;
    expect(msg).not.toContain('In europe-west2');
    expect(msg).toContain('us-east5-b');
  });

  test('A3 High has zones A3 Mega lacks (the lists are per type, not per GPU model)', () => {
    expect(zoneProblem('a3-highgpu-8g', 'europe-west9-c')).toBeUndefined();
    expect(zoneProblem('a3-megagpu-8g', 'europe-west9-c')).toMatch(/not offered/);
  });

  test('types without a zone list (G2, CPU, unknown) have nothing to object to', () => {
    expect(zoneProblem('g2-standard-8', 'us-central1-f')).toBeUndefined();
    expect(zoneProblem('n2-standard-4', 'antarctica-south1-z')).toBeUndefined();
    expect(zoneProblem('a4-highgpu-8g', 'us-central1-b')).toBeUndefined();
  });
});

describe('gcpPoolHardwareFor', () => {
  test('a3-megagpu-8g: 208 CPUs, RealMemory with the OS headroom, gres h100:8', () => {
    const r = gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', where: WHERE });
    const sold = 1872 * 1024;
    // The shared rule: 5% of 1,916,928 MiB (95,847) beats the 2 GiB floor.
    expect(r.hardware).toEqual({ cpus: 208, realMemoryMiB: sold - Math.ceil(sold * 0.05) });
    expect(r.hardware.realMemoryMiB).toBe(1821081);
    expect(r.hardware.realMemoryMiB).toBe(realMemoryForMiB(sold));
    expect(r.gpus).toEqual({ type: 'h100', count: 8 });
    expect(r.info?.gpuNics).toBe(8);
  });

  test('a small CPU type keeps the 2 GiB floor and has no gpus', () => {
    const r = gcpPoolHardwareFor({ machineType: 'n2-standard-2', where: WHERE });
    expect(r.hardware).toEqual({ cpus: 2, realMemoryMiB: 8192 - 2048 });
    expect(r).not.toHaveProperty('gpus');
  });

  test('user values that repeat the table, or lower cpus/memory, are accepted', () => {
    const r = gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', gpus: { type: 'h100', count: 8 }, cpus: 200, realMemoryMiB: 1_800_000, where: WHERE });
    expect(r.hardware).toEqual({ cpus: 200, realMemoryMiB: 1_800_000 });
    expect(r.gpus).toEqual({ type: 'h100', count: 8 });
  });

  test('A3 Mega with 4 GPUs: names where, field, value, what the type has, and the fix', () => {
    const e = thrown(() => gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', gpus: { count: 4 }, where: WHERE }));
    expect(e.issues.map((i) => i.field)).toEqual(['gpus.count']);
    expect(e.message).toContain(`${WHERE}: gpus.count = 4: disagrees with the machine type: a3-megagpu-8g has 8 H100 GPUs;`);
    expect(e.message).toContain('Leave gpus.count out or set it to 8; no H100 machine type in the table has 4.');
  });

  test('a count that a sibling type has points to that type', () => {
    const e = thrown(() => gcpPoolHardwareFor({ machineType: 'a2-highgpu-8g', gpus: { count: 4 }, where: WHERE }));
    expect(e.message).toContain('a2-highgpu-8g has 8 A100 GPUs');
    expect(e.message).toContain('for 4 per node use a2-highgpu-4g');
    const l4 = thrown(() => gcpPoolHardwareFor({ machineType: 'g2-standard-8', gpus: { count: 2 }, where: WHERE }));
    expect(l4.message).toContain('g2-standard-8 has 1 L4 GPU;');
    expect(l4.message).toContain('use g2-standard-24');
  });

  test('a GPU type that disagrees with the table is rejected with the table value; both issues at once', () => {
    const e = thrown(() => gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', gpus: { type: 'a100', count: 4 }, where: WHERE }));
    expect(e.issues.map((i) => i.field)).toEqual(['gpus.type', 'gpus.count']);
    expect(e.message).toContain(`${WHERE}: gpus.type = "a100": disagrees with the machine type: a3-megagpu-8g has 8 H100 GPUs (GRES type "h100").`);
    expect(e.message).toContain('Leave gpus.type out or set it to "h100"');
  });

  test('gpus on a CPU type, cpus or memory above the table are rejected with the table values', () => {
    expect(() => gcpPoolHardwareFor({ machineType: 'n2-standard-4', gpus: { type: 'l4', count: 1 }, where: WHERE })).toThrow(
      /gpus = .*: but n2-standard-4 has no GPUs\. Leave gpus out, or pick a GPU machine type/,
    );
    expect(() => gcpPoolHardwareFor({ machineType: 'g2-standard-4', cpus: 8, where: WHERE })).toThrow(/cpus = 8: is more than the 4 vCPUs of g2-standard-4.*at most 4/);
    expect(() => gcpPoolHardwareFor({ machineType: 'g2-standard-4', realMemoryMiB: 16385, where: WHERE })).toThrow(
      /realMemoryMiB = 16385: is more than the 16384 MiB g2-standard-4 has.*default is 14336 MiB/,
    );
  });

  test('an unknown type without explicit hardware says what to give', () => {
    const e = thrown(() => gcpPoolHardwareFor({ machineType: 'a3-ultragpu-8g', gpus: {}, where: WHERE }));
    expect(e.issues.map((i) => i.field)).toEqual(['cpus', 'realMemoryMiB', 'gpus.type', 'gpus.count']);
    expect(e.message).toContain(`${WHERE}: cpus = undefined: is required because a3-ultragpu-8g is not in the library's GCP machine-type table. Give cpus`);
    expect(e.message).toContain("or what 'slurmd -C' prints on one");
  });

  test('an unknown type with explicit hardware uses it as given', () => {
    expect(
      gcpPoolHardwareFor({ machineType: 'a3-ultragpu-8g', cpus: 224, realMemoryMiB: 2_800_000, gpus: { type: 'h200', count: 8 }, where: WHERE }),
    ).toEqual({ hardware: { cpus: 224, realMemoryMiB: 2_800_000 }, gpus: { type: 'h200', count: 8 } });
    expect(gcpPoolHardwareFor({ machineType: 'n2-custom-4-16384', cpus: 4, realMemoryMiB: 14000, where: WHERE })).toEqual({
      hardware: { cpus: 4, realMemoryMiB: 14000 },
    });
  });

  test('malformed names and values are rejected', () => {
    expect(() => gcpPoolHardwareFor({ machineType: 'g5.xlarge', where: WHERE })).toThrow(/machineType = "g5.xlarge": is not a Compute Engine machine type name/);
    expect(() => gcpPoolHardwareFor({ machineType: 'A3-megagpu-8g', where: WHERE })).toThrow(/is not a Compute Engine machine type name/);
    expect(() => gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', cpus: 0, where: WHERE })).toThrow(/cpus = 0: must be a whole number/);
    expect(() => gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', gpus: { count: 7.5 }, where: WHERE })).toThrow(/gpus.count = 7.5/);
    expect(() => gcpPoolHardwareFor({ machineType: 'a3-megagpu-8g', gpus: { type: 'H100' }, where: WHERE })).toThrow(
      /gpus.type = "H100": must be a lower-case GRES type/,
    );
  });
});
