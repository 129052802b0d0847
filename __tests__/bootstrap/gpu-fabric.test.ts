/**
 * bootstrap-scripts/gpu.sh with GPU_FABRIC_MANAGER=1 (NVSwitch systems: a3-megagpu-8g, p4d, p5), against fakes
 * on PATH that log every call to one file, in order: nvidia-smi (8 GPUs, a driver version, and an
 * `nvidia-smi -q` whose Fabric State turns from "In Progress" to "Completed" after a number of calls), apt-get,
 * dpkg-query and systemctl. The script is sourced so each test picks whether the host has systemd.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, SCRIPTS_DIR, FAKE_DPKG_QUERY } from './sh';

const GPU_SH = path.join(SCRIPTS_DIR, 'gpu.sh');
// common.sh puts the standard directories on PATH, so a host with a real driver cannot hide its nvidia-smi.
const hostHasNvidiaSmi = spawnSync('bash', ['-c', 'PATH=$PATH:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v nvidia-smi']).status === 0;

const FAKES: Record<string, string> = {
  // FAKE_DRIVER: driver version. Fabric state: FAKE_FABRIC_STATE for every GPU if set, else "In Progress" for
  // the first FAKE_FABRIC_AFTER (2) calls of -q and "Completed" after; FAKE_STUCK_GPU stays "In Progress".
  'nvidia-smi': `#!/bin/bash
echo "nvidia-smi $*" >>"$FAKE/calls"
case "$1" in
  -L) for i in 0 1 2 3 4 5 6 7; do echo "GPU $i: NVIDIA H100 80GB HBM3 (UUID: GPU-$i)"; done ;;
  -pm) echo "Persistence mode is already Enabled." ;;
  --query-gpu=driver_version) for i in 0 1 2 3 4 5 6 7; do echo "\${FAKE_DRIVER:-580.95.05}"; done ;;
  -q)
    n=$(($(cat "$FAKE/q-count" 2>/dev/null || echo 0) + 1))
    echo "$n" >"$FAKE/q-count"
    printf '\\n==============NVSMI LOG==============\\n\\nDriver Version                            : %s\\nAttached GPUs                             : 8\\n' "\${FAKE_DRIVER:-580.95.05}"
    for i in 0 1 2 3 4 5 6 7; do
      state=\${FAKE_FABRIC_STATE:-}
      if [[ -z "$state" ]]; then
        if ((n > \${FAKE_FABRIC_AFTER:-2})) && [[ "$i" != "\${FAKE_STUCK_GPU:-}" ]]; then state=Completed; else state="In Progress"; fi
      fi
      status=N/A
      [[ "$state" == Completed ]] && status=\${FAKE_FABRIC_STATUS:-Success}
      printf 'GPU 00000000:%02X:00.0\\n' $((i * 16 + 4))
      printf '    Product Name                          : NVIDIA H100 80GB HBM3\\n'
      printf '    Persistence Mode                      : Enabled\\n'
      printf '    Fabric\\n'
      printf '        State                             : %s\\n' "$state"
      printf '        Status                            : %s\\n' "$status"
      printf '        CliqueId                          : 0\\n'
      printf '        Health\\n'
      printf '            Bandwidth                     : N/A\\n'
      printf '    Performance State                     : P0\\n'
      # A later section with a State field of its own: only the Fabric section's may be read.
      printf '    Other Section\\n'
      printf '        State                             : Disabled\\n'
    done
    ;;
esac
exit 0
`,
  'apt-get': `#!/bin/bash
echo "apt-get $*" >>"$FAKE/calls"
sub="" pkgs=()
while (($#)); do
  case "$1" in
    -o) shift 2 ;;
    -*) shift ;;
    *) if [[ -z "$sub" ]]; then sub=$1; else pkgs+=("$1"); fi; shift ;;
  esac
done
[[ "$sub" == install ]] || exit 0
for p in "\${pkgs[@]}"; do echo "$p \${FAKE_PKG_VERSION:-\${FAKE_DRIVER:-580.95.05}-0ubuntu0.24.04.1}" >>"$FAKE/dpkg"; done
`,
  'dpkg-query': FAKE_DPKG_QUERY,
  // FAKE_FM_INACTIVE: the service is not running.
  systemctl: `#!/bin/bash
echo "systemctl $*" >>"$FAKE/calls"
if [[ "$1" == is-active && -n "\${FAKE_FM_INACTIVE:-}" ]]; then exit 3; fi
exit 0
`,
};

let sb: Sandbox;
let fake: string;
let env: Record<string, string>;

beforeEach(() => {
  sb = new Sandbox();
  fake = path.join(sb.dir, 'fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  env = {
    PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`,
    FAKE: fake,
    GPU_COUNT: '8',
    GPU_TYPE: 'h100',
    // Character devices that exist everywhere stand in for /dev/nvidia0-7.
    GPU_DEVICE_FILES: Array(8).fill('/dev/null').join(' '),
    GPU_FABRIC_MANAGER: '1',
    GPU_FABRIC_TIMEOUT: '10',
    GPU_FABRIC_POLL_SECONDS: '0.05',
  };
});
afterEach(() => sb.cleanup());

/** Run gpu.sh's main on a host with or without systemd. */
const run = (extra: Record<string, string> = {}, systemd = true) =>
  sb.bash(`source ${JSON.stringify(GPU_SH)}\nhave_systemd() { return ${systemd ? 0 : 1}; }\nmain`, { ...env, ...extra });
