/**
 * container-entrypoint.sh with stand-ins: a fake bootstrap.sh beside it that starts two fake daemons. The
 * entrypoint must stay in the foreground while they run, stop them and exit 0 on SIGTERM (docker stop), and
 * exit non-zero when one dies (so Docker's restart policy re-runs the bootstrap) or the bootstrap fails.
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SCRIPTS_DIR } from '../bootstrap/sh';

// Unique command names: the entrypoint matches daemons by name across the PID namespace.
const tag = `e${process.pid % 100000}`;
const DAEMONS = [`fmunged${tag}`, `fslurmd${tag}`].map((n) => n.slice(0, 15));

function setup(bootstrapExit = 0) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-slurm-entrypoint-'));
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(path.join(tree, 'lib'), { recursive: true });
  fs.copyFileSync(path.join(SCRIPTS_DIR, 'container-entrypoint.sh'), path.join(tree, 'container-entrypoint.sh'));
  fs.copyFileSync(path.join(SCRIPTS_DIR, 'lib/common.sh'), path.join(tree, 'lib/common.sh'));
  fs.mkdirSync(path.join(dir, 'bin'));
  for (const d of DAEMONS) {
    // Direct shebang so the command name is the file's name.
    fs.writeFileSync(path.join(dir, 'bin', d), `#!/bin/bash\ntrap 'echo stopped >>"${dir}/${d}.stopped"; exit 0' TERM\nwhile true; do sleep 0.2; done\n`, { mode: 0o755 });
  }
  fs.writeFileSync(
    path.join(tree, 'bootstrap.sh'),
    `#!/usr/bin/env bash\nset -euo pipefail\necho "$SLURMD_NODENAME" >"${dir}/bootstrapped"\n` +
      DAEMONS.map((d) => `setsid -f "${dir}/bin/${d}" </dev/null >/dev/null 2>&1\n`).join('') +
      `exit ${bootstrapExit}\n`,
    { mode: 0o755 },
  );
  const env = {
    PATH: process.env.PATH,
    CDKTF_SLURM_LOG_DIR: path.join(dir, 'log'),
    CDKTF_SLURM_ENV_FILE: path.join(dir, 'node.env'),
    SLURMD_NODENAME: 'gpu-1',
    CONTAINER_WATCH_SECONDS: '0.3',
    CONTAINER_WATCH_DAEMONS: DAEMONS.join(' '),
    CONTAINER_CGROUP_MOUNT: path.join(dir, 'no-such-cgroup-mount'),
  };
  return { dir, tree, env };
}

function pidsOf(name: string): number[] {
  return fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  }).map(Number);
}

const waitFor = async (cond: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
};

afterEach(() => {
  for (const d of DAEMONS) for (const pid of pidsOf(d)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
});

test('stays up while the daemons run; SIGTERM stops them and exits 0', async () => {
  const { dir, tree, env } = setup();
  const child = spawn('bash', [path.join(tree, 'container-entrypoint.sh')], { env, stdio: 'ignore' });
  expect(await waitFor(() => DAEMONS.every((d) => pidsOf(d).length === 1))).toBe(true);
  expect(fs.readFileSync(path.join(dir, 'bootstrapped'), 'utf8').trim()).toBe('gpu-1');
  await new Promise((r) => setTimeout(r, 1000));
  expect(child.exitCode).toBeNull();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  for (const d of DAEMONS) expect(fs.existsSync(path.join(dir, `${d}.stopped`))).toBe(true);
  fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

test('a daemon that dies ends the container with an error naming it', async () => {
  const { dir, tree, env } = setup();
  const child = spawn('bash', [path.join(tree, 'container-entrypoint.sh')], { env, stdio: 'ignore' });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  expect(await waitFor(() => pidsOf(DAEMONS[1]).length === 1)).toBe(true);
  process.kill(pidsOf(DAEMONS[1])[0], 'SIGKILL');
  expect(await exited).toBe(1);
  expect(fs.readFileSync(path.join(dir, 'log', 'bootstrap.log'), 'utf8')).toContain(`${DAEMONS[1]} is no longer running; exiting so Docker restarts the container`);
  fs.rmSync(dir, { recursive: true, force: true });
}, 30_000);

test('a failed bootstrap exits non-zero at once', () => {
  const { dir, tree, env } = setup(3);
  const r = spawnSync('bash', [path.join(tree, 'container-entrypoint.sh')], { env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain("bootstrap failed (exit 3); Docker's restart policy will retry");
  fs.rmSync(dir, { recursive: true, force: true });
});
