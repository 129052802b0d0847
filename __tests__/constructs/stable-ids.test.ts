/**
 * Construct ids are users' Terraform state: what a file system makes to admit a client (security-group rules, a grant
 * on its key) is named after the client, never numbered in call order. Building the same cluster with pools,
 * partitions and mounts declared in another order gives the same resource addresses, each with the same settings.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { ClusterMount } from '../../lib/cloudinit/mounts';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { CephFs } from '../../lib/constructs/ceph-fs';
import { ExistingCephFs } from '../../lib/constructs/existing-ceph-fs';
import { MicroCephServer } from '../../lib/aws/microceph-server';
import { FileSystemClientNetwork, IClusterFileSystem, IFileSystemClient } from '../../lib/constructs/cluster-file-system';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LoginNode } from '../../lib/constructs/login-node';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { FsxLustre } from '../../lib/aws/fsx-lustre';
import { NfsShare } from '../../lib/constructs/nfs-share';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes } from '../../lib/gcp/gce-nodes';

type Json = Record<string, any>;
type Plan = { resource: Record<string, Record<string, Json>>; moved?: { from: string; to: string }[] };

/** Hosts of the user's own (workstations in their own security group) that mount the cluster's file systems. */
class Workstations extends Construct implements IFileSystemClient {
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly mounts: ClusterMount[] = [];
  constructor(scope: Construct, id: string, vpcId: string) {
    super(scope, id);
    const sg = new SecurityGroup(this, 'Group', { vpcId, description: 'Workstations that mount the cluster file systems' });
    this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: sg.id, vpcId, groupName: 'Workstations' };
  }
  addMount(fs: IClusterFileSystem): void {
    this.mounts.push(fs.connectClient(this));
  }
}

function addresses(tf: Plan): string[] {
  return Object.entries(tf.resource).flatMap(([type, blocks]) => Object.keys(blocks).map((name) => `${type}.${name}`)).sort();
}

/** The body of each resource, without the construct-path metadata. */
function body(tf: Plan, address: string): Json {
  const [type, name] = address.split('.');
  const { ['//']: _meta, ...rest } = tf.resource[type][name];
  return rest;
}

function awsCluster(reversed: boolean): Plan {
  const stack = new TerraformStack(Testing.app(), 'ids');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const make = {
    cpu: () => new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.2xlarge' }), count: 2 }),
    gpu: () => new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), maxCount: 4 }),
  };
  const pools = reversed ? { gpu: make.gpu(), cpu: make.cpu() } : { cpu: make.cpu(), gpu: make.gpu() };
  const parts = [
    () => new Partition(stack, 'Batch', { controller, name: 'batch', pools: [pools.cpu], default: true }),
    () => new Partition(stack, 'Train', { controller, name: 'train', pools: [pools.gpu] }),
  ];
  for (const p of reversed ? [...parts].reverse() : parts) p();
  const login = new LoginNode(stack, 'Login', { controller });
  const ws = new Workstations(stack, 'Workstations', network.vpcId);
  const home = new NfsShare(stack, 'Home', { controller });
  const scratch = new LustreFs(stack, 'Scratch', { controller, fileSystem: FsxLustre.of({ storageCapacityGiB: 1200, deploymentType: 'SCRATCH_2' }) });
  const shared = new CephFs(stack, 'Shared', { controller, fileSystem: MicroCephServer.onEc2({ osdCount: 3, osdSizeGiB: 10 }) });
  const clients = [pools.gpu, login, ws, pools.cpu];
  for (const fs of [home, scratch, shared]) fs.mountOn(...(reversed ? [...clients].reverse() : clients));
  return JSON.parse(Testing.synth(stack)) as Plan;
}

