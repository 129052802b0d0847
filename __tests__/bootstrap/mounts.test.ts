/**
 * mounts.sh against fakes on PATH: each line of the mount table reaches its client (nfs-client.sh) with that
 * line's server, path, mount point and options; a bad table is refused before anything is mounted; a re-run
 * mounts nothing twice.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderMountTable } from '../../lib/cloudinit/mounts';
import { Sandbox } from './sh';

let sb: Sandbox;
let fake: string;
let base: Record<string, string>;

// State per mount point ("<mount point> <source>" lines in $FAKE/mounted), so several mounts can coexist.
const FAKES: Record<string, string> = {
  'dpkg-query': `#!/bin/bash\nprintf installed\n`,
  mountpoint: `#!/bin/bash\nmp=\${@: -1}\ngrep -q "^$mp " "$FAKE/mounted" 2>/dev/null\n`,
  findmnt: `#!/bin/bash\nmp=\${@: -1}\nsed -n "s|^$mp ||p" "$FAKE/mounted"\n`,
  mount: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/mount-calls"
fstab=$2 mp=$3
src=$(awk -v mp="$mp" '$2 == mp { print $1 }' "$fstab")
printf '%s %s\\n' "$mp" "$src" >>"$FAKE/mounted"
`,
};

beforeEach(() => {
  sb = new Sandbox();
  fake = path.join(sb.dir, 'fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  base = {
    PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`,
    FAKE: fake,
    NFS_FSTAB: path.join(sb.dir, 'fstab'),
    NFS_MOUNT_RETRY_DELAY: '0.1',
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
  ['an unknown kind', 'lustre\tmgs@tcp:/fs\t/lustre\t-\t-\n', /line 2: no client for file system kind 'lustre'/],
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
