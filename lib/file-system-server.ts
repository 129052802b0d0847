/**
 * Where a shared file system's data lives, as the cloud-neutral `LustreFs` and `CephFs` see it. The server's cloud
 * settings live on the cloud's own object (`FsxLustre.of`, `ManagedLustre.of`, `MicroCephServer.onEc2`), or on one
 * that names a file system made elsewhere (`ExistingLustre.at`, `ExistingCephFs.of`); each implements the server
 * interface of its kind. The construct checks what every server shares (name, mount point, options), asks the server
 * to make itself in the construct's scope (so resource addresses stay `<FileSystem>/<Resource>`), and then hands each
 * client that mounts it to the server to admit. A server of your own (another cloud's Lustre, a NetApp) implements
 * the same step in its own folder.
 *
 * This file imports no provider.
 */
import type { Construct, IConstruct } from 'constructs';
import type { FileSystemPart } from './summary/model';
import type { IFileSystemClient } from './constructs/cluster-file-system';
import type { ISlurmController } from './constructs/cluster-interfaces';

/** What a file-system construct asks of its server. */
export interface FileSystemServerRequest {
  /** The cluster it serves; a server on a cloud reads its own kind of controller host (`AwsControllerHost.of`). */
  readonly controller: ISlurmController;
  /** The file system's name in resource names (`scratch`). */
  readonly name: string;
  /**
   * The prop the settings were given in (`fileSystem`, `server`), so messages name `fileSystem.storageCapacityGiB`.
   */
  readonly field: string;
}

/** What the plan summary says of a server (the construct adds the cluster, name and mount point). */
export type FileSystemServerPlan = Pick<FileSystemPart, 'type' | 'capacityGiB' | 'server' | 'priceKey' | 'serverInstanceType'>;

/** A server as it was made: what it tells clients, and how it lets them in. */
export interface IFileSystemServer {
  readonly plan: FileSystemServerPlan;
  /**
   * Lets `client` in (a security-group rule, a grant), once per client; `fileSystem` is the construct, for messages.
   * @throws ConstructPropError naming `client` and its `mounts` when the client cannot reach this server
   */
  admit(client: IFileSystemClient, fileSystem: IConstruct): void;
}

/** A Lustre file system as made (or found): what goes in the clients' mount table. */
export interface IMadeLustre extends IFileSystemServer {
  /** `<nid>@tcp:/<fsname>`, an `aws-ssm:` source the node reads at boot, or a Terraform reference. */
  readonly source: string;
  /** `source` is a Terraform reference (known after apply): only hosts whose user-data takes references may mount it. @default false */
  readonly sourceIsReference?: boolean;
}

/** A Lustre server's settings (`FsxLustre.of`, `ManagedLustre.of`, `ExistingLustre.at`). */
export interface ILustreServer {
  /** How messages show the settings, e.g. `FsxLustre.of({ storageCapacityGiB: 1200 })`. */
  readonly shown: string;
  /** Makes the file system in `scope` (the `LustreFs`); fails naming `request.field` on a bad setting. */
  make(scope: Construct, request: FileSystemServerRequest): IMadeLustre;
}

/** A CephFS as made (or found): what goes in the clients' mount table. */
export interface IMadeCephFs extends IFileSystemServer {
  /** The mount source (`<client>@<fsid>.<fs>=/`), or an `aws-ssm:` source the node reads once the server is up. */
  readonly source: string;
  /** Monitor addresses for `mon_addr=` (`10.0.1.20:6789`, `/`-joined by the construct). */
  readonly monitors: readonly string[];
  /** Where clients read the cephx key at boot (a node.env secret source); never the key. */
  readonly keySource: string;
}

/** A CephFS server's settings (`MicroCephServer.onEc2`, `ExistingCephFs.of`). */
export interface ICephFsServer {
  /** How messages show the settings. */
  readonly shown: string;
  /** Makes (or names) the server in `scope` (the `CephFs`); `fsName` is the file system's name. */
  make(scope: Construct, request: FileSystemServerRequest & { readonly fsName: string }): IMadeCephFs;
}

/**
 * How messages show a settings object: its factory and the settings as the user wrote them in TypeScript
 * (`ManagedLustre.of({ capacityGiB: 9000 })`), so the value in an error can be pasted back. Settings hold no secret
 * (a key is given by its secret's name), and a Terraform token is shown as what it is, not its placeholder text.
 */
export function shownSettings(factory: string, settings: object): string {
  const shown = shownValue(settings);
  return `${factory}(${shown === '{}' ? '' : shown})`;
}

function shownValue(value: unknown): string {
  if (typeof value === 'string') return value.includes('${') ? '<Terraform reference>' : `'${value.replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(shownValue).join(', ')}]`;
  if (value && typeof value === 'object') {
    const inner = Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${shownValue(v)}`);
    return inner.length ? `{ ${inner.join(', ')} }` : '{}';
  }
  return String(value);
}
