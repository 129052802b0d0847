/**
 * Apptainer, run unprivileged (user namespaces, no setuid helper), as a container option beside enroot/pyxis: its
 * settings, the node.env variables `bootstrap-scripts/containers/apptainer.sh` reads, and an optional cluster
 * registry that `docker://` pulls go through.
 *
 * The registry is written as a containers-registries.conf(5) drop-in: Apptainer 1.3 resolves `docker://` through
 * containers/image, which reads `/etc/containers/registries.conf.d/*.conf` (mirrors, and `insecure` per registry).
 * Apptainer 1.4.0 replaced that library and stopped reading mirrors (apptainer issue #2919, restored by PR #3081),
 * so early 1.4 releases are refused with a registry.
 *
 * enroot gets no registry file: it has no setting for a default registry or a mirror (Docker Hub,
 * registry-1.docker.io, is fixed in its docker.sh), so users name the cluster registry in the image URI,
 * `docker://<host>#image` (pyxis: `--container-image=<host>#image`). Its one HTTP switch, ENROOT_ALLOW_HTTP, moves
 * every registry to plain HTTP, so it is not set cluster-wide for an insecure registry.
 */
import type { NodeFile } from './node-bootstrap';

/** A release whose GitHub .deb ships a working AppArmor profile for Ubuntu 24.04 (1.3.3's broke, fixed in 1.3.4). */
export const APPTAINER_MIN_VERSION = '1.3.4';
/** The release the examples and tests pin; the last 1.3 (containers/image) release. */
export const APPTAINER_RECOMMENDED_VERSION = '1.3.6';
/** cloud-init stages the rendered drop-in here; apptainer.sh installs it as {@link APPTAINER_REGISTRIES_CONF_PATH}. */
export const STAGED_APPTAINER_REGISTRIES_CONF_PATH = '/etc/cdktf-slurm/apptainer-registries.conf';
export const APPTAINER_REGISTRIES_CONF_PATH = '/etc/containers/registries.conf.d/60-cdktf-slurm-registry.conf';

/** Docker Hub's own names: a mirror of Docker Hub cannot be Docker Hub. */
const DOCKER_HUB = ['docker.io', 'registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com'];
/** Internet registries people are likely to type; any of them over plain HTTP would cross the internet. */
const PUBLIC_REGISTRIES = [...DOCKER_HUB, 'nvcr.io', 'ghcr.io', 'quay.io', 'gcr.io', 'mirror.gcr.io', 'registry.k8s.io', 'mcr.microsoft.com', 'public.ecr.aws'];
/** DNS suffixes that only resolve inside a site or a cloud network. */
const PRIVATE_SUFFIXES = ['.internal', '.local', '.lan', '.localdomain', '.home.arpa'];

/** A registry inside the cluster that `docker://` pulls use. */
export interface RegistryMirror {
  /**
   * `host[:port]` of the registry: an address inside the cluster (private IP, mesh address or internal DNS name),
   * no scheme, no path. Docker Hub images (`docker://alpine`) are pulled from it first, Docker Hub after it, and
   * images can be named by it directly (`docker://<host>/team/image`).
   */
  readonly host: string;
  /**
   * Plain HTTP (and unverified TLS) to this registry only. For a registry inside the cluster without a certificate;
   * refused for public hosts.
   * @default false (HTTPS)
   */
  readonly insecure?: boolean;
}

export interface ApptainerSettings {
  /** Apptainer release installed from its GitHub .deb, e.g. {@link APPTAINER_RECOMMENDED_VERSION}. */
  readonly version: string;
  /**
   * SHA-256 of `apptainer_<version>_amd64.deb`. Required: the node refuses the download without it. Take it from
   * the release's `sha256sums` asset, or run `sha256sum` on a copy fetched from a trusted machine.
   */
  readonly sha256?: string;
  /**
   * The cluster registry `docker://` pulls go through.
   * @default none (pulls go to the registries the image URIs name)
   */
  readonly registry?: RegistryMirror;
}

export interface ApptainerNodeSetupOptions {
  /**
   * Says whether the checksum is a value the deployment tool fills in later (a Terraform variable reference in
   * user-data that is a Terraform string): it is written as given and checked by that variable.
   * @default none: the checksum must be a literal SHA-256
   */
  readonly isDeferred?: (value: string) => boolean;
}

/** What a host with Apptainer gets: node.env entries and the staged files. */
export interface ApptainerNodeSetup {
  readonly env: Record<string, string>;
  readonly files: NodeFile[];
}

const RELEASE = /^(\d+)\.(\d+)\.(\d+)$/;
const SHA256 = /^[0-9a-f]{64}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The GitHub release asset apptainer.sh downloads. */
export function apptainerDebUrl(version: string): string {
  return `https://github.com/apptainer/apptainer/releases/download/v${version}/apptainer_${version}_amd64.deb`;
}

