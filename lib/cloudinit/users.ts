/**
 * Cluster users: the same accounts (names, UIDs, GIDs, groups, SSH keys) on every host, as data the bootstrap's
 * `users` step reads (`/etc/cdktf-slurm/users.tab`). Identical numbers matter because files on shared storage
 * and Slurm jobs carry UIDs/GIDs, not names. One table, one line per record, tab-separated, first field the kind:
 *
 *     group  name  gid
 *     user   name  uid  primary-gid  supplementary-groups(comma-separated)|-  shell  sudo|-
 *     key    user  public-key-line
 *
 * Every group the step creates has its own `group` line, personal groups included, so the node needs no
 * defaulting rules: declared groups first (in the given order), then personal groups (in user order); each
 * `user` line is followed by its `key` lines. Numbers are fixed by the table; the step never renumbers an existing
 * account, and never deletes one that left the table (it removes that user's keys and sudo rule, and warns).
 */

/** Where the table lands on the node. */
export const USERS_TABLE_PATH = '/etc/cdktf-slurm/users.tab';

/** UIDs/GIDs the table may use: below is the distribution's (system accounts), above is nobody's and systemd's. */
export const CLUSTER_ID_MIN = 1000;
export const CLUSTER_ID_MAX = 59999;

export interface ClusterUser {
  /** Login name: lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32. */
  readonly name: string;
  /**
   * Fixed UID, 1000–59999. Note that cloud images give their default user (`ubuntu`, `admin`) UID 1000, so the
   * node step refuses 1000 there; start at 2000 or so.
   */
  readonly uid: number;
  /**
   * Primary GID. A declared group's GID makes that group primary; any other value is the GID of a personal group
   * named after the user.
   * @default uid (a personal group of the user's name)
   */
  readonly gid?: number;
  /** Supplementary groups, each declared in the groups list. @default none */
  readonly groups?: readonly string[];
  /** One-line OpenSSH public keys (`ssh-ed25519 AAAA… comment`). @default none (no SSH login by key) */
  readonly sshPublicKeys?: readonly string[];
  /** Login shell, an absolute path. @default '/bin/bash' */
  readonly shell?: string;
  /** Passwordless sudo on every host (accounts have no password). @default false */
  readonly sudo?: boolean;
}

export interface ClusterGroup {
  readonly name: string;
  /** Fixed GID, 1000–59999. */
  readonly gid: number;
}

/** Default login shell. */
export const DEFAULT_SHELL = '/bin/bash';

/**
 * Names the distributions, cloud images and this library's daemons already use: an account of that name exists
 * (or will) with its own UID, so a cluster user may not take it. `bootstrap-scripts/users.sh` holds the same list.
 */
export const RESERVED_NAMES: readonly string[] = [
  'root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data',
  'backup', 'list', 'irc', 'gnats', 'nobody', 'nogroup', '_apt', 'messagebus', 'sshd', 'syslog', 'uuidd', 'tcpdump',
  'tss', 'polkitd', 'dnsmasq', 'statd', '_rpc', 'avahi', 'colord', 'rtkit', 'usbmux', 'lxd', 'landscape',
  'pollinate', 'fwupd-refresh', 'chrony', '_chrony', 'ntp', 'systemd-network', 'systemd-resolve',
  'systemd-timesync', 'systemd-journal', 'systemd-coredump', 'slurm', 'munge', 'mysql', 'nvidia-persistenced',
  'ubuntu', 'debian', 'admin', 'ec2-user', 'centos', 'rocky', 'cloud-user',
  'adm', 'tty', 'disk', 'kmem', 'dialout', 'fax', 'voice', 'cdrom', 'floppy', 'tape', 'sudo', 'audio', 'dip',
  'operator', 'src', 'shadow', 'utmp', 'video', 'sasl', 'plugdev', 'staff', 'users', 'input', 'kvm', 'render',
  'netdev', 'docker', 'wheel', 'crontab', 'ssh', '_ssh', 'systemd-journal-remote', 'ssl-cert',
];

const NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
const SHELL = /^(\/[A-Za-z0-9._+-]+)+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Public key types sshd accepts in authorized_keys, and what their base64 blob must hold after the type. */
const KEY_TYPES: Readonly<Record<string, (r: BlobReader) => string | undefined>> = {
  'ssh-ed25519': (r) => (r.string()?.length === 32 ? undefined : 'the ed25519 key is not 32 bytes'),
  'ssh-rsa': (r) => {
    if (!r.string()) return 'the RSA exponent is missing';
    const n = r.string();
    if (!n) return 'the RSA modulus is missing';
    const bits = mpintBits(n);
    return bits >= 2048 ? undefined : `the RSA modulus is ${bits} bits; OpenSSH and this library want at least 2048 (prefer ed25519)`;
  },
  'ecdsa-sha2-nistp256': (r) => ecdsa(r, 'nistp256'),
  'ecdsa-sha2-nistp384': (r) => ecdsa(r, 'nistp384'),
  'ecdsa-sha2-nistp521': (r) => ecdsa(r, 'nistp521'),
  'sk-ssh-ed25519@openssh.com': (r) => (r.string()?.length === 32 && r.string() ? undefined : 'the security-key ed25519 blob is incomplete'),
  'sk-ecdsa-sha2-nistp256@openssh.com': (r) => ecdsa(r, 'nistp256') ?? (r.string() ? undefined : 'the security-key application is missing'),
};

/** Reads SSH wire-format strings (uint32 length, bytes) from a key blob. */
class BlobReader {
  private at = 0;
  constructor(private readonly blob: Buffer) {}
  string(): Buffer | undefined {
    if (this.at + 4 > this.blob.length) return undefined;
    const len = this.blob.readUInt32BE(this.at);
    if (this.at + 4 + len > this.blob.length) return undefined;
    const out = this.blob.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return out;
  }
  get done(): boolean {
    return this.at === this.blob.length;
  }
}

function mpintBits(n: Buffer): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + n[i].toString(2).length;
}

function ecdsa(r: BlobReader, curve: string): string | undefined {
  const c = r.string()?.toString('latin1');
  if (c !== curve) return `the blob names curve ${JSON.stringify(c)}, not ${curve}`;
  return r.string() ? undefined : 'the ECDSA point is missing';
}

/** A value that may hold a private key: never echoed, whatever else is wrong with it. */
function looksPrivate(s: string): boolean {
  // The last alternative is base64 of "openssh-key-v1", the start of an OpenSSH private key's body.
  return /PRIVATE KEY|PuTTY-User-Key-File|b3BlbnNzaC1rZXktdjE/.test(s);
}

/** Why `key` is not a one-line OpenSSH public key of a known type, or undefined. Quotes at most its first word. */
export function sshKeyProblem(key: string): string | undefined {
  if (typeof key !== 'string') return 'is not a string';
  if (looksPrivate(key)) return 'is a PRIVATE key';
  const line = key.trim();
  if (/[\r\n]/.test(line)) return 'spans several lines; an authorized_keys entry is one line';
  if (/[\t\x00-\x1f\x7f]/.test(line)) return 'holds a tab or control character';
  const [type, body] = line.split(/ +/);
  if (type === 'ssh-dss') return 'is a DSA key, which OpenSSH 7.0+ refuses; generate an ed25519 key';
  if (!Object.hasOwn(KEY_TYPES, type)) {
    return `starts with ${JSON.stringify(type.slice(0, 40))}, not a key type (${Object.keys(KEY_TYPES).join(', ')}); authorized_keys options are not supported`;
  }
  if (body === undefined || !BASE64.test(body) || body.length % 4 !== 0) return `has no base64 key body after ${type}`;
  const reader = new BlobReader(Buffer.from(body, 'base64'));
  const inner = reader.string()?.toString('latin1');
  if (inner !== type) return `says ${type} but its body holds ${inner === undefined ? 'no key' : JSON.stringify(inner)}; it was cut or mixed up`;
  const why = KEY_TYPES[type](reader) ?? (reader.done ? undefined : 'its body has bytes after the key; it was mixed up with something');
  return why;
}

