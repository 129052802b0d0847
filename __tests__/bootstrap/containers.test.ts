/**
 * bootstrap-scripts/containers/enroot-pyxis.sh against stub dpkg, dpkg-query, apt-get and make (and a logging
 * curl wrapper) on PATH, with the downloads served from a local file:// "release" directory. The files it
 * installs are the ones the TypeScript renderers produce, and its inputs come from enrootNodeEnv, so the two
 * halves are checked together.
 */
import { createHash } from 'crypto';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { enrootNodeEnv, renderEnrootConf } from '../../lib/cloudinit/enroot';
import { renderPlugstackConf, renderPyxisConf } from '../../lib/slurm/render-plugstack-conf';
import { Sandbox, SCRIPTS_DIR } from './sh';

const SCRIPT = path.join(SCRIPTS_DIR, 'containers/enroot-pyxis.sh');
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

let sb: Sandbox;
let calls: string;
let state: string;
let scratch: string;
let enrootDebs: { deb: Buffer; caps: Buffer };
let pyxisTarball: Buffer;

/** Stub commands: each logs its argv to $STUB_LOG; dpkg-query/apt-get share a package database in $STUB_STATE. */
function writeStubs(): void {
  sb.file('bin/dpkg', '#!/bin/bash\necho "dpkg $*" >>"$STUB_LOG"\n[[ "$1" == --print-architecture ]] && { echo "${STUB_ARCH:-amd64}"; exit 0; }\nexit 1\n', 0o755);
  sb.file(
    'bin/dpkg-query',
    `#!/bin/bash
echo "dpkg-query $*" >>"$STUB_LOG"
fmt='\${Version}'; pkg=''
while (($#)); do
  case "$1" in
    -W | --show) shift ;;
    -f) fmt=$2; shift 2 ;;
    -f=* | --showformat=*) fmt=\${1#*=}; shift ;;
    *) pkg=$1; shift ;;
  esac
done
[[ -f "$STUB_STATE/$pkg" ]] || exit 1
out=\${fmt//'\${db:Status-Status}'/installed}
printf '%s' "\${out//'\${Version}'/$(cat "$STUB_STATE/$pkg")}"
`,
    0o755,
  );
  // apt-get install marks packages installed; a local .deb is recorded under its package name and version.
  sb.file(
    'bin/apt-get',
    `#!/bin/bash
echo "apt-get $*" >>"$STUB_LOG"
install=0; skip=0
for a in "$@"; do
  if ((skip)); then skip=0; continue; fi
  case "$a" in
    -o) skip=1 ;;
    install) install=1 ;;
    -*) ;;
    *.deb) ((install)) || continue
      b=$(basename "$a" .deb); rest=\${b#*_}
      echo "\${rest%_*}" >"$STUB_STATE/\${b%%_*}" ;;
    *) ((install)) && echo 1.0 >"$STUB_STATE/$a" ;;
  esac
done
exit 0
`,
    0o755,
  );
  // make: the unpacked source must be there; "install" puts the plugin under prefix=.
  sb.file(
    'bin/make',
    `#!/bin/bash
echo "make $*" >>"$STUB_LOG"
dir=. prefix= install=0
while (($#)); do
  case "$1" in
    -C) dir=$2; shift ;;
    prefix=*) prefix=\${1#prefix=} ;;
    install) install=1 ;;
  esac
  shift
done
[[ -f "$dir/Makefile" ]] || { echo "no Makefile in $dir" >&2; exit 2; }
if ((install)); then
  mkdir -p "$prefix/lib/slurm" "$prefix/share/pyxis"
  echo plugin >"$prefix/lib/slurm/spank_pyxis.so"
fi
`,
    0o755,
  );
  sb.file('bin/curl', `#!/bin/bash\necho "curl $*" >>"$STUB_LOG"\nexec ${JSON.stringify(realCurl())} "$@"\n`, 0o755);
}

function realCurl(): string {
  const r = spawnSync('bash', ['-c', 'command -v curl'], { encoding: 'utf8' });
  return r.stdout.trim() || '/usr/bin/curl';
}

/** A file:// release tree: enroot debs under v3.5.0/, pyxis's source archive as v0.20.0.tar.gz. */
function writeRelease(arch = 'amd64'): void {
  enrootDebs = { deb: Buffer.from(`fake enroot ${arch} deb\n`), caps: Buffer.from(`fake enroot+caps ${arch} deb\n`) };
  sb.file(`release/enroot/v3.5.0/enroot_3.5.0-1_${arch}.deb`, enrootDebs.deb);
  sb.file(`release/enroot/v3.5.0/enroot+caps_3.5.0-1_${arch}.deb`, enrootDebs.caps);
  sb.file('src/pyxis-0.20.0/Makefile', 'all:\n');
  fs.mkdirSync(path.join(sb.dir, 'release/pyxis'), { recursive: true });
  const tgz = path.join(sb.dir, 'release/pyxis/v0.20.0.tar.gz');
  expect(spawnSync('tar', ['-czf', tgz, '-C', path.join(sb.dir, 'src'), 'pyxis-0.20.0']).status).toBe(0);
  pyxisTarball = fs.readFileSync(tgz);
}

