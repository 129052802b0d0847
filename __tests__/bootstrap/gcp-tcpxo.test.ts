/**
 * bootstrap-scripts/gcp/tcpxo.sh, tcpxo-prolog.sh and tcpxo-epilog.sh against fakes on PATH (docker, scontrol,
 * modprobe, mount, mountpoint, gcloud, nvidia-ctk, and curl, gpg, apt-get, dpkg-query, systemctl for the
 * installs) that record their arguments, and a fake sysfs: NIC and aperture-device discovery, installing the
 * NVIDIA container toolkit and the dmabuf import helper when the image lacks them, the pinned pulls and the
 * once-only plugin install, the RxDM prolog's single-node shortcut, ready wait, timeout drain and reuse, and
 * the epilog's cleanup.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NO_HOST_TABLES } from '../../lib/cloudinit/boot-steps';
import { renderNodeEnv } from '../../lib/cloudinit/node-env';
import { resolveTcpxoSettings, tcpxoNodeEnv } from '../../lib/gcp/tcpxo';
import { isRoot, Sandbox, SCRIPTS_DIR, FAKE_DPKG_QUERY } from './sh';

const RXDM = 'us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/tcpgpudmarxd-dev:v1.0.16';
const PLUGIN = 'us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo/nccl-plugin-gpudirecttcpx-dev:v1.0.10';
const NICS = ['enp6s0', 'enp7s0', 'enp13s0', 'enp14s0', 'enp134s0', 'enp135s0', 'enp141s0', 'enp142s0'];
const APERTURES = ['0000:8c:00.1', '0000:06:00.1'];
// install_if_changed chowns to root.
const rootOnly = isRoot ? test : test.skip;
// common.sh puts the standard directories on PATH, so a host with a real toolkit cannot hide it.
const hostHasToolkit =
  spawnSync('bash', ['-c', 'PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin; command -v nvidia-ctk || command -v nvidia-container-cli']).status === 0;
// nvidia-ctk as the toolkit package installs it: `runtime configure` adds the nvidia runtime to --config.
const NVIDIA_CTK = `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/nvidia-ctk-calls"
if [[ "$1 $2" == "runtime configure" ]]; then
  for a in "$@"; do [[ "$a" == --config=* ]] && printf '{\\n  "runtimes": {\\n    "nvidia": {"path": "nvidia-container-runtime"}\\n  }\\n}\\n' >"\${a#--config=}"; done
fi
exit 0
`;

const FAKES: Record<string, string> = {
  docker: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/docker-calls"
C="$FAKE/containers"
mkdir -p "$C" "$FAKE/images"
key() { printf '%s' "$1" | tr '/:@' '___'; }
cmd=$1
shift
case "$cmd" in
  info) exit 0 ;;
  image) [[ -e "$FAKE/images/$(key "$2")" ]] ;;
  pull) : >"$FAKE/images/$(key "\${@: -1}")" ;;
  run)
    name="" detach=0 vols=()
    while (($#)); do
      case "$1" in
        --detach) detach=1; shift ;;
        --name) name=$2; shift 2 ;;
        --volume) vols+=("$2"); shift 2 ;;
        --label | --env | --gpus) shift 2 ;;
        --*) shift ;;
        *) break ;;
      esac
    done
    image=$1
    if ((detach)); then
      mkdir -p "$C/$name"
      echo running >"$C/$name/status"
      echo "$*" >"$C/$name/cmd"
      case "\${FAKE_RXDM:-ready}" in
        ready) printf 'I0101 starting RxDM\\nI0101 Buffer manager initialization complete\\n' >"$C/$name/logs" ;;
        never) printf 'I0101 starting RxDM\\nW0101 waiting for NIC enp134s0\\n' >"$C/$name/logs" ;;
        crash) printf 'F0101 cannot open /dev/dmabuf_import_helper\\n' >"$C/$name/logs"; echo exited >"$C/$name/status" ;;
      esac
      echo "id-$name"
    else
      for v in "\${vols[@]}"; do
        if [[ "\${v#*:}" == /var/lib/tcpxo/lib64 ]]; then : >"\${v%%:*}/libnccl-net.so"; : >"\${v%%:*}/libnccl.so.2"; fi
      done
      echo "installed by $image" >>"$FAKE/installs"
    fi
    ;;
  logs)
    tail=""
    if [[ "$1" == --tail ]]; then tail=$2; shift 2; fi
    [[ -d "$C/$1" ]] || { echo "Error: No such container: $1" >&2; exit 1; }
    if [[ -n "$tail" ]]; then tail -n "$tail" "$C/$1/logs"; else cat "$C/$1/logs"; fi
    ;;
  inspect) [[ -d "$C/\${@: -1}" ]] || exit 1; cat "$C/\${@: -1}/status" ;;
  container) [[ -d "$C/\${@: -1}" ]] ;;
  ps) for d in "$C"/*/; do [[ -d "$d" ]] && basename "$d"; done; exit 0 ;;
  stop) [[ -d "$C/\${@: -1}" ]] && echo exited >"$C/\${@: -1}/status"; exit 0 ;;
  rm) rm -rf "\${C:?}/\${@: -1}" ;;
