/**
 * The typed cluster model: what a Slurm cluster is, independent of any cloud.
 *
 * Constructs build one of these; the renderers in this folder turn it into slurm.conf,
 * gres.conf, cgroup.conf and slurmdbd.conf. Nothing here imports cdktf.
 */

/** Slurm releases whose configuration keys we know. Keys differ between them. */
export type SlurmVersion = '22.05' | '23.11' | '24.11';

export const SUPPORTED_SLURM_VERSIONS: readonly SlurmVersion[] = ['22.05', '23.11', '24.11'];

/** GPUs on every node of a pool: gres `gpu:<type>:<count>`. */
export interface GpuSpec {
  /** GRES type, e.g. `h100`, `a100`, `l4`, `rtx3070`. */
  readonly type: string;
  /** GPUs per node. */
  readonly count: number;
  /**
   * Device files, as a hostlist-style pattern relative to nothing (absolute path).
   * @default `/dev/nvidia[0-<count-1>]`
   */
  readonly deviceFiles?: string;
  /**
   * Let jobs share a GPU through the `shard` GRES: shards per GPU.
   * @default no sharding
   */
  readonly shardsPerGpu?: number;
}

/** Hardware of one node, as slurmd would report it. */
export interface NodeHardware {
  /** Logical CPUs (`CPUs=`). */
  readonly cpus: number;
  /** @default derived by slurmd; omitted from the node line unless all three are given */
  readonly sockets?: number;
  /** Cores per socket. @default omitted */
  readonly coresPerSocket?: number;
  /** Threads per core. @default omitted */
  readonly threadsPerCore?: number;
  /** Memory Slurm may hand out, MiB (`RealMemory=`). */
  readonly realMemoryMiB: number;
  /** Temporary disk space, MiB (`TmpDisk=`). @default omitted */
  readonly tmpDiskMiB?: number;
}

/**
 * A set of identical nodes: one hostlist range in slurm.conf, one resource set in Terraform.
 *
 * Either `count` (static nodes, always up) or `maxCount` (cloud nodes, `State=CLOUD`, powered up on
 * demand by ResumeProgram; the first `minCount` of them are kept up and excluded from suspend).
 * With `registration: 'dynamic'`, `count` is the most nodes that may register themselves.
 */
export interface NodePoolSpec {
  /** Pool name; node names are `<name>-<index>`. Lower-case letters, digits and `-`, starting with a letter. */
  readonly name: string;
  /**
   * Static node count. Exactly one of `count` and `maxCount` must be set. For a dynamic pool: the most
   * nodes that may register (`<name>-0` … `<name>-<count-1>`), counted into `MaxNodeCount`.
   */
  readonly count?: number;
  /**
   * How slurmctld learns of the pool's nodes.
   *
   * - `named`: slurm.conf has a `NodeName=<name>-[0-N]` line; slurmctld reaches each node by that name
   *   (DNS, /etc/hosts or `cloud_reg_addrs`). For hosts the library creates with a known address.
   * - `dynamic`: no node line; each node registers itself (`slurmd -Z --conf …`, Slurm 22.05+) under
   *   `<name>-<i>` and slurmctld keeps the address it registered from (a mesh address, a NAT'd host).
   *   For hosts the library does not create with a known address: on-prem Docker containers joined
   *   over a mesh, SSH-reached GPU hosts, auto-scaling groups. Partitions reach these nodes through
   *   `NodeSet=<name> Feature=<name>`; they are never suspended by power saving. Needs `count`, not
   *   `maxCount`/`minCount` (slurmctld cannot start such hosts). Node env: `dynamicNodeEnv`.
   * @default 'named'
   */
  readonly registration?: 'named' | 'dynamic';
  /** Cloud nodes: at most this many. */
  readonly maxCount?: number;
  /**
   * Cloud nodes kept always on (excluded from suspend).
   * @default 0
   */
  readonly minCount?: number;
  readonly hardware: NodeHardware;
  /** @default no GPUs */
  readonly gpus?: GpuSpec;
  /** Node features (`Features=`), usable with `--constraint`. @default none */
  readonly features?: readonly string[];
  /** Scheduling weight: lower is preferred. @default omitted (Slurm's 1) */
  readonly weight?: number;
  /**
   * Extra node-line keys, e.g. `{ MemSpecLimit: '4096' }`. Keys the library owns are rejected.
   * @default none
   */
  readonly extraNodeParameters?: Readonly<Record<string, string>>;
}

