/**
 * The shipped `ceph-lab` stack (the MicroCeph seed on AWS): the server, its security rules, where the key and the
 * fsid live (never in the plan), every Slurm host's mount line, the server's user-data through cloud-init's schema,
 * and `terraform validate` against the AWS provider. MicroCeph's and CephFs's refusals are tested beside them
 * (__tests__/aws/microceph-server.test.ts, __tests__/constructs/ceph-fs.test.ts, existing-ceph-fs.test.ts).
 */
import { App, Testing } from 'cdktf';
import * as fs from 'fs';
import * as path from 'path';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { CephLabStack } from '../../stacks/ceph-lab';
import { validateCloudConfig } from '../cloudinit/validate-cloud-config';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';

type Json = Record<string, any>;
type WriteFile = { path: string; content: string; permissions: string };

const app = new App({ outdir: Testing.app().outdir });
const stack = new CephLabStack(app, 'ceph-lab');
const outdir = Testing.fullSynth(stack);
const text = fs.readFileSync(path.join(outdir, 'stacks', 'ceph-lab', 'cdk.tf.json'), 'utf8');
const tf: Json = JSON.parse(text);
const all = (type: string): Json[] => Object.values(tf.resource[type] ?? {}) as Json[];
const byPath = (type: string, part: string): Json => {
  const hits = all(type).filter((r) => r['//']?.metadata?.path?.includes(part));
  expect(hits).toHaveLength(1);
  return hits[0];
};
function files(b64: string): Map<string, WriteFile> {
  const doc = gunzipSync(Buffer.from(b64, 'base64')).toString('utf8');
  return new Map((parse(doc).write_files as WriteFile[]).map((f) => [f.path, f]));
}
const server = byPath('aws_instance', 'ceph-lab/Shared/Instance');
const serverDoc = gunzipSync(Buffer.from(server.user_data_base64, 'base64')).toString('utf8');
const serverFiles = files(server.user_data_base64);
const env = serverFiles.get('/etc/cdktf-slurm/node.env')!.content;

test('one MicroCeph server at a fixed private address, 3 × 10 GiB loop OSDs on a 60 GiB encrypted disk, no public IP', () => {
  expect(server.private_ip).toBe('10.0.1.20');
  expect(server.associate_public_ip_address).toBe(false);
  expect(server.root_block_device).toMatchObject({ encrypted: true, volume_size: 60 });
  expect(server.metadata_options).toMatchObject({ http_tokens: 'required', http_put_response_hop_limit: 1 });
  expect(env).toContain("CEPHFS_OSD_COUNT='3'");
  expect(env).toContain("CEPHFS_OSD_SIZE_GIB='10'");
  expect(env).toContain("CEPHFS_MON_IP='10.0.1.20'");
  expect(env).toContain("CEPHFS_KEY_SOURCE='generate+aws-secretsmanager:cephlab/filesystems/shared-client-key'");
  expect(env).toContain("CEPHFS_SOURCE_PARAMETER='/cdktf-slurm/cephlab/filesystems/shared'");
  expect(env).not.toContain('CDKTF_SLURM_ROLES');
  // Fetched and checked like a node's scripts: the manifest names the server script and the helpers only.
  expect(serverFiles.get('/etc/cdktf-slurm/bootstrap.sha256')!.content.trim().split('\n').map((l) => l.split('  ')[1]).sort())
    .toEqual(['lib/common.sh', 'storage/cephfs-server.sh']);
  expect(parse(serverDoc).runcmd).toEqual([['bash', '/opt/cdktf-slurm/fetch-bootstrap.sh'], ['bash', '/opt/cdktf-slurm/bootstrap/storage/cephfs-server.sh']]);
  validateCloudConfig(serverDoc);
});

test('Ceph ports (3300, 6789, 6800-7300) open only to the cluster security group', () => {
  const sg = byPath('aws_security_group', 'ceph-lab/Shared/SecurityGroup');
  expect(sg.ingress).toEqual([]);
  const sgId = Object.entries(tf.resource.aws_security_group).find(([, v]: [string, any]) => v === sg)![0];
  const ingress = all('aws_vpc_security_group_ingress_rule').filter((r) => r.security_group_id === `\${aws_security_group.${sgId}.id}`);
  expect(ingress.map((r) => `${r.from_port}-${r.to_port}`).sort()).toEqual(['3300-3300', '6789-6789', '6800-7300']);
  const cluster = Object.keys(tf.resource.aws_security_group).find((k) => /Network_ClusterSecurityGroup/.test(k))!;
  for (const r of ingress) {
    expect(r.referenced_security_group_id).toBe(`\${aws_security_group.${cluster}.id}`);
    expect(r.cidr_ipv4).toBeUndefined();
  }
});

test('the cephx key and the fsid are not in the plan: an empty secret the server fills, a parameter it publishes', () => {
  expect(all('aws_secretsmanager_secret').map((s) => s.name)).toContain('cephlab/filesystems/shared-client-key');
  expect(all('aws_secretsmanager_secret_version')).toEqual([]);
  expect(all('aws_ssm_parameter').map((p) => p.name)).not.toContain('/cdktf-slurm/cephlab/filesystems/shared');
  const publish = all('aws_iam_role_policy').find((p) => p.name === 'publish-cephfs')!;
  const statements = JSON.parse(publish.policy).Statement;
  expect(statements.find((s: Json) => s.Sid === 'MountSource').Resource).toEqual(['arn:aws:ssm:*:*:parameter/cdktf-slurm/cephlab/filesystems/shared']);
  expect(statements.find((s: Json) => s.Sid === 'ClientKey').Action).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret']);
});

test('controller, both compute nodes and the login node mount it at /mnt/shared, by reference', () => {
  const line = 'ceph\taws-ssm:/cdktf-slurm/cephlab/filesystems/shared\t/mnt/shared\tmon_addr=10.0.1.20:6789,noatime\taws-secretsmanager:cephlab/filesystems/shared-client-key\n';
  expect(files(byPath('aws_instance', 'ceph-lab/Controller/Instance').user_data_base64).get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(line);
  expect(files(byPath('aws_instance', 'ceph-lab/Login/Instance').user_data_base64).get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(line);
  expect(files(byPath('aws_launch_template', 'ceph-lab/Compute/LaunchTemplate').user_data).get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(line);
  expect(byPath('aws_launch_template', 'ceph-lab/Compute/LaunchTemplate').name).toBe('cephlab-compute');
});

test('slurmdbd with a local database and slurmrestd on the controller', () => {
  const env = files(byPath('aws_instance', 'ceph-lab/Controller/Instance').user_data_base64).get('/etc/cdktf-slurm/node.env')!.content;
  expect(env).toContain("CDKTF_SLURM_ROLES='controller dbd'");
  expect(env).toContain("DB_LOCAL='1'");
  expect(env).toContain("SLURMRESTD_ENABLED='1'");
});

(awsValidationAvailability().ok ? test : test.skip)('terraform validate passes against the AWS provider', () => {
  const result = validateAws(text);
  if (result.skipped) throw new Error(result.reason);
  expect(formatDiagnostics(result.errors)).toBe('');
}, 120_000);