/** node.env variables from the TypeScript side, with the real checksums of the fake release. */
function nodeEnv(): Record<string, string> {
  return enrootNodeEnv({
    localScratch: scratch,
    checksums: { enrootAmd64: sha256(enrootDebs.deb), enrootCapsAmd64: sha256(enrootDebs.caps), pyxisSource: sha256(pyxisTarball) },
  });
}

function run(extra: Record<string, string> = {}) {
  fs.writeFileSync(calls, '');
  const r = sb.script('containers/enroot-pyxis.sh', {
    PATH: `${path.join(sb.dir, 'bin')}:${process.env.PATH}`,
    STUB_LOG: calls,
    STUB_STATE: state,
    ENROOT_BASE_URL: `file://${path.join(sb.dir, 'release/enroot')}`,
    PYXIS_BASE_URL: `file://${path.join(sb.dir, 'release/pyxis')}`,
    ENROOT_CONF_STAGED: path.join(sb.dir, 'staged-enroot.conf'),
    ENROOT_CONF: path.join(sb.dir, 'etc-enroot/enroot.conf'),
    PYXIS_PREFIX: path.join(sb.dir, 'usr-local'),
    APPARMOR_DIR: path.join(sb.dir, 'apparmor.d'),
    ...nodeEnv(),
    ...extra,
  });
  const lines = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean);
  return { ...r, calls: lines, changes: lines.filter((l) => /^(curl|apt-get|make) /.test(l)) };
}

const mode = (p: string): number => fs.statSync(p).mode & 0o7777;

beforeEach(() => {
  sb = new Sandbox();
  calls = path.join(sb.dir, 'calls.log');
  state = path.join(sb.dir, 'dpkg-state');
  scratch = path.join(sb.dir, 'localssd');
  fs.mkdirSync(state);
  fs.mkdirSync(scratch);
  // The distribution's Slurm, which pyxis is built against.
  fs.writeFileSync(path.join(state, 'slurm-client'), '22.05.8-4+deb12u3');
  writeStubs();
  writeRelease();
  sb.file('staged-enroot.conf', renderEnrootConf({ localScratch: scratch }));
  sb.file('staging/plugstack.conf', renderPlugstackConf());
  sb.file('staging/plugstack.conf.d/pyxis.conf', renderPyxisConf());
  fs.writeFileSync(sb.envFile, '');
});
afterEach(() => sb.cleanup());

