import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { parse } from 'yaml';
import {
  BOOTSTRAP_DIR,
  buildNodeCloudConfig,
  findPackageRoot,
  loadBootstrapScripts,
  NODE_ENV_PATH,
  NO_HOST_TABLES,
  renderNodeEnv,
  renderNodeUserData,
  secretMaterialReason,
  STAGED_SLURM_DIR,
  type NodeCloudConfigOptions,
} from '../../lib/cloudinit';
import { readUserDataWithCloudInit, validateCloudConfig } from './validate-cloud-config';

type WriteFileOut = { path: string; content: string; owner: string; permissions: string; encoding?: string };

let scriptsDir: string;
let work: string;
const fixture: Record<string, string> = {
  'bootstrap.sh': '#!/bin/bash\nset -euo pipefail\n. "$(dirname "$0")/lib/common.sh"\n',
  'packages.sh': '#!/bin/bash\necho packages\n',
  'munge.sh': '#!/bin/bash\necho munge\n',
  'gpu.sh': '#!/bin/bash\necho gpu\n',
  'slurmd.sh': '#!/bin/bash\necho slurmd\n',
  'slurmdbd.sh': '#!/bin/bash\necho slurmdbd\n',
  'statesave.sh': '#!/bin/bash\necho statesave\n',
  'slurmctld.sh': '#!/bin/bash\necho slurmctld\n',
  'login.sh': '#!/bin/bash\necho login\n',
  'lib/common.sh': '#!/bin/bash\nlog() { echo "$*"; }\n',
  'lib/more/deep.sh': '#!/bin/bash\n: deep\n',
  'README.md': 'not a script\n',
  'lib/notes.txt': 'not a script\n',
};

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cloudinit-node-'));
  scriptsDir = join(work, 'bootstrap-scripts');
  for (const [rel, content] of Object.entries(fixture)) {
    mkdirSync(join(scriptsDir, rel, '..'), { recursive: true });
    writeFileSync(join(scriptsDir, rel), content);
  }
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = (): NodeCloudConfigOptions => ({
  roles: ['controller', 'dbd'],
  env: {
    CLUSTER_NAME: 'hpc',
    SLURM_CONTROLLER: 'ctl-0:6817',
    MUNGE_KEY_SOURCE: 'generate+aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:HpcProductionCluster/MungeKey-AbC123',
    DB_PASSWORD_SOURCE: 'gcp-secretmanager:projects/my-project-123/secrets/slurmdbd-storage-pass',
    DB_LOCAL: '1',
  },
  slurmFiles: [
    { name: 'slurm.conf', content: 'ClusterName=hpc\nSlurmctldHost=ctl-0\n' },
    { name: 'slurmdbd.conf', content: 'DbdHost=ctl-0\nStorageUser=slurm\n' },
  ],
  scriptsDir,
});

function filesOf(doc: string): WriteFileOut[] {
  return (parse(doc, { version: '1.1' }) as { write_files: WriteFileOut[] }).write_files;
}

/** Sources node.env in bash with an empty environment and returns what bash exported. */
function sourceInBash(content: string): Record<string, string> {
  const file = join(work, `node-${createHash('sha1').update(content).digest('hex')}.env`);
  writeFileSync(file, content);
  const out = execFileSync('/usr/bin/env', ['-i', 'bash', '--norc', '--noprofile', '-c', 'set -a; . "$1"; env -0', '_', file], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'], // a socket on stdin makes bash read ~/.bashrc
  });
  const vars: Record<string, string> = {};
  for (const entry of out.split('\0').filter(Boolean)) {
    const eq = entry.indexOf('=');
    vars[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return vars;
}

describe('loadBootstrapScripts', () => {
  it('loads every *.sh below the directory, recursively, sorted, with content', () => {
    const scripts = loadBootstrapScripts(scriptsDir);
    const expected = Object.keys(fixture).filter((p) => p.endsWith('.sh')).sort();
    expect(scripts.map((s) => s.relativePath)).toEqual(expected);
    for (const s of scripts) expect(s.content).toBe(fixture[s.relativePath]);
  });

  it("defaults to the package's own bootstrap-scripts/ tree", () => {
    const root = findPackageRoot();
    expect(existsSync(join(root, 'package.json'))).toBe(true);
    const repoDir = join(root, 'bootstrap-scripts');
    const onDisk: string[] = [];
    const walk = (dir: string, rel: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) walk(join(dir, e.name), r);
        else if (e.name.endsWith('.sh')) onDisk.push(r);
      }
    };
    walk(repoDir, '');
    expect(loadBootstrapScripts().map((s) => s.relativePath)).toEqual(onDisk.sort());
  });

  it('finds the package root from an installed copy under node_modules and from dist/lib', () => {
    const installed = join(work, 'app', 'node_modules', 'cdktf-slurm');
    mkdirSync(join(installed, 'dist', 'lib', 'cloudinit'), { recursive: true });
    writeFileSync(join(work, 'app', 'package.json'), JSON.stringify({ name: 'users-app' }));
    writeFileSync(join(installed, 'package.json'), JSON.stringify({ name: 'cdktf-slurm' }));
    cpSync(scriptsDir, join(installed, 'bootstrap-scripts'), { recursive: true });
    expect(findPackageRoot(join(installed, 'dist', 'lib', 'cloudinit'))).toBe(installed);
    expect(() => findPackageRoot(join(work, 'app'))).toThrow(/Cannot find the cdktf-slurm package root above .*app.*Pass scriptsDir/);
  });

  it('names the directory when it does not exist', () => {
    expect(() => loadBootstrapScripts(join(work, 'nope'))).toThrow(/nope is not a directory; pass scriptsDir/);
  });
});

