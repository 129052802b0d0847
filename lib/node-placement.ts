/**
 * Where a pool's nodes run, as the cloud-neutral `ComputeNodePool` sees it. The cloud settings of a pool live on the
 * cloud's own object (`Ec2Nodes.of`, `GceNodes.of`, `DockerNodes.on`, `SshHosts.of`), which implements
 * `INodePlacement`; the pool checks what every pool shares (counts, GPU sharing, features), asks the placement for
 * its nodes' hardware, registers the pool with the controller, and has the placement make the nodes. A placement of
 * your own (another cloud, a rack of machines) implements the same two steps in its own folder.
 *
 * This file imports no provider.
 */
import type { Construct, IConstruct } from 'constructs';
import type { ApptainerSettings, ClusterMount, EnrootSettings } from './cloudinit';
import type { FileSystemClientNetwork } from './constructs/cluster-file-system';
import type { ISlurmController } from './constructs/cluster-interfaces';
import type { ExporterKind, ScrapeTargetGroup } from './monitoring/scrape-targets';
import type { NodePoolSpec } from './slurm';

/** How many nodes a pool has, as the user gave it (checked to be whole numbers by the pool). */
export interface NodePoolCounts {
  /** Nodes always up. @default none */
  readonly count?: number;
  /** Most nodes Slurm may start. @default none */
  readonly maxCount?: number;
  /** Nodes kept up even when idle. @default none */
  readonly minCount?: number;
}

/** What a pool asks of its placement: the settings every placement shares. */
export interface NodePoolRequest {
  /** Slurm pool name; nodes are `<name>-<i>`. */
  readonly poolName: string;
  readonly controller: ISlurmController;
  readonly counts: NodePoolCounts;
  /** GPUs per node as the user expects them (a type table checks them; placements without one take them). @default none */
  readonly gpus?: { readonly type?: string; readonly count?: number };
  /** Node features for `--constraint`. @default the placement's (its node type) */
  readonly features?: readonly string[];
  /** Scheduling weight. @default Slurm's */
  readonly weight?: number;
  /** enroot + pyxis on every node. @default none */
  readonly enroot?: EnrootSettings;
  /** Apptainer on every node. @default none */
  readonly apptainer?: ApptainerSettings;
}

/** A placement's plan for a pool: its hardware (nothing is made yet). */
export interface PlannedNodes {
  /** The pool's model entry before `gpus.shardsPerGpu`; the pool checks it with the pure core and registers it. */
  readonly spec: NodePoolSpec;
  /** The nodes run without systemd (containers): slurm.conf must not ask slurmd for cgroup v2 delegation. @default false */
  readonly runsWithoutSystemd?: boolean;
  /** How file-system servers reach the nodes. */
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  /** Makes the nodes, once the pool is registered. */
  place(pool: INodePoolHandle): IPlacedNodes;
}

/** The pool as its placement sees it while making the nodes. */
export interface INodePoolHandle extends IConstruct {
  readonly poolName: string;
  readonly controller: ISlurmController;
  /** The model entry as registered (GPU sharing included). */
  readonly spec: NodePoolSpec;
  /** The cluster file systems the nodes mount; complete only at synth, so read it in a lazy value. */
  readonly mounts: readonly ClusterMount[];
  /** The exporters every node runs. */
  exporterKinds(): ExporterKind[];
}

/** A pool's nodes as the placement made them. */
export interface IPlacedNodes {
  /** The node type, as the plan summary shows it (`g5.12xlarge`, `Docker containers (8 CPUs)`). */
  readonly hostType: string;
  /** Spot (or preemptible) capacity. */
  readonly spot: boolean;
  /** The fabric between the nodes, for the plan summary (`EFA`, `GPUDirect-TCPXO`, `mesh`). @default none */
  readonly fabric?: string;
  /** How a monitor finds and reaches each exporter of the nodes. */
  scrapeTargets(exporters: readonly ExporterKind[], labels: Readonly<Record<string, string>>): ScrapeTargetGroup[];
}

/** Where a pool's nodes run: made by a cloud's own factory (`Ec2Nodes.of`, `GceNodes.of`, `DockerNodes.on`, `SshHosts.of`). */
export interface INodePlacement {
  /** Short name in the plan summary (`aws`, `gcp`, `docker`, `ssh`). */
  readonly kind: string;
  /**
   * Checks the settings against the controller and the pool, and resolves the nodes' hardware.
   * @throws ConstructPropError naming `pool` and the field (`nodes.<setting>` for the placement's own)
   */
  plan(pool: Construct, request: NodePoolRequest): PlannedNodes;
}
