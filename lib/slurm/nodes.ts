/**
 * Node naming for pools. A pool of N nodes is named `<pool>-0` … `<pool>-<N-1>` and appears in
 * slurm.conf as one hostlist range, so the output does not grow with the node count.
 */
import type { ClusterSpec, NodePoolSpec } from './model';

/** Nodes a pool may have: `count` for static pools, `maxCount` for cloud pools. */
export function poolNodeCount(pool: NodePoolSpec): number {
  return pool.count ?? pool.maxCount ?? 0;
}

/** True when the pool's nodes are powered up on demand (`State=CLOUD`). */
export function isCloudPool(pool: NodePoolSpec): boolean {
  return pool.maxCount !== undefined && pool.count === undefined;
}

/** True when the pool's nodes register themselves (`slurmd -Z`) instead of having a node line. */
export function isDynamicPool(pool: NodePoolSpec): boolean {
  return pool.registration === 'dynamic';
}

/** `<pool>-<index>`. */
export function nodeName(pool: NodePoolSpec, index: number): string {
  return `${pool.name}-${index}`;
}

/** Every node name of the pool, in index order. */
export function poolNodeNames(pool: NodePoolSpec): string[] {
  return Array.from({ length: poolNodeCount(pool) }, (_, i) => nodeName(pool, i));
}

/** The pool as a hostlist: `gpu-[0-127]`, or `gpu-0` for a single node. */
export function poolHostlist(pool: NodePoolSpec): string {
  const n = poolNodeCount(pool);
  // Built directly rather than by compressing N names: pools may have tens of thousands of nodes.
  return n === 1 ? nodeName(pool, 0) : `${pool.name}-[0-${n - 1}]`;
}

/**
 * Nodes that stay up and must never be suspended, for `SuspendExcNodes`: all nodes of a static pool,
 * the first `minCount` nodes of a cloud pool. None of a dynamic pool: names that do not exist when
 * slurmctld starts make Slurm 22.05 ignore the whole list ("Invalid SuspendExcNodes … ignored",
 * seen on the real daemons); dynamic nodes are kept up another way (render-slurm-conf.ts).
 */
export function staticNodeNames(pool: NodePoolSpec): string[] {
  return Array.from({ length: staticNodeCount(pool) }, (_, i) => nodeName(pool, i));
}

/** How many of the pool's nodes are always up (static nodes, or a cloud pool's minCount); dynamic pools: 0. */
export function staticNodeCount(pool: NodePoolSpec): number {
  if (isDynamicPool(pool)) return 0;
  return isCloudPool(pool) ? (pool.minCount ?? 0) : poolNodeCount(pool);
}

/** Hostlist of `staticNodeNames` over every pool, or '' when there are none. */
export function staticNodesHostlist(spec: ClusterSpec): string {
  const parts: string[] = [];
  for (const pool of spec.nodePools) {
    // Counted, not listed: the hostlist stays O(pools) however many nodes a pool has.
    const n = staticNodeCount(pool);
    if (n > 0) parts.push(n === 1 ? nodeName(pool, 0) : `${pool.name}-[0-${n - 1}]`);
  }
  return parts.join(',');
}

/** Total nodes the pools may have (static and dynamic counts plus cloud maxima). */
export function totalNodeCount(spec: ClusterSpec): number {
  return spec.nodePools.reduce((sum, pool) => sum + poolNodeCount(pool), 0);
}

/** The hostlist of several pools, in the order given. */
export function poolsHostlist(pools: readonly NodePoolSpec[]): string {
  return pools.map(poolHostlist).join(',');
}

/**
 * A partition's `Nodes=`: named pools as hostlists, dynamic pools by their NodeSet (named like the
 * pool), which slurmctld fills as nodes with the pool's feature register.
 */
export function partitionNodes(pools: readonly NodePoolSpec[]): string {
  return pools.map((p) => (isDynamicPool(p) ? p.name : poolHostlist(p))).join(',');
}
