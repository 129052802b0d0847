import { Construct } from 'constructs';
import type { ApptainerSettings, ClusterMount, EnrootSettings } from '../cloudinit';
import type { INodePlacement, IPlacedNodes, NodePoolCounts } from '../node-placement';
import { NodePoolSpec, validateNodePool } from '../slurm';
import { ExporterKind, IScrapeTargets, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import { FileSystemClientNetwork, HostMounts, IClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { PoolPart } from '../summary/model';
import { describeForPlan } from './plan-summary';
import { ConstructPropError } from '../cdktf-adapter';
import type { IComputeNodePool, ISlurmController } from './cluster-interfaces';

export interface ComputeNodePoolProps {
  readonly controller: ISlurmController;
  /**
   * Where the nodes run, with that cloud's own settings: `Ec2Nodes.of({ instanceType })`,
   * `GceNodes.of({ machineType })`, `DockerNodes.on(host, { cpus, realMemoryMiB })` or
   * `SshHosts.of(hosts, { privateKey, cpus, realMemoryMiB })`. It must be where the controller is (Docker and SSH
   * nodes reach it over its mesh).
   */
  readonly nodes: INodePlacement;
  /**
   * Slurm pool name; nodes are `<name>-<i>`. Lower-case letters, digits and `-`, starting with a letter.
   * @default the construct id, lower-cased
   */
  readonly name?: string;
  /**
   * Nodes always up. Give `count`, or `maxCount` for nodes Slurm starts on demand and stops when idle (where the
   * placement can start nodes: EC2).
   * @default none
   */
  readonly count?: number;
  /** Most cloud nodes Slurm may start. @default none */
  readonly maxCount?: number;
  /** Cloud nodes kept up even when idle. @default 0 */
  readonly minCount?: number;
  /**
   * GPUs per node as Slurm schedules them: checked against the node type's table entry where the placement has one
   * (EC2, Compute Engine), taken as given where it has none (Docker, SSH: give `type` and `count`). `shardsPerGpu`
   * lets jobs share a GPU through Slurm's `shard` GRES (`--gres=shard:N`): each GPU counts as that many shards
   * (`GresTypes=gpu,shard`, `Gres=gpu:<type>:<n>,shard:<n*shards>` and gres.conf lines rendered for the pool).
   * @default taken from the table (none where there is no table); no sharing
   */
  readonly gpus?: { readonly type?: string; readonly count?: number; readonly shardsPerGpu?: number };
  /** Node features for `--constraint`. @default the node type (`docker`, `ssh` for those placements) */
  readonly features?: readonly string[];
  /** Scheduling weight: lower is preferred. @default Slurm's default */
  readonly weight?: number;
  /**
   * enroot + pyxis on every node, so `srun --container-image=…` runs tasks in containers whose storage is on the
   * local NVMe scratch (GCP types with Local SSDs: a RAID0 at /mnt/localssd). Give the download checksums. EC2 and
   * Compute Engine nodes only.
   * @default none
   */
  readonly enroot?: EnrootSettings;
  /**
   * Apptainer (unprivileged, from the pinned upstream .deb with its checksum) on every node, beside or instead of
   * enroot; with `registry`, a cluster registry that Apptainer pulls Docker Hub images through. EC2 and Compute
   * Engine nodes only.
   * @default none
   */
  readonly apptainer?: ApptainerSettings;
  /**
   * Cluster file systems every node mounts at boot, before slurmd starts (the same as `fs.mountOn(pool)`). Docker
   * and SSH pools also mount the controller's `sharedDirectory` without being asked.
   * @default none
   */
  readonly mounts?: readonly IClusterFileSystem[];
}

/**
 * A set of identical compute nodes: one node line in slurm.conf, and one set of nodes wherever `nodes` places them
 * (a launch template Slurm starts instances from, an instance template and its VMs, containers, SSH hosts). The pool
 * checks what every placement shares, lets the placement resolve the hardware, registers with the controller, has the
 * placement make the nodes, then mounts its file systems and becomes a scrape target.
 */
export class ComputeNodePool extends Construct implements IComputeNodePool, IFileSystemClient, IScrapeTargets {
  readonly poolName: string;
  readonly spec: NodePoolSpec;
  readonly controller: ISlurmController;
  /** The nodes as the placement made them (`Ec2PoolNodes`, `GcePoolNodes`, …). */
  readonly nodes: IPlacedNodes;
  /** How file-system servers reach the nodes: the cluster's security group or network tag, or the mesh. */
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  private readonly hostMounts = new HostMounts(this);

  constructor(scope: Construct, id: string, props: ComputeNodePoolProps) {
    super(scope, id);
    this.controller = props.controller;
    this.poolName = props.name ?? id.toLowerCase();
    describeForPlan(this, () => this.describe(props));
    if (props.nodes === undefined || typeof props.nodes.plan !== 'function') {
      throw new ConstructPropError(this, 'nodes', props.nodes, 'says nowhere for the nodes to run',
        "Give nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), GceNodes.of({ machineType }), DockerNodes.on(host, …) or SshHosts.of(hosts, …)");
    }
    const counts = this.checkedCounts(props);

    const planned = props.nodes.plan(this, {
      poolName: this.poolName,
      controller: this.controller,
      counts,
      gpus: props.gpus,
      features: props.features,
      weight: props.weight,
      enroot: props.enroot,
      apptainer: props.apptainer,
    });
    this.fileSystemClientNetwork = planned.fileSystemClientNetwork;
    this.spec = this.withShards(props, this.checked(planned.spec));
    this.controller.addNodePool(this.spec, planned.runsWithoutSystemd ? { runsWithoutSystemd: true } : undefined);
    this.nodes = planned.place(this);
    this.joinCluster(props);
  }

  /** The file systems the nodes mount, as mounted so far (complete at synth). */
  get mounts(): readonly ClusterMount[] {
    return this.hostMounts.mounts;
  }

  /** Mounts `fs` on every node of the pool at boot, before slurmd starts. */
  addMount(fs: IClusterFileSystem): void {
    this.hostMounts.add(fs);
  }

  /** node_exporter everywhere, DCGM exporter on GPU nodes. */
  exporterKinds(): ExporterKind[] {
    return this.spec.gpus ? ['node', 'dcgm'] : ['node'];
  }

  /** Each exporter of the nodes, found and reached as their placement says. */
  scrapeTargets(): ScrapeTargetGroup[] {
    return this.nodes.scrapeTargets(this.exporterKinds(), { cluster: this.controller.clusterName, role: 'compute', pool: this.poolName });
  }

  /** How the pool appears in the plan summary. */
  private describe(props: ComputeNodePoolProps): PoolPart {
    const spec = this.spec;
    return {
      kind: 'pool',
      cluster: this.controller.clusterName,
      name: this.poolName,
      cloud: props.nodes.kind,
      instanceType: this.nodes.hostType,
      staticNodes: spec.count ?? spec.minCount ?? 0,
      maxNodes: spec.maxCount ?? spec.count ?? 0,
      gpusPerNode: spec.gpus?.count ?? 0,
      gpuModel: spec.gpus?.type,
      spot: this.nodes.spot,
      mounts: this.hostMounts.mounts.map((m) => m.mountPoint),
      fabric: this.nodes.fabric,
    };
  }

  /** Counts are whole numbers; which combinations a placement takes is the placement's to say. */
  private checkedCounts(props: ComputeNodePoolProps): NodePoolCounts {
    for (const field of ['count', 'maxCount', 'minCount'] as const) {
      const v = props[field];
      if (v !== undefined && (!Number.isInteger(v) || v < (field === 'minCount' ? 0 : 1))) {
        throw new ConstructPropError(this, field, v, `must be a whole number ${field === 'minCount' ? '≥ 0' : '≥ 1'}`,
          'Set how many nodes the pool has, e.g. 2');
      }
    }
    return { count: props.count, maxCount: props.maxCount, minCount: props.minCount };
  }

  /**
   * Last step of every placement: the pool's `mounts` (and, on the mesh, the controller's shared directory), and
   * its nodes as scrape targets of the cluster.
   */
  private joinCluster(props: ComputeNodePoolProps): void {
    const shared = this.controller.sharedDirectory;
    if (shared && this.fileSystemClientNetwork.kind === 'mesh' && !(props.mounts ?? []).includes(shared)) this.addMount(shared);
    for (const fs of props.mounts ?? []) this.addMount(fs);
    this.controller.addScrapeTargets(this);
  }

  /** `gpus.shardsPerGpu` applied to the pool's GPUs (whatever placement found them), checked by the pure core. */
  private withShards(props: ComputeNodePoolProps, spec: NodePoolSpec): NodePoolSpec {
    const shards = props.gpus?.shardsPerGpu;
    if (shards === undefined) return spec;
    if (!spec.gpus) {
      throw new ConstructPropError(this, 'gpus.shardsPerGpu', shards, 'a pool without GPUs has nothing to share', 'Drop shardsPerGpu, or use a GPU instance type');
    }
    return this.checked({ ...spec, gpus: { ...spec.gpus, shardsPerGpu: shards } });
  }

  /** The pool's model entry, checked by the pure core, with errors that name this construct. */
  private checked(spec: NodePoolSpec): NodePoolSpec {
    const issues = validateNodePool(spec, this.controller.slurmVersion, 'props');
    if (issues.length > 0) {
      throw new Error(issues.map((i) => `${this.node.path}: ${i.field} = ${JSON.stringify(i.value)}: ${i.problem}. ${i.fix}`).join('\n'));
    }
    return spec;
  }
}
