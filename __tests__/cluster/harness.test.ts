/**
 * The harness itself: nodes are isolated from the host and from each other the way the cluster
 * tests rely on, and teardown leaves nothing behind.
 */
import * as fs from 'fs';
import { describeCluster, VirtualCluster } from './harness';

describeCluster('virtual cluster harness', () => {
  let cluster: VirtualCluster | undefined;
  afterAll(async () => {
    await cluster?.teardown();
  });

  test('nodes have their own hostname, network, /dev, /etc and /tmp; teardown is complete', async () => {
    cluster = await VirtualCluster.create({ id: 'hs', subnet: '10.213.9', nodes: ['hs-a', 'hs-b'] });
    const [a, b] = cluster.nodes;
    expect((await a.shOk('hostname')).stdout.trim()).toBe('hs-a');
    expect((await b.shOk('cat /etc/hostname')).stdout.trim()).toBe('hs-b');
    expect((await a.shOk('getent hosts hs-b')).stdout).toMatch(/^10\.213\.9\.11\s+hs-b/);

    // Only the test subnet is routed: no default route, the outside is unreachable.
    const routes = (await a.shOk('ip -4 route')).stdout;
    expect(routes).not.toMatch(/default/);
    expect(routes).toMatch(/10\.213\.9\.0\/24 dev eth0/);
    const out = await a.sh('exec 3<>/dev/tcp/1.1.1.1/53', { timeoutMs: 5000 });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/unreachable/i);

    // A TCP connection across the bridge (python3 is cloud-init's dependency, so it is on the image).
    const server = b.sh('cd /tmp && /usr/bin/python3 -c "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind((\'0.0.0.0\',7777));s.listen();c,_=s.accept();c.sendall(open(\'/etc/hostname\',\'rb\').read());c.close()"', { timeoutMs: 10000 });
    const client = await a.sh(
      'for i in $(seq 50); do if out=$(exec 3<>/dev/tcp/hs-b/7777 && cat <&3) 2>/dev/null; then echo "$out"; exit 0; fi; sleep 0.1; done; exit 1',
      { timeoutMs: 10000 },
    );
    expect(client.stdout.trim()).toBe('hs-b');
    expect((await server).code).toBe(0);

    // Writes stay in the node: /etc, /dev (device nodes), /tmp.
    const probe = `cdktf-slurm-harness-probe-${process.pid}`;
    await a.shOk(`echo node-a > /etc/cdktf-slurm-harness-probe && mknod /dev/nvidia7 c 195 7 && touch /tmp/${probe}`);
    expect(fs.existsSync('/etc/cdktf-slurm-harness-probe')).toBe(false);
    expect(fs.existsSync(`/tmp/${probe}`)).toBe(false);
    expect((await b.sh(`ls /tmp/${probe}`)).code).not.toBe(0);
    expect(fs.existsSync('/dev/nvidia7')).toBe(false);
    expect((await b.sh('cat /etc/cdktf-slurm-harness-probe')).code).not.toBe(0);
    expect((await b.sh('ls /dev/nvidia7')).code).not.toBe(0);
    expect(a.readFile('/etc/cdktf-slurm-harness-probe')).toBe('node-a\n');
    // /shared is one directory for all nodes.
    await a.shOk('echo shared > /shared/x');
    expect((await b.shOk('cat /shared/x')).stdout).toBe('shared\n');
    // The cgroup mounts are visible inside a node.
    expect((await a.shOk('ls /sys/fs/cgroup')).stdout.length).toBeGreaterThan(0);

    // A daemon-like process started in a node is found and killed by teardown.
    await a.shOk('setsid sleep 1000 >/dev/null 2>&1 < /dev/null & echo started');
    expect(a.pids().length).toBeGreaterThan(0);
    await cluster.teardown();
    expect(cluster.leftovers()).toEqual([]);
  });
});
