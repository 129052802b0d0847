/**
 * Checks a cluster model before anything is rendered, so a mistake is reported with its field path,
 * the bad value and the fix, instead of surfacing later as a daemon that will not start.
 */
import { clusterWhere, ConfigIssue, SlurmConfigError } from './errors';
import { ClusterSpec, NodePoolSpec, PartitionSpec, SUPPORTED_SLURM_VERSIONS, SlurmVersion } from './model';
import { isCloudPool } from './nodes';
import {
  healthCheckNodeStates,
  OWNED_PARTITION_KEYS,
  OWNED_SLURM_CONF_KEYS,
  ownedFix,
  ownedKey,
  partitionLineKeys,
  PRIVATE_DATA_VALUES,
  prologFlagValues,
  slurmConfKeys,
} from './versions';
import { checkInt, checkKnownKey, checkOneLine, checkPath, isInt, Issues } from './validate-common';
import { checkPools } from './validate-pools';

/** Default daemon ports (DESIGN §4): slurmctld, slurmd, slurmdbd. */
export const DEFAULT_SLURMCTLD_PORT = 6817;
export const DEFAULT_SLURMD_PORT = 6818;
export const DEFAULT_SLURMDBD_PORT = 6819;
export const DEFAULT_SRUN_PORT_RANGE: readonly [number, number] = [60001, 63000];

/** Slurm stores ClusterName in MySQL table names, which limits it to 40 characters (slurm.conf(5)). */
const CLUSTER_NAME = /^[a-z][a-z0-9_]*$/;
const CLUSTER_NAME_MAX = 40;
/** Partition names: no whitespace and none of `= , [ ] #`, which slurm.conf treats as syntax. */
const PARTITION_NAME = /^[A-Za-z0-9_.-]+$/;
const RESERVED_PARTITION_NAMES = ['default'];
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const HOST_OR_ADDRESS = /^[A-Za-z0-9.:-]+$/;
const UNIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
/** Slurm time: UNLIMITED/INFINITE, minutes, m:s, h:m:s, d-h, d-h:m, d-h:m:s. */
const SLURM_TIME = /^(?:UNLIMITED|INFINITE|\d+(?::\d+){0,2}|\d+-\d+(?::\d+){0,2})$/i;
const TRES = /^[a-z]+(?:\/[A-Za-z0-9_.:-]+)?$/;
const UINT16_MAX_SLURM = 65533;

/**
 * Every problem in the model, or [] when it renders to a working configuration. Does not throw,
 * so tools can show all issues at once.
 */
export function validateCluster(spec: ClusterSpec): ConfigIssue[] {
  const issues = new Issues();
  const version = spec.slurmVersion;
  const versionOk = SUPPORTED_SLURM_VERSIONS.includes(version);
  if (!versionOk) {
    issues.add(
      'slurmVersion',
      version,
      'is not a Slurm release this library knows',
      `Use one of ${SUPPORTED_SLURM_VERSIONS.map((v) => `"${v}"`).join(', ')}: the release your nodes install.`,
    );
  }

  checkClusterName(issues, spec.clusterName);
  checkController(issues, spec);
  checkPorts(issues, spec);
  checkPools(issues, spec, versionOk ? version : undefined);
  checkPartitions(issues, spec, versionOk ? version : undefined);
  checkPowerSaving(issues, spec);
  checkAccounting(issues, spec);
  checkPathsAndScripts(issues, spec, versionOk ? version : undefined);
  checkMisc(issues, spec);
  if (versionOk) checkExtraSlurmConf(issues, spec, version);
  return issues.list;
}

/**
 * Throws a SlurmConfigError listing every issue when the model is not valid.
 * @param where prefix of each message line. @default `cluster '<clusterName>'`
 */
export function assertValidCluster(spec: ClusterSpec, where?: string): void {
  const issues = validateCluster(spec);
  if (issues.length > 0) throw new SlurmConfigError(issues, where ?? clusterWhere(spec.clusterName));
}

