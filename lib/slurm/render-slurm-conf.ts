/** Renders slurm.conf: one line per pool and per partition, whatever the node count. */
import { compressHostlist } from './hostlist';
import type { ClusterSpec, NodePoolSpec, PartitionSpec, SlurmVersion } from './model';
import { isCloudPool, isDynamicPool, partitionNodes, poolHostlist, staticNodesHostlist, totalNodeCount } from './nodes';
import { DEFAULTS, file, header, jwtKey, kv } from './render-common';
import { assertValidCluster, DEFAULT_SLURMCTLD_PORT, DEFAULT_SLURMD_PORT, DEFAULT_SLURMDBD_PORT, DEFAULT_SRUN_PORT_RANGE } from './validate';
import { hasCloudRegAddrsOption, hasJobCompNonePlugin, slurmConfKeys } from './versions';

/** `gpu:<type>:<n>` plus `shard:<n x shards>` when the pool shards its GPUs; undefined without GPUs. */
export function gresOf(pool: NodePoolSpec): string | undefined {
  const g = pool.gpus;
  if (!g) return undefined;
  const gpu = `gpu:${g.type}:${g.count}`;
  return g.shardsPerGpu ? `${gpu},shard:${g.count * g.shardsPerGpu}` : gpu;
}

/** Node hardware keys shared by node lines and `slurmd -Z --conf`. */
export function hardwareEntries(pool: NodePoolSpec): Array<[string, string | number | undefined]> {
  const hw = pool.hardware;
  const topo = hw.sockets !== undefined && hw.coresPerSocket !== undefined && hw.threadsPerCore !== undefined;
  return [
    ['CPUs', hw.cpus],
    ['Sockets', topo ? hw.sockets : undefined],
    ['CoresPerSocket', topo ? hw.coresPerSocket : undefined],
    ['ThreadsPerCore', topo ? hw.threadsPerCore : undefined],
    ['RealMemory', hw.realMemoryMiB],
    ['TmpDisk', hw.tmpDiskMiB],
  ];
}

/** A dynamic pool's node features: the pool name first (its NodeSet selects on it), then the pool's own. */
export function dynamicFeatures(pool: NodePoolSpec): string[] {
  return [pool.name, ...(pool.features ?? []).filter((f) => f !== pool.name)];
}

/**
 * The line that puts a dynamic pool's nodes into partitions: every node registering with the feature
 * `<pool>` joins the set, and with it each partition whose `Nodes=` names the set.
 */
function nodeSetLine(pool: NodePoolSpec): string {
  return `NodeSet=${pool.name} Feature=${pool.name}`;
}

/**
 * Whether `SuspendExcStates=DYNAMIC_NORM` exists (23.02: "Add SuspendExcStates option"; its states
 * include DYNAMIC_NORM, the state of nodes registered with `slurmd -Z`).
 */
export function hasSuspendExcStates(version: SlurmVersion): boolean {
  return slurmConfKeys(version).find('SuspendExcStates') !== undefined;
}

