import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment';
import { ComputeAttachedDisk } from '@cdktf/provider-google/lib/compute-attached-disk';
import { ComputeDisk } from '@cdktf/provider-google/lib/compute-disk';
import { Token } from 'cdktf';
import { AwsControllerHost } from '../aws/controller-host';
import { GcpControllerHost } from '../gcp/controller-host';
import { Construct } from 'constructs';
import { ClusterMount, mountPointProblem, NfsExport } from '../cloudinit';
import { gcpName } from '../gcp/vm';
import { ClusterFileSystem, IFileSystemClient, MESH_CIDR } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface NfsShareProps {
  /** The cluster's controller, which serves the share (NFS v4 from `nfs-kernel-server`). */
  readonly controller: ISlurmController;
  /** Exported directory on the controller, and where clients mount it. @default `'/home'` */
  readonly path?: string;
  /** Name in resource names and the disk label (`nfs-<name>`): lower-case letters, digits and `-`, at most 12. @default the construct id, lower-cased */
  readonly name?: string;
  /**
   * Size of the share's own disk, GiB (an encrypted gp3 EBS volume on AWS, a pd-balanced persistent disk on GCP),
   * attached to the controller and mounted at `path`; it outlives a replaced controller. `0` keeps the directory on
   * the controller's root disk.
   * @default 100
   */
  readonly diskGiB?: number;
  /** Octal mode of the directory when the server creates it. @default `'0755'` for `/home`, `'1777'` (sticky, like /tmp) otherwise */
  readonly mode?: string;
  /** fstab options on clients (`_netdev,nofail` are always added). @default `'vers=4.2,hard,timeo=600,retrans=2'` */
  readonly mountOptions?: string;
}

const NAME = /^[a-z][a-z0-9-]{0,11}$/;
/** EC2 device names for the controller's share disks; /dev/sdf is its state volume. */
const AWS_DEVICE_LETTERS = 'ghijklmnop';

/**
 * A directory the controller serves over NFS v4 to the cluster (`/home` by default, for clusters without Lustre
 * or Ceph): on its own disk unless `diskGiB: 0`, exported `rw,sync,no_subtree_check,root_squash` to the cluster's
 * subnets (and the mesh range when the controller has a mesh) only. `mountOn(pool, login)` mounts it on those
 * hosts; on AWS each client's security group is let into the controller on TCP 2049, on GCP the cluster's own
 * firewall rule already admits it, on the mesh traffic stays inside WireGuard.
 */
