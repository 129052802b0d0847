/**
 * A MicroCeph server on EC2 as a `CephFs` server (`fileSystem: MicroCephServer.onEc2({ osdCount: 3 })`): the lab-scale
 * shape people build by hand with Juju and LXD, one VM at a fixed address with loop-file OSDs, pools
 * `cephfs_data`/`cephfs_metadata`, `ceph fs new`, and one cephx client authorized `rw` on `/`. The client key is made
 * on the server at first boot and stored in Secrets Manager; the fsid is published in SSM once the server has
 * bootstrapped (clients wait for it). Neither is ever in Terraform or user-data. Resources are made in the `CephFs`'s
 * scope, so their addresses are `<CephFs>/Server`, `<CephFs>/SecurityGroup` and so on.
 */
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import type { Construct, IConstruct } from 'constructs';
import { ConstructPropError, lazyString, oncePerSynth, renamedFrom } from '../cdktf-adapter';
import { buildServiceCloudConfig, renderNodeUserData, SCRIPTS_BUCKET_TAG, SSM_SOURCE_PREFIX } from '../cloudinit';
import { Admissions, clientNetworkShown, IFileSystemClient } from '../constructs/cluster-file-system';
import type { FileSystemServerPlan, FileSystemServerRequest, ICephFsServer, IMadeCephFs } from '../file-system-server';
import { shownSettings } from '../file-system-server';
import { AwsControllerHost } from './controller-host';
import { ec2InstanceRole, fileSystemParameterName, fileSystemSecretName, fixedEc2Host, ubuntuAmi } from './node-identity';

/** A MicroCeph server's settings. */
export interface MicroCephEc2Settings {
  /** @default `'m6i.large'` */
  readonly instanceType?: string;
  /** OSDs, as loop files on the server's disk; with fewer than 3 the pools keep that many copies. @default 3 */
  readonly osdCount?: number;
  /** Size of each OSD, GiB; the boot disk is 30 GiB plus all OSDs. @default 10 */
  readonly osdSizeGiB?: number;
  /** Index of the server's fixed address in the first private subnet. @default 20 */
  readonly hostIndex?: number;
  /** MicroCeph snap channel, held at its first install. @default `'squid/stable'` */
  readonly microcephChannel?: string;
  /** cephx client the cluster's hosts mount as (`ceph fs authorize <fs> client.<name> / rw`). @default `'slurm'` */
  readonly clientName?: string;
}

/** Ceph's ports: msgr2 and legacy monitors, and the OSD/MDS range. */
const CEPH_PORTS: readonly [number, number, string][] = [[3300, 3300, 'monitor (msgr2)'], [6789, 6789, 'monitor (v1)'], [6800, 7300, 'OSD and MDS']];

/** A MicroCeph server to be made for a `CephFs`. */
export class MicroCephServer implements ICephFsServer {
  /** One EC2 VM in the controller's first private subnet (AWS clusters). */
  static onEc2(settings: MicroCephEc2Settings = {}): MicroCephServer {
    return new MicroCephServer(settings);
  }

  readonly shown: string;

  private constructor(readonly settings: MicroCephEc2Settings) {
    this.shown = shownSettings('MicroCephServer.onEc2', settings);
  }

  make(scope: Construct, request: FileSystemServerRequest & { readonly fsName: string }): MicroCephEc2Server {
    const ctl = request.controller;
    if (!(ctl.host instanceof AwsControllerHost)) {
      throw new ConstructPropError(scope, request.field, this.shown,
        `a MicroCeph server is made on AWS clusters only so far, and controller ${ctl.node.path} is on ${ctl.backend.name.toUpperCase()}`,
        'Mount an existing Ceph cluster (ExistingCephFs.of({ monitors, fsid, clientName, keySecret })), or use LustreFs with ManagedLustre.of on Google Cloud');
    }
    return new MicroCephEc2Server(scope, request, this.settings, ctl.host);
  }
}

