/**
 * Dynamic node pools (registration: 'dynamic'): what the renderers and validation do with them.
 * The behaviour on real 22.05 daemons is proven in __tests__/cluster/dynamic-node.test.ts.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import {
  ClusterSpec,
  dynamicNodeEnv,
  renderGresConf,
  renderSlurmConf,
  SlurmConfigError,
  staticNodesHostlist,
  validateCluster,
} from '../../lib/slurm';

const spec2311 = (): ClusterSpec =>
  JSON.parse(readFileSync(join(__dirname, 'golden', 'dynamic-gpu-2311', 'input.json'), 'utf8')) as ClusterSpec;
const as2205 = (s: ClusterSpec = spec2311()): ClusterSpec => ({ ...s, slurmVersion: '22.05' });
const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));
const key = (text: string, k: string) => lines(text, `${k}=`).map((l) => l.slice(k.length + 1));
const fields = (s: ClusterSpec) => validateCluster(s).map((i) => i.field);

describe('slurm.conf with a dynamic pool', () => {
  test('no node line; a NodeSet by feature; partitions name the set next to hostlists', () => {
    const conf = renderSlurmConf(spec2311());
    expect(lines(conf, 'NodeName=').map((l) => l.split(' ')[0])).toEqual(['NodeName=cpu-[0-1]', 'NodeName=burst-[0-7]']);
    expect(lines(conf, 'NodeSet=')).toEqual(['NodeSet=local Feature=local']);
    expect(lines(conf, 'PartitionName=gpu ')[0]).toMatch(/ Nodes=local /);
    expect(lines(conf, 'PartitionName=all ')[0]).toMatch(/ Nodes=cpu-\[0-1\],local /);
    // The NodeSet must be defined before a partition uses it.
    expect(conf.indexOf('NodeSet=local')).toBeLessThan(conf.indexOf('PartitionName='));
  });

  test('MaxNodeCount = named + cloud + dynamic count + dynamicNodeSlots, also without slots', () => {
    expect(key(renderSlurmConf(spec2311()), 'MaxNodeCount')).toEqual([String(2 + 8 + 4 + 2)]);
    expect(key(renderSlurmConf({ ...spec2311(), dynamicNodeSlots: undefined }), 'MaxNodeCount')).toEqual(['14']);
    const noDynamic = { ...spec2311(), dynamicNodeSlots: undefined, nodePools: spec2311().nodePools.filter((p) => p.name !== 'local'), partitions: [{ name: 'all', pools: ['cpu'], default: true }, { name: 'burst', pools: ['burst'] }] };
    expect(key(renderSlurmConf(noDynamic), 'MaxNodeCount')).toEqual([]);
  });

  test('power saving: dynamic names never in SuspendExcNodes; 23.11 uses SuspendExcStates=DYNAMIC_NORM', () => {
    const conf = renderSlurmConf(spec2311());
    expect(key(conf, 'SuspendExcNodes')).toEqual(['cpu-[0-1]']);
    expect(staticNodesHostlist(spec2311())).toBe('cpu-[0-1]');
    // Counted, not listed: a quarter million static nodes is still one hostlist, made without listing them.
    const huge = { ...spec2311(), nodePools: spec2311().nodePools.map((p) => (p.name === 'cpu' ? { ...p, count: 262_144 } : p)) };
    expect(staticNodesHostlist(huge)).toBe('cpu-[0-262143]');
    expect(key(conf, 'SuspendExcStates')).toEqual(['DYNAMIC_NORM']);
    expect(conf).not.toMatch(/SuspendTime=INFINITE/);
    // A user's SuspendExcStates is kept, with DYNAMIC_NORM added, on one line.
    const user = renderSlurmConf({ ...spec2311(), extraSlurmConf: { SuspendExcStates: 'DOWN,DRAIN' } });
    expect(key(user, 'SuspendExcStates')).toEqual(['DOWN,DRAIN,DYNAMIC_NORM']);
    const already = renderSlurmConf({ ...spec2311(), extraSlurmConf: { SuspendExcStates: 'DYNAMIC_NORM' } });
    expect(key(already, 'SuspendExcStates')).toEqual(['DYNAMIC_NORM']);
  });

  test('power saving on 22.05: SuspendTime=INFINITE on exactly the partitions holding dynamic pools', () => {
    const conf = renderSlurmConf(as2205());
    expect(key(conf, 'SuspendExcStates')).toEqual([]);
    expect(lines(conf, 'PartitionName=gpu ')[0]).toMatch(/ SuspendTime=INFINITE State=UP$/);
    expect(lines(conf, 'PartitionName=all ')[0]).toMatch(/ SuspendTime=INFINITE State=UP$/);
    expect(lines(conf, 'PartitionName=burst ')[0]).not.toMatch(/SuspendTime/);
    // Without cloud pools there is no power saving, so nothing to switch off.
    const noCloud = as2205({ ...spec2311(), powerSaving: undefined, nodePools: spec2311().nodePools.slice(0, 2), partitions: spec2311().partitions.slice(0, 2) });
    expect(renderSlurmConf(noCloud)).not.toMatch(/SuspendTime/);
    expect(key(renderSlurmConf(noCloud), 'TreeWidth')).toEqual(['65533']);
  });

  test('gres.conf keeps NodeName=<pool>-[0-N] lines for dynamic GPU pools (slurmd -N picks them up)', () => {
    expect(lines(renderGresConf(spec2311()), 'NodeName=')).toEqual(['NodeName=local-[0-3] Name=gpu Type=rtx3070 File=/dev/nvidia0']);
  });
});

describe('validation of dynamic pools', () => {
  test('maxCount/minCount are rejected with a fix; count is required', () => {
    const s = spec2311();
    const bad: ClusterSpec = { ...s, nodePools: s.nodePools.map((p) => (p.name === 'local' ? { ...p, count: undefined, maxCount: 4, minCount: 1 } : p)) };
    const issues = validateCluster(bad);
    expect(issues.map((i) => i.field)).toEqual(expect.arrayContaining(['nodePools[1].maxCount', 'nodePools[1].minCount', 'nodePools[1].count']));
    expect(issues.find((i) => i.field === 'nodePools[1].maxCount')?.fix).toMatch(/give count .*drop maxCount\/minCount/);
    expect(issues.some((i) => /exactly one of count/.test(i.problem))).toBe(false);
  });

  test('registration must be named or dynamic; address keys cannot be set', () => {
    const s = spec2311();
    const withPool = (patch: object): ClusterSpec => ({ ...s, nodePools: s.nodePools.map((p) => (p.name === 'local' ? { ...p, ...patch } : p)) });
    expect(fields(withPool({ registration: 'auto' }))).toContain('nodePools[1].registration');
    expect(fields(withPool({ extraNodeParameters: { port: '7000', NodeAddr: '10.1.1.1' } }))).toEqual(
      expect.arrayContaining(['nodePools[1].extraNodeParameters.port', 'nodePools[1].extraNodeParameters.NodeAddr']),
    );
    expect(validateCluster(s)).toEqual([]);
  });

  test("another pool using a dynamic pool's name as feature would join its NodeSet: rejected", () => {
    const s = spec2311();
    const bad: ClusterSpec = { ...s, nodePools: s.nodePools.map((p) => (p.name === 'cpu' ? { ...p, features: ['local'] } : p)) };
    const issue = validateCluster(bad).find((i) => i.field === 'nodePools[0].features[0]');
    expect(issue?.problem).toMatch(/NodeSet \(Feature=local\)/);
  });

  test('22.05: a partition mixing dynamic and cloud pools, or setting its own SuspendTime, is rejected', () => {
    const s = as2205();
    const mixed: ClusterSpec = { ...s, partitions: [...s.partitions, { name: 'mix', pools: ['local', 'burst'] }] };
    const issue = validateCluster(mixed).find((i) => i.field === 'partitions[3].pools');
    expect(issue?.problem).toMatch(/mixes dynamic pool\(s\) "local" with cloud pool\(s\) "burst"/);
    expect(issue?.fix).toMatch(/23\.11/);
    expect(validateCluster({ ...mixed, slurmVersion: '23.11' })).toEqual([]);
    const own: ClusterSpec = { ...s, partitions: s.partitions.map((p) => (p.name === 'gpu' ? { ...p, extraParameters: { SuspendTime: '300' } } : p)) };
    expect(fields(own)).toEqual(['partitions[0].extraParameters.SuspendTime']);
    expect(validateCluster(s)).toEqual([]);
  });
});

describe('dynamicNodeEnv', () => {
  test('the node.env entries of <pool>-<i>', () => {
    expect(dynamicNodeEnv(spec2311(), 'local', 3)).toEqual({
      SLURMD_MODE: 'dynamic',
      SLURMD_DYNAMIC_CONF: 'CPUs=16 RealMemory=60000 Gres=gpu:rtx3070:1 Feature=local,docker',
      SLURMD_NODENAME: 'local-3',
      GPU_COUNT: '1',
      GPU_TYPE: 'rtx3070',
    });
    const s = spec2311();
    const files: ClusterSpec = { ...s, nodePools: s.nodePools.map((p) => (p.name === 'local' ? { ...p, gpus: { type: 'l4', count: 2, deviceFiles: '/dev/nvidia[4-5]' } } : p)) };
    expect(dynamicNodeEnv(files, 'local', 0)).toMatchObject({ GPU_COUNT: '2', GPU_TYPE: 'l4', GPU_DEVICE_FILES: '/dev/nvidia[4-5]' });
    const cpuOnly: ClusterSpec = { ...s, nodePools: s.nodePools.map((p) => (p.name === 'local' ? { ...p, gpus: undefined } : p)), partitions: s.partitions.map((p) => ({ ...p, defMemPerGpuMiB: undefined })) };
    expect(dynamicNodeEnv(cpuOnly, 'local', 0)).toEqual({ SLURMD_MODE: 'dynamic', SLURMD_DYNAMIC_CONF: 'CPUs=16 RealMemory=60000 Feature=local,docker', SLURMD_NODENAME: 'local-0', GPU_COUNT: '0' });
  });

  test('refuses an index beyond count, a named pool, an unknown pool and an invalid cluster', () => {
    expect(() => dynamicNodeEnv(spec2311(), 'local', 4)).toThrow(/index = 4: is outside pool "local" \(count 4: local-0 … local-3\)/);
    expect(() => dynamicNodeEnv(spec2311(), 'local', -1)).toThrow(SlurmConfigError);
    expect(() => dynamicNodeEnv(spec2311(), 'cpu', 0)).toThrow(/pool "cpu" is not dynamic/);
    expect(() => dynamicNodeEnv(spec2311(), 'nope', 0)).toThrow(/poolName = "nope": names no pool in nodePools. Use one of "local"/);
    expect(() => dynamicNodeEnv({ ...spec2311(), clusterName: 'Bad' }, 'local', 0)).toThrow(/clusterName/);
  });
});
