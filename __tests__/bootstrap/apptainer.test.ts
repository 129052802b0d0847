/**
 * bootstrap-scripts/containers/apptainer.sh against fakes on PATH (curl serving the release .deb from a local
 * directory, dpkg, dpkg-query, apt-get and apparmor_parser recording their calls), with /proc/sys, the AppArmor
 * sysfs files and every path it writes moved into the sandbox. Its inputs and the staged registry drop-in come from
 * apptainerNodeSetup, so the TypeScript and shell halves are checked together.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { apptainerNodeSetup, type ApptainerSettings } from '../../lib/cloudinit/apptainer';
import { FAKE_DPKG_QUERY, installFakes, Sandbox } from './sh';

const URL = 'https://github.com/apptainer/apptainer/releases/download/v1.3.6/apptainer_1.3.6_amd64.deb';
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

const FAKES: Record<string, string> = {
  // Serves GitHub release URLs from $FAKE/release; fails its first FAKE_CURL_FAILS calls like a dropped connection.
  curl: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/curl-calls"
(( $(wc -l <"$FAKE/curl-calls") > \${FAKE_CURL_FAILS:-0} )) || { echo "curl: (56) Recv failure: Connection reset by peer" >&2; exit 56; }
out=""; prev=""
for a in "$@"; do [[ "$prev" == -o ]] && out=$a; prev=$a; done
url=\${@: -1}
src="$FAKE/release/\${url#https://github.com/apptainer/apptainer/releases/download/}"
[[ "$url" == https://github.com/apptainer/apptainer/releases/download/* && -f "$src" ]] || { echo "curl: (22) 404 $url" >&2; exit 22; }
cp "$src" "$out"
`,
  dpkg: `#!/bin/bash\n[[ "$1" == --print-architecture ]] && { echo "\${FAKE_ARCH:-amd64}"; exit 0; }\nexit 1\n`,
  'dpkg-query': FAKE_DPKG_QUERY,
  // "install <path>.deb" records the package as dpkg would, and lays down the profile the real .deb ships.
  'apt-get': `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apt-get-calls"
sub=""
for a in "$@"; do case "$a" in update | install) sub=$a ;; esac; done
n=$(grep -c " $sub" "$FAKE/apt-get-calls")
fails=FAKE_APT_\${sub^^}_FAILS
(( n > \${!fails:-0} )) || { echo "E: Could not connect to archive.ubuntu.com" >&2; exit 100; }
for a in "$@"; do
  [[ "$sub" == install && "$a" == *.deb ]] || continue
  b=$(basename "$a" .deb); rest=\${b#*_}
  echo "\${b%%_*} \${rest%_*}" >>"$FAKE/dpkg"
  if [[ "\${FAKE_DEB_PROFILE:-yes}" == yes ]]; then
    mkdir -p "$APPARMOR_DIR"
    printf 'abi <abi/4.0>,\\nprofile apptainer /usr/libexec/apptainer/bin/starter{,-suid} flags=(unconfined) {\\n  userns,\\n}\\n' >"$APPARMOR_DIR/apptainer"
  fi
done
`,
  apparmor_parser: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apparmor_parser-calls"
[[ "\${FAKE_AA_RC:-0}" == 0 ]] || { echo "apparmor_parser: Access denied. You need policy admin privileges" >&2; exit "$FAKE_AA_RC"; }
echo "apptainer (unconfined)" >>"$APPARMOR_PROFILES_FILE"
`,
};

let sb: Sandbox;
let fake: string;
let bin: string;
let deb: Buffer;

const p = (rel: string): string => path.join(sb.dir, rel);
const calls = (name: string): string[] => {
  const f = path.join(fake, `${name}-calls`);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
};
const installed = (): string => (fs.existsSync(path.join(fake, 'dpkg')) ? fs.readFileSync(path.join(fake, 'dpkg'), 'utf8') : '');

/** Runs the step with node.env entries from apptainerNodeSetup; stages its files where the script reads them. */
function run(settings: Partial<ApptainerSettings> = {}, extra: Record<string, string> = {}) {
  for (const f of ['curl', 'apt-get', 'apparmor_parser']) fs.rmSync(path.join(fake, `${f}-calls`), { force: true });
  const setup = apptainerNodeSetup({ version: '1.3.6', sha256: sha256(deb), ...settings });
  fs.rmSync(p('staged-registries.conf'), { force: true });
  for (const f of setup.files) sb.file('staged-registries.conf', f.content);
  return sb.script('containers/apptainer.sh', {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE: fake,
    APPTAINER_RETRY_DELAY: '0',
    PROC_SYS_DIR: p('proc-sys'),
    APPARMOR_DIR: p('apparmor.d'),
    APPARMOR_ENABLED_FILE: p('sys-apparmor-enabled'),
    APPARMOR_PROFILES_FILE: p('aa-profiles'),
    APPTAINER_REGISTRIES_STAGED: p('staged-registries.conf'),
    APPTAINER_REGISTRIES_CONF: p('etc-containers/registries.conf.d/60-cdktf-slurm-registry.conf'),
    ...setup.env,
    ...extra,
  });
}

