/**
 * The proof that the library works: a real Slurm 22.05 cluster booted on this machine from the
 * library's own rendered files and bootstrap scripts (see harness/slurm-cluster.ts for the chain).
 *
 * Controller `rc-ctl` (roles controller+dbd, local MariaDB, accounting), compute `rcgpu-0`/`rcgpu-1`
 * with two fake GPUs each (`gpu:fake:2`, /dev/nvidia0-1 as 195:N device nodes), partitions `gpu`
 * (default) and `debug`. Subnet 10.213.1.0/24 (faults.test.ts uses 10.213.2.0/24, the harness
 * self-test 10.213.9.0/24), so the suites can run in parallel jest workers.
 */
import * as fs from 'fs';
import * as path from 'path';
import { expandHostlist, renderPlugstackConf } from '../../lib/slurm';
import { describeCluster, SlurmTestCluster, waitFor } from './harness';

describeCluster('real Slurm cluster from the library (model → renderers → cloud-init → bootstrap)', () => {
  // Job hooks as the TCPXO prolog uses them: globs over prolog.d/epilog.d, run at allocation (PrologFlags=Alloc).
  const c = new SlurmTestCluster({
    id: 'rc',
    subnet: '10.213.1',
    restApi: true,
    customizeSpec: (spec) => ({ ...spec, prolog: ['/etc/slurm/prolog.d/*'], epilog: ['/etc/slurm/epilog.d/*'], prologFlags: ['Alloc'] }),
    // What a controller serves when a pool runs pyxis: configless nodes read this copy, never their own.
    extraControllerFiles: [{ name: 'plugstack.conf', content: renderPlugstackConf() }],
  });

  beforeAll(async () => {
    await c.boot();
    await c.waitNodesIdle(c.computeNames, 60_000);
    // eslint-disable-next-line no-console
    console.log(`real-cluster boot timings (ms): ${JSON.stringify(c.timings)}`);
  }, 240_000);

  afterAll(async () => {
    await c.teardown();
  }, 60_000);

  test('sinfo shows both compute nodes idle, with the partitions and GRES as rendered', async () => {
    const states = await c.nodeStates();
    expect(states.get('rcgpu-0')).toBe('idle');
    expect(states.get('rcgpu-1')).toBe('idle');

    const rendered = c.renderedPartitions();
    // The rendered file itself must hold the partitions the spec asked for…
    expect([...rendered.keys()].sort()).toEqual(['debug', 'gpu']);
    expect(rendered.get('gpu')).toEqual({ nodes: ['rcgpu-0', 'rcgpu-1'], isDefault: true });
    expect(rendered.get('debug')?.nodes).toEqual(['rcgpu-0', 'rcgpu-1']);
    // …and slurmctld must have loaded exactly those.
    const live = new Map<string, { nodes: string[]; isDefault: boolean }>();
    for (const line of (await c.client('scontrol show partition -o')).split('\n').filter(Boolean)) {
      const name = /PartitionName=(\S+)/.exec(line)?.[1] ?? '';
      const nodes = /\bNodes=(\S+)/.exec(line)?.[1] ?? '';
      live.set(name, { nodes: nodes === '(null)' ? [] : expandHostlist(nodes).sort(), isDefault: /\bDefault=YES\b/.test(line) });
    }
    expect(live).toEqual(rendered);
    const sinfo = await c.client('sinfo -h -o "%P %a %D %t"');
    expect(sinfo.trim().split('\n').sort()).toEqual(['debug up 2 idle', 'gpu* up 2 idle']);

    for (const n of c.computeNames) {
      const node = await c.client(`scontrol show node -o ${n}`);
      expect(node).toMatch(/\bGres=gpu:fake:2\b/);
      expect(node).toMatch(/\bState=IDLE\b/);
    }
  });

  test('srun -N2 hostname runs on exactly the two compute nodes', async () => {
    const out = await c.client('srun -N2 -p debug hostname', 30_000);
    expect(out.trim().split('\n').sort()).toEqual(['rcgpu-0', 'rcgpu-1']);
  });

  test('job hooks: every prolog.d/epilog.d script runs once per job on each of its nodes; the no-op hook keeps other nodes working', async () => {
    // A hook on one node only, as a feature's prolog (TCPXO's RxDM) is on its own pool; the other node has just
    // the library's no-op hook, which must keep the glob matching (an empty glob drains the node).
    const node = c.cluster.node('rcgpu-0');
    const hook = (kind: string) =>
      `printf '#!/bin/sh\\necho "${kind} $SLURM_JOB_ID" >>/var/log/slurm/hooks.log\\n' >/etc/slurm/${kind}.d/50-test.sh && chmod 0755 /etc/slurm/${kind}.d/50-test.sh`;
    await node.shOk(`${hook('prolog')} && ${hook('epilog')} && rm -f /var/log/slurm/hooks.log`);
    const out = await c.client(`srun -N2 -p debug sh -c 'echo "$SLURM_JOB_ID $(hostname)"'`, 30_000);
    const lines = out.trim().split('\n').sort();
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['rcgpu-0', 'rcgpu-1']);
    const jobId = lines[0].split(' ')[0];
    const log = await waitFor(async () => {
      const r = await node.sh('cat /var/log/slurm/hooks.log 2>/dev/null');
      return /epilog/.test(r.stdout) ? r.stdout : undefined;
    }, 20_000, 'the test epilog to run');
    expect(log.trim().split('\n')).toEqual([`prolog ${jobId}`, `epilog ${jobId}`]);
    await c.waitNodesIdle(c.computeNames, 20_000);
  });

  test("configless SPANK: the controller's plugstack.conf reaches the nodes and includes each node's own drop-ins", async () => {
    // A drop-in on one node only, as pyxis's line is on the pools that install pyxis. `optional`, so a plugin that
    // is not there is logged and skipped: slurmstepd reading the line is what is proven, without failing the job.
    const plugin = '/usr/lib/cdktf-slurm-test/spank_absent.so';
    const withDropIn = c.cluster.node('rcgpu-0');
    await withDropIn.shOk(`mkdir -p /etc/slurm/plugstack.conf.d && echo 'optional ${plugin}' >/etc/slurm/plugstack.conf.d/zz-test.conf`);
    try {
      const out = await c.client('srun -N2 -p debug hostname', 30_000);
      expect(out.trim().split('\n').sort()).toEqual(['rcgpu-0', 'rcgpu-1']);
      const seen = await waitFor(async () => {
        const r = await withDropIn.sh('cat /var/log/slurm/slurmd.log');
        return r.stdout.includes(plugin) ? r.stdout : undefined;
      }, 15_000, 'slurmstepd on rcgpu-0 to read the node-local drop-in');
      expect(seen).toContain(plugin);
      // The other node has no drop-in and logs nothing about it; the controller's copy is what both read.
      expect((await c.cluster.node('rcgpu-1').sh('cat /var/log/slurm/slurmd.log')).stdout).not.toContain(plugin);
      const cached = await withDropIn.sh('cat /run/slurm/conf/plugstack.conf 2>/dev/null || cat /var/spool/slurmd/conf-cache/plugstack.conf');
      expect(cached.stdout).toContain('include /etc/slurm/plugstack.conf.d/*.conf');
    } finally {
      await withDropIn.shOk('rm -f /etc/slurm/plugstack.conf.d/zz-test.conf');
    }
  });

  let gpuJob = 0;
  test('sbatch --gres=gpu:1 sees CUDA_VISIBLE_DEVICES=0, --gres=gpu:2 sees 0,1, gpu:3 is refused', async () => {
    const script = '#!/bin/bash\necho "${CUDA_VISIBLE_DEVICES-unset}"\n';
    gpuJob = await c.sbatch('-p gpu --gres=gpu:1 -o /shared/gpu1-%j.out', script);
    const j2 = await c.sbatch('-p gpu --gres=gpu:2 -o /shared/gpu2-%j.out', script);
    for (const id of [gpuJob, j2]) {
      const j = await c.waitJobState(id, ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY'], 60_000);
      expect(j.JobState).toBe('COMPLETED');
    }
    const read = (f: string) =>
      waitFor(() => (fs.existsSync(c.sharedPath(f)) ? fs.readFileSync(c.sharedPath(f), 'utf8') : undefined), 10_000, `output ${f}`);
    expect(await read(`gpu1-${gpuJob}.out`)).toBe('0\n');
    expect(await read(`gpu2-${j2}.out`)).toBe('0,1\n');

    // Only two GPUs per node exist: asking for three must be refused at submission.
    const refused = await c.ctl.sh('sbatch --parsable -p gpu --gres=gpu:3 --wrap true');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Requested node configuration is not available/);
  }, 120_000);

  test('the GPU job is recorded in accounting (sacct: COMPLETED, AllocTRES with gres/gpu)', async () => {
    expect(gpuJob).toBeGreaterThan(0);
    const row = await waitFor(
      async (note) => {
        const out = await c.client(`sacct -n -X -P -j ${gpuJob} -o JobID,State,AllocTRES,Partition`);
        note(out);
        const line = out.split('\n').find((l) => l.startsWith(`${gpuJob}|`));
        // slurmdbd fills the record in steps (start, then end); wait for the partition to arrive too.
        return line && line.split('|')[1] === 'COMPLETED' && line.split('|')[3] !== '' ? line : undefined;
      },
      30_000,
      `job ${gpuJob} COMPLETED in sacct`,
      { diagnostics: c.diagnostics, intervalMs: 500 },
    );
    const [, state, tres, partition] = row.split('|');
    expect(state).toBe('COMPLETED');
    expect(partition).toBe('gpu');
    expect(tres.split(',')).toEqual(expect.arrayContaining(['gres/gpu=1']));
  }, 60_000);

  test('the Slurm exporter (slurm-metrics.sh) reads this slurmctld: up, both nodes idle, 4 GPUs, CPUs as sinfo counts them', async () => {
    // The node's /tmp is its own (and the checkout may live under the host's /tmp): copy the script and its library in.
    const scripts = path.resolve(__dirname, '../../bootstrap-scripts');
    for (const f of ['slurm-metrics.sh', 'lib/common.sh']) {
      const put = await c.ctl.sh(`mkdir -p /tmp/exporter/lib && cat > /tmp/exporter/${f}`, { input: fs.readFileSync(path.join(scripts, f)) });
      expect(put.code).toBe(0);
    }
    const r = await c.ctl.sh('SLURM_METRICS_DIR=/tmp/slurm-metrics CDKTF_SLURM_LOG_DIR=/tmp/slurm-metrics-log bash /tmp/exporter/slurm-metrics.sh --once && cat /tmp/slurm-metrics/slurm.prom');
    expect(r.code).toBe(0);
    const m = new Map(r.stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
    const cpus = (await c.client('sinfo -h -N -o "%N %C"')).split('\n').filter(Boolean);
    const totalCpus = [...new Map(cpus.map((l) => [l.split(' ')[0], Number(l.split(' ')[1].split('/')[3])])).values()].reduce((a, b) => a + b, 0);
    expect(Object.fromEntries(m)).toMatchObject({ slurmctld_up: 1, slurm_nodes_idle: 2, slurm_nodes_total: 2, slurm_nodes_down: 0, slurm_gpus_total: 4, slurm_gpus_alloc: 0 });
    expect(m.get('slurm_cpus_total')).toBe(totalCpus);
    expect(totalCpus).toBeGreaterThan(0);
  });

  test('slurmrestd answers /ping and /nodes with a JWT, refuses requests without one, and does not run as root', async () => {
    const token = (await c.client('scontrol token username=nobody lifespan=300')).trim().replace(/^SLURM_JWT=/, '');
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const auth = `-H 'X-SLURM-USER-NAME: nobody' -H 'X-SLURM-USER-TOKEN: ${token}'`;
    const ping = await c.ctl.sh(`curl -sf ${auth} http://127.0.0.1:6820/slurm/v0.0.38/ping`);
    expect(ping.code).toBe(0);
    expect((JSON.parse(ping.stdout) as { pings: { ping: string }[] }).pings[0].ping).toBe('UP');
    const nodes = await c.ctl.sh(`curl -sf ${auth} http://127.0.0.1:6820/slurm/v0.0.38/nodes`);
    expect(nodes.code).toBe(0);
    const names = (JSON.parse(nodes.stdout) as { nodes: { name: string }[] }).nodes.map((n) => n.name).sort();
    expect(names).toEqual(['rcgpu-0', 'rcgpu-1']);
    const anonymous = await c.ctl.sh(`curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:6820/slurm/v0.0.38/ping`);
    expect(anonymous.stdout).toBe('401');
    const user = await c.ctl.sh('ps -o user= -C slurmrestd');
    expect(user.stdout.trim().split('\n')).toEqual(['slurmrestd']);
    // The key: 0400, SlurmUser, installed by the library's jwt-key step.
    const key = await c.ctl.sh('stat -c "%a %U %s" /etc/slurm/jwt_hs256.key');
    expect(key.stdout.trim()).toBe('400 slurm 32');
  });

  test('teardown leaves no process, namespace, mount, cgroup or temp dir behind', async () => {
    const vc = c.cluster;
    expect(vc.nodes.every((n) => n.pids().length > 0)).toBe(true); // the daemons were really there
    await c.teardown();
    expect(vc.leftovers()).toEqual([]);
  }, 60_000);
});
