/**
 * Which configuration keys each supported Slurm release accepts, and which keys this library owns.
 *
 * Sources, so a reader can check every entry:
 * - 22.05 base sets: the PARAMETERS / NODE / PARTITION sections of slurm.conf(5) and cgroup.conf(5)
 *   shipped with Slurm 22.05.8 (Debian bookworm), cross-checked against the key strings in its
 *   libslurmfull.so.
 * - Later changes: SchedMD's CHANGELOG/slurm-23.02.md, slurm-23.11.md, slurm-24.05.md and
 *   slurm-24.11.md (the "rc1" sections list configuration changes). Each gated key below cites the
 *   release and the change-log line.
 * Intermediate releases (23.02, 24.05) matter because their changes carry into the next supported one.
 */
import type { SlurmVersion } from './model';

/** Every Slurm release whose changes we track, oldest first. */
const RELEASES = ['22.05', '23.02', '23.11', '24.05', '24.11'] as const;
type Release = (typeof RELEASES)[number];

/** A key that appeared or disappeared after 22.05. */
interface KeyGate {
  readonly key: string;
  readonly added?: Release;
  readonly removed?: Release;
}

const words = (s: string): string[] => s.split(/\s+/).filter((w) => w !== '');

/** slurm.conf(5) PARAMETERS of Slurm 22.05.8. */
const SLURM_CONF_2205 = words(`
    AccountingStorageBackupHost AccountingStorageEnforce AccountingStorageExternalHost AccountingStorageHost 
    AccountingStorageParameters AccountingStoragePass AccountingStoragePort AccountingStorageTRES 
    AccountingStorageType AccountingStorageUser AccountingStoreFlags AcctGatherEnergyType 
    AcctGatherFilesystemType AcctGatherInterconnectType AcctGatherNodeFreq AcctGatherProfileType 
    AllowSpecResourcesUsage AuthAltParameters AuthAltTypes AuthInfo AuthType BackupAddr BackupController 
    BatchStartTimeout BcastExclude BcastParameters BurstBufferType CliFilterPlugins ClusterName 
    CommunicationParameters CompleteWait ControlAddr ControlMachine CoreSpecPlugin CpuFreqDef CpuFreqGovernors 
    CredType DebugFlags DefCpuPerGPU DefMemPerCPU DefMemPerGPU DefMemPerNode DependencyParameters DisableRootJobs 
    EioTimeout EnforcePartLimits Epilog EpilogMsgTime EpilogSlurmctld ExtSensorsFreq ExtSensorsType 
    FairShareDampeningFactor FederationParameters FirstJobId GetEnvTimeout GpuFreqDef GresTypes GroupUpdateForce 
    GroupUpdateTime HealthCheckInterval HealthCheckNodeState HealthCheckProgram InactiveLimit 
    InteractiveStepOptions JobAcctGatherFrequency JobAcctGatherParams JobAcctGatherType JobCompHost JobCompLoc 
    JobCompParams JobCompPass JobCompPort JobCompType JobCompUser JobContainerType JobFileAppend JobRequeue 
    JobSubmitPlugins KillOnBadExit KillWait LaunchParameters LaunchType Licenses LogTimeFormat MCSParameters 
    MCSPlugin MailDomain MailProg MaxArraySize MaxDBDMsgs MaxJobCount MaxJobId MaxMemPerCPU MaxMemPerNode 
    MaxNodeCount MaxStepCount MaxTasksPerNode MessageTimeout MinJobAge MpiDefault MpiParams NodeFeaturesPlugins 
    OverTimeLimit PlugStackConfig PluginDir PowerParameters PowerPlugin PrEpParameters PrEpPlugins 
    PreemptExemptTime PreemptMode PreemptType PriorityCalcPeriod PriorityDecayHalfLife PriorityFavorSmall 
    PriorityFlags PriorityMaxAge PriorityParameters PrioritySiteFactorParameters PrioritySiteFactorPlugin 
    PriorityType PriorityUsageResetPeriod PriorityWeightAge PriorityWeightAssoc PriorityWeightFairshare 
    PriorityWeightJobSize PriorityWeightPartition PriorityWeightQOS PriorityWeightTRES PrivateData ProctrackType 
    Prolog PrologEpilogTimeout PrologFlags PrologSlurmctld PropagatePrioProcess PropagateResourceLimits 
    PropagateResourceLimitsExcept RebootProgram ReconfigFlags RequeueExit RequeueExitHold ResumeFailProgram 
    ResumeProgram ResumeRate ResumeTimeout ResvEpilog ResvOverRun ResvProlog ReturnToService RoutePlugin 
    SchedulerParameters SchedulerTimeSlice SchedulerType ScronParameters SelectType SelectTypeParameters 
    SlurmSchedLogFile SlurmSchedLogLevel SlurmUser SlurmctldAddr SlurmctldDebug SlurmctldHost SlurmctldLogFile 
    SlurmctldParameters SlurmctldPidFile SlurmctldPlugstack SlurmctldPort SlurmctldPrimaryOffProg 
    SlurmctldPrimaryOnProg SlurmctldSyslogDebug SlurmctldTimeout SlurmdDebug SlurmdLogFile SlurmdParameters 
    SlurmdPidFile SlurmdPort SlurmdSpoolDir SlurmdSyslogDebug SlurmdTimeout SlurmdUser SrunEpilog SrunPortRange 
    SrunProlog StateSaveLocation SuspendExcNodes SuspendExcParts SuspendProgram SuspendRate SuspendTime 
    SuspendTimeout SwitchParameters SwitchType TCPTimeout TaskEpilog TaskPlugin TaskPluginParam TaskProlog TmpFS 
    TopologyParam TopologyPlugin TrackWCKey TreeWidth UnkillableStepProgram UnkillableStepTimeout UsePAM 
    VSizeFactor WaitTime X11Parameters 
`);

