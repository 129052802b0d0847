/**
 * NfsShare: the controller serves /home (or another directory) over NFS v4 to the cluster. On AWS its own encrypted
 * EBS volume attached as /dev/sdg…, exported to the private subnets only, TCP 2049 into a group only the controller
 * carries from each client group that mounts it (and from nothing else); on GCP a persistent disk attached by its
 * own resource, exported to the system subnet. Clients mount from the controller's fixed address. Bad input fails
 * at construction naming path, field, value and fix. The AWS part passes `terraform validate`.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LoginNode } from '../../lib/constructs/login-node';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { ExistingLustre } from '../../lib/constructs/existing-lustre';
import { NfsShare, NfsShareProps } from '../../lib/constructs/nfs-share';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;

function awsCluster(opts: { mesh?: boolean } = {}) {
  const stack = new TerraformStack(Testing.app(), 'n');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16', availabilityZoneCount: 2 });
  const key = opts.mesh ? new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true }).stringValue : undefined;
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...(key ? { mesh: { tailscale: { authKey: key } } } : {}) });
  return { stack, network, controller };
}

const cloudConfig = (b64: string): Json => parse(gunzipSync(Buffer.from(b64, 'base64')).toString('utf8'));
const fileOf = (doc: Json, p: string): string | undefined => (doc.write_files as Json[]).find((f) => f.path === p)?.content;

describe('NFS home on an AWS cluster', () => {
  const { stack, network, controller } = awsCluster();
  const pool = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2 });
  const login = new LoginNode(stack, 'Login', { controller });
  const home = new NfsShare(stack, 'Home', { controller });
  const apps = new NfsShare(stack, 'Apps', { controller, path: '/apps', diskGiB: 0, mountOptions: 'vers=4.2,hard,ro' });
  home.mountOn(pool, login);
  apps.mountOn(pool);
  new Partition(stack, 'Part', { controller, name: 'gpu', pools: [pool], default: true });
  const text = Testing.synth(stack);
  const tf: Json = JSON.parse(text);
  const subnets = network.privateSubnets.map((s) => s.cidr);
  const ctlVm = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Ctl_Instance'))![1] as Json;
  const ctlDoc = cloudConfig(ctlVm.user_data_base64);
  const clusterRef = `\${aws_security_group.${Object.keys(tf.resource.aws_security_group).find((k) => /Net_ClusterSecurityGroup/.test(k))}.id}`;
  const nfsGroup = Object.entries(tf.resource.aws_security_group as Json).find(([, g]) => (g as Json).name === 'hpc-nfs-server')!;
  const nfsRef = `\${aws_security_group.${nfsGroup[0]}.id}`;

  test('the export table: /home on its disk (/dev/sdg, label nfs-home, 0755) and /apps on the root disk (1777), to the private subnets only', () => {
    expect(subnets.length).toBeGreaterThan(1);
    expect(fileOf(ctlDoc, '/etc/cdktf-slurm/exports.tab')).toBe(
      `/home\t${subnets.join(',')}\t0755\t/dev/sdg\tnfs-home\n/apps\t${subnets.join(',')}\t1777\t-\t-\n`);
    expect(fileOf(ctlDoc, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  nfs-server\.sh$/m);
    // The script reaches the controller through the cluster's bucket.
    expect(JSON.stringify(tf.resource.aws_s3_object)).toContain('nfs-server.sh');
  });

  test('one encrypted gp3 volume of 100 GiB in the controller\'s zone, attached as /dev/sdg; nothing for the root-disk share', () => {
    const volumes = Object.entries(tf.resource.aws_ebs_volume as Json).filter(([id]) => id.startsWith('Home_'));
    expect(volumes).toHaveLength(1);
    expect(volumes[0][1]).toMatchObject({ size: 100, type: 'gp3', encrypted: true });
    // The controller's zone: the first private subnet's.
    const firstSubnet = Object.entries(tf.resource.aws_subnet as Json).find(([, sn]) => (sn as Json).cidr_block === subnets[0])!;
    expect(volumes[0][1].availability_zone).toBe(`\${aws_subnet.${firstSubnet[0]}.availability_zone}`);
    const attachments = Object.values(tf.resource.aws_volume_attachment as Json) as Json[];
    expect(attachments.map((a) => a.device_name).sort()).toEqual(['/dev/sdf', '/dev/sdg']);
    expect(attachments.find((a) => a.device_name === '/dev/sdg')!.volume_id).toBe(`\${aws_ebs_volume.${volumes[0][0]}.id}`);
    expect(Object.keys(tf.resource.aws_ebs_volume).some((id) => id.startsWith('Apps_'))).toBe(false);
  });

  test('security: TCP 2049 into the controller\'s own NFS group, from the cluster group only, once for both shares', () => {
    expect(ctlVm.vpc_security_group_ids).toEqual([clusterRef, nfsRef]);
    const rules = Object.values(tf.resource.aws_vpc_security_group_ingress_rule as Json) as Json[];
    const nfs = rules.filter((r) => r.security_group_id === nfsRef);
    expect(nfs.map((r) => [r.referenced_security_group_id, r.ip_protocol, r.from_port, r.to_port, r.cidr_ipv4])).toEqual([[clusterRef, 'tcp', 2049, 2049, undefined]]);
    expect(rules.filter((r) => r.from_port === 2049)).toHaveLength(1);
    expect(nfsGroup[1]).toMatchObject({ ingress: [], egress: [] });
  });

  test('clients mount from the controller\'s address; the pool gets both, the login node only /home; options pass through', () => {
    const tpl = Object.values(tf.resource.aws_launch_template as Json)[0] as Json;
    const poolDoc = cloudConfig(tpl.user_data);
    expect(fileOf(poolDoc, '/etc/cdktf-slurm/mounts.tab')).toBe(
      `nfs\t${controller.privateIp}:/home\t/home\t-\t-\nnfs\t${controller.privateIp}:/apps\t/apps\tvers=4.2,hard,ro\t-\n`);
    const loginVm = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Login_'))![1] as Json;
    expect(fileOf(cloudConfig(loginVm.user_data_base64), '/etc/cdktf-slurm/mounts.tab')).toBe(`nfs\t${controller.privateIp}:/home\t/home\t-\t-\n`);
  });

  (awsValidationAvailability().ok ? test : test.skip)('terraform validate accepts it against the AWS provider schema', () => {
    const result = validateAws(text);
    if (result.skipped) throw new Error(result.reason);
    expect(formatDiagnostics(result.errors)).toBe('');
    expect(result.valid).toBe(true);
  }, 120_000);
});

describe('NFS home on a GCP cluster', () => {
  const stack = new TerraformStack(Testing.app(), 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  new NfsShare(stack, 'Home', { controller, diskGiB: 500 }).mountOn(pool);
  const tf: Json = JSON.parse(Testing.synth(stack));

  test('a pd-balanced disk attached by its own resource as nfs-home; the controller leaves attached_disk to it', () => {
    const disk = Object.entries(tf.resource.google_compute_disk as Json).find(([id]) => id.startsWith('Home_'))!;
    expect(disk[1]).toMatchObject({ name: 'hpc-nfs-home', type: 'pd-balanced', size: 500, zone: 'us-central1-a', project: 'my-hpc-project' });
    const attached = Object.values(tf.resource.google_compute_attached_disk as Json) as Json[];
    expect(attached).toHaveLength(1);
    expect(attached[0]).toMatchObject({ device_name: 'nfs-home', mode: 'READ_WRITE', disk: `\${google_compute_disk.${disk[0]}.id}` });
    const ctl = Object.values(tf.resource.google_compute_instance as Json).find((i) => (i as Json).name === 'hpc-controller') as Json;
    expect(attached[0].instance).toMatch(/^\$\{google_compute_instance\.[^.]+\.id\}$/);
    expect(ctl.lifecycle.ignore_changes).toEqual(['attached_disk']);
    // The state disk is still attached inline.
    expect(ctl.attached_disk).toHaveLength(1);
  });

  test('exported to the system subnet from the by-id device; the pool mounts from the controller\'s address', () => {
    const ctl = Object.values(tf.resource.google_compute_instance as Json).find((i) => (i as Json).name === 'hpc-controller') as Json;
    const doc = parse(ctl.metadata['user-data'].replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{'));
    expect(fileOf(doc, '/etc/cdktf-slurm/exports.tab')).toBe(`/home\t${network.system.cidr}\t0755\t/dev/disk/by-id/google-nfs-home\tnfs-home\n`);
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    expect(tpl.metadata['user-data']).toContain(`nfs\t${controller.privateIp}:/home\t/home\t-\t-`);
  });
});

describe('bad input fails at construction, naming path, field, value and fix', () => {
  test.each<[string, Partial<NfsShareProps>, RegExp]>([
    ['a system directory', { path: '/usr/home' }, /n\/Share: path = "\/usr\/home": is a system directory.*Use e\.g\. '\/home'/],
    ['a relative path', { path: 'home' }, /n\/Share: path = "home": must be an absolute path/],
    ['a disk too small', { diskGiB: 5 }, /n\/Share: diskGiB = 5: must be 0 \(the root disk\) or a whole number of GiB from 10 to 16384/],
    ['a fractional disk', { diskGiB: 10.5 }, /diskGiB = 10\.5/],
    ['a mode that is not octal', { mode: '755x' }, /n\/Share: mode = "755x": is not an octal mode/],
    ['NFS v3 options', { mountOptions: 'vers=3,hard' }, /n\/Share: mountOptions = "vers=3,hard": must be fstab options without spaces, for NFS v4/],
    ['options with a space', { mountOptions: 'hard, ro' }, /mountOptions = "hard, ro"/],
    ['a name too long for the disk label', { name: 'homedirectories' }, /n\/Share: name = "homedirectories": must be .* at most 12 \(it becomes the disk label nfs-<name>\)/],
  ])('%s', (_name, props, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new NfsShare(stack, 'Share', { controller, ...props })).toThrow(message);
  });

  test('two shares of one path, or one inside another, are refused', () => {
    const { stack, controller } = awsCluster();
    new NfsShare(stack, 'Home', { controller });
    expect(() => new NfsShare(stack, 'Home2', { controller, name: 'home2' })).toThrow(/n\/Home2: NFS export: path = "\/home": is also the export "\/home" of n\/Home/);
    expect(() => new NfsShare(stack, 'Sub', { controller, path: '/home/shared' })).toThrow(/path = "\/home\/shared": overlaps the export "\/home" of n\/Home/);
  });

  test('the controller cannot mount its own share; a mesh host cannot mount it without a mesh; mount points still may not collide', () => {
    const { stack, controller } = awsCluster();
    const home = new NfsShare(stack, 'Home', { controller });
    expect(() => home.mountOn(controller)).toThrow(/n\/Ctl: mounts = "n\/Home": the controller serves this share: \/home is already its own directory there\. Mount it on pools and login nodes only/);
    const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 1 });
    new LustreFs(stack, 'Lfs', { controller, fileSystem: ExistingLustre.at('10.0.0.5@tcp:/lfs'), mountPoint: '/home' }).mountOn(pool);
    expect(() => home.mountOn(pool)).toThrow(/n\/Cpu: n\/Home: mount nfs: mountPoint = "\/home": is also the mount point "\/home" of n\/Lfs/);
  });

  test('on a meshed cluster, mesh pools mount from the mesh name and need no security rule', () => {
    const { stack, controller } = awsCluster({ mesh: true });
    const box = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1 });
    const home = new NfsShare(stack, 'Home', { controller, diskGiB: 0 });
    home.mountOn(box);
    new Partition(stack, 'Part', { controller, name: 'box', pools: [box], default: true });
    const tf: Json = JSON.parse(Testing.synth(stack));
    const container = Object.values(tf.resource.docker_container as Json)[0] as Json;
    expect(container.upload.find((u: Json) => u.file === '/etc/cdktf-slurm/mounts.tab').content).toBe('nfs\tslurm-controller:/home\t/home\t-\t-\n');
    const ctlVm = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Ctl_Instance'))![1] as Json;
    // Mesh clients need no security group rule: the export lists the mesh range, and no NFS group is made.
    expect(fileOf(cloudConfig(ctlVm.user_data_base64), '/etc/cdktf-slurm/exports.tab')).toMatch(/^\/home\t[0-9./,]+,100\.64\.0\.0\/10\t0755\t-\t-\n$/);
    expect(Object.values(tf.resource.aws_security_group as Json).some((g) => (g as Json).name === 'hpc-nfs-server')).toBe(false);
  });

  test('a mesh pool cannot mount a share of a controller without a mesh', () => {
    const { stack, controller } = awsCluster();
    const home = new NfsShare(stack, 'Home', { controller });
    const fake = { node: { path: 'n/Box' }, fileSystemClientNetwork: { kind: 'mesh', cidr: '100.64.0.0/10' } } as never;
    expect(() => home.connectClient(fake)).toThrow(/n\/Box: mounts = "n\/Home": this host is on a mesh, and the controller serving the share has none/);
  });
});