esac
`,
  scontrol: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/scontrol-calls"
if [[ "$1 $2" == "show hostnames" ]]; then printf '%s\\n' $FAKE_HOSTNAMES; fi
exit 0
`,
  // FAKE_MODPROBE_FAIL: the module is missing until the dmabuf-import-helper package is installed;
  // FAKE_MODPROBE_REJECT: then Secure Boot refuses the module DKMS built.
  modprobe: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/modprobe-calls"
if [[ -n "\${FAKE_MODPROBE_FAIL:-}" ]] && ! grep -q '^dmabuf-import-helper ' "$FAKE/dpkg" 2>/dev/null; then
  echo "modprobe: FATAL: Module $1 not found in directory /lib/modules/6.8.0-gcp" >&2; exit 1
fi
if [[ -n "\${FAKE_MODPROBE_REJECT:-}" ]]; then echo "modprobe: ERROR: could not insert 'import_helper': Key was rejected by service" >&2; exit 1; fi
mkdir -p "$(dirname "$TCPXO_DMABUF_DEV")" && : >"$TCPXO_DMABUF_DEV"
`,
  // A symlink stands in for the bind mount, so the script's chmod through the mount point reaches sysfs.
  mount: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/mount-calls"
printf '%s\\n' "\${@: -1}" >>"$FAKE/mounted"
rmdir "\${@: -1}" && ln -s "\${@: -2:1}" "\${@: -1}"
`,
  mountpoint: `#!/bin/bash
[[ -f "$FAKE/mounted" ]] && grep -qxF -- "\${@: -1}" "$FAKE/mounted"
`,
  gcloud: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/gcloud-calls"
`,
  'nvidia-ctk': NVIDIA_CTK,
  // Downloads: a "key" naming the URL, ASCII-armoured like NVIDIA's and Google's. FAKE_CURL_FAIL=1 fails them.
  curl: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/curl-calls"
out="" url=""
while (($#)); do
  case "$1" in
    -o | --max-time) [[ "$1" == -o ]] && out=$2; shift 2 ;;
    -*) shift ;;
    *) url=$1; shift ;;
  esac
done
if [[ -n "\${FAKE_CURL_FAIL:-}" ]]; then echo "curl: (6) Could not resolve host" >&2; exit 6; fi
printf -- '-----BEGIN PGP PUBLIC KEY BLOCK-----\\nkey of %s\\n' "$url" >"$out"
`,
  gpg: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/gpg-calls"
[[ " $* " == *" --dearmor "* ]] || exit 2
printf 'dearmored('; cat; printf ')'
`,
  // Installed packages live in $FAKE/dpkg ("name version" lines). Like apt, update fails while the ar+https
  // repository is listed but its transport is not installed. FAKE_APT_FAIL: packages that cannot be installed.
  'apt-get': `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/apt-get-calls"
sub="" pkgs=()
while (($#)); do
  case "$1" in
    -o) shift 2 ;;
    -*) shift ;;
    *) if [[ -z "$sub" ]]; then sub=$1; else pkgs+=("$1"); fi; shift ;;
  esac
done
if [[ "$sub" == update && -e "$TCPXO_APT_SOURCES_DIR/gpudirect-tcpxo.list" ]] && ! grep -q '^apt-transport-artifact-registry ' "$FAKE/dpkg" 2>/dev/null; then
  echo "E: The method driver /usr/lib/apt/methods/ar+https could not be found." >&2; exit 100
fi
if [[ "$sub" == update ]]; then
  (cd "$TCPXO_APT_SOURCES_DIR" 2>/dev/null && ls | tr '\\n' ' ' | sed 's/ $//'; echo) >>"$FAKE/apt-update-lists"
fi
[[ "$sub" == install ]] || exit 0
for p in "\${pkgs[@]}"; do
  if [[ " \${FAKE_APT_FAIL:-} " == *" \${p%%=*} "* ]]; then echo "E: Unable to locate package \${p%%=*}" >&2; exit 100; fi
done
for p in "\${pkgs[@]}"; do
  if [[ "$p" == *=* ]]; then echo "\${p%%=*} \${p#*=}" >>"$FAKE/dpkg"; else echo "$p 1.0-1" >>"$FAKE/dpkg"; fi
  if [[ "\${p%%=*}" == nvidia-container-toolkit ]]; then cp "$FAKE/nvidia-ctk.pkg" "$FAKE/bin/nvidia-ctk"; fi
done
`,
  'dpkg-query': FAKE_DPKG_QUERY,
  systemctl: `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/systemctl-calls"
