/**
 * enroot, NVIDIA's unprivileged container runtime that pyxis drives, on GPU nodes: its settings, the
 * `/etc/enroot/enroot.conf` that puts its storage on the local NVMe scratch, and the node.env variables
 * `bootstrap-scripts/containers/enroot-pyxis.sh` reads.
 *
 * enroot reads enroot.conf as `KEY value` lines and expands each value with the shell for the user running it,
 * so one file gives every user their own directories (`${UID}`, `$(id -u)`, `$(id -g)`).
 */
import { PYXIS_DEFAULT_VERSION, renderPlugstackConf, renderPyxisConf } from '../slurm/render-plugstack-conf';
import type { NodeFile, SlurmFile } from './node-bootstrap';

/**
 * enroot release installed from NVIDIA's GitHub .debs. 3.5.0 is the first whose .deb ships the AppArmor profile
 * Ubuntu 24.04 needs for unprivileged user namespaces (enroot issue #201).
 */
export const ENROOT_DEFAULT_VERSION = '3.5.0';
/** Where the GPU node's local NVMe RAID0 is mounted (bootstrap-scripts/gcp/localssd-raid.sh). */
export const DEFAULT_LOCAL_SCRATCH = '/mnt/localssd';
/** cloud-init stages the rendered file here; enroot-pyxis.sh installs it as {@link ENROOT_CONF_PATH}. */
export const STAGED_ENROOT_CONF_PATH = '/etc/cdktf-slurm/enroot.conf';
export const ENROOT_CONF_PATH = '/etc/enroot/enroot.conf';

/**
 * SHA-256 sums of the downloads. NVIDIA publishes none for the enroot .debs or pyxis's source tarball, so the
 * node refuses to install without them: take them from the GitHub release page (each asset shows its sha256)
 * or run `sha256sum` on files fetched once from a trusted machine.
 */
export interface EnrootChecksums {
  /**
   * SHA-256 of `enroot_<version>-1_amd64.deb`.
   * @default none (amd64 nodes stop before installing)
   */
  readonly enrootAmd64?: string;
  /**
   * SHA-256 of `enroot+caps_<version>-1_amd64.deb`.
   * @default none (amd64 nodes stop before installing)
   */
  readonly enrootCapsAmd64?: string;
  /**
   * SHA-256 of `enroot_<version>-1_arm64.deb`.
   * @default none (arm64 nodes stop before installing)
   */
  readonly enrootArm64?: string;
  /**
   * SHA-256 of `enroot+caps_<version>-1_arm64.deb`.
   * @default none (arm64 nodes stop before installing)
   */
  readonly enrootCapsArm64?: string;
  /**
   * SHA-256 of pyxis's `v<pyxisVersion>.tar.gz` source archive.
   * @default none (nodes stop before building pyxis)
   */
  readonly pyxisSource?: string;
}

export interface EnrootSettings {
  /**
   * enroot release.
   * @default ENROOT_DEFAULT_VERSION ('3.5.0')
   */
  readonly version?: string;
  /**
   * pyxis release built against the node's Slurm headers.
   * @default PYXIS_DEFAULT_VERSION ('0.20.0')
   */
  readonly pyxisVersion?: string;
  /**
   * Local scratch mount (the NVMe RAID0) the default paths below live on.
   * @default '/mnt/localssd'
   */
  readonly localScratch?: string;
  /**
   * ENROOT_RUNTIME_PATH: enroot's per-user working directory. enroot creates it. For this and the paths below,
   * the node makes the directory above the per-user part only when it lies below `localScratch`; elsewhere it
   * must already exist and be writable by users.
   * @default `${localScratch}/enroot/runtime/user-${UID}`
   */
  readonly runtimePath?: string;
  /**
   * ENROOT_CACHE_PATH: downloaded image layers. Per user, so one user cannot plant layers another imports.
   * @default `${localScratch}/enroot/cache/user-${UID}`
   */
  readonly cachePath?: string;
  /**
   * ENROOT_DATA_PATH: the unpacked root filesystems of running containers. enroot creates it.
   * @default `${localScratch}/enroot/data/user-${UID}`
   */
  readonly dataPath?: string;
  /**
   * ENROOT_TEMP_PATH: scratch for image conversion. enroot does not create it, so the default is one shared
   * sticky directory (like /tmp) that the node script makes.
   * @default `${localScratch}/enroot/tmp`
   */
  readonly tempPath?: string;
  /**
   * ENROOT_REMAP_ROOT: make the user root inside containers by default (no extra privilege on the host).
   * @default not written (enroot's default: no)
   */
  readonly remapRoot?: boolean;
  /**
   * SHA-256 sums the node checks the downloads against.
   * @default none (the node stops with the fix in its log)
   */
  readonly checksums?: EnrootChecksums;
}

