/**
 * A node's cloud-config, composed from the node contract: bootstrap scripts, node.env, staged Slurm files
 * and one runcmd that runs the bootstrap entry point.
 */
import { createHash } from 'crypto';
import { readdirSync, readFileSync, statSync } from 'fs';
import { join, posix } from 'path';
import { CloudConfig, type CloudConfigCommand } from './cloud-config';
import { EXPORT_TABLE_PATH, type NfsExport, renderExportTable } from './exports';
import { type ClusterMount, MOUNT_TABLE_PATH, mountScripts, renderMountTable } from './mounts';
import { USERS_TABLE_PATH } from './users';
import { bootSteps, stepScript, type HostTables, type NodeRole } from './boot-steps';
import { renderNodeEnv, renderServiceEnv } from './node-env';
import { findPackageRoot } from './package-root';

/** Where the repo's `bootstrap-scripts/` tree lands on the node. */
export const BOOTSTRAP_DIR = '/opt/cdktf-slurm/bootstrap';
/** The script cloud-init runs; it reads node.env and runs its steps (`CDKTF_SLURM_STEPS`) in order. */
export const BOOTSTRAP_ENTRYPOINT = `${BOOTSTRAP_DIR}/bootstrap.sh`;
export const NODE_ENV_PATH = '/etc/cdktf-slurm/node.env';
/** With fetched delivery: `sha256sum`-format list of the scripts the node must download and check. */
export const SCRIPT_MANIFEST_PATH = '/etc/cdktf-slurm/bootstrap.sha256';
/** With fetched delivery: the inline program that downloads the scripts before the bootstrap runs. */
export const SCRIPT_FETCHER_PATH = '/opt/cdktf-slurm/fetch-bootstrap.sh';
/**
 * Instance tag naming the bucket the fetcher downloads from; read through IMDS, so user-data needs no
 * apply-time value. IMDS allows letters, digits and `+-=._:@` in tag keys.
 */
export const SCRIPTS_BUCKET_TAG = 'slurm:scripts-bucket';
/** Rendered Slurm files wait here until the bootstrap installs them into /etc/slurm. */
export const STAGED_SLURM_DIR = '/etc/cdktf-slurm/slurm';
/** The runcmd entry every node gets. */
export const BOOTSTRAP_RUNCMD: readonly string[] = ['bash', BOOTSTRAP_ENTRYPOINT];

export interface BootstrapScript {
  /** Path below the scripts directory, `/`-separated, e.g. `lib/common.sh`. */
  readonly relativePath: string;
  readonly content: string;
}

/**
 * Every `*.sh` below `scriptsDir`, recursively, sorted by relative path.
 * @param scriptsDir defaults to the package's own `bootstrap-scripts/`
 */
export function loadBootstrapScripts(scriptsDir?: string): BootstrapScript[] {
  const root = scriptsDir ?? join(findPackageRoot(), 'bootstrap-scripts');
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new Error(`loadBootstrapScripts: ${root} is not a directory; pass scriptsDir pointing at a bootstrap-scripts tree.`);
  }
  const out: BootstrapScript[] = [];
  const walk = (dir: string, rel: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const relPath = rel ? posix.join(rel, entry.name) : entry.name;
      if (entry.isDirectory()) walk(join(dir, entry.name), relPath);
      else if (entry.isFile() && entry.name.endsWith('.sh')) {
        out.push({ relativePath: relPath, content: readFileSync(join(dir, entry.name), 'utf8') });
      }
    }
  };
  walk(root, '');
  // Code-unit order, not locale order, so every machine sorts alike.
  return out.sort((a, b) => (a.relativePath < b.relativePath ? -1 : a.relativePath > b.relativePath ? 1 : 0));
}

/**
 * The scripts a host with `steps` ships: the entry point, the shared helpers, `<step>.sh` for each step, and the
 * `extraScripts` it asks for (helpers that are not steps, e.g. `aws/slurm-resume.sh` on an AWS controller). Only
 * what the host runs, which keeps compute user-data well inside AWS's 16 KiB.
 * @throws when a step's script or an extra script is not in the tree
 */