`,
};

let sb: Sandbox;
let fake: string;
let env: Record<string, string>;

const p = (...parts: string[]): string => path.join(sb.dir, ...parts);
const calls = (name: string): string[] => {
  const f = path.join(fake, `${name}-calls`);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
};
/** Run an installed copy (outside the tree) the way slurmd would, with the sandbox's environment. */
const runInstalled = (file: string, extra: Record<string, string>): number =>
  spawnSync('bash', [file], { env: sb.env(extra), encoding: 'utf8', timeout: 20000, cwd: sb.dir }).status ?? -1;
/** Packages of each `apt-get install`, in order. */
const aptInstalls = (): string[] =>
  calls('apt-get')
    .filter((c) => / install /.test(` ${c} `))
    .map((c) => c.replace(/^.*--force-confold /, ''));
/** The sources.list.d files apt saw at each `apt-get update`. */
const updateLists = (): string[] => {
  const f = path.join(fake, 'apt-update-lists');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').slice(0, -1) : [];
};
const read = (f: string): string => fs.readFileSync(f, 'utf8');
const forget = (...names: string[]): void => {
  for (const n of names) fs.rmSync(path.join(fake, `${n}-calls`), { force: true });
  fs.rmSync(path.join(fake, 'apt-update-lists'), { force: true });
};
const TCPXO = path.join(SCRIPTS_DIR, 'gcp/tcpxo.sh');
/** Source tcpxo.sh and run CODE (one of its functions), on a host with or without systemd. */
const fn = (code: string, extra: Record<string, string> = {}, systemd = true) =>
  sb.bash(`source ${JSON.stringify(TCPXO)}\nhave_systemd() { return ${systemd ? 0 : 1}; }\n${code}`, { ...env, ...extra });
const containers = (): string[] => (fs.existsSync(path.join(fake, 'containers')) ? fs.readdirSync(path.join(fake, 'containers')) : []);

beforeEach(() => {
  sb = new Sandbox();
  fake = p('fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  // What the fake apt-get puts on PATH when it installs nvidia-container-toolkit.
  fs.writeFileSync(path.join(fake, 'nvidia-ctk.pkg'), NVIDIA_CTK, { mode: 0o755 });
  // Fake sysfs: the 9 NICs, two aperture devices and a GPU that must be left alone.
  for (const nic of [...NICS, 'enp0s12', 'lo']) fs.mkdirSync(p('sys/class/net', nic), { recursive: true });
  const pci = (addr: string, vendor: string, device: string): void => {
    const real = p('sys/devices/pci0000:00', addr);
    fs.mkdirSync(real, { recursive: true });
    fs.writeFileSync(path.join(real, 'vendor'), `${vendor}\n`);
    fs.writeFileSync(path.join(real, 'device'), `${device}\n`);
    fs.writeFileSync(path.join(real, 'resource0'), '', { mode: 0o600 });
    fs.writeFileSync(path.join(real, 'resource2'), '', { mode: 0o600 });
    fs.mkdirSync(p('sys/bus/pci/devices'), { recursive: true });
    fs.symlinkSync(real, p('sys/bus/pci/devices', addr));
  };
  for (const a of APERTURES) pci(a, '0x1ae0', '0x0084');
  pci('0000:04:00.0', '0x10de', '0x2330');
  sb.file('profile.d/nccl-tcpxo.sh', 'export NCCL_FASTRAK_IFNAME=x\n');
  // node.env exactly as the TypeScript side writes it; the paths below override it as tests must.
  const settings = resolveTcpxoSettings({ rxdmReadyTimeoutSeconds: 30 }, 'test');
  fs.writeFileSync(sb.envFile, renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: tcpxoNodeEnv(settings) }));
  env = {
    PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`,
    FAKE: fake,
    TCPXO_SYSFS_NET: p('sys/class/net'),
    TCPXO_SYSFS_PCI: p('sys/bus/pci/devices'),
    TCPXO_APERTURE_DIR: p('dev/aperture_devices'),
    TCPXO_DMABUF_DEV: p('dev/dmabuf_import_helper'),
    TCPXO_PLUGIN_DIR: p('var/lib/tcpxo/lib64'),
    TCPXO_PROFILE_PATH: p('profile.d/nccl-tcpxo.sh'),
    TCPXO_PROLOG_PATH: p('etc/slurm/prolog.d/50-tcpxo-rxdm.sh'),
    TCPXO_EPILOG_PATH: p('etc/slurm/epilog.d/50-tcpxo-rxdm.sh'),
    TCPXO_APT_SOURCES_DIR: p('etc/apt/sources.list.d'),
    TCPXO_KEYRING_DIR: p('usr/share/keyrings'),
    DOCKER_DAEMON_JSON: p('etc/docker/daemon.json'),
    TCPXO_RETRY_DELAY: '0',
    SLURMD_NODENAME: 'a3mega-3',
  };
});
afterEach(() => sb.cleanup());

