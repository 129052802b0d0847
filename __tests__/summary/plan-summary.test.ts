/**
 * The plan summary: assembled from what each construct describes, printed on synth and written beside every
 * shipped stack (Markdown with a Mermaid diagram, and JSON), with a cost estimate computed from the shipped
 * (or the user's) price table.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, TerraformStack } from 'cdktf';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool, ComputeNodePoolProps } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { ClusterPlan, CostEstimate, DEFAULT_PRICES, HOURS_PER_MONTH } from '../../lib/summary';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';

type Written = { plan: ClusterPlan; cost: CostEstimate };

let outdir: string;
const infos = new Map<string, string[]>();

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-summary-'));
  const app = new App({ outdir, stackTraces: false });
  const stacks = Object.entries(SHIPPED_STACKS).map(([name, make]) => make(app, name));
  app.synth();
  for (const stack of stacks) {
    infos.set(
      stack.node.id,
      stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === '@cdktf/info').map((m) => String(m.data))),
    );
  }
}, 120_000);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

const CLUSTERS: Record<string, string> = { 'aws-gpu': 'awsgpu', 'hybrid-gpu': 'hybrid', 'gcp-a3mega': 'a3mega', 'ceph-lab': 'cephlab' };

function written(stack: string): Written {
  return JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', stack, `cluster-${CLUSTERS[stack]}.json`), 'utf8')) as Written;
}
function markdown(stack: string): string {
  return fs.readFileSync(path.join(outdir, 'stacks', stack, `cluster-${CLUSTERS[stack]}.md`), 'utf8');
}
const price = (type: string): number => DEFAULT_PRICES.hourly[type];
const storage = (key: string, gib: number): number => (DEFAULT_PRICES.perGiBMonth[key] * gib) / HOURS_PER_MONTH;

describe.each(Object.keys(CLUSTERS))('%s', (stack) => {
  test('writes the summary and a Mermaid diagram beside cdk.tf.json, and prints the summary on synth', () => {
    expect(fs.existsSync(path.join(outdir, 'stacks', stack, 'cdk.tf.json'))).toBe(true);
    const md = markdown(stack);
    const mermaid = md.slice(md.indexOf('```mermaid') + 10, md.indexOf('```', md.indexOf('```mermaid') + 10));
    const lines = mermaid.trim().split('\n');
    expect(lines[0]).toBe('flowchart LR');
    // Every subgraph closed; every node an edge names is declared.
    expect(lines.filter((l) => /^\s*subgraph /.test(l)).length).toBe(lines.filter((l) => l.trim() === 'end').length);
    const declared = new Set(lines.map((l) => /^\s*([A-Za-z0-9_]+)[[(]/.exec(l)?.[1]).filter(Boolean));
    for (const edge of lines.filter((l) => /--|-\./.test(l) && !/^\s*subgraph/.test(l))) {
      const ends = edge.trim().split(/\s+/).filter((t) => /^[A-Za-z0-9_]+$/.test(t) && t !== 'scrapes');
      for (const id of ends) expect(declared).toContain(id);
    }
    expect(mermaid).toContain('ctl[');
    const summary = (infos.get(stack) ?? []).find((i) => i.startsWith(`plan summary of cluster ${CLUSTERS[stack]}`));
    expect(summary).toBeDefined();
    expect(md).toContain(summary);
    expect(summary).toMatch(/ESTIMATE ONLY \(USD list prices of 2025-06/);
  });

  test("every pool and file system of the stack appears in the diagram", () => {
    const { plan } = written(stack);
    const md = markdown(stack);
    for (const p of plan.pools) expect(md).toContain(`pool_${p.name.replace(/[^A-Za-z0-9_]/g, '_')}[`);
    for (const f of plan.fileSystems) expect(md).toContain(`fs_${f.name.replace(/[^A-Za-z0-9_]/g, '_')}[(`);
  });
});

test('aws-gpu: pools, GPUs, partitions, storage, endpoints and cost as built', () => {
  const { plan, cost } = written('aws-gpu');
  expect(plan.pools.map((p) => [p.name, p.cloud, p.instanceType, p.staticNodes, p.maxNodes, p.gpusPerNode, p.gpuModel, p.fabric])).toEqual([
    ['g5', 'aws', 'g5.12xlarge', 2, 2, 4, 'a10g', undefined],
    ['p5', 'aws', 'p5.48xlarge', 0, 4, 8, 'h100', 'EFA'],
  ]);
  expect(plan.controller.partitions).toEqual([
    { name: 'gpu', pools: ['g5'], isDefault: true },
    { name: 'h100', pools: ['p5'], isDefault: false },
  ]);
  expect(plan.fileSystems.map((f) => [f.mountPoint, f.type, f.capacityGiB])).toEqual([
    ['/lustre', 'FSx for Lustre', 2400],
    ['/home', 'NFS v4', 200],
  ]);
  for (const p of plan.pools) expect(p.mounts).toEqual(['/lustre', '/home']);
  expect(plan.endpoints.map((e) => e.name)).toEqual(['bastion', 'login slurm-login', 'Grafana']);
  // Idle: everything always on; full adds the four on-demand p5 nodes and nothing else.
  const idle =
    price('t3.micro') + price('aws:nat-gateway') + price('m6i.xlarge') + storage('aws:ebs-gp3', 50) + price('t3.large') +
    price('m6i.large') + storage('aws:ebs-gp3', 100) + storage('aws:fsx-lustre-persistent2-250', 2400) +
    storage('aws:ebs-gp3', 200) + 2 * price('g5.12xlarge');
  expect(cost.idlePerHour).toBeCloseTo(idle, 6);
  expect(cost.fullPerHour - cost.idlePerHour).toBeCloseTo(4 * price('p5.48xlarge'), 6);
  expect(cost.unpriced).toEqual([]);
});

test('gcp-a3mega: the 8 GPU networks, TCPXO pools and Managed Lustre', () => {
  const { plan, cost } = written('gcp-a3mega');
  expect(plan.networks).toEqual([expect.objectContaining({ cloud: 'gcp', gpuNetworks: 8, access: expect.stringMatching(/^IAP/) })]);
  expect(plan.pools.find((p) => p.name === 'a3mega')).toEqual(
    expect.objectContaining({ instanceType: 'a3-megagpu-8g', staticNodes: 2, gpusPerNode: 8, gpuModel: 'h100', fabric: 'GPUDirect-TCPXO' }),
  );
  expect(plan.fileSystems).toEqual([expect.objectContaining({ type: 'Managed Lustre', mountPoint: '/home', capacityGiB: 9000, priceKey: 'gcp:managed-lustre-1000' })]);
  expect(cost.lines.find((l) => l.item.startsWith('pool a3mega'))?.idle).toBeCloseTo(2 * price('a3-megagpu-8g'), 6);
});

test("hybrid-gpu: the on-prem Docker pool sits on the mesh and is not priced (it is the user's hardware)", () => {
  const { plan, cost } = written('hybrid-gpu');
  expect(plan.pools).toEqual([expect.objectContaining({ name: 'gpu', cloud: 'docker', gpusPerNode: 1, gpuModel: 'rtx3070', fabric: 'mesh' })]);
  expect(plan.controller.mesh).toBe('Tailscale');
  expect(cost.lines.some((l) => l.item.includes('pool'))).toBe(false);
  expect(markdown('hybrid-gpu')).toMatch(/subgraph onprem[\s\S]*pool_gpu[\s\S]*end[\s\S]*mesh --- pool_gpu/);
});

test('ceph-lab: the MicroCeph server and its OSD disks are priced', () => {
  const { plan, cost } = written('ceph-lab');
  expect(plan.fileSystems).toEqual([expect.objectContaining({ type: 'CephFS', capacityGiB: 30, serverInstanceType: 'm6i.large' })]);
  expect(cost.lines.map((l) => l.item)).toEqual(expect.arrayContaining([expect.stringMatching(/server \(1× m6i\.large\)/), expect.stringMatching(/CephFS \(30 GiB\)/)]));
});

describe('a user cluster', () => {
  function synthUserCluster(
    extra: Partial<SlurmControllerProps>,
    pool: Partial<ComputeNodePoolProps> = { nodes: Ec2Nodes.of({ instanceType: 'g6.xlarge' }) },
    withPartition = true,
  ): { dir: string; infos: string[]; error?: Error } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-user-'));
    const app = new App({ outdir: dir, stackTraces: false });
    const stack = new TerraformStack(app, 'mine');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.20.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'mine', ...extra });
    const gpus = new ComputeNodePool(stack, 'Gpu', { controller, maxCount: 3, ...pool } as ComputeNodePoolProps);
    if (withPartition) new GpuPartition(stack, 'Part', { controller, name: 'gpu', pools: [gpus], default: true });
    let error: Error | undefined;
    try {
      app.synth();
    } catch (e) {
      error = e as Error;
    }
    const notes = stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === '@cdktf/info').map((m) => String(m.data)));
    return { dir, infos: notes, error };
  }

  test('takes its own prices over the shipped table', () => {
    const { dir } = synthUserCluster({ planSummary: { prices: { hourly: { 'g6.xlarge': 1.5 } } } });
    try {
      const { cost } = JSON.parse(fs.readFileSync(path.join(dir, 'stacks', 'mine', 'cluster-mine.json'), 'utf8')) as Written;
      expect(cost.fullPerHour - cost.idlePerHour).toBeCloseTo(3 * 1.5, 6);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lists what the table cannot price instead of guessing', () => {
    const { dir, infos: printed } = synthUserCluster({}, { nodes: Ec2Nodes.of({ instanceType: 'g6e.2xlarge', cpus: 8, realMemoryMiB: 60000 }), gpus: { type: 'l40s', count: 1 } });
    try {
      expect(printed.join('\n')).toMatch(/not priced \(add them with planSummary\.prices\): pool gpu: g6e\.2xlarge/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('planSummary: false writes and prints nothing', () => {
    const { dir, infos: printed } = synthUserCluster({ planSummary: false });
    try {
      expect(fs.existsSync(path.join(dir, 'stacks', 'mine', 'cdk.tf.json'))).toBe(true);
      expect(fs.readdirSync(path.join(dir, 'stacks', 'mine'))).toEqual(['cdk.tf.json']);
      expect(printed.filter((i) => i.startsWith('plan summary'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a cluster that fails validation gets no summary written', () => {
    // No partition: the cluster model fails when the stack synthesizes, after every construct was made.
    const { dir, error } = synthUserCluster({}, { nodes: Ec2Nodes.of({ instanceType: 'g6.xlarge' }) }, false);
    try {
      expect(error?.message).toMatch(/has no partitions/);
    } finally {
      expect(fs.existsSync(path.join(dir, 'stacks', 'mine', 'cluster-mine.md'))).toBe(false);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The README links the committed copies in docs/clusters/ (GitHub renders the Mermaid); they must be what synth
 * writes today. Refresh them with `UPDATE_CLUSTER_DOCS=1 npx jest __tests__/summary`.
 */
test.each(Object.keys(CLUSTERS))('docs/clusters/%s.md is the summary synth writes', (stack) => {
  const committed = path.join(__dirname, '..', '..', 'docs', 'clusters', `${stack}.md`);
  if (process.env.UPDATE_CLUSTER_DOCS) {
    fs.mkdirSync(path.dirname(committed), { recursive: true });
    fs.writeFileSync(committed, markdown(stack));
  }
  expect(fs.readFileSync(committed, 'utf8')).toBe(markdown(stack));
});