export function scriptsForSteps(
  scripts: readonly BootstrapScript[],
  steps: readonly string[],
  extraScripts: readonly string[] = [],
): BootstrapScript[] {
  const known = new Set(scripts.map((s) => s.relativePath));
  const noScript = steps.filter((step) => !known.has(stepScript(step)));
  if (noScript.length > 0) {
    throw new Error(
      `steps ${JSON.stringify(noScript)}: no ${noScript.map(stepScript).join(', ')} in the bootstrap-scripts tree; ` +
        `bootstrap.sh would stop there. Point scriptsDir at a complete tree.`,
    );
  }
  const missing = extraScripts.filter((p) => !known.has(p));
  if (missing.length > 0) {
    throw new Error(`extraScripts: ${JSON.stringify(missing)} not found in the bootstrap-scripts tree; check the paths (relative, e.g. 'aws/node-name.sh').`);
  }
  const wanted = new Set([...steps.map(stepScript), ...extraScripts]);
  return scripts.filter((s) => s.relativePath === 'bootstrap.sh' || s.relativePath.startsWith('lib/') || wanted.has(s.relativePath));
}

/**
 * For hosts whose scripts are fixed before their node.env is rendered (Docker and SSH pools): throws, naming
 * `where`, unless every step has its script among `shipped`; else the host would stop at that step at boot.
 */
export function checkStepScriptsShipped(steps: readonly string[], shipped: readonly BootstrapScript[], where: string): void {
  const have = new Set(shipped.map((s) => s.relativePath));
  const missing = steps.filter((step) => !have.has(stepScript(step)));
  if (missing.length > 0) {
    throw new Error(
      `${where}: node.env lists step(s) ${missing.join(', ')} but ${missing.map(stepScript).join(', ')} is not among the ` +
        `scripts uploaded to the host; add it to the host's extraScripts.`,
    );
  }
}

/** A file cloud-init writes for the node's steps. */
export interface NodeFile {
  /** Absolute path, e.g. `/etc/profile.d/nccl-tcpxo.sh`. */
  readonly path: string;
  readonly content: string;
  /** Octal mode. @default `'0644'` */
  readonly permissions?: string;
}

/** A rendered Slurm file to stage under {@link STAGED_SLURM_DIR}. */
export interface SlurmFile {
  /** File name, e.g. `slurm.conf`, or one in a drop-in directory, e.g. `plugstack.conf.d/pyxis.conf`. */
  readonly name: string;
  readonly content: string;
}

export interface NodeCloudConfigOptions {
  /** Roles of this host; written to node.env as `CDKTF_SLURM_ROLES`. */
  readonly roles: readonly NodeRole[];
  /** node.env variables other than `CDKTF_SLURM_ROLES` and `CDKTF_SLURM_STEPS`. References to secrets only. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Rendered Slurm files to stage (slurm.conf, gres.conf, cgroup.conf on the controller; slurmdbd.conf,
   * without StoragePass, on the dbd host).
   * @default none (configless compute and login nodes)
   */
  readonly slurmFiles?: readonly SlurmFile[];
  /**
   * Cluster file systems this host mounts at boot (the `mounts` step), written as the mount table.
   * @default none
   */
  readonly mounts?: readonly ClusterMount[];
  /**
   * Directories this host serves over NFS (the `nfs-server` step on a controller), written as the export table.
   * @default none
   */
  readonly exports?: readonly NfsExport[];
  /**
   * The cluster's users and groups table (`renderUsersTable`), created identically on every host by the `users`
   * step. Whether this host makes home directories is node.env's `USERS_CREATE_HOMES`.
   * @default none
   */
  readonly usersTable?: string;
  /**
   * More files the node's steps read, at absolute paths outside the bootstrap and Slurm staging directories
   * (an NCCL profile, a staged enroot.conf). Never secrets: user-data holds references only.
   * @default none
   */
  readonly files?: readonly NodeFile[];
  /**
   * Packages cloud-init installs before the bootstrap runs.
   * @default none (the bootstrap installs what its steps need)
   */
  readonly extraPackages?: readonly string[];
  /**
   * Commands run after the bootstrap entry point.
   * @default none
   */
  readonly extraRuncmd?: readonly CloudConfigCommand[];
  /**
   * Host name cloud-init sets.
   * @default the image's or cloud's own host name
   */
  readonly hostname?: string;
  /**
   * Further scripts from the tree this node needs that are not steps, relative paths (cloud programs such as
   * `aws/slurm-resume.sh`); the steps' own scripts come from the step list (`bootSteps`). Only what the node runs is
   * shipped, to stay inside the user-data budget.
   * @default none
   */
  readonly extraScripts?: readonly string[];
  /**
   * How the scripts reach the node. `inline`: inside the user-data. `fetch`: the user-data carries only a
   * manifest of SHA-256 sums and the fetcher script named here (a path in the tree, e.g.
   * `aws/fetch-bootstrap.sh`), which downloads and checks them first; the backend uploads `nodeScripts()`.
   * @default `{ kind: 'inline' }`
   */
  readonly scriptDelivery?: { readonly kind: 'inline' } | { readonly kind: 'fetch'; readonly fetcher: string };
  /**
   * Directory of bootstrap scripts to ship.
   * @default the package's `bootstrap-scripts/`
   */
  readonly scriptsDir?: string;
}