beforeEach(() => {
  sb = new Sandbox();
  ({ fake, bin } = installFakes(sb, FAKES));
  deb = Buffer.from('fake apptainer 1.3.6 amd64 deb\n');
  fs.mkdirSync(path.join(fake, 'release/v1.3.6'), { recursive: true });
  fs.writeFileSync(path.join(fake, 'release/v1.3.6/apptainer_1.3.6_amd64.deb'), deb);
  // Ubuntu 24.04: user namespaces on, AppArmor 4 enabled and restricting them to profiled programs.
  sb.file('proc-sys/user/max_user_namespaces', '63444\n');
  sb.file('proc-sys/kernel/apparmor_restrict_unprivileged_userns', '1\n');
  sb.file('apparmor.d/abi/4.0', '');
  sb.file('sys-apparmor-enabled', 'Y\n');
  sb.file('aa-profiles', 'unprivileged_userns (enforce)\n');
  fs.writeFileSync(sb.envFile, '');
});
afterEach(() => sb.cleanup());

describe('apptainer.sh', () => {
  test('downloads, verifies and installs the release .deb, loads its AppArmor profile; a re-run does nothing', () => {
    const first = run();
    expect(first.stderr).not.toMatch(/ERROR/);
    expect(first.status).toBe(0);
    expect(calls('curl')).toEqual([expect.stringMatching(new RegExp(` -o \\S+/apptainer_1\\.3\\.6_amd64\\.deb ${URL.replace(/[./]/g, '\\$&')}$`))]);
    const apt = calls('apt-get');
    expect(apt).toHaveLength(2);
    expect(apt[0]).toMatch(/ update -q$/);
    expect(apt[1]).toMatch(/ install -y -q --no-install-recommends .*--force-confold \/\S+\/apptainer_1\.3\.6_amd64\.deb$/);
    expect(installed()).toBe('apptainer 1.3.6\n');
    expect(calls('apparmor_parser')).toEqual([`-r ${p('apparmor.d/apptainer')}`]);
    expect(first.log).toMatch(new RegExp(`downloaded apptainer_1\\.3\\.6_amd64\\.deb \\(SHA256 ${sha256(deb)} verified\\)`));
    expect(first.log).toMatch(/loaded AppArmor profile .*apparmor\.d\/apptainer \(kernel\.apparmor_restrict_unprivileged_userns=1\)/);
    expect(first.log).toMatch(/apptainer 1\.3\.6 ready, unprivileged \(changed\)/);
    // No registry asked for, none written; the temp dir holding the download is gone.
    expect(fs.existsSync(p('etc-containers'))).toBe(false);
    expect(fs.readdirSync(sb.dir).filter((n) => n.startsWith('cdktf-slurm.'))).toEqual([]);

    const second = run();
    expect(second.status).toBe(0);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('apparmor_parser')).toEqual([]);
    expect(second.log).toMatch(/apptainer 1\.3\.6 already installed \(1\.3\.6\)/);
    expect(second.log).toMatch(/AppArmor profile apptainer already loaded/);
    expect(second.log).toMatch(/apptainer 1\.3\.6 ready, unprivileged \(unchanged\)/);
  });

  test('a download whose checksum does not match is refused before apt sees it, naming the URL and both sums', () => {
    const wrong = 'f'.repeat(64);
    const r = run({ sha256: wrong });
    expect(r.status).toBe(1);
    expect(r.log).toContain(`ERROR: ${URL} does not match APPTAINER_SHA256: expected ${wrong}, got ${sha256(deb)}; refusing to install it.`);
    expect(calls('curl')).toHaveLength(1);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('apparmor_parser')).toEqual([]);
    expect(installed()).toBe('');
  });

  test('the same version already installed: no download, no apt; the profile is still loaded', () => {
    fs.writeFileSync(path.join(fake, 'dpkg'), 'apptainer 1.3.6\n');
    sb.file('apparmor.d/apptainer', 'abi <abi/4.0>,\n');
    const r = run();
    expect(r.status).toBe(0);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('apparmor_parser')).toEqual([`-r ${p('apparmor.d/apptainer')}`]);
    expect(r.log).toMatch(/apptainer 1\.3\.6 already installed/);
  });

  test('another version installed is replaced, and its profile reloaded even though one is loaded', () => {
    fs.writeFileSync(path.join(fake, 'dpkg'), 'apptainer 1.3.4\n');
    fs.appendFileSync(p('aa-profiles'), 'apptainer (unconfined)\n');
    const r = run();
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/installing apptainer 1\.3\.6 \(installed: 1\.3\.4\)/);
    expect(calls('curl')).toHaveLength(1);
    expect(installed()).toBe('apptainer 1.3.4\napptainer 1.3.6\n');
    expect(calls('apparmor_parser')).toHaveLength(1);
  });

  test('user.max_user_namespaces = 0 fails at once, before any download, saying how to fix it', () => {
    sb.file('proc-sys/user/max_user_namespaces', '0\n');
    const r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/ERROR: user\.max_user_namespaces is 0, so no user can create a user namespace .*'user\.max_user_namespaces = 65536' in \/etc\/sysctl\.d/);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
  });

  test('a kernel without user namespaces, or Debian with unprivileged_userns_clone = 0, fails clearly', () => {
    fs.rmSync(p('proc-sys/user/max_user_namespaces'));
    let r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/max_user_namespaces does not exist: this kernel has no user namespaces \(CONFIG_USER_NS\)/);

    sb.file('proc-sys/user/max_user_namespaces', '63444\n');
    sb.file('proc-sys/kernel/unprivileged_userns_clone', '0\n');
    r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/kernel\.unprivileged_userns_clone is 0 .*'kernel\.unprivileged_userns_clone = 1' in \/etc\/sysctl\.d/);
    expect(calls('curl')).toEqual([]);
  });

  test('every network step is retried: the download, apt-get update and apt-get install', () => {
    const r = run({}, { FAKE_CURL_FAILS: '2', FAKE_APT_UPDATE_FAILS: '1', FAKE_APT_INSTALL_FAILS: '2' });
    expect(r.status).toBe(0);
    expect(calls('curl')).toHaveLength(3);
    expect(calls('apt-get').filter((l) => / update /.test(` ${l} `))).toHaveLength(2);
    expect(calls('apt-get').filter((l) => / install /.test(l))).toHaveLength(3);
    expect(r.log).toMatch(/retry: 'curl .*' failed \(exit 56\) on attempt 2\/5; retrying/);
    expect(r.log).toMatch(/retry: 'apt-get .* update -q' failed \(exit 100\) on attempt 1\/5/);
    expect(r.log).toMatch(/retry: 'apt-get .* install .*' failed \(exit 100\) on attempt 2\/3/);
    expect(installed()).toBe('apptainer 1.3.6\n');
  });

  test('a download that keeps failing stops after 5 attempts, naming the URL, and installs nothing', () => {
    const r = run({}, { FAKE_CURL_FAILS: '99' });
    expect(r.status).toBe(1);
    expect(calls('curl')).toHaveLength(5);
    expect(r.log).toContain(`ERROR: could not download ${URL} after 5 attempts;`);
    expect(calls('apt-get')).toEqual([]);
  });

  test('a registry: the staged drop-in is installed exactly, re-runs keep it, and dropping the registry removes it', () => {
    const conf = p('etc-containers/registries.conf.d/60-cdktf-slurm-registry.conf');
    const registry = { host: '10.0.0.5:5000', insecure: true };
    const first = run({ registry });
    expect(first.status).toBe(0);
    const [file] = apptainerNodeSetup({ version: '1.3.6', sha256: sha256(deb), registry }).files;
    expect(fs.readFileSync(conf, 'utf8')).toBe(file.content);
    expect(fs.statSync(conf).mode & 0o7777).toBe(0o644);
    expect(first.log).toMatch(/docker:\/\/ pulls go through 10\.0\.0\.5:5000 \(plain HTTP allowed\)/);

    const again = run({ registry });
    expect(again.status).toBe(0);
    expect(again.log).toMatch(/\(unchanged\)/);
    expect(fs.readFileSync(conf, 'utf8')).toBe(file.content);

    const https = run({ registry: { host: 'registry.cluster.internal' } });
    expect(https.status).toBe(0);
    expect(fs.readFileSync(conf, 'utf8')).toMatch(/^location = "registry\.cluster\.internal"\ninsecure = false\n$/m);
    expect(https.log).toMatch(/pulls go through registry\.cluster\.internal \(HTTPS\)/);

    const none = run();
    expect(none.status).toBe(0);
    expect(fs.existsSync(conf)).toBe(false);
    expect(none.log).toMatch(/removed .*60-cdktf-slurm-registry\.conf: no APPTAINER_REGISTRY any more/);
    expect(none.log).toMatch(/\(changed\)/);
  });

  test('a registry whose staged drop-in is missing or disagrees with node.env is refused, nothing written', () => {
    const conf = p('etc-containers/registries.conf.d/60-cdktf-slurm-registry.conf');
    // node.env says HTTPS, the staged file allows plain HTTP.
    let r = run({ registry: { host: '10.0.0.5:5000', insecure: true } }, { APPTAINER_REGISTRY_INSECURE: 'no' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/staged-registries\.conf allows plain HTTP but APPTAINER_REGISTRY_INSECURE=no/);
    r = run({ registry: { host: '10.0.0.5:5000' } }, { APPTAINER_REGISTRY: '10.0.0.6:5000' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/staged-registries\.conf does not name APPTAINER_REGISTRY=10\.0\.0\.6:5000/);
    r = run({}, { APPTAINER_REGISTRY: 'https://10.0.0.5:5000' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/APPTAINER_REGISTRY='https:\/\/10\.0\.0\.5:5000' is not host\[:port\]/);
    r = run({}, { APPTAINER_REGISTRY: '10.0.0.5:5000', APPTAINER_REGISTRY_INSECURE: 'no' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/staged-registries\.conf is missing; cloud-init stages it from renderApptainerRegistriesConf/);
    expect(fs.existsSync(conf)).toBe(false);
  });

  test('restricted user namespaces and no profile from the package: a clear failure; unrestricted: a warning', () => {
    let r = run({}, { FAKE_DEB_PROFILE: 'no' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/ERROR: kernel\.apparmor_restrict_unprivileged_userns is 1 and .*apparmor\.d\/apptainer is missing, .*reinstall from the release \.deb/);

    sb.file('proc-sys/kernel/apparmor_restrict_unprivileged_userns', '0\n');
    r = run({}, { FAKE_DEB_PROFILE: 'no' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/warning: .*apparmor\.d\/apptainer is missing/);
    expect(calls('apparmor_parser')).toEqual([]);
  });

  test('a profile that cannot be loaded fails where user namespaces are restricted, and only warns elsewhere', () => {
    let r = run({}, { FAKE_AA_RC: '1' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/ERROR: apparmor_parser -r .*apparmor\.d\/apptainer failed .*CAP_MAC_ADMIN/);

    sb.file('proc-sys/kernel/apparmor_restrict_unprivileged_userns', '0\n');
    r = run({}, { FAKE_AA_RC: '1' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/warning: apparmor_parser -r .* failed/);
  });

  test('AppArmor 3 (Debian 12) or AppArmor off: the profile is left alone, the restriction never touched', () => {
    fs.rmSync(p('proc-sys/kernel/apparmor_restrict_unprivileged_userns'));
    fs.rmSync(p('apparmor.d/abi/4.0'));
    let r = run();
    expect(r.status).toBe(0);
    expect(calls('apparmor_parser')).toEqual([]);
    expect(r.log).toMatch(/AppArmor without abi\/4\.0 \(AppArmor 3\) .*leaving it unloaded/);

    sb.file('apparmor.d/abi/4.0', '');
    sb.file('sys-apparmor-enabled', 'N\n');
    r = run();
    expect(r.status).toBe(0);
    expect(calls('apparmor_parser')).toEqual([]);
    expect(r.log).toMatch(/AppArmor is not enabled on this kernel; no profile to load/);
  });

  test('without APPTAINER_SHA256 it stops before downloading and says where to get the sum', () => {
    const r = run({}, { APPTAINER_SHA256: '' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/APPTAINER_SHA256 is not set: it must hold the SHA-256 of apptainer_1\.3\.6_amd64\.deb\. Copy it from the release's sha256sums asset \(https:\/\/github\.com\/apptainer\/apptainer\/releases\/download\/v1\.3\.6\/sha256sums\)/);
    expect(calls('curl')).toEqual([]);
  });

  test.each([
    [{ APPTAINER_VERSION: '' }, /APPTAINER_VERSION is not set .*such as 1\.3\.6/],
    [{ APPTAINER_VERSION: '1.3' }, /APPTAINER_VERSION='1\.3' is not a release like 1\.3\.6/],
    [{ APPTAINER_VERSION: '1.3.3' }, /APPTAINER_VERSION=1\.3\.3 is older than 1\.3\.4, .*AppArmor profile for Ubuntu 24\.04; pin 1\.3\.6/],
    [{ FAKE_ARCH: 'arm64' }, /installs Apptainer's amd64 release \.deb; this host is 'arm64'/],
    [{ APPTAINER_SHA256: 'F'.repeat(64) }, /APPTAINER_SHA256 must be 64 lower-case hex digits, got 'F{64}'/],
  ])('refuses %j before downloading', (extra, message) => {
    const r = run({}, extra);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
  });
});
