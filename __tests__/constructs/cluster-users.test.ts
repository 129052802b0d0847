/**
 * The cluster's users reach every host: one users table, identical on the controller, login nodes and every pool
 * (EC2, Docker), and home directories made only where /home may be written by root: the controller (which serves
 * the NFS /home), hosts with a local /home, and hosts whose /home is Lustre; never NFS clients (root_squash).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { LoginNode } from '../../lib/constructs/login-node';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { ExistingLustre } from '../../lib/constructs/existing-lustre';
import { NfsShare } from '../../lib/constructs/nfs-share';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop';
const USERS: Pick<SlurmControllerProps, 'users' | 'groups'> = {
  groups: [{ name: 'ml', gid: 3000 }],
  users: [{ name: 'alice', uid: 2001, groups: ['ml'], sshPublicKeys: [KEY] }, { name: 'bob', uid: 2002, sudo: true }],
};

const cloudConfig = (b64: string): Json => parse(gunzipSync(Buffer.from(b64, 'base64')).toString('utf8'));
const fileOf = (doc: Json, p: string): string | undefined => (doc.write_files as Json[]).find((f) => f.path === p)?.content;

describe('users on an AWS cluster with an NFS /home and a Lustre pool', () => {
  const stack = new TerraformStack(Testing.app(), 'u');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...USERS });
  const nfsPool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 1 });
  const lustrePool = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1 });
  const login = new LoginNode(stack, 'Login', { controller });
  new Partition(stack, 'Part', { controller, name: 'all', pools: [nfsPool, lustrePool], default: true });
  new NfsShare(stack, 'Home', { controller }).mountOn(nfsPool);
  new LustreFs(stack, 'Lfs', { controller, fileSystem: ExistingLustre.at('10.0.0.5@tcp:/lfs'), mountPoint: '/home' }).mountOn(lustrePool);
  void login;
  const tf: Json = JSON.parse(Testing.synth(stack));
  const doc = (type: string, prefix: string) => {
    const [, r] = Object.entries(tf.resource[type] as Json).find(([id]) => id.startsWith(prefix))!;
    return cloudConfig((r.user_data_base64 ?? r.user_data) as string);
  };
  const hosts: Record<string, Json> = {
    controller: doc('aws_instance', 'Ctl_Instance'), login: doc('aws_instance', 'Login_'),
    nfsPool: doc('aws_launch_template', 'Cpu_'), lustrePool: doc('aws_launch_template', 'Gpu_'),
  };

  test('one identical users table on every host, with the users step shipped', () => {
    const tables = Object.values(hosts).map((h) => fileOf(h, '/etc/cdktf-slurm/users.tab'));
    expect(new Set(tables).size).toBe(1);
    expect(tables[0]).toMatch(/^group\tml\t3000$/m);
    expect(tables[0]).toMatch(/^user\talice\t2001\t2001\tml\t\/bin\/bash\t-$/m);
    expect(tables[0]).toMatch(/^user\tbob\t2002\t2002\t-\t\/bin\/bash\tsudo$/m);
    expect(tables[0]).toContain(`key\talice\t${KEY}`);
    for (const h of Object.values(hosts)) expect(fileOf(h, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  users\.sh$/m);
  });

  test('homes are made on the controller, the login node (local /home) and the Lustre pool; not on the NFS client pool', () => {
    const create = (h: Json) => /USERS_CREATE_HOMES='(\d)'/.exec(fileOf(h, '/etc/cdktf-slurm/node.env')!)?.[1];
    expect(Object.fromEntries(Object.entries(hosts).map(([k, h]) => [k, create(h)]))).toEqual({ controller: '1', login: '1', nfsPool: '0', lustrePool: '1' });
  });
});

test('a Docker pool gets the users table and users.sh only when the cluster has users', () => {
  const make = (withUsers: boolean) => {
    const stack = new TerraformStack(Testing.app(), 'd');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    const key = new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } }, ...(withUsers ? USERS : {}) });
    const box = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1 });
    new Partition(stack, 'Part', { controller, name: 'box', pools: [box], default: true });
    const container = Object.values(JSON.parse(Testing.synth(stack)).resource.docker_container as Json)[0] as Json;
    return container.upload as Json[];
  };
  const withUsers = make(true);
  expect(withUsers.find((u) => u.file === '/etc/cdktf-slurm/users.tab')!.content).toMatch(/^user\talice\t2001/m);
  expect(withUsers.some((u) => u.file.endsWith('/users.sh'))).toBe(true);
  const without = make(false);
  expect(without.some((u) => u.file === '/etc/cdktf-slurm/users.tab' || u.file.endsWith('/users.sh'))).toBe(false);
});

test.each<[string, Pick<SlurmControllerProps, 'users' | 'groups'>, RegExp]>([
  ['a system user', { users: [{ name: 'root', uid: 2000 }] }, /u\/Ctl: users\[0\]\.name = "root"/],
  ['a UID below 1000', { users: [{ name: 'carol', uid: 500 }] }, /u\/Ctl: users\[0\]\.uid = 500/],
  ['an undeclared group', { users: [{ name: 'carol', uid: 2000, groups: ['gpu'] }] }, /u\/Ctl: users\[0\]\.groups.*"gpu"/],
  ['a private key', { users: [{ name: 'carol', uid: 2000, sshPublicKeys: ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----'] }] }, /private key, not shown/],
])('%s is refused at construction, naming the controller', (_name, users, message) => {
  const stack = new TerraformStack(Testing.app(), 'u');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  let error: Error | undefined;
  try {
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...users });
  } catch (e) {
    error = e as Error;
  }
  expect(error?.message).toMatch(message);
  expect(error?.message).not.toContain('b3Blbn');
});