function gcpCluster(reversed: boolean): Plan {
  const stack = new TerraformStack(Testing.app(), 'ids');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const make = {
    a: () => new ComputeNodePool(stack, 'A', { controller, name: 'alpha', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 }),
    b: () => new ComputeNodePool(stack, 'B', { controller, name: 'beta', nodes: GceNodes.of({ machineType: 'n2-standard-16' }), count: 1 }),
  };
  const pools = reversed ? { b: make.b(), a: make.a() } : { a: make.a(), b: make.b() };
  new Partition(stack, 'All', { controller, name: 'all', pools: reversed ? [pools.b, pools.a] : [pools.a, pools.b], default: true });
  const login = new LoginNode(stack, 'Login', { controller });
  const fs = new CephFs(stack, 'Shared', {
    controller,
    fileSystem: ExistingCephFs.of({ monitors: ['10.50.0.11'], fsid: '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e', clientName: 'slurm', keySecret: 'ceph-slurm-key' }),
  });
  const clients = [controller, pools.a, login, pools.b];
  fs.mountOn(...(reversed ? [...clients].reverse() : clients));
  return JSON.parse(Testing.synth(stack)) as Plan;
}

describe.each([
  ['AWS (NFS, FSx for Lustre, MicroCeph; the cluster group and a group of the user\'s)', awsCluster],
  ['GCP (an existing CephFS whose key each host set is granted)', gcpCluster],
])('%s', (_name, build) => {
  const inOrder = build(false);
  const reordered = build(true);

  test('the same resource addresses whatever order pools, partitions and mounts are declared in', () => {
    expect(addresses(reordered)).toEqual(addresses(inOrder));
  });

  test('each admission resource keeps its settings under its address', () => {
    const admissions = addresses(inOrder).filter((a) => /(Group|Workstations)(Ingress|Egress|FromServers)\d+_|NfsFrom|KeyRead/.test(a));
    expect(admissions.length).toBeGreaterThanOrEqual(build === awsCluster ? 14 : 4);
    for (const a of admissions) expect(body(reordered, a)).toEqual(body(inOrder, a));
  });
});

test('a grant is named after the account it is for, and declares the numbered address earlier releases gave it', () => {
  const tf = gcpCluster(false);
  const grants = Object.entries(tf.resource.google_secret_manager_secret_iam_member)
    .filter(([name]) => name.startsWith('Shared_KeyRead'))
    .map(([name, g]) => [name.replace(/_[0-9A-F]{8}$/, ''), g.member]);
  expect(grants).toEqual(expect.arrayContaining([
    ['Shared_KeyReadHpcController', 'serviceAccount:hpc-controller@my-hpc-project.iam.gserviceaccount.com'],
    ['Shared_KeyReadHpcLogin', 'serviceAccount:hpc-login@my-hpc-project.iam.gserviceaccount.com'],
  ]));
  // Clients were numbered in the order they mounted: the controller first, then pool a, the login node, pool b.
  const moved = (tf.moved ?? []).filter((m) => m.to.includes('KeyRead')).map((m) => [m.from.replace(/_[0-9A-F]{8}$/, ''), m.to.replace(/_[0-9A-F]{8}$/, '')]);
  expect(moved).toEqual([
    ['google_secret_manager_secret_iam_member.Shared_KeyRead0', 'google_secret_manager_secret_iam_member.Shared_KeyReadHpcController'],
    ['google_secret_manager_secret_iam_member.Shared_KeyRead1', 'google_secret_manager_secret_iam_member.Shared_KeyReadHpcAlpha'],
    ['google_secret_manager_secret_iam_member.Shared_KeyRead2', 'google_secret_manager_secret_iam_member.Shared_KeyReadHpcLogin'],
    ['google_secret_manager_secret_iam_member.Shared_KeyRead3', 'google_secret_manager_secret_iam_member.Shared_KeyReadHpcBeta'],
  ]);
});

test('two client groups under one name are refused, naming the client, the field and the fix', () => {
  const stack = new TerraformStack(Testing.app(), 'ids');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const scratch = new LustreFs(stack, 'Scratch', { controller, fileSystem: FsxLustre.of({ storageCapacityGiB: 1200, deploymentType: 'SCRATCH_2' }) });
  scratch.mountOn(new Workstations(stack, 'A', network.vpcId));
  expect(() => scratch.mountOn(new Workstations(stack, 'B', network.vpcId)))
    .toThrow(/^ids\/B: fileSystemClientNetwork.groupName = "Workstations": already names another client admitted to ids\/Scratch. Give each client its own name$/);
});
