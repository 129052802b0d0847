/**
 * Faults on the real cluster (same harness as real-cluster.test.ts; own id `ft`, subnet
 * 10.213.2.0/24 and node names, so both suites may run in parallel jest workers):
 *
 * 1. a second bootstrap run changes nothing (same daemon PIDs, same config checksums and mtimes);
 * 2. slurmctld stopped and brought back by the controller bootstrap: a pending and a running job
 *    both survive and finish;
 * 3. a compute node lost under a `--requeue` job (slurmd and the job's processes killed): the job
 *    is requeued (Restarts=1), released, and completes on the other node with SLURM_RESTART_COUNT=1;
 *    the bootstrap then brings the lost node back to idle.
 */
import * as fs from 'fs';
import { commOf, daemonsOf, describeCluster, SlurmTestCluster, VirtualNode, waitFor } from './harness';

const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE'];
const CTL_DAEMONS = ['munged', 'slurmctld', 'slurmdbd', 'mariadbd'];
const COMPUTE_DAEMONS = ['munged', 'slurmd'];

/** Checksum, mtime, mode and owner of every file the bootstrap manages on a node. */
async function configSnapshot(node: VirtualNode): Promise<string> {
  const r = await node.shOk(
    'for d in /etc/slurm /etc/munge /etc/cdktf-slurm /etc/default /etc/mysql /opt/cdktf-slurm; do ' +
      '[ -d "$d" ] && find "$d" -type f -print0; done | sort -z | ' +
      "xargs -0 -r stat -c '%n %Y.%y %a %U:%G' && " +
      'for d in /etc/slurm /etc/munge /etc/cdktf-slurm /etc/default /etc/mysql; do ' +
      '[ -d "$d" ] && find "$d" -type f -print0; done | sort -z | xargs -0 -r sha256sum',
  );
  return r.stdout;
}

function readShared(c: SlurmTestCluster, name: string): string | undefined {
  const p = c.sharedPath(name);
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined;
}