describe('tcpxo.sh (boot step)', () => {
  rootOnly('mounts the aperture devices, loads the helper, pulls the pinned images, installs plugin, prolog and epilog', () => {
    const r = sb.script('gcp/tcpxo.sh', env);
    expect(r.log).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);

    // One bind mount per 1ae0:0084 device, from its real sysfs directory, named by PCI address; not the GPU.
    expect(calls('mount').sort()).toEqual(
      APERTURES.map((a) => `--bind ${p('sys/devices/pci0000:00', a)} ${p('dev/aperture_devices', a)}`).sort(),
    );
    expect(fs.statSync(p('sys/devices/pci0000:00', APERTURES[0], 'resource0')).mode & 0o777).toBe(0o666);
    expect(fs.statSync(p('sys/devices/pci0000:00/0000:04:00.0/resource0')).mode & 0o777).toBe(0o600);
    expect(calls('modprobe')).toEqual(['import-helper']);
    // The image has the toolkit and the module: nothing is installed, only the runtime registered.
    expect(calls('apt-get')).toEqual([]);
    expect(calls('nvidia-ctk')).toEqual([`runtime configure --runtime=docker --config=${p('etc/docker/daemon.json')}`]);

    const docker = calls('docker');
    expect(docker).toContain(`pull --quiet ${RXDM}`);
    expect(docker).toContain(`pull --quiet ${PLUGIN}`);
    expect(calls('gcloud')).toEqual(['auth configure-docker --quiet us-docker.pkg.dev']);
    const install = docker.filter((c) => c.startsWith('run '));
    expect(install).toHaveLength(1);
    expect(install[0]).toContain(`--volume ${p('var/lib/tcpxo/lib64.staging')}:/var/lib/tcpxo/lib64 ${PLUGIN} install --install-nccl`);
    expect(fs.existsSync(p('var/lib/tcpxo/lib64/libnccl-net.so'))).toBe(true);
    expect(fs.existsSync(p('var/lib/tcpxo/lib64.staging'))).toBe(false);

    // The installed prolog/epilog find common.sh in this tree, wherever they are installed.
    for (const f of ['etc/slurm/prolog.d/50-tcpxo-rxdm.sh', 'etc/slurm/epilog.d/50-tcpxo-rxdm.sh']) {
      expect(fs.statSync(p(f)).mode & 0o777).toBe(0o755);
      expect(fs.readFileSync(p(f), 'utf8')).toContain(`here="${SCRIPTS_DIR}"`);
    }
    fs.rmSync(path.join(fake, 'docker-calls'));
    expect(runInstalled(p('etc/slurm/prolog.d/50-tcpxo-rxdm.sh'), { ...env, SLURM_JOB_ID: '42', SLURM_JOB_NUM_NODES: '2' })).toBe(0);
    expect(containers()).toEqual(['rxdm-42']);
    expect(runInstalled(p('etc/slurm/epilog.d/50-tcpxo-rxdm.sh'), { ...env, SLURM_JOB_ID: '42' })).toBe(0);
    expect(containers()).toEqual([]);
  });

  rootOnly('a re-run changes nothing: no mount, no pull, no plugin install', () => {
    expect(sb.script('gcp/tcpxo.sh', env).status).toBe(0);
    forget('docker', 'mount', 'modprobe', 'nvidia-ctk', 'systemctl');
    const r = sb.script('gcp/tcpxo.sh', env);
    expect(r.status).toBe(0);
    expect(calls('mount')).toEqual([]);
    expect(calls('modprobe')).toEqual([]);
    expect(calls('nvidia-ctk')).toEqual([]);
    expect(calls('systemctl')).toEqual([]);
    expect(calls('docker').filter((c) => /^(pull|run) /.test(c))).toEqual([]);
    expect(r.log).toMatch(/NCCL plugin from .*v1\.0\.10 already installed/);
  });

  rootOnly('another pinned plugin image reinstalls the plugin', () => {
    expect(sb.script('gcp/tcpxo.sh', env).status).toBe(0);
    const next = PLUGIN.replace('v1.0.10', 'v1.0.11');
    const r = sb.script('gcp/tcpxo.sh', { ...env, TCPXO_NCCL_PLUGIN_IMAGE: next });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(fake, 'installs'), 'utf8').trim().split('\n')).toEqual([`installed by ${PLUGIN}`, `installed by ${next}`]);
    expect(fs.readFileSync(p('var/lib/tcpxo/lib64/.cdktf-slurm-nccl-plugin-image'), 'utf8').trim()).toBe(next);
  });

  test('a missing NIC stops the step, naming it and the TCPXO_DATA_NICS fix, before anything else runs', () => {
    fs.rmSync(p('sys/class/net/enp134s0'), { recursive: true });
    fs.rmSync(p('sys/class/net/enp0s12'), { recursive: true });
    const r = sb.script('gcp/tcpxo.sh', env);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/network interface\(s\) missing: enp134s0 enp0s12 .*TCPXO_DATA_NICS='enp6s0 enp7s0 enp13s0 enp14s0 enp134s0 enp135s0 enp141s0 enp142s0'/);
    expect(calls('docker')).toEqual([]);
    expect(calls('mount')).toEqual([]);
  });

  test('finds the aperture devices in sysfs, sorted by PCI address, and nothing else', () => {
    const r = sb.bash(`source ${JSON.stringify(path.join(SCRIPTS_DIR, 'gcp/tcpxo.sh'))}\nfind_aperture_devices`, env);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([...APERTURES].sort().map((a) => p('sys/bus/pci/devices', a)));
  });

  test('no aperture device: a clear error naming the PCI id', () => {
    for (const a of APERTURES) fs.rmSync(p('sys/bus/pci/devices', a));
    const r = sb.script('gcp/tcpxo.sh', env);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/no aperture device \(PCI 1ae0:0084\).*a3-megagpu-8g/);
  });

  test('a missing import-helper module that cannot be installed names the package and repository that provide it', () => {
    const r = sb.script('gcp/tcpxo.sh', { ...env, FAKE_MODPROBE_FAIL: '1', FAKE_APT_FAIL: 'dkms' });
    expect(r.status).toBe(1);
    expect(aptInstalls()).toEqual([`linux-headers-${os.release()} dkms`, `linux-headers-${os.release()} dkms`, `linux-headers-${os.release()} dkms`]);
    expect(r.log).toMatch(
      /ERROR: modprobe import-helper failed .*Module import-helper not found.*dmabuf-import-helper DKMS package.*gpudirect-tcpxo-apt.*bake it into the node image .*installing dmabuf-import-helper failed/,
    );
    expect(calls('docker')).toEqual([]);
  });

  test('a missing NCCL profile is an error pointing at renderNcclTcpxoProfile', () => {
    const r = sb.script('gcp/tcpxo.sh', { ...env, TCPXO_PROFILE_PATH: p('nowhere/nccl-tcpxo.sh') });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/NCCL profile .*nowhere\/nccl-tcpxo.sh is missing.*renderNcclTcpxoProfile/);
  });

  test('is a no-op on other nodes', () => {
    const r = sb.script('gcp/tcpxo.sh', { ...env, TCPXO_ENABLED: '0' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/TCPXO_ENABLED=0: not a GPUDirect-TCPXO node/);
    expect(calls('docker')).toEqual([]);
  });
});

