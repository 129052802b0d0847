/**
 * lib/gcp/tcpxo.ts: the settings' defaults and checks, the NCCL profile (parsed by dash and bash, then
 * sourced for real) and the node.env entries the TCPXO scripts read.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NO_HOST_TABLES } from '../../lib/cloudinit/boot-steps';
import { renderNodeEnv } from '../../lib/cloudinit/node-env';
import {
  DEFAULT_TCPXO_CONTROL_NIC,
  DEFAULT_TCPXO_DATA_NICS,
  DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE,
  DEFAULT_TCPXO_PLUGIN_DIR,
  DEFAULT_TCPXO_RXDM_IMAGE,
  renderNcclTcpxoProfile,
  resolveTcpxoSettings,
  tcpxoNodeEnv,
  type ResolvedTcpxoSettings,
  type TcpxoSettings,
} from '../../lib/gcp/tcpxo';
import { SlurmConfigError } from '../../lib/slurm/errors';

const WHERE = 'stack/A3Mega';
const REPO = 'us-docker.pkg.dev/gce-ai-infra/gpudirect-tcpxo';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

/** The error message resolveTcpxoSettings throws for `settings` (fails the test when it does not throw). */
function errorFor(settings: TcpxoSettings): string {
  try {
    resolveTcpxoSettings(settings, WHERE);
  } catch (e) {
    expect(e).toBeInstanceOf(SlurmConfigError);
    return (e as Error).message;
  }
  throw new Error(`resolveTcpxoSettings accepted ${JSON.stringify(settings)}`);
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tcpxo-profile-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Write the profile, source it with `shell` (optionally twice) and return the NCCL_* and LD_LIBRARY_PATH it leaves. */
function sourced(profile: string, shell: 'sh' | 'bash', ldLibraryPath?: string, times = 1): Record<string, string> {
  const file = path.join(tmp, `profile-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, profile);
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = ldLibraryPath;
  // env -0: values may hold anything but NUL.
  // --norc and no stdin: bash sources ~/.bashrc when it thinks it runs under a remote shell daemon.
  const args = [...(shell === 'bash' ? ['--norc', '--noprofile'] : []), '-c', `${Array(times).fill(`. ${file}`).join('; ')}; env -0`];
  const r = spawnSync(shell, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Object.fromEntries(
    r.stdout
      .split('\0')
      .filter((kv) => /^(NCCL_|LD_LIBRARY_PATH=)/.test(kv))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

describe('resolveTcpxoSettings defaults', () => {
  const d = resolveTcpxoSettings(undefined, WHERE);

  test('images are Google\'s pinned pair, by version tag, never latest', () => {
    expect(d.rxdmImage).toBe(DEFAULT_TCPXO_RXDM_IMAGE);
    expect(d.ncclPluginImage).toBe(DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE);
    for (const image of [d.rxdmImage, d.ncclPluginImage]) {
      expect(image.startsWith(`${REPO}/`)).toBe(true);
      expect(image).toMatch(/:v\d+\.\d+\.\d+$/);
      expect(image).not.toMatch(/latest/i);
    }
    expect(d.rxdmImage).toMatch(/\/tcpgpudmarxd-dev:/);
    expect(d.ncclPluginImage).toMatch(/\/nccl-plugin-gpudirecttcpx-dev:/);
  });

  test('8 distinct GPU NICs, a separate control NIC, Google\'s plugin directory and a bounded timeout', () => {
    expect(d.dataNicNames).toHaveLength(8);
    expect(new Set(d.dataNicNames).size).toBe(8);
    expect(d.dataNicNames).not.toContain(d.controlNic);
    expect(d.controlNic).toBe(DEFAULT_TCPXO_CONTROL_NIC);
    expect(d.pluginDir).toBe('/var/lib/tcpxo/lib64');
    expect(d.rxdmReadyTimeoutSeconds).toBeGreaterThanOrEqual(10);
    expect(d.rxdmReadyTimeoutSeconds).toBeLessThanOrEqual(900);
  });

  test('resolving does not let callers change the defaults', () => {
    const r = resolveTcpxoSettings({}, WHERE);
    expect(() => (r.dataNicNames as string[]).push('eth9')).toThrow();
    expect(DEFAULT_TCPXO_DATA_NICS).toHaveLength(8);
  });

  test.each([
    ['a digest only', `${REPO}/tcpgpudmarxd-dev@${DIGEST}`],
    ['tag and digest', `${REPO}/tcpgpudmarxd-dev:v1.0.21@${DIGEST}`],
    ['a mirror with a port', 'registry.local:5000/mirror/tcpgpudmarxd-dev:v1.0.16'],
  ])('accepts a pinned image with %s', (_what, rxdmImage) => {
    expect(resolveTcpxoSettings({ rxdmImage }, WHERE).rxdmImage).toBe(rxdmImage);
  });

  test('boundary timeouts are accepted', () => {
    expect(resolveTcpxoSettings({ rxdmReadyTimeoutSeconds: 10 }, WHERE).rxdmReadyTimeoutSeconds).toBe(10);
    expect(resolveTcpxoSettings({ rxdmReadyTimeoutSeconds: 900 }, WHERE).rxdmReadyTimeoutSeconds).toBe(900);
  });
});

describe('resolveTcpxoSettings refuses bad input, naming where, the field, the value and the fix', () => {
  test.each<[string, TcpxoSettings, RegExp]>([
    ['an untagged image', { rxdmImage: `${REPO}/tcpgpudmarxd-dev` }, /rxdmImage = "us-docker[^"]*tcpgpudmarxd-dev": is not pinned.*Give a version tag or digest/],
    ['latest', { ncclPluginImage: `${REPO}/nccl-plugin-gpudirecttcpx-dev:latest` }, /ncclPluginImage = ".*:latest": is not pinned: "latest" is a moving tag.*e\.g\. 'us-docker/],
    ['master', { rxdmImage: `${REPO}/tcpgpudmarxd-dev:master` }, /rxdmImage = .*"master" is a moving tag/],
    ['a mirror port without a tag', { rxdmImage: 'registry.local:5000/mirror/tcpgpudmarxd-dev' }, /rxdmImage = "registry.local:5000\/mirror\/tcpgpudmarxd-dev": is not pinned/],
    ['a short digest', { rxdmImage: `${REPO}/tcpgpudmarxd-dev@sha256:abc` }, /rxdmImage = .*malformed digest/],
    ['a name without registry', { rxdmImage: 'tcpgpudmarxd-dev:v1.0.16' }, /rxdmImage = "tcpgpudmarxd-dev:v1.0.16": is not a full image reference/],
    ['7 NICs', { dataNicNames: DEFAULT_TCPXO_DATA_NICS.slice(0, 7) }, /dataNicNames = \["enp6s0".*"enp141s0"\]: needs exactly 8 distinct interface names.*Give the 8 GPU NIC names in NIC order/],
    ['a repeated NIC', { dataNicNames: [...DEFAULT_TCPXO_DATA_NICS.slice(0, 7), 'enp6s0'] }, /dataNicNames = .*needs exactly 8 distinct/],
    ['an upper-case NIC', { dataNicNames: ['ETH1', 'eth2', 'eth3', 'eth4', 'eth5', 'eth6', 'eth7', 'eth8'] }, /dataNicNames = \["ETH1".*needs exactly 8 distinct interface names, each matching/],
    ['a control NIC among the data NICs', { controlNic: 'enp6s0' }, /controlNic = "enp6s0": is also listed in dataNicNames.*Use the system \(first\) NIC/],
    ['a control NIC with a space', { controlNic: 'eth 0' }, /controlNic = "eth 0": is not an interface name.*e\.g\. 'enp0s12'/],
    ['a 9 s timeout', { rxdmReadyTimeoutSeconds: 9 }, /rxdmReadyTimeoutSeconds = 9: must be a whole number of seconds from 10 to 900\. Use e\.g\. 120/],
    ['a 901 s timeout', { rxdmReadyTimeoutSeconds: 901 }, /rxdmReadyTimeoutSeconds = 901: must be/],
    ['a fractional timeout', { rxdmReadyTimeoutSeconds: 30.5 }, /rxdmReadyTimeoutSeconds = 30.5: must be a whole number/],
    ['a relative plugin dir', { pluginDir: 'var/lib/tcpxo' }, /pluginDir = "var\/lib\/tcpxo": must be an absolute directory path.*e\.g\. '\/var\/lib\/tcpxo\/lib64'/],
    ['a plugin dir with ..', { pluginDir: '/var/lib/../tmp' }, /pluginDir = "\/var\/lib\/..\/tmp": must be an absolute/],
    ['a plugin dir with a colon', { pluginDir: '/opt/a:b' }, /pluginDir = "\/opt\/a:b"/],
    ['an unknown profile', { ncclProfile: 'fast' as never }, /ncclProfile = "fast": is neither "default" nor "simple"/],
    ['a non-NCCL tuning key', { ncclTuning: { FI_PROVIDER: 'efa' } }, /ncclTuning.FI_PROVIDER = "efa": key "FI_PROVIDER" is not an NCCL variable name.*set other variables in the job script/],
    ['a lower-case tuning key', { ncclTuning: { NCCL_algo: 'Ring' } }, /ncclTuning.NCCL_algo = "Ring": key/],
    ['a NIC variable in the tuning', { ncclTuning: { NCCL_SOCKET_IFNAME: 'eth0' } }, /ncclTuning.NCCL_SOCKET_IFNAME = "eth0": NCCL_SOCKET_IFNAME is set from controlNic\. Drop NCCL_SOCKET_IFNAME from ncclTuning and set controlNic instead/],
    ['the device directory in the tuning', { ncclTuning: { NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY: '/dev/x' } }, /NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY is set from the aperture device directory/],
    ['a multi-line tuning value', { ncclTuning: { NCCL_DEBUG: 'WARN\nrm -rf /' } }, /ncclTuning.NCCL_DEBUG = "WARN\\nrm -rf \/": must be a single-line string/],
  ])('%s', (_what, settings, pattern) => {
    const message = errorFor(settings);
    expect(message).toContain(`${WHERE}: `);
    expect(message).toMatch(pattern);
  });

  test('reports every problem at once', () => {
    const message = errorFor({ rxdmImage: 'x', controlNic: '', rxdmReadyTimeoutSeconds: 0 });
    expect(message).toMatch(/^3 problems/);
    for (const field of ['rxdmImage', 'controlNic', 'rxdmReadyTimeoutSeconds']) expect(message).toContain(`${WHERE}: ${field} = `);
  });
});

describe('renderNcclTcpxoProfile', () => {
  const d = resolveTcpxoSettings(undefined, WHERE);
  const text = renderNcclTcpxoProfile(d);

  test('is POSIX sh: dash and bash parse it, shellcheck -s sh accepts it', () => {
    const file = path.join(tmp, 'parse.sh');
    fs.writeFileSync(file, text);
    for (const shell of ['sh', 'bash']) {
      const r = spawnSync(shell, ['-n', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const sc = spawnSync('shellcheck', ['-s', 'sh', file], { encoding: 'utf8' });
    if (!sc.error) expect(sc.stdout + sc.stderr).toBe('');
  });

  test.each(['sh', 'bash'] as const)('sourced by %s, it sets the NIC, device, plugin and tuning variables', (shell) => {
    const vars = sourced(text, shell, '/usr/local/cuda/lib64');
    expect(vars.NCCL_FASTRAK_CTRL_DEV).toBe('enp0s12');
    expect(vars.NCCL_SOCKET_IFNAME).toBe('enp0s12');
    expect(vars.NCCL_FASTRAK_IFNAME).toBe('enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0');
    expect(vars.NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY).toBe('/dev/aperture_devices');
    expect(vars.LD_LIBRARY_PATH).toBe(`${DEFAULT_TCPXO_PLUGIN_DIR}:/usr/local/cuda/lib64`);
    // Google's tuning set for the pinned plugin (default profile) and DESIGN.md's core values.
    expect(vars).toMatchObject({
      NCCL_CROSS_NIC: '0',
      NCCL_PROTO: 'Simple,LL128',
      NCCL_ALGO: 'Ring,Tree',
      NCCL_MIN_NCHANNELS: '4',
      NCCL_BUFFSIZE: '8388608',
      NCCL_NET_GDR_LEVEL: 'PIX',
      NCCL_FASTRAK_NUM_FLOWS: '2',
      NCCL_FASTRAK_USE_SNAP: '1',
      NCCL_FASTRAK_USE_LLCM: '1',
      NCCL_FASTRAK_ENABLE_CONTROL_CHANNEL: '0',
      NCCL_FASTRAK_PLUGIN_ACCEPT_TIMEOUT_MS: '600000',
      NCCL_P2P_NET_CHUNKSIZE: '524288',
      NCCL_P2P_PCI_CHUNKSIZE: '524288',
      NCCL_P2P_NVL_CHUNKSIZE: '1048576',
      NCCL_DYNAMIC_CHUNK_SIZE: '524288',
      NCCL_TUNER_PLUGIN: 'libnccl-tuner.so',
      NCCL_TUNER_CONFIG_PATH: `${DEFAULT_TCPXO_PLUGIN_DIR}/a3plus_tuner_config.textproto`,
      NCCL_SHIMNET_GUEST_CONFIG_CHECKER_CONFIG_FILE: `${DEFAULT_TCPXO_PLUGIN_DIR}/a3plus_guest_config.textproto`,
    });
    // Slurm's GRES owns the GPU list; the profile never pins it.
    expect(text).not.toMatch(/CUDA_VISIBLE_DEVICES/);
  });

  test('sourcing it again does not grow LD_LIBRARY_PATH, and an empty one gets no trailing colon', () => {
    expect(sourced(text, 'sh', '/usr/lib', 3).LD_LIBRARY_PATH).toBe(`${DEFAULT_TCPXO_PLUGIN_DIR}:/usr/lib`);
    expect(sourced(text, 'sh').LD_LIBRARY_PATH).toBe(DEFAULT_TCPXO_PLUGIN_DIR);
  });

  test('is deterministic: NIC variables first, then the tuning set sorted by name', () => {
    expect(renderNcclTcpxoProfile(resolveTcpxoSettings(undefined, WHERE))).toBe(text);
    const keys = [...text.matchAll(/^export (NCCL_[A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(keys.slice(0, 4)).toEqual(['NCCL_FASTRAK_CTRL_DEV', 'NCCL_FASTRAK_IFNAME', 'NCCL_SOCKET_IFNAME', 'NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY']);
    const tuning = keys.slice(4);
    expect(tuning).toEqual([...tuning].sort());
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('honours NIC names, plugin dir, profile and tuning overrides; quotes values safely', () => {
    const nics = ['eth1', 'eth2', 'eth3', 'eth4', 'eth5', 'eth6', 'eth7', 'eth8'];
    const r = resolveTcpxoSettings(
      {
        dataNicNames: nics,
        controlNic: 'eth0',
        pluginDir: '/opt/tcpxo/lib64',
        ncclProfile: 'simple',
        ncclTuning: { NCCL_MIN_NCHANNELS: '8', NCCL_NET: 'FasTrak', NCCL_ALGO: '', NCCL_DEBUG_FILE: `/tmp/it's $HOME; $(id)` },
      },
      WHERE,
    );
    const vars = sourced(renderNcclTcpxoProfile(r), 'sh');
    expect(vars.NCCL_FASTRAK_IFNAME).toBe(nics.join(','));
    expect(vars.NCCL_FASTRAK_CTRL_DEV).toBe('eth0');
    expect(vars.NCCL_SOCKET_IFNAME).toBe('eth0');
    expect(vars.LD_LIBRARY_PATH).toBe('/opt/tcpxo/lib64');
    expect(vars.NCCL_PROTO).toBe('Simple');
    expect(vars.NCCL_TUNER_CONFIG_PATH).toBe('/opt/tcpxo/lib64/a3plus_tuner_config_simple.textproto');
    expect(vars.NCCL_SHIMNET_GUEST_CONFIG_CHECKER_CONFIG_FILE).toBe('/opt/tcpxo/lib64/a3plus_guest_config_simple.textproto');
    expect(vars.NCCL_MIN_NCHANNELS).toBe('8');
    expect(vars.NCCL_NET).toBe('FasTrak');
    expect(vars).not.toHaveProperty('NCCL_ALGO');
    // Single quotes: no expansion, no command substitution.
    expect(vars.NCCL_DEBUG_FILE).toBe(`/tmp/it's $HOME; $(id)`);
    // Untouched defaults stay.
    expect(vars.NCCL_BUFFSIZE).toBe('8388608');
  });
});