const RELEASE = /^\d+\.\d+\.\d+$/;
const SHA256 = /^[0-9a-f]{64}$/;
/** node.env values must stay plain: no quoting, no expansion. */
const PLAIN_VALUE = /^[A-Za-z0-9/:._@-]+$/;
const STATIC_PATH = /^\/[A-Za-z0-9/._@+-]*$/;
/** The per-user expansions enroot's shell evaluation supports and we allow. */
const USER_PARTS = ['${UID}', '$(id -u)', '$(id -g)'] as const;

const PATH_KEYS = [
  ['runtimePath', 'ENROOT_RUNTIME_PATH', 'runtime/user-${UID}'],
  ['cachePath', 'ENROOT_CACHE_PATH', 'cache/user-${UID}'],
  ['dataPath', 'ENROOT_DATA_PATH', 'data/user-${UID}'],
  ['tempPath', 'ENROOT_TEMP_PATH', 'tmp'],
] as const;

type PathField = (typeof PATH_KEYS)[number][0];

/** The four enroot paths after defaults, validated. */
export function enrootPaths(settings: EnrootSettings = {}, where = 'EnrootSettings'): Record<PathField, string> {
  const scratch = localScratchOf(settings, where);
  const out = {} as Record<PathField, string>;
  for (const [field, , suffix] of PATH_KEYS) {
    const value = settings[field] ?? `${scratch}/enroot/${suffix}`;
    assertEnrootPath(where, field, value, `${scratch}/enroot/${suffix}`);
    out[field] = value.replace(/\/+$/, '');
  }
  // The node makes the directory above each per-user part (sticky, 1777) when it lies below the scratch; the
  // scratch root itself stays root's 0755, so a per-user part directly in it could never be created.
  for (const [field, , suffix] of PATH_KEYS) {
    if (hasUserPart(out[field]) && staticPrefix(out[field]) === scratch) {
      throw new Error(
        `${where}: enroot.${field} = ${JSON.stringify(out[field])}: its per-user part sits directly in localScratch ` +
          `(${scratch}), which stays owned by root (0755), so users could not create it. Put it one directory ` +
          `down, e.g. '${scratch}/enroot/${suffix}'.`,
      );
    }
  }
  // enroot runs `mkdir -p` on the runtime, cache and data paths only; a per-user temp path must therefore be
  // one of their ancestors, or no user could ever convert an image.
  if (hasUserPart(out.tempPath)) {
    const created = [out.runtimePath, out.cachePath, out.dataPath];
    if (!created.some((p) => p === out.tempPath || p.startsWith(`${out.tempPath}/`))) {
      throw new Error(
        `${where}: enroot.tempPath = ${JSON.stringify(out.tempPath)}: enroot creates only ENROOT_RUNTIME_PATH, ` +
          `ENROOT_CACHE_PATH and ENROOT_DATA_PATH, so a per-user temp path must be one of their parent ` +
          `directories. Use a shared path such as '${scratch}/enroot/tmp' (the node makes it sticky, like /tmp).`,
      );
    }
  }
  return out;
}