function sortedExtras(extra: Readonly<Record<string, string>> | undefined): Array<[string, string]> {
  return Object.entries(extra ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function nodeLine(pool: NodePoolSpec): string {
  return kv([
    ['NodeName', poolHostlist(pool)],
    ...hardwareEntries(pool),
    ['Gres', gresOf(pool)],
    ['Features', pool.features && pool.features.length > 0 ? pool.features.join(',') : undefined],
    ['Weight', pool.weight],
    ...sortedExtras(pool.extraNodeParameters),
    ['State', isCloudPool(pool) ? 'CLOUD' : 'UNKNOWN'],
  ]).join(' ');
}

/**
 * Whether power saving must be switched off per partition to keep dynamic nodes up: 22.05 has no
 * SuspendExcStates, and neither SuspendExcNodes nor SuspendExcParts covers nodes that register after
 * slurmctld starts (both seen on 22.05.8: the nodes were suspended). A partition's
 * `SuspendTime=INFINITE` does reach them (also seen there).
 */
export function needsPartitionSuspendOff(spec: ClusterSpec): boolean {
  return spec.nodePools.some(isCloudPool) && spec.nodePools.some(isDynamicPool) && !hasSuspendExcStates(spec.slurmVersion);
}

function partitionLine(part: PartitionSpec, pools: ReadonlyMap<string, NodePoolSpec>, suspendOff: boolean): string {
  const overSubscribe = part.exclusive ? 'EXCLUSIVE' : (part.overSubscribe ?? 'NO');
  const hasDynamic = part.pools.some((p) => pools.get(p)?.registration === 'dynamic');
  return kv([
    ['PartitionName', part.name],
    ['Nodes', partitionNodes(part.pools.map((p) => pools.get(p) as NodePoolSpec))],
    ['Default', part.default ? 'YES' : undefined],
    ['MaxTime', part.maxTime ?? 'UNLIMITED'],
    ['DefaultTime', part.defaultTime],
    ['OverSubscribe', overSubscribe],
    ['DefMemPerGPU', part.defMemPerGpuMiB],
    ['DefCpuPerGPU', part.defCpuPerGpu],
    ['MaxNodes', part.maxNodes],
    ['PriorityTier', part.priorityTier],
    ['SuspendTime', suspendOff && hasDynamic ? 'INFINITE' : undefined],
    ...sortedExtras(part.extraParameters),
    ['State', 'UP'],
  ]).join(' ');
}

/** The `AccountingStorageTRES` list: the model's, or gres/gpu when any pool has GPUs. */
export function trackedTres(spec: ClusterSpec): string[] {
  const hasGpus = spec.nodePools.some((p) => p.gpus);
  return [...(spec.accounting?.trackedTres ?? (hasGpus ? ['gres/gpu'] : []))];
}

/**
 * Renders slurm.conf for the controller (configless: slurmd fetches it with `--conf-server`).
 * @throws SlurmConfigError when the model is invalid.
 */
export function renderSlurmConf(spec: ClusterSpec): string {
  assertValidCluster(spec);
  const v = spec.slurmVersion;
  const paths = spec.paths ?? {};
  const pools = spec.nodePools;
  const cloud = pools.some(isCloudPool);
  const dynamic = pools.some(isDynamicPool);
  const gpus = pools.some((p) => p.gpus);
  const shards = pools.some((p) => p.gpus?.shardsPerGpu);
  const c = spec.controller;

  const ctldParams = ['enable_configless'];
  if (cloud) {
    // 23.11 made cloud_reg_addrs the default and dropped the option (see versions.ts).
    if (hasCloudRegAddrsOption(v)) ctldParams.push('cloud_reg_addrs');
    ctldParams.push('idle_on_node_suspend');
  }
  const srun = spec.srunPortRange ?? DEFAULT_SRUN_PORT_RANGE;
  const prologFlags = spec.prologFlags ?? (spec.prolog && spec.prolog.length > 0 ? ['Alloc', 'Contain'] : undefined);
  const privateData = spec.privateData ?? ['jobs', 'usage', 'users', 'accounts'];
  const slots = spec.dynamicNodeSlots ?? 0;

  const lines: string[] = [header('slurm.conf', spec), '', '# Cluster and daemons'];
  lines.push(
    ...kv([
      ['ClusterName', spec.clusterName],
      ['SlurmctldHost', c.address ? `${c.hostname}(${c.address})` : c.hostname],
      ['SlurmctldPort', c.port ?? DEFAULT_SLURMCTLD_PORT],
      ['SlurmdPort', spec.slurmdPort ?? DEFAULT_SLURMD_PORT],
      ['SlurmUser', spec.slurmUser ?? DEFAULTS.slurmUser],
      ['SlurmctldParameters', ctldParams.join(',')],
      ['StateSaveLocation', c.stateSaveLocation ?? DEFAULTS.stateSaveLocation],
      ['SlurmdSpoolDir', paths.slurmdSpoolDir ?? DEFAULTS.slurmdSpoolDir],
      ['SlurmctldPidFile', paths.slurmctldPidFile ?? DEFAULTS.slurmctldPidFile],
      ['SlurmdPidFile', paths.slurmdPidFile ?? DEFAULTS.slurmdPidFile],
      ['SlurmctldLogFile', paths.slurmctldLogFile ?? DEFAULTS.slurmctldLogFile],
      ['SlurmdLogFile', paths.slurmdLogFile ?? DEFAULTS.slurmdLogFile],
    ]),
    '',
    '# Authentication',
    ...kv([
      ['AuthType', 'auth/munge'],
      ['CredType', 'cred/munge'],
      ['AuthInfo', paths.mungeSocket ? `socket=${paths.mungeSocket}` : undefined],
      ['AuthAltTypes', spec.jwtAuth ? 'auth/jwt' : undefined],
      ['AuthAltParameters', spec.jwtAuth ? jwtKey(spec) : undefined],
    ]),
    '',
    '# Scheduling and resource control',
    ...kv([
      ['ProctrackType', 'proctrack/cgroup'],
      ['TaskPlugin', 'task/affinity,task/cgroup'],
      ['SelectType', 'select/cons_tres'],
      ['SelectTypeParameters', 'CR_Core_Memory'],
      ['JobAcctGatherType', 'jobacct_gather/cgroup'],
      ['GresTypes', gpus ? (shards ? 'gpu,shard' : 'gpu') : undefined],
      ['SrunPortRange', `${srun[0]}-${srun[1]}`],
      ['ReturnToService', spec.returnToService ?? 2],
      ['SlurmdTimeout', spec.slurmdTimeoutSec ?? 300],
      // Registered dynamic nodes count against it; without it, slurmctld refuses every -Z registration.
      ['MaxNodeCount', slots > 0 || dynamic ? totalNodeCount(spec) + slots : undefined],
      ['PrivateData', privateData.length > 0 ? privateData.join(',') : undefined],
      ['MailProg', spec.mailProg],
      ['Prolog', spec.prolog?.[0]],
      ['Epilog', spec.epilog?.[0]],
      ['PrologFlags', prologFlags && prologFlags.length > 0 ? prologFlags.join(',') : undefined],
      ['HealthCheckProgram', spec.healthCheck?.program],
      ['HealthCheckInterval', spec.healthCheck ? (spec.healthCheck.intervalSec ?? 300) : undefined],
      ['HealthCheckNodeState', spec.healthCheck ? (spec.healthCheck.nodeState ?? 'ANY') : undefined],
    ]),
  );

  if (spec.accounting) {
    const a = spec.accounting;
    const tres = trackedTres(spec);
    lines.push(
      '',
      '# Accounting (slurmdbd)',
      ...kv([
        ['AccountingStorageType', 'accounting_storage/slurmdbd'],
        ['AccountingStorageHost', a.dbdHost],
        ['AccountingStoragePort', a.dbdPort ?? DEFAULT_SLURMDBD_PORT],
        ['AccountingStorageTRES', tres.length > 0 ? tres.join(',') : undefined],
        // With slurmdbd and munge, this names the munge socket for slurmctld <-> slurmdbd (LOCAL-CLUSTER.md).
        ['AccountingStoragePass', paths.mungeSocket],
      ]),
    );
  }
  // 23.11 removed the jobcomp/none plugin; unset is "none" there.
  if (hasJobCompNonePlugin(v)) lines.push(...kv([['JobCompType', 'jobcomp/none']]));

  // Dynamic nodes' addresses live only in slurmctld: other slurmd cannot forward to them by name.
  const flatTree = cloud || dynamic;
  // The user's SuspendExcStates (extraSlurmConf) is kept, with DYNAMIC_NORM added; see extra lines below.
  const userExcStates = Object.keys(spec.extraSlurmConf ?? {}).some((k) => k.toLowerCase() === 'suspendexcstates');
  const excDynamicStates = dynamic && hasSuspendExcStates(v);
  if (cloud && spec.powerSaving) {
    const ps = spec.powerSaving;
    // Static pools and cloud minCount nodes. Dynamic nodes: SuspendExcStates (23.02+) or, on 22.05,
    // SuspendTime=INFINITE on their partitions; see needsPartitionSuspendOff.
    const exc = staticNodesHostlist(spec);
    lines.push(
      '',
      '# Power saving for cloud pools',
      ...kv([
        ['ResumeProgram', ps.resumeProgram],
        ['SuspendProgram', ps.suspendProgram],
        ['ResumeTimeout', ps.resumeTimeoutSec ?? 600],
        ['SuspendTime', ps.suspendTimeSec ?? 600],
        ['SuspendTimeout', ps.suspendTimeoutSec ?? 120],
        ['ResumeRate', ps.resumeRate],
        ['SuspendRate', ps.suspendRate],
        ['SuspendExcNodes', exc === '' ? undefined : exc],
        // Self-registered hosts cannot be started again by ResumeProgram: never power them down.
        ['SuspendExcStates', excDynamicStates && !userExcStates ? 'DYNAMIC_NORM' : undefined],
        // Cloud nodes may not be resolvable when slurmctld fans out messages; no tree, direct messages.
        ['TreeWidth', 65533],
      ]),
    );
  } else if (flatTree) {
    lines.push('', '# Dynamic nodes: slurmctld alone knows their addresses, so it messages them directly', ...kv([['TreeWidth', 65533]]));
  }

  const byName = new Map(pools.map((p) => [p.name, p] as const));
  lines.push('', '# Nodes: one line per pool', ...pools.filter((p) => !isDynamicPool(p)).map(nodeLine));
  if (dynamic) {
    lines.push(
      '# Dynamic pools: nodes register themselves (slurmd -Z) with Feature=<pool>; partitions name the set',
      ...pools.filter(isDynamicPool).map(nodeSetLine),
    );
  }
  lines.push('', '# Partitions', ...spec.partitions.map((p) => partitionLine(p, byName, needsPartitionSuspendOff(spec))));

  const extra = sortedExtras(spec.extraSlurmConf);
  if (extra.length > 0) {
    const known = slurmConfKeys(v);
    const withDynamic = (k: string, val: string): string =>
      cloud && excDynamicStates && k.toLowerCase() === 'suspendexcstates' && !/\bDYNAMIC_NORM\b/i.test(val) ? `${val},DYNAMIC_NORM` : val;
    lines.push('', '# extraSlurmConf', ...extra.map(([k, val]) => `${known.find(k) ?? k}=${withDynamic(k, val)}`));
  }
  return file(lines);
}

/** Exposed for tests and the gres renderer: the pool's device files as one expression. */
export function defaultDeviceFiles(count: number): string {
  return compressHostlist(Array.from({ length: count }, (_, i) => `/dev/nvidia${i}`));
}
