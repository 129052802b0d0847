/**
 * users.sh for real: the distribution's useradd/groupadd/usermod run with --root against a throwaway system root
 * (etc/passwd, group, shadow, gshadow, login.defs, skel) in the sandbox, and the script writes its key files,
 * sshd drop-in and sudoers file below that root. Needs root (useradd refuses otherwise).
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { installFakes, isRoot, Sandbox } from './sh';

const ED1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBHJsJ+jt2BN1HjPTjUlcUXIgz9ajdNC4XJBiSMEIvxZ alice@laptop';
const ED2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKT59faRqoH315mZkE4U0lUJC3FTjrRN2TsEhdB1YeTS alice@desk';
const ECDSA = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHV/OrYX4+4XM/HmwgJ9RBKTOTz1IRgeMXRCZCD5CXXfIyB3q7keUMAIhc8IwoFMh2VlOmIbrMz+jWUyr8izT9Y= bob';
const haveVisudo = spawnSync('sh', ['-c', 'PATH=$PATH:/usr/sbin:/sbin command -v visudo']).status === 0;

/** The table the library renders for: groups ml, gpu; alice (personal group, ml+gpu, sudo, 2 keys); bob (ml primary, 1 key). */
const TABLE = [
  'group\tml\t3000',
  'group\tgpu\t3001',
  'group\talice\t2001',
  'user\talice\t2001\t2001\tml,gpu\t/bin/bash\tsudo',
  `key\talice\t${ED1}`,
  `key\talice\t${ED2}`,
  'user\tbob\t2002\t3000\t-\t/usr/bin/zsh\t-',
  `key\tbob\t${ECDSA}`,
];

let sb: Sandbox;
let root: string;
let fakeSshd: ChildProcess | undefined;