describe('enroot-pyxis.sh', () => {
  test('installs enroot, its config, its directories, pyxis and the plugstack once; a second run changes nothing', () => {
    const first = run();
    expect(first.stderr).not.toMatch(/ERROR/);
    expect(first.status).toBe(0);

    // Exactly the three verified downloads, the two debs handed to apt, and one pyxis build + install.
    expect(first.changes.filter((l) => l.startsWith('curl '))).toEqual([
      expect.stringContaining('/release/enroot/v3.5.0/enroot_3.5.0-1_amd64.deb'),
      expect.stringContaining('/release/enroot/v3.5.0/enroot+caps_3.5.0-1_amd64.deb'),
      expect.stringContaining('/release/pyxis/v0.20.0.tar.gz'),
    ]);
    const debInstall = first.changes.filter((l) => l.startsWith('apt-get') && l.includes('.deb'));
    expect(debInstall).toHaveLength(1);
    expect(debInstall[0]).toMatch(/enroot_3\.5\.0-1_amd64\.deb .*enroot\+caps_3\.5\.0-1_amd64\.deb/);
    expect(debInstall[0]).toMatch(/--force-confold/);
    // enroot's dependencies and pyxis's build dependencies (Slurm headers) came from apt too.
    for (const pkg of ['squashfs-tools', 'parallel', 'jq', 'pigz', 'fuse-overlayfs', 'libslurm-dev', 'gcc', 'make']) {
      expect(fs.existsSync(path.join(state, pkg))).toBe(true);
    }
    expect(fs.readFileSync(path.join(state, 'enroot'), 'utf8').trim()).toBe('3.5.0-1');
    expect(fs.readFileSync(path.join(state, 'enroot+caps'), 'utf8').trim()).toBe('3.5.0-1');
    const makes = first.changes.filter((l) => l.startsWith('make '));
    expect(makes).toHaveLength(2);
    expect(makes[1]).toMatch(new RegExp(`install prefix=${path.join(sb.dir, 'usr-local')}$`));

    // Files: exactly what the renderers produced.
    expect(fs.readFileSync(path.join(sb.dir, 'etc-enroot/enroot.conf'), 'utf8')).toBe(renderEnrootConf({ localScratch: scratch }));
    expect(mode(path.join(sb.dir, 'etc-enroot/enroot.conf'))).toBe(0o644);
    expect(fs.readFileSync(path.join(sb.dir, 'etc-slurm/plugstack.conf'), 'utf8')).toBe(renderPlugstackConf());
    expect(fs.readFileSync(path.join(sb.dir, 'etc-slurm/plugstack.conf.d/pyxis.conf'), 'utf8')).toBe(renderPyxisConf());
    expect(fs.existsSync(path.join(sb.dir, 'usr-local/lib/slurm/spank_pyxis.so'))).toBe(true);
    expect(fs.readFileSync(path.join(sb.dir, 'usr-local/share/pyxis/cdktf-slurm.build'), 'utf8')).toBe('pyxis=0.20.0 slurm=22.05.8\n');

    // The per-purpose enroot directories on the scratch: root-owned and sticky world-writable, like /tmp.
    for (const d of ['runtime', 'cache', 'data', 'tmp']) expect(mode(path.join(scratch, 'enroot', d))).toBe(0o1777);
    expect(first.log).toMatch(/is not a mount point; enroot's images and containers will use the boot disk/);

    const second = run();
    expect(second.status).toBe(0);
    expect(second.changes).toEqual([]);
    expect(second.log).toMatch(/enroot and enroot\+caps 3\.5\.0-1 already installed/);
    expect(second.log).toMatch(/pyxis 0\.20\.0 already built for Slurm 22\.05\.8/);
    expect(second.log).toMatch(/containers ready: .*\(unchanged\)/);
  });

  test('a download whose checksum does not match is refused before apt sees it', () => {
    const wrong = 'f'.repeat(64);
    const r = run({ ENROOT_CAPS_SHA256_AMD64: wrong });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(
      new RegExp(`enroot\\+caps_3\\.5\\.0-1_amd64\\.deb does not match SHA256 ${wrong} \\(got ${sha256(enrootDebs.caps)}\\); refusing to install it. Fix ENROOT_CAPS_SHA256_AMD64`),
    );
    expect(r.calls.some((l) => l.startsWith('apt-get') && l.includes('.deb'))).toBe(false);
    expect(fs.existsSync(path.join(state, 'enroot'))).toBe(false);
    expect(fs.existsSync(path.join(sb.dir, 'etc-enroot/enroot.conf'))).toBe(false);
  });

  test('a tampered pyxis archive is refused and nothing is built', () => {
    fs.appendFileSync(path.join(sb.dir, 'release/pyxis/v0.20.0.tar.gz'), 'tampered');
    const r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/pyxis-0\.20\.0\.tar\.gz does not match SHA256 .*Fix PYXIS_SHA256/);
    expect(r.calls.some((l) => l.startsWith('make '))).toBe(false);
    expect(fs.existsSync(path.join(sb.dir, 'etc-slurm/plugstack.conf.d/pyxis.conf'))).toBe(false);
  });

  test('without checksums it stops before downloading, and says where to get them (arm64 names)', () => {
    writeRelease('arm64');
    const env = nodeEnv();
    delete env.ENROOT_SHA256_AMD64;
    const r = sb.script('containers/enroot-pyxis.sh', {
      PATH: `${path.join(sb.dir, 'bin')}:${process.env.PATH}`,
      STUB_LOG: calls,
      STUB_STATE: state,
      STUB_ARCH: 'arm64',
      ENROOT_BASE_URL: `file://${path.join(sb.dir, 'release/enroot')}`,
      ...env,
    });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/ENROOT_SHA256_ARM64 is not set: it must hold the SHA-256 of enroot_3\.5\.0-1_arm64\.deb.*release page/);
    expect(fs.readFileSync(calls, 'utf8')).not.toMatch(/^curl /m);
  });

  test('rebuilds pyxis (only) when the Slurm it was built for changes', () => {
    expect(run().status).toBe(0);
    fs.writeFileSync(path.join(state, 'slurm-client'), '23.11.4-1.2ubuntu5');
    const r = run();
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/building pyxis 0\.20\.0 for Slurm 23\.11\.4 \(had: pyxis=0\.20\.0 slurm=22\.05\.8\)/);
    expect(r.changes.filter((l) => l.startsWith('curl '))).toEqual([expect.stringContaining('v0.20.0.tar.gz')]);
    expect(r.changes.filter((l) => l.startsWith('make '))).toHaveLength(2);
    expect(fs.readFileSync(path.join(sb.dir, 'usr-local/share/pyxis/cdktf-slurm.build'), 'utf8')).toBe('pyxis=0.20.0 slurm=23.11.4\n');
  });

  test.each([
    [{ ENROOT_VERSION: '3.5' }, /ENROOT_VERSION='3\.5' is not a release like 3\.5\.0/],
    [{ PYXIS_VERSION: 'latest' }, /PYXIS_VERSION='latest' is not a release like 0\.20\.0/],
    [{ STUB_ARCH: 'i386' }, /NVIDIA publishes enroot \.debs for amd64 and arm64; this host is 'i386'/],
  ])('refuses %j', (extra, message) => {
    const r = run(extra);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(r.changes).toEqual([]);
  });

  test('a missing staged pyxis drop-in is an error naming the renderer', () => {
    fs.rmSync(path.join(sb.dir, 'staging/plugstack.conf.d/pyxis.conf'));
    const r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/staging\/plugstack\.conf\.d\/pyxis\.conf is missing; cloud-init stages it from renderPlugstackConf\/renderPyxisConf/);
  });
});

