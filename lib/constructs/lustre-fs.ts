import { FsxLustreFileSystem } from '@cdktf/provider-aws/lib/fsx-lustre-file-system';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall';
import { LustreInstance } from '@cdktf/provider-google/lib/lustre-instance';
import { Token } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterMount, mountPointProblem, SSM_SOURCE_PREFIX } from '../cloudinit/mounts';
import { fileSystemParameterName } from '../aws/node-identity';
import { Admissions, ClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError, renamedFrom } from '../cdktf-adapter';
import type { IGcpClusterNetwork } from './gcp-cluster-network';
import type { IAwsClusterNetwork } from '../aws/network';
import type { ISlurmController } from './cluster-interfaces';

/** FSx for Lustre deployment types on SSD storage. */
export type FsxLustreDeploymentType = 'SCRATCH_1' | 'SCRATCH_2' | 'PERSISTENT_1' | 'PERSISTENT_2';

/** An FSx for Lustre file system the construct creates (AWS clusters). */
export interface FsxLustreSettings {
  /**
   * Capacity in GiB: SCRATCH_1 takes 1200, 2400 or a multiple of 3600; the other types 1200 or a multiple of 2400.
   */
  readonly storageCapacityGiB: number;
  /** @default `'PERSISTENT_2'` (replicated within its zone; the type for home and datasets, not only scratch) */
  readonly deploymentType?: FsxLustreDeploymentType;
  /**
   * Throughput per TiB of storage, MB/s: PERSISTENT_1 takes 50, 100 or 200; PERSISTENT_2 125, 250, 500 or 1000;
   * scratch types have a fixed rate and take none.
   * @default 250 for PERSISTENT_2, 200 for PERSISTENT_1
   */
  readonly perUnitStorageThroughput?: number;
  /**
   * KMS key ARN the persistent types encrypt with (scratch types always use an AWS-owned key).
   * @default a customer-managed key with yearly rotation, made for this file system
   */
  readonly kmsKeyId?: string;
  /** @default `'LZ4'` (less storage and network for most data, little CPU) */
  readonly dataCompression?: 'LZ4' | 'NONE';
  /** Days of daily automatic backups, persistent types only; 0 turns them off. @default 7 */
  readonly automaticBackupRetentionDays?: number;
}

/** Managed Lustre performance tiers, MB/s per TiB. */
export type ManagedLustreTier = 125 | 250 | 500 | 1000;

/** A Google Cloud Managed Lustre instance the construct creates (GCP clusters), in the network's zone. */
export interface ManagedLustreSettings {
  /**
   * Capacity in GiB, within the tier's range and a multiple of its step (docs of 2026-11): 1000 MB/s/TiB from 9000
   * in steps of 9000; 500 from 18000 by 18000; 250 from 36000 by 36000; 125 from 72000 by 72000 (the larger tiers
   * step coarser above 1.53, 3.06 and 6.12 PB).
   */
  readonly capacityGiB: number;
  /** Throughput per TiB, MB/s; fixed for the instance's life. @default 1000 (Google's tier for AI/ML training) */
  readonly perUnitStorageThroughput?: ManagedLustreTier;
  /** Lustre file system name clients mount, 1-8 letters and digits. @default the construct's name, letters and digits only, first 8 */
  readonly fsname?: string;
}

/** A Lustre file system that exists already (on-prem, DDN EXAScaler, one made elsewhere): clients only. */
export interface ExistingLustre {
  /** `<mgs-nid>[:<failover-nid>]:/<fsname>`, e.g. `10.20.0.5@tcp:/lfs`. */
  readonly source: string;
}

export interface LustreFsProps {
  /** The cluster it serves: its network decides where the file system is made and who may reach it. */
  readonly controller: ISlurmController;
  /** Name in resource names and tags: lower-case letters, digits and `-`. @default the construct id, lower-cased */
  readonly name?: string;
  /** Where clients mount it. @default `'/lustre'` */
  readonly mountPoint?: string;
  /** fstab options; the client always adds `_netdev`. @default `'defaults,flock'` (flock: MPI-IO and many tools need it) */
  readonly mountOptions?: string;
  /** On an AWS network: the FSx for Lustre file system to create. Exclusive with `managed` and `existing`. @default none */
  readonly fsx?: FsxLustreSettings;
  /** On a GCP network: the Managed Lustre instance to create. Exclusive with `fsx` and `existing`. @default none */
  readonly managed?: ManagedLustreSettings;
  /** Mount an existing Lustre file system instead of creating one. @default none */
  readonly existing?: ExistingLustre;
}