(hostHasToolkit ? describe.skip : describe)('tcpxo.sh installs the NVIDIA container toolkit when the image lacks it', () => {
  const PINNED = ['nvidia-container-toolkit', 'nvidia-container-toolkit-base', 'libnvidia-container-tools', 'libnvidia-container1'];
  const OLD_MESSAGE =
    /ERROR: the NVIDIA container toolkit \(nvidia-ctk\) is missing, so 'docker run --gpus all' cannot start RxDM; install nvidia-container-toolkit from NVIDIA's apt repository in the node image/;
  beforeEach(() => fs.rmSync(path.join(fake, 'bin/nvidia-ctk')));

  rootOnly('adds NVIDIA\'s repository, installs the pinned packages, registers the runtime and restarts docker; a re-run changes nothing', () => {
    const r = fn('ensure_docker');
    expect(r.log).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    const keyring = p('usr/share/keyrings/nvidia-container-toolkit-keyring.gpg');
    // $(ARCH) stays literal: apt expands it.
    expect(read(p('etc/apt/sources.list.d/nvidia-container-toolkit.list'))).toBe(
      `deb [signed-by=${keyring}] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n`,
    );
    expect(read(keyring)).toBe('dearmored(-----BEGIN PGP PUBLIC KEY BLOCK-----\nkey of https://nvidia.github.io/libnvidia-container/gpgkey\n)');
    expect(fs.statSync(keyring).mode & 0o777).toBe(0o644);
    expect(calls('curl')).toHaveLength(1);
    expect(calls('curl')[0]).toMatch(/^-fsSL --max-time 60 -o \S+ https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey$/);
    // apt-get update ran with the list in place, then the install, every package at the pinned version.
    expect(updateLists()).toEqual(['nvidia-container-toolkit.list']);
    expect(aptInstalls()).toEqual([PINNED.map((n) => `${n}=1.17.8-1`).join(' ')]);
    expect(calls('nvidia-ctk')).toEqual([`runtime configure --runtime=docker --config=${p('etc/docker/daemon.json')}`]);
    expect(calls('systemctl')).toEqual(['restart docker']);

    forget('apt-get', 'curl', 'gpg', 'nvidia-ctk', 'systemctl');
    const again = fn('ensure_docker');
    expect(again.status).toBe(0);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('curl')).toEqual([]);
    expect(calls('nvidia-ctk')).toEqual([]);
    expect(calls('systemctl')).toEqual([]);
    expect(again.log).toMatch(/docker's nvidia runtime already configured in .*daemon\.json/);
  });

  rootOnly('NVIDIA_CTK_VERSION in node.env picks the pinned version', () => {
    fs.appendFileSync(sb.envFile, "NVIDIA_CTK_VERSION='1.17.9-1'\n");
    const r = fn('load_node_env\nensure_docker');
    expect(r.status).toBe(0);
    expect(aptInstalls()).toEqual([PINNED.map((n) => `${n}=1.17.9-1`).join(' ')]);
  });

  test('a malformed NVIDIA_CTK_VERSION is refused before anything is downloaded', () => {
    const r = fn('ensure_docker', { NVIDIA_CTK_VERSION: '1.17.8-1 evil' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/NVIDIA_CTK_VERSION='1.17.8-1 evil' is not an apt package version/);
    expect(r.log).toMatch(OLD_MESSAGE);
    expect(calls('curl')).toEqual([]);
    expect(calls('apt-get')).toEqual([]);
  });

  test('the key download fails: retried, then the old error, and docker is left alone', () => {
    const r = fn('ensure_docker', { FAKE_CURL_FAIL: '1' });
    expect(r.status).toBe(1);
    expect(calls('curl')).toHaveLength(5);
    expect(r.log).toMatch(OLD_MESSAGE);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('systemctl')).toEqual([]);
    expect(fs.existsSync(p('etc/apt/sources.list.d/nvidia-container-toolkit.list'))).toBe(false);
  });

  rootOnly('the package install fails: retried, then the old error; no runtime configured, docker not restarted', () => {
    const r = fn('ensure_docker', { FAKE_APT_FAIL: 'nvidia-container-toolkit' });
    expect(r.status).toBe(1);
    expect(aptInstalls()).toHaveLength(3);
    expect(r.log).toMatch(OLD_MESSAGE);
    expect(r.log).toMatch(/installing it here failed/);
    expect(calls('nvidia-ctk')).toEqual([]);
    expect(calls('systemctl')).toEqual([]);
    expect(fs.existsSync(p('etc/docker/daemon.json'))).toBe(false);
  });
});

