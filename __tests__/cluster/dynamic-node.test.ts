/**
 * Dynamic node pools on real Slurm 22.05 daemons (same harness as real-cluster.test.ts; own id `dn`,
 * subnet 10.213.3.0/24, nodes dn-ctl, dngpu-0, dyn-0, dyn-1, dyn-2).
 *
 * Controller `dn-ctl` (configless, no accounting), one named compute node `dngpu-0` (pool `dngpu`,
 * `gpu:fake:2`), and a dynamic pool `dyn` (count 2, `gpu:fake:2`, feature `docker`): `dyn-0` and
 * `dyn-1` are provisioned from the library's cloud-config with node.env from `dynamicNodeEnv`, so
 * slurmd runs `-Z --conf "… Feature=dyn,docker"` and joins partitions through `NodeSet=dyn Feature=dyn`.
 * A cloud pool `dncl` (maxCount 1, never resumed) turns power saving on, with SuspendTime=5 s.
 *
 * The dynamic nodes' names are removed from every other node's /etc/hosts before provisioning:
 * like hosts on a mesh, nothing can resolve them, so every message to them must use the address
 * slurmctld recorded at registration.
 */
import * as fs from 'fs';
import { dynamicNodeEnv, expandHostlist, type ClusterSpec } from '../../lib/slurm';
import { describeCluster, SlurmTestCluster, waitFor } from './harness';

const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL'];
const DYN = ['dyn-0', 'dyn-1'];
const SUSPEND_LOG = '/shared/suspend.log';
const SUSPEND_TIME_SEC = 5;

function withDynamicPool(s: ClusterSpec): ClusterSpec {
  return {
    ...s,
    // As the library renders it for container pools (no systemd there); real 22.05 daemons must accept it.
    cgroup: { ...s.cgroup, ignoreSystemdOnFailure: true },
    nodePools: [
      s.nodePools[0],
      {
        name: 'dyn',
        registration: 'dynamic',
        count: 2,
        hardware: { cpus: 1, realMemoryMiB: 1000 },
        gpus: { type: 'fake', count: 2 },
        features: ['docker'],
        weight: 10,
      },
      { name: 'dncl', maxCount: 1, hardware: { cpus: 1, realMemoryMiB: 1000 } },
    ],
    partitions: [
      { name: 'all', pools: [s.nodePools[0].name, 'dyn'], default: true },
      // Same name as the NodeSet on purpose: partitions and node sets are separate name spaces.
      { name: 'dyn', pools: ['dyn'] },
      { name: 'cloud', pools: ['dncl'] },
    ],
    powerSaving: {
      resumeProgram: '/usr/local/sbin/dn-resume',
      suspendProgram: '/usr/local/sbin/dn-suspend',
      suspendTimeSec: SUSPEND_TIME_SEC,
      resumeTimeoutSec: 60,
    },
  };
}

const gpuFiles = ['/dev/nvidia0', '/dev/nvidia1'];

