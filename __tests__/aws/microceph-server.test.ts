/**
 * MicroCephServer.onEc2: the settings' checks (naming `fileSystem.<field>`), the server refused on a Google Cloud
 * controller, a host off the VPC refused, and what one CephFs with a MicroCeph server makes and in which scope
 * (the addresses users' state holds). The shipped lab (__tests__/stacks/ceph-lab.test.ts) checks the server's
 * user-data and rules in full.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { MicroCephEc2Server, MicroCephEc2Settings, MicroCephServer } from '../../lib/aws/microceph-server';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { CephFs } from '../../lib/constructs/ceph-fs';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { SlurmController } from '../../lib/constructs/slurm-controller';

function awsCluster() {
  const stack = new TerraformStack(Testing.app(), 'c');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const controller = new SlurmController(stack, 'Ctl', { network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc' });
  return { stack, controller };
}

describe('MicroCephServer.onEc2', () => {
  test.each<[string, MicroCephEc2Settings, RegExp]>([
    ['zero OSDs', { osdCount: 0 }, /c\/Fs: fileSystem\.osdCount = 0: must be a whole number from 1 to 12\. Use 3/],
    ['OSDs of 1 GiB', { osdSizeGiB: 1 }, /c\/Fs: fileSystem\.osdSizeGiB = 1: must be a whole number of GiB from 5 to 4096/],
    ['the controller\'s address', { hostIndex: 10 }, /c\/Fs: fileSystem\.hostIndex = 10: 10\.0\.1\.10 is the controller's address/],
    ['a channel that is no snap channel', { microcephChannel: 'squid' }, /fileSystem\.microcephChannel = "squid": is not a snap channel <track>\/<risk>/],
    ['a client name with the client. prefix', { clientName: 'client.slurm' }, /fileSystem\.clientName = "client\.slurm": is not a cephx client name without the client\. prefix/],
  ])('refuses %s', (_name, settings, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new CephFs(stack, 'Fs', { controller, fileSystem: MicroCephServer.onEc2(settings) })).toThrow(message);
  });

  test('is refused on a Google Cloud controller, naming fileSystem and the settings as written', () => {
    const stack = new TerraformStack(Testing.app(), 'g');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
    expect(() => new CephFs(stack, 'Fs', { controller, fileSystem: MicroCephServer.onEc2({ osdCount: 3 }) }))
      .toThrow(/g\/Fs: fileSystem = "MicroCephServer\.onEc2\(\{ osdCount: 3 \}\)": a MicroCeph server is made on AWS clusters only so far, and controller g\/Ctl is on GCP\. Mount an existing Ceph cluster \(ExistingCephFs\.of/);
  });

  test('makes its VM, group, key secret and role in the CephFs scope, at the addresses earlier releases used', () => {
    const { stack, controller } = awsCluster();
    const fs = new CephFs(stack, 'Fs', { controller, name: 'shared', fileSystem: MicroCephServer.onEc2({ osdCount: 2, osdSizeGiB: 20, hostIndex: 30, clientName: 'hpc' }) });
    const server = fs.server as MicroCephEc2Server;
    expect(server).toBeInstanceOf(MicroCephEc2Server);
    expect(server.instance.node.path).toBe('c/Fs/Instance');
    expect(server.securityGroup.node.path).toBe('c/Fs/SecurityGroup');
    expect(server.keySecret.node.path).toBe('c/Fs/ClientKey');
    expect(fs.node.children.map((c) => c.node.id)).toEqual(expect.arrayContaining(['ClientKey', 'SecurityGroup', 'Egress', 'Publish', 'Ssm', 'ScriptsRead', 'Instance']));
    // What the clients are told: the SSM parameter the server publishes its fsid in, its monitor, its key's secret.
    expect(fs.connectClient(controller)).toEqual({
      kind: 'ceph',
      source: 'aws-ssm:/cdktf-slurm/hpc/filesystems/shared',
      mountPoint: '/mnt/shared',
      options: 'mon_addr=10.0.1.30:6789,noatime',
      secretSource: 'aws-secretsmanager:hpc/filesystems/shared-client-key',
      origin: 'c/Fs',
    });
    expect(server.plan).toEqual({ type: 'CephFS', capacityGiB: 40, server: 'MicroCeph VM m6i.large, 2 OSDs', serverInstanceType: 'm6i.large', priceKey: 'aws:ebs-gp3' });
    // The client group's Ceph ports are named after the group, once however many hosts of it mount.
    fs.connectClient(controller);
    expect(fs.node.children.map((c) => c.node.id).filter((id) => /Ingress/.test(id)).sort())
      .toEqual(['ClusterGroupIngress3300', 'ClusterGroupIngress6789', 'ClusterGroupIngress6800']);
  });

  test('a host off the VPC is refused, naming the host\'s mounts', () => {
    const { stack, controller } = awsCluster();
    const fs = new CephFs(stack, 'Fs', { controller, fileSystem: MicroCephServer.onEc2() });
    const meshHost = { node: { path: 'c/Box' }, fileSystemClientNetwork: { kind: 'mesh', cidr: '100.64.0.0/10' } } as never;
    expect(() => fs.connectClient(meshHost)).toThrow(/c\/Box: mounts = "c\/Fs": this CephFS is reachable from its VPC only, and this host is on the mesh\. Mount it on EC2 pools/);
  });
});
