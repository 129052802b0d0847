import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { AwsControllerHost } from '../aws/controller-host';
import { Construct } from 'constructs';
import { ec2InstanceRole, fileSystemParameterName, fileSystemSecretName, fixedEc2Host, ubuntuAmi } from '../aws/node-identity';
import { buildServiceCloudConfig, ClusterMount, mountPointProblem, renderNodeUserData, SCRIPTS_BUCKET_TAG, SSM_SOURCE_PREFIX } from '../cloudinit';
import { gcpSecretSource, grantSecretAccess } from '../gcp/vm';
import { Admissions, ClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError, lazyString, oncePerSynth, renamedFrom } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

/** A MicroCeph server the construct creates (AWS clusters): the lab-scale shape, one VM with loop-file OSDs. */
export interface MicroCephServer {
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
}

/** A CephFS that exists already (what Juju's cephfs-server-proxy takes): clients only. */
export interface ExistingCephFs {
  /** Monitor addresses, `ip` or `ip:port`. */
  readonly monitors: readonly string[];
  /** The cluster's fsid (`ceph fsid`). */
  readonly fsid: string;
  /** The cephx client, without `client.` (made with `ceph fs authorize <fs> client.<name> / rw`). */
  readonly clientName: string;
  /**
   * The secret holding the client's key (`ceph auth print-key client.<name>`). AWS: a Secrets Manager name under
   * `<cluster>/filesystems/`, the only secrets the cluster's hosts may read. GCP: a Secret Manager secret ID in the
   * network's project (or `projects/P/secrets/S`); each host set that mounts the file system is granted access to
   * that secret alone.
   */
  readonly keySecret: string;
}

export interface CephFsProps {
  /** The cluster it serves. `managed` needs an AWS network; `existing` works on AWS and GCP. */
  readonly controller: ISlurmController;
  /** Name in resource names: lower-case letters, digits and `-`. @default the construct id, lower-cased */
  readonly name?: string;
  /** Where clients mount it. @default `'/mnt/shared'` */
  readonly mountPoint?: string;
  /** File system name (`ceph fs new <name>`). @default `'cephfs'` */
  readonly fsName?: string;
  /** cephx client the cluster's hosts mount as (managed server). @default `'slurm'` */
  readonly clientName?: string;
  /** Extra fstab options (mon_addr and the secret file are the library's). @default `'noatime'` */
  readonly mountOptions?: string;
  /** Create a MicroCeph server. Exclusive with `existing`. @default none */
  readonly managed?: MicroCephServer;
  /** Mount an existing CephFS. @default none */
  readonly existing?: ExistingCephFs;
}

