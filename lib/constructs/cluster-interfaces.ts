/**
 * What the cluster's constructs know of each other. A pool, a partition, a login node, a monitor or a file system
 * depends on the controller through `ISlurmController` (what it uses), never on the `SlurmController` class, so no
 * construct file imports another's and a test keeps `lib/` free of import cycles.
 */
import type { IConstruct } from 'constructs';
import type { IClusterBackend, IClusterNetwork, IControllerHost, MonitorOnController } from '../backend';
import type { ClusterMount, NfsExport, ResolvedTailscaleMesh } from '../cloudinit';
import type { ExporterKind, IScrapeTargets } from '../monitoring/scrape-targets';
import type { ClusterSpec, NodePoolSpec, PartitionSpec, SlurmVersion } from '../slurm';
import type { IClusterFileSystem, IFileSystemClient } from './cluster-file-system';

/** A host's share of the cluster-wide settings (`ISlurmController.hostSetup`). */
export interface HostSetup {
  /** node.env entries. */
  readonly env: Readonly<Record<string, string>>;
  /** Bootstrap scripts, relative to the tree. */
  readonly scripts: readonly string[];
  /** The users table, when the cluster has users. @default none */
  readonly usersTable?: string;
}

export type { MonitorOnController };

/** The Slurm controller as the other constructs use it; `SlurmController` implements it. */
export interface ISlurmController extends IFileSystemClient, IScrapeTargets {
  readonly clusterName: string;
  readonly slurmVersion: SlurmVersion;
  /** `SlurmctldHost`. */
  readonly hostname: string;
  /** Fixed private address; slurmd's `--conf-server`. */
  readonly privateIp: string;
  /** The network it was given; its backend is `backend`. A backend reads its own network from its controller host. */
  readonly network: IClusterNetwork;
  readonly backend: IClusterBackend;
  /** The controller's host on its cloud; a backend reads its own kind through `AwsControllerHost.of` and the like. */
  readonly host: IControllerHost;
  /** Where nodes read the munge key at boot (a node.env secret source). */
  readonly mungeKeySource: string;
  /** The mesh the controller joins. @default none */
  readonly tailscale?: ResolvedTailscaleMesh;
  /** The NFS directory shared with mesh nodes, which mesh pools mount without being asked. @default none */
  readonly sharedDirectory?: IClusterFileSystem;
  /** Whether the cluster has users (known at construction). */
  readonly hasUsers: boolean;
  /** The address in `SlurmctldHost=name(address)`, when it is not left to name resolution. */
  readonly slurmctldAddress: string | undefined;

  /** The cluster model as it stands: everything registered so far. */
  clusterSpec(): ClusterSpec;
  /** A pool becomes one node line (or nodeset) in slurm.conf. */
  addNodePool(pool: NodePoolSpec, options?: { readonly runsWithoutSystemd?: boolean }): void;
  addPartition(partition: PartitionSpec): void;
  /** Hosts that become scrape targets of the cluster's monitor. */
  addScrapeTargets(hosts: IScrapeTargets): void;
  /** The controller serves `e` over NFS. */
  addNfsExport(e: NfsExport): void;
  /** What every host adds to its user-data: exporters (once monitored) and the cluster's users. */
  hostSetup(exporters: readonly ExporterKind[], mounts: readonly ClusterMount[], isController?: boolean): HostSetup;
  /** A fixed address for another host, index `hostIndex` of the controller's subnet; fails naming `scope` and `field`. */
  fixedHostAddress(scope: IConstruct, field: string, hostIndex: number, defaultIndex: number): string;
  /** slurm.conf runs every node's prolog.d/epilog.d scripts. */
  useNodeJobHooks(user: string): void;
  /** The controller serves plugstack.conf (pyxis on some hosts). */
  useContainers(): void;
  /** Every host runs its exporters from now on; one monitor per cluster. */
  useMonitoring(monitorPath: string): void;
  /** The controller also runs Prometheus and Grafana. */
  hostMonitor(monitor: MonitorOnController): void;
}

/** A node pool as partitions see it; `ComputeNodePool` implements it. */
export interface IComputeNodePool extends IConstruct {
  /** Slurm pool name; nodes are `<name>-<i>`. */
  readonly poolName: string;
  /** The controller the pool registered with. */
  readonly controller: ISlurmController;
  /** The pool's model entry (hardware, GPUs, counts) as registered. */
  readonly spec: NodePoolSpec;
}
