/**
 * mounts.sh against fakes on PATH: each line of the mount table reaches its client (nfs-client.sh,
 * lustre-client.sh, ceph-client.sh) with that line's source, mount point, options and secret; a bad table is
 * refused before anything is mounted; a re-run mounts nothing twice. A failed mount on a compute node is recorded
 * (and slurmd.sh drains the node) instead of stopping the bootstrap; on a controller it still fails the step.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderMountTable } from '../../lib/cloudinit/mounts';
import { Sandbox, SCRIPTS_DIR, FAKE_MOUNT_TABLE_TOOLS } from './sh';

let sb: Sandbox;
let fake: string;
let base: Record<string, string>;

const KERNEL = '6.8.0-1019-aws';
const CEPH_KEY = 'AQBxy2RlAAAAABAAk3h1Jw8Xq0pVZk8t3l1mQw==';
const CEPH_SOURCE = 'slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/';

// State per mount point ("<mount point> <source> <fstype>" lines in $FAKE/mounted), so several mounts can
// coexist. The Lustre and Ceph clients are installed (mount.lustre, mount.ceph, the module for the kernel).
const FAKES: Record<string, string> = {
  'dpkg-query': `#!/bin/bash\nprintf installed\n`,
  ...FAKE_MOUNT_TABLE_TOOLS,
  // FAKE_FAIL_MP: a mount point whose mount always fails.
  mount: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/mount-calls"
fstab=$2 mp=$3
if [[ "$mp" == "\${FAKE_FAIL_MP:-}" ]]; then echo "mount: $mp: Connection timed out" >&2; exit 32; fi
awk -v mp="$mp" '$2 == mp { print mp, $1, $3 }' "$fstab" >>"$FAKE/mounted"
`,
  uname: `#!/bin/bash\n[[ "$1" == -r ]] && echo ${KERNEL}\n`,
  modinfo: `#!/bin/bash\n[[ "$*" == "-k ${KERNEL} lustre" ]]\n`,
  modprobe: `#!/bin/bash\nprintf '%s\\n' "$*" >>"$FAKE/modprobe-calls"\n`,
  'mount.lustre': `#!/bin/bash\nexit 0\n`,
  'mount.ceph': `#!/bin/bash\nexit 0\n`,
};

beforeEach(() => {
  sb = new Sandbox();
  fake = path.join(sb.dir, 'fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  const fstab = path.join(sb.dir, 'fstab');
  base = {
    PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`,
    FAKE: fake,
    NFS_FSTAB: fstab,
    NFS_MOUNT_RETRY_DELAY: '0.1',
    LUSTRE_FSTAB: fstab,
    LUSTRE_MOUNT_RETRY_DELAY: '0.1',
    CEPH_FSTAB: fstab,
    CEPH_MOUNT_RETRY_DELAY: '0.1',
    CEPH_SECRET_DIR: path.join(sb.dir, 'etc-ceph'),
    // Never the host's /run.
    MOUNT_FAILURES_FILE: path.join(sb.dir, 'run', 'mount-failures'),
  };
});
afterEach(() => sb.cleanup());

const mountCalls = (): string[] => {
  const p = path.join(fake, 'mount-calls');
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
};

test('every line of the rendered table is mounted with its own source, mount point and options; a re-run mounts nothing', () => {
  const home = path.join(sb.dir, 'home');
  const data = path.join(sb.dir, 'data');
  // The table the library renders, not a hand-written one: the two ends must agree on the format. (The library
  // refuses mount points under /tmp, so the sandbox paths are swapped in afterwards.)
  const rendered = renderMountTable([
    { kind: 'nfs', source: 'filer:/export/home', mountPoint: '/home', origin: 'test/Home' },
    { kind: 'nfs', source: 'slurm-controller:/shared', mountPoint: '/data', options: 'ro,vers=4.1', origin: 'test/Data' },
  ]);
  const table = sb.file('mounts.tab', rendered.replace('\t/home\t', `\t${home}\t`).replace('\t/data\t', `\t${data}\t`));
  const env = { ...base, CDKTF_SLURM_MOUNT_TABLE: table };
  const r1 = sb.script('mounts.sh', env);
  expect(r1.status).toBe(0);
  expect(r1.log).toMatch(/2 mount\(s\) in /);
  expect(fs.readFileSync(base.NFS_FSTAB, 'utf8')).toBe(
    `filer:/export/home ${home} nfs4 _netdev,nofail,vers=4.2,hard,timeo=600,retrans=2 0 0\n` +
      // Given options replace the defaults; _netdev,nofail stay.
      `slurm-controller:/shared ${data} nfs4 _netdev,nofail,ro,vers=4.1 0 0\n`,
  );
  expect(mountCalls()).toEqual([`-T ${base.NFS_FSTAB} ${home}`, `-T ${base.NFS_FSTAB} ${data}`]);

  const r2 = sb.script('mounts.sh', env);
  expect(r2.status).toBe(0);
  expect(mountCalls()).toHaveLength(2);
  expect(r2.log).toMatch(/already mounted from filer:\/export\/home/);
});

test('no table, or one with only a comment, mounts nothing and succeeds', () => {
  const missing = sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: path.join(sb.dir, 'none.tab') });
  expect(missing.status).toBe(0);
  expect(missing.log).toMatch(/no mount table at .*nothing to mount/);
  const comment = sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: sb.file('c.tab', '# no cluster file systems\n') });
  expect(comment.status).toBe(0);
  expect(comment.log).toMatch(/0 mount\(s\)/);
  expect(mountCalls()).toEqual([]);
});

test.each([
  ['an unknown kind', 'beegfs\tmgmt:/fs\t/beegfs\t-\t-\n', /line 2: no client for file system kind 'beegfs'/],
  ['a Lustre source without @tcp', 'lustre\t10.0.0.5:/lfs\t/lustre\t-\t-\n', /line 2: Lustre source '10\.0\.0\.5:\/lfs' is not <nid>/],
  ['a Lustre fsname over 8 characters', 'lustre\t10.0.0.5@tcp:/abcdefghi\t/lustre\t-\t-\n', /line 2: Lustre source .* is not <nid>/],
  ['a Lustre line with a secret', 'lustre\t10.0.0.5@tcp:/lfs\t/lustre\t-\tfile:/k\n', /line 2: Lustre mounts take no secret/],
  ['a CephFS source in the old syntax', 'ceph\t10.0.0.1:/\t/cephfs\tmon_addr=10.0.0.1\tfile:/k\n', /line 2: CephFS source '10\.0\.0\.1:\/' is not <client-name>@<fsid>\.<fsname>=<path>/],
  ['CephFS without mon_addr', `ceph\t${CEPH_SOURCE}\t/cephfs\tnoatime\tfile:/k\n`, /line 2: CephFS options for \/cephfs have no mon_addr=/],
  ['CephFS without options', `ceph\t${CEPH_SOURCE}\t/cephfs\t-\tfile:/k\n`, /line 2: CephFS options for \/cephfs have no mon_addr=/],
  ['CephFS without a secret', `ceph\t${CEPH_SOURCE}\t/cephfs\tmon_addr=10.0.0.1\t-\n`, /line 2: CephFS mount \/cephfs has no secret reference/],
  ['a malformed SSM reference', 'lustre\taws-ssm:cdktf-slurm/x\t/lustre\t-\t-\n', /line 2: 'aws-ssm:cdktf-slurm\/x' is not an SSM parameter reference/],
  ['CephFS with the key in its options', `ceph\t${CEPH_SOURCE}\t/cephfs\tmon_addr=10.0.0.1,secret=${CEPH_KEY}\tfile:/k\n`, /line 2: CephFS options must not carry secret=/],
  ['a short line', 'nfs\tfiler:/x\t/x\n', /line 2: expected 5 tab-separated fields/],
  ['a duplicate mount point', 'nfs\tother:/y\t/home\t-\t-\n', /line 2: mount point \/home appears twice/],
  ['a bad NFS source', 'nfs\tfiler\t/x\t-\t-\n', /line 2: NFS source 'filer' is not server:\/path/],
])('refuses %s before mounting anything', (_name, line2, message) => {
  const table = sb.file('mounts.tab', `nfs\tfiler:/home\t/home\t-\t-\n${line2}`);
  const r = sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: table });
  expect(r.status).toBe(1);
  expect(r.log).toMatch(message);
  // The first, valid line was not mounted either: the table is checked whole first.
  expect(mountCalls()).toEqual([]);
  expect(fs.existsSync(base.NFS_FSTAB)).toBe(false);
  for (const t of [r.log, r.stdout, r.stderr]) expect(t).not.toContain(CEPH_KEY);
});

test('a bad table fails a compute node too: it is a rendering problem, not a file system that is down', () => {
  fs.writeFileSync(sb.envFile, "CDKTF_SLURM_ROLES='compute'\n");
  const table = sb.file('mounts.tab', `nfs\tfiler:/home\t/home\t-\t-\nceph\t${CEPH_SOURCE}\t/cephfs\tnoatime\tfile:/k\n`);
  const r = sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: table });
  expect(r.status).toBe(1);
  expect(r.log).toMatch(/line 2: CephFS options for \/cephfs have no mon_addr=/);
  expect(mountCalls()).toEqual([]);
});

test('nfs-client.sh refuses options with spaces', () => {
  const r = sb.script('nfs-client.sh', {
    ...base,
    NFS_SERVER: 'filer',
    NFS_REMOTE_PATH: '/x',
    NFS_MOUNT_POINT: path.join(sb.dir, 'x'),
    NFS_MOUNT_OPTIONS: 'ro, hard',
  });
  expect(r.status).toBe(1);
  expect(r.log).toMatch(/NFS_MOUNT_OPTIONS='ro, hard' must be comma-separated fstab options without spaces/);
});

describe('Lustre and CephFS lines', () => {
  test('reach their clients with the line\'s source, mount point, options and secret; a re-run mounts nothing', () => {
    const lustre = path.join(sb.dir, 'lustre');
    const ceph = path.join(sb.dir, 'cephfs');
    const home = path.join(sb.dir, 'home');
    const key = sb.file('secrets/ceph.key', `${CEPH_KEY}\n`, 0o600);
    // The table format lib/cloudinit/mounts.ts renders: kind, source, mount point, options|-, secret|-.
    const table = sb.file(
      'mounts.tab',
      `lustre\tfs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh\t${lustre}\t-\t-\n` +
        `ceph\t${CEPH_SOURCE}\t${ceph}\tmon_addr=10.0.0.1:3300/10.0.0.2:3300,noatime\tfile:${key}\n` +
        `nfs\tfiler:/export/home\t${home}\tro\t-\n`,
    );
    const env = { ...base, CDKTF_SLURM_MOUNT_TABLE: table };
    const r1 = sb.script('mounts.sh', env);
    expect(r1.status).toBe(0);
    const keyFile = path.join(base.CEPH_SECRET_DIR, 'slurm.cephfs.secret');
    expect(fs.readFileSync(base.NFS_FSTAB, 'utf8')).toBe(
      `fs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh ${lustre} lustre defaults,flock,_netdev 0 0\n` +
        `${CEPH_SOURCE} ${ceph} ceph mon_addr=10.0.0.1:3300/10.0.0.2:3300,noatime,secretfile=${keyFile},_netdev 0 0\n` +
        `filer:/export/home ${home} nfs4 _netdev,nofail,ro 0 0\n`,
    );
    expect(fs.readFileSync(keyFile, 'utf8')).toBe(CEPH_KEY);
    expect(mountCalls()).toEqual([`-T ${base.NFS_FSTAB} ${lustre}`, `-T ${base.NFS_FSTAB} ${ceph}`, `-T ${base.NFS_FSTAB} ${home}`]);
    expect(r1.log).toMatch(/\[lustre-client\] mounted Lustre/);
    expect(r1.log).toMatch(/\[ceph-client\] mounted CephFS/);
    for (const t of [r1.log, r1.stdout, r1.stderr]) expect(t).not.toContain(CEPH_KEY);
    expect(fs.existsSync(base.MOUNT_FAILURES_FILE)).toBe(false);

    const r2 = sb.script('mounts.sh', env);
    expect(r2.status).toBe(0);
    expect(mountCalls()).toHaveLength(3);
  });
});

describe('aws-ssm: sources (FSx names, known after apply)', () => {
  const mp = () => path.join(sb.dir, 'lustre');
  const PARAM = '/cdktf-slurm/hpc/filesystems/scratch';
  const run = (value: string | null, roles = 'compute') => {
    // A fake aws CLI answering the SSM read (or refusing it), logging its arguments.
    fs.writeFileSync(
      path.join(fake, 'bin', 'aws'),
      `#!/bin/bash\nprintf '%s\\n' "$*" >>"$FAKE/aws-calls"\n${value === null ? 'echo "An error occurred (AccessDeniedException)" >&2; exit 254' : `printf '%s\\n' '${value}'`}\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(sb.envFile, `CDKTF_SLURM_ROLES='${roles}'\n`);
    const table = sb.file('mounts.tab', `lustre\taws-ssm:${PARAM}\t${mp()}\tdefaults,flock\t-\n`);
    return sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: table, AWS_REGION: 'eu-west-1', SSM_RETRY_DELAY: '0' });
  };
  const awsCalls = (): string[] => {
    const p = path.join(fake, 'aws-calls');
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
  };

  test('the parameter is read just before the mount and its value mounted', () => {
    const r = run('fs-0abc.fsx.eu-west-1.amazonaws.com@tcp:/abcdefgh');
    expect(r.status).toBe(0);
    expect(awsCalls()).toEqual([`ssm get-parameter --region eu-west-1 --name ${PARAM} --query Parameter.Value --output text`]);
    expect(fs.readFileSync(base.NFS_FSTAB, 'utf8')).toBe(`fs-0abc.fsx.eu-west-1.amazonaws.com@tcp:/abcdefgh ${mp()} lustre defaults,flock,_netdev 0 0\n`);
    expect(mountCalls()).toEqual([`-T ${base.NFS_FSTAB} ${mp()}`]);
    expect(r.log).toMatch(new RegExp(`source of ${mp()}: fs-0abc\\.fsx\\.eu-west-1\\.amazonaws\\.com@tcp:/abcdefgh \\(from aws-ssm:${PARAM}\\)`));
  });

  test('a read the role may not make is a failed mount: recorded on a compute node, fatal on a controller', () => {
    const compute = run(null);
    expect(compute.status).toBe(0);
    expect(fs.readFileSync(base.MOUNT_FAILURES_FILE, 'utf8')).toMatch(
      new RegExp(`^${mp()}\\tcould not read SSM parameter ${PARAM} in eu-west-1; the instance role needs ssm:GetParameter`),
    );
    expect(mountCalls()).toEqual([]);
    const controller = run(null, 'controller');
    expect(controller.status).toBe(1);
    expect(controller.log).toMatch(/on this host \(roles: controller\) that stops the bootstrap: could not read SSM parameter/);
  });

  test('a value that is not a Lustre source is a failed mount, naming the parameter', () => {
    const r = run('fs-0abc.fsx.eu-west-1.amazonaws.com');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(base.MOUNT_FAILURES_FILE, 'utf8')).toMatch(
      new RegExp(`\\tSSM parameter ${PARAM} holds no usable source for ${mp()}: Lustre source 'fs-0abc\\.fsx\\.eu-west-1\\.amazonaws\\.com' is not <nid>`),
    );
    expect(mountCalls()).toEqual([]);
  });
});

describe('failure policy: drain, not hang', () => {
  const lustre = () => path.join(sb.dir, 'lustre');
  const home = () => path.join(sb.dir, 'home');
  const scratch = () => path.join(sb.dir, 'scratch');
  const table = () =>
    sb.file(
      'mounts.tab',
      `lustre\t10.0.0.5@tcp:/lfs\t${lustre()}\t-\t-\n` +
        `nfs\tfiler:/home\t${home()}\t-\t-\n` +
        `nfs\tfiler:/scratch\t${scratch()}\t-\t-\n`,
    );
  const run = (roles: string, over: Record<string, string> = {}) => {
    fs.writeFileSync(sb.envFile, `CDKTF_SLURM_ROLES='${roles}'\n`);
    return sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: table(), LUSTRE_MOUNT_ATTEMPTS: '2', NFS_MOUNT_ATTEMPTS: '1', ...over });
  };

  test('a compute node records the failed mount, mounts the others and succeeds; a clean re-run clears the record', () => {
    const r1 = run('compute', { FAKE_FAIL_MP: lustre() });
    expect(r1.status).toBe(0);
    // One line: the mount point, a tab, the client's last ERROR message (cut to 200 characters).
    const record = fs.readFileSync(base.MOUNT_FAILURES_FILE, 'utf8');
    expect(record.split('\n')).toHaveLength(2);
    const [point, reason] = record.trimEnd().split('\t');
    expect(point).toBe(lustre());
    expect(reason).toMatch(new RegExp(`^could not mount Lustre 10\\.0\\.0\\.5@tcp:/lfs on ${lustre()} after 2 attempts; check that this node reaches the MGS`));
    expect(reason.length).toBe(200);
    // Two attempts for the Lustre mount, then the NFS mounts all the same.
    expect(mountCalls()).toEqual([
      `-T ${base.NFS_FSTAB} ${lustre()}`,
      `-T ${base.NFS_FSTAB} ${lustre()}`,
      `-T ${base.NFS_FSTAB} ${home()}`,
      `-T ${base.NFS_FSTAB} ${scratch()}`,
    ]);
    expect(r1.log).toMatch(/warning: lustre mount on .*lustre failed \(exit 1\); compute node: recorded in/);
    expect(r1.log).toMatch(/1 of 3 mount\(s\) failed: .*lustre; listed in/);
    // The client's own messages still reach stderr.
    expect(r1.stderr).toMatch(/\[lustre-client\] ERROR: could not mount Lustre/);

    const r2 = run('compute');
    expect(r2.status).toBe(0);
    expect(fs.existsSync(base.MOUNT_FAILURES_FILE)).toBe(false);
    expect(r2.log).toMatch(/all mounts succeeded: clearing the earlier failures/);
  });

  test('every failed mount gets its line; a login+compute node is a compute node', () => {
    const r = run('login compute', { FAKE_FAIL_MP: home() });
    expect(r.status).toBe(0);
    const lines = fs.readFileSync(base.MOUNT_FAILURES_FILE, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.split('\t')[0])).toEqual([home()]);
    expect(lines[0]).toMatch(/\tcould not mount filer:\/home on .* after 1 attempts/);
  });

  test('a failing client with no ERROR line is recorded by its exit status', () => {
    // A client killed by something else (here: modprobe crashing the script) still gets a reason.
    fs.writeFileSync(path.join(fake, 'bin', 'modprobe'), '#!/bin/bash\nkill -9 $PPID\n', { mode: 0o755 });
    const r = run('compute');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(base.MOUNT_FAILURES_FILE, 'utf8')).toBe(`${lustre()}\tlustre client exited 137\n`);
  });

  test.each([['controller'], ['login'], ['controller compute']])('a %s host fails the step at the first failed mount', (roles) => {
    fs.mkdirSync(path.dirname(base.MOUNT_FAILURES_FILE), { recursive: true });
    const r = run(roles, { FAKE_FAIL_MP: lustre() });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(new RegExp(`ERROR: lustre mount on .*lustre failed \\(exit 1\\); on this host \\(roles: ${roles}\\) that stops the bootstrap: could not mount Lustre`));
    // The NFS mounts after it were not attempted.
    expect(mountCalls().filter((c) => !c.endsWith(lustre()))).toEqual([]);
    expect(fs.existsSync(base.MOUNT_FAILURES_FILE)).toBe(false);
  });
});

/**
 * slurmd.sh's drain/resume block, run on its own against a fake scontrol (the rest of slurmd.sh starts a real
 * daemon). The block is cut out of slurmd.sh between its markers, so this is the code the node runs.
 */
