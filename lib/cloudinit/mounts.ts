/**
 * The node's mount table: which cluster file systems a host mounts at boot, as data the bootstrap's `mounts`
 * step reads (`/etc/cdktf-slurm/mounts.tab`). One line per mount, tab-separated:
 *
 *     kind  source  mount-point  options|-  secret-source|-
 *
 * A file system construct says how it is mounted (kind, source, options, the secret a client needs); the host
 * only carries the table. So a new file system is a new `kind` with its client script, not a change to every
 * host.
 */

/** Client kinds `bootstrap-scripts/mounts.sh` knows; each has its client script. */
export type MountKind = 'nfs' | 'lustre' | 'ceph';

export const MOUNT_KINDS: readonly MountKind[] = ['nfs', 'lustre', 'ceph'];

/** Scripts (below `bootstrap-scripts/`) a host needs for each kind, besides `mounts.sh`. */
export const MOUNT_CLIENT_SCRIPTS: Readonly<Record<MountKind, readonly string[]>> = {
  nfs: ['nfs-client.sh'],
  lustre: ['lustre-client.sh'],
  ceph: ['ceph-client.sh'],
};

/**
 * A source the node reads at boot from the cloud's parameter store, for values known only after apply (an FSx
 * file system's DNS name and mount name) on hosts whose user-data cannot hold Terraform references (EC2's gzip).
 */
export const SSM_SOURCE_PREFIX = 'aws-ssm:';

/**
 * The scripts a host with these mounts runs: `mounts.sh` and its kinds' clients; none without mounts.
 * @param mounts the host's mounts, or `'all'` for hosts whose table is only known at synth but whose scripts
 *   are fixed earlier (Docker and SSH nodes, which have no size budget)
 */
export function mountScripts(mounts: readonly ClusterMount[] | 'all'): string[] {
  const kinds = mounts === 'all' ? MOUNT_KINDS : [...new Set(mounts.map((m) => m.kind))];
  if (kinds.length === 0) return [];
  return ['mounts.sh', ...kinds.flatMap((k) => MOUNT_CLIENT_SCRIPTS[k] ?? [])];
}

/** Where the table lands on the node. */
export const MOUNT_TABLE_PATH = '/etc/cdktf-slurm/mounts.tab';

export interface ClusterMount {
  readonly kind: MountKind;
  /**
   * What mount(8) gets as the source: `server:/path` for NFS, `<nid>@tcp:/<fsname>` for Lustre,
   * `<client>@<fsid>.<fsname>=/<path>` for CephFS; or `aws-ssm:<parameter>` holding it (read at boot).
   */
  readonly source: string;
  /**
   * `source` is a Terraform reference, filled in at plan: only for hosts whose user-data is a Terraform string
   * (Compute Engine metadata), which the file system admitting the host ensures. Its shape is not checked here.
   * @default false
   */
  readonly sourceIsReference?: boolean;
  /** Absolute path on the host. */
  readonly mountPoint: string;
  /**
   * fstab options, comma-separated, no spaces.
   * @default the client script's own (NFS: `_netdev,nofail,vers=4.2,hard,timeo=600,retrans=2`)
   */
  readonly options?: string;
  /**
   * Secret the client needs to mount (a CephFS key; required for `ceph`, refused for the others), as a reference
   * the node resolves with its own identity:
   * `aws-secretsmanager:…`, `gcp-secretmanager:…` or `file:/…`. Never the value.
   * @default none
   */
  readonly secretSource?: string;
  /** Who provides it (a construct path), for messages. */
  readonly origin: string;
}

const PATH = /^(\/[A-Za-z0-9._-]+)+$/;
/** Directories the OS owns; a cluster file system mounted over one of them would hide the system. */
const SYSTEM_DIR = /^\/(bin|boot|dev|etc|lib|lib64|opt|proc|root|run|sbin|sys|tmp|usr|var)(\/|$)/;
const OPTIONS = /^[A-Za-z0-9_.=,:/+-]+$/;
const SECRET_REFERENCE = /^(aws-secretsmanager|gcp-secretmanager):[^\s]+$|^file:(\/[A-Za-z0-9._-]+)+$/;
const HOST = '[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?';
const SOURCE: Readonly<Record<MountKind, { readonly pattern: RegExp; readonly example: string }>> = {
  nfs: { pattern: new RegExp(`^${HOST}:(\\/[A-Za-z0-9._-]+)+$`), example: "'slurm-controller:/shared'" },
  // One or more LNet NIDs (failover servers), then the file system name (at most 8 characters).
  lustre: { pattern: new RegExp(`^${HOST}@tcp[0-9]*(:${HOST}@tcp[0-9]*)*:\\/[A-Za-z0-9_]{1,8}$`), example: "'10.0.0.5@tcp:/lustre'" },
  // The kernel client's device syntax: client name, cluster fsid, file system name, path inside it.
  ceph: {
    pattern: /^[A-Za-z0-9_.-]+@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_.-]+=\/([A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*)?$/,
    example: "'slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/'",
  },
};
const SSM_PARAMETER = /^aws-ssm:(\/[A-Za-z0-9_.-]+)+$/;