/** The part of a bad key the messages may show: its start and its length. */
function keyShown(key: string): string {
  const s = String(key);
  return s.length > 40 ? `${JSON.stringify(s.slice(0, 32) + '…')} (${s.length} characters)` : JSON.stringify(s);
}

function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !NAME.test(name)) {
    return "must be 1-32 lower-case letters, digits, '_' or '-', starting with a letter or '_' (what useradd and Slurm accept)";
  }
  if (RESERVED_NAMES.includes(name)) return 'is a system or image account name that exists with its own ID';
  return undefined;
}

function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'number' || !Number.isInteger(id)) return 'is not a whole number';
  if (id < CLUSTER_ID_MIN) return `is below ${CLUSTER_ID_MIN}, the distribution's range for system accounts`;
  if (id > CLUSTER_ID_MAX) return `is above ${CLUSTER_ID_MAX}: 60000 and up belong to nobody (65534), systemd's dynamic users and container ranges`;
  return undefined;
}

/** The group a user's primary GID names: a declared group when its GID matches, else the personal group. */
function primaryGroup(u: ClusterUser, groups: readonly ClusterGroup[]): { name: string; gid: number; personal: boolean } {
  const gid = u.gid ?? u.uid;
  const declared = u.gid !== undefined ? groups.find((g) => g.gid === u.gid) : undefined;
  return declared ? { name: declared.name, gid, personal: false } : { name: u.name, gid, personal: true };
}

/**
 * Every problem with the cluster's users and groups, each naming the origin, the field, the bad value and the fix:
 * names useradd or Slurm refuse or the system owns, IDs outside 1000–59999, duplicate names or IDs (personal groups
 * included), undeclared supplementary groups, shells that are no absolute path, and SSH keys that are not one-line
 * public keys (a private key is named as such and never echoed).
 */
