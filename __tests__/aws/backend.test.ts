/**
 * The cluster constructs on the AWS backend (BastionVpc): bad input fails when the construct is made (or at synth, for what needs the
 * whole cluster), before anything is written, with the construct path, the field, the value and a fix.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, TerraformStack, Testing } from 'cdktf';
import * as fs from 'fs';
import * as path from 'path';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool, ComputeNodePoolProps } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';

function cluster(controllerProps: Partial<SlurmControllerProps> = {}) {
  const app = new App({ outdir: fs.mkdtempSync(path.join(Testing.app().outdir, 'bad-')) });
  const stack = new TerraformStack(app, 'bad');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...controllerProps });
  return { app, stack, network, controller };
}

describe('ComputeNodePool', () => {
  const pool = (props: Partial<ComputeNodePoolProps>) => {
    const { stack, controller } = cluster();
    return () => new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), ...props } as ComputeNodePoolProps);
  };
  test.each<[string, Partial<ComputeNodePoolProps>, RegExp]>([
    ['both count and maxCount', { count: 2, maxCount: 4 }, /bad\/Gpu: count\/maxCount = \{"count":2,"maxCount":4\}: give exactly one\. Use count/],
    ['neither count nor maxCount', {}, /bad\/Gpu: count\/maxCount = \{\}: give exactly one/],
    ['zero nodes', { count: 0 }, /bad\/Gpu: count = 0: must be a whole number ≥ 1\. Set how many nodes/],
    ['negative maxCount', { maxCount: -3 }, /bad\/Gpu: maxCount = -3: must be a whole number ≥ 1/],
    ['fractional count', { count: 1.5 }, /bad\/Gpu: count = 1\.5: must be a whole number/],
    ['minCount above maxCount', { maxCount: 2, minCount: 3 }, /bad\/Gpu: minCount = 3: is above maxCount 2\. Lower minCount or raise maxCount/],
    ['minCount with count', { count: 2, minCount: 1 }, /bad\/Gpu: minCount = 1: applies only to on-demand pools/],
    ['GPU count that disagrees with the type', { count: 1, gpus: { count: 8 } }, /bad\/Gpu.*gpus\.count.*8.*4/s],
    ['GPU type that disagrees with the type', { count: 1, gpus: { type: 'h100' } }, /bad\/Gpu.*gpus\.type.*h100.*a10g/s],
    ['unknown type without hardware', { count: 1, nodes: Ec2Nodes.of({ instanceType: 'x9z.huge' }) }, /bad\/Gpu.*nodes\.cpus.*x9z\.huge/s],
    ['GPUs on a CPU type', { count: 1, nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), gpus: { count: 1 } }, /bad\/Gpu.*gpus.*c6i\.large/s],
    ['a pool name Slurm nodes cannot have', { count: 1, name: 'GPU_Pool' }, /bad\/Gpu: .*name.*GPU_Pool/s],
  ])('%s', (_what, props, message) => {
    expect(pool(props)).toThrow(message);
  });

  test('two pools with one name', () => {
    const { stack, controller } = cluster();
    new ComputeNodePool(stack, 'A', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.xlarge' }), count: 1 });
    expect(() => new ComputeNodePool(stack, 'B', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.xlarge' }), count: 1 })).toThrow(
      /bad\/Ctl: a node pool named 'gpu' is already registered; pool names must be unique/,
    );
  });
});

describe('partitions', () => {
  test('a partition with no pools', () => {
    const { stack, controller } = cluster();
    expect(() => new Partition(stack, 'Debug', { controller, pools: [] })).toThrow(
      /bad\/Debug: pools = \[\]: a partition needs at least one node pool\. Pass the ComputeNodePool/,
    );
  });

  test('a GPU partition over a CPU pool', () => {
    const { stack, controller } = cluster();
    const cpu = new ComputeNodePool(stack, 'Cpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'c6i.2xlarge' }), count: 1 });
    expect(() => new GpuPartition(stack, 'Gpu', { controller, pools: [cpu] })).toThrow(
      /bad\/Gpu: pools = \["bad\/Cpu"\]: these pools have no GPUs\. Put CPU pools in a Partition/,
    );
  });

  test('two partitions with one name', () => {
    const { stack, controller } = cluster();
    const cpu = new ComputeNodePool(stack, 'Cpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'c6i.2xlarge' }), count: 1 });
    new Partition(stack, 'A', { controller, name: 'debug', pools: [cpu] });
    expect(() => new Partition(stack, 'B', { controller, name: 'debug', pools: [cpu] })).toThrow(/partition named 'debug' is already registered/);
  });

  test('defaults per GPU come from the smallest pool: cpus and memory divided by GPUs', () => {
    const { stack, controller } = cluster();
    const g = new ComputeNodePool(stack, 'G', { controller, nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1 });
    const part = new GpuPartition(stack, 'Gpu', { controller, pools: [g] });
    expect(part.spec.defCpuPerGpu).toBe(12);
    expect(part.spec.defMemPerGpuMiB).toBe(Math.floor(g.spec.hardware.realMemoryMiB / 4));
  });
});

describe('SlurmController', () => {
  test.each<[string, Partial<SlurmControllerProps>, RegExp]>([
    ['a cluster name Slurm rejects', { clusterName: 'My-Cluster' }, /bad\/Ctl: clusterName = "My-Cluster": .*lower-case.*Use a name such as 'hpc'/],
    ['an address AWS reserves', { hostIndex: 2 }, /bad\/Ctl: hostIndex = 2: AWS reserves the first four addresses/],
    ['an address outside the subnet', { hostIndex: 300 }, /bad\/Ctl: hostIndex = 300: .*Pick an index inside 10\.0\.1\.0\/24/],
    ['an unsupported Slurm release', { slurmVersion: '21.08' as never }, /bad\/Ctl: slurmVersion = "21\.08": not a supported Slurm release\. Use one of 22\.05, 23\.11, 24\.11/],
    ['a tiny state volume', { stateVolumeSizeGiB: 1 }, /bad\/Ctl: stateVolumeSizeGiB = 1: must be a whole number of GiB from 8/],
  ])('%s', (_what, props, message) => {
    expect(() => cluster(props)).toThrow(message);
  });

  test('a pool in no partition fails synth with the controller path, before any file is written', () => {
    const { app, stack, controller } = cluster();
    const used = new ComputeNodePool(stack, 'Used', { controller, name: 'used', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
    new Partition(stack, 'Debug', { controller, pools: [used] });
    new ComputeNodePool(stack, 'Orphan', { controller, name: 'orphan', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
    expect(() => app.synth()).toThrow(/bad\/Ctl: nodePools\[1\]\S* = "orphan": .*partition/);
    expect(fs.existsSync(path.join(app.outdir, 'stacks', 'bad', 'cdk.tf.json'))).toBe(false);
  });
});

describe('LoginNode', () => {
  const { gunzipSync } = require('zlib') as typeof import('zlib');
  const { parse } = require('yaml') as typeof import('yaml');

  test('on Slurm 22.05 (no sackd) its user-data carries the client configuration, never slurmdbd.conf', () => {
    const { app, stack, controller } = cluster({ slurmVersion: '22.05' });
    const cpu = new ComputeNodePool(stack, 'Cpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'c6i.2xlarge' }), count: 1 });
    new Partition(stack, 'Debug', { controller, pools: [cpu] });
    new LoginNode(stack, 'Login', { controller });
    app.synth();
    const tf = JSON.parse(fs.readFileSync(path.join(app.outdir, 'stacks', 'bad', 'cdk.tf.json'), 'utf8'));
    const login = Object.values(tf.resource.aws_instance as Record<string, any>).find((i) => i.tags['slurm:role'] === 'login');
    const doc = parse(gunzipSync(Buffer.from(login.user_data_base64, 'base64')).toString('utf8'));
    const staged = (doc.write_files as { path: string; content: string }[]).filter((f) => f.path.startsWith('/etc/cdktf-slurm/slurm/'));
    expect(staged.map((f) => f.path).sort()).toEqual(
      ['cgroup.conf', 'gres.conf', 'slurm.conf'].map((n) => `/etc/cdktf-slurm/slurm/${n}`),
    );
    // Rendered at synth from the whole cluster: the partition added before synth is in it.
    expect(staged.find((f) => f.path.endsWith('slurm.conf'))!.content).toMatch(/^PartitionName=debug Nodes=cpu-0 /m);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['the controller address', { hostIndex: 10 }, /bad\/Login: hostIndex = 10: 10\.0\.1\.10 is the controller's address\. Use another index/],
    ['a reserved address', { hostIndex: 1 }, /bad\/Login: hostIndex = 1: AWS reserves the first four addresses/],
    ['a bad host name', { hostname: 'Login_1' }, /bad\/Login: hostname = "Login_1": not a host name/],
  ])('refuses %s', (_what, props, message) => {
    const { stack, controller } = cluster();
    expect(() => new LoginNode(stack, 'Login', { controller, ...props })).toThrow(message);
  });
});
