/**
 * FSx for Lustre as a `LustreFs` server (`fileSystem: FsxLustre.of({ storageCapacityGiB: 2400 })`): the file system
 * in the controller's first private subnet, its own security group (Lustre ports from its servers and admitted
 * clients only), a customer-managed KMS key for the persistent types, and an SSM parameter with the mount source.
 * FSx's DNS and mount names are known only after apply, and EC2 user-data is gzip made at synth, so the hosts read
 * the source from that parameter at boot (`aws-ssm:` in the mount table). Resources are made in the `LustreFs`'s
 * scope, so their addresses are `<LustreFs>/FileSystem` and so on.
 */
import { FsxLustreFileSystem } from '@cdktf/provider-aws/lib/fsx-lustre-file-system';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Token } from 'cdktf';
import type { Construct, IConstruct } from 'constructs';
import { ConstructPropError, renamedFrom } from '../cdktf-adapter';
import { SSM_SOURCE_PREFIX } from '../cloudinit/mounts';
import { Admissions, clientNetworkShown, IFileSystemClient } from '../constructs/cluster-file-system';
import type { FileSystemServerPlan, FileSystemServerRequest, ILustreServer, IMadeLustre } from '../file-system-server';
import { shownSettings } from '../file-system-server';
import { AwsControllerHost } from './controller-host';
import type { IAwsClusterNetwork } from './network';
import { fileSystemParameterName } from './node-identity';

/** FSx for Lustre deployment types on SSD storage. */
export type FsxLustreDeploymentType = 'SCRATCH_1' | 'SCRATCH_2' | 'PERSISTENT_1' | 'PERSISTENT_2';

/** An FSx for Lustre file system to create. */
export interface FsxLustreSettings {
  /**
   * Capacity in GiB: SCRATCH_1 takes 1200, 2400 or a multiple of 3600; the other types 1200 or a multiple of 2400.
   * FSx bills the provisioned capacity (and, for persistent types, its throughput) by the hour, used or not.
   */
  readonly storageCapacityGiB: number;
  /** @default `'PERSISTENT_2'` (replicated within its zone; the type for home and datasets, not only scratch) */
  readonly deploymentType?: FsxLustreDeploymentType;
  /**
   * Throughput per TiB of storage, MB/s: PERSISTENT_1 takes 50, 100 or 200; PERSISTENT_2 125, 250, 500 or 1000;
   * scratch types have a fixed rate and take none. The price per GiB grows with it.
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
  /** Days of daily automatic backups, persistent types only; 0 turns them off. @default 7 (0 for scratch types) */
  readonly automaticBackupRetentionDays?: number;
}

/** LNet's acceptor port and the ports Lustre clients and servers connect from (FSx's documented rules). */
const LUSTRE_PORTS: readonly [number, number][] = [[988, 988], [1018, 1023]];
const THROUGHPUT: Readonly<Record<FsxLustreDeploymentType, readonly number[]>> = {
  SCRATCH_1: [],
  SCRATCH_2: [],
  PERSISTENT_1: [50, 100, 200],
  PERSISTENT_2: [125, 250, 500, 1000],
};

/** Why `capacity` GiB is not valid for `type`, or undefined. */
export function fsxCapacityProblem(type: FsxLustreDeploymentType, capacity: number): string | undefined {
  if (!Number.isInteger(capacity) || capacity <= 0) return 'must be a whole number of GiB';
  if (type === 'SCRATCH_1') {
    return capacity === 1200 || capacity === 2400 || capacity % 3600 === 0 ? undefined : 'SCRATCH_1 takes 1200, 2400 or a multiple of 3600 GiB';
  }
  return capacity === 1200 || capacity % 2400 === 0 ? undefined : `${type} takes 1200 or a multiple of 2400 GiB`;
}

/** An FSx for Lustre file system for a `LustreFs` on an AWS cluster. */
export class FsxLustre implements ILustreServer {
  static of(settings: FsxLustreSettings): FsxLustre {
    return new FsxLustre(settings);
  }

  readonly shown: string;

  private constructor(readonly settings: FsxLustreSettings) {
    this.shown = shownSettings('FsxLustre.of', settings);
  }