describe('tcpxoNodeEnv', () => {
  test('gives the scripts their settings as plain values', () => {
    const r = resolveTcpxoSettings({ rxdmReadyTimeoutSeconds: 300 }, WHERE);
    expect(tcpxoNodeEnv(r)).toEqual({
      TCPXO_ENABLED: '1',
      TCPXO_RXDM_IMAGE: DEFAULT_TCPXO_RXDM_IMAGE,
      TCPXO_NCCL_PLUGIN_IMAGE: DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE,
      TCPXO_DATA_NICS: 'enp6s0 enp7s0 enp13s0 enp14s0 enp134s0 enp135s0 enp141s0 enp142s0',
      TCPXO_CONTROL_NIC: 'enp0s12',
      TCPXO_RXDM_TIMEOUT: '300',
      TCPXO_PLUGIN_DIR: '/var/lib/tcpxo/lib64',
    });
  });

  test('node.env accepts it, digests included (no value looks like a secret)', () => {
    const r = resolveTcpxoSettings({ rxdmImage: `${REPO}/tcpgpudmarxd-dev@${DIGEST}`, ncclPluginImage: `${REPO}/nccl-plugin-gpudirecttcpx-dev:v1.0.10@${DIGEST}` }, WHERE);
    const text = renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['compute'], env: tcpxoNodeEnv(r) });
    expect(text).toContain(`TCPXO_RXDM_IMAGE='${REPO}/tcpgpudmarxd-dev@${DIGEST}'`);
    expect(text).toContain("TCPXO_DATA_NICS='enp6s0 enp7s0 enp13s0 enp14s0 enp134s0 enp135s0 enp141s0 enp142s0'");
  });

  test('refuses hand-built settings whose values are not plain', () => {
    const good = resolveTcpxoSettings(undefined, WHERE);
    const bad: ResolvedTcpxoSettings = { ...good, controlNic: 'eth0; reboot' };
    expect(() => tcpxoNodeEnv(bad)).toThrow(/TCPXO_CONTROL_NIC = "eth0; reboot": is not plain text.*resolveTcpxoSettings/);
  });
});
