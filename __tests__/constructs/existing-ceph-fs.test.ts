/**
 * ExistingCephFs: a Ceph cluster made elsewhere (on-prem over Interconnect, Juju's, VMs of its own) mounted by the
 * cluster's hosts. Its facts are checked naming `fileSystem.<field>`; the key stays in the cloud's secret store,
 * checked and granted by the controller's host: on Google Cloud each host set that mounts the file system, and only
 * those, is granted access to that one secret through the service account its VMs run as; on AWS the name must be
 * under `<cluster>/filesystems/`, which the hosts' roles may read. The key's name is never echoed.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { CephFs } from '../../lib/constructs/ceph-fs';
import { ExistingCephFs, ExistingCephFsSettings } from '../../lib/constructs/existing-ceph-fs';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { GceNodes } from '../../lib/gcp/gce-nodes';

type Json = Record<string, any>;
const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const EXISTING: ExistingCephFsSettings = { monitors: ['10.50.0.11', '10.50.0.12:6789'], fsid: FSID, clientName: 'slurm', keySecret: 'ceph-slurm-key' };

function gcpCluster() {
  const stack = new TerraformStack(Testing.app(), 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  return { stack, controller };
}

describe('an existing CephFS on a GCP cluster', () => {
  const { stack, controller } = gcpCluster();
  const cpu = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 2 });
  const login = new LoginNode(stack, 'Login', { controller });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [cpu], default: true });
  const fs = new CephFs(stack, 'Shared', { controller, fileSystem: ExistingCephFs.of(EXISTING) });
  fs.mountOn(cpu, login, controller);
  const tf: Json = JSON.parse(Testing.synth(stack));
  const accounts = tf.resource.google_service_account as Json;
  const grants = Object.values(tf.resource.google_secret_manager_secret_iam_member as Json).filter((g) => (g as Json).secret_id === 'ceph-slurm-key') as Json[];

  test('the key secret is granted to exactly the three identities that mount it, each the account its VMs run as', () => {
    const members = grants.map((g) => g.member).sort();
    const expected = Object.values(accounts).map((a) => `serviceAccount:${(a as Json).account_id}@my-hpc-project.iam.gserviceaccount.com`).sort();
    expect(Object.keys(accounts)).toHaveLength(3);
    expect(members).toEqual(expected);
    for (const g of grants) expect(g).toMatchObject({ role: 'roles/secretmanager.secretAccessor', project: 'my-hpc-project' });
  });

  test('every mounting host carries the same mount line: monitors, fsid, and the key by reference', () => {
    const line = `ceph\tslurm@${FSID}.cephfs=/\t/mnt/shared\tmon_addr=10.50.0.11/10.50.0.12:6789,noatime\tgcp-secretmanager:projects/my-hpc-project/secrets/ceph-slurm-key`;
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    expect(tpl.metadata['user-data']).toContain(line);
    const vms = Object.values(tf.resource.google_compute_instance as Json) as Json[];
    expect(vms).toHaveLength(2);
    for (const vm of vms) expect(vm.metadata['user-data']).toContain(line);
  });

  test('a full projects/P/secrets/S key path is granted in that project', () => {
    const c = gcpCluster();
    const pool = new ComputeNodePool(c.stack, 'Cpu', { controller: c.controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
    new Partition(c.stack, 'Part', { controller: c.controller, name: 'cpu', pools: [pool], default: true });
    new CephFs(c.stack, 'Fs', { controller: c.controller, fileSystem: ExistingCephFs.of({ ...EXISTING, keySecret: 'projects/storage-project/secrets/ceph-key' }) }).mountOn(pool);
    const out: Json = JSON.parse(Testing.synth(c.stack));
    const grant = Object.values(out.resource.google_secret_manager_secret_iam_member as Json).find((g) => (g as Json).secret_id === 'ceph-key') as Json;
    expect(grant).toMatchObject({ project: 'storage-project', role: 'roles/secretmanager.secretAccessor' });
  });
});

function awsCluster() {
  const stack = new TerraformStack(Testing.app(), 'c');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const controller = new SlurmController(stack, 'Ctl', { network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc' });
  return { stack, controller };
}
const ON_AWS: ExistingCephFsSettings = { monitors: ['10.0.1.10', '10.0.1.11:6789'], fsid: FSID, clientName: 'fs-client', keySecret: 'hpc/filesystems/juju-key' };

describe('an existing CephFS on an AWS cluster', () => {
  test('mounts with its monitors, fsid and the key by its Secrets Manager name', () => {
    const { stack, controller } = awsCluster();
    const fs = new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of(ON_AWS) });
    expect(fs.connectClient(controller)).toEqual({
      kind: 'ceph',
      source: `fs-client@${FSID}.cephfs=/`,
      mountPoint: '/mnt/shared',
      options: 'mon_addr=10.0.1.10/10.0.1.11:6789,noatime',
      secretSource: 'aws-secretsmanager:hpc/filesystems/juju-key',
      origin: 'c/Fs',
    });
    // Nothing is made for it: no instance, no security group, no secret (on AWS the roles already read the prefix).
    expect(fs.node.children.map((c) => c.node.id)).toEqual([]);
  });

  test.each<[string, Partial<ExistingCephFsSettings>, RegExp]>([
    ['no fsid', { fsid: 'x' }, /c\/Fs: fileSystem\.fsid = "x": is not a Ceph fsid \(a UUID\)\. Copy it from 'ceph fsid'/],
    ['no monitors', { monitors: [] }, /c\/Fs: fileSystem\.monitors = \[\]: must list monitor addresses as ip or ip:port/],
    ['a monitor by name', { monitors: ['ceph-mon-1'] }, /fileSystem\.monitors = \["ceph-mon-1"\]/],
    ['a client name with the client. prefix', { clientName: 'client.x' }, /fileSystem\.clientName = "client\.x": is not a cephx client name without the client\. prefix/],
    ['a key secret the hosts may not read', { keySecret: 'other/key' },
      /c\/Fs: fileSystem\.keySecret = "<9 characters>": must be a Secrets Manager name under hpc\/filesystems\/.*Store it as e\.g\. 'hpc\/filesystems\/fs-client-key' .*ceph auth print-key client\.fs-client/],
  ])('refuses %s, naming the field and the fix', (_name, change, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of({ ...ON_AWS, ...change }) })).toThrow(message);
  });

  test('a key pasted where its secret name belongs is never echoed, in the refusal or in how the settings are shown', () => {
    const key = 'AQD9k2VmAAAAABAAq1w2e3r4t5y6u7i8o9p0==';
    const { stack, controller } = awsCluster();
    const server = ExistingCephFs.of({ ...ON_AWS, keySecret: key });
    expect(server.shown).not.toContain(key);
    expect(server.shown).toContain(`keySecret: '<${key.length} characters>'`);
    let message = '';
    try { new CephFs(stack, 'Fs', { controller, fileSystem: server }); } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/fileSystem\.keySecret = "<\d+ characters>"/);
    expect(message).not.toContain(key);
    expect(message).not.toContain('AQD9');
  });
});

describe('an existing CephFS on GCP refuses what it cannot do', () => {
  test('a key that is no secret ID, without echoing it', () => {
    const { stack, controller } = gcpCluster();
    expect(() => new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of({ ...EXISTING, keySecret: 'AQD9k2VmAAAAABAA key' }) }))
      .toThrow(/g\/Fs: fileSystem\.keySecret = "<20 characters>": is not a Secret Manager secret ID or projects\/P\/secrets\/S path\. Store it as e\.g\. 'fs-client-key'/);
  });

  test('a mesh host cannot read a key in Secret Manager', () => {
    const { stack, controller } = gcpCluster();
    const fs = new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of(EXISTING) });
    const meshHost = { node: { path: 'g/Box' }, fileSystemClientNetwork: { kind: 'mesh', cidr: '100.64.0.0/10' } } as never;
    expect(() => fs.connectClient(meshHost)).toThrow(/g\/Box: mounts = "g\/Fs": this file system's key is in Google Secret Manager, which a host on the mesh cannot read/);
  });
});