/** A minimal system root as a cloud image has it: root, the image's default user in an image group, a skel. */
function makeRoot(dir: string): string {
  const r = path.join(dir, 'root');
  fs.mkdirSync(path.join(r, 'etc', 'skel'), { recursive: true });
  fs.writeFileSync(path.join(r, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n');
  fs.writeFileSync(path.join(r, 'etc', 'group'), 'root:x:0:\nvideo:x:44:ubuntu\nubuntu:x:1000:\n');
  fs.writeFileSync(path.join(r, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\nubuntu:!:19000:0:99999:7:::\n', { mode: 0o640 });
  fs.writeFileSync(path.join(r, 'etc', 'gshadow'), 'root:*::\nvideo:*::ubuntu\nubuntu:!::\n', { mode: 0o640 });
  // The real node's login.defs, so useradd behaves as it will there.
  if (fs.existsSync('/etc/login.defs')) fs.copyFileSync('/etc/login.defs', path.join(r, 'etc', 'login.defs'));
  fs.writeFileSync(path.join(r, 'etc', 'skel', '.bashrc'), '# skel bashrc\n');
  // bash is installed in this root, zsh is not.
  fs.mkdirSync(path.join(r, 'bin'));
  fs.writeFileSync(path.join(r, 'bin', 'bash'), '', { mode: 0o755 });
  return r;
}

const table = (lines: string[]) => sb.file('users.tab', lines.map((l) => `${l}\n`).join(''));
/**
 * Without the sudo package (scripts/setup-debian.sh does not install it) a stand-in visudo on PATH accepts only
 * comments and the one rule shape the script writes; with it, the real visudo runs.
 */
const FALLBACK_VISUDO = `#!/bin/bash
f=\${@: -1}
! grep -Ev '^(#.*|[a-z_][a-z0-9_-]* ALL=\\(ALL:ALL\\) NOPASSWD: ALL)$' "$f"
`;
const run = (lines: string[], extra: Record<string, string> = {}) => {
  // A test's own fake visudo (in the same fake bin) wins.
  const fakeVisudo = path.join(sb.dir, 'fake', 'bin', 'visudo');
  const own = fs.existsSync(fakeVisudo) && fs.readFileSync(fakeVisudo, 'utf8') !== FALLBACK_VISUDO;
  const path0: Record<string, string> = haveVisudo || own ? {} : { PATH: `${installFakes(sb, { visudo: FALLBACK_VISUDO }).bin}:${process.env.PATH}` };
  return sb.script('users.sh', { CDKTF_SLURM_USERS_TABLE: table(lines), USERS_ROOT: root, ...path0, ...extra });
};
const rootFile = (p: string) => path.join(root, p);
const read = (p: string) => fs.readFileSync(rootFile(p), 'utf8');
/** `name -> fields` of a colon file (passwd, group, shadow). */
const entries = (p: string) => new Map(read(p).trim().split('\n').map((l) => [l.split(':')[0], l.split(':')] as [string, string[]]));

/** Every file below the root with its content, mode, owner and mtime: "nothing changed" means this is equal. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs}`;
      if (e.isDirectory()) {
        out[`${p}/`] = meta;
        walk(p);
      } else {
        out[p] = `${meta} ${fs.readFileSync(p, 'utf8')}`;
      }
    }
  };
  walk(root);
  return out;
}

beforeEach(() => {
  sb = new Sandbox();
  root = makeRoot(sb.dir);
});
afterEach(() => {
  if (fakeSshd?.pid !== undefined) process.kill(fakeSshd.pid, 'SIGKILL');
  fakeSshd = undefined;
  sb.cleanup();
});

const maybe = isRoot ? describe : describe.skip;

maybe('users.sh', () => {
  test('creates groups and users with the exact GIDs and UIDs, writes the keys root-owned, sudo for sudo users only', () => {
    const r = run(TABLE);
    expect(r.status).toBe(0);

    const passwd = entries('etc/passwd');
    expect(passwd.get('alice')).toEqual(['alice', 'x', '2001', '2001', '', '/home/alice', '/bin/bash']);
    expect(passwd.get('bob')).toEqual(['bob', 'x', '2002', '3000', '', '/home/bob', '/usr/bin/zsh']);
    const group = entries('etc/group');
    expect(group.get('ml')).toEqual(['ml', 'x', '3000', 'alice']);
    expect(group.get('gpu')).toEqual(['gpu', 'x', '3001', 'alice']);
    expect(group.get('alice')).toEqual(['alice', 'x', '2001', '']);
    // bob's primary group is ml: no personal group.
    expect(group.has('bob')).toBe(false);
    // No password login, but not the "!" lock that sshd without PAM treats as a locked account.
    expect(entries('etc/shadow').get('alice')?.[1]).toBe('*');
    // The image's account and its group membership are untouched.
    expect(passwd.get('ubuntu')?.[2]).toBe('1000');
    expect(group.get('video')?.[3]).toBe('ubuntu');

    for (const [user, keys] of [['alice', `${ED1}\n${ED2}\n`], ['bob', `${ECDSA}\n`]]) {
      const f = rootFile(`etc/ssh/authorized_keys.d/${user}`);
      expect(fs.readFileSync(f, 'utf8')).toBe(keys);
      const st = fs.statSync(f);
      expect([st.uid, st.gid, (st.mode & 0o777).toString(8)]).toEqual([0, 0, '644']);
    }
    expect(read('etc/ssh/sshd_config.d/60-cdktf-slurm-keys.conf')).toMatch(/^AuthorizedKeysFile \.ssh\/authorized_keys \/etc\/ssh\/authorized_keys\.d\/%u$/m);

    const sudoers = rootFile('etc/sudoers.d/cdktf-slurm-users');
    expect(read('etc/sudoers.d/cdktf-slurm-users').split('\n').filter((l) => l && !l.startsWith('#'))).toEqual(['alice ALL=(ALL:ALL) NOPASSWD: ALL']);
    const st = fs.statSync(sudoers);
    expect([st.uid, st.gid, (st.mode & 0o777).toString(8)]).toEqual([0, 0, '440']);
    if (haveVisudo) expect(spawnSync('visudo', ['-c', '-f', sudoers], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status).toBe(0);

    // Without USERS_CREATE_HOMES=1 no home is made: they live on the host that owns /home.
    expect(fs.existsSync(rootFile('home'))).toBe(false);
    expect(read('var/lib/cdktf-slurm/users.managed')).toBe('alice\nbob\n');
    expect(r.log).toMatch(/warning: shell \/usr\/bin\/zsh of bob is not installed here; bob cannot log in until it is/);
    expect(r.log).not.toMatch(/shell \/bin\/bash of alice/);
  });

  test('a re-run changes nothing: no account tool runs, no file is rewritten', () => {
    expect(run(TABLE).status).toBe(0);
    const before = snapshot();
    const again = run(TABLE);
    expect(again.status).toBe(0);
    expect(snapshot()).toEqual(before);
    expect(again.stderr).toMatch(/2 user\(s\) and 3 group\(s\) from .* in place, accounts unchanged/);
    expect(again.stderr).not.toMatch(/\] (created|installed|fixed|removed) |->/);
  });

  test('USERS_CREATE_HOMES=1 makes each home from skel, owned by the user, 0700; an existing home is left alone', () => {
    fs.mkdirSync(rootFile('home/bob'), { recursive: true });
    fs.chownSync(rootFile('home/bob'), 2002, 3000);
    fs.chmodSync(rootFile('home/bob'), 0o750);
    const r = run(TABLE, { USERS_CREATE_HOMES: '1' });
    expect(r.status).toBe(0);
    const home = fs.statSync(rootFile('home/alice'));
    expect([home.uid, home.gid, (home.mode & 0o7777).toString(8)]).toEqual([2001, 2001, '700']);
    expect(fs.readFileSync(rootFile('home/alice/.bashrc'), 'utf8')).toBe('# skel bashrc\n');
    expect(fs.statSync(rootFile('home/alice/.bashrc')).uid).toBe(2001);
    expect((fs.statSync(rootFile('home/bob')).mode & 0o7777).toString(8)).toBe('750');
    expect(fs.existsSync(rootFile('home/bob/.bashrc'))).toBe(false);
  });

  test('a home owned by another UID stops the step before anything changes', () => {
    fs.mkdirSync(rootFile('home/alice'), { recursive: true });
    fs.chownSync(rootFile('home/alice'), 1000, 1000);
    const before = snapshot();
    const r = run(TABLE, { USERS_CREATE_HOMES: '1' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/home .*\/home\/alice of alice belongs to UID 1000, not alice's 2001; if it is alice's, chown -R 2001 it, else move it away/);
    expect(snapshot()).toEqual(before);
  });

  test.each([
    ['a UID held by another user', ['group\tcarol\t1000', 'user\tcarol\t1000\t1000\t-\t/bin/bash\t-'], undefined,
      /UID 1000 \(user carol in the table\) belongs to user ubuntu on this host; give carol another UID in the cluster definition/],
    ['a name that exists with another UID', TABLE, 'alice:x:1500:1500::/home/alice:/bin/bash\n',
      /user alice exists here with UID 1500, the table says 2001; this step never renumbers .*usermod -u 2001 alice.* or give alice UID 1500 in the cluster definition/],
    ['a group GID held by another group', ['group\tml\t1000', 'group\talice\t2001', 'user\talice\t2001\t2001\tml\t/bin/bash\t-'], undefined,
      /GID 1000 \(group ml in the table\) belongs to group ubuntu on this host; give ml another GID/],
  ])('%s fails before changing anything and names the fix', (_name, lines, extraPasswd, message) => {
    if (extraPasswd) fs.appendFileSync(rootFile('etc/passwd'), extraPasswd);
    const before = snapshot();
    const r = run(lines as string[]);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message as RegExp);
    expect(r.log).toMatch(/problem\(s\) with the users table .*; nothing was changed/);
    expect(snapshot()).toEqual(before);
  });

  test('a group that exists with another GID is not renumbered', () => {
    fs.appendFileSync(rootFile('etc/group'), 'ml:x:3500:\n');
    const before = snapshot();
    const r = run(TABLE);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/group ml exists here with GID 3500, the table says 3000; this step never renumbers .*groupmod -g 3000 ml/);
    expect(snapshot()).toEqual(before);
  });

  const privateBody = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW' + 'Q4Nz1zZWNyZXQ';
  test.each([
    ['a UID below 1000', ['user\tcarol\t500\t3000\t-\t/bin/bash\t-'], /line 4: user carol: UID '500' is not a whole number in 1000-59999/],
    ['a system name', ['user\troot\t2005\t3000\t-\t/bin/bash\t-'], /line 4: user name 'root' is a system or image account/],
    ['an upper-case name', ['user\tCarol\t2005\t3000\t-\t/bin/bash\t-'], /line 4: user name 'Carol' is not 1-32 lower-case letters/],
    ['a duplicate UID', ['user\tcarol\t2001\t3000\t-\t/bin/bash\t-', 'user\talice\t2001\t2001\t-\t/bin/bash\t-'], /line 5: UID 2001 of user alice is also user carol's/],
    ['a relative shell', ['user\tcarol\t2005\t3000\t-\tbash\t-'], /line 4: user carol: shell 'bash' is not an absolute path/],
    ['an undeclared supplementary group', ['user\tcarol\t2005\t3000\tphysics\t/bin/bash\t-'], /user carol: supplementary group 'physics' has no group line/],
    ['a primary GID without a group line', ['user\tcarol\t2005\t4005\t-\t/bin/bash\t-'], /user carol: primary GID 4005 has no group line/],
    ['a short user line', ['user\tcarol\t2005'], /line 4: a user line has 7 fields/],
    ['a key for nobody in the table', ['user\tcarol\t2005\t3000\t-\t/bin/bash\t-', `key\tdave\t${ED1}`], /a key line names user 'dave', who has no user line/],
    ['a key of an unknown type', ['user\tcarol\t2005\t3000\t-\t/bin/bash\t-', 'key\tcarol\tssh-dss AAAAB3NzaC1kc3M='], /line 5: the key for carol does not start with a known key type/],
    ['a key whose body is another type', ['user\tcarol\t2005\t3000\t-\t/bin/bash\t-', `key\tcarol\tssh-rsa ${ED1.split(' ')[1]}`], /line 5: the key for carol says ssh-rsa but its body holds another key type/],
    ['a private key', ['user\tcarol\t2005\t3000\t-\t/bin/bash\t-', `key\tcarol\t-----BEGIN OPENSSH ${'PRIVATE'} KEY-----`, privateBody, '-----END OPENSSH PRIVATE KEY-----'],
      /line 5: the key for carol is a PRIVATE key \(not shown\)[\s\S]*line 6: unknown kind \(not shown\)/],
    ['an unknown kind', ['member\tcarol\tml'], /line 4: unknown kind 'member'; lines start with group, user or key/],
  ])('refuses %s before any change', (_name, extra, message) => {
    const before = snapshot();
    // Three good lines first: a script that changed as it read would already have created ml.
    const r = run([...TABLE.slice(0, 3), ...extra]);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(r.log).toMatch(/nothing was changed/);
    expect(r.log).not.toContain('b3BlbnNzaC1rZXktdjE');
    expect(snapshot()).toEqual(before);
  });

  test('updates an existing account in place: primary group, shell, membership in the table groups; keeps the image groups', () => {
    fs.appendFileSync(rootFile('etc/passwd'), 'bob:x:2002:2002::/home/bob:/bin/sh\n');
    fs.writeFileSync(rootFile('etc/group'), 'root:x:0:\nvideo:x:44:ubuntu,bob\nubuntu:x:1000:\nbob:x:2002:\ngpu:x:3001:bob\n');
    fs.writeFileSync(rootFile('etc/gshadow'), 'root:*::\nvideo:*::ubuntu,bob\nubuntu:!::\nbob:!::\ngpu:!::bob\n');
    const r = run(TABLE);
    expect(r.status).toBe(0);
    expect(entries('etc/passwd').get('bob')).toEqual(['bob', 'x', '2002', '3000', '', '/home/bob', '/usr/bin/zsh']);
    const group = entries('etc/group');
    // gpu is the table's and bob is not in it there: removed. video is the image's: kept.
    expect(group.get('gpu')?.[3]).toBe('alice');
    expect(group.get('video')?.[3]).toBe('ubuntu,bob');
    expect(r.log).toMatch(/user bob: shell \/bin\/sh -> \/usr\/bin\/zsh/);
    expect(r.log).toMatch(/user bob: primary GID 2002 -> 3000/);
  });

  test('a user who left the table keeps the account but loses keys and sudo, with a warning naming them', () => {
    expect(run(TABLE).status).toBe(0);
    const r = run(['group\tml\t3000', 'group\tgpu\t3001', ...TABLE.slice(6)]);
    expect(r.status).toBe(0);
    expect(entries('etc/passwd').get('alice')?.[2]).toBe('2001');
    expect(fs.existsSync(rootFile('etc/ssh/authorized_keys.d/alice'))).toBe(false);
    expect(fs.existsSync(rootFile('etc/ssh/authorized_keys.d/bob'))).toBe(true);
    expect(fs.existsSync(rootFile('etc/sudoers.d/cdktf-slurm-users'))).toBe(false);
    expect(r.log).toMatch(/warning: user alice is no longer in the users table; the account, its UID and its files stay \(remove it with userdel/);
    expect(read('var/lib/cdktf-slurm/users.managed')).toBe('bob\n');
  });

  test('a user whose keys are all dropped loses the key file', () => {
    expect(run(TABLE).status).toBe(0);
    expect(run(TABLE.filter((l) => !l.startsWith('key\tbob'))).status).toBe(0);
    expect(fs.existsSync(rootFile('etc/ssh/authorized_keys.d/bob'))).toBe(false);
    expect(read('etc/ssh/authorized_keys.d/alice')).toBe(`${ED1}\n${ED2}\n`);
  });

  test('no table and no users managed before: nothing to do', () => {
    const before = snapshot();
    const r = sb.script('users.sh', { CDKTF_SLURM_USERS_TABLE: path.join(sb.dir, 'missing.tab'), USERS_ROOT: root });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/no users table at .*missing\.tab: no cluster users on this host/);
    expect(snapshot()).toEqual(before);
  });

  test('a sudoers file visudo rejects is not installed', () => {
    const { bin } = installFakes(sb, { visudo: '#!/bin/bash\necho "syntax error" >&2\nexit 1\n' });
    const r = run(TABLE, { PATH: `${bin}:${process.env.PATH}` });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/visudo rejects the rendered sudoers file/);
    expect(fs.existsSync(rootFile('etc/sudoers.d/cdktf-slurm-users'))).toBe(false);
  });

  describe('sshd', () => {
    /** A fake sshd: `-t` records its arguments and exits FAKE_SSHD_T; otherwise it idles, recording each SIGHUP. */
    const FAKE_SSHD = `#!/bin/bash
if [[ "$1" == -t ]]; then echo "$*" >>"$FAKE/sshd-t"; exit "\${FAKE_SSHD_T:-0}"; fi
trap 'echo HUP >>"$FAKE/hup"' HUP
while :; do sleep 0.05; done
`;
    let fake: string;
    let env: Record<string, string>;
    const lines = (name: string) => (fs.existsSync(path.join(fake, name)) ? fs.readFileSync(path.join(fake, name), 'utf8').trim().split('\n') : []);
    const waitFor = (name: string, n: number) => {
      const end = Date.now() + 5000;
      while (lines(name).length < n && Date.now() < end) spawnSync('sleep', ['0.05']);
      return lines(name);
    };

    beforeEach(() => {
      const f = installFakes(sb, { sshd: FAKE_SSHD });
      fake = f.fake;
      env = { PATH: `${f.bin}:${process.env.PATH}`, FAKE: fake };
      // The daemon runs from the fake bin, so its process name is sshd, as pid_alive checks.
      fakeSshd = spawn(path.join(f.bin, 'sshd'), [], { env: { ...process.env, FAKE: fake }, stdio: 'ignore' });
      fs.mkdirSync(rootFile('run'), { recursive: true });
      fs.writeFileSync(rootFile('run/sshd.pid'), `${fakeSshd.pid}\n`);
      fs.mkdirSync(rootFile('etc/ssh'), { recursive: true });
      fs.writeFileSync(rootFile('etc/ssh/sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\n');
      // Let it reach its trap before a HUP is sent.
      spawnSync('sleep', ['0.3']);
    });

    test('checks the configuration with sshd -t and reloads a running sshd only when the drop-in changed', () => {
      expect(run(TABLE, env).status).toBe(0);
      expect(lines('sshd-t')).toEqual([`-t -f ${rootFile('etc/ssh/sshd_config')}`]);
      expect(waitFor('hup', 1)).toEqual(['HUP']);

      const again = run(TABLE, env);
      expect(again.status).toBe(0);
      spawnSync('sleep', ['0.3']);
      expect(lines('sshd-t')).toHaveLength(1);
      expect(lines('hup')).toHaveLength(1);
    });

    test('sshd -t failing: the drop-in is taken back and sshd is not reloaded', () => {
      const r = run(TABLE, { ...env, FAKE_SSHD_T: '1' });
      expect(r.status).toBe(1);
      expect(r.log).toMatch(/sshd -t rejects the configuration with .*60-cdktf-slurm-keys\.conf/);
      expect(fs.existsSync(rootFile('etc/ssh/sshd_config.d/60-cdktf-slurm-keys.conf'))).toBe(false);
      spawnSync('sleep', ['0.3']);
      expect(lines('hup')).toEqual([]);
    });
  });
});
