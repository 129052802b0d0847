/** Renders cgroup.conf with keys the target Slurm release knows (see versions.ts). */
import type { ClusterSpec } from './model';
import { file, header, kv, yesNo } from './render-common';
import { assertValidCluster } from './validate';
import { cgroupConfKeys } from './versions';

/** @throws SlurmConfigError when the model is invalid. */
export function renderCgroupConf(spec: ClusterSpec): string {
  assertValidCluster(spec);
  const cg = spec.cgroup ?? {};
  const entries: Array<[string, string | number | undefined]> = [
    ['CgroupPlugin', cg.plugin ?? 'autodetect'],
    ['ConstrainCores', yesNo(cg.constrainCores ?? true)],
    ['ConstrainDevices', yesNo(cg.constrainDevices ?? true)],
    ['ConstrainRAMSpace', yesNo(cg.constrainRamSpace ?? true)],
    ['ConstrainSwapSpace', yesNo(cg.constrainSwapSpace ?? true)],
    ['AllowedRAMSpace', cg.allowedRamSpacePercent],
    ['IgnoreSystemdOnFailure', cg.ignoreSystemdOnFailure ? 'yes' : undefined],
  ];
  // Guard against writing a key this release dropped (e.g. CgroupAutomount after 23.11).
  const known = cgroupConfKeys(spec.slurmVersion);
  for (const [key, value] of entries) {
    if (value !== undefined && known.find(key) === undefined) {
      throw new Error(`cgroup.conf key ${key} is not known to Slurm ${spec.slurmVersion}; this is a cdktf-slurm bug.`);
    }
  }
  return file([header('cgroup.conf', spec), ...kv(entries)]);
}