describeCluster('real cluster under faults', () => {
  const c = new SlurmTestCluster({ id: 'ft', subnet: '10.213.2' });

  beforeAll(async () => {
    await c.boot();
    await c.waitNodesIdle(c.computeNames, 60_000);
  }, 240_000);

  afterAll(async () => {
    const vc = c.vc;
    await c.teardown();
    expect(vc?.leftovers() ?? []).toEqual([]);
  }, 60_000);

  test('running bootstrap.sh a second time exits 0 and changes nothing', async () => {
    for (const [name, daemons] of [[c.controllerName, CTL_DAEMONS], [c.computeNames[0], COMPUTE_DAEMONS]] as const) {
      const node = c.cluster.node(name);
      const pidsBefore = daemonsOf(node, daemons);
      expect(pidsBefore.map((d) => d.split(':')[0]).sort()).toEqual([...daemons].sort());
      const filesBefore = await configSnapshot(node);
      expect(filesBefore).toMatch(/\/etc\/slurm\//);

      const r = await c.rerunBootstrap(name);
      if (r.code !== 0) throw new Error(`second bootstrap on ${name} failed:\n${r.stdout}\n${r.stderr}\n${c.diagnostics()}`);

      expect(daemonsOf(node, daemons)).toEqual(pidsBefore);
      expect(await configSnapshot(node)).toEqual(filesBefore);
    }
  }, 120_000);

  test('slurmctld restarted by the controller bootstrap: a running and a pending job both finish', async () => {
    await c.waitNodesIdle();
    // The running job takes both single-CPU nodes, so the second one pends on Resources.
    const running = await c.sbatch('-p debug -N2 -o /shared/ctl-running-%j.out', '#!/bin/bash\nsleep 6\necho running-done\n');
    await c.waitJobState(running, ['RUNNING'], 30_000);
    const pending = await c.sbatch('-p debug -N1 -o /shared/ctl-pending-%j.out', '#!/bin/bash\necho pending-done\n');
    const p = await c.waitJobState(pending, ['PENDING'], 10_000);
    expect(p.JobState).toBe('PENDING');

    const ctl = c.ctl;
    const ctld = daemonsOf(ctl, ['slurmctld']);
    expect(ctld).toHaveLength(1);
    const ctldPid = Number(ctld[0].split(':')[1]);
    process.kill(ctldPid, 'SIGTERM');
    await waitFor(() => commOf(ctldPid) === undefined, 15_000, 'slurmctld to exit');
    expect((await ctl.sh('scontrol ping')).stdout).toMatch(/DOWN/);

    const r = await c.rerunBootstrap(c.controllerName);
    if (r.code !== 0) throw new Error(`controller bootstrap after slurmctld loss failed:\n${r.stdout}\n${r.stderr}\n${c.diagnostics()}`);
    const after = daemonsOf(ctl, ['slurmctld']);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(ctld[0]);

    const jr = await c.waitJobState(running, FINAL, 60_000);
    const jp = await c.waitJobState(pending, FINAL, 60_000);
    expect(jr.JobState).toBe('COMPLETED');
    expect(jp.JobState).toBe('COMPLETED');
    expect(await waitFor(() => readShared(c, `ctl-running-${running}.out`), 5_000, 'running job output')).toBe('running-done\n');
    expect(await waitFor(() => readShared(c, `ctl-pending-${pending}.out`), 5_000, 'pending job output')).toBe('pending-done\n');
  }, 150_000);

  test('a node lost under a --requeue job: requeued, released, finishes on the other node', async () => {
    await c.waitNodesIdle();
    const script = [
      '#!/bin/bash',
      'echo "host=$(hostname) restart=${SLURM_RESTART_COUNT:-0}"',
      // First run: stay busy until the node is killed. After a requeue: finish at once.
      'if [ -z "${SLURM_RESTART_COUNT:-}" ]; then sleep 600; fi',
      '',
    ].join('\n');
    const id = await c.sbatch('--requeue -p debug -N1 -o /shared/requeue-%j.out', script);
    const j = await c.waitJobState(id, ['RUNNING'], 30_000);
    const victimName = j.NodeList;
    expect(c.computeNames).toContain(victimName);
    const survivor = c.computeNames.find((n) => n !== victimName)!;
    await waitFor(() => readShared(c, `requeue-${id}.out`)?.includes('restart=0'), 10_000, 'first run started');

    // Lose the node: slurmd, then every process in its Slurm cgroup (slurmstepd and the job).
    const victim = c.cluster.node(victimName);
    const slurmd = daemonsOf(victim, ['slurmd']).map((d) => Number(d.split(':')[1]));
    expect(slurmd).toHaveLength(1);
    for (const pid of slurmd) process.kill(pid, 'SIGKILL');
    const cgroupPids = await victim.sh(
      `for d in /sys/fs/cgroup/*/slurm_${victimName} /sys/fs/cgroup/unified/slurm_${victimName}; do ` +
        '[ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} +; done | sort -u',
    );
    const jobPids = cgroupPids.stdout.split('\n').filter(Boolean).map(Number);
    expect(jobPids.length).toBeGreaterThan(0);
    for (const pid of jobPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }

    // SlurmdTimeout=5: not responding, then DOWN, then the job is requeued and held (BeginTime).
    const requeued = await waitFor(
      async (note) => {
        const k = await c.job(id);
        note(k ? `JobState=${k.JobState} Restarts=${k.Restarts} Reason=${k.Reason}` : 'unknown');
        return k && k.Restarts === '1' && k.JobState === 'PENDING' ? k : undefined;
      },
      90_000,
      `job ${id} requeued after losing ${victimName}`,
      { diagnostics: c.diagnostics, intervalMs: 1000 },
    );
    expect(requeued.Restarts).toBe('1');
    const down = (await c.nodeStates()).get(victimName) ?? '';
    expect(down).toMatch(/^down/);

    await c.client(`scontrol update JobId=${id} StartTime=now`);
    const done = await c.waitJobState(id, FINAL, 60_000);
    expect(done.JobState).toBe('COMPLETED');
    expect(done.NodeList).toBe(survivor);
    // The second run's output replaces the first (or is appended to it, depending on open mode).
    const out = await waitFor(() => readShared(c, `requeue-${id}.out`)?.includes('restart=1') && readShared(c, `requeue-${id}.out`), 5_000, 'requeued output');
    const lines = out.trim().split('\n');
    expect(lines[lines.length - 1]).toBe(`host=${survivor} restart=1`);
    expect([[`host=${survivor} restart=1`], [`host=${victimName} restart=0`, `host=${survivor} restart=1`]]).toContainEqual(lines);

    // The node's bootstrap brings it back (ReturnToService=2: straight to idle).
    const r = await c.rerunBootstrap(victimName);
    if (r.code !== 0) throw new Error(`bootstrap on the lost node failed:\n${r.stdout}\n${r.stderr}`);
    await c.waitNodesIdle(c.computeNames, 30_000);
  }, 180_000);
});
