/**
 * The node-pool checks: names, counts, static/cloud/dynamic registration, hardware, GPUs, features and
 * extra node-line keys. Kept apart from validate.ts because they are the largest concern and
 * validateNodePool also runs them alone for a single pool.
 */
import { ConfigIssue } from './errors';
import { expandHostlist } from './hostlist';
import { ClusterSpec, NodePoolSpec, SlurmVersion } from './model';
import { isCloudPool } from './nodes';
import { nodeLineKeys, OWNED_NODE_KEYS, ownedFix, ownedKey } from './versions';
import { checkInt, checkKnownKey, checkOneLine, isInt, Issues } from './validate-common';

/** Node names are `<pool>-<index>` and must stay valid host names (63-character labels). */
const POOL_NAME = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const POOL_NAME_MAX = 50;
/** GRES types and node features end up in `gpu:<type>:<n>` and `--constraint` expressions. */
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function checkPools(issues: Issues, spec: ClusterSpec, version: SlurmVersion | undefined): void {
  if (!Array.isArray(spec.nodePools) || spec.nodePools.length === 0) {
    issues.add('nodePools', spec.nodePools, 'has no pools', 'Add at least one pool, e.g. { name: "gpu", count: 2, hardware: {...} }.');
    return;
  }
  const seen = new Map<string, number>();
  spec.nodePools.forEach((pool, i) => {
    const at = `nodePools[${i}]`;
    if (typeof pool.name === 'string') {
      const first = seen.get(pool.name);
      if (first !== undefined) {
        issues.add(`${at}.name`, pool.name, `repeats nodePools[${first}].name`, 'Give every pool a distinct name.');
      } else {
        seen.set(pool.name, i);
      }
    }
    checkPool(issues, pool, at, version, spec);
  });
  checkDynamicFeatures(issues, spec);
}

/**
 * `NodeSet=<pool> Feature=<pool>` takes every node with that feature: another pool listing a dynamic
 * pool's name as a feature would be pulled into the dynamic pool's partitions.
 */
function checkDynamicFeatures(issues: Issues, spec: ClusterSpec): void {
  const dynamicNames = new Set(spec.nodePools.filter((p) => p.registration === 'dynamic').map((p) => p.name));
  if (dynamicNames.size === 0) return;
  spec.nodePools.forEach((pool, i) => {
    (Array.isArray(pool.features) ? pool.features : []).forEach((f, j) => {
      if (dynamicNames.has(f) && f !== pool.name) {
        issues.add(
          `nodePools[${i}].features[${j}]`,
          f,
          `is the name of dynamic pool "${f}", whose NodeSet (Feature=${f}) would then take pool "${String(pool.name)}"'s nodes into "${f}"'s partitions`,
          `Rename the feature, or add pool "${String(pool.name)}" to those partitions directly.`,
        );
      }
    });
  });
}

/** Checks one pool; also used alone for dynamic nodes. */
export function validateNodePool(pool: NodePoolSpec, version: SlurmVersion, at = 'pool'): ConfigIssue[] {
  const issues = new Issues();
  checkPool(issues, pool, at, version, undefined);
  return issues.list;
}