function checkClusterName(issues: Issues, name: unknown): void {
  if (typeof name !== 'string' || !CLUSTER_NAME.test(name) || name.length > CLUSTER_NAME_MAX) {
    issues.add(
      'clusterName',
      name,
      `must start with a lower-case letter, contain only a-z, 0-9 and "_", and be at most ${CLUSTER_NAME_MAX} characters`,
      'Pick a name like "hpc" or "gpu_lab": Slurm lower-cases it and uses it in MySQL table names, where "-" and long names break.',
    );
  }
}

function checkController(issues: Issues, spec: ClusterSpec): void {
  const c = spec.controller;
  if (c === undefined || typeof c !== 'object') {
    issues.add('controller', c, 'is missing', 'Give at least { hostname: "<controller short host name>" }.');
    return;
  }
  if (typeof c.hostname !== 'string' || !HOST_LABEL.test(c.hostname)) {
    issues.add(
      'controller.hostname',
      c.hostname,
      'must be a short host name (letters, digits, "-"; no dots)',
      'Use the name `hostname -s` prints on the controller; put an FQDN or IP in controller.address.',
    );
  }
  if (c.address !== undefined && (typeof c.address !== 'string' || !HOST_OR_ADDRESS.test(c.address))) {
    issues.add(
      'controller.address',
      c.address,
      'must be an IP address or DNS name',
      'Give e.g. "10.0.0.5" or "ctl.internal", or leave it out to resolve controller.hostname.',
    );
  }
  checkPath(issues, 'controller.stateSaveLocation', c.stateSaveLocation);
}

function checkPorts(issues: Issues, spec: ClusterSpec): void {
  const ports: Array<[string, unknown]> = [
    ['controller.port', spec.controller?.port ?? DEFAULT_SLURMCTLD_PORT],
    ['slurmdPort', spec.slurmdPort ?? DEFAULT_SLURMD_PORT],
  ];
  if (spec.accounting) {
    ports.push(['accounting.dbdPort', spec.accounting.dbdPort ?? DEFAULT_SLURMDBD_PORT]);
    ports.push(['accounting.storagePort', spec.accounting.storagePort ?? 3306]);
  }
  const valid: Array<[string, number]> = [];
  for (const [field, port] of ports) {
    if (checkInt(issues, field, port, 1, 65535, 'Use a TCP port number, or leave it out for the default.')) {
      valid.push([field, port as number]);
    }
  }
  for (let i = 0; i < valid.length; i++) {
    for (let j = i + 1; j < valid.length; j++) {
      if (valid[i][1] === valid[j][1]) {
        issues.add(
          valid[j][0],
          valid[j][1],
          `collides with ${valid[i][0]} (${valid[i][1]})`,
          'Give each daemon its own port (defaults: slurmctld 6817, slurmd 6818, slurmdbd 6819, database 3306).',
        );
      }
    }
  }
  const range = spec.srunPortRange;
  if (range !== undefined) {
    const [lo, hi] = Array.isArray(range) ? range : [undefined, undefined];
    const ok =
      Array.isArray(range) && range.length === 2 && isInt(lo) && isInt(hi) && lo >= 1024 && hi <= 65535 && lo <= hi;
    if (!ok) {
      issues.add(
        'srunPortRange',
        range,
        'must be [low, high] with 1024 <= low <= high <= 65535',
        'Give e.g. [60001, 63000], the range open from compute nodes to submit hosts.',
      );
    } else {
      for (const [field, port] of valid) {
        if (port >= (lo as number) && port <= (hi as number)) {
          issues.add(
            'srunPortRange',
            range,
            `contains ${field} (${port})`,
            'Move the range clear of the daemon ports, e.g. [60001, 63000].',
          );
        }
      }
    }
  }
}