/**
 * node.env (APPTAINER_VERSION, APPTAINER_SHA256, and with a registry APPTAINER_REGISTRY and
 * APPTAINER_REGISTRY_INSECURE) and the staged registries.conf drop-in. Throws, naming `where`, on bad settings.
 */
export function apptainerNodeSetup(
  settings: ApptainerSettings,
  where = 'ApptainerSettings',
  options: ApptainerNodeSetupOptions = {},
): ApptainerNodeSetup {
  if (settings === null || typeof settings !== 'object') {
    throw new Error(`${where}: apptainer = ${JSON.stringify(settings)}: not an object. Give { version, sha256 }, e.g. { version: '${APPTAINER_RECOMMENDED_VERSION}', sha256: '<64 hex digits>' }.`);
  }
  const version = versionOf(settings.version, where);
  const env: Record<string, string> = { APPTAINER_VERSION: version, APPTAINER_SHA256: sha256Of(settings.sha256, version, where, options) };
  const files: NodeFile[] = [];
  if (settings.registry !== undefined) {
    const mirror = mirrorOf(settings.registry, where);
    // 1.4.0 dropped registries.conf mirrors (apptainer issue #2919); a 1.4.5 report shows them read again.
    if (compareVersions(version, '1.4.0') >= 0 && compareVersions(version, '1.4.5') < 0) {
      throw new Error(
        `${where}: apptainer.version = ${JSON.stringify(version)} with apptainer.registry: Apptainer 1.4.0 stopped reading ` +
          `registry mirrors from /etc/containers/registries.conf.d (apptainer issue #2919), so pulls would bypass ` +
          `${mirror.host}. Pin ${APPTAINER_RECOMMENDED_VERSION}, or 1.4.5 or later.`,
      );
    }
    env.APPTAINER_REGISTRY = mirror.host;
    env.APPTAINER_REGISTRY_INSECURE = mirror.insecure ? 'yes' : 'no';
    files.push(...registryMirrorFiles(mirror, where));
  }
  return { env, files };
}

/** The staged registries.conf drop-in for `mirror` (validated). */
export function registryMirrorFiles(mirror: RegistryMirror, where = 'RegistryMirror'): NodeFile[] {
  return [{ path: STAGED_APPTAINER_REGISTRIES_CONF_PATH, content: renderApptainerRegistriesConf(mirror, where), permissions: '0644' }];
}

/**
 * The containers-registries.conf(5) drop-in: Docker Hub's namespace gets the cluster registry as its mirror (Docker
 * Hub stays the fallback), and an insecure registry also gets its own entry so images named by its address may use
 * plain HTTP. `insecure` applies to those two entries only, never to other registries.
 */
export function renderApptainerRegistriesConf(mirror: RegistryMirror, where = 'RegistryMirror'): string {
  const { host, insecure } = mirrorOf(mirror, where);
  const lines = [
    '# Written by cdktf-slurm (lib/cloudinit/apptainer.ts); do not edit, it is replaced at boot.',
    '# Apptainer resolves docker:// through containers/image, which reads this drop-in.',
    '[[registry]]',
    'prefix = "docker.io"',
    'location = "docker.io"',
    '',
    '[[registry.mirror]]',
    `location = "${host}"`,
    `insecure = ${insecure}`,
  ];
  if (insecure) lines.push('', '[[registry]]', `location = "${host}"`, 'insecure = true');
  return `${lines.join('\n')}\n`;
}

function versionOf(value: unknown, where: string): string {
  const m = typeof value === 'string' ? RELEASE.exec(value) : null;
  if (!m) {
    throw new Error(`${where}: apptainer.version = ${JSON.stringify(value)}: not a release number. Pin a release such as '${APPTAINER_RECOMMENDED_VERSION}'.`);
  }
  if (compareVersions(value as string, APPTAINER_MIN_VERSION) < 0) {
    throw new Error(
      `${where}: apptainer.version = ${JSON.stringify(value)}: older than ${APPTAINER_MIN_VERSION}, the first release whose ` +
        `.deb carries a working AppArmor profile, without which Ubuntu 24.04 refuses Apptainer user namespaces. ` +
        `Pin ${APPTAINER_RECOMMENDED_VERSION}.`,
    );
  }
  return value as string;
}

function sha256Of(value: unknown, version: string, where: string, options: ApptainerNodeSetupOptions): string {
  if (typeof value === 'string' && options.isDeferred?.(value)) return value;
  if (value === undefined) {
    throw new Error(
      `${where}: apptainer.sha256 is not set: the node installs apptainer_${version}_amd64.deb from GitHub only after ` +
        `checking its SHA-256. Copy the sum from the release's sha256sums asset (${apptainerDebUrl(version).replace(/[^/]+$/, 'sha256sums')}) ` +
        `or run sha256sum on the .deb fetched from a trusted machine.`,
    );
  }
  if (typeof value !== 'string' || !SHA256.test(value)) {
    throw new Error(
      `${where}: apptainer.sha256 = ${JSON.stringify(value)}: not a SHA-256 sum. Give the 64 lower-case hex digits ` +
        `sha256sum prints for apptainer_${version}_amd64.deb.`,
    );
  }
  return value;
}