  make(scope: Construct, request: FileSystemServerRequest): FsxLustreServer {
    const ctl = request.controller;
    if (!(ctl.host instanceof AwsControllerHost)) {
      throw new ConstructPropError(scope, request.field, this.shown, `FSx for Lustre is AWS, and controller ${ctl.node.path} is on ${ctl.backend.name.toUpperCase()}`,
        "Use ManagedLustre.of({ capacityGiB }) on a Google Cloud cluster, or ExistingLustre.at('<mgs-nid>@tcp:/<fsname>') for one made elsewhere");
    }
    return new FsxLustreServer(scope, request, this.settings, ctl.host.network);
  }
}

/** FSx for Lustre as made: the file system, its security group, and the rules that admit each client group. */
export class FsxLustreServer implements IMadeLustre {
  readonly fileSystem: FsxLustreFileSystem;
  readonly securityGroup: SecurityGroup;
  readonly source: string;
  readonly plan: FileSystemServerPlan;
  private readonly admitted: Admissions;

  constructor(private readonly scope: Construct, request: FileSystemServerRequest, fsx: FsxLustreSettings, private readonly network: IAwsClusterNetwork) {
    const { controller: ctl, name, field } = request;
    this.admitted = new Admissions(scope);
    const type = fsx.deploymentType ?? 'PERSISTENT_2';
    if (!(type in THROUGHPUT)) {
      throw new ConstructPropError(scope, `${field}.deploymentType`, type, 'is not an FSx for Lustre SSD deployment type', `Use one of ${Object.keys(THROUGHPUT).join(', ')}`);
    }
    const capacityProblem = fsxCapacityProblem(type, fsx.storageCapacityGiB);
    if (capacityProblem) {
      const next = type === 'SCRATCH_1' ? Math.max(3600, Math.ceil(fsx.storageCapacityGiB / 3600) * 3600) : Math.max(2400, Math.ceil(fsx.storageCapacityGiB / 2400) * 2400);
      throw new ConstructPropError(scope, `${field}.storageCapacityGiB`, fsx.storageCapacityGiB, capacityProblem, `Use e.g. ${Number.isFinite(next) ? next : 2400}`);
    }
    const allowed = THROUGHPUT[type];
    const persistent = allowed.length > 0;
    const throughput = fsx.perUnitStorageThroughput ?? (type === 'PERSISTENT_2' ? 250 : type === 'PERSISTENT_1' ? 200 : undefined);
    if (!persistent && fsx.perUnitStorageThroughput !== undefined) {
      throw new ConstructPropError(scope, `${field}.perUnitStorageThroughput`, fsx.perUnitStorageThroughput, `${type} has a fixed throughput`, 'Drop it, or use a PERSISTENT type');
    }
    if (persistent && !allowed.includes(throughput as number)) {
      throw new ConstructPropError(scope, `${field}.perUnitStorageThroughput`, throughput, `${type} takes ${allowed.join(', ')} MB/s per TiB`, `Use one of ${allowed.join(', ')}`);
    }
    if (!persistent && fsx.kmsKeyId !== undefined) {
      throw new ConstructPropError(scope, `${field}.kmsKeyId`, fsx.kmsKeyId, `${type} always encrypts with an AWS-owned key`, 'Drop kmsKeyId, or use a PERSISTENT type');
    }
    this.plan = {
      type: 'FSx for Lustre',
      capacityGiB: fsx.storageCapacityGiB,
      server: `FSx ${type}${throughput ? `, ${throughput} MB/s/TiB` : ''}`,
      priceKey: `aws:fsx-lustre-${type.toLowerCase().replace('_', '')}${throughput ? `-${throughput}` : ''}`,
    };
    const backups = fsx.automaticBackupRetentionDays ?? (persistent ? 7 : 0);
    if (!Number.isInteger(backups) || backups < 0 || backups > 90 || (!persistent && backups > 0)) {
      throw new ConstructPropError(scope, `${field}.automaticBackupRetentionDays`, backups,
        persistent ? 'must be a whole number of days from 0 to 90' : `${type} has no automatic backups`, persistent ? 'Use e.g. 7' : 'Drop it');
    }
    const cluster = ctl.clusterName;
    const prefix = `${cluster.replace(/_/g, '-')}-${name}`;

    this.securityGroup = new SecurityGroup(scope, 'SecurityGroup', {
      name: `${prefix}-lustre`,
      description: `FSx for Lustre ${name} of Slurm cluster ${cluster}: Lustre ports from its own servers and admitted clients only`,
      vpcId: network.vpcId,
      // Rules are separate resources, added per admitted client.
      ingress: [],
      egress: [],
      tags: { Name: `${prefix}-lustre`, 'slurm:cluster': cluster },
    });
    const sg = this.securityGroup.id;
    for (const [from, to] of LUSTRE_PORTS) {
      const ports = from === to ? `${from}` : `${from}-${to}`;
      new VpcSecurityGroupIngressRule(scope, `SelfIngress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} between the file system's own servers`,
      });
      new VpcSecurityGroupEgressRule(scope, `SelfEgress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} between the file system's own servers`,
      });
    }
    const kmsKeyId = persistent
      ? fsx.kmsKeyId ?? new KmsKey(scope, 'Key', {
          description: `FSx for Lustre ${name} of Slurm cluster ${cluster}`,
          enableKeyRotation: true,
          deletionWindowInDays: 30,
          tags: { 'slurm:cluster': cluster },
        }).arn
      : undefined;
    // One subnet: FSx for Lustre lives in one zone; put it beside the controller (and the pools' first subnet).
    this.fileSystem = new FsxLustreFileSystem(scope, 'FileSystem', {
      storageCapacity: fsx.storageCapacityGiB,
      storageType: 'SSD',
      deploymentType: type,
      perUnitStorageThroughput: persistent ? throughput : undefined,
      subnetIds: [network.privateSubnets[0].id],
      securityGroupIds: [sg],
      kmsKeyId,
      fileSystemTypeVersion: '2.15',
      dataCompressionType: fsx.dataCompression ?? 'LZ4',
      automaticBackupRetentionDays: persistent ? backups : undefined,
      copyTagsToBackups: persistent ? true : undefined,
      tags: { Name: prefix, 'slurm:cluster': cluster, 'slurm:filesystem': name },
    });
    const parameterName = fileSystemParameterName(cluster, name);
    new SsmParameter(scope, 'Source', {
      name: parameterName,
      description: `Lustre mount source of ${prefix} (<dns>@tcp:/<mount name>), read by the cluster's hosts at boot`,
      type: 'String',
      value: `${this.fileSystem.dnsName}@tcp:/${this.fileSystem.mountName}`,
    });
    // The literal name, not the resource's attribute: EC2 user-data is gzip and cannot hold references.
    this.source = `${SSM_SOURCE_PREFIX}${parameterName}`;
  }

  admit(client: IFileSystemClient, fileSystem: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'aws-security-group') {
      throw new ConstructPropError(client, 'mounts', fileSystem.node.path,
        `FSx for Lustre is reachable from its VPC only, and this host is ${clientNetworkShown(net)}`,
        'Mount it on EC2 pools, the controller or login nodes of this VPC');
    }
    if (!Token.isUnresolved(net.vpcId) && !Token.isUnresolved(this.network.vpcId) && net.vpcId !== this.network.vpcId) {
      throw new ConstructPropError(client, 'mounts', fileSystem.node.path, 'the host is in another VPC than the file system', 'Mount it from hosts of the same cluster network');
    }
    this.admitGroup(client, net.groupName, net.securityGroupId);
  }

  /**
   * Lustre ports both ways between the file system's group and the client's, once per client group, named after the
   * group (`ClusterGroupIngress988`). Releases before 0.2 numbered them in admission order (`Client0Ingress988`):
   * each rule declares that address as moved, so existing state follows.
   */
  private admitGroup(client: IFileSystemClient, groupName: string, clientGroupId: string): void {
    const admission = this.admitted.admit(client, 'fileSystemClientNetwork.groupName', groupName, clientGroupId);
    if (!admission) return;
    const { name, formerIndex } = admission;
    const sg = this.securityGroup.id;
    for (const [from, to] of LUSTRE_PORTS) {
      const ports = from === to ? `${from}` : `${from}-${to}`;
      renamedFrom(new VpcSecurityGroupIngressRule(this.scope, `${name}Ingress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: clientGroupId, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} from admitted clients`,
      }), `Client${formerIndex}Ingress${from}`);
      renamedFrom(new VpcSecurityGroupEgressRule(this.scope, `${name}Egress${from}`, {
        securityGroupId: sg, referencedSecurityGroupId: clientGroupId, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} to admitted clients (server-initiated LNet connections)`,
      }), `Client${formerIndex}Egress${from}`);
      renamedFrom(new VpcSecurityGroupIngressRule(this.scope, `${name}FromServers${from}`, {
        securityGroupId: clientGroupId, referencedSecurityGroupId: sg, ipProtocol: 'tcp', fromPort: from, toPort: to,
        description: `Lustre ${ports} from the file system's servers`,
      }), `Client${formerIndex}FromServers${from}`);
    }
  }
}