export function userProblems(users: readonly ClusterUser[], groups: readonly ClusterGroup[], origin: string): string[] {
  const out: string[] = [];
  const groupNames = new Map<string, string>();
  const gids = new Map<number, string>();

  groups.forEach((g, i) => {
    const at = `${origin}: groups[${i}]`;
    const np = nameProblem(g.name);
    if (np) out.push(`${at}.name = ${JSON.stringify(g.name)}: ${np}. Use a name such as 'ml-team'`);
    const ip = idProblem(g.gid);
    if (ip) out.push(`${at}.gid = ${JSON.stringify(g.gid)}: ${ip}. Use a GID in ${CLUSTER_ID_MIN}–${CLUSTER_ID_MAX}`);
    const sameName = groupNames.get(g.name);
    if (sameName) out.push(`${at}.name = ${JSON.stringify(g.name)}: also ${sameName}. Declare each group once`);
    else groupNames.set(g.name, `groups[${i}]`);
    const sameGid = gids.get(g.gid);
    if (sameGid) out.push(`${at}.gid = ${g.gid}: also the GID of ${sameGid}. Give each group its own GID`);
    else gids.set(g.gid, `groups[${i}] (${g.name})`);
  });

  const userNames = new Map<string, string>();
  const uids = new Map<number, string>();
  users.forEach((u, i) => {
    const at = `${origin}: users[${i}]`;
    const np = nameProblem(u.name);
    if (np) out.push(`${at}.name = ${JSON.stringify(u.name)}: ${np}. Use a name such as 'alice'`);
    const up = idProblem(u.uid);
    if (up) out.push(`${at}.uid = ${JSON.stringify(u.uid)}: ${up}. Use a UID in ${CLUSTER_ID_MIN}–${CLUSTER_ID_MAX}`);
    const gp = u.gid === undefined ? undefined : idProblem(u.gid);
    if (gp) out.push(`${at}.gid = ${JSON.stringify(u.gid)}: ${gp}. Use a declared group's GID, or a GID in ${CLUSTER_ID_MIN}–${CLUSTER_ID_MAX} for a personal group`);
    const sameName = userNames.get(u.name);
    if (sameName) out.push(`${at}.name = ${JSON.stringify(u.name)}: also ${sameName}. Declare each user once`);
    else userNames.set(u.name, `users[${i}]`);
    const sameUid = uids.get(u.uid);
    if (sameUid) out.push(`${at}.uid = ${u.uid}: also the UID of ${sameUid}. Give each user its own UID`);
    else uids.set(u.uid, `users[${i}] (${u.name})`);

    // A duplicate user's personal group clashes too; one message is enough.
    const primary = primaryGroup(u, groups);
    if (primary.personal && !up && !gp && !sameName && !(sameUid && u.gid === undefined)) {
      const field = u.gid === undefined ? `gid (default: uid ${u.uid})` : `gid = ${u.gid}`;
      const byName = groupNames.get(u.name);
      const byGid = gids.get(primary.gid);
      if (byName) {
        out.push(`${at}.${field}: the personal group ${JSON.stringify(u.name)} would clash with ${byName} of the same name. ` +
          `Set gid to that group's GID to make it primary, or rename one`);
      } else {
        groupNames.set(u.name, `the personal group of users[${i}]`);
      }
      if (byGid) {
        out.push(`${at}.${field}: the personal group would take the GID of ${byGid}. ` +
          (u.gid === undefined ? 'Set gid explicitly (that GID makes the group primary)' : 'Share a group by declaring it in groups and using its GID') +
          ', or choose a free GID');
      } else {
        gids.set(primary.gid, `the personal group of users[${i}] (${u.name})`);
      }
    }

    (u.groups ?? []).forEach((g, k) => {
      if (!groups.some((d) => d.name === g)) {
        out.push(`${at}.groups[${k}] = ${JSON.stringify(g)}: not a declared group, so it has no fixed GID. Add { name: ${JSON.stringify(g)}, gid: … } to groups`);
      } else if ((u.groups ?? []).indexOf(g) !== k) {
        out.push(`${at}.groups[${k}] = ${JSON.stringify(g)}: listed twice. Drop the duplicate`);
      }
    });

    if (u.shell !== undefined && (typeof u.shell !== 'string' || !SHELL.test(u.shell) || u.shell.split('/').includes('..'))) {
      out.push(`${at}.shell = ${JSON.stringify(u.shell)}: not an absolute path. Use e.g. '/bin/bash' or '/usr/bin/zsh'`);
    }
    if (u.sudo !== undefined && typeof u.sudo !== 'boolean') {
      out.push(`${at}.sudo = ${JSON.stringify(u.sudo)}: not a boolean. Use true or false`);
    }

    (u.sshPublicKeys ?? []).forEach((key, k) => {
      const f = `${at}.sshPublicKeys[${k}]`;
      if (typeof key === 'string' && looksPrivate(key)) {
        out.push(`${f} = <private key, not shown>: this is a PRIVATE key. Give its public half (ssh-keygen -y -f <file> prints it), ` +
          'and treat the private key as exposed: replace it');
        return;
      }
      const kp = sshKeyProblem(key);
      if (kp) out.push(`${f} = ${keyShown(key)}: ${kp}. Give the one-line public key, e.g. the content of ~/.ssh/id_ed25519.pub`);
    });
  });
  return out;
}

/**
 * The table's text; empty when there are no users and no groups.
 * @throws with every problem `userProblems` finds
 */
export function renderUsersTable(users: readonly ClusterUser[], groups: readonly ClusterGroup[], origin = 'users'): string {
  const problems = userProblems(users, groups, origin);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const lines: string[][] = groups.map((g) => ['group', g.name, String(g.gid)]);
  for (const u of users) {
    const p = primaryGroup(u, groups);
    if (p.personal) lines.push(['group', p.name, String(p.gid)]);
  }
  for (const u of users) {
    const p = primaryGroup(u, groups);
    const supplementary = u.groups && u.groups.length > 0 ? u.groups.join(',') : '-';
    lines.push(['user', u.name, String(u.uid), String(p.gid), supplementary, u.shell ?? DEFAULT_SHELL, u.sudo ? 'sudo' : '-']);
    for (const key of u.sshPublicKeys ?? []) lines.push(['key', u.name, key.trim()]);
  }
  return lines.map((l) => l.join('\t') + '\n').join('');
}