function mirrorOf(mirror: unknown, where: string): { host: string; insecure: boolean } {
  if (mirror === null || typeof mirror !== 'object' || Array.isArray(mirror)) {
    throw new Error(`${where}: apptainer.registry = ${JSON.stringify(mirror)}: not an object. Give { host: '10.0.0.5:5000' } (and insecure: true for plain HTTP).`);
  }
  const { host, insecure = false } = mirror as RegistryMirror;
  const hostName = parseHost(host, where);
  if (typeof insecure !== 'boolean') {
    throw new Error(`${where}: apptainer.registry.insecure = ${JSON.stringify(insecure)}: not a boolean. Use true (plain HTTP) or false (HTTPS).`);
  }
  const bare = hostName.toLowerCase().replace(/\.$/, '');
  if (DOCKER_HUB.includes(bare)) {
    throw new Error(
      `${where}: apptainer.registry.host = ${JSON.stringify(host)}: that is Docker Hub itself, which docker:// already ` +
        `pulls from. Give the cluster's own registry or pull-through cache, e.g. '10.0.0.5:5000'.`,
    );
  }
  if (insecure && !isPrivateHost(bare)) {
    const what = PUBLIC_REGISTRIES.includes(bare) || PUBLIC_REGISTRIES.some((r) => bare.endsWith(`.${r}`)) ? 'a public registry' : 'not a private address';
    throw new Error(
      `${where}: apptainer.registry = { host: ${JSON.stringify(host)}, insecure: true }: ${what}, and plain HTTP would ` +
        `send every pull from it unencrypted and unauthenticated across networks you do not control. Drop insecure ` +
        `(HTTPS), or use a registry inside the cluster: a private or mesh IP (10/8, 172.16/12, 192.168/16, ` +
        `100.64/10, fc00::/7), a one-label name, or a name under ${PRIVATE_SUFFIXES.join(', ')}.`,
    );
  }
  return { host, insecure };
}

/** Checks `host[:port]` and returns the host part. */
function parseHost(value: unknown, where: string): string {
  const bad = (why: string): never => {
    throw new Error(`${where}: apptainer.registry.host = ${JSON.stringify(value)}: ${why}. Give host[:port] only, e.g. '10.0.0.5:5000' or 'registry.cluster.internal'.`);
  };
  if (typeof value !== 'string' || value === '') return bad('not a host name');
  if (/\s/.test(value)) return bad('contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return bad('has a scheme; HTTPS or HTTP is chosen by insecure, not by a URL');
  if (value.includes('/')) return bad('has a path; a registry mirror serves the whole registry from its root');
  if (value.includes('@')) return bad('has user info; log in with `apptainer registry login` instead');
  let host = value;
  let port: string | undefined;
  const v6 = /^\[([0-9a-f:.]+)\](?::(\d+))?$/i.exec(value);
  if (v6) {
    [, host, port] = v6;
    if (!host.includes(':')) return bad('is not an IPv6 address inside the brackets');
    host = `[${host.toLowerCase()}]`;
  } else {
    const i = value.lastIndexOf(':');
    if (i >= 0) {
      host = value.slice(0, i);
      port = value.slice(i + 1);
      if (host.includes(':')) return bad('looks like an IPv6 address; write it in brackets, e.g. [fd00::5]:5000');
    }
    const ip = IPV4.exec(host);
    if (ip) {
      if (ip.slice(1).some((o) => Number(o) > 255)) return bad('is not a valid IPv4 address');
    } else if (host.length > 253 || !host.replace(/\.$/, '').split('.').every((l) => LABEL.test(l))) {
      return bad('is not a valid DNS name (letters, digits and hyphens between dots)');
    }
  }
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) return bad('has a port outside 1-65535');
  return host;
}

/** A host that can only be reached from inside the site: private/mesh/loopback IPs and internal DNS names. */
function isPrivateHost(host: string): boolean {
  const ip = IPV4.exec(host);
  if (ip) {
    const [a, b] = ip.slice(1, 3).map(Number);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  if (host.startsWith('[')) {
    const addr = host.slice(1, -1);
    return addr === '::1' || /^f[cd][0-9a-f]{0,2}:/.test(addr);
  }
  if (PUBLIC_REGISTRIES.includes(host)) return false;
  return !host.includes('.') || PRIVATE_SUFFIXES.some((s) => host.endsWith(s));
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}
