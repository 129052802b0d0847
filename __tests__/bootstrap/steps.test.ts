import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { NO_HOST_TABLES, renderNodeEnv } from '../../lib/cloudinit';
import { Sandbox, SCRIPTS_DIR } from './sh';

// These runs all stop at validation, before a step touches /etc, /run or a daemon: the failure
// paths are what they prove. The real-daemon paths are exercised by __tests__/cluster.
let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
});
afterEach(() => sb.cleanup());

/** A fake dpkg-query on PATH that reports every package installed at `version`. */
function fakeDpkg(version: string): Record<string, string> {
  sb.file(
    'fakebin/dpkg-query',
    `#!/bin/bash
fmt=""; for a in "$@"; do case "$a" in -f=*) fmt=\${a#-f=} ;; esac; done
fmt=\${fmt//'\${db:Status-Status}'/installed}; fmt=\${fmt//'\${Version}'/${version}}
printf '%s' "$fmt"
`,
    0o755,
  );
  return { PATH: `${path.join(sb.dir, 'fakebin')}:${process.env.PATH}` };
}

describe('munge.sh', () => {
  test('rejects a 10-byte key, naming the size, the limits and the fix', () => {
    const key = sb.file('short.key', Buffer.alloc(10, 7), 0o600);
    const r = sb.script('munge.sh', { MUNGE_KEY_SOURCE: `file:${key}` });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/munge key from 'file:.*short\.key' is 10 bytes; munged needs 32-1024 bytes/);
    expect(r.log).toMatch(/head -c 1024 \/dev\/urandom/);
  });

  test('rejects a key over 1024 bytes', () => {
    const key = sb.file('long.key', Buffer.alloc(1025, 7), 0o600);
    const r = sb.script('munge.sh', { MUNGE_KEY_SOURCE: `file:${key}` });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/is 1025 bytes/);
  });

  test('refuses generate+ on a host that is not the controller', () => {
    const r = sb.script('munge.sh', {
      MUNGE_KEY_SOURCE: 'generate+aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:munge',
      CDKTF_SLURM_ROLES: 'compute',
    });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/only the controller may create the key/);
    expect(r.log).toMatch(/roles are 'compute'/);
  });

  test('says which variable is missing', () => {
    const r = sb.script('munge.sh');
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/MUNGE_KEY_SOURCE is not set/);
  });
});

/**
 * A copy of bootstrap.sh and lib/ beside fake step scripts: each appends its name (and LOG_TAG) to `ran` and
 * exits with the status given. Which steps a host runs is decided in lib/cloudinit/boot-steps.ts (its tests:
 * __tests__/cloudinit/boot-steps.test.ts); bootstrap.sh walks the list it is given.
 */
function fakeTree(steps: Record<string, number>): { run: (env?: Record<string, string>) => ReturnType<Sandbox['script']>; ran: () => string[] } {
  const tree = path.join(sb.dir, 'tree');
  fs.mkdirSync(path.join(tree, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(SCRIPTS_DIR, 'bootstrap.sh'), path.join(tree, 'bootstrap.sh'));
  fs.copyFileSync(path.join(SCRIPTS_DIR, 'lib/common.sh'), path.join(tree, 'lib/common.sh'));
  const ranFile = path.join(sb.dir, 'ran');
  for (const [step, status] of Object.entries(steps)) {
    sb.file(`tree/${step}.sh`, `#!/bin/bash\necho "${step} [$LOG_TAG]" >>${JSON.stringify(ranFile)}\nexit ${status}\n`, 0o755);
  }
  return {
    run: (env = {}) => {
      const r = spawnSync('bash', [path.join(tree, 'bootstrap.sh')], { env: sb.env(env), encoding: 'utf8', timeout: 20000, cwd: sb.dir });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, log: sb.readLog() };
    },
    ran: () => (fs.existsSync(ranFile) ? fs.readFileSync(ranFile, 'utf8').trim().split('\n') : []),
  };
}

