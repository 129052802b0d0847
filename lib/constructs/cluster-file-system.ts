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
import { ConstructPropError } from '../cdktf-adapter';

export { MESH_CIDR };

/** How a client's hosts reach a file system server: what the server must let in. */
export type FileSystemClientNetwork =
  /**
   * EC2 instances carrying this security group (the cluster's group), in this VPC. `groupName` names the group in
   * the construct ids of the rules that admit it (`ClusterGroupIngress988`): stable, unique among the VPC's client
   * groups, never a counter, so the order hosts mount in never renames a resource.
   */
  | { readonly kind: 'aws-security-group'; readonly securityGroupId: string; readonly vpcId: string; readonly groupName: string }
  /**
   * Compute Engine VMs carrying this network tag (the cluster's), on this VPC, running as this service account
   * (`serviceAccount:<email>`), which a file system grants its secret to. `serviceAccountId` (the account's own
   * literal ID) names those grants.
   */
  | {
    readonly kind: 'gcp-network-tag'; readonly tag: string; readonly networkSelfLink: string; readonly project: string;
    readonly serviceAccountMember: string; readonly serviceAccountId: string;
  }
  /** Hosts on the cluster's mesh (Tailscale), addressed from its range. */
  | { readonly kind: 'mesh'; readonly cidr: string }
  /**
   * Hosts known only by their addresses (a site's own machines, a backend of your own): a server lets the range in.
   * `name` names what admits it, as `groupName` does.
   */
  | { readonly kind: 'address-range'; readonly cidr: string; readonly name: string };

/** Where a client's hosts are, for messages: `on the mesh`, `in an AWS VPC`, `at 10.8.0.0/24`. */
export function clientNetworkShown(net: FileSystemClientNetwork): string {
  switch (net.kind) {
    case 'aws-security-group': return 'in an AWS VPC';
    case 'gcp-network-tag': return 'on Google Cloud';
    case 'mesh': return 'on the mesh';
    case 'address-range': return `at ${net.cidr}`;
  }
}

/** The name every cluster member's client network gives the cluster security group (`FileSystemClientNetwork.groupName`). */
export const CLUSTER_GROUP_NAME = 'ClusterGroup';

/**
 * A construct id for what admits a client, from the client's own stable name: letters and digits only, as ids join
 * into logical IDs.
 */
export function clientIdPart(name: string): string {
  const part = name.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase());
  return part.charAt(0).toUpperCase() + part.slice(1);
}

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

/** An admission made for the first time: the construct-id part it is named by, and the index releases before 0.2 gave it. */
export interface Admission {
  readonly name: string;
  readonly formerIndex: number;
}

/**
 * What a server has let in (client security groups, service accounts granted a key), each once, named by the client's
 * stable name. Releases before 0.2 numbered them in the order they were first admitted; `formerIndex` is that number,
 * for the `moved` block that keeps existing state.
 */
export class Admissions {
  private readonly byName = new Map<string, string>();

  constructor(private readonly server: IConstruct) {}

  /**
   * Admits `identity` (a group ID, an account) under `name`; undefined when it is already in.
   * @throws ConstructPropError naming `client` when `name` already stands for another identity, or `identity` for another name
   */
  admit(client: IConstruct, field: string, name: string, identity: string): Admission | undefined {
    const part = clientIdPart(name);
    const known = this.byName.get(part);
    if (known === identity) return undefined;
    if (known !== undefined) {
      throw new ConstructPropError(client, field, name, `already names another client admitted to ${this.server.node.path}`, 'Give each client its own name');
    }
    if ([...this.byName.values()].includes(identity)) {
      throw new ConstructPropError(client, field, name, `is a second name for a client already admitted to ${this.server.node.path}`, 'Use the same name for the same client everywhere');
    }
    const formerIndex = this.byName.size;
    this.byName.set(part, identity);
    return { name: part, formerIndex };
  }
}