describe('tcpxo.sh registers the nvidia runtime with docker', () => {
  test('without systemd: configures it and tells the operator to restart dockerd', () => {
    const r = fn('ensure_docker', {}, false);
    expect(r.status).toBe(0);
    expect(calls('nvidia-ctk')).toEqual([`runtime configure --runtime=docker --config=${p('etc/docker/daemon.json')}`]);
    expect(read(p('etc/docker/daemon.json'))).toMatch(/"nvidia"/);
    expect(calls('systemctl')).toEqual([]);
    expect(r.log).toMatch(/no systemd: the operator must restart dockerd so it loads the nvidia runtime/);
    expect(calls('apt-get')).toEqual([]);
  });

  test('already registered: no configure, no restart', () => {
    sb.file('etc/docker/daemon.json', '{"default-runtime": "runc", "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}}\n');
    const r = fn('ensure_docker');
    expect(r.status).toBe(0);
    expect(calls('nvidia-ctk')).toEqual([]);
    expect(calls('systemctl')).toEqual([]);
  });

  test('nvidia-ctk leaves no nvidia runtime behind: an error, docker not restarted', () => {
    fs.writeFileSync(path.join(fake, 'bin/nvidia-ctk'), '#!/bin/bash\nexit 0\n', { mode: 0o755 });
    const r = fn('ensure_docker');
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/nvidia-ctk runtime configure ran but .*daemon\.json names no nvidia runtime/);
    expect(calls('systemctl')).toEqual([]);
  });
});