/** LNet's acceptor port and the ports Lustre clients and servers connect from (FSx's documented rules). */
const LUSTRE_PORTS: readonly [number, number][] = [[988, 988], [1018, 1023]];
const THROUGHPUT: Readonly<Record<FsxLustreDeploymentType, readonly number[]>> = {
  SCRATCH_1: [],
  SCRATCH_2: [],
  PERSISTENT_1: [50, 100, 200],
  PERSISTENT_2: [125, 250, 500, 1000],
};
const LUSTRE_SOURCE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*(:[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*)*:\/[A-Za-z0-9_]{1,8}$/;

/** Why `capacity` GiB is not valid for `type`, or undefined. */
export function fsxCapacityProblem(type: FsxLustreDeploymentType, capacity: number): string | undefined {
  if (!Number.isInteger(capacity) || capacity <= 0) return 'must be a whole number of GiB';
  if (type === 'SCRATCH_1') {
    return capacity === 1200 || capacity === 2400 || capacity % 3600 === 0 ? undefined : 'SCRATCH_1 takes 1200, 2400 or a multiple of 3600 GiB';
  }
  return capacity === 1200 || capacity % 2400 === 0 ? undefined : `${type} takes 1200 or a multiple of 2400 GiB`;
}

/**
 * A Lustre file system the cluster's hosts mount: FSx for Lustre (AWS) or Managed Lustre (GCP) made here, or an
 * existing one by address.
 * `fs.mountOn(pool, login)` (or a host's `mounts: [fs]`) admits the hosts: for FSx, their security group may reach
 * the file system's on TCP 988 and 1018-1023, and nothing else may. FSx's DNS and mount names are known only after
 * apply, so they are published in an SSM parameter the node reads at boot (`aws-ssm:` in the mount table).
 */
export class LustreFs extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The FSx file system, when one is made. */
  readonly fileSystem?: FsxLustreFileSystem;
  /** Its security group, when FSx is made. */
  readonly securityGroup?: SecurityGroup;
  private readonly source: string;
  private readonly options: string;
  private readonly admitted = new Admissions(this);
  private readonly network?: IAwsClusterNetwork;
  private readonly gcpNetwork?: IGcpClusterNetwork;
  /** The Managed Lustre instance, when one is made. */
  readonly instance?: LustreInstance;

  constructor(scope: Construct, id: string, props: LustreFsProps) {
    super(scope, id);
    const ctl = props.controller;
    const name = props.name ?? id.toLowerCase();
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) {
      throw new ConstructPropError(this, 'name', name, 'must be lower-case letters, digits and -, starting with a letter, at most 31', "Use e.g. 'scratch'");
    }
    this.mountPoint = props.mountPoint ?? '/lustre';
    const pointProblem = mountPointProblem(this.mountPoint);
    if (pointProblem) throw new ConstructPropError(this, 'mountPoint', this.mountPoint, pointProblem, "Use e.g. '/lustre' or '/scratch'");
    this.options = props.mountOptions ?? 'defaults,flock';
    if (!/^[A-Za-z0-9_.=,:/+-]+$/.test(this.options)) {
      throw new ConstructPropError(this, 'mountOptions', this.options, 'must be comma-separated fstab options without spaces', "Use e.g. 'defaults,flock'");
    }
    const planBase = { kind: 'filesystem' as const, cluster: ctl.clusterName, name, mountPoint: this.mountPoint };
    const given = [props.fsx, props.managed, props.existing].filter((x) => x !== undefined).length;
    if (given !== 1) {
      throw new ConstructPropError(this, 'fsx/managed/existing',
        { fsx: props.fsx !== undefined, managed: props.managed !== undefined, existing: props.existing !== undefined },
        'give exactly one', 'Use fsx (AWS) or managed (GCP) to create a file system, or existing: { source } to mount one made elsewhere');
    }
    if (props.existing) {
      const source = props.existing.source;
      if (typeof source !== 'string' || !LUSTRE_SOURCE.test(source)) {
        throw new ConstructPropError(this, 'existing.source', source, 'is not a Lustre source <mgs-nid>[:<failover-nid>]:/<fsname> (file system name at most 8 characters)',
          "Use e.g. '10.20.0.5@tcp:/lfs'");
      }
      this.source = source;
      describeForPlan(this, () => ({ ...planBase, type: 'Lustre', server: `existing ${source}` }));
      return;
    }
    const net = ctl.network;
    if (props.managed) {
      if (net.cloud !== 'gcp') {
        throw new ConstructPropError(this, 'managed', '<settings>', `Managed Lustre is Google Cloud, and controller ${ctl.node.path} is on ${net.cloud.toUpperCase()}`,
          'Use fsx on an AWS cluster');
      }
      this.gcpNetwork = net;
      const made = this.makeManagedLustre(props.managed, net, ctl.clusterName, name);
      describeForPlan(this, () => ({
        ...planBase,
        type: 'Managed Lustre',
        capacityGiB: props.managed!.capacityGiB,
        server: `Google Cloud, ${made.tier} MB/s/TiB`,
        priceKey: `gcp:managed-lustre-${made.tier}`,
      }));
      this.instance = made.instance;
      this.source = made.source;
      return;
    }
    if (net.cloud !== 'aws') {
      throw new ConstructPropError(this, 'fsx', '<settings>', `FSx for Lustre is AWS, and controller ${ctl.node.path} is on ${net.cloud.toUpperCase()}`,
        'Mount an existing Lustre by address (existing: { source }) on this cluster');
    }
    this.network = net;
    const fsx = props.fsx!;
    const type = fsx.deploymentType ?? 'PERSISTENT_2';
    if (!(type in THROUGHPUT)) {
      throw new ConstructPropError(this, 'fsx.deploymentType', type, 'is not an FSx for Lustre SSD deployment type', `Use one of ${Object.keys(THROUGHPUT).join(', ')}`);
    }
    const capacityProblem = fsxCapacityProblem(type, fsx.storageCapacityGiB);
    if (capacityProblem) {
      const next = type === 'SCRATCH_1' ? Math.max(3600, Math.ceil(fsx.storageCapacityGiB / 3600) * 3600) : Math.max(2400, Math.ceil(fsx.storageCapacityGiB / 2400) * 2400);
      throw new ConstructPropError(this, 'fsx.storageCapacityGiB', fsx.storageCapacityGiB, capacityProblem, `Use e.g. ${Number.isFinite(next) ? next : 2400}`);
    }
    const allowed = THROUGHPUT[type];
    const persistent = allowed.length > 0;
    const throughput = fsx.perUnitStorageThroughput ?? (type === 'PERSISTENT_2' ? 250 : type === 'PERSISTENT_1' ? 200 : undefined);
    if (!persistent && fsx.perUnitStorageThroughput !== undefined) {
      throw new ConstructPropError(this, 'fsx.perUnitStorageThroughput', fsx.perUnitStorageThroughput, `${type} has a fixed throughput`, 'Drop it, or use a PERSISTENT type');
    }
    if (persistent && !allowed.includes(throughput as number)) {
      throw new ConstructPropError(this, 'fsx.perUnitStorageThroughput', throughput, `${type} takes ${allowed.join(', ')} MB/s per TiB`, `Use one of ${allowed.join(', ')}`);
    }
    if (!persistent && fsx.kmsKeyId !== undefined) {
      throw new ConstructPropError(this, 'fsx.kmsKeyId', fsx.kmsKeyId, `${type} always encrypts with an AWS-owned key`, 'Drop kmsKeyId, or use a PERSISTENT type');
    }
    describeForPlan(this, () => ({
      ...planBase,
      type: 'FSx for Lustre',
      capacityGiB: fsx.storageCapacityGiB,
      server: `FSx ${type}${throughput ? `, ${throughput} MB/s/TiB` : ''}`,
      priceKey: `aws:fsx-lustre-${type.toLowerCase().replace('_', '')}${throughput ? `-${throughput}` : ''}`,
    }));
    const backups = fsx.automaticBackupRetentionDays ?? (persistent ? 7 : 0);
    if (!Number.isInteger(backups) || backups < 0 || backups > 90 || (!persistent && backups > 0)) {
      throw new ConstructPropError(this, 'fsx.automaticBackupRetentionDays', backups,
        persistent ? 'must be a whole number of days from 0 to 90' : `${type} has no automatic backups`, persistent ? 'Use e.g. 7' : 'Drop it');
    }
    const prefix = `${ctl.clusterName.replace(/_/g, '-')}-${name}`;

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      name: `${prefix}-lustre`,
      description: `FSx for Lustre ${name} of Slurm cluster ${ctl.clusterName}: Lustre ports from its own servers and admitted clients only`,
      vpcId: net.vpcId,
      // Rules are separate resources, added per admitted client.
      ingress: [],
      egress: [],
      tags: { Name: `${prefix}-lustre`, 'slurm:cluster': ctl.clusterName },
    });
    const sg = this.securityGroup.id;
    for (const [from, to] of LUSTRE_PORTS) {
      const ports = from === to ? `${from}` : `${from}-${to}`;
      new VpcSecurityGroupIngressRule(this, `SelfIngress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} between the file system's own servers`,
      });
      new VpcSecurityGroupEgressRule(this, `SelfEgress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} between the file system's own servers`,
      });
    }
    const kmsKeyId = persistent
      ? fsx.kmsKeyId ?? new KmsKey(this, 'Key', {
          description: `FSx for Lustre ${name} of Slurm cluster ${ctl.clusterName}`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          tags: { 'slurm:cluster': ctl.clusterName },
        }).arn
      : undefined;
    // One subnet: FSx for Lustre lives in one zone; put it beside the controller (and the pools' first subnet).
    this.fileSystem = new FsxLustreFileSystem(this, 'FileSystem', {
      storageCapacity: fsx.storageCapacityGiB,
      storageType: 'SSD',
      deploymentType: type,
      perUnitStorageThroughput: persistent ? throughput : undefined,
      subnetIds: [net.privateSubnets[0].id],
      securityGroupIds: [sg],
      kmsKeyId,
      fileSystemTypeVersion: '2.15',
      dataCompressionType: fsx.dataCompression ?? 'LZ4',
      automaticBackupRetentionDays: persistent ? backups : undefined,
      copyTagsToBackups: persistent ? true : undefined,
      tags: { Name: prefix, 'slurm:cluster': ctl.clusterName, 'slurm:filesystem': name },
    });
    const parameterName = fileSystemParameterName(ctl.clusterName, name);
    new SsmParameter(this, 'Source', {
      name: parameterName,
      description: `Lustre mount source of ${prefix} (<dns>@tcp:/<mount name>), read by the cluster's hosts at boot`,
      type: 'String',
      value: `${this.fileSystem.dnsName}@tcp:/${this.fileSystem.mountName}`,
    });
    // The literal name, not the resource's attribute: EC2 user-data is gzip and cannot hold references.
    this.source = `${SSM_SOURCE_PREFIX}${parameterName}`;
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    const net = client.fileSystemClientNetwork;
    if (this.instance) {
      if (net.kind !== 'gcp-network-tag') {
        throw new ConstructPropError(client, 'mounts', this.node.path,
          `Managed Lustre is reachable from its VPC only, and this host is ${net.kind === 'mesh' ? 'on the mesh' : 'on AWS'}`,
          'Mount it on Compute Engine pools, the controller or login nodes of this cluster');
      }
      if (net.networkSelfLink !== this.gcpNetwork!.system.networkSelfLink) {
        throw new ConstructPropError(client, 'mounts', this.node.path, 'the host is on another VPC than the instance', 'Mount it from hosts of the same cluster network');
      }
      // The instance's mount point (`<ip>@tcp:/<fsname>`) is known after apply; Compute Engine user-data is a
      // Terraform string, so the reference goes into the table as it is.
      return { kind: 'lustre', source: this.source, sourceIsReference: true, mountPoint: this.mountPoint, options: this.options, origin: this.node.path };
    }
    if (this.fileSystem && this.securityGroup) {
      if (net.kind !== 'aws-security-group') {
        throw new ConstructPropError(client, 'mounts', this.node.path,
          `FSx for Lustre is reachable from its VPC only, and this host is on ${net.kind === 'mesh' ? 'the mesh' : 'Google Cloud'}`,
          'Mount it on EC2 pools, the controller or login nodes of this VPC');
      }
      if (!Token.isUnresolved(net.vpcId) && !Token.isUnresolved(this.network!.vpcId) && net.vpcId !== this.network!.vpcId) {
        throw new ConstructPropError(client, 'mounts', this.node.path, 'the host is in another VPC than the file system', 'Mount it from hosts of the same cluster network');
      }
      this.admit(client, net);
    }
    return { kind: 'lustre', source: this.source, mountPoint: this.mountPoint, options: this.options, origin: this.node.path };
  }

  /**
   * Managed Lustre in the network's zone, attached through the network's private services access, and the firewall
   * rule that lets its servers (in the peered range) reach the cluster's VMs on LNet's port 988.
   */
  private makeManagedLustre(m: ManagedLustreSettings, net: IGcpClusterNetwork, clusterName: string, name: string) {
    const tier = m.perUnitStorageThroughput ?? 1000;
    if (!(tier in MANAGED_TIERS)) {
      throw new ConstructPropError(this, 'managed.perUnitStorageThroughput', tier, 'is not a Managed Lustre tier', 'Use 125, 250, 500 or 1000');
    }
    const capacityProblem = managedLustreCapacityProblem(tier, m.capacityGiB);
    if (capacityProblem) {
      const t = MANAGED_TIERS[tier];
      const fix = Math.min(t.max, Math.max(t.min, Math.ceil((m.capacityGiB || 0) / t.step) * t.step));
      throw new ConstructPropError(this, 'managed.capacityGiB', m.capacityGiB, capacityProblem, `Use e.g. ${fix}`);
    }
    const fsname = m.fsname ?? (name.replace(/[^a-z0-9]/g, '').slice(0, 8) || 'lustre');
    if (!/^[A-Za-z0-9]{1,8}$/.test(fsname)) {
      throw new ConstructPropError(this, 'managed.fsname', fsname, 'must be 1 to 8 letters and digits', "Use e.g. 'home'");
    }
    const prefix = `${clusterName.replace(/_/g, '-')}-${name}`;
    const psa = net.privateServiceAccess();
    const instance = new LustreInstance(this, 'Instance', {
      project: net.project,
      instanceId: prefix,
      location: net.zone,
      filesystem: fsname,
      capacityGib: String(m.capacityGiB),
      perUnitStorageThroughput: String(tier),
      network: net.systemNetworkId,
      description: `Lustre ${name} of Slurm cluster ${clusterName}`,
      labels: { 'slurm-cluster': clusterName, 'slurm-filesystem': name },
      dependsOn: [psa.connection],
    });
    new ComputeFirewall(this, 'AllowLnet', {
      project: net.project,
      name: `${prefix}-lustre-lnet`,
      network: net.system.networkSelfLink,
      description: `LNet (TCP 988) from Managed Lustre ${name}'s servers in the private services range to the cluster's VMs`,
      direction: 'INGRESS',
      sourceRanges: [psa.rangeCidr],
      targetTags: [net.clusterTag],
      allow: [{ protocol: 'tcp', ports: ['988'] }],
    });
    return { instance, source: instance.mountPoint, tier };
  }

  /**
   * Lustre ports both ways between the file system's group and the client's, once per client group, named after the
   * group (`ClusterGroupIngress988`). Releases before 0.2 numbered them in admission order (`Client0Ingress988`):
   * each rule declares that address as moved, so existing state follows.
   */
  private admit(client: IFileSystemClient, net: Extract<IFileSystemClient['fileSystemClientNetwork'], { kind: 'aws-security-group' }>): void {
    const admission = this.admitted.admit(client, 'fileSystemClientNetwork.groupName', net.groupName, net.securityGroupId);
    if (!admission) return;
    const { name, formerIndex } = admission;
    const clientGroupId = net.securityGroupId;
    const sg = this.securityGroup!.id;
    for (const [from, to] of LUSTRE_PORTS) {
      const ports = from === to ? `${from}` : `${from}-${to}`;
      renamedFrom(new VpcSecurityGroupIngressRule(this, `${name}Ingress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: clientGroupId, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} from admitted clients`,
      }), `Client${formerIndex}Ingress${from}`);
      renamedFrom(new VpcSecurityGroupEgressRule(this, `${name}Egress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: clientGroupId, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} to admitted clients (server-initiated LNet connections)`,
      }), `Client${formerIndex}Egress${from}`);
      renamedFrom(new VpcSecurityGroupIngressRule(this, `${name}FromServers${from}`, {
        securityGroupId: clientGroupId, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} from the file system's servers`,
      }), `Client${formerIndex}FromServers${from}`);
    }
  }
}