describe('enroot-pyxis.sh helpers', () => {
  const call = (snippet: string, env: Record<string, string> = {}) => sb.bash(`source ${JSON.stringify(SCRIPT)}\n${snippet}`, env);

  test.each([
    ['/mnt/localssd/enroot/data/user-${UID}', '/mnt/localssd/enroot/data'],
    ['/mnt/localssd/${UID}/enroot/runtime', '/mnt/localssd'],
    ['/mnt/localssd/enroot/cache/group-$(id -g)', '/mnt/localssd/enroot/cache'],
    ['/mnt/localssd/enroot/tmp', '/mnt/localssd/enroot/tmp'],
    ['${HOME}/.enroot', ''],
  ])('static_prefix %s -> %s', (value, want) => {
    const r = call(`static_prefix '${value}'`);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${want}\n`);
  });

  test('conf_value reads enroot.conf the way enroot splits it (spaces, tabs or =; last one wins)', () => {
    const conf = sb.file('e.conf', '#ENROOT_DATA_PATH /commented\nENROOT_DATA_PATH   /a/user-${UID}\nENROOT_CACHE_PATH=/c\nENROOT_DATA_PATH\t/b/user-$(id -u)  \n');
    expect(call(`conf_value ${conf} ENROOT_DATA_PATH`).stdout).toBe('/b/user-$(id -u)\n');
    expect(call(`conf_value ${conf} ENROOT_CACHE_PATH`).stdout).toBe('/c\n');
    expect(call(`conf_value ${conf} ENROOT_TEMP_PATH`).stdout).toBe('\n');
  });

  test('directories outside the scratch (e.g. $HOME-based) are left to enroot, not chmod-ed', () => {
    const home = path.join(sb.dir, 'home');
    fs.mkdirSync(home, { mode: 0o755 });
    const conf = sb.file('e.conf', `ENROOT_DATA_PATH ${home}/user-\${UID}\nENROOT_TEMP_PATH ${scratch}/enroot/tmp\n`);
    const r = call('make_enroot_dirs', { ENROOT_CONF: conf, LOCAL_SCRATCH: scratch });
    expect(r.status).toBe(0);
    expect(mode(home)).toBe(0o755);
    expect(mode(path.join(scratch, 'enroot/tmp'))).toBe(0o1777);
    expect(r.log).toMatch(/ENROOT_DATA_PATH=.*is not below .*; leaving its directory to enroot/);
  });

  test("AppArmor without abi/4.0 (Ubuntu 22.04) gets enroot's profile disabled; AppArmor 4 keeps it", () => {
    const aa = path.join(sb.dir, 'apparmor.d');
    sb.file('apparmor.d/enroot', 'abi <abi/4.0>,\n');
    expect(call('apparmor_fixup', { APPARMOR_DIR: aa }).status).toBe(0);
    expect(fs.readlinkSync(path.join(aa, 'disable/enroot'))).toBe(path.join(aa, 'enroot'));

    fs.rmSync(path.join(aa, 'disable'), { recursive: true });
    sb.file('apparmor.d/abi/4.0', '');
    expect(call('apparmor_fixup', { APPARMOR_DIR: aa }).status).toBe(0);
    expect(fs.existsSync(path.join(aa, 'disable/enroot'))).toBe(false);
  });
});