const SLURM_CONF_GATES: readonly KeyGate[] = [
  // 23.02: "Add SuspendExcStates option to slurm.conf to avoid suspending/powering down specific node states."
  { key: 'SuspendExcStates', added: '23.02' },
  // 23.02: "Add configurable job requeue limit parameter - MaxBatchRequeue - in slurm.conf".
  { key: 'MaxBatchRequeue', added: '23.02' },
  // 23.02: "Add new PreemptParameters=reclaim_licenses option"; 22.05's parser has no PreemptParameters.
  { key: 'PreemptParameters', added: '23.02' },
  // 23.11: "RoutePlugin=route/topology has been replaced with TopologyParam=RouteTree."
  { key: 'RoutePlugin', removed: '23.11' },
  // 24.11: "Add DataParserParameters slurm.conf parameter".
  { key: 'DataParserParameters', added: '24.11' },
];

/** slurm.conf(5) NODE CONFIGURATION keys of 22.05 (plus `Feature`, the parser's alias of `Features`). */
const NODE_2205 = words(`
    NodeName NodeHostname NodeAddr BcastAddr Boards CoreSpecCount CoresPerSocket CpuBind CPUs CpuSpecList
    Feature Features Gres MemSpecLimit Port Procs RealMemory Reason Sockets SocketsPerBoard State ThreadsPerCore
    TmpDisk Weight
`);

const NODE_GATES: readonly KeyGate[] = [
  // 24.05: "Add RestrictedCoresPerGPU configuration option."
  { key: 'RestrictedCoresPerGPU', added: '24.05' },
];

/** slurm.conf(5) PARTITION CONFIGURATION keys of 22.05. */
const PARTITION_2205 = words(`
    AllocNodes AllowAccounts AllowGroups AllowQos Alternate CpuBind Default DefaultTime DefCpuPerGPU DefMemPerCPU
    DefMemPerGPU DefMemPerNode DenyAccounts DenyQos DisableRootJobs ExclusiveUser GraceTime Hidden LLN
    MaxCPUsPerNode MaxMemPerCPU MaxMemPerNode MaxNodes MaxTime MinNodes Nodes OverSubscribe OverTimeLimit
    PartitionName PreemptMode PriorityJobFactor PriorityTier QOS ReqResv ResumeTimeout RootOnly
    SelectTypeParameters Shared State SuspendTime SuspendTimeout TRESBillingWeights
`);

