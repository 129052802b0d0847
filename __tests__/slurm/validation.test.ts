import { assertValidCluster, ClusterSpec, SlurmConfigError, validateCluster } from '../../lib/slurm';

/** A valid cluster touching most features; each test breaks one thing. */
function base(): ClusterSpec {
  return {
    clusterName: 'hpc',
    slurmVersion: '23.11',
    controller: { hostname: 'ctl', address: '10.0.0.5' },
    accounting: { dbdHost: 'ctl' },
    nodePools: [
      { name: 'gpu', count: 2, hardware: { cpus: 16, realMemoryMiB: 60000 }, gpus: { type: 'h100', count: 8 } },
      { name: 'cpu', maxCount: 10, minCount: 1, hardware: { cpus: 8, realMemoryMiB: 30000 } },
    ],
    partitions: [
      { name: 'gpu', pools: ['gpu'], default: true },
      { name: 'cpu', pools: ['cpu'] },
    ],
    powerSaving: { resumeProgram: '/usr/local/sbin/resume', suspendProgram: '/usr/local/sbin/suspend' },
  };
}

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };
const mutate = (f: (s: Mutable<ClusterSpec>) => void): ClusterSpec => {
  const s = JSON.parse(JSON.stringify(base())) as Mutable<ClusterSpec>;
  f(s);
  return s as ClusterSpec;
};

test('a valid spec yields no issues', () => {
  expect(validateCluster(base())).toEqual([]);
  expect(() => assertValidCluster(base())).not.toThrow();
});