/** Why `path` cannot be a mount point, or undefined. */
export function mountPointProblem(path: string): string | undefined {
  if (typeof path !== 'string' || !PATH.test(path) || path.split('/').some((p) => p === '.' || p === '..')) {
    return "must be an absolute path of letters, digits, '.', '_' and '-'";
  }
  if (SYSTEM_DIR.test(path)) return 'is a system directory (or inside one); mounting over it would hide the OS';
  return undefined;
}

/** `a` is `b` or lies below it (`/shared` and `/shared/data`), so mounting one would hide or shadow the other. */
function nested(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Every problem with a host's mounts, each naming the mount's origin, the field, the value and the fix: bad
 * paths, sources, options or secret references, and mount points that are duplicates or nested in one another.
 */
export function mountProblems(mounts: readonly ClusterMount[]): string[] {
  const out: string[] = [];
  mounts.forEach((m, i) => {
    const at = `${m.origin}: mount ${m.kind}`;
    if (!MOUNT_KINDS.includes(m.kind)) {
      out.push(`${at}: kind = ${JSON.stringify(m.kind)}: not a client this release has. Use one of ${MOUNT_KINDS.join(', ')}`);
      return;
    }
    const pointProblem = mountPointProblem(m.mountPoint);
    if (pointProblem) out.push(`${at}: mountPoint = ${JSON.stringify(m.mountPoint)}: ${pointProblem}. Use e.g. '/shared' or '/home'`);
    const source = SOURCE[m.kind];
    if (m.sourceIsReference) {
      if (typeof m.source !== 'string' || m.source === '') out.push(`${at}: source is empty. Give the reference the file system exports`);
    } else if (m.source.startsWith(SSM_SOURCE_PREFIX)) {
      if (!SSM_PARAMETER.test(m.source)) {
        out.push(`${at}: source = ${JSON.stringify(m.source)}: not an SSM parameter reference. Use e.g. 'aws-ssm:/cdktf-slurm/hpc/filesystems/scratch'`);
      }
    } else if (!source.pattern.test(m.source)) {
      out.push(`${at}: source = ${JSON.stringify(m.source)}: not a ${m.kind} source. Use e.g. ${source.example}`);
    }
    if (m.kind === 'ceph') {
      if (m.secretSource === undefined) {
        out.push(`${at}: secretSource = undefined: CephFS needs the client's key. Give a reference to the secret holding it`);
      }
      if (!/(^|,)mon_addr=[^,]+/.test(m.options ?? '')) {
        out.push(`${at}: options = ${JSON.stringify(m.options)}: CephFS needs mon_addr=<monitor>[/<monitor>…]. List the cluster's monitors`);
      }
    } else if (m.secretSource !== undefined) {
      out.push(`${at}: secretSource is set, but ${m.kind} mounts take no secret. Drop it`);
    }
    if (m.options !== undefined && (m.options === '' || !OPTIONS.test(m.options))) {
      out.push(`${at}: options = ${JSON.stringify(m.options)}: must be comma-separated fstab options without spaces. E.g. 'ro,noatime'`);
    }
    if (m.secretSource !== undefined && !SECRET_REFERENCE.test(m.secretSource)) {
      // Never echo what may be the secret itself.
      out.push(`${at}: secretSource = <${m.secretSource.length} characters>: not a secret reference. ` +
        "Give 'aws-secretsmanager:<name>', 'gcp-secretmanager:projects/P/secrets/S' or 'file:/path', never the value");
    }
    for (const other of mounts.slice(0, i)) {
      if (nested(m.mountPoint, other.mountPoint)) {
        const same = m.mountPoint === other.mountPoint;
        out.push(`${at}: mountPoint = ${JSON.stringify(m.mountPoint)}: ${same ? 'is also' : 'overlaps'} the mount point ` +
          `${JSON.stringify(other.mountPoint)} of ${other.origin} on the same hosts. Give each file system its own, non-nested directory`);
      }
    }
  });
  return out;
}

/**
 * The table's text; empty when there are no mounts.
 * @throws with every problem `mountProblems` finds
 */
export function renderMountTable(mounts: readonly ClusterMount[]): string {
  const problems = mountProblems(mounts);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  return mounts.map((m) => [m.kind, m.source, m.mountPoint, m.options ?? '-', m.secretSource ?? '-'].join('\t') + '\n').join('');
}
