import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { PlacementGroup } from '@cdktf/provider-aws/lib/placement-group';
import { Construct } from 'constructs';
import { poolHardwareFor } from '../aws/instance-types';
import { buildNodeCloudConfig, renderNodeUserData, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { NodePoolSpec, poolHostlist, validateNodePool } from '../slurm';
import { ConstructPropError } from './seam';
import { SlurmController } from './slurm-controller';

export interface ComputeNodePoolProps {
  readonly controller: SlurmController;
  /**
   * Slurm pool name; nodes are `<name>-<i>`. Lower-case letters, digits and `-`, starting with a letter.
   * @default the construct id, lower-cased
   */
  readonly name?: string;
  /** EC2 instance type; CPUs, memory and GPUs come from the library's table. */
  readonly instanceType: string;
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
   * GPUs per node as you expect them; checked against the instance type's table entry.
   * @default taken from the table
   */
  readonly gpus?: { readonly type?: string; readonly count?: number };
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
  /** @default 100 */
  readonly rootVolumeSizeGiB?: number;
  /** @default the latest Ubuntu 24.04 LTS amd64 AMI */
  readonly amiId?: string;
}

/**
 * A set of identical compute nodes: one node line in slurm.conf and one launch template in Terraform,
 * whatever the node count. Slurm starts instances from the template through its ResumeProgram (which tags
 * each with its Slurm name) and terminates them through SuspendProgram; `count` nodes are kept up.
 */
export class ComputeNodePool extends Construct {
  readonly poolName: string;
  readonly spec: NodePoolSpec;
  readonly launchTemplate: LaunchTemplate;
  readonly controller: SlurmController;

  constructor(scope: Construct, id: string, props: ComputeNodePoolProps) {
    super(scope, id);
    this.controller = props.controller;
    this.poolName = props.name ?? id.toLowerCase();
    const where = this.node.path;

    for (const field of ['count', 'maxCount', 'minCount'] as const) {
      const v = props[field];
      if (v !== undefined && (!Number.isInteger(v) || v < (field === 'minCount' ? 0 : 1))) {
        throw new ConstructPropError(this, field, v, `must be a whole number ${field === 'minCount' ? '≥ 0' : '≥ 1'}`,
          'Set how many nodes the pool has, e.g. 2');
      }
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

    const { hardware, gpus } = poolHardwareFor({
      instanceType: props.instanceType,
      gpus: props.gpus,
      cpus: props.cpus,
      realMemoryMiB: props.realMemoryMiB,
      where,
    });
    // On AWS every pool is launched by Slurm's ResumeProgram so each instance carries its Slurm node name;
    // always-on pools are cloud nodes that are never suspended (SuspendExcNodes).
    const size = props.count ?? (props.maxCount as number);
    this.spec = {
      name: this.poolName,
      maxCount: size,
      minCount: props.count ?? props.minCount ?? 0,
      hardware,
      gpus,
      features: props.features ?? [props.instanceType],
      weight: props.weight,
    };
    const issues = validateNodePool(this.spec, props.controller.slurmVersion, 'props');
    if (issues.length > 0) {
      throw new Error(issues.map((i) => `${where}: ${i.field} = ${JSON.stringify(i.value)}: ${i.problem}. ${i.fix}`).join('\n'));
    }

    const ctl = props.controller;
    const prefix = `${ctl.clusterName}-${this.poolName}`;
    const role = new IamRole(this, 'Role', {
      name: `${prefix}-node`,
      description: `Slurm compute nodes of pool ${this.poolName}: read the munge key`,
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    });
    new IamRolePolicy(this, 'MungeKeyRead', {
      role: role.id,
      name: 'read-munge-key',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'MungeKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [ctl.mungeKeySecretArn] },
        ],
      }),
    });
    const profile = new IamInstanceProfile(this, 'Profile', { name: `${prefix}-node`, role: role.name });

    const config = buildNodeCloudConfig({
      roles: ['compute'],
      env: {
        CLUSTER_NAME: ctl.clusterName,
        SLURM_CONTROLLER: ctl.privateIp,
        MUNGE_KEY_SOURCE: `aws-secretsmanager:${ctl.mungeKeySecretName}`,
        SLURMD_NODENAME_FROM: 'aws-tag',
        GPU_COUNT: String(gpus?.count ?? 0),
        GPU_TYPE: gpus?.type ?? '',
      },
      extraScripts: ['aws/node-name.sh'],
      scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    });
    const userData = renderNodeUserData(config, { target: 'aws', role: `compute pool ${this.poolName}`, where });
    ctl.scriptBucket.grantRead(this, 'ScriptsRead', role.id);

    const placement = /^(p4d|p4de|p5|p5e|p5en)\./.test(props.instanceType)
      ? new PlacementGroup(this, 'Placement', { name: prefix, strategy: 'cluster' })
      : undefined;
    const ami = props.amiId ?? new DataAwsSsmParameter(this, 'Ami', {
      name: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id',
    }).value;
    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      name: prefix,
      description: `Slurm pool ${this.poolName} (${poolHostlist(this.spec)}) of cluster ${ctl.clusterName}`,
      imageId: ami,
      instanceType: props.instanceType,
      userData: userData.base64,
      iamInstanceProfile: { name: profile.name },
      vpcSecurityGroupIds: [ctl.network.clusterSecurityGroupId],
      // Nodes learn their Slurm name from the instance tag the ResumeProgram sets.
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [
        { deviceName: '/dev/sda1', ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: props.rootVolumeSizeGiB ?? 100, deleteOnTermination: 'true' } },
      ],
      placement: placement ? { groupName: placement.name } : undefined,
      tagSpecifications: [
        {
          resourceType: 'instance',
          tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': this.poolName, [SCRIPTS_BUCKET_TAG]: ctl.scriptBucket.bucket.bucket },
        },
        { resourceType: 'volume', tags: { 'slurm:cluster': ctl.clusterName, 'slurm:pool': this.poolName } },
      ],
      updateDefaultVersion: true,
    });

    ctl.addNodePool(this.spec);
    ctl.addAwsPool({
      poolName: this.poolName,
      launchTemplateId: this.launchTemplate.id,
      subnetIds: ctl.network.privateSubnets.map((s) => s.id),
      capacityType: props.capacityType ?? 'on-demand',
      placementGroup: placement?.name,
      nodeRoleArn: role.arn,
    });
  }
}