/** [rule, mutation, field, value shown in the message, words of the fix]. */
const cases: Array<[string, (s: Mutable<ClusterSpec>) => void, string, unknown, string]> = [
  ['unsupported version', (s) => ((s as { slurmVersion: string }).slurmVersion = '21.08'), 'slurmVersion', '21.08', '"22.05", "23.11", "24.11"'],
  ['cluster name upper case', (s) => (s.clusterName = 'HPC'), 'clusterName', 'HPC', 'Pick a name like "hpc"'],
  ['cluster name with hyphen', (s) => (s.clusterName = 'my-hpc'), 'clusterName', 'my-hpc', 'MySQL'],
  ['cluster name too long', (s) => (s.clusterName = 'a'.repeat(41)), 'clusterName', 'a'.repeat(41), 'MySQL'],
  ['cluster name starting with a digit', (s) => (s.clusterName = '1hpc'), 'clusterName', '1hpc', 'Pick a name'],
  ['controller hostname with dots', (s) => (s.controller.hostname = 'ctl.example.com'), 'controller.hostname', 'ctl.example.com', 'controller.address'],
  ['controller address with spaces', (s) => (s.controller.address = '10.0.0.5 x'), 'controller.address', '10.0.0.5 x', '"10.0.0.5"'],
  ['pool name upper case', (s) => (s.nodePools[0].name = 'GPU'), 'nodePools[0].name', 'GPU', '"<pool>-<index>"'],
  ['pool name with trailing hyphen', (s) => (s.nodePools[0].name = 'gpu-'), 'nodePools[0].name', 'gpu-', '"<pool>-<index>"'],
  ['pool name ending in -digits', (s) => { s.nodePools[0].name = 'gpu-1'; s.partitions[0].pools = ['gpu-1']; }, 'nodePools[0].name', 'gpu-1', '"gpu1"'],
  ['duplicate pool names', (s) => { s.nodePools[1].name = 'gpu'; }, 'nodePools[1].name', 'gpu', 'distinct name'],
  ['both count and maxCount', (s) => (s.nodePools[0].maxCount = 4), 'nodePools[0]', { count: 2, maxCount: 4 }, 'Use count for always-on nodes'],
  ['neither count nor maxCount', (s) => delete s.nodePools[0].count, 'nodePools[0]', {}, 'Use count for always-on nodes'],
  ['count zero', (s) => (s.nodePools[0].count = 0), 'nodePools[0].count', 0, 'at least 1'],
  ['count not an integer', (s) => (s.nodePools[0].count = 1.5), 'nodePools[0].count', 1.5, 'at least 1'],
  ['minCount above maxCount', (s) => (s.nodePools[1].minCount = 11), 'nodePools[1].minCount', 11, 'Lower minCount or raise maxCount'],
  ['minCount on a static pool', (s) => (s.nodePools[0].minCount = 1), 'nodePools[0].minCount', 1, 'use maxCount instead of count'],
  ['gpu count zero', (s) => (s.nodePools[0].gpus!.count = 0), 'nodePools[0].gpus.count', 0, 'at least 1'],
  ['gpu count fractional', (s) => (s.nodePools[0].gpus!.count = 2.5), 'nodePools[0].gpus.count', 2.5, 'at least 1'],
  ['gpu type with colon', (s) => (s.nodePools[0].gpus!.type = 'h100:80gb'), 'nodePools[0].gpus.type', 'h100:80gb', '"h100"'],
  ['shards zero', (s) => (s.nodePools[0].gpus!.shardsPerGpu = 0), 'nodePools[0].gpus.shardsPerGpu', 0, 'share one GPU'],
  ['device files count mismatch', (s) => (s.nodePools[0].gpus!.deviceFiles = '/dev/nvidia[0-3]'), 'nodePools[0].gpus.deviceFiles', '/dev/nvidia[0-3]', '"/dev/nvidia[0-7]"'],
  ['device files malformed', (s) => (s.nodePools[0].gpus!.deviceFiles = '/dev/nvidia[0-7'), 'nodePools[0].gpus.deviceFiles', '/dev/nvidia[0-7', 'hostlist syntax'],
  ['cpus not sockets x cores x threads', (s) => Object.assign(s.nodePools[0].hardware, { sockets: 2, coresPerSocket: 4, threadsPerCore: 1 }), 'nodePools[0].hardware.cpus', 16, 'slurmd -C'],
  ['partial topology', (s) => Object.assign(s.nodePools[0].hardware, { sockets: 2 }), 'nodePools[0].hardware', { sockets: 2 }, 'all three'],
  ['real memory zero', (s) => (s.nodePools[0].hardware.realMemoryMiB = 0), 'nodePools[0].hardware.realMemoryMiB', 0, 'MiB'],
  ['bad feature', (s) => (s.nodePools[0].features = ['a|b']), 'nodePools[0].features[0]', 'a|b', '--constraint'],
  ['cloud pool without powerSaving', (s) => delete s.powerSaving, 'powerSaving', undefined, 'resumeProgram'],
  ['relative resume program', (s) => (s.powerSaving!.resumeProgram = 'resume.sh'), 'powerSaving.resumeProgram', 'resume.sh', 'full path'],
  ['resume timeout too short', (s) => (s.powerSaving!.resumeTimeoutSec = 10), 'powerSaving.resumeTimeoutSec', 10, '300-900'],
  ['resume timeout too long', (s) => (s.powerSaving!.resumeTimeoutSec = 7200), 'powerSaving.resumeTimeoutSec', 7200, '300-900'],
  ['partition with spaces', (s) => (s.partitions[0].name = 'my gpu'), 'partitions[0].name', 'my gpu', '"gpu"'],
  ['partition named DEFAULT', (s) => (s.partitions[1].name = 'DEFAULT'), 'partitions[1].name', 'DEFAULT', 'default: true'],
  ['duplicate partition names', (s) => (s.partitions[1].name = 'GPU'), 'partitions[1].name', 'GPU', 'distinct name'],
  ['partition referencing unknown pool', (s) => s.partitions[1].pools.push('tpu'), 'partitions[1].pools[1]', 'tpu', '"gpu", "cpu"'],
  ['pool in no partition', (s) => (s.partitions[1].pools = ['gpu']), 'nodePools[1].name', 'cpu', 'Add "cpu" to a partition'],
  ['two default partitions', (s) => (s.partitions[1].default = true), 'partitions[1].default', true, 'only one'],
  ['exclusive and overSubscribe YES', (s) => Object.assign(s.partitions[0], { exclusive: true, overSubscribe: 'YES' }), 'partitions[0].exclusive', true, 'not both'],
  ['bad MaxTime', (s) => (s.partitions[0].maxTime = '1 day'), 'partitions[0].maxTime', '1 day', '"1-00:00:00"'],
  ['DefMemPerGPU on CPU pools', (s) => (s.partitions[1].defMemPerGpuMiB = 1000), 'partitions[1].defMemPerGpuMiB', 1000, 'pools all have gpus'],
  ['DefCpuPerGPU on mixed partition', (s) => { s.partitions[0].pools = ['gpu', 'cpu']; s.partitions[0].defCpuPerGpu = 4; }, 'partitions[0].defCpuPerGpu', 4, 'pools all have gpus'],
  ['port out of range', (s) => (s.slurmdPort = 70000), 'slurmdPort', 70000, 'TCP port'],
  ['slurmd port colliding with slurmctld', (s) => (s.slurmdPort = 6817), 'slurmdPort', 6817, 'slurmctld 6817'],
  ['dbd port colliding with slurmd', (s) => (s.accounting!.dbdPort = 6818), 'accounting.dbdPort', 6818, 'own port'],
  ['srun range reversed', (s) => (s.srunPortRange = [63000, 60001]), 'srunPortRange', [63000, 60001], '[60001, 63000]'],
  ['srun range over daemon ports', (s) => (s.srunPortRange = [6000, 7000]), 'srunPortRange', [6000, 7000], 'clear of the daemon ports'],
  ['relative prolog', (s) => (s.prolog = ['prolog.sh']), 'prolog[0]', 'prolog.sh', 'full path'],
  ['two prologs', (s) => (s.prolog = ['/a', '/b']), 'prolog', ['/a', '/b'], 'glob'],
  ['relative epilog', (s) => (s.epilog = ['./epilog']), 'epilog[0]', './epilog', 'full path'],
  ['relative health check', (s) => (s.healthCheck = { program: 'nhc' }), 'healthCheck.program', 'nhc', 'full path'],
  ['relative path setting', (s) => (s.paths = { slurmdSpoolDir: 'spool' }), 'paths.slurmdSpoolDir', 'spool', 'full path'],
  ['unknown prolog flag', (s) => (s.prologFlags = ['Alloc', 'Bogus']), 'prologFlags[1]', 'Bogus', 'Alloc, Contain'],
  ['bad private data', (s) => (s.privateData = ['secrets']), 'privateData[0]', 'secrets', 'jobs'],
  ['owned key in extraSlurmConf', (s) => (s.extraSlurmConf = { ClusterName: 'x' }), 'extraSlurmConf.ClusterName', 'x', 'Use clusterName instead'],
  ['owned key in any case', (s) => (s.extraSlurmConf = { slurmctldparameters: 'enable_configless' }), 'extraSlurmConf.slurmctldparameters', 'enable_configless', 'set by the library'],
  ['owned AuthInfo', (s) => (s.extraSlurmConf = { AuthInfo: 'socket=/x' }), 'extraSlurmConf.AuthInfo', 'socket=/x', 'Remove it: the library sets it'],
  // A password pasted into slurm.conf is shown by its length only, and the fix names no prop a construct lacks.
  ['a password as AccountingStoragePass', (s) => (s.extraSlurmConf = { AccountingStoragePass: 'hunter2-db' }), 'extraSlurmConf.AccountingStoragePass', '<10 characters>',
    'Remove it: it names the munge socket'],
  ['a password under an unknown key', (s) => (s.extraSlurmConf = { StoragePass: 'hunter2-db' }), 'extraSlurmConf.StoragePass', '<10 characters>', 'slurm.conf(5)'],
  ['a password in a node line', (s) => (s.nodePools[0].extraNodeParameters = { BmcPassword: 'x y' }), 'nodePools[0].extraNodeParameters.BmcPassword', '<3 characters>', 'Slurm 23.11'],
  ['unknown slurm.conf key', (s) => (s.extraSlurmConf = { NotAKey: '1' }), 'extraSlurmConf.NotAKey', '1', 'slurm.conf(5) for Slurm 23.11'],
  ['key removed in this version', (s) => (s.extraSlurmConf = { RoutePlugin: 'route/topology' }), 'extraSlurmConf.RoutePlugin', 'route/topology', 'set slurmVersion to a release that has it'],
  ['value with a newline', (s) => (s.extraSlurmConf = { MessageTimeout: '30\nClusterName=evil' }), 'extraSlurmConf.MessageTimeout', '30\nClusterName=evil', 'one line'],
  ['owned node key', (s) => (s.nodePools[0].extraNodeParameters = { RealMemory: '1' }), 'nodePools[0].extraNodeParameters.RealMemory', '1', 'Use hardware.realMemoryMiB instead'],
  ['unknown node key', (s) => (s.nodePools[0].extraNodeParameters = { Colour: 'blue' }), 'nodePools[0].extraNodeParameters.Colour', 'blue', 'Slurm 23.11'],
  ['node value with spaces', (s) => (s.nodePools[0].extraNodeParameters = { MemSpecLimit: '4 096' }), 'nodePools[0].extraNodeParameters.MemSpecLimit', '4 096', 'Remove the spaces'],
  ['owned partition key', (s) => (s.partitions[0].extraParameters = { Nodes: 'ALL' }), 'partitions[0].extraParameters.Nodes', 'ALL', 'Use partitions[].pools instead'],
  ['partition key newer than version', (s) => (s.partitions[0].extraParameters = { ExclusiveTopo: 'YES' }), 'partitions[0].extraParameters.ExclusiveTopo', 'YES', 'release that has it'],
  ['bad slurm user', (s) => (s.slurmUser = 'Slurm User'), 'slurmUser', 'Slurm User', '"slurm"'],
  ['bad tracked TRES', (s) => (s.accounting!.trackedTres = ['gres gpu']), 'accounting.trackedTres[0]', 'gres gpu', '"gres/gpu"'],
];