export type OverSubscribe = 'NO' | 'YES' | 'EXCLUSIVE' | 'FORCE';

export interface PartitionSpec {
  /** Partition name (`PartitionName=`). */
  readonly name: string;
  /** Names of the node pools whose nodes belong to this partition. */
  readonly pools: readonly string[];
  /** @default false */
  readonly default?: boolean;
  /** `MaxTime`, in Slurm's time format (`UNLIMITED`, `60`, `1-00:00:00`). @default `UNLIMITED` */
  readonly maxTime?: string;
  /** `DefaultTime`. @default omitted (MaxTime applies) */
  readonly defaultTime?: string;
  /** @default `NO` */
  readonly overSubscribe?: OverSubscribe;
  /** Whole nodes only (`OverSubscribe=EXCLUSIVE`). Shorthand; conflicts with another overSubscribe. @default false */
  readonly exclusive?: boolean;
  /** `DefMemPerGPU`, MiB. @default omitted */
  readonly defMemPerGpuMiB?: number;
  /** `DefCpuPerGPU`. @default omitted */
  readonly defCpuPerGpu?: number;
  /** `MaxNodes` per job. @default omitted */
  readonly maxNodes?: number;
  /** `PriorityTier`. @default omitted */
  readonly priorityTier?: number;
  /** @default none */
  readonly extraParameters?: Readonly<Record<string, string>>;
}

export interface ControllerSpec {
  /** Hostname slurmd and clients reach slurmctld at (`SlurmctldHost=`). */
  readonly hostname: string;
  /** Address, if not resolvable by name (`SlurmctldHost=name(addr)`). @default resolved by name */
  readonly address?: string;
  /** @default 6817 */
  readonly port?: number;
  /** @default `/var/spool/slurmctld` */
  readonly stateSaveLocation?: string;
}

export interface AccountingSpec {
  /** Host running slurmdbd. */
  readonly dbdHost: string;
  /** @default 6819 */
  readonly dbdPort?: number;
  /** Database server slurmdbd writes to. @default `localhost` */
  readonly storageHost?: string;
  /** @default 3306 */
  readonly storagePort?: number;
  /** @default `slurm` */
  readonly storageUser?: string;
  /** @default `slurm_acct_db` */
  readonly storageLoc?: string;
  /**
   * TRES to record beyond cpu/mem/energy/node/billing/fs/vmem/pages.
   * @default `['gres/gpu']` when any pool has GPUs
   */
  readonly trackedTres?: readonly string[];
}

export interface CgroupSpec {
  /**
   * `CgroupPlugin` (23.11+ also `autodetect`). 22.05 needs it explicit on hybrid hosts.
   * @default `autodetect`
   */
  readonly plugin?: 'autodetect' | 'cgroup/v1' | 'cgroup/v2';
  /** @default true */
  readonly constrainCores?: boolean;
  /** @default true */
  readonly constrainRamSpace?: boolean;
  /** @default true */
  readonly constrainDevices?: boolean;
  /** @default true */
  readonly constrainSwapSpace?: boolean;
  /** `AllowedRAMSpace`, percent. @default omitted (100) */
  readonly allowedRamSpacePercent?: number;
  /**
   * `IgnoreSystemdOnFailure`: where slurmd finds no systemd to ask for its cgroup scope (containers), it
   * builds the hierarchy itself instead of failing; hosts with systemd are unaffected.
   * @default false
   */
  readonly ignoreSystemdOnFailure?: boolean;
}