function checkPartitions(issues: Issues, spec: ClusterSpec, version: SlurmVersion | undefined): void {
  if (!Array.isArray(spec.partitions) || spec.partitions.length === 0) {
    issues.add('partitions', spec.partitions, 'has no partitions', 'Add at least one, e.g. { name: "gpu", pools: ["gpu"], default: true }.');
    return;
  }
  const pools = new Map((spec.nodePools ?? []).map((p) => [p.name, p] as const));
  const used = new Set<string>();
  const names = new Map<string, number>();
  const defaults: number[] = [];
  spec.partitions.forEach((part, i) => {
    const at = `partitions[${i}]`;
    checkPartitionName(issues, part, at, names, i);
    if (part.default === true) defaults.push(i);

    const partPools: readonly string[] = Array.isArray(part.pools) ? part.pools : [];
    if (partPools.length === 0) {
      issues.add(`${at}.pools`, part.pools, 'has no pools', 'List the names of the node pools this partition schedules on.');
    } else {
      const seenHere = new Set<string>();
      partPools.forEach((name, j) => {
        if (!pools.has(name)) {
          issues.add(
            `${at}.pools[${j}]`,
            name,
            'names no pool in nodePools',
            `Use one of ${[...pools.keys()].map((n) => `"${n}"`).join(', ') || '(no pools defined)'}.`,
          );
        } else if (seenHere.has(name)) {
          issues.add(`${at}.pools[${j}]`, name, 'is listed twice', 'List each pool once.');
        }
        seenHere.add(name);
        used.add(name);
      });
    }

    if (part.maxTime !== undefined && (typeof part.maxTime !== 'string' || !SLURM_TIME.test(part.maxTime))) {
      issues.add(`${at}.maxTime`, part.maxTime, 'is not a Slurm time', 'Use "UNLIMITED", minutes ("60"), "h:m:s" or "d-h:m:s" ("1-00:00:00").');
    }
    if (part.defaultTime !== undefined && (typeof part.defaultTime !== 'string' || !SLURM_TIME.test(part.defaultTime))) {
      issues.add(`${at}.defaultTime`, part.defaultTime, 'is not a Slurm time', 'Use minutes ("30"), "h:m:s" or "d-h:m:s".');
    }
    const overSubscribeValues = ['NO', 'YES', 'EXCLUSIVE', 'FORCE'];
    if (part.overSubscribe !== undefined && !overSubscribeValues.includes(part.overSubscribe)) {
      issues.add(`${at}.overSubscribe`, part.overSubscribe, 'is not an OverSubscribe value', 'Use "NO", "YES", "EXCLUSIVE" or "FORCE".');
    }
    if (part.exclusive === true && part.overSubscribe !== undefined && part.overSubscribe !== 'EXCLUSIVE') {
      issues.add(
        `${at}.exclusive`,
        true,
        `conflicts with overSubscribe "${part.overSubscribe}"`,
        'Keep exclusive: true (OverSubscribe=EXCLUSIVE) or overSubscribe, not both.',
      );
    }
    for (const [name, v] of [
      ['defMemPerGpuMiB', part.defMemPerGpuMiB],
      ['defCpuPerGpu', part.defCpuPerGpu],
    ] as const) {
      if (v === undefined) continue;
      checkInt(issues, `${at}.${name}`, v, 1, Number.MAX_SAFE_INTEGER, 'Give a whole number of at least 1.');
      const withoutGpus = partPools.filter((p) => pools.has(p) && pools.get(p)?.gpus === undefined);
      if (withoutGpus.length > 0) {
        issues.add(
          `${at}.${name}`,
          v,
          `applies per GPU but pool(s) ${withoutGpus.map((p) => `"${p}"`).join(', ')} have no GPUs`,
          'Set it only on partitions whose pools all have gpus, or move the CPU-only pools to another partition.',
        );
      }
    }
    if (version !== undefined) checkDynamicPowerSaving(issues, spec, part, at, pools, partPools, version);
    if (part.maxNodes !== undefined) checkInt(issues, `${at}.maxNodes`, part.maxNodes, 1, 4_294_967_294, 'Give a whole number of at least 1.');
    if (part.priorityTier !== undefined) checkInt(issues, `${at}.priorityTier`, part.priorityTier, 0, UINT16_MAX_SLURM, 'Give a whole number from 0 to 65533.');
    if (part.extraParameters !== undefined) {
      for (const [key, value] of Object.entries(part.extraParameters)) {
        const field = `${at}.extraParameters.${key}`;
        const owned = ownedKey(OWNED_PARTITION_KEYS, key);
        if (owned) {
          issues.add(field, value, `${owned[0]} is owned by the library`, ownedFix(owned[1]));
          continue;
        }
        if (version !== undefined) checkKnownKey(issues, field, key, value, partitionLineKeys(version), version, 'partition lines');
        checkOneLine(issues, field, value, false);
      }
    }
  });

  if (defaults.length > 1) {
    issues.add(
      `partitions[${defaults[1]}].default`,
      true,
      `is a second default partition (partitions[${defaults[0]}] is default too)`,
      'Mark only one partition default: true.',
    );
  }
  (spec.nodePools ?? []).forEach((pool, i) => {
    if (typeof pool.name === 'string' && !used.has(pool.name)) {
      issues.add(
        `nodePools[${i}].name`,
        pool.name,
        'is in no partition, so no job could ever run on its nodes',
        `Add "${pool.name}" to a partition's pools, or remove the pool.`,
      );
    }
  });
}

