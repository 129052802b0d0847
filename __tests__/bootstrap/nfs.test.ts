/**
 * nfs-server.sh and nfs-client.sh against fakes on PATH (dpkg-query, exportfs, service, mount, mountpoint,
 * findmnt): the export goes to the given ranges only with the fixed options, re-runs change nothing, the
 * client keeps one fstab line with _netdev,nofail, retries a failing mount and bounds a hanging one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox } from './sh';

let sb: Sandbox;
let fake: string;
let base: Record<string, string>;

const FAKES: Record<string, string> = {
  // Every package installed: apt is never called.
  'dpkg-query': `#!/bin/bash\nprintf installed\n`,
  exportfs: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/exportfs-calls"
if [[ "$1" == -s ]]; then grep -v '^#' "$NFS_EXPORTS_FILE" | awk '{ print $1 "\\t" $2 }'; fi
`,
  service: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/service-calls"
case "$2" in
  status) [[ -f "$FAKE/nfsd-running" ]] ;;
  start) : >"$FAKE/nfsd-running" ;;
esac
`,
  mountpoint: `#!/bin/bash\n[[ -f "$FAKE/mounted" ]]\n`,
  findmnt: `#!/bin/bash\ncat "$FAKE/mounted"\n`,
  mount: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/mount-calls"
n=$(wc -l <"$FAKE/mount-calls")
if [[ -n "\${FAKE_MOUNT_HANG:-}" ]]; then exec sleep 60; fi
if (( n <= \${FAKE_MOUNT_FAILS:-0} )); then echo "mount.nfs4: Connection timed out" >&2; exit 32; fi
echo "\${FAKE_MOUNT_SOURCE:-slurm-controller:/shared}" >"$FAKE/mounted"
`,
};

beforeEach(() => {
  sb = new Sandbox();
  fake = path.join(sb.dir, 'fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  base = { PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`, FAKE: fake };
});
afterEach(() => sb.cleanup());

const calls = (name: string): string[] => {
  const p = path.join(fake, `${name}-calls`);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
};

describe('nfs-server.sh', () => {
  const exportsFile = () => path.join(sb.dir, 'exports.d', 'cdktf-slurm.exports');
  /** The export table (lines of tab-separated fields) and the script's environment. */
  const serverEnv = (lines: string[][]) => ({
    ...base,
    CDKTF_SLURM_EXPORT_TABLE: sb.file('exports.tab', lines.map((l) => `${l.join('\t')}\n`).join('')),
    NFS_EXPORTS_FILE: exportsFile(),
  });
  const shared = () => path.join(sb.dir, 'shared');
  const home = () => path.join(sb.dir, 'home');

  test('exports each path to its ranges only, with rw,sync,no_subtree_check,root_squash; starts the server; a re-run changes nothing', () => {
    const env = serverEnv([[shared(), '100.64.0.0/10,10.0.0.0/16', '1777', '-', '-'], [home(), '10.0.0.0/16', '0755', '-', '-']]);
    const r = sb.script('nfs-server.sh', env);
    expect(r.status).toBe(0);

    const exportsText = fs.readFileSync(exportsFile(), 'utf8');
    expect(exportsText.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
      `${shared()} 100.64.0.0/10(rw,sync,no_subtree_check,root_squash) 10.0.0.0/16(rw,sync,no_subtree_check,root_squash)`,
      `${home()} 10.0.0.0/16(rw,sync,no_subtree_check,root_squash)`,
    ]);
    expect(exportsText).not.toMatch(/(^|\s)(\*|0\.0\.0\.0\/0)\(|no_root_squash/m);
    expect((fs.statSync(exportsFile()).mode & 0o777).toString(8)).toBe('644');
    // New directories get their mode: a sticky shared scratch, and homes that only their owners write.
    expect((fs.statSync(shared()).mode & 0o7777).toString(8)).toBe('1777');
    expect((fs.statSync(home()).mode & 0o7777).toString(8)).toBe('755');
    expect(calls('service')).toEqual(['nfs-kernel-server status', 'nfs-kernel-server start']);
    expect(calls('exportfs')).toEqual(['-ra', '-s']);
    expect(r.log).toMatch(/exported .*\/shared to 100\.64\.0\.0\/10,10\.0\.0\.0\/16/);

    const before = fs.statSync(exportsFile()).mtimeMs;
    const again = sb.script('nfs-server.sh', env);
    expect(again.status).toBe(0);
    expect(fs.statSync(exportsFile()).mtimeMs).toBe(before);
    expect(again.log).toMatch(/export of .*\/home to 10\.0\.0\.0\/16 unchanged/);
    expect(calls('service').filter((c) => c.endsWith('start'))).toHaveLength(1);
  });

  test('keeps the owner and mode of an existing directory', () => {
    fs.mkdirSync(shared(), { mode: 0o750 });
    fs.chmodSync(shared(), 0o750);
    expect(sb.script('nfs-server.sh', serverEnv([[shared(), '10.0.0.0/16', '1777', '-', '-']])).status).toBe(0);
    expect((fs.statSync(shared()).mode & 0o7777).toString(8)).toBe('750');
  });

  test.each([
    ['a wildcard client', [['%S', '*', '1777', '-', '-']], /line 1: client '\*' is not an IPv4 CIDR/],
    ['the whole internet', [['%S', '100.64.0.0/10,0.0.0.0/0', '1777', '-', '-']], /line 1: client '0\.0\.0\.0\/0' is wider than \/8/],
    ['a host name', [['%S', 'gpu-box', '1777', '-', '-']], /client 'gpu-box' is not an IPv4 CIDR/],
    ['a system directory', [['/etc', '10.0.0.0/16', '1777', '-', '-']], /path '\/etc' is a system directory/],
    ['a relative path', [['shared', '10.0.0.0/16', '1777', '-', '-']], /path 'shared' must be an absolute path/],
    ['a path with ..', [['/srv/../etc', '10.0.0.0/16', '1777', '-', '-']], /must be an absolute path/],
    ['a bad mode', [['%S', '10.0.0.0/16', 'rwx', '-', '-']], /mode 'rwx' is not an octal mode/],
    ['a device that is no disk name', [['%S', '10.0.0.0/16', '1777', '/etc/passwd', 'nfs-x']], /device '\/etc\/passwd' is not a device path under \/dev/],
    ['a label without a device', [['%S', '10.0.0.0/16', '1777', '-', 'nfs-x']], /a label without a device/],
    ['four fields', [['%S', '10.0.0.0/16', '1777', '-']], /line 1: expected 5 tab-separated fields/],
    ['nested exports', [['%S', '10.0.0.0/16', '1777', '-', '-'], ['%S/sub', '10.0.0.0/16', '1777', '-', '-']], /line 2: .*\/shared\/sub overlaps the export .*\/shared/],
  ])('refuses %s before touching anything', (_name, lines, message) => {
    const env = serverEnv(lines.map((l) => l.map((f) => f.replace('%S', shared()))));
    const r = sb.script('nfs-server.sh', env);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(calls('exportfs')).toEqual([]);
    expect(calls('service')).toEqual([]);
    expect(fs.existsSync(exportsFile())).toBe(false);
    expect(fs.existsSync(shared())).toBe(false);
  });

  test('an empty table is refused', () => {
    const r = sb.script('nfs-server.sh', serverEnv([]));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/no export table at/);
  });
});