const calls = (): string[] => {
  const f = path.join(fake, 'calls');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
};
const of = (cmd: string): string[] => calls().filter((c) => c.startsWith(`${cmd} `));
const installed = (pkg: string, version: string): void => fs.appendFileSync(path.join(fake, 'dpkg'), `${pkg} ${version}\n`);

describe('gpu.sh with GPU_FABRIC_MANAGER=1', () => {
  test.each([
    ['580.95.05', '580'],
    ['570.172.08', '570'],
  ])('driver %s: installs nvidia-fabricmanager-%s, enables it, then waits until every GPU reports Completed', (driver, branch) => {
    const r = run({ FAKE_DRIVER: driver });
    expect(r.log).not.toMatch(/ERROR|warning/);
    expect(r.status).toBe(0);
    const all = calls();
    const install = all.findIndex((c) => c.startsWith('apt-get ') && / install /.test(c));
    const enable = all.indexOf('systemctl enable --now nvidia-fabricmanager');
    const firstQuery = all.indexOf('nvidia-smi -q');
    expect(all[install]).toMatch(new RegExp(` nvidia-fabricmanager-${branch}$`));
    expect(of('apt-get').filter((c) => / install /.test(c))).toHaveLength(1);
    expect(all.findIndex((c) => c.startsWith('apt-get ') && / update /.test(c))).toBeLessThan(install);
    expect(install).toBeLessThan(enable);
    expect(enable).toBeLessThan(firstQuery);
    // "In Progress" twice, then "Completed": the third look is the last.
    expect(all.filter((c) => c === 'nvidia-smi -q')).toHaveLength(3);
    expect(r.log).toMatch(/NVSwitch fabric ready: Completed on 8 GPU\(s\)/);
  });

  test('already installed: no apt-get, enable --now again (it is idempotent), and the wait', () => {
    installed('nvidia-fabricmanager-580', '580.95.05-0ubuntu0.24.04.1');
    const r = run();
    expect(r.status).toBe(0);
    expect(of('apt-get')).toEqual([]);
    expect(of('systemctl')).toEqual(['systemctl enable --now nvidia-fabricmanager']);
    expect(r.log).toMatch(/nvidia-fabricmanager-580 already installed/);
    expect(r.log).toMatch(/NVSwitch fabric ready/);
  });

  test('a Fabric Manager version that does not match the driver is called out', () => {
    installed('nvidia-fabricmanager-580', '580.65.06-0ubuntu0.24.04.2');
    const r = run();
    expect(r.log).toMatch(/warning: nvidia-fabricmanager-580 is version 580\.65\.06-0ubuntu0\.24\.04\.2 but the driver is 580\.95\.05/);
  });

  test.each([
    [{ FAKE_FABRIC_STATE: 'In Progress' }, 'In Progress on 8 GPU\\(s\\)'],
    [{ FAKE_STUCK_GPU: '7' }, 'Completed on 7 GPU\\(s\\), In Progress on 1 GPU\\(s\\)'],
  ])('the fabric never completes (%j): fails after the timeout, naming the state seen and the journal', (extra, seen) => {
    const start = Date.now();
    const r = run({ ...extra, GPU_FABRIC_TIMEOUT: '1', GPU_FABRIC_POLL_SECONDS: '0.2' });
    const took = Date.now() - start;
    expect(r.status).toBe(1);
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(6000);
    expect(r.log).toMatch(new RegExp(`ERROR: NVSwitch fabric not ready after 1s: fabric state ${seen} .*journalctl -u nvidia-fabricmanager`));
    // It kept looking until the time was up.
    expect(calls().filter((c) => c === 'nvidia-smi -q').length).toBeGreaterThanOrEqual(4);
  });

  test('the fabric completes with an error status: fails at once', () => {
    const r = run({ FAKE_FABRIC_AFTER: '0', FAKE_FABRIC_STATUS: 'Insufficient Resources', GPU_FABRIC_TIMEOUT: '30' });
    expect(r.status).toBe(1);
    expect(calls().filter((c) => c === 'nvidia-smi -q')).toHaveLength(1);
    expect(r.log).toMatch(/finished with an error: fabric state Completed \(status Insufficient Resources\) on 8 GPU\(s\)/);
  });

  test('GPUs that report no fabric state (A100 on p4d prints N/A): the running service is enough', () => {
    const r = run({ FAKE_FABRIC_STATE: 'N/A' });
    expect(r.status).toBe(0);
    expect(calls().filter((c) => c === 'nvidia-smi -q')).toHaveLength(1);
    expect(of('systemctl')).toEqual(['systemctl enable --now nvidia-fabricmanager', 'systemctl is-active --quiet nvidia-fabricmanager']);
    expect(r.log).toMatch(/driver 580\.95\.05 reports no fabric state for these GPUs \(N\/A on 8 GPU\(s\)\)/);

    const down = run({ FAKE_FABRIC_STATE: 'N/A', FAKE_FM_INACTIVE: '1' });
    expect(down.status).toBe(1);
    expect(down.log).toMatch(/nvidia-fabricmanager is not running .*journalctl -u nvidia-fabricmanager/);
  });

  test('without systemd (a container): installs and starts nothing, still waits for the fabric', () => {
    const r = run({}, false);
    expect(r.status).toBe(0);
    expect(of('apt-get')).toEqual([]);
    expect(of('systemctl')).toEqual([]);
    expect(calls().filter((c) => c === 'nvidia-smi -q')).toHaveLength(3);
    expect(r.log).toMatch(/no systemd: not installing or starting Fabric Manager/);
  });

  (hostHasNvidiaSmi ? test.skip : test)('no nvidia-smi: the driver is missing, a clear error (and without GPU_FABRIC_MANAGER only the device check)', () => {
    fs.rmSync(path.join(fake, 'bin/nvidia-smi'));
    const r = run();
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/ERROR: GPU_FABRIC_MANAGER=1 but nvidia-smi is not installed: the NVIDIA driver is missing/);
    expect(of('apt-get')).toEqual([]);
    const off = run({ GPU_FABRIC_MANAGER: '0' });
    expect(off.status).toBe(0);
    expect(off.log).toMatch(/nvidia-smi not found: checking device files only/);
  });

  test('a value other than 0 or 1 is refused', () => {
    const r = run({ GPU_FABRIC_MANAGER: 'yes' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/GPU_FABRIC_MANAGER must be 0 or 1, got 'yes'/);
  });
});

describe('gpu.sh without GPU_FABRIC_MANAGER', () => {
  test.each([['unset'], ['0']])('%s: Fabric Manager is not touched', (value) => {
    const extra: Record<string, string> = { FAKE_FABRIC_STATE: 'In Progress' };
    if (value !== 'unset') extra.GPU_FABRIC_MANAGER = value;
    const r = sb.bash(
      `source ${JSON.stringify(GPU_SH)}\nhave_systemd() { return 0; }\n${value === 'unset' ? 'unset GPU_FABRIC_MANAGER\n' : ''}main`,
      { ...env, ...extra },
    );
    expect(r.status).toBe(0);
    // The GPU check itself ran…
    expect(of('nvidia-smi')).toEqual(['nvidia-smi -L', 'nvidia-smi -pm 1']);
    // …and nothing about the fabric.
    expect(of('apt-get')).toEqual([]);
    expect(of('systemctl')).toEqual([]);
    expect(r.log).toMatch(/found 8 GPU device\(s\) of type h100/);
  });
});