describe('buildNodeCloudConfig', () => {
  it('writes scripts, node.env and staged Slurm files with the contract paths, owners and modes', () => {
    const doc = buildNodeCloudConfig(base()).render();
    validateCloudConfig(doc);
    const files = filesOf(doc);
    const byPath = new Map(files.map((f) => [f.path, f]));
    // controller+dbd hosts run neither slurmd nor the login setup, so those step scripts stay off them.
    const scripts = Object.keys(fixture).filter((p) => p.endsWith('.sh') && !['slurmd.sh', 'gpu.sh', 'login.sh'].includes(p)).sort();
    expect(files.map((f) => f.path)).toEqual([
      ...scripts.map((p) => `${BOOTSTRAP_DIR}/${p}`),
      NODE_ENV_PATH,
      `${STAGED_SLURM_DIR}/slurm.conf`,
      `${STAGED_SLURM_DIR}/slurmdbd.conf`,
    ]);
    for (const p of scripts) {
      expect(byPath.get(`${BOOTSTRAP_DIR}/${p}`)).toEqual({ path: `${BOOTSTRAP_DIR}/${p}`, content: fixture[p], owner: 'root:root', permissions: '0755' });
    }
    expect(byPath.get(NODE_ENV_PATH)).toMatchObject({ owner: 'root:root', permissions: '0600' });
    expect(byPath.get(`${STAGED_SLURM_DIR}/slurm.conf`)).toEqual({
      path: `${STAGED_SLURM_DIR}/slurm.conf`,
      content: 'ClusterName=hpc\nSlurmctldHost=ctl-0\n',
      owner: 'root:root',
      permissions: '0600',
    });
    expect((parse(doc) as { runcmd: unknown }).runcmd).toEqual([['bash', '/opt/cdktf-slurm/bootstrap/bootstrap.sh']]);
  });

  it('ships each host only its steps\' scripts, always with bootstrap.sh and lib/', () => {
    const pathsFor = (roles: NodeCloudConfigOptions['roles']): string[] =>
      filesOf(buildNodeCloudConfig({ ...base(), roles, slurmFiles: [] }).render())
        .map((f) => f.path)
        .filter((p) => p.startsWith(BOOTSTRAP_DIR));
    const compute = pathsFor(['compute']);
    expect(compute).toContain(`${BOOTSTRAP_DIR}/slurmd.sh`);
    expect(compute).toContain(`${BOOTSTRAP_DIR}/munge.sh`);
    expect(compute).toContain(`${BOOTSTRAP_DIR}/lib/more/deep.sh`);
    expect(pathsFor(['login'])).not.toContain(`${BOOTSTRAP_DIR}/slurmd.sh`);
    expect(pathsFor(['login', 'compute'])).toContain(`${BOOTSTRAP_DIR}/slurmd.sh`);
    for (const roles of [['compute'], ['login'], ['controller']] as const) {
      expect(pathsFor(roles)).toContain(`${BOOTSTRAP_DIR}/bootstrap.sh`);
    }
  });

  it('fills CDKTF_SLURM_ROLES and CDKTF_SLURM_STEPS; node.env sources to exactly the variables given', () => {
    const doc = buildNodeCloudConfig(base()).render();
    const env = filesOf(doc).find((f) => f.path === NODE_ENV_PATH)?.content ?? '';
    const vars = sourceInBash(env);
    const { PWD: _pwd, SHLVL: _shlvl, _: _underscore, OLDPWD: _old, ...exported } = vars;
    expect(exported).toEqual({ CDKTF_SLURM_ROLES: 'controller dbd', CDKTF_SLURM_STEPS: 'packages munge slurmdbd statesave slurmctld', ...base().env });
  });

  it('adds packages, host name and extra commands after the bootstrap', () => {
    const doc = buildNodeCloudConfig({ ...base(), roles: ['compute'], slurmFiles: [], extraPackages: ['nfs-common'], extraRuncmd: ['touch /done'], hostname: 'gpu-0' }).render();
    validateCloudConfig(doc);
    const data = parse(doc) as { packages: string[]; hostname: string; runcmd: unknown[]; write_files: WriteFileOut[] };
    expect(data.packages).toEqual(['nfs-common']);
    expect(data.hostname).toBe('gpu-0');
    expect(data.runcmd).toEqual([['bash', '/opt/cdktf-slurm/bootstrap/bootstrap.sh'], 'touch /done']);
    expect(data.write_files.some((f) => f.path.startsWith(STAGED_SLURM_DIR))).toBe(false);
  });

  it('is deterministic, down to the gzipped bytes', () => {
    const a = renderNodeUserData(buildNodeCloudConfig(base()), { target: 'aws', role: 'controller dbd' });
    const b = renderNodeUserData(buildNodeCloudConfig(base()), { target: 'aws', role: 'controller dbd' });
    expect(a.bytes.equals(b.bytes)).toBe(true);
    const read = readUserDataWithCloudInit(a.bytes);
    if (read) {
      expect(read).toHaveLength(1);
      validateCloudConfig(read[0]?.content ?? '');
      expect(read[0]?.content).toBe(a.text);
    }
  });

  it('refuses StoragePass in a staged Slurm file, and bad file names', () => {
    const withPass = { ...base(), slurmFiles: [{ name: 'slurmdbd.conf', content: 'DbdHost=x\n  StoragePass = hunter2\n' }] };
    expect(() => buildNodeCloudConfig(withPass)).toThrow(/slurmFiles\[0\] \("slurmdbd.conf"\): contains StoragePass.*DB_PASSWORD_SOURCE/);
    expect(() => buildNodeCloudConfig({ ...base(), slurmFiles: [{ name: '../slurm.conf', content: '' }] })).toThrow(
      /slurmFiles\[0\] \("..\/slurm.conf"\): name must be a file name/,
    );
  });

  it('stages drop-in Slurm files and extra node files where the steps read them, and refuses paths it owns', () => {
    const config = buildNodeCloudConfig({
      ...base(),
      slurmFiles: [{ name: 'plugstack.conf.d/pyxis.conf', content: 'required /usr/local/lib/slurm/spank_pyxis.so\n' }],
      files: [{ path: '/etc/profile.d/nccl-tcpxo.sh', content: 'export NCCL_X=1\n' }, { path: '/etc/cdktf-slurm/enroot.conf', content: 'A b\n', permissions: '0600' }],
    });
    const written = new Map((parse(config.render()).write_files as { path: string; content: string; permissions: string }[]).map((f) => [f.path, f]));
    expect(written.get('/etc/cdktf-slurm/slurm/plugstack.conf.d/pyxis.conf')?.content).toBe('required /usr/local/lib/slurm/spank_pyxis.so\n');
    expect(written.get('/etc/profile.d/nccl-tcpxo.sh')).toMatchObject({ content: 'export NCCL_X=1\n', permissions: '0644' });
    expect(written.get('/etc/cdktf-slurm/enroot.conf')).toMatchObject({ permissions: '0600' });
    for (const path of ['/etc/cdktf-slurm/node.env', '/opt/cdktf-slurm/bootstrap/x.sh', '/etc/cdktf-slurm/slurm/slurm.conf']) {
      expect(() => buildNodeCloudConfig({ ...base(), files: [{ path, content: '' }] })).toThrow(/the library writes that path itself/);
    }
    expect(() => buildNodeCloudConfig({ ...base(), files: [{ path: 'etc/x', content: '' }] })).toThrow(/path must be absolute/);
    expect(() => buildNodeCloudConfig({ ...base(), files: [{ path: '/etc/x', content: '', permissions: '644' }] })).toThrow(/octal mode/);
    expect(() => buildNodeCloudConfig({ ...base(), slurmFiles: [{ name: 'a/b/c.conf', content: '' }] })).toThrow(/name must be a file name/);
  });

  it('refuses a scripts tree without bootstrap.sh', () => {
    const partial = join(work, 'partial');
    mkdirSync(partial, { recursive: true });
    writeFileSync(join(partial, 'munge.sh'), '#!/bin/bash\n');
    expect(() => buildNodeCloudConfig({ ...base(), scriptsDir: partial })).toThrow(/no bootstrap.sh at the top of .*partial \(found 1 script\(s\)\)/);
  });
});