const PARTITION_GATES: readonly KeyGate[] = [
  // 23.02: "Add MaxCPUsPerSocket to partition configuration, similar to MaxCPUsPerNode."
  { key: 'MaxCPUsPerSocket', added: '23.02' },
  // 23.02: "Add PowerDownOnIdle partition option."
  { key: 'PowerDownOnIdle', added: '23.02' },
  // 24.05: "Add ExclusiveTopo to a partition definition in slurm.conf."
  { key: 'ExclusiveTopo', added: '24.05' },
];

/** cgroup.conf(5) of 22.05. */
const CGROUP_2205 = words(`
    AllowedKmemSpace AllowedRAMSpace AllowedSwapSpace CgroupAutomount CgroupMountpoint CgroupPlugin ConstrainCores
    ConstrainDevices ConstrainKmemSpace ConstrainRAMSpace ConstrainSwapSpace IgnoreSystemd IgnoreSystemdOnFailure
    MaxKmemPercent MaxRAMPercent MaxSwapPercent MemorySwappiness MinKmemSpace MinRAMSpace
`);

const CGROUP_GATES: readonly KeyGate[] = [
  // 23.11: "Remove CgroupAutomount= option from cgroup.conf."
  { key: 'CgroupAutomount', removed: '23.11' },
  // 23.02 deprecated them; 23.11: "cgroup.conf - Removed deprecated parameters AllowedKmemSpace,
  // ConstrainKmemSpace, MaxKmemPercent, and MinKmemSpace."
  { key: 'AllowedKmemSpace', removed: '23.11' },
  { key: 'ConstrainKmemSpace', removed: '23.11' },
  { key: 'MaxKmemPercent', removed: '23.11' },
  { key: 'MinKmemSpace', removed: '23.11' },
  // 23.11: "proctrack/cgroup - Add "SignalChildrenProcesses=<yes|no>" option to cgroup.conf."
  { key: 'SignalChildrenProcesses', added: '23.11' },
  // 24.05: "Add SystemdTimeout= parameter in cgroup.conf."
  { key: 'SystemdTimeout', added: '24.05' },
];

function atOrAfter(version: Release, release: Release): boolean {
  return RELEASES.indexOf(version) >= RELEASES.indexOf(release);
}

function keysFor(base: readonly string[], gates: readonly KeyGate[], version: SlurmVersion): ReadonlySet<string> {
  const keys = new Set(base);
  for (const gate of gates) {
    const present =
      (gate.added === undefined || atOrAfter(version, gate.added)) &&
      (gate.removed === undefined || !atOrAfter(version, gate.removed));
    if (present) keys.add(gate.key);
    else keys.delete(gate.key);
  }
  return keys;
}

/** Where a key appeared or disappeared, to say so in an error: e.g. `added in Slurm 23.02`. */
function gateNote(gates: readonly KeyGate[], key: string): string | undefined {
  const gate = gates.find((g) => g.key.toLowerCase() === key.toLowerCase());
  if (!gate) return undefined;
  return gate.added ? `added in Slurm ${gate.added}` : `removed in Slurm ${gate.removed}`;
}

/** A set of keys plus a case-insensitive lookup (Slurm keys are case-insensitive). */
export interface KeySet {
  readonly keys: ReadonlySet<string>;
  /** The canonical spelling of `key` if this release accepts it. */
  find(key: string): string | undefined;
  /** e.g. `added in Slurm 23.02` when the key exists only in other releases. */
  note(key: string): string | undefined;
}

function keySet(base: readonly string[], gates: readonly KeyGate[], version: SlurmVersion): KeySet {
  const keys = keysFor(base, gates, version);
  const byLower = new Map([...keys].map((k) => [k.toLowerCase(), k]));
  return {
    keys,
    find: (key) => byLower.get(key.toLowerCase()),
    note: (key) => gateNote(gates, key),
  };
}

/** slurm.conf top-level keys the release accepts. */
export function slurmConfKeys(version: SlurmVersion): KeySet {
  return keySet(SLURM_CONF_2205, SLURM_CONF_GATES, version);
}

/** Keys of a `NodeName=` line the release accepts. */
export function nodeLineKeys(version: SlurmVersion): KeySet {
  return keySet(NODE_2205, NODE_GATES, version);
}

