/**
 * The NFS server's export table: which directories a host (the controller) shares, as data the bootstrap's
 * `nfs-server` step reads (`/etc/cdktf-slurm/exports.tab`). One line per export, tab-separated:
 *
 *     path  client-cidrs(comma-separated)  mode  device|-  label|-
 *
 * `device` is the block device the cloud attaches the export's own disk as (`/dev/sdg` on EC2,
 * `/dev/disk/by-id/google-<name>` on Compute Engine); the step formats it (ext4, `label`) only when blank and
 * mounts it at `path`. `-` keeps the directory on the root disk.
 */
import { CidrError, parseIpv4Cidr } from '../net/cidr';
import { mountPointProblem } from './mounts';

/** Where the table lands on the server. */
export const EXPORT_TABLE_PATH = '/etc/cdktf-slurm/exports.tab';

/** The options every client range gets (the server script owns them): root on a client is nobody here. */
export const NFS_EXPORT_OPTIONS = 'rw,sync,no_subtree_check,root_squash';

/** Client ranges wider than this are refused: an export is for the cluster's subnets or its mesh. */
export const NFS_EXPORT_MIN_PREFIX = 8;

export interface NfsExport {
  /** Exported directory on the server (and, by default, the clients' mount point). */
  readonly path: string;
  /** IPv4 ranges allowed to mount it: the cluster's subnets and mesh range. */
  readonly clients: readonly string[];
  /** Octal mode of the directory when the step creates it. */
  readonly mode: string;
  /** The export's own disk. @default none (the directory stays on the root disk) */
  readonly disk?: { readonly device: string; readonly label: string };
  /** Who asked for it (a construct path), for messages. */
  readonly origin: string;
}

const DEVICE = /^\/dev\/((sd|xvd)[f-p]|disk\/by-id\/google-[a-z]([-a-z0-9]*[a-z0-9])?)$/;
/** ext4 labels hold 16 bytes. */
const LABEL = /^[a-z0-9][a-z0-9-]{0,15}$/;

/** Every problem with a host's exports, each naming the origin, the field, the value and the fix. */
export function exportProblems(table: readonly NfsExport[]): string[] {
  const out: string[] = [];
  table.forEach((e, i) => {
    const at = `${e.origin}: NFS export`;
    const pathProblem = mountPointProblem(e.path);
    if (pathProblem) out.push(`${at}: path = ${JSON.stringify(e.path)}: ${pathProblem}. Use e.g. '/home' or '/shared'`);
    if (!Array.isArray(e.clients) || e.clients.length === 0) {
      out.push(`${at}: clients = ${JSON.stringify(e.clients)}: no client range. Export to the cluster's subnets or mesh range`);
    }
    for (const c of e.clients ?? []) {
      let prefix: number;
      try {
        prefix = parseIpv4Cidr(c).prefixLength;
      } catch (err) {
        if (!(err instanceof CidrError)) throw err;
        out.push(`${at}: clients = ${JSON.stringify(c)}: not an IPv4 CIDR (${err.message}; ${err.fix}). Give ranges such as '10.0.0.0/16', never a wildcard or host name`);
        continue;
      }
      if (prefix < NFS_EXPORT_MIN_PREFIX) {
        out.push(`${at}: clients = ${JSON.stringify(c)}: wider than /${NFS_EXPORT_MIN_PREFIX}. Export to the cluster's subnets or the mesh range only`);
      }
    }
    if (typeof e.mode !== 'string' || !/^[0-7]{3,4}$/.test(e.mode)) {
      out.push(`${at}: mode = ${JSON.stringify(e.mode)}: not an octal mode. Use e.g. '0755' (homes) or '1777' (a shared scratch)`);
    }
    if (e.disk) {
      if (!DEVICE.test(e.disk.device)) {
        out.push(`${at}: disk.device = ${JSON.stringify(e.disk.device)}: not a data disk name. Use /dev/sdf…/dev/sdp (EC2) or /dev/disk/by-id/google-<name>`);
      }
      if (!LABEL.test(e.disk.label)) {
        out.push(`${at}: disk.label = ${JSON.stringify(e.disk.label)}: an ext4 label of lower-case letters, digits and '-', at most 16. Use e.g. 'nfs-home'`);
      }
    }
    for (const other of table.slice(0, i)) {
      if (e.path === other.path || e.path.startsWith(`${other.path}/`) || other.path.startsWith(`${e.path}/`)) {
        out.push(`${at}: path = ${JSON.stringify(e.path)}: ${e.path === other.path ? 'is also' : 'overlaps'} the export ${JSON.stringify(other.path)} of ${other.origin}. Export each directory once, none inside another`);
      }
      if (e.disk && other.disk && e.disk.device === other.disk.device) {
        out.push(`${at}: disk.device = ${JSON.stringify(e.disk.device)}: also the disk of ${other.origin}. Give each export its own disk`);
      }
      if (e.disk && other.disk && e.disk.label === other.disk.label) {
        out.push(`${at}: disk.label = ${JSON.stringify(e.disk.label)}: also the label of ${other.origin}'s disk. Give each export its own name`);
      }
    }
  });
  return out;
}

/**
 * The table's text; empty when there are no exports.
 * @throws with every problem `exportProblems` finds
 */
export function renderExportTable(table: readonly NfsExport[]): string {
  const problems = exportProblems(table);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return table.map((e) => [e.path, e.clients.join(','), e.mode, e.disk?.device ?? '-', e.disk?.label ?? '-'].join('\t') + '\n').join('');
}
