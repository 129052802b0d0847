/** Everything the controller needs, as files with their mode and owner. */
import { clusterWhere, SlurmConfigError } from './errors';
import type { ClusterSpec, NodePoolSpec, SlurmVersion } from './model';
import { isDynamicPool, nodeName } from './nodes';
import { renderCgroupConf } from './render-cgroup-conf';
import { DEFAULTS, kv } from './render-common';
import { renderGresConf } from './render-gres-conf';
import { dynamicFeatures, gresOf, hardwareEntries, renderSlurmConf } from './render-slurm-conf';
import { renderSlurmdbdConf } from './render-slurmdbd-conf';
import { assertValidCluster } from './validate';
import { validateNodePool } from './validate-pools';

/** A generated file. `name` is relative to the Slurm configuration directory (`/etc/slurm`). */
export interface RenderedFile {
  readonly name: string;
  readonly content: string;
  /** Octal permission bits, e.g. `0644`. */
  readonly mode: string;
  readonly owner: string;
}

/**
 * slurm.conf, gres.conf and cgroup.conf (0644 root), plus slurmdbd.conf (0600, SlurmUser) when
 * accounting is on. Configless slurmd fetches the first three from slurmctld.
 * @throws SlurmConfigError when the model is invalid.
 */
export function renderControllerFiles(spec: ClusterSpec): RenderedFile[] {
  const files: RenderedFile[] = [
    { name: 'slurm.conf', content: renderSlurmConf(spec), mode: '0644', owner: 'root' },
    { name: 'gres.conf', content: renderGresConf(spec), mode: '0644', owner: 'root' },
    { name: 'cgroup.conf', content: renderCgroupConf(spec), mode: '0644', owner: 'root' },
  ];
  if (spec.accounting) {
    // slurmdbd refuses a slurmdbd.conf others can read: it will hold the database password.
    files.push({ name: 'slurmdbd.conf', content: renderSlurmdbdConf(spec), mode: '0600', owner: spec.slurmUser ?? DEFAULTS.slurmUser });
  }
  return files;
}

/**
 * The `--conf` string for a node that registers itself (`slurmd -Z --conf "<this>"`):
 * `CPUs=… RealMemory=… Gres=gpu:<type>:<n> Feature=<pool>[,features] [Weight=…]` plus the pool's
 * extra node keys. `Feature=<pool>` is what puts the node into `NodeSet=<pool>` and so into the
 * pool's partitions. NodeName and Port are not allowed there (the name comes from `slurmd -N`).
 * @param version the Slurm release of the node. @default '22.05'
 * @throws SlurmConfigError when the pool is invalid.
 */
export function renderDynamicNodeConf(pool: NodePoolSpec, version: SlurmVersion = '22.05'): string {
  // Only what the node reports matters here (hardware, GRES, features, extra keys), not its count.
  const probe: NodePoolSpec = { ...pool, registration: 'dynamic', count: pool.count ?? 1, maxCount: undefined, minCount: undefined };
  const issues = validateNodePool(probe, version, 'pool');
  if (issues.length > 0) throw new SlurmConfigError(issues, `node pool '${String(pool.name)}'`);
  return kv([
    ...hardwareEntries(pool),
    ['Gres', gresOf(pool)],
    ['Feature', dynamicFeatures(pool).join(',')],
    ['Weight', pool.weight],
    ...Object.entries(pool.extraNodeParameters ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  ]).join(' ');
}

/**
 * The node.env entries (see lib/cloudinit node-env.ts) a host of a dynamic pool needs to join as
 * `<pool>-<index>`: `SLURMD_MODE=dynamic`, `SLURMD_DYNAMIC_CONF`, `SLURMD_NODENAME`, `GPU_COUNT`, and with
 * GPUs `GPU_TYPE` (plus `GPU_DEVICE_FILES` when the pool names its device files). Add the cluster-wide
 * entries (`SLURM_CONTROLLER`, `MUNGE_KEY_SOURCE`, …) yourself.
 *
 * The index fixes the node name, so gres.conf's `NodeName=<pool>-[0-N]` lines apply to it; it must be
 * below the pool's `count` (the registrations `MaxNodeCount` leaves room for).
 * @throws SlurmConfigError when the cluster is invalid, the pool is missing or not dynamic, or the
 *   index is out of range.
 */
export function dynamicNodeEnv(spec: ClusterSpec, poolName: string, index: number): Record<string, string> {
  assertValidCluster(spec);
  const at = spec.nodePools.findIndex((p) => p.name === poolName);
  const pool = spec.nodePools[at];
  const where = clusterWhere(spec.clusterName);
  if (pool === undefined) {
    throw new SlurmConfigError(
      [{ field: 'poolName', value: poolName, problem: 'names no pool in nodePools', fix: `Use one of ${spec.nodePools.filter(isDynamicPool).map((p) => `"${p.name}"`).join(', ') || '(no dynamic pools)'}.` }],
      where,
    );
  }
  if (!isDynamicPool(pool)) {
    throw new SlurmConfigError(
      [{ field: `nodePools[${at}].registration`, value: pool.registration, problem: `pool "${poolName}" is not dynamic, so its nodes have node lines and run slurmd configless`, fix: "Set registration: 'dynamic' on the pool, or provision its nodes with SLURMD_MODE=configless." }],
      where,
    );
  }
  const count = pool.count as number;
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new SlurmConfigError(
      [{ field: 'index', value: index, problem: `is outside pool "${poolName}" (count ${count}: ${nodeName(pool, 0)} … ${nodeName(pool, count - 1)})`, fix: `Use 0 to ${count - 1}, or raise nodePools[${at}].count: MaxNodeCount and gres.conf only make room for that many.` }],
      where,
    );
  }
  const g = pool.gpus;
  return {
    SLURMD_MODE: 'dynamic',
    SLURMD_DYNAMIC_CONF: renderDynamicNodeConf(pool, spec.slurmVersion),
    SLURMD_NODENAME: nodeName(pool, index),
    GPU_COUNT: String(g?.count ?? 0),
    ...(g ? { GPU_TYPE: g.type } : {}),
    ...(g?.deviceFiles ? { GPU_DEVICE_FILES: g.deviceFiles } : {}),
  };
}
