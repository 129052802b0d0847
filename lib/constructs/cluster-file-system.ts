/**
 * The seam between shared file systems and the hosts that mount them. A file system (`NfsShare`, `LustreFs`,
 * `CephFs`) implements `IClusterFileSystem`; a host set (controller, login
 * node, compute pool) implements `IFileSystemClient`. `fs.mountOn(pool)` and a host's `mounts: [...]` prop are
 * the same call: the file system opens its server to the client (a security-group rule, an export) and hands
 * back the mount-table line, which the host renders into its user-data at synth.
 */
import { Construct, IConstruct } from 'constructs';
import { ClusterMount, mountProblems } from '../cloudinit/mounts';
import { MESH_CIDR } from '../net/cidr';

export { MESH_CIDR };

/** How a client's hosts reach a file system server: what the server must let in. */
export type FileSystemClientNetwork =
  /** EC2 instances carrying this security group (the cluster's group), in this VPC. */
  | { readonly kind: 'aws-security-group'; readonly securityGroupId: string; readonly vpcId: string }
  /**
   * Compute Engine VMs carrying this network tag (the cluster's), on this VPC, running as this service account
   * (`serviceAccount:<email>`), which a file system grants its secret to.
   */
  | { readonly kind: 'gcp-network-tag'; readonly tag: string; readonly networkSelfLink: string; readonly project: string; readonly serviceAccountMember: string }
  /** Hosts on the cluster's mesh (Tailscale), addressed from its range. */
  | { readonly kind: 'mesh'; readonly cidr: string };

/** A shared file system hosts can mount. */
export interface IClusterFileSystem extends IConstruct {
  /** Where clients mount it, unless a client asks for another directory. */
  readonly mountPoint: string;
  /**
   * Opens the server to `client` (once per client) and returns the line of `client`'s mount table.
   * @throws ConstructPropError when the client cannot reach this file system (e.g. a VPC host and a mesh-only export)
   */
  connectClient(client: IFileSystemClient): ClusterMount;
}

/** A set of hosts (one node, or a pool of them) that mounts cluster file systems at boot. */
export interface IFileSystemClient extends IConstruct {
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  /** Mounts `fs` on every host of this client; duplicate or nested mount points fail here, before synth. */
  addMount(fs: IClusterFileSystem): void;
}

/** Base for file system constructs: `mountOn(...clients)`. */
export abstract class ClusterFileSystem extends Construct implements IClusterFileSystem {
  abstract readonly mountPoint: string;
  abstract connectClient(client: IFileSystemClient): ClusterMount;

  /** Mounts this file system on each client (a pool, the controller, a login node). */
  mountOn(...clients: IFileSystemClient[]): void {
    for (const client of clients) client.addMount(this);
  }
}

/**
 * A host's mounts, kept by each `IFileSystemClient`: connects each file system once and refuses a duplicate
 * or nested mount point at the call that adds it, naming both file systems.
 */
export class HostMounts {
  private readonly entries: ClusterMount[] = [];
  private readonly connected = new Set<IClusterFileSystem>();

  constructor(private readonly client: IFileSystemClient) {}

  add(fs: IClusterFileSystem): void {
    if (this.connected.has(fs)) {
      throw new Error(`${this.client.node.path}: mounts: ${fs.node.path} is already mounted here (at ${fs.mountPoint}); mount each file system once`);
    }
    const mount = fs.connectClient(this.client);
    // The earlier entries passed this check together, so every problem found now is the new mount's.
    const problems = mountProblems([...this.entries, mount]);
    if (problems.length > 0) throw new Error(problems.map((p) => `${this.client.node.path}: ${p}`).join('\n'));
    this.connected.add(fs);
    this.entries.push(mount);
  }

  /** The mount-table lines, in the order the file systems were added. */
  get mounts(): readonly ClusterMount[] {
    return [...this.entries];
  }
}
