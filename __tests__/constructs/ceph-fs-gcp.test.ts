/**
 * CephFs on a GCP cluster: an existing Ceph cluster (on-prem over Interconnect, or VMs of its own) mounted by
 * Compute Engine hosts. The key stays in Secret Manager; each host set that mounts the file system, and only those,
 * is granted access to that one secret, through the service account its VMs run as. A MicroCeph server is AWS-only
 * for now and says so.
 */
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { CephFs, CephFsProps } from '../../lib/constructs/ceph-fs';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { GceNodes } from '../../lib/gcp/gce-nodes';

type Json = Record<string, any>;
const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const EXISTING = { monitors: ['10.50.0.11', '10.50.0.12:6789'], fsid: FSID, clientName: 'slurm', keySecret: 'ceph-slurm-key' };

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
  const fs = new CephFs(stack, 'Shared', { controller, existing: EXISTING });
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
    new CephFs(c.stack, 'Fs', { controller: c.controller, existing: { ...EXISTING, keySecret: 'projects/storage-project/secrets/ceph-key' } }).mountOn(pool);
    const out: Json = JSON.parse(Testing.synth(c.stack));
    const grant = Object.values(out.resource.google_secret_manager_secret_iam_member as Json).find((g) => (g as Json).secret_id === 'ceph-key') as Json;
    expect(grant).toMatchObject({ project: 'storage-project', role: 'roles/secretmanager.secretAccessor' });
  });
});

describe('CephFs on GCP refuses what it cannot do', () => {
  test.each<[string, Partial<CephFsProps>, RegExp]>([
    ['a MicroCeph server', { managed: {} }, /g\/Fs: managed = "<settings>": a MicroCeph server is made on AWS clusters only so far, and controller g\/Ctl is on GCP\. Mount an existing Ceph cluster/],
    ['a key that is no secret ID', { existing: { ...EXISTING, keySecret: 'AQD9k2VmAAAAABAA key' } }, /g\/Fs: existing\.keySecret = .*is not a Secret Manager secret ID or projects\/P\/secrets\/S path/],
  ])('%s', (_name, props, message) => {
    const { stack, controller } = gcpCluster();
    expect(() => new CephFs(stack, 'Fs', { controller, ...props } as CephFsProps)).toThrow(message);
  });

  test('a mesh host cannot read a key in Secret Manager', () => {
    const { stack, controller } = gcpCluster();
    const fs = new CephFs(stack, 'Fs', { controller, existing: EXISTING });
    const meshHost = { node: { path: 'g/Box' }, fileSystemClientNetwork: { kind: 'mesh', cidr: '100.64.0.0/10' } } as never;
    expect(() => fs.connectClient(meshHost)).toThrow(/g\/Box: mounts = "g\/Fs": this CephFS's key is in Google Secret Manager, which a host on the mesh cannot read/);
  });
});