describe('nfs-client.sh', () => {
  const clientEnv = (over: Record<string, string> = {}) => ({
    ...base,
    NFS_SERVER: 'slurm-controller',
    NFS_REMOTE_PATH: '/shared',
    NFS_MOUNT_POINT: path.join(sb.dir, 'mnt', 'shared'),
    NFS_FSTAB: path.join(sb.dir, 'fstab'),
    NFS_MOUNT_RETRY_DELAY: '0.1',
    ...over,
  });
  const ourLine = (mp: string) => `slurm-controller:/shared ${mp} nfs4 _netdev,nofail,vers=4.2,hard,timeo=600,retrans=2 0 0`;

  test('keeps other fstab lines, replaces a stale one for the mount point, mounts through fstab; a re-run does nothing', () => {
    const env = clientEnv();
    fs.writeFileSync(env.NFS_FSTAB, `# static\nUUID=abc / ext4 defaults 0 1\nold-server:/x ${env.NFS_MOUNT_POINT} nfs defaults 0 0\n`);
    const r1 = sb.script('nfs-client.sh', env);
    expect(r1.status).toBe(0);
    expect(fs.readFileSync(env.NFS_FSTAB, 'utf8')).toBe(`# static\nUUID=abc / ext4 defaults 0 1\n${ourLine(env.NFS_MOUNT_POINT)}\n`);
    expect(calls('mount')).toEqual([`-T ${env.NFS_FSTAB} ${env.NFS_MOUNT_POINT}`]);
    expect(fs.statSync(env.NFS_MOUNT_POINT).isDirectory()).toBe(true);

    const r2 = sb.script('nfs-client.sh', env);
    expect(r2.status).toBe(0);
    expect(calls('mount')).toHaveLength(1);
    expect(r2.log).toMatch(/already mounted from slurm-controller:\/shared/);
    expect(fs.readFileSync(env.NFS_FSTAB, 'utf8').split('\n').filter((l) => l.includes(env.NFS_MOUNT_POINT))).toHaveLength(1);
  });

  test('retries a failing mount and succeeds on the third attempt', () => {
    const r = sb.script('nfs-client.sh', clientEnv({ FAKE_MOUNT_FAILS: '2' }));
    expect(r.status).toBe(0);
    expect(calls('mount')).toHaveLength(3);
    expect(r.log).toMatch(/attempt 2\/6; retrying/);
  });

  test('gives up after NFS_MOUNT_ATTEMPTS, naming what to check', () => {
    const r = sb.script('nfs-client.sh', clientEnv({ FAKE_MOUNT_FAILS: '9', NFS_MOUNT_ATTEMPTS: '2' }));
    expect(r.status).toBe(1);
    expect(calls('mount')).toHaveLength(2);
    expect(r.log).toMatch(/could not mount slurm-controller:\/shared on .* after 2 attempts; check that the node is on the mesh/);
  });

  test('a hanging mount is cut off by the per-attempt timeout', () => {
    const start = Date.now();
    const r = sb.script('nfs-client.sh', clientEnv({ FAKE_MOUNT_HANG: '1', NFS_MOUNT_ATTEMPTS: '1', NFS_MOUNT_TIMEOUT: '1' }), 30000);
    expect(r.status).toBe(1);
    expect(Date.now() - start).toBeLessThan(15000);
  });

  test('refuses a mount point already used by another source', () => {
    fs.writeFileSync(path.join(fake, 'mounted'), 'other:/data\n');
    const r = sb.script('nfs-client.sh', clientEnv());
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/is already a mount point of 'other:\/data', not slurm-controller:\/shared/);
  });

  test.each([
    ['a server with a scheme', { NFS_SERVER: 'nfs://x' }, /NFS_SERVER='nfs:\/\/x' is not a host name/],
    ['a relative remote path', { NFS_REMOTE_PATH: 'shared' }, /NFS_REMOTE_PATH='shared' must be an absolute path/],
    ['no server', { NFS_SERVER: '' }, /NFS_SERVER is not set/],
    ['an unbounded timeout', { NFS_MOUNT_TIMEOUT: '0' }, /NFS_MOUNT_TIMEOUT='0' must be 1-999 seconds/],
  ])('refuses %s', (_name, over, message) => {
    const r = sb.script('nfs-client.sh', clientEnv(over));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(calls('mount')).toEqual([]);
  });
});