/** `/etc/enroot/enroot.conf`: the storage paths (and ENROOT_REMAP_ROOT when set), in enroot's `KEY value` form. */
export function renderEnrootConf(settings: EnrootSettings = {}, where = 'EnrootSettings'): string {
  const version = releaseOf(settings.version, ENROOT_DEFAULT_VERSION, where, 'version');
  const paths = enrootPaths(settings, where);
  const lines = [
    `# enroot.conf generated by cdktf-slurm for enroot ${version}; do not edit.`,
    '# enroot expands each value with the shell for the user running it: ${UID} is that user.',
  ];
  for (const [field, key] of PATH_KEYS) lines.push(`${key.padEnd(20)} ${paths[field]}`);
  if (settings.remapRoot !== undefined) {
    if (typeof settings.remapRoot !== 'boolean') {
      throw new Error(`${where}: enroot.remapRoot = ${JSON.stringify(settings.remapRoot)}: not a boolean. Use true or false.`);
    }
    lines.push(`${'ENROOT_REMAP_ROOT'.padEnd(20)} ${settings.remapRoot ? 'yes' : 'no'}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * node.env variables for enroot-pyxis.sh: ENROOT_VERSION, PYXIS_VERSION, LOCAL_SCRATCH and the checksums given
 * (ENROOT_SHA256_AMD64, ENROOT_CAPS_SHA256_AMD64, ENROOT_SHA256_ARM64, ENROOT_CAPS_SHA256_ARM64, PYXIS_SHA256).
 */
export interface EnrootNodeEnvOptions {
  /**
   * Says whether a checksum is a value the deployment tool fills in later (a Terraform variable reference, for
   * user-data that is a Terraform string): such values are written as given and checked by their variable.
   * @default none: every checksum must be a literal SHA-256
   */
  readonly isDeferred?: (value: string) => boolean;
}

export function enrootNodeEnv(settings: EnrootSettings = {}, where = 'EnrootSettings', options: EnrootNodeEnvOptions = {}): Record<string, string> {
  const env: Record<string, string> = {
    ENROOT_VERSION: releaseOf(settings.version, ENROOT_DEFAULT_VERSION, where, 'version'),
    PYXIS_VERSION: releaseOf(settings.pyxisVersion, PYXIS_DEFAULT_VERSION, where, 'pyxisVersion'),
    LOCAL_SCRATCH: localScratchOf(settings, where),
  };
  enrootPaths(settings, where);
  const sums = settings.checksums ?? {};
  const deferred = new Set<string>();
  const vars: ReadonlyArray<readonly [keyof EnrootChecksums, string]> = [
    ['enrootAmd64', 'ENROOT_SHA256_AMD64'],
    ['enrootCapsAmd64', 'ENROOT_CAPS_SHA256_AMD64'],
    ['enrootArm64', 'ENROOT_SHA256_ARM64'],
    ['enrootCapsArm64', 'ENROOT_CAPS_SHA256_ARM64'],
    ['pyxisSource', 'PYXIS_SHA256'],
  ];
  for (const [field, name] of vars) {
    const sum = sums[field];
    if (sum === undefined) continue;
    if (typeof sum === 'string' && options.isDeferred?.(sum)) {
      deferred.add(name);
      env[name] = sum;
      continue;
    }
    if (typeof sum !== 'string' || !SHA256.test(sum)) {
      throw new Error(
        `${where}: enroot.checksums.${field} = ${JSON.stringify(sum)}: not a SHA-256 sum. Give the 64 lower-case hex ` +
          `digits that sha256sum prints (or the GitHub release page shows) for that file.`,
      );
    }
    env[name] = sum;
  }
  for (const [name, value] of Object.entries(env)) {
    if (!deferred.has(name) && !PLAIN_VALUE.test(value)) {
      throw new Error(`${where}: node.env ${name} = ${JSON.stringify(value)}: only letters, digits and '/:._@-' are allowed.`);
    }
  }
  return env;
}

function releaseOf(value: unknown, fallback: string, where: string, field: string): string {
  const v = value ?? fallback;
  if (typeof v !== 'string' || !RELEASE.test(v)) {
    throw new Error(`${where}: enroot.${field} = ${JSON.stringify(v)}: not a release number. Pin a release such as '${fallback}'.`);
  }
  return v;
}

function localScratchOf(settings: EnrootSettings, where: string): string {
  const v = settings.localScratch ?? DEFAULT_LOCAL_SCRATCH;
  if (typeof v !== 'string' || !STATIC_PATH.test(v) || v === '/' || v.split('/').includes('..')) {
    throw new Error(
      `${where}: enroot.localScratch = ${JSON.stringify(v)}: not an absolute directory of letters, digits and '/._@+-'. ` +
        `Use the local SSD mount point, e.g. '${DEFAULT_LOCAL_SCRATCH}'.`,
    );
  }
  return v.replace(/\/+$/, '');
}

/** The directories before the first per-user part: '/a/b/user-${UID}/c' -> '/a/b'. */
function staticPrefix(path: string): string {
  const parts = path.split('/');
  const i = parts.findIndex((p) => p.includes('$'));
  return i < 0 ? path : parts.slice(0, i).join('/');
}

function hasUserPart(path: string): boolean {
  return USER_PARTS.some((part) => path.includes(part));
}

function assertEnrootPath(where: string, field: string, value: unknown, example: string): void {
  let rest = typeof value === 'string' ? value : '';
  for (const part of USER_PARTS) rest = rest.split(part).join('u');
  if (typeof value !== 'string' || !STATIC_PATH.test(rest) || rest.split('/').includes('..')) {
    throw new Error(
      `${where}: enroot.${field} = ${JSON.stringify(value)}: not an absolute path of letters, digits and '/._@+-'. ` +
        `Use a path such as '${example}'; per-user parts may use ${USER_PARTS.join(', ')}.`,
    );
  }
}

/** What a host with enroot + pyxis gets: node.env entries, the staged enroot.conf and the SPANK stack files. */
export interface EnrootNodeSetup {
  readonly env: Record<string, string>;
  readonly files: NodeFile[];
  readonly slurmFiles: SlurmFile[];
}

/**
 * Everything `containers/enroot-pyxis.sh` reads on a node, from one set of settings: the pyxis release in node.env
 * and in pyxis.conf cannot disagree. Throws (naming `where`) on bad settings.
 */
export function enrootNodeSetup(settings: EnrootSettings = {}, where = 'EnrootSettings', options: EnrootNodeEnvOptions = {}): EnrootNodeSetup {
  const env = enrootNodeEnv(settings, where, options);
  return {
    env,
    files: [{ path: STAGED_ENROOT_CONF_PATH, content: renderEnrootConf(settings, where) }],
    slurmFiles: [
      { name: 'plugstack.conf', content: renderPlugstackConf({}, where) },
      { name: 'plugstack.conf.d/pyxis.conf', content: renderPyxisConf({ version: env.PYXIS_VERSION }, where) },
    ],
  };
}