describe('slurmd.sh drains a node whose mounts failed', () => {
  const slurmd = fs.readFileSync(path.join(SCRIPTS_DIR, 'slurmd.sh'), 'utf8');
  const block = slurmd.slice(slurmd.indexOf('# >>> mount failures'), slurmd.indexOf('# <<< mount failures'));
  // show node prints $FAKE/node-line; update records its arguments one per line (| between) and fails while
  // $FAKE/update-fails counts down.
  const SCONTROL = `#!/bin/bash
if [[ "$1" == show ]]; then cat "$FAKE/node-line" 2>/dev/null; exit 0; fi
n=$(cat "$FAKE/update-fails" 2>/dev/null || echo 0)
if (( n > 0 )); then echo $((n - 1)) >"$FAKE/update-fails"; echo "slurm_update error: Unable to contact slurm controller" >&2; exit 1; fi
(IFS='|'; printf '%s\\n' "$*") >>"$FAKE/scontrol-calls"
`;
  const updates = (): string[] => {
    const p = path.join(fake, 'scontrol-calls');
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
  };
  const runBlock = (over: Record<string, string> = {}) =>
    sb.bash(`node=gpu-1\nlog 'slurmd is up' # as in slurmd.sh, something was logged before\n${block}`, { ...base, MOUNT_DRAIN_RETRY_DELAY: '0.1', ...over });
  const nodeLine = (state: string, reason?: string) =>
    fs.writeFileSync(
      path.join(fake, 'node-line'),
      `NodeName=gpu-1 Arch=x86_64 CoresPerSocket=4 State=${state} ThreadsPerCore=1 Partitions=gpu${reason ? ` Reason=${reason}` : ''}\n`,
    );
  const logFile = () => path.join(sb.logDir, 'bootstrap.log');

  beforeEach(() => {
    fs.writeFileSync(path.join(fake, 'bin', 'scontrol'), SCONTROL, { mode: 0o755 });
  });

  test('the block is there', () => {
    expect(block).toMatch(/scontrol update nodename="\$node" state=drain/);
  });

  test('drains with the first mount point and the count of the others, retrying while slurmctld does not answer', () => {
    sb.file('run/mount-failures', '/lustre\tcould not mount Lustre\n/cephfs\tcould not mount CephFS\n/scratch\tx\n');
    fs.writeFileSync(path.join(fake, 'update-fails'), '2');
    const r = runBlock();
    expect(r.status).toBe(0);
    expect(updates()).toEqual([`update|nodename=gpu-1|state=drain|reason=mount failed: /lustre (+2 more), see ${logFile()}`]);
    expect(r.log).toMatch(/attempt 2\/6; retrying/);
    expect(r.log).toMatch(/drained node gpu-1: mount failed: \/lustre \(\+2 more\)/);
  });

  test('one failed mount: no "+N more"', () => {
    sb.file('run/mount-failures', '/lustre\tcould not mount Lustre\n');
    expect(runBlock().status).toBe(0);
    expect(updates()).toEqual([`update|nodename=gpu-1|state=drain|reason=mount failed: /lustre, see ${logFile()}`]);
  });

  test('fails (naming the manual fix) when the node cannot be drained', () => {
    sb.file('run/mount-failures', '/lustre\tx\n');
    fs.writeFileSync(path.join(fake, 'update-fails'), '99');
    const r = runBlock();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/node gpu-1 could not be drained after its mounts failed .*scontrol update nodename=gpu-1 state=drain/);
  });

  test('resumes a node drained by an earlier mount failure once nothing failed', () => {
    nodeLine('IDLE+DRAIN', `mount failed: /lustre, see /var/log/cdktf-slurm/bootstrap.log [root@2025-01-01T00:00:00]`);
    const r = runBlock();
    expect(r.status).toBe(0);
    expect(updates()).toEqual(['update|nodename=gpu-1|state=resume']);
    expect(r.log).toMatch(/resumed node gpu-1: its mounts work now/);
  });

  test.each([
    ['drained for another reason', 'IDLE+DRAIN', 'GPU 3 fell off the bus [root@2025-01-01T00:00:00]'],
    ['drained with a reason that merely mentions a mount', 'IDLE+DRAIN', 'nfs mount failed: /home [root@2025-01-01T00:00:00]'],
    ['not drained', 'IDLE', undefined],
    ['down with our old reason', 'DOWN', 'mount failed: /lustre, see x'],
  ])('leaves a node %s alone', (_name, state, reason) => {
    sb.file('run/mount-failures', ''); // empty counts as absent
    nodeLine(state, reason);
    const r = runBlock();
    expect(r.status).toBe(0);
    expect(updates()).toEqual([]);
  });

  test('end to end: the record mounts.sh writes is what the block drains with', () => {
    const mp = path.join(sb.dir, 'lustre');
    fs.writeFileSync(sb.envFile, "CDKTF_SLURM_ROLES='compute'\n");
    const table = sb.file('mounts.tab', `lustre\t10.0.0.5@tcp:/lfs\t${mp}\t-\t-\n`);
    expect(sb.script('mounts.sh', { ...base, CDKTF_SLURM_MOUNT_TABLE: table, FAKE_FAIL_MP: mp, LUSTRE_MOUNT_ATTEMPTS: '1' }).status).toBe(0);
    expect(runBlock().status).toBe(0);
    expect(updates()).toEqual([`update|nodename=gpu-1|state=drain|reason=mount failed: ${mp}, see ${logFile()}`]);
  });
});