/** Where daemons keep their state, logs and sockets. Defaults are Debian/Ubuntu's. */
export interface SlurmPaths {
  /** @default `/var/spool/slurmd` */
  readonly slurmdSpoolDir?: string;
  /** @default `/var/log/slurm/slurmctld.log` */
  readonly slurmctldLogFile?: string;
  /** @default `/var/log/slurm/slurmd.log` */
  readonly slurmdLogFile?: string;
  /** @default `/var/log/slurm/slurmdbd.log` */
  readonly slurmdbdLogFile?: string;
  /** @default `/run/slurmctld.pid` */
  readonly slurmctldPidFile?: string;
  /** @default `/run/slurmd.pid` */
  readonly slurmdPidFile?: string;
  /** @default `/run/slurmdbd.pid` */
  readonly slurmdbdPidFile?: string;
  /** munged socket (`AuthInfo=socket=`). @default munge's default `/run/munge/munge.socket.2` */
  readonly mungeSocket?: string;
  /** JWT key for slurmrestd (`AuthAltParameters=jwt_key=`). @default `/etc/slurm/jwt_hs256.key` */
  readonly jwtKeyFile?: string;
}

/** Settings that apply only when some pool has cloud nodes. */
export interface PowerSavingSpec {
  /** Program slurmctld runs to start cloud nodes. */
  readonly resumeProgram: string;
  /** Program slurmctld runs to stop idle cloud nodes. */
  readonly suspendProgram: string;
  /** Seconds a node may take to boot and register. Slurm advice: 300–900. @default 600 */
  readonly resumeTimeoutSec?: number;
  /** Idle seconds before a cloud node is suspended. @default 600 */
  readonly suspendTimeSec?: number;
  /** @default 120 */
  readonly suspendTimeoutSec?: number;
  /** Nodes resumed per minute. @default omitted (unlimited) */
  readonly resumeRate?: number;
  /** Nodes suspended per minute. @default omitted (unlimited) */
  readonly suspendRate?: number;
}

export interface ClusterSpec {
  /** `ClusterName`: lower-case, starts with a letter, at most 40 characters. */
  readonly clusterName: string;
  /** Slurm release the nodes run; decides which keys are rendered and accepted. */
  readonly slurmVersion: SlurmVersion;
  readonly controller: ControllerSpec;
  /** @default no accounting (`AccountingStorageType` unset; jobs still run) */
  readonly accounting?: AccountingSpec;
  readonly nodePools: readonly NodePoolSpec[];
  readonly partitions: readonly PartitionSpec[];
  /** Required when any pool uses `maxCount`. @default none */
  readonly powerSaving?: PowerSavingSpec;
  /** @default see CgroupSpec */
  readonly cgroup?: CgroupSpec;
  /** @default Debian/Ubuntu paths */
  readonly paths?: SlurmPaths;
  /** @default `slurm` */
  readonly slurmUser?: string;
  /** slurmd port. @default 6818 */
  readonly slurmdPort?: number;
  /** Ports srun listens on, for clients behind firewalls. @default `[60001, 63000]` */
  readonly srunPortRange?: readonly [number, number];
  /** Scripts run by slurmd before/after each job (`Prolog`/`Epilog`), absolute paths. @default none */
  readonly prolog?: readonly string[];
  /** @default none */
  readonly epilog?: readonly string[];
  /** `PrologFlags`. @default `['Alloc', 'Contain']` when a prolog is set, else omitted */
  readonly prologFlags?: readonly string[];
  /** Node health check. @default none */
  readonly healthCheck?: {
    readonly program: string;
    /** @default 300 */
    readonly intervalSec?: number;
    /** @default `ANY` */
    readonly nodeState?: string;
  };
  /** Seconds slurmctld waits for slurmd before marking a node DOWN. @default 300 */
  readonly slurmdTimeoutSec?: number;
  /** `ReturnToService`. @default 2 */
  readonly returnToService?: 0 | 1 | 2;
  /**
   * Room for nodes that register themselves (`slurmd -Z`) outside any dynamic pool: added to the pools'
   * node count (dynamic pools' `count` included) for `MaxNodeCount`. @default 0
   */
  readonly dynamicNodeSlots?: number;
  /** `PrivateData`. Use `[]` to opt out. @default `['jobs', 'usage', 'users', 'accounts']` */
  readonly privateData?: readonly string[];
  /** Enable `AuthAltTypes=auth/jwt` for slurmrestd. @default false */
  readonly jwtAuth?: boolean;
  /** `MailProg`. @default omitted */
  readonly mailProg?: string;
  /**
   * Escape hatch: extra slurm.conf keys. Keys the library owns are rejected; keys the target
   * Slurm version does not know are rejected.
   * @default none
   */
  readonly extraSlurmConf?: Readonly<Record<string, string>>;
}
