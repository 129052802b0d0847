import { Construct } from 'constructs';
import { ClusterMount } from '../cloudinit/mounts';
import { ClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { ConstructPropError } from './seam';

export interface ControllerNfsShareProps {
  /** The controller's mesh name or address mesh clients mount from. */
  readonly serverAddress: string;
  /** Exported directory on the controller, and the mount point on clients. */
  readonly path: string;
  /** Range the export is limited to (the mesh's). */
  readonly exportCidr: string;
}

/**
 * A directory of the controller exported over NFS v4 to the cluster's mesh (`SlurmController` `sharedDirectory`).
 * Mesh pools (Docker, SSH) mount it automatically; the controller's bootstrap exports it (`nfs-server.sh`).
 */
export class ControllerNfsShare extends ClusterFileSystem {
  readonly mountPoint: string;
  readonly exportCidr: string;
  private readonly serverAddress: string;

  constructor(scope: Construct, id: string, props: ControllerNfsShareProps) {
    super(scope, id);
    this.mountPoint = props.path;
    this.exportCidr = props.exportCidr;
    this.serverAddress = props.serverAddress;
  }

  connectClient(client: IFileSystemClient): ClusterMount {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'mesh') {
      throw new ConstructPropError(client, 'mounts', this.node.path,
        `the controller's shared directory is exported to mesh hosts (${this.exportCidr}) only, and this host is in the VPC`,
        'Mount it on Docker or SSH pools only, or use a file system VPC hosts reach (LustreFs, CephFs)');
    }
    return { kind: 'nfs', source: `${this.serverAddress}:${this.mountPoint}`, mountPoint: this.mountPoint, origin: this.node.path };
  }
}