function checkPool(
  issues: Issues,
  pool: NodePoolSpec,
  at: string,
  version: SlurmVersion | undefined,
  spec: ClusterSpec | undefined,
): void {
  if (typeof pool.name !== 'string' || !POOL_NAME.test(pool.name) || pool.name.length > POOL_NAME_MAX) {
    issues.add(
      `${at}.name`,
      pool.name,
      `must start with a lower-case letter, use only a-z, 0-9 and single "-" between them, and be at most ${POOL_NAME_MAX} characters`,
      'Pick a name like "gpu" or "a100-spot"; nodes are named "<pool>-<index>".',
    );
  } else if (/-\d+$/.test(pool.name)) {
    issues.add(
      `${at}.name`,
      pool.name,
      'ends in "-<digits>", so its nodes ("<pool>-<index>") would read like nodes of another pool',
      `Drop the numeric suffix or join it, e.g. "${pool.name.replace(/-(\d+)$/, '$1')}".`,
    );
  }

  const hasCount = pool.count !== undefined;
  const hasMax = pool.maxCount !== undefined;
  const registration: unknown = pool.registration;
  if (registration !== undefined && registration !== 'named' && registration !== 'dynamic') {
    issues.add(
      `${at}.registration`,
      registration,
      'must be "named" or "dynamic"',
      'Use "named" for hosts slurm.conf lists by name (the default), "dynamic" for hosts that register themselves (slurmd -Z).',
    );
  }
  if (registration === 'dynamic') {
    checkDynamicPool(issues, pool, at);
  } else if (hasCount === hasMax) {
    issues.add(
      at,
      { count: pool.count, maxCount: pool.maxCount },
      'must set exactly one of count (static nodes) and maxCount (cloud nodes)',
      'Use count for always-on nodes, or maxCount (with optional minCount) for nodes started on demand.',
    );
  }
  if (hasCount) checkInt(issues, `${at}.count`, pool.count, 1, 1_000_000, 'Give the number of nodes, at least 1.');
  if (hasMax) checkInt(issues, `${at}.maxCount`, pool.maxCount, 1, 1_000_000, 'Give the largest number of nodes, at least 1.');
  if (pool.minCount !== undefined && registration !== 'dynamic') {
    if (!hasMax) {
      issues.add(`${at}.minCount`, pool.minCount, 'only applies to cloud pools (maxCount)', 'Remove minCount, or use maxCount instead of count.');
    } else if (checkInt(issues, `${at}.minCount`, pool.minCount, 0, 1_000_000, 'Give how many nodes stay on, 0 or more.')) {
      if (isInt(pool.maxCount) && pool.minCount > pool.maxCount) {
        issues.add(`${at}.minCount`, pool.minCount, `exceeds maxCount (${pool.maxCount})`, 'Lower minCount or raise maxCount.');
      }
    }
  }

  checkHardware(issues, pool, at);
  checkGpus(issues, pool, at);

  if (pool.features !== undefined) {
    const seenFeatures = new Set<string>();
    (pool.features ?? []).forEach((f, j) => {
      if (typeof f !== 'string' || !TOKEN.test(f)) {
        issues.add(
          `${at}.features[${j}]`,
          f,
          'must be letters, digits, "_", "." or "-"',
          'Use simple tokens like "h100" or "nvlink"; Slurm parses "&|,[]*" in --constraint.',
        );
      } else if (seenFeatures.has(f)) {
        issues.add(`${at}.features[${j}]`, f, 'is listed twice', 'List each feature once.');
      } else {
        seenFeatures.add(f);
      }
    });
  }
  if (pool.weight !== undefined) {
    checkInt(issues, `${at}.weight`, pool.weight, 0, 4_294_967_294, 'Give a whole number; lower weights are scheduled first.');
  }
  if (pool.extraNodeParameters !== undefined) {
    for (const [key, value] of Object.entries(pool.extraNodeParameters)) {
      const field = `${at}.extraNodeParameters.${key}`;
      const owned = ownedKey(OWNED_NODE_KEYS, key);
      if (owned) {
        issues.add(field, value, `${owned[0]} is owned by the library`, ownedFix(owned[1]));
        continue;
      }
      if (version !== undefined) checkKnownKey(issues, field, key, value, nodeLineKeys(version), version, 'node lines');
      checkOneLine(issues, field, value, false);
    }
  }
  if (spec !== undefined && isCloudPool(pool) && spec.powerSaving === undefined) {
    issues.add(
      'powerSaving',
      undefined,
      `is required because ${at} ("${String(pool.name)}") uses maxCount (cloud nodes)`,
      'Set powerSaving.resumeProgram and powerSaving.suspendProgram, or give the pool a fixed count.',
    );
  }
}

/** Node-line keys a dynamic node cannot carry: slurmctld takes them from the registration. */
const DYNAMIC_FORBIDDEN_NODE_KEYS: Readonly<Record<string, string>> = {
  NodeAddr: 'slurmctld records the address the node registered from',
  NodeHostname: 'slurmctld records the host name the node registered with',
  BcastAddr: 'slurmctld records the address the node registered from',
  Port: 'slurmd -Z --conf refuses Port=, so one dynamic node per host (or network namespace) on the default port',
};

/** A dynamic pool: `count` caps registrations; cloud-only fields and address keys make no sense. */
function checkDynamicPool(issues: Issues, pool: NodePoolSpec, at: string): void {
  const fix =
    'A dynamic pool\'s hosts register themselves and slurmctld cannot start or stop them: give count (the most nodes that may register) and drop maxCount/minCount, or use registration: "named" for a cloud pool.';
  if (pool.maxCount !== undefined) issues.add(`${at}.maxCount`, pool.maxCount, 'does not apply to a dynamic pool', fix);
  if (pool.minCount !== undefined) issues.add(`${at}.minCount`, pool.minCount, 'does not apply to a dynamic pool', fix);
  if (pool.count === undefined) {
    issues.add(`${at}.count`, undefined, 'is missing for a dynamic pool', 'Give the most nodes that may register, e.g. count: 4; MaxNodeCount makes room for them.');
  }
  for (const key of Object.keys(pool.extraNodeParameters ?? {})) {
    const hit = Object.keys(DYNAMIC_FORBIDDEN_NODE_KEYS).find((k) => k.toLowerCase() === key.toLowerCase());
    if (hit) {
      issues.add(
        `${at}.extraNodeParameters.${key}`,
        pool.extraNodeParameters?.[key],
        `cannot be set on a dynamic node: ${DYNAMIC_FORBIDDEN_NODE_KEYS[hit]}`,
        `Remove ${hit}, or use registration: "named" with the node's address in slurm.conf.`,
      );
    }
  }
}

