/**
 * ceph-client.sh against fakes on PATH (dpkg-query, apt-get, mount, mountpoint, findmnt): the cephx key lands in
 * a 0600 file holding exactly the key (from a bare value or a keyring), the fstab line carries mon_addr,
 * secretfile and _netdev, the key never reaches the log, stdout or a command line, and a re-run changes nothing.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, FAKE_MOUNT_TABLE_TOOLS, fakeMountFromFstab, installFakes } from './sh';

let sb: Sandbox;
let fake: string;
let bin: string;

const KEY = 'AQBxy2RlAAAAABAAk3h1Jw8Xq0pVZk8t3l1mQw==';
const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const SOURCE = `slurm@${FSID}.cephfs=/`;

const FAKES: Record<string, string> = {
  'dpkg-query': `#!/bin/bash\npkg=\${@: -1}\ngrep -qx "$pkg" "$FAKE/dpkg-installed" 2>/dev/null && printf installed\nexit 0\n`,
  'apt-get': `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apt-get-calls"
if [[ " $* " == *" install "*" ceph-common"* ]]; then
  echo ceph-common >>"$FAKE/dpkg-installed"
  printf '#!/bin/bash\\nexit 0\\n' >"$FAKE/bin/mount.ceph"; chmod +x "$FAKE/bin/mount.ceph"
fi
`,
  ...FAKE_MOUNT_TABLE_TOOLS,
  mount: fakeMountFromFstab('mount error: no mds server is up or the cluster is laggy', 32),
};

beforeEach(() => {
  sb = new Sandbox();
  ({ fake, bin } = installFakes(sb, FAKES));
  fs.writeFileSync(path.join(bin, 'mount.ceph'), '#!/bin/bash\nexit 0\n', { mode: 0o755 });
});
afterEach(() => sb.cleanup());

const calls = (name: string): string[] => {
  const p = path.join(fake, `${name}-calls`);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
};
const mp = () => path.join(sb.dir, 'mnt', 'cephfs');
const fstab = () => path.join(sb.dir, 'fstab');
const secretDir = () => path.join(sb.dir, 'etc-ceph');
const keyFile = () => path.join(secretDir(), 'slurm.cephfs.secret');

function env(over: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE: fake,
    CEPH_SOURCE: SOURCE,
    CEPH_MOUNT_POINT: mp(),
    CEPH_MOUNT_OPTIONS: 'mon_addr=10.0.0.1:3300/10.0.0.2:3300,noatime',
    CEPH_SECRET_SOURCE: `file:${sb.file('secrets/slurm.key', `${KEY}\n`, 0o600)}`,
    CEPH_FSTAB: fstab(),
    CEPH_SECRET_DIR: secretDir(),
    CEPH_MOUNT_RETRY_DELAY: '0.1',
    ...over,
  };
}
const expectNoKey = (r: { stdout: string; stderr: string; log: string }) => {
  for (const t of [r.stdout, r.stderr, r.log, ...calls('mount'), ...calls('apt-get')]) expect(t).not.toContain(KEY.slice(0, 20));
};

test('writes exactly the key (0600), an fstab line with mon_addr, secretfile and _netdev, mounts; a re-run changes nothing', () => {
  fs.writeFileSync(fstab(), `UUID=abc / ext4 defaults 0 1\nold:/x ${mp()} nfs4 defaults 0 0\n`);
  const r1 = sb.script('ceph-client.sh', env());
  expect(r1.status).toBe(0);
  expect(fs.readFileSync(keyFile(), 'utf8')).toBe(KEY);
  expect((fs.statSync(keyFile()).mode & 0o777).toString(8)).toBe('600');
  expect(fs.readFileSync(fstab(), 'utf8')).toBe(
    `UUID=abc / ext4 defaults 0 1\n${SOURCE} ${mp()} ceph mon_addr=10.0.0.1:3300/10.0.0.2:3300,noatime,secretfile=${keyFile()},_netdev 0 0\n`,
  );
  expect(calls('mount')).toEqual([`-T ${fstab()} ${mp()}`]);
  expect(calls('apt-get')).toEqual([]);
  expectNoKey(r1);

  const keyMtime = fs.statSync(keyFile()).mtimeMs;
  const fstabMtime = fs.statSync(fstab()).mtimeMs;
  const r2 = sb.script('ceph-client.sh', env());
  expect(r2.status).toBe(0);
  expect(calls('mount')).toHaveLength(1);
  expect(fs.statSync(keyFile()).mtimeMs).toBe(keyMtime);
  expect(fs.statSync(fstab()).mtimeMs).toBe(fstabMtime);
  expect(r2.log).toMatch(/already mounted from slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e\.cephfs=\/ \(CephFS\)/);
  expectNoKey(r2);
});

test('takes the key out of a keyring value, and a re-run with it leaves the file alone', () => {
  const keyring = sb.file('secrets/keyring', `[client.slurm]\n\tkey = ${KEY}\n\tcaps mds = "allow rw fsname=cephfs"\n`, 0o600);
  const r = sb.script('ceph-client.sh', env({ CEPH_SECRET_SOURCE: `file:${keyring}` }));
  expect(r.status).toBe(0);
  expect(fs.readFileSync(keyFile(), 'utf8')).toBe(KEY);
  expect((fs.statSync(keyFile()).mode & 0o777).toString(8)).toBe('600');
  expectNoKey(r);
  const before = fs.statSync(keyFile()).mtimeMs;
  expect(sb.script('ceph-client.sh', env({ CEPH_SECRET_SOURCE: `file:${keyring}` })).status).toBe(0);
  expect(fs.statSync(keyFile()).mtimeMs).toBe(before);
});

test('a rotated key replaces the file', () => {
  expect(sb.script('ceph-client.sh', env()).status).toBe(0);
  const rotated = 'AQCnewkeyAAAAABAAzzzzzzzzzzzzzzzzzzzzzz==';
  const src = sb.file('secrets/rotated', `${rotated}\n`, 0o600);
  expect(sb.script('ceph-client.sh', env({ CEPH_SECRET_SOURCE: `file:${src}` })).status).toBe(0);
  expect(fs.readFileSync(keyFile(), 'utf8')).toBe(rotated);
});

test('refuses a value that is not a cephx key, without printing it', () => {
  const bad = sb.file('secrets/bad', 'hunter2 is my password!\n', 0o600);
  const r = sb.script('ceph-client.sh', env({ CEPH_SECRET_SOURCE: `file:${bad}` }));
  expect(r.status).toBe(1);
  expect(r.log).toMatch(/is not a cephx key .*ceph auth get-key client\.slurm/);
  for (const t of [r.stdout, r.stderr, r.log]) expect(t).not.toContain('hunter2');
  expect(fs.existsSync(keyFile())).toBe(false);
  expect(calls('mount')).toEqual([]);
});

test('installs ceph-common when mount.ceph is missing', () => {
  fs.rmSync(path.join(bin, 'mount.ceph'));
  const r = sb.script('ceph-client.sh', env());
  expect(r.status).toBe(0);
  expect(calls('apt-get').filter((c) => / install /.test(c))).toEqual([expect.stringMatching(/ ceph-common$/)]);
});

test('gives up after CEPH_MOUNT_ATTEMPTS, naming what to check, without the key', () => {
  const r = sb.script('ceph-client.sh', env({ FAKE_MOUNT_FAILS: '9', CEPH_MOUNT_ATTEMPTS: '2' }));
  expect(r.status).toBe(1);
  expect(calls('mount')).toHaveLength(2);
  expect(r.log).toMatch(/could not mount CephFS .* after 2 attempts; check that this node reaches the monitors in mon_addr/);
  expectNoKey(r);
});

test('an existing mount shown in the old syntax is accepted; another file system is an error', () => {
  fs.writeFileSync(path.join(fake, 'mounted'), `${mp()} 10.0.0.1:3300,10.0.0.2:3300:/ ceph\n`);
  expect(sb.script('ceph-client.sh', env()).status).toBe(0);
  fs.writeFileSync(path.join(fake, 'mounted'), `${mp()} other@${FSID}.scratch=/ ceph\n`);
  const r = sb.script('ceph-client.sh', env());
  expect(r.status).toBe(1);
  expect(r.log).toMatch(/is already a mount point of 'other@.*scratch=\/' \(ceph\), not CephFS/);
  expect(calls('mount')).toEqual([]);
});

test.each([
  ['no mon_addr', { CEPH_MOUNT_OPTIONS: 'noatime' }, /CEPH_MOUNT_OPTIONS='noatime' has no mon_addr=/],
  ['an empty mon_addr', { CEPH_MOUNT_OPTIONS: 'mon_addr=' }, /'mon_addr=' is not mon_addr=<ip\[:port\]>/],
  ['a key in the options', { CEPH_MOUNT_OPTIONS: `mon_addr=10.0.0.1,secret=${KEY}` }, /must not carry secret= or secretfile=/],
  ['a secretfile in the options', { CEPH_MOUNT_OPTIONS: 'mon_addr=10.0.0.1,secretfile=/root/k' }, /must not carry secret= or secretfile=/],
  ['the old source syntax', { CEPH_SOURCE: '10.0.0.1:/' }, /CEPH_SOURCE='10\.0\.0\.1:\/' is not <client-name>@<fsid>\.<fsname>=<path>/],
  ['a bad fsid', { CEPH_SOURCE: 'slurm@1234.cephfs=/' }, /is not <client-name>@<fsid>/],
  ['no secret source', { CEPH_SECRET_SOURCE: '' }, /CEPH_SECRET_SOURCE is not set/],
])('refuses %s before fetching or mounting anything', (_name, over, message) => {
  const r = sb.script('ceph-client.sh', env(over));
  expect(r.status).toBe(1);
  expect(r.log).toMatch(message);
  expect(r.log).not.toMatch(/fetched/);
  expect(fs.existsSync(secretDir())).toBe(false);
  expect(calls('mount')).toEqual([]);
  expectNoKey(r);
});
