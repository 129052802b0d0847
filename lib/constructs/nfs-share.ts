import { Token } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import { ClusterMount, mountPointProblem, NfsExport } from '../cloudinit';
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

/**
 * A directory the controller serves over NFS v4 to the cluster (`/home` by default, for clusters without Lustre
 * or Ceph): on its own disk unless `diskGiB: 0`, exported `rw,sync,no_subtree_check,root_squash` to the cluster's
 * subnets (and the mesh range when the controller has a mesh) only. `mountOn(pool, login)` mounts it on those
 * hosts; the controller's cloud lets each client in (on AWS its security group into the controller on TCP 2049, on
 * GCP the cluster's own firewall rule already admits it), and on the mesh traffic stays inside WireGuard.
 */
export class NfsShare extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The share's disk, when it has one: the cloud's disk resource (an `EbsVolume` on AWS, a `ComputeDisk` on GCP). */
  readonly disk?: IConstruct;
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

    const host = ctl.host;
    const clients = [...host.shareClientCidrs];
    if (ctl.tailscale) clients.push(MESH_CIDR);
    if (clients.some((c) => Token.isUnresolved(c))) {
      throw new ConstructPropError(this, 'controller.network', '<subnet CIDRs>', 'the export list needs the subnets\' CIDRs at synth, and one is a Terraform reference',
        'Give the network literal CIDRs');
    }
    const label = `nfs-${name}`;
    const attached = diskGiB > 0 ? host.attachShareDisk(this, { name, label, sizeGiB: diskGiB }) : undefined;
    this.disk = attached?.resource;
    const disk: NfsExport['disk'] = attached ? { device: attached.device, label } : undefined;
    describeForPlan(this, () => ({
      kind: 'filesystem',
      cluster: ctl.clusterName,
      name,
      mountPoint: path,
      type: 'NFS v4',
      capacityGiB: diskGiB > 0 ? diskGiB : undefined,
      server: `the controller, ${diskGiB > 0 ? `its own ${diskGiB} GiB disk` : 'on its root disk'}`,
      priceKey: attached?.priceKey,
    }));
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
    } else {
      ctl.host.admitShareClient(client, this);
      server = ctl.privateIp;
    }
    return { kind: 'nfs', source: `${server}:${this.mountPoint}`, mountPoint: this.mountPoint, options: this.mountOptions, origin: this.node.path };
  }
}
