/**
 * lustre-client.sh against fakes on PATH (uname, modinfo, modprobe, apt-get, apt-cache, dpkg-query, curl, gpg,
 * mount, mountpoint, findmnt): the client repository follows the cloud (DMI) or LUSTRE_CLIENT_REPO, the package
 * installed is the one for the running kernel, a kernel the repository has no build for fails at once, the fstab
 * line carries _netdev, a re-run changes nothing, and mount attempts are bounded.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, FAKE_MOUNT_TABLE_TOOLS, fakeMountFromFstab, installFakes } from './sh';

let sb: Sandbox;
let fake: string;
let bin: string;

const KERNEL = '6.8.0-1019-aws';
const FSX_KEY_URL = 'https://fsx-lustre-client-repo-public-keys.s3.amazonaws.com/fsx-ubuntu-public-key.asc';
const GCP_KEY_URL = 'https://us-apt.pkg.dev/doc/repo-signing-key.gpg';
const ARMORED_KEY = '-----BEGIN PGP PUBLIC KEY BLOCK-----\nfake key\n-----END PGP PUBLIC KEY BLOCK-----\n';

const FAKES: Record<string, string> = {
  uname: `#!/bin/bash\nprintf '%s\\n' "$*" >>"$FAKE/uname-calls"\n[[ "$1" == -r ]] && echo "$FAKE_KERNEL"\n`,
  // The module exists once the modules package was installed (or FAKE_PREINSTALLED made it so).
  modinfo: `#!/bin/bash\nprintf '%s\\n' "$*" >>"$FAKE/modinfo-calls"\n[[ "$*" == "-k $FAKE_KERNEL lustre" && -f "$FAKE/module-$FAKE_KERNEL" ]]\n`,
  modprobe: `#!/bin/bash\nprintf '%s\\n' "$*" >>"$FAKE/modprobe-calls"\nexit "\${FAKE_MODPROBE_RC:-0}"\n`,
  'dpkg-query': `#!/bin/bash\npkg=\${@: -1}\ngrep -qx "$pkg" "$FAKE/dpkg-installed" 2>/dev/null && printf installed\nexit 0\n`,
  // apt-cache policy PKG: a candidate only for the packages listed in FAKE_APT_KNOWS.
  'apt-cache': `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apt-cache-calls"
[[ "$1" == policy ]] || exit 0
for k in $FAKE_APT_KNOWS; do
  if [[ "$k" == "$2" ]]; then printf '%s:\\n  Installed: (none)\\n  Candidate: 2.15.5-1\\n' "$2"; exit 0; fi
done
if [[ -n "\${FAKE_APT_NONE:-}" ]]; then printf '%s:\\n  Installed: (none)\\n  Candidate: (none)\\n' "$2"; fi
`,
  'apt-get': `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apt-get-calls"
install=0
for a in "$@"; do
  [[ "$a" == install ]] && { install=1; continue; }
  ((install)) || continue
  case "$a" in
    lustre-client-modules-*) echo "$a" >>"$FAKE/dpkg-installed"; : >"$FAKE/module-\${a#lustre-client-modules-}"
      printf '#!/bin/bash\\nexit 0\\n' >"$FAKE/bin/mount.lustre"; chmod +x "$FAKE/bin/mount.lustre" ;;
    -*) ;;
    *) echo "$a" >>"$FAKE/dpkg-installed" ;;
  esac
done
exit 0
`,
  curl: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/curl-calls"
out=""; prev=""
for a in "$@"; do [[ "$prev" == -o ]] && out=$a; prev=$a; done
url=\${@: -1}
if [[ -n "\${FAKE_BINARY_KEY:-}" ]]; then printf '\\x99\\x01binary-key' >"$out"; else printf '%s' "$FAKE_KEY_TEXT" >"$out"; fi
`,
  gpg: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/gpg-calls"
out=""; prev=""
for a in "$@"; do [[ "$prev" == -o ]] && out=$a; prev=$a; done
{ printf 'DEARMORED:'; cat "\${@: -1}"; } >"$out"
`,
  // One line per mounted mount point: "<mount point> <source> <fstype>".
  ...FAKE_MOUNT_TABLE_TOOLS,
  mount: fakeMountFromFstab('mount.lustre: mount 10.0.0.5@tcp:/lfs at /lustre failed: Input/output error', 5),
};

beforeEach(() => {
  sb = new Sandbox();
  ({ fake, bin } = installFakes(sb, FAKES));
});
afterEach(() => sb.cleanup());

const calls = (name: string): string[] => {
  const p = path.join(fake, `${name}-calls`);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').trim().split('\n') : [];
};
const dmi = (vendor: string, product: string): string => {
  sb.file('dmi/sys_vendor', `${vendor}\n`);
  sb.file('dmi/product_name', `${product}\n`);
  return path.join(sb.dir, 'dmi');
};
const keyrings = () => path.join(sb.dir, 'keyrings');
const sources = () => path.join(sb.dir, 'sources.list.d');
const mp = () => path.join(sb.dir, 'mnt', 'lustre');
const fstab = () => path.join(sb.dir, 'fstab');

function env(over: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${bin}:${process.env.PATH}`,
    FAKE: fake,
    FAKE_KERNEL: KERNEL,
    FAKE_KEY_TEXT: ARMORED_KEY,
    FAKE_APT_KNOWS: `lustre-client-modules-${KERNEL} lustre-client-utils`,
    LUSTRE_SOURCE: '10.0.0.5@tcp:/lfs',
    LUSTRE_MOUNT_POINT: mp(),
    LUSTRE_FSTAB: fstab(),
    LUSTRE_MOUNT_RETRY_DELAY: '0.1',
    LUSTRE_DMI_DIR: path.join(sb.dir, 'dmi'),
    LUSTRE_OS_RELEASE: sb.file('os-release', 'ID=ubuntu\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nUBUNTU_CODENAME=noble\n'),
    LUSTRE_KEYRING_DIR: keyrings(),
    LUSTRE_APT_SOURCES_DIR: sources(),
    ...over,
  };
}
const aptInstalls = (): string[] => calls('apt-get').filter((c) => / install /.test(c)).map((c) => c.replace(/^.*--force-confold /, ''));

describe('client repository', () => {
  test('an EC2 instance gets the FSx repository, the modules for its kernel and the utilities; a re-run changes nothing', () => {
    dmi('Amazon EC2', 'g6.xlarge');
    const r1 = sb.script('lustre-client.sh', env());
    expect(r1.status).toBe(0);
    expect(calls('curl')).toEqual([expect.stringMatching(new RegExp(`-o .* ${FSX_KEY_URL.replace(/\./g, '\\.')}$`))]);
    expect(fs.readFileSync(path.join(keyrings(), 'fsx-ubuntu-public-key.gpg'), 'utf8')).toBe(`DEARMORED:${ARMORED_KEY}`);
    expect(fs.readFileSync(path.join(sources(), 'fsxlustreclientrepo.list'), 'utf8')).toBe(
      `deb [signed-by=${keyrings()}/fsx-ubuntu-public-key.gpg] https://fsx-lustre-client-repo.s3.amazonaws.com/ubuntu noble main\n`,
    );
    expect(fs.existsSync(path.join(sources(), 'gcp-lustre-client.list'))).toBe(false);
    expect(aptInstalls()).toEqual([`lustre-client-modules-${KERNEL} lustre-client-utils`]);
    expect(calls('modprobe')).toEqual(['lustre']);
    expect(fs.readFileSync(fstab(), 'utf8')).toBe(`10.0.0.5@tcp:/lfs ${mp()} lustre defaults,flock,_netdev 0 0\n`);
    expect(calls('mount')).toEqual([`-T ${fstab()} ${mp()}`]);
    expect(r1.log).toMatch(/installing from the AWS FSx Lustre client repository .*detected from DMI/);

    const fstabMtime = fs.statSync(fstab()).mtimeMs;
    const aptBefore = calls('apt-get').length;
    const r2 = sb.script('lustre-client.sh', env());
    expect(r2.status).toBe(0);
    expect(calls('apt-get')).toHaveLength(aptBefore);
    expect(calls('curl')).toHaveLength(1);
    expect(calls('mount')).toHaveLength(1);
    expect(fs.statSync(fstab()).mtimeMs).toBe(fstabMtime);
    expect(r2.log).toMatch(/Lustre client present for kernel 6\.8\.0-1019-aws/);
    expect(r2.log).toMatch(/already mounted from 10\.0\.0\.5@tcp:\/lfs \(Lustre lfs\)/);
  });

  test('a GCE instance gets the Google repository (a binary key is kept as is)', () => {
    dmi('Google', 'Google Compute Engine');
    const r = sb.script('lustre-client.sh', env({ FAKE_BINARY_KEY: '1', FAKE_KERNEL: '6.8.0-1015-gcp', FAKE_APT_KNOWS: 'lustre-client-modules-6.8.0-1015-gcp lustre-client-utils' }));
    expect(r.status).toBe(0);
    expect(calls('curl')[0]).toMatch(new RegExp(`${GCP_KEY_URL.replace(/\./g, '\\.')}$`));
    expect(calls('gpg')).toEqual([]);
    expect(fs.readFileSync(path.join(keyrings(), 'gcp-lustre-client.gpg'), 'latin1')).toBe('\x99\x01binary-key');
    expect(fs.readFileSync(path.join(sources(), 'gcp-lustre-client.list'), 'utf8')).toBe(
      `deb [signed-by=${keyrings()}/gcp-lustre-client.gpg] https://us-apt.pkg.dev/projects/lustre-client-binaries lustre-client-ubuntu-noble main\n`,
    );
    expect(fs.existsSync(path.join(sources(), 'fsxlustreclientrepo.list'))).toBe(false);
    expect(aptInstalls()).toEqual(['lustre-client-modules-6.8.0-1015-gcp lustre-client-utils']);
  });

  test('LUSTRE_CLIENT_REPO wins over DMI; utilities apt does not know are not asked for', () => {
    dmi('Amazon EC2', 'p5.48xlarge');
    const r = sb.script('lustre-client.sh', env({ LUSTRE_CLIENT_REPO: 'gcp', FAKE_APT_KNOWS: `lustre-client-modules-${KERNEL}` }));
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(sources(), 'gcp-lustre-client.list'))).toBe(true);
    expect(fs.existsSync(path.join(sources(), 'fsxlustreclientrepo.list'))).toBe(false);
    expect(aptInstalls()).toEqual([`lustre-client-modules-${KERNEL}`]);
    expect(r.log).toMatch(/LUSTRE_CLIENT_REPO=gcp/);
  });

  test.each([
    ['elsewhere', 'QEMU', {}, /no cloud Lustre repository: detected from DMI/],
    ['with LUSTRE_CLIENT_REPO=none on EC2', 'Amazon EC2', { LUSTRE_CLIENT_REPO: 'none' }, /no cloud Lustre repository: LUSTRE_CLIENT_REPO=none/],
  ])('%s the distribution package is used, without adding a repository', (_name, vendor, over, how) => {
    dmi(vendor, 'Standard PC (Q35 + ICH9, 2009)');
    const r = sb.script('lustre-client.sh', env(over));
    expect(r.status).toBe(0);
    expect(calls('curl')).toEqual([]);
    expect(fs.existsSync(sources())).toBe(false);
    expect(aptInstalls()).toEqual([`lustre-client-modules-${KERNEL} lustre-client-utils`]);
    expect(r.log).toMatch(/the distribution's repositories/);
    expect(r.log).toMatch(how);
  });

  test('a client already there for the running kernel installs nothing', () => {
    dmi('Amazon EC2', 'g6.xlarge');
    fs.writeFileSync(path.join(bin, 'mount.lustre'), '#!/bin/bash\n', { mode: 0o755 });
    fs.writeFileSync(path.join(fake, `module-${KERNEL}`), '');
    const r = sb.script('lustre-client.sh', env());
    expect(r.status).toBe(0);
    expect(calls('modinfo')).toEqual([`-k ${KERNEL} lustre`]);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('apt-cache')).toEqual([]);
    expect(calls('curl')).toEqual([]);
    expect(calls('mount')).toHaveLength(1);
  });
});

describe('no client for the running kernel', () => {
  test.each([
    ['the FSx repository', 'Amazon EC2', {}, /in the AWS FSx Lustre client repository \(https:\/\/fsx-lustre-client-repo\.s3\.amazonaws\.com\/ubuntu noble\)/],
    ['the Google repository', 'Google', {}, /in the Google Cloud Lustre client repository/],
    ['the distribution', 'QEMU', { FAKE_APT_NONE: '1' }, /in the distribution's repositories/],
  ])('fails at once, naming the kernel, %s and the fix', (_name, vendor, over, where) => {
    dmi(vendor, 'x');
    const start = Date.now();
    const r = sb.script('lustre-client.sh', env({ FAKE_APT_KNOWS: 'lustre-client-utils', ...over }));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/no Lustre client for the running kernel 6\.8\.0-1019-aws/);
    expect(r.log).toMatch(where);
    expect(r.log).toMatch(/Pin the node image \(or its kernel\) to one the repository builds for, or bake the Lustre client into the image/);
    // Asked once, never retried, nothing installed, nothing mounted.
    expect(calls('apt-cache').filter((c) => c === `policy lustre-client-modules-${KERNEL}`)).toHaveLength(1);
    expect(calls('apt-get').filter((c) => / update /.test(c))).toHaveLength(1);
    expect(aptInstalls()).toEqual([]);
    expect(r.log).not.toMatch(/retrying/);
    expect(calls('modprobe')).toEqual([]);
    expect(calls('mount')).toEqual([]);
    expect(fs.existsSync(fstab())).toBe(false);
    expect(Date.now() - start).toBeLessThan(10000);
  });

  test('a cloud repository on a non-Ubuntu host fails before adding anything', () => {
    dmi('Amazon EC2', 'g6.xlarge');
    const r = sb.script('lustre-client.sh', env({ LUSTRE_OS_RELEASE: sb.file('debian-os-release', 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n') }));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/the aws-fsx Lustre client repository publishes Ubuntu builds only, this host is 'debian bookworm'/);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
  });

  test('an unknown LUSTRE_CLIENT_REPO is refused', () => {
    const r = sb.script('lustre-client.sh', env({ LUSTRE_CLIENT_REPO: 'azure' }));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/LUSTRE_CLIENT_REPO='azure' is not supported; use aws-fsx, gcp or none/);
    expect(calls('apt-get')).toEqual([]);
  });
});

describe('fstab and mount', () => {
  const present = () => {
    fs.writeFileSync(path.join(bin, 'mount.lustre'), '#!/bin/bash\n', { mode: 0o755 });
    fs.writeFileSync(path.join(fake, `module-${KERNEL}`), '');
  };

  test('keeps other fstab lines, replaces a stale one for the mount point; given options get _netdev once', () => {
    present();
    fs.writeFileSync(fstab(), `# static\nUUID=abc / ext4 defaults 0 1\nold@tcp:/old ${mp()} lustre defaults 0 0\n`);
    const src = 'fs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh';
    const r = sb.script('lustre-client.sh', env({ LUSTRE_SOURCE: src, LUSTRE_MOUNT_OPTIONS: 'ro,_netdev,noatime' }));
    expect(r.status).toBe(0);
    expect(fs.readFileSync(fstab(), 'utf8')).toBe(`# static\nUUID=abc / ext4 defaults 0 1\n${src} ${mp()} lustre ro,noatime,_netdev 0 0\n`);
    expect(fs.readFileSync(fstab(), 'utf8')).not.toMatch(/nofail/);
  });

  test('an existing mount of the same file system shown by address is left alone; another file system is an error', () => {
    present();
    fs.writeFileSync(path.join(fake, 'mounted'), `${mp()} 172.31.5.9@tcp:/abcdefgh lustre\n`);
    const same = sb.script('lustre-client.sh', env({ LUSTRE_SOURCE: 'fs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh' }));
    expect(same.status).toBe(0);
    expect(calls('mount')).toEqual([]);
    const other = sb.script('lustre-client.sh', env({ LUSTRE_SOURCE: '10.0.0.5@tcp:/lfs' }));
    expect(other.status).toBe(1);
    expect(other.log).toMatch(/is already a mount point of '172\.31\.5\.9@tcp:\/abcdefgh' \(lustre\), not Lustre 10\.0\.0\.5@tcp:\/lfs/);
    fs.writeFileSync(path.join(fake, 'mounted'), `${mp()} filer:/x nfs4\n`);
    const nfs = sb.script('lustre-client.sh', env());
    expect(nfs.status).toBe(1);
    expect(nfs.log).toMatch(/already a mount point of 'filer:\/x' \(nfs4\)/);
    expect(calls('mount')).toEqual([]);
  });

  test('retries a failing mount, then gives up after LUSTRE_MOUNT_ATTEMPTS naming what to check', () => {
    present();
    const ok = sb.script('lustre-client.sh', env({ FAKE_MOUNT_FAILS: '1' }));
    expect(ok.status).toBe(0);
    expect(calls('mount')).toHaveLength(2);
    expect(ok.log).toMatch(/attempt 1\/6; retrying/);

    fs.rmSync(path.join(fake, 'mounted'));
    fs.rmSync(path.join(fake, 'mount-calls'));
    const bad = sb.script('lustre-client.sh', env({ FAKE_MOUNT_FAILS: '99', LUSTRE_MOUNT_ATTEMPTS: '3' }));
    expect(bad.status).toBe(1);
    expect(calls('mount')).toHaveLength(3);
    expect(bad.log).toMatch(/could not mount Lustre 10\.0\.0\.5@tcp:\/lfs on .* after 3 attempts; check that this node reaches the MGS \(lctl ping 10\.0\.0\.5@tcp/);
  });

  test('a module that does not load fails before fstab is touched', () => {
    present();
    const r = sb.script('lustre-client.sh', env({ FAKE_MODPROBE_RC: '1' }));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/could not load the lustre kernel module for kernel 6\.8\.0-1019-aws/);
    expect(fs.existsSync(fstab())).toBe(false);
  });

  test.each([
    ['an InfiniBand nid', { LUSTRE_SOURCE: '10.0.0.5@o2ib:/lfs' }, /LUSTRE_SOURCE='10\.0\.0\.5@o2ib:\/lfs' is not <nid>/],
    ['a 9-character fsname', { LUSTRE_SOURCE: '10.0.0.5@tcp:/abcdefghi' }, /is not <nid>/],
    ['no nid', { LUSTRE_SOURCE: ':/lfs' }, /is not <nid>/],
    ['a subdirectory', { LUSTRE_SOURCE: '10.0.0.5@tcp:/lfs/x' }, /is not <nid>/],
    ['a relative mount point', { LUSTRE_MOUNT_POINT: 'lustre' }, /LUSTRE_MOUNT_POINT='lustre' must be an absolute path/],
    ['options with spaces', { LUSTRE_MOUNT_OPTIONS: 'ro, flock' }, /LUSTRE_MOUNT_OPTIONS='ro, flock' must be comma-separated/],
    ['an unbounded timeout', { LUSTRE_MOUNT_TIMEOUT: '0' }, /LUSTRE_MOUNT_TIMEOUT='0' must be 1-999 seconds/],
  ])('refuses %s before doing anything', (_name, over, message) => {
    const r = sb.script('lustre-client.sh', env(over));
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(calls('modinfo')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('mount')).toEqual([]);
  });

  test('accepts failover MGS nids', () => {
    present();
    const src = '10.0.0.5@tcp:10.0.0.6@tcp:/lfs';
    const r = sb.script('lustre-client.sh', env({ LUSTRE_SOURCE: src }));
    expect(r.status).toBe(0);
    expect(fs.readFileSync(fstab(), 'utf8')).toBe(`${src} ${mp()} lustre defaults,flock,_netdev 0 0\n`);
  });
});
