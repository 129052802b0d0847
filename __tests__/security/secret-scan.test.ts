/**
 * Secret scanning. (1) Sentinel values planted through every public prop that takes a secret (or a reference to
 * one) as a literal: each is refused at construction and the sentinel is in neither the error nor anything
 * written. (2) Every shipped stack, its Terraform JSON and every host's decoded user-data: no private key, cloud
 * credential, Tailscale key or password material; every secret value in the plan is a Terraform reference.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { App, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { CephFs } from '../../lib/constructs/ceph-fs';
import { ExistingCephFs } from '../../lib/constructs/existing-ceph-fs';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { SshHosts } from '../../lib/ssh/ssh-hosts';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { Partition } from '../../lib/constructs/partition';

type Json = Record<string, any>;
const SENTINEL = 'SeNtInEl9f3a7c2e';
const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';

function aws(id: string) {
  const stack = new TerraformStack(Testing.app(), id);
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  return { stack, network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }) };
}

const PLANTED: [string, () => void][] = [
  ['mesh.tailscale.authKey as a literal', () => {
    const { stack, network } = aws('a');
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: `tskey-auth-${SENTINEL}` } } });
  }],
  ['nodes.privateKey (SSH) as a literal', () => {
    const { stack, network } = aws('b');
    const key = new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } } });
    new ComputeNodePool(stack, 'Gpu', {
      controller, name: 'gpu',
      nodes: SshHosts.of([{ address: '203.0.113.5', user: 'ubuntu' }], {
        cpus: 8, realMemoryMiB: 30000, privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${SENTINEL}\n-----END OPENSSH PRIVATE KEY-----\n`,
      }),
    });
  }],
  ['mail.passwordSecret holding the password', () => {
    const { stack, network } = aws('c');
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mail: { relay: 'smtp.example.org:587', from: 'a@example.org', user: 'u', passwordSecret: SENTINEL } });
  }],
  ['a CephFS key pasted as keySecret (AWS)', () => {
    const { stack, network } = aws('d');
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
    new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of({ monitors: ['10.0.1.10'], fsid: FSID, clientName: 'slurm', keySecret: `AQD${SENTINEL}==` }) });
  }],
  ['a CephFS key pasted as keySecret (GCP)', () => {
    const stack = new TerraformStack(Testing.app(), 'e');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
    new CephFs(stack, 'Fs', { controller, fileSystem: ExistingCephFs.of({ monitors: ['10.0.1.10'], fsid: FSID, clientName: 'slurm', keySecret: `AQD+${SENTINEL}==` }) });
  }],
  ['accounting.passwordSecret holding the password (AWS)', () => {
    const { stack, network } = aws('g');
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', accounting: { endpoint: 'db.example.org', passwordSecret: `Pa55-${SENTINEL}` } });
  }],
  ['accounting.passwordSecret holding the password (GCP)', () => {
    const stack = new TerraformStack(Testing.app(), 'h');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', accounting: { endpoint: '10.1.0.5', passwordSecret: `Pa55${SENTINEL}` } });
  }],
  ['a database password in extraSlurmConf', () => {
    const { stack, network } = aws('i');
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', extraSlurmConf: { AccountingStoragePass: `Pa55${SENTINEL}`, JobCompPass: SENTINEL } });
    const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
    new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
    Testing.synth(stack);
  }],
  ['a private key among users\' public keys', () => {
    const { stack, network } = aws('f');
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', users: [{ name: 'alice', uid: 2001, sshPublicKeys: [`-----BEGIN OPENSSH PRIVATE KEY-----\n${SENTINEL}\n-----END OPENSSH PRIVATE KEY-----`] }] });
  }],
];

test.each(PLANTED)('%s is refused at construction, and the error does not repeat it', (_name, build) => {
  let error: Error | undefined;
  try {
    build();
  } catch (e) {
    error = e as Error;
  }
  expect(error).toBeDefined();
  expect(error!.message).not.toContain(SENTINEL);
  expect(error!.message).toMatch(/: /);
});

/** Every string of user-data in the plan, decoded (EC2 gzip+base64, Compute Engine text, Docker/SSH uploads). */
function userData(tf: Json): string[] {
  const out: string[] = [];
  for (const [type, field] of [['aws_instance', 'user_data_base64'], ['aws_launch_template', 'user_data']] as const) {
    for (const r of Object.values((tf.resource[type] ?? {}) as Json)) {
      if ((r as Json)[field]) out.push(gunzipSync(Buffer.from((r as Json)[field], 'base64')).toString('utf8'));
    }
  }
  for (const type of ['google_compute_instance', 'google_compute_instance_template']) {
    for (const r of Object.values((tf.resource[type] ?? {}) as Json)) out.push((r as Json).metadata['user-data']);
  }
  return out;
}

const FORBIDDEN: [string, RegExp][] = [
  ['a PEM/OpenSSH private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a Tailscale key', /\btskey-(auth|api|client)-[A-Za-z0-9]/],
  ['a Grafana admin password setting', /GF_SECURITY_ADMIN_PASSWORD=|admin_password\s*=/i],
  ['a slurmdbd StoragePass value', /^StoragePass=\S/m],
  ['a MySQL password on a command line', /mysql[^\n]*\s-p\S/],
];

describe.each(Object.keys(SHIPPED_STACKS))('%s', (name) => {
  const text = Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name));
  const tf: Json = JSON.parse(text);
  const docs = userData(tf);

  test.each(FORBIDDEN)('no %s in the plan or any user-data', (_what, pattern) => {
    expect(text).not.toMatch(pattern);
    for (const d of docs) expect(d).not.toMatch(pattern);
  });

  test('every secret value in the plan is a Terraform reference, never a literal', () => {
    const values = [
      ...Object.values((tf.resource.aws_secretsmanager_secret_version ?? {}) as Json).map((v) => (v as Json).secret_string),
      ...Object.values((tf.resource.google_secret_manager_secret_version ?? {}) as Json).map((v) => (v as Json).secret_data),
    ];
    for (const v of values) expect(v).toMatch(/^\$\{[^}]+\}$/);
    expect(docs.length).toBeGreaterThan(0);
  });
});