/** Keys of a `PartitionName=` line the release accepts. */
export function partitionLineKeys(version: SlurmVersion): KeySet {
  return keySet(PARTITION_2205, PARTITION_GATES, version);
}

/** cgroup.conf keys the release accepts. */
export function cgroupConfKeys(version: SlurmVersion): KeySet {
  return keySet(CGROUP_2205, CGROUP_GATES, version);
}

/**
 * `SlurmctldParameters=cloud_reg_addrs` exists up to 23.02; 23.11 made it the default and removed the
 * option ("Remove cloud_reg_addrs and make it default behavior.").
 */
export function hasCloudRegAddrsOption(version: SlurmVersion): boolean {
  return !atOrAfter(version, '23.11');
}

/**
 * Whether `JobCompType=jobcomp/none` may be written. 23.11: "Remove 'none' plugins for all but auth and
 * cred." From then on leaving the key unset is how to say "no job completion logging".
 */
export function hasJobCompNonePlugin(version: SlurmVersion): boolean {
  return !atOrAfter(version, '23.11');
}

/**
 * `PrologFlags` values. 22.05: slurm.conf(5). 23.02: "Add new PrologFlags=ForceRequeueOnFail option".
 * 24.05: "Added PrologFlags=RunInJob".
 */
export function prologFlagValues(version: SlurmVersion): readonly string[] {
  const flags = ['Alloc', 'Contain', 'DeferBatch', 'NoHold', 'Serial', 'X11'];
  if (atOrAfter(version, '23.02')) flags.push('ForceRequeueOnFail');
  if (atOrAfter(version, '24.05')) flags.push('RunInJob');
  return flags;
}

/** `PrivateData` values (slurm.conf(5), unchanged 22.05–24.11). */
export const PRIVATE_DATA_VALUES: readonly string[] = [
  'accounts', 'cloud', 'events', 'jobs', 'nodes', 'partitions', 'reservations', 'usage', 'users',
];

/**
 * `HealthCheckNodeState` values. 22.05: slurm.conf(5). 23.02: "Add HealthCheckNodeState=NONDRAINED_IDLE option."
 */
export function healthCheckNodeStates(version: SlurmVersion): readonly string[] {
  const states = ['ALLOC', 'ANY', 'CYCLE', 'IDLE', 'MIXED'];
  if (atOrAfter(version, '23.02')) states.push('NONDRAINED_IDLE');
  return states;
}

/**
 * slurm.conf keys the renderer writes, with the model field to use instead. `extraSlurmConf` may not
 * set them: two values for one key would leave Slurm to pick one silently.
 */