function checkHardware(issues: Issues, pool: NodePoolSpec, at: string): void {
  const hw = pool.hardware;
  if (hw === undefined || typeof hw !== 'object') {
    issues.add(`${at}.hardware`, hw, 'is missing', 'Give at least { cpus, realMemoryMiB } as `slurmd -C` prints them.');
    return;
  }
  checkInt(issues, `${at}.hardware.cpus`, hw.cpus, 1, 65533, 'Give the logical CPU count, as `slurmd -C` prints it.');
  checkInt(
    issues,
    `${at}.hardware.realMemoryMiB`,
    hw.realMemoryMiB,
    1,
    Number.MAX_SAFE_INTEGER,
    'Give the memory Slurm may hand out in MiB, a little below `slurmd -C` RealMemory.',
  );
  const topo: Array<[string, number | undefined]> = [
    ['sockets', hw.sockets],
    ['coresPerSocket', hw.coresPerSocket],
    ['threadsPerCore', hw.threadsPerCore],
  ];
  let topoOk = true;
  for (const [name, v] of topo) {
    if (v !== undefined && !checkInt(issues, `${at}.hardware.${name}`, v, 1, 65533, 'Give a whole number of at least 1.')) {
      topoOk = false;
    }
  }
  const given = topo.filter(([, v]) => v !== undefined).length;
  if (topoOk && given > 0 && given < 3) {
    issues.add(
      `${at}.hardware`,
      { sockets: hw.sockets, coresPerSocket: hw.coresPerSocket, threadsPerCore: hw.threadsPerCore },
      'gives only part of sockets/coresPerSocket/threadsPerCore',
      'Give all three (as `slurmd -C` prints them) or none.',
    );
  }
  if (topoOk && given === 3 && isInt(hw.cpus)) {
    const product = (hw.sockets as number) * (hw.coresPerSocket as number) * (hw.threadsPerCore as number);
    if (product !== hw.cpus) {
      issues.add(
        `${at}.hardware.cpus`,
        hw.cpus,
        `differs from sockets x coresPerSocket x threadsPerCore = ${product}`,
        'Copy all four values from `slurmd -C` on the node; a mismatch makes slurmd register the node as INVALID.',
      );
    }
  }
  if (hw.tmpDiskMiB !== undefined) {
    checkInt(issues, `${at}.hardware.tmpDiskMiB`, hw.tmpDiskMiB, 0, 4_294_967_294, 'Give the TmpFS size in MiB.');
  }
}

function checkGpus(issues: Issues, pool: NodePoolSpec, at: string): void {
  const g = pool.gpus;
  if (g === undefined) return;
  if (typeof g.type !== 'string' || !TOKEN.test(g.type) || g.type.length > 64) {
    issues.add(
      `${at}.gpus.type`,
      g.type,
      'must be a GRES type token: letters, digits, "_", "." or "-"',
      'Use the GPU model in lower case, e.g. "h100", "a100", "rtx3070".',
    );
  }
  const countOk = checkInt(issues, `${at}.gpus.count`, g.count, 1, 1024, 'Give GPUs per node, at least 1.');
  if (g.shardsPerGpu !== undefined) {
    checkInt(issues, `${at}.gpus.shardsPerGpu`, g.shardsPerGpu, 1, 1024, 'Give how many jobs may share one GPU, at least 1, or leave it out.');
  }
  if (g.deviceFiles !== undefined) {
    const field = `${at}.gpus.deviceFiles`;
    if (typeof g.deviceFiles !== 'string' || !g.deviceFiles.startsWith('/')) {
      issues.add(field, g.deviceFiles, 'must be an absolute device path pattern', 'Give e.g. "/dev/nvidia[0-7]".');
      return;
    }
    try {
      const files = expandHostlist(g.deviceFiles);
      if (countOk && files.length !== g.count) {
        issues.add(
          field,
          g.deviceFiles,
          `names ${files.length} device file(s) but gpus.count is ${g.count}`,
          `List one device per GPU, e.g. "/dev/nvidia[0-${g.count - 1}]".`,
        );
      }
    } catch (e) {
      issues.add(field, g.deviceFiles, (e as Error).message.replace(/\.$/, ''), 'Use hostlist syntax, e.g. "/dev/nvidia[0-7]".');
    }
  }
}