/** Slurm's config files may hold this key only on the node, filled from the secret at boot. */
const STORAGE_PASS = /^\s*StoragePass\s*=/im;

/** The tables `buildNodeCloudConfig` writes for these options (each only when it is not empty). */
export function nodeTables(options: Pick<NodeCloudConfigOptions, 'mounts' | 'exports' | 'usersTable'>): HostTables {
  return {
    mountTable: (options.mounts?.length ?? 0) > 0,
    usersTable: !!options.usersTable,
    exportTable: (options.exports?.length ?? 0) > 0,
  };
}

export interface NodeScriptsOptions {
  /** The host's ordered steps (`bootSteps`); each ships `<step>.sh`. */
  readonly steps: readonly string[];
  /** The host's mount table: with the `mounts` step, the clients of its kinds ship too. @default none */
  readonly mounts?: readonly ClusterMount[];
  /** Scripts that are not steps (see `NodeCloudConfigOptions.extraScripts`). @default none */
  readonly extraScripts?: readonly string[];
  /** @default the package's `bootstrap-scripts/` */
  readonly scriptsDir?: string;
}

/** The scripts a node with these steps runs (what `fetch` delivery must upload for it). */
export function nodeScripts(options: NodeScriptsOptions): BootstrapScript[] {
  const scripts = loadBootstrapScripts(options.scriptsDir);
  if (!scripts.some((s) => s.relativePath === 'bootstrap.sh')) {
    const dir = options.scriptsDir ?? 'bootstrap-scripts/';
    throw new Error(
      `buildNodeCloudConfig: no bootstrap.sh at the top of ${dir} (found ${scripts.length} script(s)); ` +
        `the node runs ${BOOTSTRAP_ENTRYPOINT}, so add it or point scriptsDir at a complete tree.`,
    );
  }
  // The clients of the kinds in the mount table, which the mounts step calls: a host without mounts carries none.
  const clients = options.steps.includes('mounts') ? mountScripts(options.mounts ?? []) : [];
  return scriptsForSteps(scripts, options.steps, [...new Set([...(options.extraScripts ?? []), ...clients])]);
}

/** `sha256sum` output format, which the fetcher checks downloads against. */
export function scriptManifest(scripts: readonly BootstrapScript[]): string {
  return scripts
    .map((s) => `${createHash('sha256').update(s.content, 'utf8').digest('hex')}  ${s.relativePath}\n`)
    .join('');
}

/**
 * The metadata guard's earliest form, run by cloud-init's bootcmd on every boot, before sshd and logins start (the
 * bootstrap's `metadata-guard` step runs only once cloud-init reaches runcmd): the endpoint for root only, where
 * iptables exists. It leaves a chain that is already there alone: the step, or its boot unit, owns the full rules
 * (root plus METADATA_ALLOWED_USERS). Same chain and jump as bootstrap-scripts/metadata-guard.sh.
 */
export const METADATA_GUARD_BOOTCMD = [
  'command -v iptables >/dev/null 2>&1 || exit 0',
  'iptables -w -N CDKTF_SLURM_METADATA 2>/dev/null || exit 0',
  'iptables -w -A CDKTF_SLURM_METADATA -m owner --uid-owner 0 -j RETURN',
  'iptables -w -A CDKTF_SLURM_METADATA -p tcp -j REJECT --reject-with tcp-reset',
  'iptables -w -A CDKTF_SLURM_METADATA -j REJECT',
  'iptables -w -I OUTPUT 1 -d 169.254.169.254/32 -j CDKTF_SLURM_METADATA',
].join('; ');