describe('tcpxo.sh installs the dmabuf import helper when the kernel lacks it', () => {
  const keyring = (): string => p('usr/share/keyrings/cloud.google.gpg');

  rootOnly('headers and dkms, then the Artifact Registry transport, then the repository and dmabuf-import-helper; after a reboot nothing is installed again', () => {
    const r = fn('ensure_dmabuf_helper', { FAKE_MODPROBE_FAIL: '1' });
    expect(r.log).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(aptInstalls()).toEqual([`linux-headers-${os.release()} dkms`, 'apt-transport-artifact-registry', 'dmabuf-import-helper']);
    // The ar+https repository is listed only once its transport is installed (apt-get update fails otherwise).
    expect(updateLists()).toEqual(['', 'artifact-registry.list', 'artifact-registry.list gpudirect-tcpxo.list']);
    expect(read(p('etc/apt/sources.list.d/artifact-registry.list'))).toBe(
      `deb [signed-by=${keyring()}] https://packages.cloud.google.com/apt apt-transport-artifact-registry-stable main\n`,
    );
    expect(read(p('etc/apt/sources.list.d/gpudirect-tcpxo.list'))).toBe(
      'deb [arch=all trusted=yes] ar+https://us-apt.pkg.dev/projects/gce-ai-infra gpudirect-tcpxo-apt main\n',
    );
    expect(read(keyring())).toBe('dearmored(-----BEGIN PGP PUBLIC KEY BLOCK-----\nkey of https://packages.cloud.google.com/apt/doc/apt-key.gpg\n)');
    expect(calls('modprobe')).toEqual(['import-helper', 'import-helper']);
    expect(fs.existsSync(p('dev/dmabuf_import_helper'))).toBe(true);

    // Reboot: the device is gone, the module is not loaded, but the package is there.
    fs.rmSync(p('dev/dmabuf_import_helper'));
    forget('apt-get', 'curl', 'modprobe');
    const again = fn('ensure_dmabuf_helper', { FAKE_MODPROBE_FAIL: '1' });
    expect(again.status).toBe(0);
    expect(calls('modprobe')).toEqual(['import-helper']);
    expect(calls('apt-get')).toEqual([]);
    expect(calls('curl')).toEqual([]);
  });

  rootOnly('Secure Boot rejects the DKMS-built module: says so and how to fix it, and a re-run does not reinstall', () => {
    const reject = { FAKE_MODPROBE_FAIL: '1', FAKE_MODPROBE_REJECT: '1' };
    const r = fn('ensure_dmabuf_helper', reject);
    expect(r.status).toBe(1);
    expect(calls('modprobe')).toEqual(['import-helper', 'import-helper']);
    expect(r.log).toMatch(
      /ERROR: modprobe import-helper failed .*Key was rejected by service\. Secure Boot rejects the DKMS-built import-helper module .*Secure Boot off \(the library turns it off for TCPXO pools.*or use an image with a signed module/,
    );
    expect(r.log).not.toMatch(/bake it into the node image/);
    forget('apt-get');
    const again = fn('ensure_dmabuf_helper', reject);
    expect(again.status).toBe(1);
    expect(aptInstalls()).toEqual([]);
    expect(again.log).toMatch(/Secure Boot rejects the DKMS-built import-helper module/);
  });

  rootOnly('the repository cannot be read: the old error naming the package and repository', () => {
    const r = fn('ensure_dmabuf_helper', { FAKE_MODPROBE_FAIL: '1', FAKE_APT_FAIL: 'dmabuf-import-helper' });
    expect(r.status).toBe(1);
    expect(calls('modprobe')).toEqual(['import-helper']);
    expect(r.log).toMatch(/ERROR: modprobe import-helper failed .*Module import-helper not found.*dmabuf-import-helper DKMS package.*gpudirect-tcpxo-apt/);
  });

  test('the prolog never installs: a missing module fails the job at once', () => {
    const r = fn('load_dmabuf_helper', { FAKE_MODPROBE_FAIL: '1' });
    expect(r.status).toBe(1);
    expect(calls('apt-get')).toEqual([]);
    expect(r.log).toMatch(/modprobe import-helper failed .*dmabuf-import-helper DKMS package/);
  });
});

describe('tcpxo-prolog.sh', () => {
  const job = (extra: Record<string, string> = {}) => ({ ...env, SLURM_JOB_ID: '42', ...extra });

  test('a 1-node job: no RxDM, no docker call', () => {
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '1' }));
    expect(r.status).toBe(0);
    expect(calls('docker')).toEqual([]);
    expect(r.log).toMatch(/job 42 runs on 1 node: no RxDM needed/);
  });

  test('without SLURM_JOB_NUM_NODES the node count comes from the node list', () => {
    const one = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NODELIST: 'a3mega-3', FAKE_HOSTNAMES: 'a3mega-3' }));
    expect(one.status).toBe(0);
    expect(calls('scontrol')).toEqual(['show hostnames a3mega-3']);
    expect(calls('docker')).toEqual([]);
    const two = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NODELIST: 'a3mega-[3-4]', FAKE_HOSTNAMES: 'a3mega-3 a3mega-4' }));
    expect(two.status).toBe(0);
    expect(containers()).toEqual(['rxdm-42']);
  });

  test('a multi-node job starts the pinned RxDM with Google\'s flags and returns once it is ready', () => {
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2' }));
    expect(r.status).toBe(0);
    const run = calls('docker').filter((c) => c.startsWith('run '));
    expect(run).toHaveLength(1);
    for (const flag of ['--detach', '--name rxdm-42', '--network=host', '--privileged', '--gpus all', '--cap-add=NET_ADMIN']) {
      expect(run[0]).toContain(flag);
    }
    expect(run[0]).toContain(`--volume ${p('dev/dmabuf_import_helper')}:/dev/dmabuf_import_helper`);
    expect(run[0]).toMatch(new RegExp(`${RXDM.replace(/[.]/g, '\\.')} --num_hops=2 --num_nics=8 --uid= --alsologtostderr$`));
    expect(calls('scontrol').filter((c) => c.startsWith('update'))).toEqual([]);
    expect(r.log).toMatch(/rxdm-42 ready on a3mega-3/);
  });

  test('RxDM never ready: fails within the timeout, logs its last lines, removes it and drains the node', () => {
    const start = Date.now();
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2', FAKE_RXDM: 'never', TCPXO_RXDM_TIMEOUT: '2', TCPXO_RXDM_POLL_SECONDS: '0.5' }));
    const took = Date.now() - start;
    expect(r.status).toBe(1);
    expect(took).toBeGreaterThanOrEqual(2000);
    expect(took).toBeLessThan(8000);
    expect(r.log).toMatch(/rxdm: W0101 waiting for NIC enp134s0/);
    const drain = calls('scontrol').filter((c) => c.startsWith('update'));
    expect(drain).toHaveLength(1);
    expect(drain[0]).toMatch(/^update nodename=a3mega-3 state=drain reason=tcpxo: RxDM not ready: did not log 'Buffer manager initialization complete' within 2s \(job 42\)$/);
    expect(calls('docker')).toEqual(expect.arrayContaining(['stop -t 10 rxdm-42', 'rm -f rxdm-42']));
    expect(containers()).toEqual([]);
  });

  test('RxDM exits: fails at once with its state and drains the node', () => {
    const start = Date.now();
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '4', FAKE_RXDM: 'crash', TCPXO_RXDM_TIMEOUT: '60' }));
    expect(r.status).toBe(1);
    expect(Date.now() - start).toBeLessThan(5000);
    expect(r.log).toMatch(/rxdm: F0101 cannot open \/dev\/dmabuf_import_helper/);
    expect(calls('scontrol')).toEqual(['update nodename=a3mega-3 state=drain reason=tcpxo: RxDM not ready: stopped (state: exited) (job 42)']);
    expect(containers()).toEqual([]);
  });

  test('a re-run reuses the running container, and containers of earlier jobs are removed', () => {
    expect(sb.script('gcp/tcpxo-prolog.sh', { ...job({ SLURM_JOB_NUM_NODES: '2' }), SLURM_JOB_ID: '7' }).status).toBe(0);
    expect(sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2' })).status).toBe(0);
    expect(containers()).toEqual(['rxdm-42']);
    fs.rmSync(path.join(fake, 'docker-calls'));
    const again = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2' }));
    expect(again.status).toBe(0);
    expect(calls('docker').filter((c) => c.startsWith('run '))).toEqual([]);
    expect(again.log).toMatch(/reusing rxdm-42/);
  });

  test('re-creates missing aperture mounts and loads the module before starting RxDM', () => {
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2' }));
    expect(r.status).toBe(0);
    expect(calls('mount')).toHaveLength(APERTURES.length);
    expect(calls('modprobe')).toEqual(['import-helper']);
  });

  test('the module cannot load: drains the node without starting RxDM', () => {
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2', FAKE_MODPROBE_FAIL: '1' }));
    expect(r.status).toBe(1);
    expect(calls('scontrol')).toEqual(['update nodename=a3mega-3 state=drain reason=tcpxo: aperture devices or import-helper module not ready (job 42)']);
    expect(calls('docker').filter((c) => c.startsWith('run '))).toEqual([]);
  });

  test('does nothing on nodes without TCPXO', () => {
    const r = sb.script('gcp/tcpxo-prolog.sh', job({ SLURM_JOB_NUM_NODES: '2', TCPXO_ENABLED: '0' }));
    expect(r.status).toBe(0);
    expect(calls('docker')).toEqual([]);
  });
});