/** Managed Lustre tiers: the smallest instance, the step below and above the threshold, and the largest (docs, 2026-11). */
const MANAGED_TIERS: Readonly<Record<ManagedLustreTier, { min: number; step: number; threshold: number; bigStep: number; max: number }>> = {
  1000: { min: 9000, step: 9000, threshold: 1_530_000, bigStep: 72_000, max: 10_008_000 },
  500: { min: 18_000, step: 18_000, threshold: 3_060_000, bigStep: 144_000, max: 20_016_000 },
  250: { min: 36_000, step: 36_000, threshold: 6_120_000, bigStep: 288_000, max: 40_032_000 },
  125: { min: 72_000, step: 72_000, threshold: 12_240_000, bigStep: 72_000, max: 12_240_000 },
};

/** Why `capacity` GiB is not valid in `tier`, or undefined. */
export function managedLustreCapacityProblem(tier: ManagedLustreTier, capacity: number): string | undefined {
  const t = MANAGED_TIERS[tier];
  if (!Number.isInteger(capacity) || capacity < t.min || capacity > t.max) {
    return `the ${tier} MB/s/TiB tier takes ${t.min} to ${t.max} GiB`;
  }
  const step = capacity <= t.threshold ? t.step : t.bigStep;
  return capacity % step === 0 ? undefined : `the ${tier} MB/s/TiB tier takes multiples of ${step} GiB at this size`;
}