export function buildNodeCloudConfig(options: NodeCloudConfigOptions): CloudConfig {
  const config = new CloudConfig();
  if (options.hostname !== undefined) config.setHostname(options.hostname);
  if (options.extraPackages?.length) config.addPackages(...options.extraPackages);

  const tables = nodeTables(options);
  const steps = bootSteps({ roles: options.roles, env: options.env, tables });
  if (steps.includes('metadata-guard')) config.addBootcmd(['sh', '-c', METADATA_GUARD_BOOTCMD]);
  const scripts = nodeScripts({
    steps,
    mounts: options.mounts,
    extraScripts: options.extraScripts,
    scriptsDir: options.scriptsDir,
  });
  const delivery = options.scriptDelivery ?? { kind: 'inline' };
  if (delivery.kind === 'inline') {
    for (const script of scripts) {
      config.addWriteFile({
        path: `${BOOTSTRAP_DIR}/${script.relativePath}`,
        content: script.content,
        owner: 'root:root',
        permissions: '0755',
      });
    }
  } else {
    const fetcher = loadBootstrapScripts(options.scriptsDir).find((s) => s.relativePath === delivery.fetcher);
    if (!fetcher) {
      throw new Error(`scriptDelivery.fetcher: '${delivery.fetcher}' is not in the bootstrap-scripts tree; name a script such as 'aws/fetch-bootstrap.sh'.`);
    }
    config.addWriteFile({ path: SCRIPT_FETCHER_PATH, content: fetcher.content, owner: 'root:root', permissions: '0755' });
    config.addWriteFile({ path: SCRIPT_MANIFEST_PATH, content: scriptManifest(scripts), owner: 'root:root', permissions: '0644' });
  }

  config.addWriteFile({
    path: NODE_ENV_PATH,
    content: renderNodeEnv({ roles: options.roles, env: options.env, tables }),
    owner: 'root:root',
    permissions: '0600',
  });

  if (options.mounts?.length) {
    config.addWriteFile({ path: MOUNT_TABLE_PATH, content: renderMountTable(options.mounts), owner: 'root:root', permissions: '0644' });
  }
  if (options.usersTable) {
    config.addWriteFile({ path: USERS_TABLE_PATH, content: options.usersTable, owner: 'root:root', permissions: '0644' });
  }
  if (options.exports?.length) {
    config.addWriteFile({ path: EXPORT_TABLE_PATH, content: renderExportTable(options.exports), owner: 'root:root', permissions: '0644' });
  }

  for (const [i, file] of (options.slurmFiles ?? []).entries()) {
    const where = `slurmFiles[${i}] (${JSON.stringify(file.name)})`;
    // One level of drop-in directory is allowed: plugstack.conf.d/pyxis.conf.
    if (!/^([A-Za-z0-9][A-Za-z0-9._-]*\.d\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/.test(file.name)) {
      throw new Error(`${where}: name must be a file name such as 'slurm.conf', or one in a '.d' drop-in directory such as 'plugstack.conf.d/pyxis.conf' (no leading '.').`);
    }
    if (STORAGE_PASS.test(file.content)) {
      throw new Error(
        `${where}: contains StoragePass, a secret; user-data holds references only. Render it without ` +
          `StoragePass and set DB_PASSWORD_SOURCE in env; the bootstrap adds it on the node.`,
      );
    }
    config.addWriteFile({
      path: `${STAGED_SLURM_DIR}/${file.name}`,
      content: file.content,
      owner: 'root:root',
      permissions: '0600',
    });
  }

  const owned = [BOOTSTRAP_DIR, STAGED_SLURM_DIR].map((d) => `${d}/`);
  const taken = new Set([NODE_ENV_PATH, MOUNT_TABLE_PATH, EXPORT_TABLE_PATH, USERS_TABLE_PATH, SCRIPT_MANIFEST_PATH, SCRIPT_FETCHER_PATH]);
  for (const [i, file] of (options.files ?? []).entries()) {
    const where = `files[${i}] (${JSON.stringify(file.path)})`;
    if (!/^(\/[A-Za-z0-9][A-Za-z0-9._+-]*)+$/.test(file.path) || file.path.split('/').includes('..')) {
      throw new Error(`${where}: path must be absolute, of letters, digits and '._+-', without '..'.`);
    }
    if (owned.some((d) => file.path.startsWith(d)) || taken.has(file.path)) {
      throw new Error(`${where}: the library writes that path itself; use slurmFiles for Slurm files, or another path.`);
    }
    if (file.permissions !== undefined && !/^0[0-7]{3}$/.test(file.permissions)) {
      throw new Error(`${where}: permissions = ${JSON.stringify(file.permissions)}: use an octal mode such as '0644'.`);
    }
    taken.add(file.path);
    config.addWriteFile({ path: file.path, content: file.content, owner: 'root:root', permissions: file.permissions ?? '0644' });
  }

  if (delivery.kind === 'fetch') config.addRuncmd(['bash', SCRIPT_FETCHER_PATH]);
  config.addRuncmd(BOOTSTRAP_RUNCMD);
  for (const cmd of options.extraRuncmd ?? []) config.addRuncmd(cmd);
  return config;
}

export interface ServiceCloudConfigOptions {
  /** The script the host runs, relative to the tree, e.g. `storage/cephfs-server.sh`; it gets `lib/` beside it. */
  readonly entry: string;
  /** node.env variables (references to secrets only). */
  readonly env: Readonly<Record<string, string>>;
  /** @default the image's or cloud's own host name */
  readonly hostname?: string;
  /** As for nodes. @default `{ kind: 'inline' }` */
  readonly scriptDelivery?: NodeCloudConfigOptions['scriptDelivery'];
  /** @default the package's `bootstrap-scripts/` */
  readonly scriptsDir?: string;
  /** Files the entry script reads (rendered configs), never secrets. @default none */
  readonly files?: readonly NodeFile[];
}

/** The scripts a service host runs: the shared helpers and its entry script. */
export function serviceScripts(options: Pick<ServiceCloudConfigOptions, 'entry' | 'scriptsDir'>): BootstrapScript[] {
  const scripts = loadBootstrapScripts(options.scriptsDir);
  if (!scripts.some((s) => s.relativePath === options.entry)) {
    throw new Error(`entry: '${options.entry}' is not in the bootstrap-scripts tree; name a script such as 'storage/cephfs-server.sh'.`);
  }
  return scripts.filter((s) => s.relativePath.startsWith('lib/') || s.relativePath === options.entry);
}

/**
 * cloud-config of a host that serves the cluster without being a Slurm node (a storage server): its scripts
 * (inline or fetched and checked like a node's), node.env without roles, and its entry script as the runcmd.
 */
export function buildServiceCloudConfig(options: ServiceCloudConfigOptions): CloudConfig {
  const config = new CloudConfig();
  if (options.hostname !== undefined) config.setHostname(options.hostname);
  const scripts = serviceScripts(options);
  const delivery = options.scriptDelivery ?? { kind: 'inline' };
  if (delivery.kind === 'inline') {
    for (const script of scripts) {
      config.addWriteFile({ path: `${BOOTSTRAP_DIR}/${script.relativePath}`, content: script.content, owner: 'root:root', permissions: '0755' });
    }
  } else {
    const fetcher = loadBootstrapScripts(options.scriptsDir).find((s) => s.relativePath === delivery.fetcher);
    if (!fetcher) throw new Error(`scriptDelivery.fetcher: '${delivery.fetcher}' is not in the bootstrap-scripts tree`);
    config.addWriteFile({ path: SCRIPT_FETCHER_PATH, content: fetcher.content, owner: 'root:root', permissions: '0755' });
    config.addWriteFile({ path: SCRIPT_MANIFEST_PATH, content: scriptManifest(scripts), owner: 'root:root', permissions: '0644' });
    config.addRuncmd(['bash', SCRIPT_FETCHER_PATH]);
  }
  config.addWriteFile({ path: NODE_ENV_PATH, content: renderServiceEnv(options.env), owner: 'root:root', permissions: '0600' });
  for (const file of options.files ?? []) {
    if (!/^(\/[A-Za-z0-9][A-Za-z0-9._+-]*)+$/.test(file.path) || file.path === NODE_ENV_PATH || file.path.startsWith(`${BOOTSTRAP_DIR}/`)) {
      throw new Error(`files: ${JSON.stringify(file.path)}: must be an absolute path outside ${BOOTSTRAP_DIR} and not node.env.`);
    }
    config.addWriteFile({ path: file.path, content: file.content, owner: 'root:root', permissions: file.permissions ?? '0644' });
  }
  config.addRuncmd(['bash', `${BOOTSTRAP_DIR}/${options.entry}`]);
  return config;
}