describe('tcpxo-epilog.sh', () => {
  test('stops (bounded) and removes the job\'s RxDM', () => {
    expect(sb.script('gcp/tcpxo-prolog.sh', { ...env, SLURM_JOB_ID: '42', SLURM_JOB_NUM_NODES: '2' }).status).toBe(0);
    fs.rmSync(path.join(fake, 'docker-calls'));
    const r = sb.script('gcp/tcpxo-epilog.sh', { ...env, SLURM_JOB_ID: '42' });
    expect(r.status).toBe(0);
    expect(calls('docker')).toEqual(['container inspect rxdm-42', 'stop -t 10 rxdm-42', 'rm -f rxdm-42']);
    expect(containers()).toEqual([]);
    expect(r.log).toMatch(/stopped and removed rxdm-42 \(job 42\)/);
  });

  test('no container (single-node job): exit 0, nothing stopped', () => {
    const r = sb.script('gcp/tcpxo-epilog.sh', { ...env, SLURM_JOB_ID: '43' });
    expect(r.status).toBe(0);
    expect(calls('docker')).toEqual(['container inspect rxdm-43']);
  });

  test('never fails the epilog, even when docker does', () => {
    fs.writeFileSync(path.join(fake, 'bin', 'docker'), '#!/bin/bash\nprintf "%s\\n" "$*" >>"$FAKE/docker-calls"\n[[ "$1" == container ]] && exit 0\nexit 125\n', { mode: 0o755 });
    const r = sb.script('gcp/tcpxo-epilog.sh', { ...env, SLURM_JOB_ID: '44' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/could not remove rxdm-44/);
  });
});