/**
 * Slurm 22.05 can keep dynamic nodes out of power saving only by `SuspendTime=INFINITE` on their
 * partitions (see render-slurm-conf.ts needsPartitionSuspendOff), which would also stop cloud nodes
 * in the same partition from ever being suspended, and replaces a SuspendTime the user set there.
 */
function checkDynamicPowerSaving(
  issues: Issues,
  spec: ClusterSpec,
  part: PartitionSpec,
  at: string,
  pools: ReadonlyMap<string, NodePoolSpec>,
  partPools: readonly string[],
  version: SlurmVersion,
): void {
  if (slurmConfKeys(version).find('SuspendExcStates') !== undefined) return;
  if (!(spec.nodePools ?? []).some(isCloudPool)) return;
  const dynamicHere = partPools.filter((p) => pools.get(p)?.registration === 'dynamic');
  if (dynamicHere.length === 0) return;
  const cloudHere = partPools.filter((p) => { const pool = pools.get(p); return pool !== undefined && isCloudPool(pool); });
  if (cloudHere.length > 0) {
    issues.add(
      `${at}.pools`,
      part.pools,
      `mixes dynamic pool(s) ${dynamicHere.map((p) => `"${p}"`).join(', ')} with cloud pool(s) ${cloudHere.map((p) => `"${p}"`).join(', ')}; on Slurm ${version} dynamic nodes are kept out of power saving only by SuspendTime=INFINITE on their partitions, which would keep these cloud nodes up forever too`,
      'Put the dynamic and the cloud pools in separate partitions, or use slurmVersion "23.11" or later (SuspendExcStates=DYNAMIC_NORM).',
    );
  }
  const userSuspend = Object.keys(part.extraParameters ?? {}).find((k) => k.toLowerCase() === 'suspendtime');
  if (userSuspend !== undefined) {
    issues.add(
      `${at}.extraParameters.${userSuspend}`,
      part.extraParameters?.[userSuspend],
      `is set by the library to INFINITE on Slurm ${version}: the partition holds dynamic pool(s) ${dynamicHere.map((p) => `"${p}"`).join(', ')}, which power saving must never suspend`,
      'Remove it, or use slurmVersion "23.11" or later, where SuspendExcStates=DYNAMIC_NORM keeps dynamic nodes up instead.',
    );
  }
}

function checkPartitionName(issues: Issues, part: PartitionSpec, at: string, names: Map<string, number>, i: number): void {
  const name = part.name;
  if (typeof name !== 'string' || !PARTITION_NAME.test(name) || name.length > 64) {
    issues.add(
      `${at}.name`,
      name,
      'must be 1-64 letters, digits, "_", "." or "-" (no spaces, "=", ",", "[", "]" or "#")',
      'Pick a name like "gpu" or "debug".',
    );
    return;
  }
  if (RESERVED_PARTITION_NAMES.includes(name.toLowerCase())) {
    issues.add(`${at}.name`, name, 'is reserved: PartitionName=DEFAULT sets defaults for other partitions', 'Pick another name; use default: true to make a partition the default.');
  }
  const first = names.get(name.toLowerCase());
  if (first !== undefined) {
    issues.add(`${at}.name`, name, `repeats partitions[${first}].name`, 'Give every partition a distinct name.');
  } else {
    names.set(name.toLowerCase(), i);
  }
}

