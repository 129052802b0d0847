/**
 * enroot.conf and the node.env variables for enroot-pyxis.sh. The conf is read back the way enroot reads it
 * (bash syntax check, then `KEY value` split at spaces/tabs/'=' and each value expanded by the shell for the
 * user), so per-user paths are checked for real users, not by string comparison alone.
 */
import { spawnSync } from 'child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import {
  DEFAULT_LOCAL_SCRATCH,
  ENROOT_DEFAULT_VERSION,
  enrootNodeEnv,
  enrootPaths,
  renderEnrootConf,
  type EnrootSettings,
} from '../../lib/cloudinit/enroot';
import { NO_HOST_TABLES } from '../../lib/cloudinit/boot-steps';
import { renderNodeEnv } from '../../lib/cloudinit/node-env';
import { PYXIS_DEFAULT_VERSION } from '../../lib/slurm/render-plugstack-conf';

const isRoot = process.getuid?.() === 0;
const haveSetpriv = spawnSync('setpriv', ['--version']).status === 0;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdktf-slurm-enroot-'));
  chmodSync(dir, 0o755); // readable by the unprivileged users the per-user test runs as
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Reads enroot.conf as enroot does, as the given user (or the current one): `bash -n` must accept the file,
 * then each ENROOT_* line's value is shell-expanded. Returns KEY -> expanded value.
 */
function readAsEnroot(conf: string, uid?: number): Record<string, string> {
  const file = join(dir, 'enroot.conf');
  writeFileSync(file, conf, { mode: 0o644 });
  expect(spawnSync('bash', ['-n', file]).status).toBe(0);
  const snippet = `while IFS=$' \\t=' read -r key value; do [[ "$key" =~ ^ENROOT_[A-Z_]+$ ]] && printf '%s=%s\\n' "$key" "$(eval echo "$value")"; done < "$1"`;
  const cmd = uid === undefined ? ['bash', '-c', snippet, 'read', file] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'bash', '-c', snippet, 'read', file];
  // HOME points at the temp dir: bash started over a socket (as Node's pipes are) would read ~/.bashrc.
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('renderEnrootConf', () => {
  test('defaults: per-user runtime, cache and data dirs and a shared temp dir, all on /mnt/localssd', () => {
    const uid = process.getuid?.() ?? 0;
    expect(readAsEnroot(renderEnrootConf())).toEqual({
      ENROOT_RUNTIME_PATH: `/mnt/localssd/enroot/runtime/user-${uid}`,
      ENROOT_CACHE_PATH: `/mnt/localssd/enroot/cache/user-${uid}`,
      ENROOT_DATA_PATH: `/mnt/localssd/enroot/data/user-${uid}`,
      ENROOT_TEMP_PATH: '/mnt/localssd/enroot/tmp',
    });
  });

  (isRoot && haveSetpriv ? test : test.skip)('each user gets their own directories from the one file', () => {
    const conf = renderEnrootConf();
    const a = readAsEnroot(conf, 1000);
    const b = readAsEnroot(conf, 1001);
    expect(a.ENROOT_DATA_PATH).toBe('/mnt/localssd/enroot/data/user-1000');
    expect(b.ENROOT_DATA_PATH).toBe('/mnt/localssd/enroot/data/user-1001');
    expect(a.ENROOT_CACHE_PATH).not.toBe(b.ENROOT_CACHE_PATH);
    expect(a.ENROOT_TEMP_PATH).toBe(b.ENROOT_TEMP_PATH);
  });

  test('another scratch moves every default path', () => {
    const paths = readAsEnroot(renderEnrootConf({ localScratch: '/scratch/' }));
    for (const value of Object.values(paths)) expect(value.startsWith('/scratch/enroot/')).toBe(true);
  });

  test('explicit paths, with $(id -u) and $(id -g), are written as given and expanded by enroot', () => {
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    const paths = readAsEnroot(
      renderEnrootConf({ cachePath: '/mnt/localssd/cache/group-$(id -g)', dataPath: '/mnt/localssd/data/user-$(id -u)' }),
    );
    expect(paths.ENROOT_CACHE_PATH).toBe(`/mnt/localssd/cache/group-${gid}`);
    expect(paths.ENROOT_DATA_PATH).toBe(`/mnt/localssd/data/user-${uid}`);
  });

  test('ENROOT_REMAP_ROOT only when asked, in enroot words', () => {
    expect(renderEnrootConf()).not.toMatch(/ENROOT_REMAP_ROOT/);
    expect(readAsEnroot(renderEnrootConf({ remapRoot: true })).ENROOT_REMAP_ROOT).toBe('yes');
    expect(readAsEnroot(renderEnrootConf({ remapRoot: false })).ENROOT_REMAP_ROOT).toBe('no');
  });

  test('only keys enroot has', () => {
    const keys = renderEnrootConf({ remapRoot: true })
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/)[0]);
    expect(keys.sort()).toEqual(['ENROOT_CACHE_PATH', 'ENROOT_DATA_PATH', 'ENROOT_REMAP_ROOT', 'ENROOT_RUNTIME_PATH', 'ENROOT_TEMP_PATH']);
  });

  test('a per-user temp path is accepted only where enroot creates it (a parent of its other paths)', () => {
    const nested: EnrootSettings = {
      runtimePath: '/mnt/localssd/enroot/${UID}/runtime',
      cachePath: '/mnt/localssd/enroot/${UID}/cache',
      dataPath: '/mnt/localssd/enroot/${UID}/data',
      tempPath: '/mnt/localssd/enroot/${UID}',
    };
    expect(enrootPaths(nested).tempPath).toBe('/mnt/localssd/enroot/${UID}');
    expect(() => enrootPaths({ tempPath: '/mnt/localssd/enroot/tmp/user-${UID}' }, 'GpuPool')).toThrow(
      /GpuPool: enroot.tempPath = "\/mnt\/localssd\/enroot\/tmp\/user-\$\{UID\}": enroot creates only ENROOT_RUNTIME_PATH, ENROOT_CACHE_PATH and ENROOT_DATA_PATH.*'\/mnt\/localssd\/enroot\/tmp'/,
    );
  });

  test('a per-user part directly in the scratch root (which stays root 0755) is refused', () => {
    // Cluster Toolkit's A3 layout (/mnt/localssd/${UID}/enroot/…) relies on a 1777 mount point; ours is 0755.
    expect(() => enrootPaths({ dataPath: '/mnt/localssd/${UID}/enroot/data' }, 'GpuPool')).toThrow(
      /GpuPool: enroot.dataPath = "\/mnt\/localssd\/\$\{UID\}\/enroot\/data": its per-user part sits directly in localScratch \(\/mnt\/localssd\).*'\/mnt\/localssd\/enroot\/data\/user-\$\{UID\}'/,
    );
    // Outside the scratch it is the operator's directory: allowed.
    expect(enrootPaths({ runtimePath: '/run/enroot/user-$(id -u)' }).runtimePath).toBe('/run/enroot/user-$(id -u)');
  });

  test.each<[string, EnrootSettings, RegExp]>([
    ['a two-part version', { version: '3.5' }, /GpuPool: enroot.version = "3.5": not a release number. Pin a release such as '3\.5\.0'/],
    ['a relative data path', { dataPath: 'enroot/data' }, /GpuPool: enroot.dataPath = "enroot\/data": not an absolute path.*per-user parts may use \$\{UID\}/],
    ['a path with a space', { cachePath: '/mnt/local ssd/cache' }, /GpuPool: enroot.cachePath = "\/mnt\/local ssd\/cache"/],
    ['command substitution other than id', { runtimePath: '/run/enroot/$(whoami)' }, /GpuPool: enroot.runtimePath = "\/run\/enroot\/\$\(whoami\)"/],
    ['the root as scratch', { localScratch: '/' }, /GpuPool: enroot.localScratch = "\/": not an absolute directory/],
    ['a non-boolean remapRoot', { remapRoot: 'yes' as unknown as boolean }, /GpuPool: enroot.remapRoot = "yes": not a boolean/],
  ])('refuses %s, naming the field, the value and the fix', (_name, settings, message) => {
    expect(() => renderEnrootConf(settings, 'GpuPool')).toThrow(message);
  });
});

