import {
  EC2_INSTANCE_TYPES,
  instanceTypeInfo,
  poolHardwareFor,
} from '../../lib/aws/instance-types';
import { realMemoryForMiB } from '../../lib/slurm/pool-hardware';
import { SlurmConfigError } from '../../lib/slurm/errors';

const WHERE = "ComputeNodePool 'gpu'";

describe('instance-type table facts (AWS docs)', () => {
  test.each([
    // type, vCPUs, memory GiB, GPU type, GPUs, GPU GiB, max EFA interfaces
    ['g4dn.xlarge', 4, 16, 't4', 1, 16, 0],
    ['g4dn.8xlarge', 32, 128, 't4', 1, 16, 1],
    ['g4dn.12xlarge', 48, 192, 't4', 4, 16, 1],
    ['g4dn.metal', 96, 384, 't4', 8, 16, 1],
    ['g5.xlarge', 4, 16, 'a10g', 1, 24, 0],
    ['g5.4xlarge', 16, 64, 'a10g', 1, 24, 0],
    ['g5.12xlarge', 48, 192, 'a10g', 4, 24, 1],
    ['g5.48xlarge', 192, 768, 'a10g', 8, 24, 1],
    ['g6.2xlarge', 8, 32, 'l4', 1, 24, 0],
    ['g6.16xlarge', 64, 256, 'l4', 1, 24, 1],
    ['g6.24xlarge', 96, 384, 'l4', 4, 24, 1],
    ['g6.48xlarge', 192, 768, 'l4', 8, 24, 1],
    ['p4d.24xlarge', 96, 1152, 'a100', 8, 40, 4],
    ['p5.48xlarge', 192, 2048, 'h100', 8, 80, 32],
  ])('%s: %i vCPUs, %i GiB, %s x%i (%i GiB), %i EFA', (type, vcpus, memGiB, gpuType, gpus, gpuGiB, efa) => {
    const info = instanceTypeInfo(type);
    expect(info).toEqual({
      instanceType: type,
      vcpus,
      memoryMiB: memGiB * 1024,
      gpu: { type: gpuType, count: gpus, memoryGiBPerGpu: gpuGiB },
      efa: efa > 0,
      maxEfaInterfaces: efa,
    });
  });

  test.each([
    ['m6i.large', 2, 8, 0],
    ['m6i.32xlarge', 128, 512, 1],
    ['c6i.4xlarge', 16, 32, 0],
    ['r6i.2xlarge', 8, 64, 0],
    ['t3.medium', 2, 4, 0],
  ])('%s: %i vCPUs, %i GiB, no GPUs, %i EFA', (type, vcpus, memGiB, efa) => {
    expect(instanceTypeInfo(type)).toEqual({ instanceType: type, vcpus, memoryMiB: memGiB * 1024, efa: efa > 0, maxEfaInterfaces: efa });
  });

  test('covers every size of g4dn, g5 and g6, and p4d/p5', () => {
    const sizes = (fam: string): string[] =>
      Object.keys(EC2_INSTANCE_TYPES)
        .filter((t) => t.startsWith(`${fam}.`))
        .sort();
    expect(sizes('g4dn')).toEqual(['g4dn.12xlarge', 'g4dn.16xlarge', 'g4dn.2xlarge', 'g4dn.4xlarge', 'g4dn.8xlarge', 'g4dn.metal', 'g4dn.xlarge']);
    for (const fam of ['g5', 'g6']) {
      expect(sizes(fam)).toEqual(['12xlarge', '16xlarge', '24xlarge', '2xlarge', '48xlarge', '4xlarge', '8xlarge', 'xlarge'].map((s) => `${fam}.${s}`));
    }
    expect(sizes('p4d')).toEqual(['p4d.24xlarge']);
    expect(sizes('p5')).toEqual(['p5.48xlarge']);
  });

  test('EFA exactly on the 8xlarge-and-up g sizes, p4d, p5 and the 32xlarge CPU sizes', () => {
    const efa = Object.values(EC2_INSTANCE_TYPES)
      .filter((i) => i.efa)
      .map((i) => i.instanceType)
      .sort();
    expect(efa).toEqual(
      [
        'c6i.32xlarge',
        'g4dn.12xlarge',
        'g4dn.16xlarge',
        'g4dn.8xlarge',
        'g4dn.metal',
        'g5.12xlarge',
        'g5.16xlarge',
        'g5.24xlarge',
        'g5.48xlarge',
        'g5.8xlarge',
        'g6.12xlarge',
        'g6.16xlarge',
        'g6.24xlarge',
        'g6.48xlarge',
        'g6.8xlarge',
        'm6i.32xlarge',
        'p4d.24xlarge',
        'p5.48xlarge',
        'r6i.32xlarge',
      ].sort(),
    );
    for (const i of Object.values(EC2_INSTANCE_TYPES)) expect(i.efa).toBe(i.maxEfaInterfaces > 0);
  });

  test('unknown and differently-cased names are not found (EC2 names are case-sensitive)', () => {
    expect(instanceTypeInfo('g7.xlarge')).toBeUndefined();
    expect(instanceTypeInfo('G5.XLARGE')).toBeUndefined();
    expect(instanceTypeInfo('constructor')).toBeUndefined();
    expect(instanceTypeInfo('toString')).toBeUndefined();
  });

  test('the table cannot be changed by callers', () => {
    expect(Object.isFrozen(EC2_INSTANCE_TYPES)).toBe(true);
    expect(Object.isFrozen(EC2_INSTANCE_TYPES['g5.xlarge'])).toBe(true);
  });
});