describe('bootstrap.sh', () => {
  test('rejects an unknown role, naming it and the valid ones', () => {
    const r = sb.script('bootstrap.sh', { CDKTF_SLURM_ROLES: 'controller gpu', CDKTF_SLURM_STEPS: 'packages munge' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/unknown role 'gpu'.*use controller, dbd, compute or login/);
  });

  test('walks CDKTF_SLURM_STEPS in the order given, and nothing else: roles, flags and tables decide nothing here', () => {
    const tree = fakeTree({ packages: 0, munge: 0, 'gcp/tcpxo': 0, slurmd: 0, gpu: 0, mounts: 0, 'aws/efa': 0, login: 0 });
    // A login host with EFA and a mount table, given an odd list: the list is what runs.
    fs.writeFileSync(sb.envFile, "CDKTF_SLURM_ROLES='login'\nCDKTF_SLURM_STEPS='slurmd packages gcp/tcpxo munge'\nEFA_ENABLED='1'\n");
    const r = tree.run({ CDKTF_SLURM_MOUNT_TABLE: sb.file('mounts.tab', 'nfs\tfiler:/home\t/home\t-\t-\n') });
    expect(r.status).toBe(0);
    expect(tree.ran()).toEqual(['slurmd [slurmd]', 'packages [packages]', 'gcp/tcpxo [gcp/tcpxo]', 'munge [munge]']);
    expect(r.log).toMatch(/bootstrap start: roles 'login', steps: slurmd packages gcp\/tcpxo munge, on /);
    for (const step of ['slurmd', 'packages', 'gcp/tcpxo', 'munge']) expect(r.log).toMatch(new RegExp(`step ${step}: done in \\d+s`));
    expect(r.log).toMatch(/bootstrap done in \d+s/);
  });

  test('stops at the first failed step and names it; later steps do not run', () => {
    const tree = fakeTree({ packages: 0, munge: 3, slurmd: 0 });
    fs.writeFileSync(sb.envFile, "CDKTF_SLURM_ROLES='compute'\nCDKTF_SLURM_STEPS='packages munge slurmd'\n");
    const r = tree.run();
    expect(r.status).toBe(1);
    expect(tree.ran()).toEqual(['packages [packages]', 'munge [munge]']);
    expect(r.log).toMatch(/step munge failed \(exit 3\) after \d+s; .* Fix it and re-run: bash .*bootstrap\.sh/);
    expect(r.log).not.toMatch(/step slurmd: start/);
  });

  test('refuses a step whose script is missing, naming it and the fix, before any step runs', () => {
    const tree = fakeTree({ packages: 0, munge: 0 });
    fs.writeFileSync(sb.envFile, "CDKTF_SLURM_ROLES='compute'\nCDKTF_SLURM_STEPS='packages munge aws/efa'\n");
    const r = tree.run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/step 'aws\/efa' in CDKTF_SLURM_STEPS has no script: .*tree\/aws\/efa\.sh is missing; redeploy the host/);
    expect(tree.ran()).toEqual([]);
  });

  test.each([
    ['absent', "CDKTF_SLURM_ROLES='compute'\n", /CDKTF_SLURM_STEPS is not set .*re-render this host's node.env with cdktf-slurm/],
    ['blank', "CDKTF_SLURM_ROLES='compute'\nCDKTF_SLURM_STEPS=' '\n", /CDKTF_SLURM_STEPS is blank/],
    ['a path out of the tree', "CDKTF_SLURM_ROLES='compute'\nCDKTF_SLURM_STEPS='packages ../../tmp/x'\n", /step '..\/..\/tmp\/x' in CDKTF_SLURM_STEPS is not a step name/],
  ])('refuses a step list that is %s, running nothing', (_name, envText, message) => {
    const tree = fakeTree({ packages: 0 });
    fs.writeFileSync(sb.envFile, envText);
    const r = tree.run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(tree.ran()).toEqual([]);
  });

  test('the real tree, with node.env as cdktf-slurm renders it: steps in that order, stopping at the first failure', () => {
    // login compute on a host where munge/slurm-client are installed (fake dpkg): packages passes, munge fails.
    const key = sb.file('short.key', Buffer.alloc(10, 7), 0o600);
    fs.writeFileSync(sb.envFile, renderNodeEnv({ roles: ['login', 'compute'], env: { MUNGE_KEY_SOURCE: `file:${key}` }, tables: NO_HOST_TABLES }), { mode: 0o600 });
    const r = sb.script('bootstrap.sh', fakeDpkg('22.05.8-4+deb12u3'));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/steps: packages munge gpu slurmd, on /);
    expect(r.log).toMatch(/\[packages\] packages already installed/);
    expect(r.log).toMatch(/step packages: done/);
    expect(r.log).toMatch(/step munge failed \(exit 1\)/);
    expect(r.log).not.toMatch(/step (gpu|slurmd): start/);
  });
});

