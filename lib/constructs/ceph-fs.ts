import { Construct } from 'constructs';
import { ClusterMount, mountPointProblem } from '../cloudinit/mounts';
import type { ICephFsServer, IMadeCephFs } from '../file-system-server';
import { ClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface CephFsProps {
  /** The cluster it serves: the server is made beside it and admits its hosts. */
  readonly controller: ISlurmController;
  /**
   * The Ceph cluster, on its own object: `MicroCephServer.onEc2({ osdCount: 3 })` for a MicroCeph VM made here (AWS
   * clusters), or `ExistingCephFs.of({ monitors, fsid, clientName, keySecret })` for one made elsewhere (any cloud
   * whose controller host keeps file-system secrets). What it costs is in the plan summary.
   */
  readonly fileSystem: ICephFsServer;
  /** Name in resource names: lower-case letters, digits and `-`. @default the construct id, lower-cased */
  readonly name?: string;
  /** Where clients mount it. @default `'/mnt/shared'` */
  readonly mountPoint?: string;
  /** File system name (`ceph fs new <name>`). @default `'cephfs'` */
  readonly fsName?: string;
  /** Extra fstab options (mon_addr and the secret file are the library's). @default `'noatime'` */
  readonly mountOptions?: string;
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

/**
 * A CephFS the cluster's hosts mount at `/mnt/shared` with the kernel client (`mount -t ceph`, `mon_addr=` and a
 * root-only secret file). Its server makes itself in this construct's scope (`MicroCephServer`) or names a cluster
 * made elsewhere (`ExistingCephFs`); `fs.mountOn(pool, login)` has the server admit each host set (for MicroCeph,
 * Ceph's ports from the hosts' security group and nothing else; for an existing cluster, read access to the key's
 * secret) and puts the mount line in the hosts' mount table. The key is read on the node at boot, never from
 * Terraform or user-data.
 */
export class CephFs extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The server as made: a `MicroCephEc2Server` (its `instance`, `securityGroup`, `keySecret`) or an existing cluster. */
  readonly server: IMadeCephFs;
  private readonly options: string;

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
    if (typeof props.fileSystem?.make !== 'function') {
      throw new ConstructPropError(this, 'fileSystem', props.fileSystem === undefined ? undefined : '<not a CephFS server>', 'no CephFS server given',
        "Use MicroCephServer.onEc2({ osdCount: 3 }) for a server made here (AWS), or ExistingCephFs.of({ monitors, fsid, clientName, keySecret })");
    }
    this.server = props.fileSystem.make(this, { controller: ctl, name, field: 'fileSystem', fsName });
    this.options = `mon_addr=${this.server.monitors.join('/')},${extra}`;
    const plan = this.server.plan;
    describeForPlan(this, () => ({ kind: 'filesystem', cluster: ctl.clusterName, name, mountPoint: this.mountPoint, ...plan }));
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    this.server.admit(client, this);
    return { kind: 'ceph', source: this.server.source, mountPoint: this.mountPoint, options: this.options, secretSource: this.server.keySource, origin: this.node.path };
  }
}
