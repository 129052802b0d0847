/**
 * EC2 nodes of a pool: an instance role that may read the munge key, ONE launch template (user-data from the
 * cluster's script bucket), a cluster placement group with EFA, and the launch settings the controller's ResumeProgram
 * reads. Slurm starts every instance itself, so each carries its Slurm node name as a tag; always-on pools are cloud
 * nodes that are never suspended (SuspendExcNodes). Resources are made in the pool's scope
 * (`<Pool>/LaunchTemplate`).
 */
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { PlacementGroup } from '@cdktf/provider-aws/lib/placement-group';
import type { Construct } from 'constructs';
import { ConstructPropError, lazyString, oncePerSynth, validateAtSynth } from '../cdktf-adapter';
import { apptainerNodeSetup, buildNodeCloudConfig, enrootNodeSetup, renderNodeUserData, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { CLUSTER_GROUP_NAME } from '../constructs/cluster-file-system';
import type { ExporterKind, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import type { INodePlacement, INodePoolHandle, IPlacedNodes, NodePoolRequest, PlannedNodes } from '../node-placement';
import { needsFabricManager, poolHostlist } from '../slurm';
import { AwsControllerHost } from './controller-host';
import { efaNetworkInterfaces, efaNodeEnv } from './efa';
import { InstanceTypeInfo, poolHardwareFor } from './instance-types';
import { ec2InstanceRole, grantFileSystemParameterRead, grantMungeKeyRead, ubuntuAmi } from './node-identity';

/** The EC2 settings of a pool. */
export interface Ec2NodesSettings {
  /** EC2 instance type; CPUs, memory and GPUs come from the library's table. */
  readonly instanceType: string;
  /** CPUs per node, for types the table lacks. @default from the table */
  readonly cpus?: number;
  /** Memory Slurm may hand out, MiB, for types the table lacks. @default from the table, minus OS headroom */
  readonly realMemoryMiB?: number;
  /** @default `'on-demand'` */
  readonly capacityType?: 'on-demand' | 'spot';
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
}

/** A pool's nodes on EC2: `nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' })`. */
export class Ec2Nodes implements INodePlacement {
  static of(settings: Ec2NodesSettings): Ec2Nodes {
    return new Ec2Nodes(settings);
  }

  readonly kind = 'aws';

  private constructor(readonly settings: Ec2NodesSettings) {}

  plan(pool: Construct, request: NodePoolRequest): PlannedNodes {
    const s = this.settings;
    const ctl = request.controller;
    const where = pool.node.path;
    if (!(ctl.host instanceof AwsControllerHost)) {
      throw new ConstructPropError(pool, 'nodes', `Ec2Nodes.of({ instanceType: '${s.instanceType}' })`,
        `EC2 nodes need a controller on an AWS network, and controller ${ctl.node.path} is on ${ctl.backend.name.toUpperCase()}`,
        "Place the pool where the controller is, e.g. nodes: GceNodes.of({ machineType: 'a3-megagpu-8g' })");
    }
    const aws = ctl.host;
    const { count, maxCount, minCount } = request.counts;
    if ((count === undefined) === (maxCount === undefined)) {
      throw new ConstructPropError(pool, 'count/maxCount', { count, maxCount },
        'give exactly one', 'Use count for always-on nodes or maxCount (with optional minCount) for on-demand nodes');
    }
    if (minCount !== undefined && maxCount !== undefined && minCount > maxCount) {
      throw new ConstructPropError(pool, 'minCount', minCount, `is above maxCount ${maxCount}`, 'Lower minCount or raise maxCount');
    }
    if (minCount !== undefined && count !== undefined) {
      throw new ConstructPropError(pool, 'minCount', minCount, 'applies only to on-demand pools (maxCount)', 'Drop minCount, or use maxCount instead of count');
    }
    if (ctl.tailscale) {
      throw new ConstructPropError(pool, 'nodes.instanceType', s.instanceType,
        `controller ${ctl.node.path} is on a mesh, and AWS nodes cannot resolve its mesh address '${ctl.tailscale.controllerAddress}'`,
        'Put on-prem GPUs in Docker pools of this cluster and AWS nodes in a cluster without a mesh');
    }
    const { hardware, gpus, info } = poolHardwareFor({
      instanceType: s.instanceType, gpus: request.gpus, cpus: s.cpus, realMemoryMiB: s.realMemoryMiB, where, fieldPrefix: 'nodes.',
    });
    const efa = s.efa ?? (info?.efa === true && info.gpu !== undefined && info.maxEfaInterfaces >= 4);
    if (efa && !info?.efa) {
      throw new ConstructPropError(pool, 'nodes.efa', true, `${s.instanceType} has no EFA in the instance-type table`,
        'Drop efa, or use an EFA type such as p4d.24xlarge or p5.48xlarge');
    }
    const size = count ?? (maxCount as number);
    return {
      spec: {
        name: request.poolName,
        maxCount: size,
        minCount: count ?? minCount ?? 0,
        hardware,
        gpus,
        features: request.features ?? [s.instanceType],
        weight: request.weight,
      },
      fileSystemClientNetwork: {
        kind: 'aws-security-group', securityGroupId: aws.network.clusterSecurityGroupId, vpcId: aws.network.vpcId, groupName: CLUSTER_GROUP_NAME,
      },
      place: (handle) => this.place(handle, request, aws, efa, info),
    };
  }

  private place(pool: INodePoolHandle, request: NodePoolRequest, aws: AwsControllerHost, efa: boolean, info: InstanceTypeInfo | undefined): IPlacedNodes {
    const s = this.settings;
    const ctl = pool.controller;
    const where = pool.node.path;
    const poolName = pool.poolName;
    const gpus = pool.spec.gpus;
    const prefix = `${ctl.clusterName}-${poolName}`;
    const { role, profile } = ec2InstanceRole(pool, `${prefix}-node`, `Slurm compute nodes of pool ${poolName}: read the munge key`);
    grantMungeKeyRead(pool, role, aws.mungeKeySecretArn);
    grantFileSystemParameterRead(pool, role, ctl.clusterName);
    const containers = request.enroot ? enrootNodeSetup(request.enroot, `${where}: enroot`) : undefined;
    if (containers) ctl.useContainers();
    const apptainer = request.apptainer ? apptainerNodeSetup(request.apptainer, `${where}: apptainer`) : undefined;
    const env = {
      CLUSTER_NAME: ctl.clusterName,
      SLURM_CONTROLLER: ctl.privateIp,
      MUNGE_KEY_SOURCE: ctl.mungeKeySource,
      SLURMD_NODENAME_FROM: 'aws-tag',
      // Jobs run here: IMDS (the node role's credentials, which read the munge key) is root's alone.
      METADATA_GUARD: '1',
      GPU_COUNT: String(gpus?.count ?? 0),
      GPU_TYPE: gpus?.type ?? '',
      ...(efa && info ? efaNodeEnv(info, where) : {}),
      ...(needsFabricManager(gpus) ? { GPU_FABRIC_MANAGER: '1' } : {}),
      ...(containers?.env ?? {}),
      ...(apptainer?.env ?? {}),
    };
    // Rendered at synth: file systems may be mounted on the pool after it is made.
    const renderUserData = oncePerSynth(pool, () => {
      const host = ctl.hostSetup(pool.exporterKinds(), pool.mounts);
      return renderNodeUserData(buildNodeCloudConfig({
        roles: ['compute'],
        env: { ...env, ...host.env },
        usersTable: host.usersTable,
        mounts: pool.mounts,
        files: [...(containers?.files ?? []), ...(apptainer?.files ?? [])],
        slurmFiles: containers?.slurmFiles,
        extraScripts: [
          'aws/node-name.sh', ...(efa ? ['aws/efa.sh'] : []), ...(containers ? ['containers/enroot-pyxis.sh'] : []),
          ...(apptainer ? ['containers/apptainer.sh'] : []),
          ...host.scripts,
        ],
        scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
      }), { target: 'aws', role: `compute pool ${poolName}`, where });
    });
    aws.scriptBucket.grantRead(pool, 'ScriptsRead', role.id);

    // EFA instances must share a cluster placement group (and so one AZ and, here, one subnet).
    const placement = efa ? new PlacementGroup(pool, 'Placement', { name: prefix, strategy: 'cluster' }) : undefined;
    const subnetIds = efa ? [aws.network.privateSubnets[0].id] : aws.network.privateSubnets.map((subnet) => subnet.id);
    // Multi-node jobs (NCCL, MPI) talk on any port between compute nodes: every pool joins the cluster's
    // compute-peers group, which allows all traffic to and from itself only (what EFA requires, too).
    const peers = aws.computePeersSecurityGroupId();
    const launchTemplate = new LaunchTemplate(pool, 'LaunchTemplate', {
      name: prefix,
      description: `Slurm pool ${poolName} (${poolHostlist(pool.spec)}) of cluster ${ctl.clusterName}`,
      imageId: ubuntuAmi(pool, s.amiId, { gpu: gpus !== undefined }),
      instanceType: s.instanceType,
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
        { deviceName: '/dev/sda1', ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: s.rootVolumeSizeGiB ?? 100, deleteOnTermination: 'true' } },
      ],
      placement: placement ? { groupName: placement.name } : undefined,
      tagSpecifications: [
        {
          resourceType: 'instance',
          tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': poolName, [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
        },
        { resourceType: 'volume', tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': poolName } },
      ],
      updateDefaultVersion: true,
    });
    aws.addPool({
      poolName,
      launchTemplateId: launchTemplate.id,
      subnetIds,
      networkInterfacesInTemplate: efa,
      capacityType: s.capacityType ?? 'on-demand',
      placementGroup: placement?.name,
      nodeRoleArn: role.arn,
    });
    validateAtSynth(pool, () => {
      renderUserData();
      return [];
    });
    return new Ec2PoolNodes(launchTemplate, s, efa, ctl.clusterName, poolName, aws.network.clusterSecurityGroupId);
  }
}

/** A pool's EC2 nodes as made: the launch template the ResumeProgram starts instances from. */
export class Ec2PoolNodes implements IPlacedNodes {
  readonly hostType: string;
  readonly spot: boolean;
  readonly fabric?: string;

  constructor(
    readonly launchTemplate: LaunchTemplate,
    settings: Ec2NodesSettings,
    efa: boolean,
    private readonly clusterName: string,
    private readonly poolName: string,
    private readonly clusterSecurityGroupId: string,
  ) {
    this.hostType = settings.instanceType;
    this.spot = settings.capacityType === 'spot';
    this.fabric = efa ? 'EFA' : undefined;
  }

  /** Found by their cluster and pool tags; reached through the cluster security group. */
  scrapeTargets(exporters: readonly ExporterKind[], labels: Readonly<Record<string, string>>): ScrapeTargetGroup[] {
    return exporters.map((exporter) => ({
      exporter,
      discovery: { kind: 'ec2', tags: { 'slurm:cluster': this.clusterName, 'slurm:pool': this.poolName } },
      reach: { kind: 'aws-security-group', securityGroupId: this.clusterSecurityGroupId },
      labels,
    }));
  }
}