describeCluster('dynamic node pool on real daemons (slurmd -Z, NodeSet by feature)', () => {
  const c = new SlurmTestCluster({
    id: 'dn',
    subnet: '10.213.3',
    computeCount: 1,
    accounting: false,
    customizeSpec: withDynamicPool,
    extraNodes: (spec) => [
      ...DYN.map((name, i) => ({ name, env: dynamicNodeEnv(spec, 'dyn', i), gpuDeviceFiles: gpuFiles })),
      // One more host than the pool's count, as an over-grown auto-scaling group would start. The
      // library refuses the index (dynamicNodeEnv throws), so the env is the last valid one renamed.
      {
        name: 'dyn-2',
        env: { ...dynamicNodeEnv(spec, 'dyn', 1), SLURMD_NODENAME: 'dyn-2', SLURMD_REGISTER_WAIT_SECONDS: '10' },
        gpuDeviceFiles: gpuFiles,
        provision: false,
      },
    ],
    beforeProvision: async (t) => {
      // The cloud's resume/suspend programs (what a cloud backend would install): they only log here.
      const log = (what: string) => `#!/bin/sh\necho "${what} $*" >> ${SUSPEND_LOG}\n`;
      await t.ctl.shOk(
        `mkdir -p /usr/local/sbin && printf '%s' '${log('suspend')}' > /usr/local/sbin/dn-suspend && ` +
          `printf '%s' '${log('resume')}' > /usr/local/sbin/dn-resume && chmod 0755 /usr/local/sbin/dn-suspend /usr/local/sbin/dn-resume`,
      );
      // Nobody resolves a dynamic node's name but the node itself.
      for (const n of t.cluster.nodes) {
        const others = [...DYN, 'dyn-2'].filter((d) => d !== n.name);
        await n.shOk(`sed -i -E '/\\s(${others.join('|')})$/d' /etc/hosts`);
      }
    },
  });
  let bootedAt = 0;

  beforeAll(async () => {
    await c.boot();
    await c.waitNodesIdle([...c.computeNames, ...DYN], 60_000);
    bootedAt = Date.now();
    // eslint-disable-next-line no-console
    console.log(`dynamic-node boot timings (ms): ${JSON.stringify(c.timings)}`);
  }, 240_000);

  afterAll(async () => {
    const vc = c.vc;
    await c.teardown();
    expect(vc?.leftovers() ?? []).toEqual([]);
  }, 60_000);

  test('rendered: no node line for the dynamic pool, a NodeSet instead, MaxNodeCount and gres.conf for it', () => {
    const conf = c.files.get('slurm.conf') ?? '';
    expect(conf).not.toMatch(/^NodeName=dyn/m);
    expect(conf).toMatch(/^NodeSet=dyn Feature=dyn$/m);
    // 22.05 has no SuspendExcStates: power saving is switched off on the partitions holding dynamic nodes.
    expect(conf).toMatch(/^PartitionName=all Nodes=dngpu-0,dyn Default=YES .* SuspendTime=INFINITE State=UP$/m);
    expect(conf).toMatch(/^PartitionName=dyn Nodes=dyn .* SuspendTime=INFINITE State=UP$/m);
    expect(conf).toMatch(/^PartitionName=cloud Nodes=dncl-0 /m);
    expect(conf).not.toMatch(/^PartitionName=cloud .*SuspendTime/m);
    // 1 named + 2 dynamic + 1 cloud node.
    expect(conf).toMatch(/^MaxNodeCount=4$/m);
    // Only names that exist at start-up: 22.05 drops the whole list over one unknown name.
    expect(conf).toMatch(/^SuspendExcNodes=dngpu-0$/m);
    expect(conf).not.toMatch(/^SuspendExcStates=/m);
    expect(c.files.get('gres.conf')).toMatch(/^NodeName=dyn-\[0-1\] Name=gpu Type=fake File=\/dev\/nvidia\[0-1\]$/m);
    expect(c.rendered.get('dyn-1')?.env).toMatchObject({
      SLURMD_MODE: 'dynamic',
      SLURMD_NODENAME: 'dyn-1',
      SLURMD_DYNAMIC_CONF: 'CPUs=1 RealMemory=1000 Gres=gpu:fake:2 Feature=dyn,docker Weight=10',
      GPU_COUNT: '2',
      GPU_TYPE: 'fake',
    });
  });

  test('both dynamic nodes registered, idle, with GRES, features and the address they came from', async () => {
    const states = await c.nodeStates();
    for (const n of [...c.computeNames, ...DYN]) expect(states.get(n)).toBe('idle');
    // The controller cannot resolve them: the addresses below came from the registrations.
    expect((await c.ctl.sh('getent hosts dyn-0')).code).not.toBe(0);
    for (const n of DYN) {
      const node = await c.client(`scontrol show node -o ${n}`);
      expect(node).toMatch(/\bGres=gpu:fake:2\b/);
      expect(node).toMatch(/\bAvailableFeatures=dyn,docker\b/);
      expect(node).toMatch(/\bState=IDLE\+DYNAMIC_NORM\b/);
      expect(node).toMatch(/\bWeight=10\b/);
      expect(node).toMatch(new RegExp(`\\bNodeAddr=${c.cluster.ipOf(n).replace(/\./g, '\\.')}\\s`));
    }
    const parts = new Map<string, string[]>();
    for (const line of (await c.client('scontrol show partition -o')).split('\n').filter(Boolean)) {
      parts.set(/PartitionName=(\S+)/.exec(line)?.[1] ?? '', expandHostlist(/\bNodes=(\S+)/.exec(line)?.[1] ?? '').sort());
    }
    expect(parts.get('dyn')).toEqual(DYN);
    expect(parts.get('all')).toEqual(['dngpu-0', ...DYN]);
    expect((await c.client('sinfo -h -p dyn -o "%P %D %t"')).trim()).toBe('dyn 2 idle');
  });

  test('a GPU job on a dynamic node gets CUDA_VISIBLE_DEVICES from the configless gres.conf', async () => {
    const script = '#!/bin/bash\necho "${CUDA_VISIBLE_DEVICES-unset}"\n';
    const one = await c.sbatch('-p dyn -w dyn-0 --gres=gpu:1 -o /shared/dyn1-%j.out', script);
    const two = await c.sbatch('-p dyn -w dyn-1 --gres=gpu:2 -o /shared/dyn2-%j.out', script);
    for (const id of [one, two]) expect((await c.waitJobState(id, FINAL, 60_000)).JobState).toBe('COMPLETED');
    const read = (f: string) =>
      waitFor(() => (fs.existsSync(c.sharedPath(f)) ? fs.readFileSync(c.sharedPath(f), 'utf8') : undefined), 10_000, `output ${f}`);
    expect(await read(`dyn1-${one}.out`)).toBe('0\n');
    expect(await read(`dyn2-${two}.out`)).toBe('0,1\n');
  }, 120_000);

  test('srun -N3 spans the named node and both dynamic nodes', async () => {
    const out = await c.client('srun -N3 -p all hostname', 30_000);
    expect(out.trim().split('\n').sort()).toEqual(['dngpu-0', ...DYN]);
  }, 60_000);

  // Without the partitions' SuspendTime=INFINITE, 22.05.8 suspended dyn-[0-1] here (SuspendProgram got
  // "dyn-[0-1]", sinfo showed idle%), whether they were named in SuspendExcNodes (slurmctld: "Invalid
  // SuspendExcNodes … ignored") or their partition in SuspendExcParts.
  test('power saving suspends neither the named nor the dynamic nodes', async () => {
    // Idle well past SuspendTime plus slurmctld's power-save passes (suspension came within ~25 s).
    const wait = SUSPEND_TIME_SEC * 1000 + 25_000 - (Date.now() - bootedAt);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const states = await c.nodeStates();
    for (const n of [...c.computeNames, ...DYN]) expect(states.get(n)).toBe('idle');
    const log = fs.existsSync(c.sharedPath('suspend.log')) ? fs.readFileSync(c.sharedPath('suspend.log'), 'utf8') : '';
    expect(log).not.toMatch(/dyn|dngpu/);
    const ctlLog = c.ctl.readFile('/var/log/slurm/slurmctld.log') ?? '';
    expect(ctlLog).not.toMatch(/Invalid SuspendExc/);
    expect(await c.client('scontrol show config')).toMatch(/^SuspendExcNodes\s+= dngpu-0$/m);
  }, 60_000);

  test('a third dynamic node beyond count is refused: MaxNodeCount is full', async () => {
    const r = await c.provision('dyn-2');
    // The bootstrap does not fail (slurmd keeps retrying), it warns.
    expect(r.stdout + r.stderr).toMatch(/node dyn-2 has not registered with dn-ctl:6817/);
    const node = await c.ctl.sh('scontrol show node -o dyn-2');
    expect(node.code).not.toBe(0);
    expect(node.stdout + node.stderr).toMatch(/Node dyn-2 not found/);
    expect(c.ctl.readFile('/var/log/slurm/slurmctld.log')).toMatch(/Unable to add node 'dyn-2', node table is full/);
    expect((await c.nodeStates()).has('dyn-2')).toBe(false);
    // The registered ones are untouched.
    expect((await c.client('sinfo -h -p dyn -o "%D %t"')).trim()).toBe('2 idle');
  }, 60_000);
});
