import { Construct } from 'constructs';
import { ClusterMount, mountPointProblem } from '../cloudinit/mounts';
import type { ILustreServer, IMadeLustre } from '../file-system-server';
import { ClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface LustreFsProps {
  /** The cluster it serves: the file system is made beside it and admits its hosts. */
  readonly controller: ISlurmController;
  /**
   * The Lustre server, on the cloud's own object: `FsxLustre.of({ storageCapacityGiB })` (AWS),
   * `ManagedLustre.of({ capacityGiB })` (Google Cloud), or `ExistingLustre.at('<mgs-nid>@tcp:/<fsname>')` for one
   * made elsewhere (any cloud). What it costs is in the plan summary.
   */
  readonly fileSystem: ILustreServer;
  /** Name in resource names and tags: lower-case letters, digits and `-`. @default the construct id, lower-cased */
  readonly name?: string;
  /** Where clients mount it. @default `'/lustre'` */
  readonly mountPoint?: string;
  /** fstab options; the client always adds `_netdev`. @default `'defaults,flock'` (flock: MPI-IO and many tools need it) */
  readonly mountOptions?: string;
}

/**
 * A Lustre file system the cluster's hosts mount: made by its server (`FsxLustre`, `ManagedLustre`) in this
 * construct's scope, or an existing one by address. `fs.mountOn(pool, login)` (or a host's `mounts: [fs]`) has the
 * server admit each host set (for FSx, the hosts' security group may reach the file system's on TCP 988 and
 * 1018-1023, and nothing else may) and puts the mount line in the hosts' mount table.
 */
export class LustreFs extends ClusterFileSystem {
  readonly mountPoint: string;
  /** The server as made: an `FsxLustreServer` (its `fileSystem`, `securityGroup`), a `ManagedLustreServer` (its `instance`), or an existing one. */
  readonly server: IMadeLustre;
  private readonly options: string;

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
    if (typeof props.fileSystem?.make !== 'function') {
      throw new ConstructPropError(this, 'fileSystem', props.fileSystem === undefined ? undefined : '<not a Lustre server>', 'no Lustre server given',
        "Use FsxLustre.of({ storageCapacityGiB: 2400 }) (AWS), ManagedLustre.of({ capacityGiB: 9000 }) (Google Cloud) or ExistingLustre.at('10.20.0.5@tcp:/lfs')");
    }
    this.server = props.fileSystem.make(this, { controller: ctl, name, field: 'fileSystem' });
    const plan = this.server.plan;
    describeForPlan(this, () => ({ kind: 'filesystem', cluster: ctl.clusterName, name, mountPoint: this.mountPoint, ...plan }));
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    this.server.admit(client, this);
    return {
      kind: 'lustre',
      source: this.server.source,
      ...(this.server.sourceIsReference ? { sourceIsReference: true } : {}),
      mountPoint: this.mountPoint,
      options: this.options,
      origin: this.node.path,
    };
  }
}