/** The MicroCeph server as made: its VM, security group and key secret, and the rules that admit each client group. */
export class MicroCephEc2Server implements IMadeCephFs {
  readonly instance: Instance;
  readonly securityGroup: SecurityGroup;
  /** The Secrets Manager secret the server stores the client key in (made empty here: no key in Terraform). */
  readonly keySecret: SecretsmanagerSecret;
  readonly source: string;
  readonly monitors: readonly string[];
  readonly keySource: string;
  readonly plan: FileSystemServerPlan;
  private readonly admitted: Admissions;

  constructor(private readonly scope: Construct, request: FileSystemServerRequest & { readonly fsName: string }, m: MicroCephEc2Settings, aws: AwsControllerHost) {
    const { controller: ctl, name, field, fsName } = request;
    this.admitted = new Admissions(scope);
    const clientName = m.clientName ?? 'slurm';
    if (typeof clientName !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(clientName) || clientName.startsWith('client.')) {
      throw new ConstructPropError(scope, `${field}.clientName`, clientName, 'is not a cephx client name without the client. prefix', "Use e.g. 'slurm'");
    }
    const osdCount = m.osdCount ?? 3;
    const osdSize = m.osdSizeGiB ?? 10;
    if (!Number.isInteger(osdCount) || osdCount < 1 || osdCount > 12) {
      throw new ConstructPropError(scope, `${field}.osdCount`, osdCount, 'must be a whole number from 1 to 12', 'Use 3 (each object kept three times)');
    }
    if (!Number.isInteger(osdSize) || osdSize < 5 || osdSize > 4096) {
      throw new ConstructPropError(scope, `${field}.osdSizeGiB`, osdSize, 'must be a whole number of GiB from 5 to 4096', 'Use e.g. 10');
    }
    const instanceType = m.instanceType ?? 'm6i.large';
    this.plan = {
      type: 'CephFS',
      capacityGiB: osdCount * osdSize,
      server: `MicroCeph VM ${instanceType}, ${osdCount} OSDs`,
      serverInstanceType: instanceType,
      priceKey: 'aws:ebs-gp3',
    };
    const channel = m.microcephChannel ?? 'squid/stable';
    if (!/^[a-z0-9.-]+\/(stable|candidate|beta|edge)$/.test(channel)) {
      throw new ConstructPropError(scope, `${field}.microcephChannel`, channel, 'is not a snap channel <track>/<risk>', "Use e.g. 'squid/stable'");
    }
    const net = aws.network;
    const ip = ctl.fixedHostAddress(scope, `${field}.hostIndex`, m.hostIndex ?? 20, 20);

    const cluster = ctl.clusterName;
    const prefix = `${cluster.replace(/_/g, '-')}-${name}`;
    const keySecretName = fileSystemSecretName(cluster, `${name}-client-key`);
    const parameterName = fileSystemParameterName(cluster, name);
    this.keySecret = new SecretsmanagerSecret(scope, 'ClientKey', {
      name: keySecretName,
      description: `cephx key of client.${clientName} of CephFS ${name}, cluster ${cluster}; made on the MicroCeph server at first boot`,
      recoveryWindowInDays: 7,
    });

    this.securityGroup = new SecurityGroup(scope, 'SecurityGroup', {
      name: `${prefix}-ceph`,
      description: `MicroCeph server ${name} of Slurm cluster ${cluster}: Ceph ports from admitted clients only`,
      vpcId: net.vpcId,
      ingress: [],
      egress: [],
      tags: { Name: `${prefix}-ceph`, 'slurm:cluster': cluster },
    });
    new VpcSecurityGroupEgressRule(scope, 'Egress', {
      securityGroupId: this.securityGroup.id,
      cidrIpv4: '0.0.0.0/0',
      ipProtocol: '-1',
      description: 'Out to the snap store and Ubuntu mirrors (through the NAT gateway), AWS APIs, and clients',
    });

    const { role, profile } = ec2InstanceRole(scope, `${prefix}-ceph`, `MicroCeph server ${name} of ${cluster}: stores its client key and publishes its fsid`);
    new IamRolePolicy(scope, 'Publish', {
      role: role.id,
      name: 'publish-cephfs',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'ClientKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'], Resource: [this.keySecret.arn] },
          { Sid: 'MountSource', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:PutParameter'], Resource: [`arn:aws:ssm:*:*:parameter${parameterName}`] },
        ],
      }),
    });
    new IamRolePolicyAttachment(scope, 'Ssm', { role: role.name, policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' });
    aws.scriptBucket.grantRead(scope, 'ScriptsRead', role.id);

    const userData = oncePerSynth(scope, () => renderNodeUserData(buildServiceCloudConfig({
      entry: 'storage/cephfs-server.sh',
      hostname: `${prefix}-ceph`,
      env: {
        CEPHFS_NAME: fsName,
        CEPHFS_CLIENT: clientName,
        CEPHFS_OSD_COUNT: String(osdCount),
        CEPHFS_OSD_SIZE_GIB: String(osdSize),
        CEPHFS_MON_IP: ip,
        CEPHFS_KEY_SOURCE: `generate+aws-secretsmanager:${keySecretName}`,
        CEPHFS_SOURCE_PARAMETER: parameterName,
        MICROCEPH_CHANNEL: channel,
      },
      scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    }), { target: 'aws', role: 'cephfs server', where: scope.node.path }));
    this.instance = fixedEc2Host(scope, {
      role: role,
      bootObjects: aws.scriptBucket.objects,
      ami: ubuntuAmi(scope),
      instanceType,
      subnetId: net.privateSubnets[0].id,
      privateIp: ip,
      securityGroupIds: [this.securityGroup.id],
      instanceProfileName: profile.name,
      rootVolumeSizeGiB: 30 + osdCount * osdSize,
      userDataBase64: lazyString(() => userData().base64),
      tags: { Name: `${prefix}-ceph`, 'slurm:cluster': cluster, 'slurm:role': 'storage', [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
    });
    // Rendered once now, so a bad setting fails here (with the construct's path) rather than at synth.
    userData();

    // The fsid exists once the server has bootstrapped: clients read the source from SSM (and wait for it).
    this.source = `${SSM_SOURCE_PREFIX}${parameterName}`;
    this.monitors = [`${ip}:6789`];
    this.keySource = `aws-secretsmanager:${keySecretName}`;
  }

  admit(client: IFileSystemClient, fileSystem: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'aws-security-group') {
      throw new ConstructPropError(client, 'mounts', fileSystem.node.path,
        `this CephFS is reachable from its VPC only, and this host is ${clientNetworkShown(net)}`,
        'Mount it on EC2 pools, the controller or login nodes of this VPC');
    }
    this.admitGroup(client, net.groupName, net.securityGroupId);
  }

  /**
   * Ceph's ports from the client's group to the server's, once per client group, named after the group
   * (`ClusterGroupIngress6789`; releases before 0.2 numbered them, `Client0Ingress6789`, and the rule moves from there).
   */
  private admitGroup(client: IFileSystemClient, groupName: string, clientGroupId: string): void {
    const admission = this.admitted.admit(client, 'fileSystemClientNetwork.groupName', groupName, clientGroupId);
    if (!admission) return;
    for (const [from, to, what] of CEPH_PORTS) {
      const rule = new VpcSecurityGroupIngressRule(this.scope, `${admission.name}Ingress${from}`, {
        securityGroupId: this.securityGroup.id,
        referencedSecurityGroupId: clientGroupId,
        ipProtocol: 'tcp',
        fromPort: from,
        toPort: to,
        description: `Ceph ${what} from admitted clients`,
      });
      renamedFrom(rule, `Client${admission.formerIndex}Ingress${from}`);
    }
  }
}
