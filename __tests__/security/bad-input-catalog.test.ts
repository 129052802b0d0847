/**
 * The bad-input catalog: invalid configurations across the constructs, each in a fresh app with its own output
 * directory. Each must fail — at construction or at synth's validation — before anything is written, with one
 * message that names the construct path, the field, the bad value, and a fix.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { App, TerraformStack, TerraformVariable } from 'cdktf';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BastionVpc, BastionVpcProps } from '../../lib/constructs/bastion-vpc';
import { CephFs } from '../../lib/constructs/ceph-fs';
import { ExistingCephFs } from '../../lib/constructs/existing-ceph-fs';
import { MicroCephServer } from '../../lib/aws/microceph-server';
import { ComputeNodePool, ComputeNodePoolProps } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { LoginNode } from '../../lib/constructs/login-node';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { ExistingLustre } from '../../lib/constructs/existing-lustre';
import { FsxLustre } from '../../lib/aws/fsx-lustre';
import { ManagedLustre } from '../../lib/gcp/managed-lustre';
import { MonitoringStack } from '../../lib/constructs/monitoring-stack';
import { NfsShare } from '../../lib/constructs/nfs-share';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { Ec2Instance } from '../../lib/aws/ec2-instance';
import { GceInstance } from '../../lib/gcp/gce-instance';

interface Ctx { app: App; stack: TerraformStack }
/** [name, build, construct path, field, a piece of the value as the message shows it] */
type Case = [string, (c: Ctx) => void, string, string, string];

const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const net = (c: Ctx, props: Partial<BastionVpcProps> = {}) => new BastionVpc(c.stack, 'Net', { cidr: '10.0.0.0/16', ...props });
const ctl = (c: Ctx, props: Partial<SlurmControllerProps> = {}) => new SlurmController(c.stack, 'Ctl', { network: net(c), clusterName: 'hpc', ...props });
const pool = (c: Ctx, props: Partial<ComputeNodePoolProps> = {}, controller = ctl(c)) =>
  new ComputeNodePool(c.stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2, ...props } as ComputeNodePoolProps);
