import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { PlacementGroup } from '@cdktf/provider-aws/lib/placement-group';
import { Token } from 'cdktf';
import { AwsControllerHost } from '../aws/controller-host';
import { GcpControllerHost } from '../gcp/controller-host';
import { Construct } from 'constructs';
import { efaNetworkInterfaces, efaNodeEnv } from '../aws/efa';
import { ec2InstanceRole, grantFileSystemParameterRead, grantMungeKeyRead, ubuntuAmi } from '../aws/node-identity';
import { poolHardwareFor } from '../aws/instance-types';
import {
  BOOTSTRAP_DIR,
  BOOTSTRAP_RUNCMD,
  bootSteps,
  buildNodeCloudConfig,
  checkStepScriptsShipped,
  EnrootSettings,
  enrootNodeSetup,
  ApptainerSettings,
  apptainerNodeSetup,
  MOUNT_TABLE_PATH,
  USERS_TABLE_PATH,
  mountScripts,
  NODE_ENV_PATH,
  nodeScripts,
  renderMountTable,
  renderNodeEnv,
  renderNodeUserData,
  SCRIPTS_BUCKET_TAG,
  tailscaleEnv,
  type BootstrapScript,
  type HostTables,
} from '../cloudinit';
import { DEFAULT_DOCKER_HOST, DEFAULT_NODE_IMAGE, DockerNodeContainers, dockerHostProblem, dockerProviderFor, imagePinProblem } from '../docker';
import { dynamicNodeEnv, needsFabricManager, NodePoolSpec, poolHostlist, validateNodePool } from '../slurm';
import { GcpMachineTypeInfo, gcpPoolHardwareFor, zoneProblem } from '../gcp/machine-types';
import { NCCL_TCPXO_PROFILE_PATH, renderNcclTcpxoProfile, resolveTcpxoSettings, ResolvedTcpxoSettings, tcpxoNodeEnv, TcpxoSettings } from '../gcp/tcpxo';
import {
  DEFAULT_GCP_GPU_NODE_IMAGE,
  gcpAccountId,
  gcpComputeInstances,
  GcpComputeInstances,
  gcpName,
  gcpNodeInstanceTemplate,
  GcpNodeTemplate,
  gcpServiceAccount,
  gcpServiceAccountMember,
  grantLogging,
  grantSecretAccess,
} from '../gcp/vm';
import type { IGcpClusterNetwork } from './gcp-cluster-network';
import {
  DEFAULT_SSH_USER,
  redactedKey,
  sshAddressProblem,
  sshHostKeyProblem,
  SshNodeBootstrap,
  SshPlacement,
  sshPrivateKeyProblem,
  sshUserProblem,
} from '../ssh';
import { ExporterKind, IScrapeTargets, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import { CLUSTER_GROUP_NAME, FileSystemClientNetwork, HostMounts, MESH_CIDR, IClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { PoolPart } from '../summary/model';
import { describeForPlan } from './plan-summary';
import { suppressPolicyRule } from '../policy/security-policy';
import { ConstructPropError, lazyString, oncePerSynth, terraformLiteral, validateAtSynth } from '../cdktf-adapter';
import type { IComputeNodePool, ISlurmController } from './cluster-interfaces';

export type { SshHost, SshPlacement } from '../ssh';

/** GPUDirect-TCPXO's GPU VPCs carry jumbo frames: Google's A3 Mega MTU. */
const TCPXO_MIN_MTU = 8244;

/**
 * Runs a pool's nodes as containers on a Docker host (on-prem GPU boxes). They join the controller's mesh and
 * register themselves with Slurm (dynamic nodes, `slurmd -Z`) as `<pool>-<i>`.
 */
export interface DockerPlacement {
  /**
   * Docker daemon the containers run on, as the Docker provider takes it (`ssh://user@host` reaches a
   * remote box over SSH with your own key; nothing is installed there but the containers).
   * @default `'unix:///var/run/docker.sock'` (Terraform runs on the GPU host)
   */
  readonly host?: string;
  /**
   * Pinned node image (explicit tag or digest, never `latest`); Debian/Ubuntu with Slurm ≥ 22.05 in apt.
   * @default `'ubuntu:noble-20250619'` (Ubuntu 24.04, Slurm 23.11)
   */
  readonly image?: string;
  /**
   * GPUs handed to each container: a number gives node `i` the host's GPUs `i*n`…`i*n+n-1` (the host needs
   * count × n of them); `'all'` gives every container all of the host's GPUs (one node per host).
   * @default the pool's `gpus.count`
   */
  readonly gpus?: 'all' | number;
}

/** Where the Docker nodes' secrets are uploaded; node.env names these paths, never the values. */
const DOCKER_SECRETS_DIR = '/etc/cdktf-slurm/secrets';
const DOCKER_ENTRYPOINT = `${BOOTSTRAP_DIR}/container-entrypoint.sh`;

export interface ComputeNodePoolProps {
  readonly controller: ISlurmController;
  /**
   * Slurm pool name; nodes are `<name>-<i>`. Lower-case letters, digits and `-`, starting with a letter.
   * @default the construct id, lower-cased
   */
  readonly name?: string;
  /**
   * EC2 instance type; CPUs, memory and GPUs come from the library's table. Exactly one of `instanceType`
   * and `docker`.
   * @default none (required for AWS pools)
   */
  readonly instanceType?: string;
  /**
   * Run the nodes as Docker containers instead of EC2 instances; then `count`, `cpus`, `realMemoryMiB` (and
   * `gpus` with type and count, if any) are required, as there is no instance-type table to read them from.
   * @default none (AWS pool)
   */
  readonly docker?: DockerPlacement;
  /**
   * Run the nodes on hosts you reach by SSH (GPU clouds such as Lambda, RunPod, Paperspace): Terraform uploads
   * the bootstrap and runs it on each host. Exclusive with `instanceType` and `docker`; `cpus`, `realMemoryMiB`
   * (and `gpus` with type and count, if any) are required; `count`, if given, must equal `hosts.length`. Needs a
   * controller with a mesh.
   * @default none
   */
  readonly ssh?: SshPlacement;
  /**
   * Nodes always up. Give `count`, or `maxCount` for nodes Slurm starts on demand and stops when idle.
   * @default none
   */
  readonly count?: number;
  /** Most cloud nodes Slurm may start. @default none */
  readonly maxCount?: number;
  /** Cloud nodes kept up even when idle. @default 0 */
  readonly minCount?: number;
  /**
   * GPUs per node as you expect them; checked against the instance type's table entry. `shardsPerGpu` lets jobs
   * share a GPU through Slurm's `shard` GRES (`--gres=shard:N`): each GPU counts as that many shards
   * (`GresTypes=gpu,shard`, `Gres=gpu:<type>:<n>,shard:<n*shards>` and gres.conf lines rendered for the pool).
   * @default taken from the table; no sharing
   */
  readonly gpus?: { readonly type?: string; readonly count?: number; readonly shardsPerGpu?: number };
  /** CPUs per node, for types the table lacks. @default from the table */
  readonly cpus?: number;
  /** Memory Slurm may hand out, MiB, for types the table lacks. @default from the table, minus OS headroom */
  readonly realMemoryMiB?: number;
  /** @default `'on-demand'` */
  readonly capacityType?: 'on-demand' | 'spot';
  /** Node features for `--constraint`. @default the instance type */
  readonly features?: readonly string[];
  /** Scheduling weight: lower is preferred. @default Slurm's default */
  readonly weight?: number;
  /**
   * Attach EFA on every network card (p4d, p5: GPUDirect RDMA for multi-node NCCL), install AWS's EFA software
   * and write the NCCL profile jobs source. Such a pool stays in one subnet and a cluster placement group.
   * @default true for the multi-card EFA GPU types (p4d, p5: 4+ EFA interfaces); g4dn/g5/g6 sizes with one EFA
   * opt in, since EFA pins a pool to one subnet and placement group
   */
  readonly efa?: boolean;
  /** @default 100 */
  readonly rootVolumeSizeGiB?: number;
  /** @default the latest Ubuntu 24.04 LTS amd64 AMI */
  readonly amiId?: string;
  /**
   * Compute Engine machine type (GCP pools); CPUs, memory, GPUs, GPU NICs and Local SSDs come from the library's
   * table. Exactly one of `instanceType` (AWS) and `machineType` (GCP), matching the controller's network.
   * @default none (required for GCP pools)
   */
  readonly machineType?: string;
  /**
   * GCP only: boot image or family path.
   * @default Ubuntu 24.04 LTS (`DEFAULT_GCP_NODE_IMAGE`); for GPU types Canonical's accelerator image with the
   * signed NVIDIA driver (`DEFAULT_GCP_GPU_NODE_IMAGE`)
   */
  readonly image?: string;
  /**
   * GCP only: Shielded VM Secure Boot (vTPM and integrity monitoring are always on).
   * @default true, except on GPUDirect-TCPXO pools: their dmabuf import-helper module is built on the node by
   * DKMS and unsigned, so Secure Boot would refuse to load it. Give an image with a signed module to keep it on.
   */
  readonly secureBoot?: boolean;
  /**
   * GCP only: consume this specific reservation (`name` or `projects/P/reservations/name`), as A3 Mega capacity
   * usually is. Not with `capacityType: 'spot'` nor `compactPlacement`.
   * @default none (Compute Engine may use any matching reservation)
   */
  readonly reservationName?: string;
  /**
   * GCP only: a compact placement policy made for the pool (lowest latency between its VMs). Not with a
   * reservation, whose own placement applies (give it as `placementPolicy`).
   * @default false
   */
  readonly compactPlacement?: boolean;
  /** GCP only: self link of an existing placement policy, e.g. the one your reservation was made with. @default none */
  readonly placementPolicy?: string;
  /**
   * GCP A3 Mega only: GPUDirect-TCPXO settings (pinned RxDM and NCCL plugin images, NIC names, NCCL tuning). TCPXO
   * is always on for `a3-megagpu-8g`: the RxDM prolog/epilog and the NCCL profile at /etc/profile.d/nccl-tcpxo.sh.
   * @default the defaults of `lib/gcp/tcpxo.ts`
   */
  readonly tcpxo?: TcpxoSettings;
  /**
   * enroot + pyxis on every node, so `srun --container-image=…` runs tasks in containers whose storage is on the
   * local NVMe scratch (GCP types with Local SSDs: a RAID0 at /mnt/localssd). Give the download checksums.
   * @default none
   */
  readonly enroot?: EnrootSettings;
  /**
   * Apptainer (unprivileged, from the pinned upstream .deb with its checksum) on every node, beside or instead of
   * enroot; with `registry`, a cluster registry that Apptainer pulls Docker Hub images through.
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
 * A set of identical compute nodes: one node line in slurm.conf and one launch template in Terraform,
 * whatever the node count. Slurm starts instances from the template through its ResumeProgram (which tags
 * each with its Slurm name) and terminates them through SuspendProgram; `count` nodes are kept up.
 */
export class ComputeNodePool extends Construct implements IComputeNodePool, IFileSystemClient, IScrapeTargets {
  readonly poolName: string;
  readonly spec: NodePoolSpec;
  /** The AWS pool's launch template; undefined for Docker pools. */
  readonly launchTemplate?: LaunchTemplate;
  /** The Docker pool's image and counted container; undefined for AWS pools. */
  readonly containers?: DockerNodeContainers;
  /** The SSH pool's counted `terraform_data` that bootstraps the hosts; undefined otherwise. */
  readonly sshBootstrap?: SshNodeBootstrap;
  /** The GCP pool's instance template and its counted VMs; undefined otherwise. */
  readonly gcp?: { readonly template: GcpNodeTemplate; readonly nodes: GcpComputeInstances; readonly tcpxo?: ResolvedTcpxoSettings };
  readonly controller: ISlurmController;
  /** EC2 nodes are in the cluster security group; Docker and SSH nodes reach the cluster over the mesh. */
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  private readonly hostMounts = new HostMounts(this);
  /** The fabric between the pool's nodes, for the plan summary (`EFA`). */
  private fabric?: string;

  /** How the pool appears in the plan summary. */
  private describe(props: ComputeNodePoolProps): PoolPart {
    const placement = props.ssh ? 'ssh' : props.docker ? 'docker' : this.controller.network.cloud;
    const spec = this.spec;
    return {
      kind: 'pool',
      cluster: this.controller.clusterName,
      name: this.poolName,
      cloud: placement,
      instanceType:
        props.instanceType ?? props.machineType ??
        (props.ssh ? `SSH hosts (${spec.hardware.cpus} CPUs)` : `Docker containers (${spec.hardware.cpus} CPUs)`),
      staticNodes: spec.count ?? spec.minCount ?? 0,
      maxNodes: spec.maxCount ?? spec.count ?? 0,
      gpusPerNode: spec.gpus?.count ?? 0,
      gpuModel: spec.gpus?.type,
      spot: props.capacityType === 'spot',
      mounts: this.hostMounts.mounts.map((m) => m.mountPoint),
      fabric: this.fabric ?? (this.gcp?.tcpxo ? 'GPUDirect-TCPXO' : placement === 'docker' || placement === 'ssh' ? 'mesh' : undefined),
    };
  }

  /** The GCP pool's service account ID (its nodes' identity, which file systems grant their secrets to). */
  private get gcpAccountId(): string {
    return gcpAccountId(`${gcpName(this.controller.clusterName)}-${this.poolName}`);
  }

  constructor(scope: Construct, id: string, props: ComputeNodePoolProps) {
    super(scope, id);
    this.controller = props.controller;
    this.poolName = props.name ?? id.toLowerCase();
    const where = this.node.path;
    const ctlNet = props.controller.network;
    describeForPlan(this, () => this.describe(props));
    if (props.docker !== undefined || props.ssh !== undefined) this.fileSystemClientNetwork = { kind: 'mesh', cidr: MESH_CIDR };
    else if (ctlNet.cloud === 'gcp') {
      this.fileSystemClientNetwork = {
        kind: 'gcp-network-tag', tag: ctlNet.clusterTag, networkSelfLink: ctlNet.system.networkSelfLink, project: ctlNet.project,
        serviceAccountMember: gcpServiceAccountMember(ctlNet.project, this.gcpAccountId),
        serviceAccountId: this.gcpAccountId,
      };
    } else this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: ctlNet.clusterSecurityGroupId, vpcId: ctlNet.vpcId, groupName: CLUSTER_GROUP_NAME };

    if (ctlNet.cloud !== 'gcp' || props.docker !== undefined || props.ssh !== undefined) {
      for (const [field, value] of Object.entries(gcpOnlyProps(props))) {
        if (value !== undefined) {
          throw new ConstructPropError(this, field, value, 'applies to Compute Engine pools only (a GCP controller, no docker or ssh placement)',
            'Drop it, or put the pool on a controller whose network is a GcpClusterNetwork');
        }
      }
    }
    if ((props.docker !== undefined || props.ssh !== undefined) && props.apptainer !== undefined) {
      throw new ConstructPropError(this, 'apptainer', '<settings>', 'is installed on EC2 and Compute Engine pools only', 'Install Apptainer in the Docker image or on the SSH hosts yourself, or drop apptainer');
    }
    if ((props.docker !== undefined || props.ssh !== undefined) && props.enroot !== undefined) {
      throw new ConstructPropError(this, 'enroot', '<settings>', 'is installed on EC2 and Compute Engine pools only', 'Drop enroot from a Docker or SSH pool');
    }
    for (const field of ['count', 'maxCount', 'minCount'] as const) {
      const v = props[field];
      if (v !== undefined && (!Number.isInteger(v) || v < (field === 'minCount' ? 0 : 1))) {
        throw new ConstructPropError(this, field, v, `must be a whole number ${field === 'minCount' ? '≥ 0' : '≥ 1'}`,
          'Set how many nodes the pool has, e.g. 2');
      }
    }
    if (props.ssh !== undefined) {
      this.spec = this.withShards(props, this.sshPoolSpec(props, props.ssh));
      // VMs with systemd: no runsWithoutSystemd.
      props.controller.addNodePool(this.spec);
      this.sshBootstrap = this.placeOverSsh(props.ssh);
      this.joinCluster(props);
      return;
    }
    if ((props.count === undefined) === (props.maxCount === undefined)) {
      throw new ConstructPropError(this, 'count/maxCount', { count: props.count, maxCount: props.maxCount },
        'give exactly one', 'Use count for always-on nodes or maxCount (with optional minCount) for on-demand nodes');
    }
    if (props.minCount !== undefined && props.maxCount !== undefined && props.minCount > props.maxCount) {
      throw new ConstructPropError(this, 'minCount', props.minCount, `is above maxCount ${props.maxCount}`,
        'Lower minCount or raise maxCount');
    }
    if (props.minCount !== undefined && props.count !== undefined) {
      throw new ConstructPropError(this, 'minCount', props.minCount, 'applies only to on-demand pools (maxCount)',
        'Drop minCount, or use maxCount instead of count');
    }

    if (props.docker !== undefined && props.instanceType !== undefined) {
      throw new ConstructPropError(this, 'instanceType', props.instanceType, 'a pool is either EC2 instances or Docker containers, not both',
        'Drop instanceType for a Docker pool, or drop docker for an AWS pool');
    }
    if (props.docker !== undefined) {
      this.spec = this.withShards(props, this.dockerPoolSpec(props, props.docker));
      props.controller.addNodePool(this.spec, { runsWithoutSystemd: true });
      this.containers = this.placeOnDocker(props.docker);
      this.joinCluster(props);
      return;
    }
    if (ctlNet.cloud === 'gcp') {
      const { spec, info } = this.gcpPoolSpec(props, ctlNet);
      this.spec = this.withShards(props, spec);
      props.controller.addNodePool(this.spec);
      this.gcp = this.placeOnGcp(props, ctlNet, info);
      this.joinCluster(props);
      return;
    }
    if (props.instanceType === undefined) {
      throw new ConstructPropError(this, 'instanceType', undefined, 'an AWS pool needs an instance type',
        "Set instanceType (e.g. 'g5.12xlarge'), or docker: { host: 'ssh://user@gpu-box' } for on-prem containers");
    }
    if (props.controller.tailscale) {
      throw new ConstructPropError(this, 'instanceType', props.instanceType,
        `controller ${props.controller.node.path} is on a mesh, and AWS nodes cannot resolve its mesh address '${props.controller.tailscale.controllerAddress}'`,
        'Put on-prem GPUs in Docker pools of this cluster and AWS nodes in a cluster without a mesh');
    }
    const instanceType = props.instanceType;

    const { hardware, gpus, info } = poolHardwareFor({
      instanceType,
      gpus: props.gpus,
      cpus: props.cpus,
      realMemoryMiB: props.realMemoryMiB,
      where,
    });
    // On AWS every pool is launched by Slurm's ResumeProgram so each instance carries its Slurm node name;
    // always-on pools are cloud nodes that are never suspended (SuspendExcNodes).
    const size = props.count ?? (props.maxCount as number);
    this.spec = this.checked({
      name: this.poolName,
      maxCount: size,
      minCount: props.count ?? props.minCount ?? 0,
      hardware,
      gpus,
      features: props.features ?? [instanceType],
      weight: props.weight,
    });
    this.spec = this.withShards(props, this.spec);

    const ctl = props.controller;
    const aws = AwsControllerHost.of(ctl, 'an EC2 pool');
    const prefix = `${ctl.clusterName}-${this.poolName}`;
    const { role, profile } = ec2InstanceRole(this, `${prefix}-node`, `Slurm compute nodes of pool ${this.poolName}: read the munge key`);
    grantMungeKeyRead(this, role, aws.mungeKeySecretArn);
    grantFileSystemParameterRead(this, role, ctl.clusterName);
    const containers = props.enroot ? enrootNodeSetup(props.enroot, `${where}: enroot`) : undefined;
    if (containers) ctl.useContainers();
    const apptainer = props.apptainer ? apptainerNodeSetup(props.apptainer, `${where}: apptainer`) : undefined;

    const efa = props.efa ?? (info?.efa === true && info.gpu !== undefined && info.maxEfaInterfaces >= 4);
    if (efa) this.fabric = 'EFA';
    if (efa && !info?.efa) {
      throw new ConstructPropError(this, 'efa', true, `${instanceType} has no EFA in the instance-type table`,
        'Drop efa, or use an EFA type such as p4d.24xlarge or p5.48xlarge');
    }
    const env = {
      CLUSTER_NAME: ctl.clusterName,
      SLURM_CONTROLLER: ctl.privateIp,
      MUNGE_KEY_SOURCE: ctl.mungeKeySource,
      SLURMD_NODENAME_FROM: 'aws-tag',
      GPU_COUNT: String(gpus?.count ?? 0),
      GPU_TYPE: gpus?.type ?? '',
      ...(efa && info ? efaNodeEnv(info, where) : {}),
      ...(needsFabricManager(gpus) ? { GPU_FABRIC_MANAGER: '1' } : {}),
      ...(containers?.env ?? {}),
      ...(apptainer?.env ?? {}),
    };
    // Rendered at synth: file systems may be mounted on the pool after it is made.
    const renderUserData = oncePerSynth(this, () => {
      const host = ctl.hostSetup(this.exporterKinds(), this.hostMounts.mounts);
      return renderNodeUserData(buildNodeCloudConfig({
        roles: ['compute'],
        env: { ...env, ...host.env },
        usersTable: host.usersTable,
        mounts: this.hostMounts.mounts,
        files: [...(containers?.files ?? []), ...(apptainer?.files ?? [])],
        slurmFiles: containers?.slurmFiles,
        extraScripts: [
          'aws/node-name.sh', ...(efa ? ['aws/efa.sh'] : []), ...(containers ? ['containers/enroot-pyxis.sh'] : []),
          ...(apptainer ? ['containers/apptainer.sh'] : []),
          ...host.scripts,
        ],
        scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
      }), { target: 'aws', role: `compute pool ${this.poolName}`, where });
    });
    aws.scriptBucket.grantRead(this, 'ScriptsRead', role.id);

    // EFA instances must share a cluster placement group (and so one AZ and, here, one subnet).
    const placement = efa ? new PlacementGroup(this, 'Placement', { name: prefix, strategy: 'cluster' }) : undefined;
    const subnetIds = efa ? [aws.network.privateSubnets[0].id] : aws.network.privateSubnets.map((s) => s.id);
    // Multi-node jobs (NCCL, MPI) talk on any port between compute nodes: every pool joins the cluster's
    // compute-peers group, which allows all traffic to and from itself only (what EFA requires, too).
    const peers = aws.computePeersSecurityGroupId();
    const ami = ubuntuAmi(this, props.amiId, { gpu: gpus !== undefined });
    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      name: prefix,
      description: `Slurm pool ${this.poolName} (${poolHostlist(this.spec)}) of cluster ${ctl.clusterName}`,
      imageId: ami,
      instanceType,
      userData: lazyString(() => renderUserData().base64),
      iamInstanceProfile: { name: profile.name },
      // With EFA the interfaces carry the groups (a template may not have both).
      vpcSecurityGroupIds: efa ? undefined : [aws.network.clusterSecurityGroupId, peers],
      networkInterfaces:
        efa && info
          ? efaNetworkInterfaces(info, {
              efaSecurityGroupId: peers,
              primarySecurityGroupIds: [aws.network.clusterSecurityGroupId],
              subnetId: subnetIds[0],
              where,
            })
          : undefined,
      // Nodes learn their Slurm name from the instance tag the ResumeProgram sets.
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [
        { deviceName: '/dev/sda1', ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: props.rootVolumeSizeGiB ?? 100, deleteOnTermination: 'true' } },
      ],
      placement: placement ? { groupName: placement.name } : undefined,
      tagSpecifications: [
        {
          resourceType: 'instance',
          tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': this.poolName, [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
        },
        { resourceType: 'volume', tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': this.poolName } },
      ],
      updateDefaultVersion: true,
    });

    ctl.addNodePool(this.spec);
    aws.addPool({
      poolName: this.poolName,
      launchTemplateId: this.launchTemplate.id,
      subnetIds,
      networkInterfacesInTemplate: efa,
      capacityType: props.capacityType ?? 'on-demand',
      placementGroup: placement?.name,
      nodeRoleArn: role.arn,
    });
    this.joinCluster(props);
    validateAtSynth(this, () => {
      renderUserData();
      return [];
    });
  }

  /**
   * A Compute Engine pool's model entry: `count` static nodes named `<pool>-<i>` (the VM names, which Compute
   * Engine's DNS resolves), hardware from the machine-type table. Checks what the network and zone must offer.
   */
  private gcpPoolSpec(props: ComputeNodePoolProps, net: IGcpClusterNetwork): { spec: NodePoolSpec; info?: GcpMachineTypeInfo } {
    const awsOnly = { instanceType: props.instanceType, amiId: props.amiId, efa: props.efa };
    for (const [field, value] of Object.entries(awsOnly)) {
      if (value !== undefined) {
        throw new ConstructPropError(this, field, value, 'applies to EC2 pools only, and the controller is on GCP',
          "Use machineType (e.g. 'a3-megagpu-8g') and image for Compute Engine pools");
      }
    }
    if (props.machineType === undefined) {
      throw new ConstructPropError(this, 'machineType', undefined, 'a GCP pool needs a machine type', "Set machineType, e.g. 'a3-megagpu-8g' or 'n2-standard-8'");
    }
    if (props.maxCount === undefined && props.minCount === undefined && props.count === undefined) {
      throw new ConstructPropError(this, 'count', undefined, 'a GCP pool needs its number of VMs', 'Set count, e.g. 2');
    }
    if (props.maxCount !== undefined || props.minCount !== undefined || props.count === undefined) {
      throw new ConstructPropError(this, props.maxCount !== undefined ? 'maxCount' : 'minCount', props.maxCount ?? props.minCount,
        'GCP pools are static: Slurm power saving on Compute Engine (a ResumeProgram that creates VMs) is not built yet',
        'Give count (the VMs are created by Terraform and always on); A3 Mega reservations are used this way');
    }
    const machineType = props.machineType;
    if (!Token.isUnresolved(net.zone)) {
      const problem = zoneProblem(machineType, net.zone);
      if (problem) throw new ConstructPropError(this, 'machineType', machineType, problem.replace(/\.$/, ''), 'Or change the network\'s zone');
    }
    const { hardware, gpus, info } = gcpPoolHardwareFor({ machineType, gpus: props.gpus, cpus: props.cpus, realMemoryMiB: props.realMemoryMiB, where: this.node.path });
    const gpuNics = info?.gpuNics ?? 0;
    if (gpuNics > net.gpuNetworks.length) {
      throw new ConstructPropError(this, 'controller.network.gpuNetworks', net.gpuNetworks.length,
        `${machineType} needs ${gpuNics} GPU networks (one per GPU NIC, in NIC order), and the network has ${net.gpuNetworks.length}`,
        `Create the GcpClusterNetwork with gpuNetworkCount: ${gpuNics}`);
    }
    if (info?.gpuDirect === 'tcpxo') {
      net.gpuNetworks.slice(0, gpuNics).forEach((g, i) => {
        if (!Token.isUnresolved(g.mtu) && g.mtu < TCPXO_MIN_MTU) {
          throw new ConstructPropError(this, `controller.network.gpuNetworks[${i}].mtu`, g.mtu,
            `is below ${TCPXO_MIN_MTU}: GPUDirect-TCPXO needs jumbo frames on every GPU VPC`, `Create the network with mtu: ${TCPXO_MIN_MTU} (the default)`);
        }
      });
    } else if (props.tcpxo !== undefined) {
      throw new ConstructPropError(this, 'tcpxo', '<settings>', `${machineType} has no GPUDirect-TCPXO NICs`, 'Drop tcpxo, or use a3-megagpu-8g');
    }
    const spec = this.checked({
      name: this.poolName,
      count: props.count,
      hardware,
      gpus,
      features: props.features ?? [machineType],
      weight: props.weight,
    });
    return { spec, info };
  }

  /**
   * The Compute Engine side of a pool: a keyless service account that may read the munge key, ONE instance
   * template (user-data inline: Compute Engine takes 256 KiB), and the pool's VMs as one counted resource.
   * A3 Mega nodes also get the TCPXO step, the NCCL profile and the cluster's job-hook globs; types with Local
   * SSDs get a RAID0 scratch.
   */
  private placeOnGcp(props: ComputeNodePoolProps, net: IGcpClusterNetwork, info: GcpMachineTypeInfo | undefined) {
    const ctl = this.controller;
    const gcp = GcpControllerHost.of(ctl, 'a Compute Engine pool');
    const where = this.node.path;
    const prefix = `${gcpName(ctl.clusterName)}-${this.poolName}`;
    const identity = gcpServiceAccount(this, 'Identity', {
      project: net.project,
      accountId: this.gcpAccountId,
      displayName: `Slurm pool ${this.poolName} of ${ctl.clusterName}`,
      description: 'Compute nodes: read the munge key; write logs and metrics',
    });
    grantSecretAccess(this, 'MungeKeyRead', { project: net.project, secretId: gcp.mungeKeySecretId, member: identity.member });
    grantLogging(this, 'Logging', { project: net.project, member: identity.member });

    const tcpxo = info?.gpuDirect === 'tcpxo' ? resolveTcpxoSettings(props.tcpxo, where) : undefined;
    if (tcpxo) ctl.useNodeJobHooks(where);
    // Compute Engine user-data is a Terraform string: checksums may be Terraform variables.
    const containers = props.enroot ? enrootNodeSetup(props.enroot, `${where}: enroot`, { isDeferred: Token.isUnresolved }) : undefined;
    if (containers) ctl.useContainers();
    const apptainer = props.apptainer ? apptainerNodeSetup(props.apptainer, `${where}: apptainer`, { isDeferred: Token.isUnresolved }) : undefined;
    const gpus = this.spec.gpus;
    const env: Record<string, string> = {
      CLUSTER_NAME: ctl.clusterName,
      SLURM_CONTROLLER: ctl.privateIp,
      MUNGE_KEY_SOURCE: ctl.mungeKeySource,
      GPU_COUNT: String(gpus?.count ?? 0),
      GPU_TYPE: gpus?.type ?? '',
      ...(needsFabricManager(gpus) ? { GPU_FABRIC_MANAGER: '1' } : {}),
      ...((info?.localSsdCount ?? 0) > 0 ? { LOCALSSD_RAID: '1', LOCALSSD_REQUIRED: '1' } : {}),
      ...(tcpxo ? tcpxoNodeEnv(tcpxo) : {}),
      ...(containers?.env ?? {}),
      ...(apptainer?.env ?? {}),
    };
    const extraScripts = [
      ...((info?.localSsdCount ?? 0) > 0 ? ['gcp/localssd-raid.sh'] : []),
      ...(tcpxo ? ['gcp/tcpxo.sh', 'gcp/tcpxo-prolog.sh', 'gcp/tcpxo-epilog.sh'] : []),
      ...(containers ? ['containers/enroot-pyxis.sh'] : []),
      ...(apptainer ? ['containers/apptainer.sh'] : []),
    ];
    const files = [
      ...(tcpxo ? [{ path: NCCL_TCPXO_PROFILE_PATH, content: renderNcclTcpxoProfile(tcpxo) }] : []),
      ...(containers?.files ?? []),
      ...(apptainer?.files ?? []),
    ];
    // Rendered at synth: file systems may be mounted on the pool after it is made.
    const render = oncePerSynth(this, () => {
      const host = ctl.hostSetup(this.exporterKinds(), this.hostMounts.mounts);
      return renderNodeUserData(buildNodeCloudConfig({
        roles: ['compute'],
        env: { ...env, ...host.env },
        usersTable: host.usersTable,
        mounts: this.hostMounts.mounts,
        files,
        slurmFiles: containers?.slurmFiles,
        extraScripts: [...extraScripts, ...host.scripts],
        scriptDelivery: { kind: 'inline' },
      }), { target: 'gcp', role: `compute pool ${this.poolName}`, where });
    });
    const template = gcpNodeInstanceTemplate(this, 'Template', {
      network: net,
      namePrefix: prefix,
      machineType: props.machineType!,
      isGpu: info?.requiresTerminateOnMaintenance ?? gpus !== undefined,
      gpuNics: info?.gpuNics ?? 0,
      userData: lazyString(() => terraformLiteral(render().text)),
      serviceAccountEmail: identity.email,
      clusterName: ctl.clusterName,
      role: 'compute',
      pool: this.poolName,
      image: props.image ?? (gpus ? DEFAULT_GCP_GPU_NODE_IMAGE : undefined),
      // The TCPXO step builds the dmabuf import helper with DKMS: an unsigned module Secure Boot would refuse.
      secureBoot: props.secureBoot ?? (tcpxo ? false : true),
      bootDiskSizeGiB: props.rootVolumeSizeGiB ?? 100,
      bootDiskType: 'pd-ssd',
      spot: props.capacityType === 'spot',
      reservationName: props.reservationName,
      compactPlacement: props.compactPlacement,
      placementPolicy: props.placementPolicy,
    });
    if (tcpxo && props.secureBoot === undefined) {
      // Only our own default: a user who turns Secure Boot off says why in a suppression of their own.
      suppressPolicyRule(
        template.template,
        'GCP-VM-SHIELDED',
        "Secure Boot is off by default on GPUDirect-TCPXO pools: the node builds the dmabuf import helper with DKMS, " +
          'an unsigned module Secure Boot would refuse to load. vTPM and integrity monitoring stay on; give ' +
          'secureBoot: true with an image that carries a signed module.',
      );
    }
    const nodes = gcpComputeInstances(this, 'Nodes', { template, namePrefix: this.poolName, count: this.spec.count as number });
    validateAtSynth(this, () => {
      render();
      return [];
    });
    return { template, nodes, tcpxo };
  }

  /** Mounts `fs` on every node of the pool at boot, before slurmd starts. */
  addMount(fs: IClusterFileSystem): void {
    this.hostMounts.add(fs);
  }

  /**
   * The pool's exporters: node_exporter on every node, DCGM exporter on GPU nodes. EC2 nodes are found by their
   * cluster and pool tags, Compute Engine VMs by their labels; mesh nodes by their mesh names (`<pool>-<i>`, MagicDNS), which no cloud API lists.
   */
  /** node_exporter everywhere, DCGM exporter on GPU nodes. */
  exporterKinds(): ExporterKind[] {
    return this.spec.gpus ? ['node', 'dcgm'] : ['node'];
  }

  scrapeTargets(): ScrapeTargetGroup[] {
    const exporters = this.exporterKinds();
    const labels = { cluster: this.controller.clusterName, role: 'compute', pool: this.poolName };
    const net = this.fileSystemClientNetwork;
    const cluster = this.controller.clusterName;
    return exporters.map((exporter): ScrapeTargetGroup => {
      if (net.kind === 'aws-security-group') {
        return {
          exporter,
          discovery: { kind: 'ec2', tags: { 'slurm:cluster': cluster, 'slurm:pool': this.poolName } },
          reach: { kind: 'aws-security-group', securityGroupId: net.securityGroupId },
          labels,
        };
      }
      if (net.kind === 'gcp-network-tag') {
        const zone = GcpControllerHost.of(this.controller, 'a Compute Engine pool').network.zone;
        return {
          exporter,
          discovery: { kind: 'gce', project: net.project, zone, labels: { 'slurm-cluster': cluster, 'slurm-pool': this.poolName } },
          reach: { kind: 'gcp-network-tag', tag: net.tag },
          labels,
        };
      }
      return {
        exporter,
        discovery: { kind: 'static', hosts: Array.from({ length: this.spec.count ?? 0 }, (_, i) => `${this.poolName}-${i}`) },
        reach: { kind: 'mesh' },
        labels,
      };
    });
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

  /** CPUs, memory and GPUs of a pool with no instance-type table (Docker, SSH): all given explicitly. */
  private givenHardware(props: ComputeNodePoolProps, kind: 'Docker' | 'SSH', unit: 'container' | 'host') {
    const a = kind === 'SSH' ? 'an' : 'a';
    const whole = (field: string, v: number | undefined, what: string) => {
      if (v === undefined) {
        throw new ConstructPropError(this, field, v, `${a} ${kind} pool needs ${what}: there is no instance-type table to read it from`,
          `Set ${field} to what each ${unit} may use, e.g. ${field === 'cpus' ? '8' : '30000'}`);
      }
      if (!Number.isInteger(v) || v < 1) {
        throw new ConstructPropError(this, field, v, 'must be a whole number ≥ 1', `Set ${field} to what each ${unit} may use`);
      }
      return v;
    };
    const cpus = whole('cpus', props.cpus, 'the CPUs per node');
    const realMemoryMiB = whole('realMemoryMiB', props.realMemoryMiB, 'the memory per node (MiB) Slurm may hand out');
    let gpus: NodePoolSpec['gpus'];
    if (props.gpus !== undefined) {
      const { type, count } = props.gpus;
      if (count === undefined || !Number.isInteger(count) || count < 1) {
        throw new ConstructPropError(this, 'gpus.count', count, `must be a whole number ≥ 1 for ${a} ${kind} pool`,
          `Give the GPUs per ${unit}, e.g. gpus: { type: 'rtx3070', count: 1 }, or drop gpus for a CPU pool`);
      }
      if (type === undefined || !/^[a-z0-9][a-z0-9_]*$/i.test(type)) {
        throw new ConstructPropError(this, 'gpus.type', type, `${a} ${kind} pool needs the GRES type of its GPUs`,
          "Name the model as jobs ask for it (--gres=gpu:<type>:1), e.g. 'rtx3070'");
      }
      gpus = { type, count };
    }
    return { cpus, realMemoryMiB, gpus };
  }

  /** An SSH pool's model entry: a dynamic pool of `hosts.length` nodes whose hardware is given. */
  private sshPoolSpec(props: ComputeNodePoolProps, ssh: SshPlacement): NodePoolSpec {
    if (props.instanceType !== undefined || props.docker !== undefined) {
      const field = props.instanceType !== undefined ? 'instanceType' : 'docker';
      throw new ConstructPropError(this, field, props.instanceType ?? props.docker,
        'a pool is placed in exactly one way: EC2 instances, Docker containers or SSH hosts',
        `Drop ${field} from this SSH pool, or make another pool for those nodes`);
    }
    if (!Array.isArray(ssh.hosts) || ssh.hosts.length === 0) {
      throw new ConstructPropError(this, 'ssh.hosts', ssh.hosts, 'no hosts given', "List the GPU hosts, e.g. hosts: [{ address: '203.0.113.7' }]");
    }
    if (props.count !== undefined && props.count !== ssh.hosts.length) {
      throw new ConstructPropError(this, 'count', props.count, `differs from ssh.hosts.length (${ssh.hosts.length}): an SSH pool has one node per host`,
        'Drop count (it follows the host list) or list exactly count hosts');
    }
    if (props.maxCount !== undefined || props.minCount !== undefined) {
      throw new ConstructPropError(this, props.maxCount !== undefined ? 'maxCount' : 'minCount', props.maxCount ?? props.minCount,
        'SSH hosts are always on: Slurm cannot start or stop hosts it does not create', 'Drop it; the pool has one node per host');
    }
    if (props.capacityType !== undefined || props.amiId !== undefined || props.rootVolumeSizeGiB !== undefined || props.efa !== undefined) {
      throw new ConstructPropError(this, 'capacityType/amiId/rootVolumeSizeGiB/efa',
        { capacityType: props.capacityType, amiId: props.amiId, rootVolumeSizeGiB: props.rootVolumeSizeGiB, efa: props.efa },
        'these apply to EC2 pools only', 'Drop them from an SSH pool (the hosts are yours as they are)');
    }
    return this.dynamicSpec(props, ssh.hosts.length, this.givenHardware(props, 'SSH', 'host'), 'ssh');
  }

  /**
   * The SSH pool's bootstrap: ONE counted `terraform_data` that uploads the node's scripts, node.env and two
   * secret files (0400) to each host and runs the bootstrap as root. The hosts have no cloud identity, so the
   * secrets travel as file contents that are Terraform references: the Terraform-generated munge key (see
   * `terraformMungeKey`) and the mesh auth key (a sensitive variable). Both therefore live in Terraform state
   * (as Secrets Manager secret versions); provisioner contents and the connection's private key are not
   * written to state, but saved plan files carry them: keep state and plan files encrypted.
   */
  private placeOverSsh(ssh: SshPlacement): SshNodeBootstrap {
    const ctl = this.controller;
    const mesh = ctl.tailscale;
    if (!mesh) {
      throw new ConstructPropError(this, 'ssh', { hosts: ssh.hosts.length }, `controller ${ctl.node.path} has no mesh, so hosts outside the VPC cannot reach it`,
        'Give the SlurmController mesh: { tailscale: { authKey: <sensitive variable> } }');
    }
    const keyProblem = sshPrivateKeyProblem(ssh.privateKey);
    if (keyProblem) {
      // Never echo the key: only its length.
      throw new ConstructPropError(this, 'ssh.privateKey', redactedKey(ssh.privateKey), keyProblem,
        "Pass a sensitive TerraformVariable's value (new TerraformVariable(stack, 'ssh_private_key', { sensitive: true }).stringValue) or Fn.file('~/.ssh/id_ed25519')");
    }
    if (ssh.port !== undefined && (!Number.isInteger(ssh.port) || ssh.port < 1 || ssh.port > 65535)) {
      throw new ConstructPropError(this, 'ssh.port', ssh.port, 'is not a TCP port', 'Use 1–65535 (default 22)');
    }
    const seen = new Map<string, number>();
    const hosts = ssh.hosts.map((h, i) => {
      const field = `ssh.hosts[${i}]`;
      const addressProblem = sshAddressProblem(h?.address);
      if (addressProblem) {
        throw new ConstructPropError(this, `${field}.address`, h?.address, addressProblem, "Give the host's public DNS name or IP, e.g. '203.0.113.7'");
      }
      const user = h.user ?? DEFAULT_SSH_USER;
      const userProblem = sshUserProblem(user);
      if (userProblem) {
        throw new ConstructPropError(this, `${field}.user`, user, userProblem, `Give the login user with passwordless sudo, e.g. '${DEFAULT_SSH_USER}'`);
      }
      if (h.hostKey !== undefined) {
        const hostKeyProblem = sshHostKeyProblem(h.hostKey);
        if (hostKeyProblem) {
          throw new ConstructPropError(this, `${field}.hostKey`, h.hostKey, hostKeyProblem, 'Copy the line from /etc/ssh/ssh_host_ed25519_key.pub on the host (or ssh-keyscan it over a trusted path)');
        }
      }
      const before = seen.get(h.address.toLowerCase());
      if (before !== undefined && !Token.isUnresolved(h.address)) {
        throw new ConstructPropError(this, `${field}.address`, h.address, `is also ssh.hosts[${before}]: one node per host`,
          'List each host once (several GPUs on one host are one node with gpus.count > 1)');
      }
      seen.set(h.address.toLowerCase(), i);
      return { address: h.address, user, hostKey: h.hostKey };
    });
    const pinned = hosts.filter((h) => h.hostKey !== undefined).length;
    if (pinned !== 0 && pinned !== hosts.length) {
      throw new ConstructPropError(this, 'ssh.hosts[].hostKey', `${pinned} of ${hosts.length} hosts`, 'host keys are pinned on some hosts only',
        'Pin every host of the pool or none (see SshHost.hostKey for the trade-off)');
    }

    const mungeKeyFile = `${DOCKER_SECRETS_DIR}/munge.key`;
    const authKeyFile = `${DOCKER_SECRETS_DIR}/tailscale-authkey`;
    // The steps known now; exporters.sh and every mount client ship too, for what the cluster may add before synth.
    const steps = bootSteps({ roles: ['compute'], env: tailscaleEnv(mesh, `file:${authKeyFile}`), tables: this.meshTables() });
    const scripts = nodeScripts({ steps, extraScripts: ['tailscale.sh', 'exporters.sh', ...(ctl.hasUsers ? ['users.sh'] : []), ...mountScripts('all')] });
    const sharedEnv = this.meshNodeEnv(mesh, mungeKeyFile, authKeyFile, scripts);
    return new SshNodeBootstrap(this, 'Bootstrap', {
      hosts,
      privateKey: ssh.privateKey,
      port: ssh.port,
      nodeNamePrefix: this.poolName,
      files: (index) => [
        ...scripts.map((s) => ({ path: `${BOOTSTRAP_DIR}/${s.relativePath}`, content: s.content, mode: '0755' })),
        { path: NODE_ENV_PATH, content: `${sharedEnv}SLURMD_NODENAME='${this.poolName}-${index}'\n`, mode: '0600' },
        { path: MOUNT_TABLE_PATH, content: this.mountTable(), mode: '0644' },
        ...(ctl.hasUsers ? [{ path: USERS_TABLE_PATH, content: this.usersTableUpload(), mode: '0644' }] : []),
        { path: mungeKeyFile, content: AwsControllerHost.of(ctl, 'an SSH pool').terraformMungeKey(), mode: '0400', secret: true },
        { path: authKeyFile, content: mesh.authKey, mode: '0400', secret: true },
      ],
      command: [...BOOTSTRAP_RUNCMD],
    });
  }

  /** A Docker pool's model entry: a dynamic pool whose hardware is given, not looked up. */
  private dockerPoolSpec(props: ComputeNodePoolProps, docker: DockerPlacement): NodePoolSpec {
    if (props.maxCount !== undefined || props.minCount !== undefined) {
      throw new ConstructPropError(this, props.maxCount !== undefined ? 'maxCount' : 'minCount', props.maxCount ?? props.minCount,
        'Docker nodes are always on: Slurm cannot start or stop containers', 'Use count (the number of containers)');
    }
    if (props.capacityType !== undefined || props.amiId !== undefined || props.rootVolumeSizeGiB !== undefined) {
      throw new ConstructPropError(this, 'capacityType/amiId/rootVolumeSizeGiB', { capacityType: props.capacityType, amiId: props.amiId },
        'these apply to EC2 pools only', 'Drop them from a Docker pool (use docker.image for the OS)');
    }
    const { cpus, realMemoryMiB, gpus } = this.givenHardware(props, 'Docker', 'container');
    if (docker.gpus !== undefined) {
      if (!gpus) {
        throw new ConstructPropError(this, 'docker.gpus', docker.gpus, 'the pool has no gpus, so Slurm would not schedule them',
          "Add gpus: { type, count } or drop docker.gpus");
      }
      if (docker.gpus !== 'all' && (!Number.isInteger(docker.gpus) || docker.gpus !== gpus.count)) {
        throw new ConstructPropError(this, 'docker.gpus', docker.gpus, `must be 'all' or equal gpus.count (${gpus.count})`,
          'Slurm is told gpus.count GPUs per node; hand each container exactly those');
      }
    }
    return this.dynamicSpec(props, props.count as number, { cpus, realMemoryMiB, gpus }, 'docker');
  }

  /**
   * node.env of a Docker or SSH node on the mesh, rendered at synth when the cluster (partitions included) is
   * complete. The same for every host of the pool: each gets its own SLURMD_NODENAME from Terraform's
   * count.index (container environment, or a line appended on the host), which wins over node.env. Its steps must
   * all be among `shipped`, the scripts fixed at construction.
   */
  private meshNodeEnv(mesh: NonNullable<ISlurmController['tailscale']>, mungeKeyFile: string, authKeyFile: string, shipped: readonly BootstrapScript[]): string {
    const ctl = this.controller;
    return lazyString(() => {
      const { SLURMD_NODENAME: _perHost, ...dynamic } = dynamicNodeEnv(ctl.clusterSpec(), this.poolName, 0);
      const node = {
        roles: ['compute'] as const,
        env: {
          CLUSTER_NAME: ctl.clusterName,
          SLURM_CONTROLLER: mesh.controllerAddress,
          MUNGE_KEY_SOURCE: `file:${mungeKeyFile}`,
          ...dynamic,
          ...tailscaleEnv(mesh, `file:${authKeyFile}`),
          ...ctl.hostSetup(this.exporterKinds(), this.hostMounts.mounts).env,
        },
        tables: this.meshTables(),
      };
      checkStepScriptsShipped(bootSteps(node), shipped, this.node.path);
      return terraformLiteral(renderNodeEnv(node));
    });
  }

  /**
   * The tables a Docker or SSH node is uploaded: a mount table always (a comment line when the pool mounts nothing)
   * and a users table when the cluster has users. Non-empty files, so the mounts and users steps run there.
   */
  private meshTables(): HostTables {
    return { mountTable: true, usersTable: this.controller.hasUsers, exportTable: false };
  }

  /** The users table uploaded to Docker and SSH nodes, rendered at synth (a comment when the cluster has no users). */
  private usersTableUpload(): string {
    return lazyString(() => terraformLiteral(this.controller.hostSetup([], this.hostMounts.mounts).usersTable ?? '# no cluster users\n'));
  }

  /** The mount table uploaded to Docker and SSH nodes, rendered at synth (empty when the pool mounts nothing). */
  private mountTable(): string {
    return lazyString(() => terraformLiteral(renderMountTable(this.hostMounts.mounts) || '# no cluster file systems\n'));
  }

  /** Docker and SSH pools: hosts that register themselves (`slurmd -Z`), with the hardware the user gave. */
  private dynamicSpec(
    props: ComputeNodePoolProps,
    count: number,
    hw: { cpus: number; realMemoryMiB: number; gpus?: NodePoolSpec['gpus'] },
    defaultFeature: string,
  ): NodePoolSpec {
    return this.checked({
      name: this.poolName,
      count,
      registration: 'dynamic',
      hardware: { cpus: hw.cpus, realMemoryMiB: hw.realMemoryMiB },
      gpus: hw.gpus,
      features: props.features ?? [defaultFeature],
      weight: props.weight,
    });
  }

  /** The pool's model entry, checked by the pure core, with errors that name this construct. */
  /** `gpus.shardsPerGpu` applied to the pool's GPUs (whatever placement found them), checked by the pure core. */
  private withShards(props: ComputeNodePoolProps, spec: NodePoolSpec): NodePoolSpec {
    const shards = props.gpus?.shardsPerGpu;
    if (shards === undefined) return spec;
    if (!spec.gpus) {
      throw new ConstructPropError(this, 'gpus.shardsPerGpu', shards, 'a pool without GPUs has nothing to share', 'Drop shardsPerGpu, or use a GPU instance type');
    }
    return this.checked({ ...spec, gpus: { ...spec.gpus, shardsPerGpu: shards } });
  }

  private checked(spec: NodePoolSpec): NodePoolSpec {
    const issues = validateNodePool(spec, this.controller.slurmVersion, 'props');
    if (issues.length > 0) {
      throw new Error(issues.map((i) => `${this.node.path}: ${i.field} = ${JSON.stringify(i.value)}: ${i.problem}. ${i.fix}`).join('\n'));
    }
    return spec;
  }

  /**
   * The pool's containers. They have no cloud identity, so their secrets arrive as uploaded files whose
   * contents are Terraform references: the Terraform-generated munge key (see `terraformMungeKey`) and the
   * mesh auth key (a sensitive variable). Both therefore live in Terraform state.
   */
  private placeOnDocker(docker: DockerPlacement): DockerNodeContainers {
    const ctl = this.controller;
    const mesh = ctl.tailscale;
    if (!mesh) {
      throw new ConstructPropError(this, 'docker', docker, `controller ${ctl.node.path} has no mesh, so containers outside the VPC cannot reach it`,
        'Give the SlurmController mesh: { tailscale: { authKey: <sensitive variable> } }');
    }
    const host = docker.host ?? DEFAULT_DOCKER_HOST;
    const hostProblem = dockerHostProblem(host);
    if (hostProblem) {
      throw new ConstructPropError(this, 'docker.host', host, hostProblem,
        "Give the GPU box's Docker daemon, e.g. 'ssh://me@gpu-box' (or leave it out to use the local socket)");
    }
    const image = docker.image ?? DEFAULT_NODE_IMAGE;
    const imageProblem = imagePinProblem(image);
    if (imageProblem) {
      throw new ConstructPropError(this, 'docker.image', image, imageProblem,
        `Pin a dated tag or a digest, e.g. '${DEFAULT_NODE_IMAGE}'`);
    }
    const mungeKeyFile = `${DOCKER_SECRETS_DIR}/munge.key`;
    const authKeyFile = `${DOCKER_SECRETS_DIR}/tailscale-authkey`;
    // The steps known now; exporters.sh and every mount client ship too, for what the cluster may add before synth.
    const steps = bootSteps({ roles: ['compute'], env: tailscaleEnv(mesh, `file:${authKeyFile}`), tables: this.meshTables() });
    const scripts = nodeScripts({ steps, extraScripts: ['tailscale.sh', 'container-entrypoint.sh', 'exporters.sh', ...(ctl.hasUsers ? ['users.sh'] : []), ...mountScripts('all')] });
    const nodeEnv = this.meshNodeEnv(mesh, mungeKeyFile, authKeyFile, scripts);
    const gpuCount = this.spec.gpus?.count;
    return new DockerNodeContainers(this, 'Containers', {
      provider: dockerProviderFor(this, host),
      image,
      count: this.spec.count as number,
      containerNamePrefix: `${ctl.clusterName.replace(/_/g, '-')}-${this.poolName}`,
      nodeNamePrefix: this.poolName,
      gpus: gpuCount === undefined ? undefined : (docker.gpus ?? gpuCount),
      entrypoint: ['bash', DOCKER_ENTRYPOINT],
      files: [
        ...scripts.map((s) => ({ path: `${BOOTSTRAP_DIR}/${s.relativePath}`, content: s.content, permissions: '0755' })),
        { path: NODE_ENV_PATH, content: nodeEnv, permissions: '0600' },
        { path: MOUNT_TABLE_PATH, content: this.mountTable(), permissions: '0644' },
        ...(ctl.hasUsers ? [{ path: USERS_TABLE_PATH, content: this.usersTableUpload(), permissions: '0644' }] : []),
        { path: mungeKeyFile, content: AwsControllerHost.of(ctl, 'a Docker pool').terraformMungeKey(), permissions: '0400' },
        { path: authKeyFile, content: mesh.authKey, permissions: '0400' },
      ],
      labels: { 'slurm.cluster': ctl.clusterName, 'slurm.pool': this.poolName, 'managed-by': 'cdktf-slurm' },
    });
  }
}

/** Props only Compute Engine pools take. */
function gcpOnlyProps(props: ComputeNodePoolProps): Record<string, unknown> {
  return {
    machineType: props.machineType,
    image: props.image,
    secureBoot: props.secureBoot,
    reservationName: props.reservationName,
    compactPlacement: props.compactPlacement,
    placementPolicy: props.placementPolicy,
    tcpxo: props.tcpxo === undefined ? undefined : '<settings>',
  };
}
