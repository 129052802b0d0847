/**
 * Can this machine boot the test cluster? Outside CI a missing prerequisite skips the suite with a
 * loud message; with CI=true it fails the suite, so CI can never pass by skipping.
 */
import * as fs from 'fs';
import * as path from 'path';

/** Binaries the harness and the tests call on the host or inside the nodes (which share the host's /usr). */
export const REQUIRED_BINARIES = [
  'nsenter', 'unshare', 'chroot', 'ip', 'mount', 'mknod', 'bash',
  'munged', 'slurmctld', 'slurmd', 'slurmdbd', 'mariadbd', 'mariadb-install-db', 'mariadb',
  'sinfo', 'srun', 'sbatch', 'sacct', 'scontrol', 'squeue', 'sacctmgr',
] as const;

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function which(bin: string): string | undefined {
  for (const d of SEARCH) {
    const p = path.join(d, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Reasons the real cluster cannot run here; empty when it can. */
export function clusterPrerequisiteProblems(): string[] {
  const problems: string[] = [];
  if (process.platform !== 'linux') return [`not Linux (${process.platform})`];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) problems.push('not running as root');
  if (!fs.existsSync('/etc/debian_version')) problems.push('not Debian/Ubuntu (/etc/debian_version missing)');
  const missing = REQUIRED_BINARIES.filter((b) => !which(b));
  if (missing.length) problems.push(`missing binaries: ${missing.join(' ')} (run scripts/setup-debian.sh)`);
  try {
    if (!/\boverlay\b/.test(fs.readFileSync('/proc/filesystems', 'utf8'))) problems.push('kernel has no overlayfs');
  } catch {
    problems.push('cannot read /proc/filesystems');
  }
  if (hostCgroupFlavour() === 'none') {
    problems.push(
      'no usable cgroup hierarchy under /sys/fs/cgroup (neither cgroup2 nor the v1 freezer/cpuset/memory/devices ' +
        'controllers); the cluster model cannot express the proctrack/linuxproc + task/none fallback',
    );
  }
  return problems;
}

export type CgroupFlavour = 'cgroup/v1' | 'cgroup/v2' | 'none';

/**
 * What `/sys/fs/cgroup` is: a cgroup2 mount (pure v2), a tmpfs of v1 controller mounts (v1 or
 * hybrid; Slurm 22.05 uses the v1 controllers), or neither.
 */
export function hostCgroupFlavour(): CgroupFlavour {
  let mountinfo = '';
  try {
    mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return 'none';
  }
  const mounts = mountinfo.split('\n').map((l) => {
    const parts = l.split(' ');
    const sep = parts.indexOf('-');
    return { point: parts[4], fstype: sep >= 0 ? parts[sep + 1] : '' };
  });
  if (mounts.some((m) => m.point === '/sys/fs/cgroup' && m.fstype === 'cgroup2')) return 'cgroup/v2';
  const v1 = ['freezer', 'cpuset', 'memory', 'devices'].every((c) =>
    mounts.some((m) => m.fstype === 'cgroup' && path.basename(m.point).split(',').includes(c)),
  );
  return v1 ? 'cgroup/v1' : 'none';
}

/**
 * `describe` that runs only where the cluster can boot. Elsewhere: skip with a loud console message,
 * or, when `CI=true`, register one failing test that lists the problems.
 */
export function describeCluster(name: string, fn: () => void): void {
  const problems = clusterPrerequisiteProblems();
  if (problems.length === 0) {
    describe(name, fn);
    return;
  }
  const msg = `REAL-CLUSTER SUITE "${name}" CANNOT RUN HERE:\n  - ${problems.join('\n  - ')}`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('prerequisites for the real cluster are present (CI=true: no skipping)', () => {
        throw new Error(msg);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`\n${'!'.repeat(78)}\n${msg}\n  => SKIPPED (set CI=true to make this a failure)\n${'!'.repeat(78)}\n`);
  describe.skip(name, fn);
}