describe('enrootNodeEnv', () => {
  const sum = (c: string): string => c.repeat(64);

  test('pinned releases and the scratch by default', () => {
    expect(enrootNodeEnv()).toEqual({ ENROOT_VERSION: ENROOT_DEFAULT_VERSION, PYXIS_VERSION: PYXIS_DEFAULT_VERSION, LOCAL_SCRATCH: DEFAULT_LOCAL_SCRATCH });
    expect(ENROOT_DEFAULT_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('checksums go to the variables the node script reads', () => {
    const env = enrootNodeEnv({
      version: '3.5.0',
      pyxisVersion: '0.20.0',
      localScratch: '/scratch',
      checksums: { enrootAmd64: sum('a'), enrootCapsAmd64: sum('b'), enrootArm64: sum('c'), enrootCapsArm64: sum('d'), pyxisSource: sum('e') },
    });
    expect(env).toEqual({
      ENROOT_VERSION: '3.5.0',
      PYXIS_VERSION: '0.20.0',
      LOCAL_SCRATCH: '/scratch',
      ENROOT_SHA256_AMD64: sum('a'),
      ENROOT_CAPS_SHA256_AMD64: sum('b'),
      ENROOT_SHA256_ARM64: sum('c'),
      ENROOT_CAPS_SHA256_ARM64: sum('d'),
      PYXIS_SHA256: sum('e'),
    });
  });

  test('node.env accepts the variables: checksums are not mistaken for secrets', () => {
    const env = enrootNodeEnv({ checksums: { enrootAmd64: sum('0'), pyxisSource: sum('f') } });
    const text = renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env });
    expect(text).toContain(`ENROOT_SHA256_AMD64='${sum('0')}'`);
    expect(text).toContain(`PYXIS_SHA256='${sum('f')}'`);
  });

  test.each<[string, EnrootSettings, RegExp]>([
    ['an upper-case checksum', { checksums: { enrootAmd64: 'A'.repeat(64) } }, /GpuPool: enroot.checksums.enrootAmd64 = "A{64}": not a SHA-256 sum/],
    ['a short checksum', { checksums: { pyxisSource: 'abc' } }, /GpuPool: enroot.checksums.pyxisSource = "abc": not a SHA-256 sum. Give the 64 lower-case hex digits/],
    ['a bad pyxis version', { pyxisVersion: 'v0.20.0' }, /GpuPool: enroot.pyxisVersion = "v0.20.0": not a release number. Pin a release such as '0\.20\.0'/],
    ['a scratch with a space', { localScratch: '/mnt/local ssd' }, /GpuPool: enroot.localScratch = "\/mnt\/local ssd"/],
    ['a bad enroot path (checked here too)', { dataPath: 'data' }, /GpuPool: enroot.dataPath = "data"/],
  ])('refuses %s', (_name, settings, message) => {
    expect(() => enrootNodeEnv(settings, 'GpuPool')).toThrow(message);
  });
});