/** Ceph's ports: msgr2 and legacy monitors, and the OSD/MDS range. */
const CEPH_PORTS: readonly [number, number, string][] = [[3300, 3300, 'monitor (msgr2)'], [6789, 6789, 'monitor (v1)'], [6800, 7300, 'OSD and MDS']];
const NAME = /^[a-z][a-z0-9-]{0,30}$/;
/** What a bad `keySecret` is shown as: it may be the key itself, pasted where its secret's name belongs. */
const redacted = (v: unknown): string => (typeof v === 'string' ? `<${v.length} characters>` : String(v));
const FSID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MONITOR = /^(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?$/;

/**
 * A CephFS the cluster's hosts mount at `/mnt/shared`: a MicroCeph server made here (AWS: one VM, loop-file OSDs,
 * pools `cephfs_data`/`cephfs_metadata`, `ceph fs new`, a client authorized `rw` on `/`), or an existing cluster.
 * The client key is made on the server and stored in Secrets Manager; the fsid is published in SSM when the
 * server has bootstrapped (clients wait for it). Neither is ever in Terraform or user-data. An existing cluster
 * mounts on AWS (key in Secrets Manager under `<cluster>/filesystems/`) or GCP (key in Secret Manager, granted to
 * the service account of each host set that mounts it).
 */
export class CephFs extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The MicroCeph server, when one is made. */
  readonly server?: Instance;
  readonly securityGroup?: SecurityGroup;
  private readonly source: string;
  private readonly options: string;
  private readonly secretSource: string;
  private readonly admitted = new Admissions(this);
  /** The key's secret on GCP (existing clusters), granted to each client's service account. */
  private readonly gcpKeySecret?: { readonly project: string; readonly secretId: string };
  private readonly keyReaders = new Admissions(this);

  constructor(scope: Construct, id: string, props: CephFsProps) {
    super(scope, id);
    const ctl = props.controller;
    const name = props.name ?? id.toLowerCase();
    if (!NAME.test(name)) throw new ConstructPropError(this, 'name', name, 'must be lower-case letters, digits and -, at most 31', "Use e.g. 'shared'");
    this.mountPoint = props.mountPoint ?? '/mnt/shared';
    const pointProblem = mountPointProblem(this.mountPoint);
    if (pointProblem) throw new ConstructPropError(this, 'mountPoint', this.mountPoint, pointProblem, "Use e.g. '/mnt/shared'");
    const fsName = props.fsName ?? 'cephfs';
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(fsName)) throw new ConstructPropError(this, 'fsName', fsName, 'is not a CephFS name', "Use e.g. 'cephfs'");
    const extra = props.mountOptions ?? 'noatime';
    if (!/^[A-Za-z0-9_.=,:/+-]+$/.test(extra) || /(^|,)(secret|secretfile|mon_addr)=/.test(extra)) {
      throw new ConstructPropError(this, 'mountOptions', extra, 'must be fstab options without spaces, and without mon_addr, secret or secretfile (the library sets those)',
        "Use e.g. 'noatime'");
    }
    if ((props.managed === undefined) === (props.existing === undefined)) {
      throw new ConstructPropError(this, 'managed/existing', { managed: props.managed !== undefined, existing: props.existing !== undefined },
        'give exactly one', 'Use managed: {} for a MicroCeph server made here, or existing: { monitors, fsid, clientName, keySecret }');
    }
    const net = ctl.network;
    if (net.cloud !== 'aws' && props.managed) {
      throw new ConstructPropError(this, 'managed', '<settings>', `a MicroCeph server is made on AWS clusters only so far, and controller ${ctl.node.path} is on ${net.cloud.toUpperCase()}`,
        'Mount an existing Ceph cluster (existing: { monitors, fsid, clientName, keySecret }), or use LustreFs managed on GCP');
    }
    const secretPrefix = fileSystemSecretName(ctl.clusterName, '');
    const planBase = { kind: 'filesystem' as const, cluster: ctl.clusterName, name, mountPoint: this.mountPoint, type: 'CephFS' };

    if (props.existing) {
      const x = props.existing;
      if (!Array.isArray(x.monitors) || x.monitors.length === 0 || x.monitors.some((m) => !MONITOR.test(m))) {
        throw new ConstructPropError(this, 'existing.monitors', x.monitors, 'must list monitor addresses as ip or ip:port', "Use e.g. ['10.0.1.10', '10.0.1.11:6789']");
      }
      if (typeof x.fsid !== 'string' || !FSID.test(x.fsid)) {
        throw new ConstructPropError(this, 'existing.fsid', x.fsid, 'is not a Ceph fsid (a UUID)', "Copy it from 'ceph fsid' on the cluster");
      }
      if (typeof x.clientName !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(x.clientName) || x.clientName.startsWith('client.')) {
        throw new ConstructPropError(this, 'existing.clientName', x.clientName, 'is not a cephx client name without the client. prefix', "Use e.g. 'fs-client'");
      }
      this.source = `${x.clientName}@${x.fsid}.${fsName}=/`;
      this.options = `mon_addr=${x.monitors.join('/')},${extra}`;
      describeForPlan(this, () => ({ ...planBase, server: `existing cluster (${x.monitors.join(', ')})` }));
      if (net.cloud === 'gcp') {
        const full = typeof x.keySecret === 'string' ? /^projects\/([a-z][-a-z0-9]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})$/.exec(x.keySecret) : null;
        if (!full && (typeof x.keySecret !== 'string' || !/^[A-Za-z0-9_-]{1,255}$/.test(x.keySecret))) {
          throw new ConstructPropError(this, 'existing.keySecret', redacted(x.keySecret), 'is not a Secret Manager secret ID or projects/P/secrets/S path',
            `Store the key as e.g. '${name}-ceph-client-key' (gcloud secrets create … --data-file=<(ceph auth print-key client.${x.clientName}))`);
        }
        this.gcpKeySecret = full ? { project: full[1], secretId: full[2] } : { project: net.project, secretId: x.keySecret };
        this.secretSource = gcpSecretSource(this.gcpKeySecret.project, this.gcpKeySecret.secretId);
        return;
      }
      if (typeof x.keySecret !== 'string' || !x.keySecret.startsWith(secretPrefix) || x.keySecret.length === secretPrefix.length) {
        throw new ConstructPropError(this, 'existing.keySecret', redacted(x.keySecret), `must be a Secrets Manager name under ${secretPrefix}, the only secrets the cluster's hosts may read`,
          `Store the key as e.g. '${secretPrefix}${name}-client-key' (aws secretsmanager create-secret --secret-string "$(ceph auth print-key client.${x.clientName})")`);
      }
      this.secretSource = `aws-secretsmanager:${x.keySecret}`;
      return;
    }

    const m = props.managed!;
    if (net.cloud !== 'aws') throw new Error('unreachable: a managed CephFS on GCP was refused above');
    const clientName = props.clientName ?? 'slurm';
    if (!/^[A-Za-z0-9_.-]+$/.test(clientName)) throw new ConstructPropError(this, 'clientName', clientName, 'is not a cephx client name', "Use e.g. 'slurm'");
    const osdCount = m.osdCount ?? 3;
    const osdSize = m.osdSizeGiB ?? 10;
    if (!Number.isInteger(osdCount) || osdCount < 1 || osdCount > 12) {
      throw new ConstructPropError(this, 'managed.osdCount', osdCount, 'must be a whole number from 1 to 12', 'Use 3 (each object kept three times)');
    }
    if (!Number.isInteger(osdSize) || osdSize < 5 || osdSize > 4096) {
      throw new ConstructPropError(this, 'managed.osdSizeGiB', osdSize, 'must be a whole number of GiB from 5 to 4096', 'Use e.g. 10');
    }
    const instanceType = m.instanceType ?? 'm6i.large';
    describeForPlan(this, () => ({
      ...planBase,
      capacityGiB: osdCount * osdSize,
      server: `MicroCeph VM ${instanceType}, ${osdCount} OSDs`,
      serverInstanceType: instanceType,
      priceKey: 'aws:ebs-gp3',
    }));
    const channel = m.microcephChannel ?? 'squid/stable';
    if (!/^[a-z0-9.-]+\/(stable|candidate|beta|edge)$/.test(channel)) {
      throw new ConstructPropError(this, 'managed.microcephChannel', channel, 'is not a snap channel <track>/<risk>', "Use e.g. 'squid/stable'");
    }
    const subnet = net.privateSubnets[0];
    const ip = ctl.fixedHostAddress(this, 'managed.hostIndex', m.hostIndex ?? 20, 20);

    const aws = AwsControllerHost.of(ctl, 'a managed CephFs');
    const prefix = `${ctl.clusterName.replace(/_/g, '-')}-${name}`;
    const keySecretName = fileSystemSecretName(ctl.clusterName, `${name}-client-key`);
    const parameterName = fileSystemParameterName(ctl.clusterName, name);
    const key = new SecretsmanagerSecret(this, 'ClientKey', {
      name: keySecretName,
      description: `cephx key of client.${clientName} of CephFS ${name}, cluster ${ctl.clusterName}; made on the MicroCeph server at first boot`,
      recoveryWindowInDays: 7,
    });

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      name: `${prefix}-ceph`,
      description: `MicroCeph server ${name} of Slurm cluster ${ctl.clusterName}: Ceph ports from admitted clients only`,
      vpcId: net.vpcId,
      ingress: [],
      egress: [],
      tags: { Name: `${prefix}-ceph`, 'slurm:cluster': ctl.clusterName },
    });
    new VpcSecurityGroupEgressRule(this, 'Egress', {
      securityGroupId: this.securityGroup.id,
      cidrIpv4: '0.0.0.0/0',
      ipProtocol: '-1',
      description: 'Out to the snap store and Ubuntu mirrors (through the NAT gateway), AWS APIs, and clients',
    });

    const { role, profile } = ec2InstanceRole(this, `${prefix}-ceph`, `MicroCeph server ${name} of ${ctl.clusterName}: stores its client key and publishes its fsid`);
    new IamRolePolicy(this, 'Publish', {
      role: role.id,
      name: 'publish-cephfs',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'ClientKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'], Resource: [key.arn] },
          { Sid: 'MountSource', Effect: 'Allow', Action: ['ssm:GetParameter', 'ssm:PutParameter'], Resource: [`arn:aws:ssm:*:*:parameter${parameterName}`] },
        ],
      }),
    });
    new IamRolePolicyAttachment(this, 'Ssm', { role: role.name, policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' });
    aws.scriptBucket.grantRead(this, 'ScriptsRead', role.id);

    const userData = oncePerSynth(this, () => renderNodeUserData(buildServiceCloudConfig({
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
    }), { target: 'aws', role: 'cephfs server', where: this.node.path }));
    this.server = fixedEc2Host(this, {
      ami: ubuntuAmi(this),
      instanceType,
      subnetId: subnet.id,
      privateIp: ip,
      securityGroupIds: [this.securityGroup.id],
      instanceProfileName: profile.name,
      rootVolumeSizeGiB: 30 + osdCount * osdSize,
      userDataBase64: lazyString(() => userData().base64),
      tags: { Name: `${prefix}-ceph`, 'slurm:cluster': ctl.clusterName, 'slurm:role': 'storage', [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
    });
    userData();

    // The fsid exists once the server has bootstrapped: clients read the source from SSM (and wait for it).
    this.source = `${SSM_SOURCE_PREFIX}${parameterName}`;
    this.options = `mon_addr=${ip}:6789,${extra}`;
    this.secretSource = `aws-secretsmanager:${keySecretName}`;
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    const net = client.fileSystemClientNetwork;
    if (this.gcpKeySecret) {
      if (net.kind !== 'gcp-network-tag') {
        throw new ConstructPropError(client, 'mounts', this.node.path, `this CephFS's key is in Google Secret Manager, which a host on ${net.kind === 'mesh' ? 'the mesh' : 'AWS'} cannot read`,
          'Mount it on Compute Engine pools, the controller or login nodes of this cluster');
      }
      // Named after the reader's account (`KeyReadHpcLogin`); releases before 0.2 numbered them (`KeyRead0`).
      const reader = this.keyReaders.admit(client, 'fileSystemClientNetwork.serviceAccountId', net.serviceAccountId, net.serviceAccountMember);
      if (reader) {
        renamedFrom(grantSecretAccess(this, `KeyRead${reader.name}`, { ...this.gcpKeySecret, member: net.serviceAccountMember }), `KeyRead${reader.formerIndex}`);
      }
    } else if (net.kind !== 'aws-security-group') {
      throw new ConstructPropError(client, 'mounts', this.node.path,
        `this CephFS is reachable from its VPC only, and this host is on ${net.kind === 'mesh' ? 'the mesh' : 'Google Cloud'}`,
        'Mount it on EC2 pools, the controller or login nodes of this VPC');
    }
    if (this.securityGroup && net.kind === 'aws-security-group') this.admit(client, net.groupName, net.securityGroupId);
    return { kind: 'ceph', source: this.source, mountPoint: this.mountPoint, options: this.options, secretSource: this.secretSource, origin: this.node.path };
  }

  /**
   * Ceph's ports from the client's group to the server's, once per client group, named after the group
   * (`ClusterGroupIngress6789`; releases before 0.2 numbered them, `Client0Ingress6789`, and the rule moves from there).
   */
  private admit(client: IFileSystemClient, groupName: string, clientGroupId: string): void {
    const admission = this.admitted.admit(client, 'fileSystemClientNetwork.groupName', groupName, clientGroupId);
    if (!admission) return;
    for (const [from, to, what] of CEPH_PORTS) {
      const rule = new VpcSecurityGroupIngressRule(this, `${admission.name}Ingress${from}`, {
        securityGroupId: this.securityGroup!.id,
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