describe.each(cases)('%s', (_rule, change, field, value, fix) => {
  test('is reported with its field, value and fix', () => {
    const spec = mutate(change);
    const issues = validateCluster(spec);
    const hit = issues.find((i) => i.field === field);
    expect(hit).toBeDefined();
    if (!hit) return;
    if (value !== undefined && typeof value !== 'object') expect(hit.value).toEqual(value);
    expect(hit.fix).toContain(fix);
    // The thrown message carries the same facts on one line.
    let message = '';
    try {
      assertValidCluster(spec);
    } catch (e) {
      expect(e).toBeInstanceOf(SlurmConfigError);
      message = (e as Error).message;
    }
    const line = message.split('\n').find((l) => l.includes(`: ${field} = `));
    expect(line).toBeDefined();
    expect(line).toContain(`cluster '${spec.clusterName}': ${field} = ${value === undefined ? 'undefined' : ''}`);
    if (typeof value === 'string' || typeof value === 'number') expect(line).toContain(JSON.stringify(value));
    expect(line).toContain(fix);
  });
});

test('version gating: a key added in 23.02 is rejected on 22.05 and accepted on 23.11', () => {
  const withKey = (v: '22.05' | '23.11') => mutate((s) => {
    (s as { slurmVersion: string }).slurmVersion = v;
    s.extraSlurmConf = { SuspendExcStates: 'DOWN' };
  });
  const issues = validateCluster(withKey('22.05'));
  expect(issues).toHaveLength(1);
  expect(issues[0].problem).toContain('Slurm 22.05');
  expect(issues[0].problem).toContain('added in Slurm 23.02');
  expect(validateCluster(withKey('23.11'))).toEqual([]);
});

test('every issue is reported at once, with a custom prefix', () => {
  const spec = mutate((s) => {
    s.clusterName = 'Bad';
    s.slurmdPort = 0;
  });
  expect(() => assertValidCluster(spec, 'Stack/Controller')).toThrow(/^2 problems/);
  try {
    assertValidCluster(spec, 'Stack/Controller');
  } catch (e) {
    const err = e as SlurmConfigError;
    expect(err.issues.map((i) => i.field).sort()).toEqual(['clusterName', 'slurmdPort']);
    expect(err.message.split('\n').slice(1).every((l) => l.startsWith('Stack/Controller: '))).toBe(true);
  }
});