function checkPowerSaving(issues: Issues, spec: ClusterSpec): void {
  const ps = spec.powerSaving;
  if (ps === undefined) return;
  checkPath(issues, 'powerSaving.resumeProgram', ps.resumeProgram);
  checkPath(issues, 'powerSaving.suspendProgram', ps.suspendProgram);
  if (ps.resumeProgram === undefined) issues.add('powerSaving.resumeProgram', undefined, 'is missing', 'Give the program slurmctld runs to start cloud nodes.');
  if (ps.suspendProgram === undefined) issues.add('powerSaving.suspendProgram', undefined, 'is missing', 'Give the program slurmctld runs to stop cloud nodes.');
  if (ps.resumeTimeoutSec !== undefined) {
    checkInt(issues, 'powerSaving.resumeTimeoutSec', ps.resumeTimeoutSec, 60, 3600, 'Allow the time a node needs to boot and register; Slurm advises 300-900 seconds.');
  }
  if (ps.suspendTimeSec !== undefined) checkInt(issues, 'powerSaving.suspendTimeSec', ps.suspendTimeSec, 1, 31_536_000, 'Give the idle seconds before a node is suspended, e.g. 600.');
  if (ps.suspendTimeoutSec !== undefined) checkInt(issues, 'powerSaving.suspendTimeoutSec', ps.suspendTimeoutSec, 1, UINT16_MAX_SLURM, 'Give the seconds a node may take to power down, e.g. 120.');
  if (ps.resumeRate !== undefined) checkInt(issues, 'powerSaving.resumeRate', ps.resumeRate, 0, UINT16_MAX_SLURM, 'Give nodes per minute (0 = unlimited).');
  if (ps.suspendRate !== undefined) checkInt(issues, 'powerSaving.suspendRate', ps.suspendRate, 0, UINT16_MAX_SLURM, 'Give nodes per minute (0 = unlimited).');
}

function checkAccounting(issues: Issues, spec: ClusterSpec): void {
  const a = spec.accounting;
  if (a === undefined) return;
  if (typeof a.dbdHost !== 'string' || !HOST_OR_ADDRESS.test(a.dbdHost)) {
    issues.add('accounting.dbdHost', a.dbdHost, 'must be a host name or address', 'Give the host slurmdbd runs on, e.g. the controller\'s hostname.');
  }
  if (a.storageHost !== undefined && (typeof a.storageHost !== 'string' || !HOST_OR_ADDRESS.test(a.storageHost))) {
    issues.add('accounting.storageHost', a.storageHost, 'must be a host name or address', 'Give the database server, e.g. "localhost".');
  }
  if (a.storageUser !== undefined && (typeof a.storageUser !== 'string' || !/^[A-Za-z0-9_]{1,32}$/.test(a.storageUser))) {
    issues.add('accounting.storageUser', a.storageUser, 'must be 1-32 letters, digits or "_"', 'Use e.g. "slurm".');
  }
  if (a.storageLoc !== undefined && (typeof a.storageLoc !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(a.storageLoc))) {
    issues.add('accounting.storageLoc', a.storageLoc, 'must be a database name: 1-64 letters, digits or "_"', 'Use e.g. "slurm_acct_db".');
  }
  (a.trackedTres ?? []).forEach((t, j) => {
    if (typeof t !== 'string' || !TRES.test(t)) {
      issues.add(`accounting.trackedTres[${j}]`, t, 'is not a TRES name', 'Use names like "gres/gpu", "license/matlab" or "fs/lustre".');
    }
  });
}