describe('packages.sh', () => {
  test('fails dynamic nodes on a distribution with Slurm 21.08 (Ubuntu 22.04), naming the version', () => {
    const r = sb.script('packages.sh', { ...fakeDpkg('21.08.5-2ubuntu1'), CDKTF_SLURM_ROLES: 'compute', SLURMD_MODE: 'dynamic' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/SLURMD_MODE=dynamic needs Slurm >= 22.05 .* ships Slurm 21\.08\.5/);
  });

  test('accepts dynamic nodes on 22.05 and skips apt when everything is installed', () => {
    const r = sb.script('packages.sh', { ...fakeDpkg('22.05.8-4+deb12u3'), CDKTF_SLURM_ROLES: 'compute', SLURMD_MODE: 'dynamic' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/packages already installed: munge slurm-client slurmd/);
    expect(r.log).not.toMatch(/installing/);
  });

  test('asks for mariadb-server only with DB_LOCAL=1', () => {
    const env = { ...fakeDpkg('22.05.8-4+deb12u3'), CDKTF_SLURM_ROLES: 'dbd' };
    expect(sb.script('packages.sh', { ...env, DB_LOCAL: '1' }).log).toMatch(/installed: mariadb-server munge slurm-client slurmdbd/);
    fs.rmSync(sb.logDir, { recursive: true });
    expect(sb.script('packages.sh', { ...env, DB_LOCAL: '0' }).log).toMatch(/installed: munge slurm-client slurmdbd\n/);
  });
});

describe('slurmd.sh', () => {
  test('rejects an unknown SLURMD_MODE', () => {
    const r = sb.script('slurmd.sh', { SLURM_CONTROLLER: 'ctl-0:6817', SLURMD_MODE: 'cloudy' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/SLURMD_MODE='cloudy' is not supported; use 'configless' or 'dynamic'/);
  });

  test('dynamic mode needs SLURMD_DYNAMIC_CONF', () => {
    const r = sb.script('slurmd.sh', { ...fakeDpkg('22.05.8-4'), SLURM_CONTROLLER: 'ctl-0', SLURMD_MODE: 'dynamic' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/SLURMD_DYNAMIC_CONF is not set/);
  });

  test('dynamic mode fails on Slurm 21.08 before starting anything', () => {
    const r = sb.script('slurmd.sh', {
      ...fakeDpkg('21.08.5-2ubuntu1'),
      SLURM_CONTROLLER: 'ctl-0',
      SLURMD_MODE: 'dynamic',
      SLURMD_DYNAMIC_CONF: 'CPUs=1',
    });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/needs Slurm >= 22\.05 .* has Slurm 21\.08\.5/);
  });

  test('rejects a controller that is not host[:port]', () => {
    const r = sb.script('slurmd.sh', { SLURM_CONTROLLER: 'http://ctl-0:6817' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/SLURM_CONTROLLER='http:\/\/ctl-0:6817' is not host\[:port\]/);
  });
});

describe('slurmdbd.sh validation', () => {
  test('refuses a staged slurmdbd.conf that already holds StoragePass', () => {
    sb.file('staging/slurmdbd.conf', 'DbdHost=localhost\nStoragePass=oops\n', 0o600);
    const r = sb.script('slurmdbd.sh', { CLUSTER_NAME: 'hpc', DB_PASSWORD_SOURCE: 'file:/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/contains StoragePass; it must be rendered without it/);
    expect(r.log).not.toMatch(/oops/);
  });

  test('refuses a password slurmdbd.conf cannot hold, without printing it', () => {
    sb.file('staging/slurmdbd.conf', 'DbdHost=localhost\nSlurmUser=root\n', 0o600);
    const pw = sb.file('pw', 'abc#def-secret\n', 0o600);
    const r = sb.script('slurmdbd.sh', { CLUSTER_NAME: 'hpc', DB_PASSWORD_SOURCE: `file:${pw}`, DB_LOCAL: '0' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/contains whitespace, '#', quotes/);
    for (const t of [r.log, r.stdout, r.stderr]) expect(t).not.toContain('abc#def-secret');
  });

  test('rejects DB_LOCAL values other than 0 and 1', () => {
    const r = sb.script('slurmdbd.sh', { CLUSTER_NAME: 'hpc', DB_PASSWORD_SOURCE: 'file:/x', DB_LOCAL: 'yes' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/DB_LOCAL must be 0 or 1, got 'yes'/);
  });
});

describe('gpu.sh', () => {
  const canMknod = spawnSync('id', ['-u'], { encoding: 'utf8' }).stdout.trim() === '0';

  test('does nothing without GPUs', () => {
    const r = sb.script('gpu.sh', { GPU_COUNT: '0' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/GPU_COUNT=0: no GPUs/);
  });

  (canMknod ? test : test.skip)('accepts the right number of character devices, given as a pattern', () => {
    for (const i of [0, 1]) spawnSync('mknod', [path.join(sb.dir, `nvidia${i}`), 'c', '195', String(i)]);
    const r = sb.script('gpu.sh', { GPU_COUNT: '2', GPU_TYPE: 'fake', GPU_DEVICE_FILES: `${sb.dir}/nvidia[0-1]` });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/found 2 GPU device\(s\) of type fake/);
  });

  test('fails when the device list and GPU_COUNT disagree', () => {
    const r = sb.script('gpu.sh', { GPU_COUNT: '4', GPU_DEVICE_FILES: `${sb.dir}/nvidia[0-1]` });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/GPU_COUNT=4 but GPU_DEVICE_FILES lists 2 device\(s\)/);
  });

  test('fails when a device file is missing or a regular file', () => {
    sb.file('nvidia0', '');
    const r = sb.script('gpu.sh', { GPU_COUNT: '2', GPU_DEVICE_FILES: `${sb.dir}/nvidia0 ${sb.dir}/nvidia1` });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/missing or not character devices: .*nvidia0 .*nvidia1/);
  });

  test('rejects a non-numeric GPU_COUNT', () => {
    const r = sb.script('gpu.sh', { GPU_COUNT: 'eight' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/GPU_COUNT must be a whole number, got 'eight'/);
  });
});