describe('node.env', () => {
  const awkward: Record<string, string> = {
    SPACES: '  two  spaces  ',
    SINGLE: "it's 'quoted'",
    DOUBLE: 'say "hi"',
    DOLLAR: '$HOME ${PATH} $(id -u) $((1+1))',
    BACKTICK: '`whoami`',
    BACKSLASH: 'C:\\path\\n\\t',
    GLOB: '* ? [a-z]',
    MIXED: `'"$\`\\!;|&<>#~ end`,
    TAB: 'a\tb',
    EMPTY: '',
    UNICODE: 'é 中 😀',
    SLURMD_DYNAMIC_CONF: 'CPUs=8 RealMemory=30000 Gres=gpu:rtx3070:1 Feature=dyn',
  };

  it('survives bash `set -a; . FILE` byte for byte, whatever the value holds', () => {
    const vars = sourceInBash(renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: awkward }));
    for (const [k, v] of Object.entries(awkward)) expect(vars[k]).toBe(v);
    expect(vars.CDKTF_SLURM_ROLES).toBe('compute');
  });

  it.each([
    ['a newline', 'two\nlines'],
    ['a carriage return', 'cr\r'],
    ['NUL', 'nul\0'],
  ])('rejects a value with %s, naming the key', (_what, value) => {
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: { NOTE: value } })).toThrow(/node.env NOTE: value .* line break or control character/);
  });

  it('rejects bad keys, CDKTF_SLURM_ROLES itself, and bad roles', () => {
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: { 'lower': 'x' } })).toThrow(/key "lower" is not a shell variable name/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: { '1ABC': 'x' } })).toThrow(/key "1ABC"/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: { CDKTF_SLURM_ROLES: 'login' } })).toThrow(/set by cdktf-slurm from roles; pass roles: \['compute'\]/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: [], env: {} })).toThrow(/give at least one of controller, dbd, compute, login/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['gpu' as never], env: {} })).toThrow(/roles\[0\]: "gpu" is not a role/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute', 'compute'], env: {} })).toThrow(/roles\[1\]: "compute" is listed twice/);
    expect(() => renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: { N: 3 as never } })).toThrow(/node.env N: value must be a string; got number 3/);
  });

  const base64Key = createHash('sha512').update('munge').digest('base64'); // 88 chars, like a real key
  const hexPass = createHash('sha256').update('db').digest('hex');
  const pem = '-----BEGIN OPENSSH PRIVATE KEY-----';
  it.each([
    ['MUNGE_KEY', base64Key, /88-character base64 string/],
    ['DB_PASSWORD', hexPass, /64-character hex string/],
    ['SLURM_JWT_SECRET', base64Key.slice(0, 43) + '=', /base64 string/],
    ['API_TOKEN', `prefix ${base64Key.replace(/[+/=]/g, '')} suffix`, /base64 string/],
    ['ANY_NAME', `${pem} abc`, /PEM block/],
  ])('rejects secret material under %s without echoing it', (key, value, reason) => {
    let message = '';
    try {
      renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['controller'], env: { [key]: value } });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(new RegExp(`node.env ${key}: .*looks like secret material`));
    expect(message).toMatch(reason);
    expect(message).toMatch(/MUNGE_KEY_SOURCE='aws-secretsmanager:<arn>'/);
    expect(message).not.toContain(value.slice(4, 24));
  });

  it.each([
    ['MUNGE_KEY_SOURCE', 'aws-secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:HpcProductionCluster/MungeKey2024-AbC123'],
    ['MUNGE_KEY_SOURCE', 'gcp-secretmanager:projects/my-project-123/secrets/munge-key/versions/latest'],
    ['DB_PASSWORD_SOURCE', 'file:/etc/cdktf-slurm/secrets/db-password'],
    ['JWT_KEY_FILE', '/etc/slurm/jwt_hs256.key'],
    ['CLUSTER_NAME', base64Key], // not a secret-ish key: only PEM blocks are refused there
  ])('accepts the reference %s=%s', (key, value) => {
    expect(secretMaterialReason(key, value)).toBeUndefined();
    expect(renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['controller'], env: { [key]: value } })).toContain(`${key}='${value}'`);
  });
});
