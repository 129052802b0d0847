/**
 * statesave.sh on a real block device (a loop device), inside a private mount namespace with the sandbox's fstab
 * (DATA_DISK_FSTAB), so the host's fstab and mounts are untouched.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LoopDevices, Sandbox, SCRIPTS_DIR } from './sh';

// Needs root and a free loop device; where the machine has none, say so loudly and skip.
const canRun = LoopDevices.available();
if (!canRun) console.warn('\n!!! SKIPPING statesave.sh tests: need root and a free loop device (losetup --find)\n');
const maybe = canRun ? describe : describe.skip;

maybe('statesave.sh', () => {
  let sb: Sandbox;
  let stateDir: string;
  let fstab: string;

  const loopDevices = new LoopDevices(() => sb);
  const newLoop = (name: string, label?: string): string => loopDevices.add(name, label);

  /** Runs the step in a fresh private mount namespace; reports where the state dir is mounted from, then. */
  const run = (device: string) => {
    const script = `rc=0 && bash "$STEP" || rc=$?; echo "mounted=$(findmnt -rno SOURCE "$STATE" || true)"; exit $rc`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], {
      encoding: 'utf8',
      env: sb.env({ STATESAVE_DEVICE: device, DATA_DISK_FSTAB: fstab, STEP: path.join(SCRIPTS_DIR, 'statesave.sh'), STATE: stateDir }),
    });
    return { status: r.status, out: r.stdout, log: sb.readLog() };
  };

  beforeEach(() => {
    sb = new Sandbox();
    stateDir = path.join(sb.dir, 'state');
    fstab = sb.file('fstab', '# test fstab\n');
    sb.file('staging/slurm.conf', `ClusterName=t\nStateSaveLocation=${stateDir}\n`);
    fs.writeFileSync(sb.envFile, '');
  });
  afterEach(() => {
    loopDevices.detach();
    sb.cleanup();
  });

  test('formats a blank volume once, mounts it at StateSaveLocation by label, and a re-run changes nothing', () => {
    const dev = newLoop('blank.img');
    const first = run(dev);
    expect(first.status).toBe(0);
    expect(first.out).toContain(`mounted=${dev}`);
    expect(first.log).toMatch(new RegExp(`formatting ${dev} \\(ext4, label slurmstate\\)`));
    expect(execFileSync('blkid', ['-c', '/dev/null', '-o', 'value', '-s', 'LABEL', dev], { encoding: 'utf8' }).trim()).toBe('slurmstate');
    const line = `LABEL=slurmstate ${stateDir} ext4 defaults,nofail,x-systemd.device-timeout=60 0 2`;
    expect(fs.readFileSync(fstab, 'utf8').split('\n').filter((l) => l.startsWith('LABEL='))).toEqual([line]);

    fs.writeFileSync(path.join(sb.logDir, 'bootstrap.log'), '');
    const second = run(dev);
    expect(second.status).toBe(0);
    expect(second.out).toContain(`mounted=${dev}`);
    expect(second.log).not.toMatch(/formatting/);
    expect(fs.readFileSync(fstab, 'utf8').split('\n').filter((l) => l.startsWith('LABEL='))).toEqual([line]);
  });

  test('refuses to format a device that already holds another filesystem', () => {
    const dev = newLoop('foreign.img', 'userdata');
    const r = run(dev);
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(new RegExp(`${dev} already holds a filesystem not labelled 'slurmstate'; refusing to format it`));
    expect(execFileSync('blkid', ['-c', '/dev/null', '-o', 'value', '-s', 'LABEL', dev], { encoding: 'utf8' }).trim()).toBe('userdata');
    expect(fs.readFileSync(fstab, 'utf8')).not.toMatch(/^LABEL=/m);
  });

  test('without STATESAVE_DEVICE it leaves state on the root disk', () => {
    const r = run('');
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/STATESAVE_DEVICE not set/);
    expect(r.out).toContain('mounted=\n');
  });
});