export class NfsShare extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The share's disk, when it has one: an `EbsVolume` (AWS) or a `ComputeDisk` (GCP). */
  readonly disk?: EbsVolume | ComputeDisk;
  private readonly controller: ISlurmController;
  private readonly mountOptions?: string;

  constructor(scope: Construct, id: string, props: NfsShareProps) {
    super(scope, id);
    const ctl = props.controller;
    this.controller = ctl;
    const name = props.name ?? id.toLowerCase();
    if (!NAME.test(name)) {
      throw new ConstructPropError(this, 'name', name, 'must be lower-case letters, digits and -, starting with a letter, at most 12 (it becomes the disk label nfs-<name>)', "Use e.g. 'home'");
    }
    const path = props.path ?? '/home';
    const pathProblem = mountPointProblem(path);
    if (pathProblem) throw new ConstructPropError(this, 'path', path, pathProblem, "Use e.g. '/home' or '/shared'");
    this.mountPoint = path;
    const mode = props.mode ?? (path === '/home' ? '0755' : '1777');
    if (typeof mode !== 'string' || !/^[0-7]{3,4}$/.test(mode)) {
      throw new ConstructPropError(this, 'mode', mode, 'is not an octal mode', "Use '0755' for homes or '1777' for a shared scratch");
    }
    if (props.mountOptions !== undefined && (!/^[A-Za-z0-9_.=,:/+-]+$/.test(props.mountOptions) || /(^|,)vers=[23](\.|,|$)/.test(props.mountOptions))) {
      throw new ConstructPropError(this, 'mountOptions', props.mountOptions, 'must be fstab options without spaces, for NFS v4 (the server exports v4 only)',
        "Use e.g. 'vers=4.2,hard,timeo=600,retrans=2,noatime'");
    }
    this.mountOptions = props.mountOptions;
    const diskGiB = props.diskGiB ?? 100;
    if (!Number.isInteger(diskGiB) || diskGiB < 0 || (diskGiB > 0 && diskGiB < 10) || diskGiB > 16384) {
      throw new ConstructPropError(this, 'diskGiB', diskGiB, 'must be 0 (the root disk) or a whole number of GiB from 10 to 16384', 'Use e.g. 100');
    }

    describeForPlan(this, () => ({
      kind: 'filesystem',
      cluster: ctl.clusterName,
      name,
      mountPoint: path,
      type: 'NFS v4',
      capacityGiB: diskGiB > 0 ? diskGiB : undefined,
      server: `the controller, ${diskGiB > 0 ? `its own ${diskGiB} GiB disk` : 'on its root disk'}`,
      priceKey: diskGiB > 0 ? (ctl.network.cloud === 'aws' ? 'aws:ebs-gp3' : 'gcp:pd-balanced') : undefined,
    }));
    const net = ctl.network;
    const clients = net.cloud === 'aws' ? net.privateSubnets.map((s) => s.cidr) : [net.system.cidr];
    if (ctl.tailscale) clients.push(MESH_CIDR);
    if (clients.some((c) => Token.isUnresolved(c))) {
      throw new ConstructPropError(this, 'controller.network', '<subnet CIDRs>', 'the export list needs the subnets\' CIDRs at synth, and one is a Terraform reference',
        'Give the network literal CIDRs');
    }

    let disk: NfsExport['disk'];
    const label = `nfs-${name}`;
    if (diskGiB > 0) {
      if (ctl.host instanceof AwsControllerHost) {
        const aws = ctl.host;
        const index = ctl.nfsExportDiskCount;
        if (index >= AWS_DEVICE_LETTERS.length) {
          throw new ConstructPropError(this, 'diskGiB', diskGiB, `the controller already has ${index} share disks, the most this library attaches`,
            'Put more directories on one share, or use diskGiB: 0');
        }
        const device = `/dev/sd${AWS_DEVICE_LETTERS[index]}`;
        const subnet = aws.network.privateSubnets[0];
        const volume = new EbsVolume(this, 'Disk', {
          availabilityZone: subnet.availabilityZone,
          size: diskGiB,
          type: 'gp3',
          encrypted: true,
          tags: { Name: `${ctl.clusterName}-nfs-${name}`, 'slurm:cluster': ctl.clusterName },
        });
        new VolumeAttachment(this, 'DiskAttachment', { deviceName: device, volumeId: volume.id, instanceId: aws.instance.id });
        this.disk = volume;
        disk = { device, label };
      } else if (ctl.host instanceof GcpControllerHost) {
        const gcp = ctl.host;
        const deviceName = label;
        const diskName = `${gcpName(ctl.clusterName)}-${label}`;
        if (diskName.length > 63) {
          throw new ConstructPropError(this, 'name', name, `makes the disk name '${diskName}' longer than 63`, 'Use a shorter name');
        }
        const pd = new ComputeDisk(this, 'Disk', {
          project: gcp.network.project,
          zone: gcp.network.zone,
          name: diskName,
          type: 'pd-balanced',
          size: diskGiB,
          labels: { 'slurm-cluster': ctl.clusterName, 'slurm-role': 'storage' },
        });
        new ComputeAttachedDisk(this, 'DiskAttachment', {
          project: gcp.network.project,
          zone: gcp.network.zone,
          disk: pd.id,
          instance: gcp.instance.id,
          deviceName,
          mode: 'READ_WRITE',
        });
        // A disk attached by its own resource: the instance must not try to detach it (Google's provider docs).
        gcp.instance.lifecycle = { ...(gcp.instance.lifecycle ?? {}), ignoreChanges: ['attached_disk'] };
        this.disk = pd;
        disk = { device: `/dev/disk/by-id/google-${deviceName}`, label };
      }
    }
    ctl.addNfsExport({ path, clients, mode, disk, origin: this.node.path });
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    const ctl = this.controller;
    if ((client as unknown) === ctl) {
      throw new ConstructPropError(client, 'mounts', this.node.path, `the controller serves this share: ${this.mountPoint} is already its own directory there`,
        'Mount it on pools and login nodes only');
    }
    const net = client.fileSystemClientNetwork;
    let server: string;
    if (net.kind === 'mesh') {
      if (!ctl.tailscale) {
        throw new ConstructPropError(client, 'mounts', this.node.path, 'this host is on a mesh, and the controller serving the share has none',
          'Give the controller a mesh, or mount the share on VPC hosts only');
      }
      server = ctl.tailscale.controllerAddress;
    } else if (net.kind === 'aws-security-group') {
      if (ctl.network.cloud !== 'aws') {
        throw new ConstructPropError(client, 'mounts', this.node.path, 'this host is in an AWS VPC, and the share is served on Google Cloud', 'Mount it on hosts of the same cluster network');
      }
      AwsControllerHost.of(ctl, 'an NFS share').admitNfsClient(client, net.groupName, net.securityGroupId);
      server = ctl.privateIp;
    } else {
      if (ctl.network.cloud !== 'gcp' || net.tag !== ctl.network.clusterTag) {
        throw new ConstructPropError(client, 'mounts', this.node.path, "this host is not on the share's cluster network", 'Mount it on hosts of the same cluster network');
      }
      server = ctl.privateIp;
    }
    return { kind: 'nfs', source: `${server}:${this.mountPoint}`, mountPoint: this.mountPoint, options: this.mountOptions, origin: this.node.path };
  }
}
