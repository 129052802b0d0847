/** Renders gres.conf: per GPU pool one `Name=gpu` line, plus a `Name=shard` line when it shards. */
import type { ClusterSpec } from './model';
import { poolHostlist } from './nodes';
import { file, header } from './render-common';
import { defaultDeviceFiles } from './render-slurm-conf';
import { assertValidCluster } from './validate';

/**
 * @throws SlurmConfigError when the model is invalid.
 * @returns a comment-only file when no pool has GPUs (configless slurmd still fetches it).
 */
export function renderGresConf(spec: ClusterSpec): string {
  assertValidCluster(spec);
  const lines = [header('gres.conf', spec)];
  const gpuPools = spec.nodePools.filter((p) => p.gpus);
  if (gpuPools.length === 0) {
    lines.push('# No node pool has GPUs.');
    return file(lines);
  }
  for (const pool of gpuPools) {
    const g = pool.gpus!;
    const nodes = poolHostlist(pool);
    lines.push(`NodeName=${nodes} Name=gpu Type=${g.type} File=${g.deviceFiles ?? defaultDeviceFiles(g.count)}`);
    // Without File=, Slurm spreads the shards evenly over the node's GPUs.
    if (g.shardsPerGpu) lines.push(`NodeName=${nodes} Name=shard Count=${g.count * g.shardsPerGpu}`);
  }
  return file(lines);
}