/** A complete cluster (one pool, one default partition), for failures that appear only when it synthesizes. */
const cluster = (c: Ctx, props: Partial<SlurmControllerProps> = {}) => {
  const controller = ctl(c, props);
  const p = pool(c, {}, controller);
  new GpuPartition(c.stack, 'Part', { controller, name: 'gpu', pools: [p], default: true });
  return { controller, p };
};
const gcp = (c: Ctx) => {
  const stack = c.stack;
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  return new GcpClusterNetwork(stack, 'GNet', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
};

const CASES: Case[] = [
  // BastionVpc
  ['an invalid VPC CIDR', (c) => net(c, { cidr: '10.0.0/16' }), 'cat/Net', 'cidr', '10.0.0/16'],
  ['a VPC CIDR with host bits', (c) => net(c, { cidr: '10.0.1.0/16' }), 'cat/Net', 'cidr', '10.0.1.0/16'],
  ['a /8 VPC', (c) => net(c, { cidr: '10.0.0.0/8' }), 'cat/Net', 'cidr', '10.0.0.0/8'],
  ['zero availability zones', (c) => net(c, { availabilityZoneCount: 0 }), 'cat/Net', 'availabilityZoneCount', '0'],
  ['SSH from an IPv6 range', (c) => net(c, { sshAllowedCidrs: ['2001:db8::/32'] }), 'cat/Net', 'sshAllowedCidrs[0]', '2001:db8::/32'],
  ['srun ports over slurmrestd', (c) => net(c, { srunPortRange: [6820, 6900] }), 'cat/Net', 'srunPortRange', '6820'],
  ['a bastion instance type that is none', (c) => net(c, { bastionInstanceType: 'micro' }), 'cat/Net', 'bastionInstanceType', 'micro'],
  ['a bastion AMI that is none', (c) => net(c, { bastionAmiId: 'ubuntu' }), 'cat/Net', 'bastionAmiId', 'ubuntu'],
  // SlurmController
  ['a cluster name Slurm rejects', (c) => ctl(c, { clusterName: 'HPC-Cluster' }), 'cat/Ctl', 'clusterName', 'HPC-Cluster'],
  ['an unsupported Slurm version', (c) => ctl(c, { slurmVersion: '21.08' as never }), 'cat/Ctl', 'slurmVersion', '21.08'],
  ['a controller address among AWS\'s reserved ones', (c) => ctl(c, { hostIndex: 2 }), 'cat/Ctl', 'hostIndex', '2'],
  ['a 4 GiB state volume', (c) => ctl(c, { stateVolumeSizeGiB: 4 }), 'cat/Ctl', 'stateVolumeSizeGiB', '4'],
  ['Compute Engine settings on AWS', (c) => ctl(c, { instance: GceInstance.of({ machineType: 'n2-standard-8' }) }), 'cat/Ctl', 'instance', 'n2-standard-8'],
  ['a literal Tailscale key', (c) => ctl(c, { mesh: { tailscale: { authKey: 'tskey-auth-abc' } } }), 'cat/Ctl', 'mesh.tailscale.authKey', 'characters'],
  ['a shared directory without a mesh', (c) => ctl(c, { sharedDirectory: {} }), 'cat/Ctl', 'sharedDirectory', '{}'],
  ['job mail through a relay without a port', (c) => ctl(c, { mail: { relay: 'smtp.example.org', from: 'a@example.org' } }), 'cat/Ctl', 'mail.relay', 'smtp.example.org'],
  ['a user with a system name', (c) => ctl(c, { users: [{ name: 'root', uid: 2000 }] }), 'cat/Ctl', 'users[0].name', 'root'],
  ['a user UID below 1000', (c) => ctl(c, { users: [{ name: 'carol', uid: 500 }] }), 'cat/Ctl', 'users[0].uid', '500'],
  // ComputeNodePool
  ['zero nodes', (c) => pool(c, { count: 0 }), 'cat/Gpu', 'count', '0'],
  ['both count and maxCount', (c) => pool(c, { maxCount: 4 }), 'cat/Gpu', 'count/maxCount', '"maxCount":4'],
  ['minCount above maxCount', (c) => pool(c, { count: undefined, maxCount: 2, minCount: 3 }), 'cat/Gpu', 'minCount', '3'],
  ['a GPU count the instance type does not have', (c) => pool(c, { gpus: { count: 8 } }), 'cat/Gpu', 'gpus', '8'],
  ['a GPU model the instance type does not have', (c) => pool(c, { gpus: { type: 'h100' } }), 'cat/Gpu', 'gpus', 'h100'],
  ['GPUs on a CPU instance type', (c) => pool(c, { nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), gpus: { count: 1 } }), 'cat/Gpu', 'gpus', 'c6i.large'],
  ['EFA on a type without it', (c) => pool(c, { nodes: Ec2Nodes.of({ instanceType: 'c6i.large', efa: true }) }), 'cat/Gpu', 'nodes.efa', 'true'],
  ['Compute Engine nodes on an AWS controller', (c) => pool(c, { nodes: GceNodes.of({ machineType: 'n2-standard-8', reservationName: 'r' }) }), 'cat/Gpu', 'nodes', 'n2-standard-8'],
  ['Apptainer with a short checksum', (c) => pool(c, { apptainer: { version: '1.3.6', sha256: 'abc' } }), 'cat/Gpu', 'sha256', 'abc'],
  ['zero GPU shards', (c) => pool(c, { gpus: { shardsPerGpu: 0 } }), 'cat/Gpu', 'shardsPerGpu', '0'],
  // Partitions
  ['a pool no partition uses', (c) => {
    const { controller } = cluster(c);
    new ComputeNodePool(c.stack, 'Orphan', { controller, name: 'orphan', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
  }, 'cat/Ctl', 'nodePools', 'orphan'],
  ['a partition without pools', (c) => { const controller = ctl(c); new Partition(c.stack, 'Other', { controller, name: 'other', pools: [], default: true }); }, 'cat/Other', 'pools', '[]'],
  ['a cluster without partitions', (c) => { pool(c); }, 'cat/Ctl', 'partitions', '[]'],
  // LoginNode
  ['a login node on the controller\'s address', (c) => { const { controller } = cluster(c); new LoginNode(c.stack, 'Login', { controller, hostIndex: 10 }); }, 'cat/Login', 'hostIndex', '10'],
  // LustreFs
  ['an FSx capacity off its increment', (c) => new LustreFs(c.stack, 'Fs', { controller: ctl(c), fileSystem: FsxLustre.of({ storageCapacityGiB: 1000 }) }), 'cat/Fs', 'fileSystem.storageCapacityGiB', '1000'],
  ['Managed Lustre on AWS', (c) => new LustreFs(c.stack, 'Fs', { controller: ctl(c), fileSystem: ManagedLustre.of({ capacityGiB: 9000 }) }), 'cat/Fs', 'fileSystem', 'ManagedLustre.of({ capacityGiB: 9000 })'],
  ['an existing Lustre without a file system name', (c) => new LustreFs(c.stack, 'Fs', { controller: ctl(c), fileSystem: ExistingLustre.at('10.0.0.5@tcp') }), 'cat/Fs', 'fileSystem.source', '10.0.0.5@tcp'],
  ['a Lustre mount point over /usr', (c) => new LustreFs(c.stack, 'Fs', { controller: ctl(c), fileSystem: ExistingLustre.at('10.0.0.5@tcp:/lfs'), mountPoint: '/usr/lustre' }), 'cat/Fs', 'mountPoint', '/usr/lustre'],
  // CephFs
  ['a CephFS without an fsid', (c) => new CephFs(c.stack, 'Ceph', { controller: ctl(c), fileSystem: ExistingCephFs.of({ monitors: ['10.0.1.10'], fsid: 'x', clientName: 'slurm', keySecret: 'hpc/filesystems/k' }) }), 'cat/Ceph', 'fileSystem.fsid', 'x'],
  ['a CephFS without monitors', (c) => new CephFs(c.stack, 'Ceph', { controller: ctl(c), fileSystem: ExistingCephFs.of({ monitors: [], fsid: FSID, clientName: 'slurm', keySecret: 'hpc/filesystems/k' }) }), 'cat/Ceph', 'fileSystem.monitors', '[]'],
  ['a MicroCeph with no OSDs', (c) => new CephFs(c.stack, 'Ceph', { controller: ctl(c), fileSystem: MicroCephServer.onEc2({ osdCount: 0 }) }), 'cat/Ceph', 'fileSystem.osdCount', '0'],
  // NfsShare and mounts
  ['an NFS share of a system directory', (c) => new NfsShare(c.stack, 'Home', { controller: ctl(c), path: '/usr/home' }), 'cat/Home', 'path', '/usr/home'],
  ['an NFS disk of 5 GiB', (c) => new NfsShare(c.stack, 'Home', { controller: ctl(c), diskGiB: 5 }), 'cat/Home', 'diskGiB', '5'],
  ['a duplicate mount point', (c) => {
    const { controller, p } = cluster(c);
    new LustreFs(c.stack, 'A', { controller, fileSystem: ExistingLustre.at('10.0.0.5@tcp:/a'), mountPoint: '/data' }).mountOn(p);
    new LustreFs(c.stack, 'B', { controller, fileSystem: ExistingLustre.at('10.0.0.6@tcp:/b'), mountPoint: '/data' }).mountOn(p);
  }, 'cat/Gpu', 'mountPoint', '/data'],
  // MonitoringStack
  ['Grafana open to the internet', (c) => new MonitoringStack(c.stack, 'Mon', { controller: cluster(c).controller, grafanaAllowedCidrs: ['0.0.0.0/0'] }), 'cat/Mon', 'grafanaAllowedCidrs[0]', '0.0.0.0/0'],
  ['a monitor VM type with onController', (c) => new MonitoringStack(c.stack, 'Mon', { controller: cluster(c).controller, onController: true, instance: Ec2Instance.of({ instanceType: 'm6i.large' }) }), 'cat/Mon', 'instance', 'm6i.large'],
  // GCP
  ['an A3 Mega pool without its GPU networks', (c) => {
    const network = gcp(c);
    const controller = new SlurmController(c.stack, 'Ctl', { network, clusterName: 'hpc' });
    new ComputeNodePool(c.stack, 'A3', { controller, name: 'a3', nodes: GceNodes.of({ machineType: 'a3-megagpu-8g' }), count: 2 });
  }, 'cat/A3', 'controller.network.gpuNetworks', '0'],
  ['an AWS instance type on GCP', (c) => {
    const network = gcp(c);
    const controller = new SlurmController(c.stack, 'Ctl', { network, clusterName: 'hpc' });
    new ComputeNodePool(c.stack, 'P', { controller, name: 'p', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1 });
  }, 'cat/P', 'instanceType', 'g5.12xlarge'],
];

test('the catalog holds at least 40 configurations', () => {
  expect(CASES.length).toBeGreaterThanOrEqual(40);
  expect(new Set(CASES.map((c) => c[0])).size).toBe(CASES.length);
});

test.each(CASES)('%s: fails before anything is written, naming path, field, value and fix', (_name, build, where, field, value) => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'catalog-'));
  const app = new App({ outdir });
  const stack = new TerraformStack(app, 'cat');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  new TerraformVariable(stack, 'unused', { type: 'string', default: '' });
  let message = '';
  try {
    build({ app, stack });
    app.synth();
  } catch (e) {
    message = (e as Error).message;
  }
  try {
    expect(message).not.toBe('');
    expect(message).toContain(`${where}: `);
    expect(message).toContain(field);
    expect(message).toContain(value);
    // A fix follows the problem: another sentence after it.
    expect(message).toMatch(/\.\s+[A-Z'"(<`a-z][^\n]{3,}/);
    // cdktf makes the empty stacks/ folder up front; nothing may be in it.
    expect(fs.readdirSync(outdir, { recursive: true } as never).map(String).filter((f) => !/^stacks\/?$/.test(f))).toEqual([]);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});
