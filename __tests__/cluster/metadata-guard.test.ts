/**
 * The metadata guard on real daemons: a controller, a compute node and a login node booted from the library's
 * rendered cloud-config (bootcmd, then the bootstrap with its `metadata-guard` step, as EC2 and Compute Engine
 * hosts get it: `METADATA_GUARD='1'` is what Ec2Nodes, GceNodes and the cloud login hosts put in node.env, see
 * __tests__/security/metadata-guard.test.ts). A stand-in metadata server listens on 169.254.169.254 beyond each
 * node's eth0. On the compute and the login host an unprivileged user, and a job, cannot reach it; root can; the
 * node still runs jobs and the login host still submits them.
 *
 * Subnet 10.213.4.0/24, cluster `mg` (see README.md's table).
 */
import { describeCluster, SlurmTestCluster } from './harness';

describeCluster('metadata endpoint for root only on compute and login hosts, on real daemons', () => {
  const guard = { METADATA_GUARD: '1' };
  const c = new SlurmTestCluster({
    id: 'mg',
    subnet: '10.213.4',
    computeCount: 1,
    gpusPerNode: 1,
    accounting: false,
    computeEnv: guard,
    extraNodes: () => [{ name: 'mg-login', roles: ['login'], env: guard }],
    beforeProvision: async (cluster) => cluster.cluster.startMetadataServer(),
  });
  const probe = (uid: number) => `timeout 5 setpriv --reuid=${uid} --regid=${uid} --clear-groups bash -c 'exec 3<>/dev/tcp/169.254.169.254/80' && echo open || echo refused`;

  beforeAll(async () => {
    await c.boot();
    await c.waitNodesIdle(c.computeNames, 60_000);
  }, 240_000);

  afterAll(async () => {
    await c.teardown();
  }, 60_000);

  test('the controller, which has no user shells, is left open, so the stand-in is really reachable', async () => {
    expect((await c.ctl.shOk(probe(65534))).stdout.trim()).toBe('open');
  });

  test.each(['compute', 'login'])('on the %s host root reaches the endpoint and an unprivileged user is refused', async (kind) => {
    const node = c.cluster.node(kind === 'compute' ? c.computeNames[0] : 'mg-login');
    expect((await node.shOk(probe(0))).stdout.trim()).toBe('open');
    expect((await node.shOk(probe(65534))).stdout.trim()).toBe('refused');
    expect((await node.shOk('iptables -S OUTPUT | grep -m1 "^-A OUTPUT"')).stdout.trim()).toBe('-A OUTPUT -d 169.254.169.254/32 -j CDKTF_SLURM_METADATA');
  });

  test('a job run as an unprivileged user on the compute node is refused too, and the login host still submits', async () => {
    const login = c.cluster.node('mg-login');
    const r = await login.shOk(`srun --uid=65534 -N1 -t 1 bash -c 'exec 3<>/dev/tcp/169.254.169.254/80 && echo job:open || echo job:refused' 2>&1`, { timeoutMs: 60_000 });
    expect(r.stdout).toContain('job:refused');
    const asRoot = await login.shOk(`srun -N1 -t 1 bash -c 'exec 3<>/dev/tcp/169.254.169.254/80 && echo job:open || echo job:refused' 2>&1`, { timeoutMs: 60_000 });
    expect(asRoot.stdout).toContain('job:open');
  });
});
