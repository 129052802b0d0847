/**
 * LustreFs: FSx for Lustre made for an AWS cluster (capacity and throughput rules, KMS, one subnet), its security
 * rules following from `mountOn` (Lustre ports between the file system's group and each admitted client group, and
 * nothing else), the mount source published in SSM for the nodes, and an existing Lustre mounted by address. The
 * AWS part passes `terraform validate` against the real provider schema.
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
import { LustreFs, LustreFsProps } from '../../lib/constructs/lustre-fs';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;

function awsCluster(opts: { mesh?: boolean } = {}) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'l');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const key = opts.mesh ? new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true }).stringValue : undefined;
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...(key ? { mesh: { tailscale: { authKey: key } } } : {}) });
  return { stack, network, controller };
}

const FSX: LustreFsProps['fsx'] = { storageCapacityGiB: 4800 };

describe('FSx for Lustre on an AWS cluster', () => {
  const { stack, network, controller } = awsCluster();
  const pool = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2 });
  const login = new LoginNode(stack, 'Login', { controller });
  const scratch = new LustreFs(stack, 'Scratch', { controller, fsx: FSX });
  scratch.mountOn(pool, login, controller);
  new Partition(stack, 'Part', { controller, name: 'gpu', pools: [pool], default: true });
  const text = Testing.synth(stack);
  const tf: Json = JSON.parse(text);
  const fsx = Object.values(tf.resource.aws_fsx_lustre_file_system)[0] as Json;
  const sgName = Object.keys(tf.resource.aws_security_group).find((k) => tf.resource.aws_security_group[k].name === 'hpc-scratch-lustre')!;
  const sgRef = `\${aws_security_group.${sgName}.id}`;
  const clusterSg = tf.resource.aws_security_group[Object.keys(tf.resource.aws_security_group).find((k) => /Net_ClusterSecurityGroup/.test(k))!];
  expect(clusterSg).toBeDefined();
  const clusterRef = network.clusterSecurityGroupId;

  test('PERSISTENT_2 by default, 250 MB/s/TiB, LZ4, Lustre 2.15, a rotating customer key, one private subnet, backups', () => {
    expect(fsx).toMatchObject({
      storage_capacity: 4800,
      storage_type: 'SSD',
      deployment_type: 'PERSISTENT_2',
      per_unit_storage_throughput: 250,
      data_compression_type: 'LZ4',
      file_system_type_version: '2.15',
      automatic_backup_retention_days: 7,
      security_group_ids: [sgRef],
    });
    expect(fsx.subnet_ids).toHaveLength(1);
    expect(fsx.kms_key_id).toMatch(/^\$\{aws_kms_key\.[^.]+\.arn\}$/);
    expect(Object.values(tf.resource.aws_kms_key)).toEqual([expect.objectContaining({ enable_key_rotation: true })]);
  });

  test('security rules: Lustre ports (988, 1018-1023) between the servers and the ONE admitted client group, nothing else', () => {
    const rules = (type: string) => Object.values(tf.resource[type] ?? {}) as Json[];
    const fsIngress = rules('aws_vpc_security_group_ingress_rule').filter((r) => r.security_group_id === sgRef);
    const fsEgress = rules('aws_vpc_security_group_egress_rule').filter((r) => r.security_group_id === sgRef);
    const summary = (rs: Json[]) => rs.map((r) => `${r.referenced_security_group_id === sgRef ? 'self' : r.referenced_security_group_id}:${r.from_port}-${r.to_port}`).sort();
    // Three hosts share the cluster security group: admitted once.
    const client = `\${aws_security_group.${Object.keys(tf.resource.aws_security_group).find((k) => /Net_ClusterSecurityGroup/.test(k))}.id}`;
    expect(summary(fsIngress)).toEqual([`${client}:1018-1023`, `${client}:988-988`, 'self:1018-1023', 'self:988-988'].sort());
    expect(summary(fsEgress)).toEqual([`${client}:1018-1023`, `${client}:988-988`, 'self:1018-1023', 'self:988-988'].sort());
    for (const r of [...fsIngress, ...fsEgress]) {
      expect(r.ip_protocol).toBe('tcp');
      expect(r.cidr_ipv4).toBeUndefined();
      expect(r.description).toMatch(/Lustre/);
    }
    const backToClients = rules('aws_vpc_security_group_ingress_rule').filter((r) => r.referenced_security_group_id === sgRef && r.security_group_id !== sgRef);
    expect(summary(backToClients).length).toBe(2);
    expect(clusterRef).toBeDefined();
  });

  test('the mount source is published in SSM after apply; every host role may read the cluster\'s file-system parameters only', () => {
    const param = Object.values(tf.resource.aws_ssm_parameter).find((p: any) => p.name === '/cdktf-slurm/hpc/filesystems/scratch') as Json;
    expect(param.value).toMatch(/^\$\{aws_fsx_lustre_file_system\.[^.]+\.dns_name\}@tcp:\/\$\{aws_fsx_lustre_file_system\.[^.]+\.mount_name\}$/);
    const reads = (Object.values(tf.resource.aws_iam_role_policy) as Json[]).filter((p) => p.name === 'read-file-system-parameters');
    expect(reads).toHaveLength(3); // controller, pool, login
    for (const r of reads) {
      expect(JSON.parse(r.policy).Statement).toEqual([
        { Sid: 'ClusterFileSystems', Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: ['arn:aws:ssm:*:*:parameter/cdktf-slurm/hpc/filesystems/*'] },
        { Sid: 'ClusterFileSystemKeys', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: ['arn:aws:secretsmanager:*:*:secret:hpc/filesystems/*'] },
      ]);
    }
  });

  test("every host's mount table names the SSM reference, never an apply-time value", () => {
    const lt = Object.values(tf.resource.aws_launch_template)[0] as Json;
    const doc = gunzipSync(Buffer.from(lt.user_data, 'base64')).toString('utf8');
    const table = (parse(doc).write_files as { path: string; content: string }[]).find((f) => f.path === '/etc/cdktf-slurm/mounts.tab')!;
    expect(table.content).toBe('lustre\taws-ssm:/cdktf-slurm/hpc/filesystems/scratch\t/lustre\tdefaults,flock\t-\n');
    const manifest = (parse(doc).write_files as { path: string; content: string }[]).find((f) => f.path === '/etc/cdktf-slurm/bootstrap.sha256')!;
    expect(manifest.content).toMatch(/ {2}lustre-client\.sh$/m);
  });

  (awsValidationAvailability().ok ? test : test.skip)('terraform validate accepts it against the AWS provider schema', () => {
    const result = validateAws(text);
    if (result.skipped) throw new Error(result.reason);
    expect(formatDiagnostics(result.errors)).toBe('');
    expect(result.valid).toBe(true);
  }, 120_000);
});

describe('bad input fails with path, field, value and fix', () => {
  test.each<[string, Partial<LustreFsProps>, RegExp]>([
    ['a capacity off the increments', { fsx: { storageCapacityGiB: 3000 } }, /l\/Fs: fsx\.storageCapacityGiB = 3000: PERSISTENT_2 takes 1200 or a multiple of 2400 GiB\. Use e\.g\. 4800/],
    ['a SCRATCH_1 capacity off its increments', { fsx: { storageCapacityGiB: 4800, deploymentType: 'SCRATCH_1' } }, /SCRATCH_1 takes 1200, 2400 or a multiple of 3600 GiB\. Use e\.g\. 7200/],
    ['throughput the type does not offer', { fsx: { storageCapacityGiB: 2400, perUnitStorageThroughput: 200 } }, /fsx\.perUnitStorageThroughput = 200: PERSISTENT_2 takes 125, 250, 500, 1000 MB\/s per TiB/],
    ['throughput on a scratch type', { fsx: { storageCapacityGiB: 2400, deploymentType: 'SCRATCH_2', perUnitStorageThroughput: 200 } }, /SCRATCH_2 has a fixed throughput/],
    ['a KMS key on a scratch type', { fsx: { storageCapacityGiB: 2400, deploymentType: 'SCRATCH_2', kmsKeyId: 'arn:aws:kms:us-east-1:1:key/x' } }, /fsx\.kmsKeyId = .*SCRATCH_2 always encrypts with an AWS-owned key/],
    ['neither fsx nor existing', {}, /l\/Fs: fsx\/managed\/existing = .*give exactly one/],
    ['both fsx and existing', { fsx: FSX, existing: { source: '10.0.0.5@tcp:/lfs' } }, /give exactly one/],
    ['an existing source without a file system name', { existing: { source: '10.0.0.5@tcp' } }, /existing\.source = "10\.0\.0\.5@tcp": is not a Lustre source/],
    ['a system directory as mount point', { fsx: FSX, mountPoint: '/usr/lustre' }, /mountPoint = "\/usr\/lustre": is a system directory/],
  ])('%s', (_name, props, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new LustreFs(stack, 'Fs', { controller, ...props } as LustreFsProps)).toThrow(message);
  });

  test('a mesh host cannot mount FSx, and two file systems cannot share a mount point', () => {
    const { stack, controller } = awsCluster({ mesh: true });
    const box = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1 });
    const fs = new LustreFs(stack, 'Fs', { controller, fsx: FSX });
    expect(() => fs.mountOn(box)).toThrow(/l\/Box: mounts = "l\/Fs": FSx for Lustre is reachable from its VPC only, and this host is on the mesh/);
    const a = new LustreFs(stack, 'A', { controller, existing: { source: '10.0.0.5@tcp:/lfs' }, mountPoint: '/data' });
    const b = new LustreFs(stack, 'B', { controller, existing: { source: '10.0.0.6@tcp:/lfs2' }, mountPoint: '/data' });
    a.mountOn(controller);
    expect(() => b.mountOn(controller)).toThrow(/l\/Ctl: l\/B: mount lustre: mountPoint = "\/data": is also the mount point "\/data" of l\/A/);
  });

  test('Managed Lustre on an AWS cluster is refused', () => {
    const { stack, controller } = awsCluster();
    expect(() => new LustreFs(stack, 'Fs', { controller, managed: { capacityGiB: 9000 } })).toThrow(/l\/Fs: managed = "<settings>": Managed Lustre is Google Cloud, and controller l\/Ctl is on AWS/);
  });

  test('FSx on a GCP cluster is refused; an existing Lustre mounts there by address', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'g');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
    expect(() => new LustreFs(stack, 'Fsx', { controller, fsx: FSX })).toThrow(/g\/Fsx: fsx = "<settings>": FSx for Lustre is AWS, and controller g\/Ctl is on GCP/);
    const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
    new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
    new LustreFs(stack, 'Ddn', { controller, existing: { source: '10.20.0.5@tcp:10.20.0.6@tcp:/exa' }, mountPoint: '/exa' }).mountOn(pool);
    const tf: Json = JSON.parse(Testing.synth(stack));
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    expect(tpl.metadata['user-data']).toContain('lustre\t10.20.0.5@tcp:10.20.0.6@tcp:/exa\t/exa\tdefaults,flock\t-');
  });
});

function gcpCluster() {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  return { stack, network, controller };
}

describe('Managed Lustre on a GCP cluster', () => {
  const { stack, controller } = gcpCluster();
  const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  const home = new LustreFs(stack, 'Home', { controller, managed: { capacityGiB: 18_000 }, mountPoint: '/home' });
  home.mountOn(pool, controller);
  // A second service on the same network shares its one private services peering.
  new LustreFs(stack, 'Scratch', { controller, managed: { capacityGiB: 36_000, perUnitStorageThroughput: 500 }, mountPoint: '/scratch' }).mountOn(pool);
  const tf: Json = JSON.parse(Testing.synth(stack));
  const instance = (Object.values(tf.resource.google_lustre_instance) as Json[]).find((i) => i.instance_id === 'hpc-home')!;
  const psaName = Object.keys(tf.resource.google_compute_global_address)[0];

  test('in the network zone, on the system VPC, at the 1000 MB/s/TiB tier, after the private services peering', () => {
    expect(instance).toMatchObject({
      instance_id: 'hpc-home',
      location: 'us-central1-a',
      filesystem: 'home',
      capacity_gib: '18000',
      per_unit_storage_throughput: '1000',
    });
    expect(instance.network).toMatch(/^\$\{google_compute_network\.[^.]+\.id\}$/);
    expect(instance.depends_on).toEqual([expect.stringMatching(/^google_service_networking_connection\./)]);
    expect(tf.resource.google_compute_global_address[psaName]).toMatchObject({ purpose: 'VPC_PEERING', address_type: 'INTERNAL', prefix_length: 20 });
    const conn = Object.values(tf.resource.google_service_networking_connection) as Json[];
    expect(conn).toHaveLength(1);
    expect(Object.keys(tf.resource.google_compute_global_address)).toHaveLength(1);
    expect(Object.keys(tf.resource.google_lustre_instance)).toHaveLength(2);
    expect(conn[0]).toMatchObject({ service: 'servicenetworking.googleapis.com', reserved_peering_ranges: [`\${google_compute_global_address.${psaName}.name}`] });
  });

  test('LNet 988 is let in from the peered range to the cluster tag only', () => {
    const rule = (Object.values(tf.resource.google_compute_firewall) as Json[]).find((f) => f.name === 'hpc-home-lustre-lnet')!;
    expect(rule).toMatchObject({ direction: 'INGRESS', target_tags: ['hpc-cluster'], allow: [{ protocol: 'tcp', ports: ['988'] }] });
    expect(rule.source_ranges).toEqual([`\${google_compute_global_address.${psaName}.address}/20`]);
  });

  test("hosts' mount tables carry the instance's mount point, filled in by Terraform", () => {
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    const ref = Object.entries(tf.resource.google_lustre_instance).find(([, i]: [string, any]) => i.instance_id === 'hpc-home')![0];
    expect(tpl.metadata['user-data']).toContain(`lustre\t\${google_lustre_instance.${ref}.mount_point}\t/home\tdefaults,flock\t-`);
  });

  test.each<[number, number | undefined, RegExp]>([
    [10_000, undefined, /managed\.capacityGiB = 10000: the 1000 MB\/s\/TiB tier takes multiples of 9000 GiB at this size\. Use e\.g\. 18000/],
    [9000, 250, /managed\.capacityGiB = 9000: the 250 MB\/s\/TiB tier takes 36000 to 40032000 GiB\. Use e\.g\. 36000/],
    [36_000, 300, /managed\.perUnitStorageThroughput = 300: is not a Managed Lustre tier/],
  ])('capacity %d at tier %s is refused', (capacityGiB, tier, message) => {
    const c = gcpCluster();
    expect(() => new LustreFs(c.stack, 'Bad', { controller: c.controller, managed: { capacityGiB, perUnitStorageThroughput: tier as any } })).toThrow(message);
  });
});
