/**
 * FsxLustre: FSx for Lustre made for an AWS cluster's LustreFs (capacity and throughput rules, KMS, one subnet), its
 * security rules following from `mountOn` (Lustre ports between the file system's group and each admitted client
 * group, and nothing else), and the mount source published in SSM for the nodes. The AWS part passes
 * `terraform validate` against the real provider schema.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { LoginNode } from '../../lib/constructs/login-node';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { FsxLustre } from '../../lib/aws/fsx-lustre';

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

const FSX = FsxLustre.of({ storageCapacityGiB: 4800 });

describe('FSx settings are checked against the deployment type, naming fileSystem.<setting>', () => {
  test.each<[string, FsxLustre, RegExp]>([
    ['a capacity off the increments', FsxLustre.of({ storageCapacityGiB: 3000 }), /l\/Fs: fileSystem\.storageCapacityGiB = 3000: PERSISTENT_2 takes 1200 or a multiple of 2400 GiB\. Use e\.g\. 4800/],
    ['a SCRATCH_1 capacity off its increments', FsxLustre.of({ storageCapacityGiB: 4800, deploymentType: 'SCRATCH_1' }), /SCRATCH_1 takes 1200, 2400 or a multiple of 3600 GiB\. Use e\.g\. 7200/],
    ['throughput the type does not offer', FsxLustre.of({ storageCapacityGiB: 2400, perUnitStorageThroughput: 200 }), /fileSystem\.perUnitStorageThroughput = 200: PERSISTENT_2 takes 125, 250, 500, 1000 MB\/s per TiB/],
    ['throughput on a scratch type', FsxLustre.of({ storageCapacityGiB: 2400, deploymentType: 'SCRATCH_2', perUnitStorageThroughput: 200 }), /SCRATCH_2 has a fixed throughput/],
    ['a KMS key on a scratch type', FsxLustre.of({ storageCapacityGiB: 2400, deploymentType: 'SCRATCH_2', kmsKeyId: 'arn:aws:kms:us-east-1:1:key/x' }), /fileSystem\.kmsKeyId = .*SCRATCH_2 always encrypts with an AWS-owned key/],
  ])('%s', (_name, fileSystem, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new LustreFs(stack, 'Fs', { controller, fileSystem })).toThrow(message);
  });
});

describe('FSx for Lustre on an AWS cluster', () => {
  const { stack, network, controller } = awsCluster();
  const pool = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2 });
  const login = new LoginNode(stack, 'Login', { controller });
  const scratch = new LustreFs(stack, 'Scratch', { controller, fileSystem: FSX });
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

