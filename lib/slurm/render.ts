/** Everything the controller needs, as files with their mode and owner. */
import { SlurmConfigError } from './errors';
import type { ClusterSpec, NodePoolSpec, SlurmVersion } from './model';
import { renderCgroupConf } from './render-cgroup-conf';
import { DEFAULTS, kv } from './render-common';
import { renderGresConf } from './render-gres-conf';
import { gresOf, hardwareEntries, renderSlurmConf } from './render-slurm-conf';
import { renderSlurmdbdConf } from './render-slurmdbd-conf';
import { validateNodePool } from './validate';

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
 * `CPUs=… RealMemory=… Gres=gpu:<type>:<n> Feature=…`. NodeName and Port are not allowed there.
 * @param version the Slurm release of the node. @default '22.05'
 * @throws SlurmConfigError when the pool is invalid.
 */
export function renderDynamicNodeConf(pool: NodePoolSpec, version: SlurmVersion = '22.05'): string {
  // Dynamic nodes are not counted from the pool; only its hardware matters, so a count is optional here.
  const probe: NodePoolSpec = pool.count === undefined && pool.maxCount === undefined ? { ...pool, count: 1 } : pool;
  const issues = validateNodePool(probe, version, 'pool');
  if (issues.length > 0) throw new SlurmConfigError(issues, `node pool '${String(pool.name)}'`);
  return kv([
    ...hardwareEntries(pool),
    ['Gres', gresOf(pool)],
    ['Feature', pool.features && pool.features.length > 0 ? pool.features.join(',') : undefined],
  ]).join(' ');
}