function checkPathsAndScripts(issues: Issues, spec: ClusterSpec, version: SlurmVersion | undefined): void {
  for (const [key, value] of Object.entries(spec.paths ?? {})) checkPath(issues, `paths.${key}`, value);
  for (const list of ['prolog', 'epilog'] as const) {
    const scripts = spec[list];
    if (scripts === undefined) continue;
    scripts.forEach((s, j) => checkPath(issues, `${list}[${j}]`, s));
    if (scripts.length > 1) {
      // 22.05's parser keeps one Prolog/Epilog value; a glob runs several scripts in every release.
      issues.add(
        list,
        scripts,
        'lists more than one script, but Slurm takes one Prolog/Epilog path',
        `Put the scripts in a directory and give a glob, e.g. ["/etc/slurm/${list}.d/*"].`,
      );
    }
  }
  if (spec.prologFlags !== undefined && version !== undefined) {
    const allowed = prologFlagValues(version);
    spec.prologFlags.forEach((f, j) => {
      if (!allowed.some((a) => a.toLowerCase() === String(f).toLowerCase())) {
        issues.add(`prologFlags[${j}]`, f, `is not a PrologFlags value in Slurm ${version}`, `Use some of ${allowed.join(', ')}.`);
      }
    });
  }
  const hc = spec.healthCheck;
  if (hc !== undefined) {
    checkPath(issues, 'healthCheck.program', hc.program);
    if (hc.program === undefined) issues.add('healthCheck.program', undefined, 'is missing', 'Give the health check program, e.g. "/usr/sbin/nhc".');
    if (hc.intervalSec !== undefined) checkInt(issues, 'healthCheck.intervalSec', hc.intervalSec, 1, UINT16_MAX_SLURM, 'Give seconds between checks, e.g. 300.');
    if (hc.nodeState !== undefined && version !== undefined) {
      const states = healthCheckNodeStates(version);
      const bad = String(hc.nodeState)
        .split(',')
        .filter((s) => !states.includes(s.toUpperCase()));
      if (bad.length > 0 || hc.nodeState === '') {
        issues.add('healthCheck.nodeState', hc.nodeState, `is not a HealthCheckNodeState in Slurm ${version}`, `Use a comma list of ${states.join(', ')}.`);
      }
    }
  }
  checkPath(issues, 'mailProg', spec.mailProg);
}

function checkMisc(issues: Issues, spec: ClusterSpec): void {
  if (spec.slurmUser !== undefined && (typeof spec.slurmUser !== 'string' || !UNIX_USER.test(spec.slurmUser))) {
    issues.add('slurmUser', spec.slurmUser, 'is not a Unix user name', 'Use e.g. "slurm" (the Debian/Ubuntu packages create it).');
  }
  if (spec.slurmdTimeoutSec !== undefined) checkInt(issues, 'slurmdTimeoutSec', spec.slurmdTimeoutSec, 1, UINT16_MAX_SLURM, 'Give seconds, e.g. 300.');
  if (spec.returnToService !== undefined && ![0, 1, 2].includes(spec.returnToService)) {
    issues.add('returnToService', spec.returnToService, 'must be 0, 1 or 2', 'Use 2 so a node that restarts healthy returns to service.');
  }
  if (spec.dynamicNodeSlots !== undefined) checkInt(issues, 'dynamicNodeSlots', spec.dynamicNodeSlots, 0, 1_000_000, 'Give how many self-registering nodes to allow, or 0.');
  (spec.privateData ?? []).forEach((v, j) => {
    if (!PRIVATE_DATA_VALUES.includes(v)) {
      issues.add(`privateData[${j}]`, v, 'is not a PrivateData value', `Use some of ${PRIVATE_DATA_VALUES.join(', ')}.`);
    }
  });
}

function checkExtraSlurmConf(issues: Issues, spec: ClusterSpec, version: SlurmVersion): void {
  for (const [key, value] of Object.entries(spec.extraSlurmConf ?? {})) {
    const field = `extraSlurmConf.${key}`;
    const owned = ownedKey(OWNED_SLURM_CONF_KEYS, key);
    if (owned) {
      issues.add(field, value, `${owned[0]} is owned by the library`, ownedFix(owned[1]));
      continue;
    }
    checkKnownKey(issues, field, key, value, slurmConfKeys(version), version, 'slurm.conf');
    checkOneLine(issues, field, value, true);
  }
}
