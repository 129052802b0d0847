/**
 * The Slurm controller on Compute Engine: a keyless service account, its secrets in Secret Manager (each readable by
 * the controller alone, which adds the first version at boot: nothing secret in Terraform), and the VM with its state
 * disk at the fixed address in the system subnet, SSH through IAP only. Resources are made in the controller's scope.
 */
import { ComputeAttachedDisk } from '@cdktf/provider-google/lib/compute-attached-disk';
import { ComputeDisk } from '@cdktf/provider-google/lib/compute-disk';
import type { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { Construct, IConstruct } from 'constructs';
import type {
  ControllerHostRequest, FileSystemSecretExample, IClusterBackend, IControllerHost, IFileSystemSecret, ShareDisk, ShareDiskRequest,
} from '../backend';
import { ConstructPropError, lazyString, renamedFrom, terraformLiteral } from '../cdktf-adapter';
import { Admissions, clientNetworkShown, FileSystemClientNetwork, IFileSystemClient } from '../constructs/cluster-file-system';
import type { IGcpClusterNetwork } from './network';
import type { TargetReach } from '../monitoring/scrape-targets';
import {
  gcpAccountId, gcpName, gcpSecret, gcpSecretSource, GcpNodeIdentity, gcpServiceAccount, gcpServiceAccountMember, gcpStaticInstance, grantLogging,
  grantSecretAccess, grantSecretVersionAdder,
} from './vm';

/** Device name of the controller's state disk: the guest sees `/dev/disk/by-id/google-<name>`. */
const STATE_DISK_DEVICE = 'slurm-state';
/** What a bad secret reference is shown as: it may be the secret itself, pasted where its name belongs. */
const redacted = (v: unknown): string => (typeof v === 'string' ? `<${v.length} characters>` : String(v));

/** The controller's Compute Engine side. */
export class GcpControllerHost implements IControllerHost {
  /**
   * The Compute Engine side of `controller`, for constructs that only make sense on Google Cloud.
   * @throws Error naming the controller and the caller when the controller is on another cloud
   */
  static of(controller: { readonly host: IControllerHost; readonly node: IConstruct['node'] }, caller: string): GcpControllerHost {
    if (!(controller.host instanceof GcpControllerHost)) {
      throw new Error(`${controller.node.path}: ${caller} needs a controller on a Google Cloud network, and this one is on ${controller.host.backend.name.toUpperCase()}`);
    }
    return controller.host;
  }

  readonly mungeKeySource: string;
  readonly jwtKeySource?: string;
  readonly dbPasswordSource?: string;
  readonly stateDevice = `/dev/disk/by-id/google-${STATE_DISK_DEVICE}`;
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach: TargetReach;
  readonly userDataTarget = 'gcp' as const;
  // Compute Engine takes 256 KiB of metadata: the scripts fit inline. EC2's 16 KiB does not.
  readonly scriptDelivery = { kind: 'inline' } as const;
  readonly instance: ComputeInstance;
  readonly identity: GcpNodeIdentity;
  /** Secret Manager ID of the munge key (in the network's project); the controller adds its first version. */
  readonly mungeKeySecretId: string;
  /** The munge key's secret, which every reader's grant waits for. */
  readonly mungeKeySecret: SecretManagerSecret;
  private readonly clusterName: string;

  constructor(readonly backend: IClusterBackend, readonly network: IGcpClusterNetwork, scope: Construct, request: ControllerHostRequest) {
    this.clusterName = request.clusterName;
    const prefix = gcpName(request.clusterName);
    const project = network.project;
    const accountId = gcpAccountId(`${prefix}-controller`);
    this.fileSystemClientNetwork = {
      kind: 'gcp-network-tag', tag: network.clusterTag, networkSelfLink: network.system.networkSelfLink, project,
      serviceAccountMember: gcpServiceAccountMember(project, accountId),
      serviceAccountId: accountId,
    };
    this.scrapeReach = { kind: 'gcp-network-tag', tag: network.clusterTag };
    const identity = gcpServiceAccount(scope, 'Identity', {
      project,
      accountId,
      displayName: `Slurm controller of ${request.clusterName}`,
      description: 'slurmctld/slurmdbd host: reads and first-boot-writes its own secrets, writes logs and metrics',
    });
    this.identity = identity;
    grantLogging(scope, 'Logging', { project, member: identity.member });
    const made = new Map<string, SecretManagerSecret>();
    const ownSecret = (id: string, suffix: string, description: string): string => {
      const secretId = `${prefix}-${suffix}`;
      const secret = gcpSecret(scope, id, { project, secretId, description, labels: { 'slurm-cluster': request.clusterName }, deletionProtection: request.deletionProtection });
      made.set(id, secret);
      grantSecretAccess(scope, `${id}Read`, { project, secretId, member: identity.member, secret });
      grantSecretVersionAdder(scope, `${id}Add`, { project, secretId, member: identity.member, secret });
      return gcpSecretSource(project, secretId);
    };
    const mailSecret = /^gcp-secretmanager:projects\/([^/]+)\/secrets\/([A-Za-z0-9_-]+)$/.exec(request.mailPasswordSecret ?? '');
    if (mailSecret) grantSecretAccess(scope, 'MailPasswordRead', { project: mailSecret[1], secretId: mailSecret[2], member: identity.member });
    this.mungeKeySource = ownSecret('MungeKey', 'munge-key', `munge key of Slurm cluster ${request.clusterName}; generated on the controller at first boot`);
    this.mungeKeySecret = made.get('MungeKey')!;
    this.mungeKeySecretId = `${prefix}-munge-key`;
    if (request.restApi) {
      this.jwtKeySource = `generate+${ownSecret('JwtKey', 'slurm-jwt-key', `HS256 key slurmrestd JWTs of ${request.clusterName} are verified with; generated on the controller`)}`;
    }
    const accounting = request.accounting;
    if (accounting === 'local') {
      this.dbPasswordSource = `generate+${ownSecret('DbPassword', 'slurmdbd-db-password', `slurmdbd MariaDB password of ${request.clusterName}; generated on the controller`)}`;
    } else if (accounting) {
      const ref = accounting.passwordSecret;
      // An ID under the cluster's prefix or a full path: what a pasted password never looks like, so one is refused
      // (never echoed) instead of landing in user-data and an IAM binding.
      const full = typeof ref === 'string' ? /^projects\/([a-z][-a-z0-9]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})$/.exec(ref) : null;
      if (!full && (typeof ref !== 'string' || !new RegExp(`^${prefix}-[A-Za-z0-9_-]{1,200}$`).test(ref))) {
        // ConstructPropError shows a secret field's value by its length only.
        throw new ConstructPropError(scope, 'accounting.passwordSecret', ref,
          `is not a Secret Manager secret ID starting ${prefix}- or a projects/P/secrets/S path`,
          `Store the password as '${prefix}-db-password' (gcloud secrets create ${prefix}-db-password --data-file=<file>) and give that ID`);
      }
      const secret = full ? { project: full[1], secretId: full[2] } : { project, secretId: ref };
      grantSecretAccess(scope, 'DbPasswordRead', { ...secret, member: identity.member });
      this.dbPasswordSource = gcpSecretSource(secret.project, secret.secretId);
    }
    this.instance = gcpStaticInstance(scope, 'Vm', {
      network,
      name: request.hostname,
      machineType: request.hostType,
      isGpu: false,
      gpuNics: 0,
      userData: lazyString(() => terraformLiteral(request.userData().text)),
      serviceAccountEmail: identity.email,
      clusterName: request.clusterName,
      role: 'controller',
      image: request.image,
      bootDiskSizeGiB: request.rootVolumeSizeGiB ?? 50,
      bootDiskType: 'pd-ssd',
      networkIp: request.privateIp,
      stateDisk: { sizeGiB: request.stateVolumeSizeGiB, deviceName: STATE_DISK_DEVICE },
      sshViaIap: true,
      deletionProtection: request.deletionProtection,
    }).instance;
  }

  /** Always generated at first boot: every Compute Engine host reads the key with its own identity. */
  controllerMungeKeySource(): string {
    return `generate+${this.mungeKeySource}`;
  }

  get shareClientCidrs(): readonly string[] {
    return [this.network.system.cidr];
  }

  /** A pd-balanced disk attached by its own resource, so it outlives a replaced controller VM. */
  attachShareDisk(scope: Construct, disk: ShareDiskRequest): ShareDisk {
    const network = this.network;
    const deviceName = disk.label;
    const diskName = `${gcpName(this.clusterName)}-${disk.label}`;
    if (diskName.length > 63) {
      throw new ConstructPropError(scope, 'name', disk.name, `makes the disk name '${diskName}' longer than 63`, 'Use a shorter name');
    }
    const pd = new ComputeDisk(scope, 'Disk', {
      project: network.project,
      zone: network.zone,
      name: diskName,
      type: 'pd-balanced',
      size: disk.sizeGiB,
      labels: { 'slurm-cluster': this.clusterName, 'slurm-role': 'storage' },
    });
    new ComputeAttachedDisk(scope, 'DiskAttachment', {
      project: network.project,
      zone: network.zone,
      disk: pd.id,
      instance: this.instance.id,
      deviceName,
      mode: 'READ_WRITE',
    });
    // A disk attached by its own resource: the instance must not try to detach it (Google's provider docs).
    this.instance.lifecycle = { ...(this.instance.lifecycle ?? {}), ignoreChanges: ['attached_disk'] };
    return { device: `/dev/disk/by-id/google-${deviceName}`, resource: pd, priceKey: 'gcp:pd-balanced' };
  }

  /** The cluster's own firewall rule already lets its tagged VMs reach NFS on the controller: nothing to add. */
  admitShareClient(client: IFileSystemClient, share: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'gcp-network-tag' || net.tag !== this.network.clusterTag) {
      throw new ConstructPropError(client, 'mounts', share.node.path, "this host is not on the share's cluster network", 'Mount it on hosts of the same cluster network');
    }
  }

  /**
   * A Secret Manager secret (an ID in the network's project, or `projects/P/secrets/S`): each host set that mounts
   * the file system gets read access to that secret alone, named after its service account (`KeyReadHpcLogin`;
   * releases before 0.2 numbered the grants, `KeyRead0`, and each moves from there).
   */
  fileSystemSecret(scope: Construct, field: string, ref: string, example: FileSystemSecretExample): IFileSystemSecret {
    const full = typeof ref === 'string' ? /^projects\/([a-z][-a-z0-9]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})$/.exec(ref) : null;
    if (!full && (typeof ref !== 'string' || !/^[A-Za-z0-9_-]{1,255}$/.test(ref))) {
      throw new ConstructPropError(scope, field, redacted(ref), 'is not a Secret Manager secret ID or projects/P/secrets/S path',
        `Store it as e.g. '${example.name}' (gcloud secrets create ${example.name} --data-file=<(${example.valueCommand}))`);
    }
    const secret = full ? { project: full[1], secretId: full[2] } : { project: this.network.project, secretId: ref };
    const readers = new Admissions(scope);
    return {
      source: gcpSecretSource(secret.project, secret.secretId),
      grant(client: IFileSystemClient, fileSystem: IConstruct): void {
        const net = client.fileSystemClientNetwork;
        if (net.kind !== 'gcp-network-tag') {
          throw new ConstructPropError(client, 'mounts', fileSystem.node.path,
            `this file system's key is in Google Secret Manager, which a host ${clientNetworkShown(net)} cannot read`,
            'Mount it on Compute Engine pools, the controller or login nodes of this cluster');
        }
        const reader = readers.admit(client, 'fileSystemClientNetwork.serviceAccountId', net.serviceAccountId, net.serviceAccountMember);
        if (reader) renamedFrom(grantSecretAccess(scope, `KeyRead${reader.name}`, { ...secret, member: net.serviceAccountMember }), `KeyRead${reader.formerIndex}`);
      },
    };
  }
}