describe('realMemoryForMiB', () => {
  test.each([
    [1024, 512], // t3.micro: half
    [4096, 2048], // 4 GiB: the 2 GiB floor
    [8192, 6144], // m6i.large: 2 GiB floor beats 5% (410)
    [16384, 14336], // g5.xlarge
    [65536, 62259], // 64 GiB: 5% (3277) beats 2 GiB
    [196608, 186777], // g5.12xlarge
    [2097152, 1992294], // p5.48xlarge
  ])('%i MiB -> %i MiB', (mem, real) => {
    expect(realMemoryForMiB(mem)).toBe(real);
  });

  test('always leaves at least 5% and never goes to zero', () => {
    for (const i of Object.values(EC2_INSTANCE_TYPES)) {
      const real = realMemoryForMiB(i.memoryMiB);
      expect(real).toBeGreaterThan(0);
      expect(real).toBeLessThanOrEqual(Math.floor(i.memoryMiB * 0.95));
    }
  });
});

describe('poolHardwareFor', () => {
  test('a known GPU type: node line and gres from the table', () => {
    expect(poolHardwareFor({ instanceType: 'g5.12xlarge', where: WHERE })).toEqual({
      hardware: { cpus: 48, realMemoryMiB: 186777 },
      gpus: { type: 'a10g', count: 4 },
      info: EC2_INSTANCE_TYPES['g5.12xlarge'],
    });
  });

  test('a known CPU type has no gpus', () => {
    const r = poolHardwareFor({ instanceType: 'c6i.2xlarge', where: WHERE });
    expect(r.hardware).toEqual({ cpus: 8, realMemoryMiB: 14336 });
    expect(r).not.toHaveProperty('gpus');
  });

  test('user values that repeat the table, or lower cpus/memory, are accepted', () => {
    const r = poolHardwareFor({ instanceType: 'p5.48xlarge', gpus: { type: 'h100', count: 8 }, cpus: 176, realMemoryMiB: 1_900_000, where: WHERE });
    expect(r.hardware).toEqual({ cpus: 176, realMemoryMiB: 1_900_000 });
    expect(r.gpus).toEqual({ type: 'h100', count: 8 });
  });

  test('a GPU count that disagrees with the table names where, field, value, table value and fix', () => {
    expect(() => poolHardwareFor({ instanceType: 'g5.12xlarge', gpus: { count: 8 }, where: WHERE })).toThrow(SlurmConfigError);
    expect(() => poolHardwareFor({ instanceType: 'g5.12xlarge', gpus: { count: 8 }, where: WHERE })).toThrow(
      "ComputeNodePool 'gpu': gpus.count = 8: disagrees with g5.12xlarge, which has 4 GPUs. Leave gpus.count out or set it to 4",
    );
  });

  test('a GPU type that disagrees with the table is rejected with the table value', () => {
    expect(() => poolHardwareFor({ instanceType: 'g6.xlarge', gpus: { type: 'a10g' }, where: WHERE })).toThrow(
      `${WHERE}: gpus.type = "a10g": disagrees with g6.xlarge, whose GPUs are "l4". Leave gpus.type out or set it to "l4".`,
    );
  });

  test('both disagreements are reported at once', () => {
    let err: unknown;
    try {
      poolHardwareFor({ instanceType: 'p4d.24xlarge', gpus: { type: 'h100', count: 4 }, where: WHERE });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SlurmConfigError);
    expect((err as SlurmConfigError).issues.map((i) => i.field)).toEqual(['gpus.type', 'gpus.count']);
  });

  test('gpus on a CPU type are rejected', () => {
    expect(() => poolHardwareFor({ instanceType: 'm6i.xlarge', gpus: { type: 't4', count: 1 }, where: WHERE })).toThrow(/gpus = .*but m6i.xlarge has no GPUs/);
  });

  test('cpus or memory above the table are rejected, naming the table value', () => {
    expect(() => poolHardwareFor({ instanceType: 'g5.xlarge', cpus: 8, where: WHERE })).toThrow(/cpus = 8: is more than the 4 vCPUs of g5.xlarge.*give at most 4/);
    expect(() => poolHardwareFor({ instanceType: 'g5.xlarge', realMemoryMiB: 16385, where: WHERE })).toThrow(
      /realMemoryMiB = 16385: is more than the 16384 MiB g5.xlarge has.*default is 14336 MiB/,
    );
  });

  test('an unknown type without explicit hardware says what to give', () => {
    let err: unknown;
    try {
      poolHardwareFor({ instanceType: 'g6e.xlarge', gpus: {}, where: WHERE });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SlurmConfigError);
    const e = err as SlurmConfigError;
    expect(e.issues.map((i) => i.field)).toEqual(['cpus', 'realMemoryMiB', 'gpus.type', 'gpus.count']);
    expect(e.message).toMatch(/ComputeNodePool 'gpu': cpus = undefined: is required because g6e.xlarge is not in the library's instance-type table/);
  });

  test('an unknown type with explicit hardware uses it as given', () => {
    expect(poolHardwareFor({ instanceType: 'g6e.xlarge', cpus: 4, realMemoryMiB: 30000, gpus: { type: 'l40s', count: 1 }, where: WHERE })).toEqual({
      hardware: { cpus: 4, realMemoryMiB: 30000 },
      gpus: { type: 'l40s', count: 1 },
    });
    expect(poolHardwareFor({ instanceType: 'c7i.large', cpus: 2, realMemoryMiB: 3000, where: WHERE })).toEqual({
      hardware: { cpus: 2, realMemoryMiB: 3000 },
    });
  });

  test('malformed names and values are rejected', () => {
    expect(() => poolHardwareFor({ instanceType: 'G5.xlarge', where: WHERE })).toThrow(/instanceType = "G5.xlarge": is not an EC2 instance type name/);
    expect(() => poolHardwareFor({ instanceType: 'g5.xlarge', cpus: 0, where: WHERE })).toThrow(/cpus = 0: must be a whole number/);
    expect(() => poolHardwareFor({ instanceType: 'g5.xlarge', gpus: { count: 1.5 }, where: WHERE })).toThrow(/gpus.count = 1.5/);
    expect(() => poolHardwareFor({ instanceType: 'g5.xlarge', gpus: { type: 'A10G' }, where: WHERE })).toThrow(/gpus.type = "A10G": must be a lower-case GRES type/);
  });
});