export const OWNED_SLURM_CONF_KEYS: Readonly<Record<string, string>> = {
  ClusterName: 'clusterName',
  SlurmctldHost: 'controller.hostname and controller.address',
  ControlMachine: 'controller.hostname (ControlMachine is the old name of SlurmctldHost)',
  ControlAddr: 'controller.address (ControlAddr is the old name of SlurmctldHost\'s address)',
  SlurmctldPort: 'controller.port',
  SlurmdPort: 'slurmdPort',
  SlurmUser: 'slurmUser',
  SlurmctldParameters: 'the model (configless and cloud options are set by the library)',
  AuthType: 'the model (auth/munge is set by the library)',
  CredType: 'the model (cred/munge is set by the library)',
  CryptoType: 'the model (CryptoType is the old name of CredType, set by the library)',
  AuthInfo: 'nothing: the library sets it (the munge socket; paths.mungeSocket in the pure model)',
  AuthAltTypes: 'jwtAuth',
  AuthAltParameters: 'paths.jwtKeyFile',
  StateSaveLocation: 'controller.stateSaveLocation',
  SlurmdSpoolDir: 'paths.slurmdSpoolDir',
  SlurmctldLogFile: 'paths.slurmctldLogFile',
  SlurmdLogFile: 'paths.slurmdLogFile',
  SlurmctldPidFile: 'paths.slurmctldPidFile',
  SlurmdPidFile: 'paths.slurmdPidFile',
  ProctrackType: 'the model (proctrack/cgroup is set by the library)',
  TaskPlugin: 'the model (task/affinity,task/cgroup is set by the library)',
  SelectType: 'the model (select/cons_tres is set by the library)',
  SelectTypeParameters: 'the model (CR_Core_Memory is set by the library)',
  JobAcctGatherType: 'the model (jobacct_gather/cgroup is set by the library)',
  GresTypes: 'nodePools[].gpus',
  SrunPortRange: 'srunPortRange',
  ReturnToService: 'returnToService',
  SlurmdTimeout: 'slurmdTimeoutSec',
  MaxNodeCount: 'dynamicNodeSlots',
  PrivateData: 'privateData',
  MailProg: 'mailProg',
  Prolog: 'prolog',
  Epilog: 'epilog',
  PrologFlags: 'prologFlags',
  HealthCheckProgram: 'healthCheck.program',
  HealthCheckInterval: 'healthCheck.intervalSec',
  HealthCheckNodeState: 'healthCheck.nodeState',
  AccountingStorageType: 'accounting',
  AccountingStorageHost: 'accounting.dbdHost',
  AccountingStoragePort: 'accounting.dbdPort',
  AccountingStorageTRES: 'accounting.trackedTres',
  AccountingStoragePass: 'nothing: it names the munge socket, which the library sets; no password goes in slurm.conf (slurmdbd\'s database password is the accounting passwordSecret)',
  JobCompType: 'the model (job completion logging is left off by the library)',
  ResumeProgram: 'powerSaving.resumeProgram',
  SuspendProgram: 'powerSaving.suspendProgram',
  ResumeTimeout: 'powerSaving.resumeTimeoutSec',
  SuspendTime: 'powerSaving.suspendTimeSec',
  SuspendTimeout: 'powerSaving.suspendTimeoutSec',
  ResumeRate: 'powerSaving.resumeRate',
  SuspendRate: 'powerSaving.suspendRate',
  SuspendExcNodes: 'nodePools[].count or nodePools[].minCount (always-on nodes are excluded automatically)',
  TreeWidth: 'the model (set for cloud pools by the library)',
  NodeName: 'nodePools',
  PartitionName: 'partitions',
};

/** Node-line keys the renderer writes, with the model field to use instead. */
export const OWNED_NODE_KEYS: Readonly<Record<string, string>> = {
  NodeName: 'nodePools[].name',
  CPUs: 'hardware.cpus',
  Procs: 'hardware.cpus (Procs is the old name of CPUs)',
  Sockets: 'hardware.sockets',
  CoresPerSocket: 'hardware.coresPerSocket',
  ThreadsPerCore: 'hardware.threadsPerCore',
  RealMemory: 'hardware.realMemoryMiB',
  TmpDisk: 'hardware.tmpDiskMiB',
  Gres: 'gpus',
  Features: 'features',
  Feature: 'features',
  Weight: 'weight',
  State: 'count or maxCount (State=CLOUD is set for cloud pools)',
};

/** Partition-line keys the renderer writes, with the model field to use instead. */
export const OWNED_PARTITION_KEYS: Readonly<Record<string, string>> = {
  PartitionName: 'partitions[].name',
  Nodes: 'partitions[].pools',
  Default: 'partitions[].default',
  MaxTime: 'partitions[].maxTime',
  DefaultTime: 'partitions[].defaultTime',
  OverSubscribe: 'partitions[].overSubscribe or partitions[].exclusive',
  Shared: 'partitions[].overSubscribe (Shared is the old name of OverSubscribe)',
  DefMemPerGPU: 'partitions[].defMemPerGpuMiB',
  DefCpuPerGPU: 'partitions[].defCpuPerGpu',
  MaxNodes: 'partitions[].maxNodes',
  PriorityTier: 'partitions[].priorityTier',
  State: 'the model (partitions are written State=UP)',
};

/** Case-insensitive lookup in an owned-key table: the canonical key and the field to use instead. */
/** The fix for a key the library owns: the model field to use, or (`nothing: …`) why there is none. */
export function ownedFix(use: string): string {
  return use.startsWith('nothing: ') ? `Remove it: ${use.slice('nothing: '.length)}.` : `Use ${use} instead.`;
}

export function ownedKey(table: Readonly<Record<string, string>>, key: string): [string, string] | undefined {
  const hit = Object.keys(table).find((k) => k.toLowerCase() === key.toLowerCase());
  return hit === undefined ? undefined : [hit, table[hit]];
}
