/**
 * Helpers for the bootstrap-script tests: run bash with common.sh sourced, in a throwaway directory
 * that holds the log and the node env file, so nothing on the host is touched.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const SCRIPTS_DIR = path.resolve(__dirname, '../../bootstrap-scripts');
export const COMMON = path.join(SCRIPTS_DIR, 'lib/common.sh');

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
  /** Contents of the bootstrap log written during the run ('' when none). */
  log: string;
}

export class Sandbox {
  readonly dir: string;
  readonly logDir: string;
  readonly envFile: string;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-slurm-bootstrap-test-'));
    this.logDir = path.join(this.dir, 'log');
    this.envFile = path.join(this.dir, 'node.env');
  }

  file(name: string, content: string | Buffer, mode = 0o644): string {
    const p = path.join(this.dir, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content, { mode });
    fs.chmodSync(p, mode);
    return p;
  }

  /** Environment every run gets: paths pointing into the sandbox, and nothing from a real node.env. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: this.dir,
      TMPDIR: this.dir,
      CDKTF_SLURM_LOG_DIR: this.logDir,
      CDKTF_SLURM_ENV_FILE: this.envFile,
      CDKTF_SLURM_STAGING_DIR: path.join(this.dir, 'staging'),
      SLURM_CONF_DIR: path.join(this.dir, 'etc-slurm'),
      ...extra,
    };
  }

  readLog(): string {
    const p = path.join(this.logDir, 'bootstrap.log');
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '';
  }

  /** Run a bash snippet with common.sh sourced under set -euo pipefail. */
  bash(snippet: string, extraEnv: Record<string, string> = {}, timeoutMs = 20000): RunResult {
    const script = `set -euo pipefail\nsource ${JSON.stringify(COMMON)}\n${snippet}\n`;
    return this.exec('bash', ['-c', script], extraEnv, timeoutMs);
  }

  /** Run one of the step scripts. */
  script(name: string, extraEnv: Record<string, string> = {}, timeoutMs = 20000): RunResult {
    return this.exec('bash', [path.join(SCRIPTS_DIR, name)], extraEnv, timeoutMs);
  }

  private exec(cmd: string, args: string[], extraEnv: Record<string, string>, timeoutMs: number): RunResult {
    const r = spawnSync(cmd, args, { env: this.env(extraEnv), encoding: 'utf8', timeout: timeoutMs, cwd: this.dir });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, log: this.readLog() };
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export function listScripts(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.sh')) out.push(p);
    }
  };
  walk(SCRIPTS_DIR);
  return out.sort();
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Fake `mountpoint` and `findmnt` over one state file, `$FAKE/mounted`, a line per mounted mount point:
 * `<mount point> <source> <fstype>`; so several mounts coexist. For the mount client tests.
 */
export const FAKE_MOUNT_TABLE_TOOLS: Readonly<Record<string, string>> = {
  mountpoint: `#!/bin/bash\nmp=\${@: -1}\ngrep -q "^$mp " "$FAKE/mounted" 2>/dev/null\n`,
  findmnt: `#!/bin/bash
mp=\${@: -1}
case "$*" in
  *FSTYPE*) awk -v mp="$mp" '$1 == mp { print $3 }' "$FAKE/mounted" ;;
  *) awk -v mp="$mp" '$1 == mp { print $2 }' "$FAKE/mounted" ;;
esac
`,
};

/**
 * A fake `mount -T <fstab> <mount point>` that records its calls, fails its first FAKE_MOUNT_FAILS calls with
 * `error` (exit `status`), then mounts what the fstab line for the mount point says.
 */
export function fakeMountFromFstab(error: string, status: number): string {
  return `#!/bin/bash
printf '%s\\n' "$*" >>"$FAKE/mount-calls"
n=$(wc -l <"$FAKE/mount-calls")
if (( n <= \${FAKE_MOUNT_FAILS:-0} )); then echo ${JSON.stringify(error)} >&2; exit ${status}; fi
fstab=$2 mp=$3
awk -v mp="$mp" '$2 == mp { print mp, $1, $3 }' "$fstab" >>"$FAKE/mounted"
`;
}

/**
 * A fake `dpkg-query` over `$FAKE/dpkg` (a line per installed package: `<name> <version>`; the last line for a
 * name wins), answering `-f '${db:Status-Status}'` and `-f '${Version}'` as dpkg does.
 */
export const FAKE_DPKG_QUERY = `#!/bin/bash
fmt="" pkg=""
while (($#)); do
  case "$1" in
    -f) fmt=$2; shift 2 ;;
    -f=* | --showformat=*) fmt=\${1#*=}; shift ;;
    -*) shift ;;
    *) pkg=$1; shift ;;
  esac
done
line=$(grep "^$pkg " "$FAKE/dpkg" 2>/dev/null | tail -n1)
[[ -n "$line" ]] || { echo "dpkg-query: no packages found matching $pkg" >&2; exit 1; }
fmt=\${fmt//'\${db:Status-Status}'/installed}
printf '%s' "\${fmt//'\${Version}'/\${line#* }}"
`;

/** Writes `fakes` (name → script) as executables into `<sandbox>/fake/bin`; returns the fake dir and its bin. */
export function installFakes(sb: Sandbox, fakes: Readonly<Record<string, string>>): { fake: string; bin: string } {
  const fake = path.join(sb.dir, 'fake');
  const bin = path.join(fake, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  for (const [name, text] of Object.entries(fakes)) fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  return { fake, bin };
}

/** Loop devices over 32 MiB image files in a sandbox (blank, or ext4 with a label), detached by `detach()`. */
export class LoopDevices {
  private readonly devices: string[] = [];

  constructor(private readonly sandbox: () => Sandbox) {}

  /** Whether this machine can make them: root and a free loop device. */
  static available(): boolean {
    return process.getuid?.() === 0 && spawnSync('losetup', ['--find']).status === 0;
  }

  add(name: string, label?: string): string {
    const img = this.sandbox().file(name, Buffer.alloc(0));
    fs.truncateSync(img, 32 * 1024 * 1024);
    if (label) execFileSync('mkfs.ext4', ['-q', '-L', label, img]);
    const dev = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
    this.devices.push(dev);
    return dev;
  }

  detach(): void {
    for (const dev of this.devices.splice(0)) spawnSync('losetup', ['-d', dev]);
  }
}
