import { App, Testing } from 'cdktf';
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { parse } from 'yaml';
import { AwsGpuStack } from '../../stacks/aws-gpu';
import { validateCloudConfig } from '../cloudinit/validate-cloud-config';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';

type Json = Record<string, any>;
type WriteFile = { path: string; content: string; permissions: string };

function synth(): Json {
  const app = new App({ outdir: Testing.app().outdir });
  const stack = new AwsGpuStack(app, 'aws-gpu');
  const outdir = Testing.fullSynth(stack);
  return JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'aws-gpu', 'cdk.tf.json'), 'utf8'));
}

const tf = synth();
const byType = (type: string): Json[] => Object.values(tf.resource[type] ?? {}) as Json[];
const one = (type: string, pathPart: string): Json => {
  const hits = Object.values(tf.resource[type] ?? {}).filter((r: any) => r['//']?.metadata?.path?.includes(pathPart));
  expect(hits).toHaveLength(1);
  return hits[0] as Json;
};
function userData(b64: string): { doc: string; files: Map<string, WriteFile>; size: number } {
  const bytes = Buffer.from(b64, 'base64');
  const doc = gunzipSync(bytes).toString('utf8');
  const files = new Map((parse(doc).write_files as WriteFile[]).map((f) => [f.path, f]));
  return { doc, files, size: bytes.length };
}

const controller = one('aws_instance', 'aws-gpu/Controller/Instance');
const ctlData = userData(controller.user_data_base64);
const slurmConf = ctlData.files.get('/etc/cdktf-slurm/slurm/slurm.conf')!.content;

describe('aws-gpu: controller', () => {
  test('private, fixed address, IMDSv2 only, encrypted root, state on a separate encrypted volume', () => {
    expect(controller.associate_public_ip_address).toBe(false);
    expect(controller.private_ip).toBe('10.0.1.10');
    expect(controller.metadata_options).toMatchObject({ http_tokens: 'required', http_put_response_hop_limit: 1 });
    expect(controller.root_block_device).toMatchObject({ encrypted: true });
    const state = one('aws_ebs_volume', 'Controller/StateVolume');
    expect(state.encrypted).toBe(true);
    expect(one('aws_volume_attachment', 'Controller/StateVolumeAttachment').device_name).toBe('/dev/sdf');
  });

  test('user-data: valid cloud-config under 16 KiB gzipped; scripts fetched by hash, not inlined', () => {
    expect(ctlData.size).toBeLessThanOrEqual(16_384);
    validateCloudConfig(ctlData.doc);
    const manifest = ctlData.files.get('/etc/cdktf-slurm/bootstrap.sha256')!.content;
    for (const script of ['bootstrap.sh', 'lib/common.sh', 'statesave.sh', 'slurmctld.sh', 'slurmdbd.sh', 'aws/slurm-resume.sh']) {
      expect(manifest).toMatch(new RegExp(`^[0-9a-f]{64}  ${script.replace('.', '\\.')}$`, 'm'));
    }
    expect(manifest).not.toMatch(/ slurmd\.sh$/m);
    expect([...ctlData.files.keys()].filter((p) => p.startsWith('/opt/cdktf-slurm/bootstrap/'))).toEqual([]);
    expect(parse(ctlData.doc).runcmd).toEqual([
      ['bash', '/opt/cdktf-slurm/fetch-bootstrap.sh'],
      ['bash', '/opt/cdktf-slurm/bootstrap/bootstrap.sh'],
    ]);
  });

  test('slurm.conf: node lines and gres come from the instance types; p5 on demand, g5 always up', () => {
    expect(slurmConf).toMatch(/^SlurmctldHost=slurm-controller\(10\.0\.1\.10\)$/m);
    expect(slurmConf).toMatch(/^NodeName=g5-\[0-1\] CPUs=48 RealMemory=\d+ Gres=gpu:a10g:4 .*State=CLOUD$/m);
    expect(slurmConf).toMatch(/^NodeName=p5-\[0-3\] CPUs=192 RealMemory=\d+ Gres=gpu:h100:8 .*State=CLOUD$/m);
    expect(slurmConf).toMatch(/^SuspendExcNodes=g5-\[0-1\]$/m);
    // ... and the controller powers the always-on pool up at first boot.
    expect(ctlData.files.get('/etc/cdktf-slurm/node.env')!.content).toContain("SLURM_POWER_UP_NODES='g5-[0-1]'");
    expect(slurmConf).toMatch(/^ResumeProgram=\/opt\/cdktf-slurm\/bootstrap\/aws\/slurm-resume\.sh$/m);
    expect(slurmConf).toMatch(/^PartitionName=gpu Nodes=g5-\[0-1\] Default=YES .*DefMemPerGPU=\d+ DefCpuPerGPU=12 /m);
    expect(slurmConf).toMatch(/^PartitionName=h100 Nodes=p5-\[0-3\] .*OverSubscribe=EXCLUSIVE .*DefCpuPerGPU=24 /m);
    expect(slurmConf).toMatch(/^AccountingStorageTRES=gres\/gpu$/m);
    // VM nodes run systemd: slurmd asks it for its cgroup scope.
    expect(ctlData.files.get('/etc/cdktf-slurm/slurm/cgroup.conf')!.content).not.toMatch(/IgnoreSystemd/);
  });

  test('slurmrestd with JWT: key generated on the controller into its own secret, auth/jwt in slurm.conf and slurmdbd.conf', () => {
    const env = ctlData.files.get('/etc/cdktf-slurm/node.env')!.content;
    expect(env).toContain("JWT_KEY_SOURCE='generate+aws-secretsmanager:awsgpu/slurm-jwt-key'");
    expect(env).toContain("SLURMRESTD_ENABLED='1'");
    expect(slurmConf).toMatch(/^AuthAltTypes=auth\/jwt$/m);
    expect(slurmConf).toMatch(/^AuthAltParameters=jwt_key=\/etc\/slurm\/jwt_hs256\.key$/m);
    expect(ctlData.files.get('/etc/cdktf-slurm/slurm/slurmdbd.conf')!.content).toMatch(/^AuthAltTypes=auth\/jwt$/m);
    expect(byType('aws_secretsmanager_secret').map((x) => x.name).sort()).toEqual([
      'awsgpu/grafana-admin-password', 'awsgpu/munge-key', 'awsgpu/slurm-jwt-key', 'awsgpu/slurmdbd-db-password',
    ]);
    const manifest = ctlData.files.get('/etc/cdktf-slurm/bootstrap.sha256')!.content;
    expect(manifest).toMatch(/  jwt-key\.sh$/m);
    expect(manifest).toMatch(/  slurmrestd\.sh$/m);
  });

  test('secrets: references only; the controller may read and first-write its own three secrets and nothing else', () => {
    const env = ctlData.files.get('/etc/cdktf-slurm/node.env')!.content;
    expect(env).toContain("MUNGE_KEY_SOURCE='generate+aws-secretsmanager:awsgpu/munge-key'");
    expect(env).toContain("DB_PASSWORD_SOURCE='generate+aws-secretsmanager:awsgpu/slurmdbd-db-password'");
    expect(byType('aws_secretsmanager_secret_version')).toEqual([]);
    const policy = JSON.parse(one('aws_iam_role_policy', 'Controller/SecretsPolicy').policy);
    expect(policy.Statement[0].Resource).toHaveLength(3);
    for (const r of byType('aws_iam_role_policy')) {
      for (const s of JSON.parse(r.policy).Statement) {
        expect([s.Action].flat()).not.toContain('*');
        // EC2 Describe* (node lookup, Prometheus' EC2 discovery) take no resource-level permissions.
        if (s.Sid !== 'FindNodes' && s.Sid !== 'Ec2ServiceDiscovery') expect([s.Resource].flat()).not.toContain('*');
        if (s.Sid === 'Ec2ServiceDiscovery') expect([s.Action].flat().sort()).toEqual(['ec2:DescribeAvailabilityZones', 'ec2:DescribeInstances']);
      }
    }
  });
});

describe('aws-gpu: login node', () => {
  test('private, fixed address next to the controller, IMDSv2, encrypted; sackd (23.11) so no staged config', () => {
    const login = one('aws_instance', 'aws-gpu/Login/Instance');
    expect(login.private_ip).toBe('10.0.1.11');
    expect(login.associate_public_ip_address).toBe(false);
    expect(login.metadata_options).toMatchObject({ http_tokens: 'required' });
    expect(login.root_block_device).toMatchObject({ encrypted: true });
    const ud = userData(login.user_data_base64);
    validateCloudConfig(ud.doc);
    const env = ud.files.get('/etc/cdktf-slurm/node.env')!.content;
    expect(env).toContain("CDKTF_SLURM_ROLES='login'");
    expect(env).toContain("SLURM_CONTROLLER='10.0.1.10:6817'");
    expect(env).toContain("MUNGE_KEY_SOURCE='aws-secretsmanager:awsgpu/munge-key'");
    expect([...ud.files.keys()].filter((p) => p.startsWith('/etc/cdktf-slurm/slurm/'))).toEqual([]);
    expect(ud.files.get('/etc/cdktf-slurm/bootstrap.sha256')!.content).toMatch(/  login\.sh$/m);
  });
});

describe('aws-gpu: pools', () => {
  test('one launch template per pool, IMDSv2 with tags, encrypted disks, cluster placement for p5 only', () => {
    const templates = byType('aws_launch_template');
    expect(templates).toHaveLength(2);
    for (const lt of templates) {
      expect(lt.metadata_options).toMatchObject({ http_tokens: 'required', instance_metadata_tags: 'enabled' });
      expect(lt.block_device_mappings[0].ebs.encrypted).toBe('true');
      const ud = userData(lt.user_data);
      expect(ud.size).toBeLessThanOrEqual(16_384);
      validateCloudConfig(ud.doc);
      const env = ud.files.get('/etc/cdktf-slurm/node.env')!.content;
      expect(env).toContain("SLURM_CONTROLLER='10.0.1.10'");
      expect(env).toContain("MUNGE_KEY_SOURCE='aws-secretsmanager:awsgpu/munge-key'");
      expect(env).toContain("SLURMD_NODENAME_FROM='aws-tag'");
    }
    expect(byType('aws_placement_group')).toEqual([expect.objectContaining({ strategy: 'cluster' })]);
    expect(byType('aws_autoscaling_group')).toEqual([]);
  });

  test('p5: EFA on all 32 network cards, the EFA profile step, one subnet; g5: no EFA', () => {
    const p5 = one('aws_launch_template', 'aws-gpu/P5/LaunchTemplate');
    const g5 = one('aws_launch_template', 'aws-gpu/G5/LaunchTemplate');
    expect(p5.network_interfaces).toHaveLength(32);
    expect(new Set(p5.network_interfaces.map((n: Json) => n.network_card_index)).size).toBe(32);
    expect(p5.network_interfaces.every((n: Json) => ['efa', 'efa-only'].includes(n.interface_type))).toBe(true);
    expect(p5.vpc_security_group_ids).toBeUndefined();
    expect(g5.network_interfaces).toBeUndefined();
    // Every compute node is in the compute-peers group: all traffic between nodes, to nothing else.
    const peers = one('aws_security_group', 'Controller/ComputePeers');
    expect(g5.vpc_security_group_ids).toHaveLength(2);
    expect(JSON.stringify(g5.vpc_security_group_ids)).toContain('ComputePeers');
    expect(p5.network_interfaces.every((n: Json) => JSON.stringify(n.security_groups).includes('ComputePeers'))).toBe(true);
    expect(peers).toBeDefined();
    const p5Env = userData(p5.user_data).files.get('/etc/cdktf-slurm/node.env')!.content;
    expect(p5Env).toContain("EFA_ENABLED='1'");
    expect(userData(p5.user_data).files.get('/etc/cdktf-slurm/bootstrap.sha256')!.content).toMatch(/  aws\/efa\.sh$/m);
    expect(userData(g5.user_data).files.get('/etc/cdktf-slurm/bootstrap.sha256')!.content).not.toMatch(/efa\.sh/);
    const p5Pool = byType('aws_ssm_parameter').find((p) => p.name.endsWith('/p5'))!;
    expect(p5Pool.value).toMatch(/^NETWORK_INTERFACES_IN_TEMPLATE='1'$/m);
    expect(p5Pool.value).toMatch(/^SUBNET_IDS='\$\{[^ }]+\}'$/m);
  });

  test('FSx for Lustre at /lustre and the controller\'s NFS /home on both pools and the login node; the controller serves /home from its own volume', () => {
    const fsx = byType('aws_fsx_lustre_file_system');
    expect(fsx).toEqual([expect.objectContaining({ deployment_type: 'PERSISTENT_2', storage_capacity: 2400 })]);
    const ctlIp = '10.0.1.10';
    const table = `lustre\taws-ssm:/cdktf-slurm/awsgpu/filesystems/scratch\t/lustre\tdefaults,flock\t-\nnfs\t${ctlIp}:/home\t/home\t-\t-\n`;
    for (const pool of ['P5', 'G5']) {
      expect(userData(one('aws_launch_template', `aws-gpu/${pool}/LaunchTemplate`).user_data).files.get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(table);
    }
    expect(userData(one('aws_instance', 'aws-gpu/Login/Instance').user_data_base64).files.get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(table);
    expect(ctlData.files.has('/etc/cdktf-slurm/mounts.tab')).toBe(false);
    expect(ctlData.doc).toContain(`SLURM_CONTROLLER='${ctlIp}'`);
    // The export: the two private subnets only, on the 200 GiB encrypted volume attached as /dev/sdg.
    const privateCidrs = byType('aws_subnet').filter((s) => /-private-/.test(s.tags?.Name ?? '')).map((s) => s.cidr_block).sort();
    expect(privateCidrs).toHaveLength(2);
    expect(ctlData.files.get('/etc/cdktf-slurm/exports.tab')!.content).toBe(`/home\t${privateCidrs.join(',')}\t0755\t/dev/sdg\tnfs-home\n`);
    expect(one('aws_ebs_volume', 'aws-gpu/Home/Disk')).toMatchObject({ size: 200, type: 'gp3', encrypted: true });
    expect(one('aws_volume_attachment', 'aws-gpu/Home/DiskAttachment').device_name).toBe('/dev/sdg');
    // NFS reaches the controller from the cluster's group only.
    const nfs = byType('aws_vpc_security_group_ingress_rule').filter((r) => r.from_port === 2049 || r.to_port === 2049);
    expect(nfs).toHaveLength(1);
    expect(nfs[0]).toMatchObject({ ip_protocol: 'tcp', to_port: 2049 });
    expect(nfs[0].cidr_ipv4).toBeUndefined();
    expect(controller.vpc_security_group_ids).toHaveLength(2);
  });

  test('GPU pools boot the DLAMI GPU base (NVIDIA driver, Fabric Manager); p5 (NVSwitch) waits for Fabric Manager', () => {
    const amiOf = (pool: string): string => {
      const lt = one('aws_launch_template', `aws-gpu/${pool}/LaunchTemplate`);
      const [, id] = /^\$\{data\.aws_ssm_parameter\.([^.]+)\.value\}$/.exec(lt.image_id)!;
      return tf.data.aws_ssm_parameter[id].name;
    };
    for (const pool of ['P5', 'G5']) expect(amiOf(pool)).toBe('/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id');
    const env = (pool: string) => userData(one('aws_launch_template', `aws-gpu/${pool}/LaunchTemplate`).user_data).files.get('/etc/cdktf-slurm/node.env')!.content;
    expect(env('P5')).toContain("GPU_FABRIC_MANAGER='1'");
    expect(env('G5')).not.toContain('GPU_FABRIC_MANAGER');
  });

  test('each pool publishes its launch settings for the ResumeProgram', () => {
    const params = byType('aws_ssm_parameter').map((p) => p.name).filter((n) => n.includes('/pools/')).sort();
    expect(params).toEqual(['/cdktf-slurm/awsgpu/pools/g5', '/cdktf-slurm/awsgpu/pools/p5']);
    const p5 = byType('aws_ssm_parameter').find((p) => p.name.endsWith('/p5'))!;
    expect(p5.value).toMatch(/^PLACEMENT_GROUP='.+'$/m);
    expect(p5.value).toMatch(/^CAPACITY_TYPE='on-demand'$/m);
  });

  test('scripts bucket: private, encrypted, TLS only; nodes may only read the bootstrap prefix', () => {
    expect(byType('aws_s3_bucket_public_access_block')[0]).toMatchObject({
      block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    });
    const objects = byType('aws_s3_object');
    expect(objects.map((o) => o.key)).toContain('bootstrap/aws/fetch-bootstrap.sh');
    const read = byType('aws_iam_role_policy').filter((r) => r.name === 'read-bootstrap-scripts');
    expect(read).toHaveLength(5); // controller, login, two pools, monitor
    for (const r of read) expect(JSON.parse(r.policy).Statement[0].Action).toEqual(['s3:GetObject']);
  });
});

const availability = awsValidationAvailability();
if (!availability.ok) console.warn(`\n!!! SKIPPING terraform validate of aws-gpu: ${availability.reason}\n`);
(availability.ok ? test : test.skip)('terraform validate passes against the real AWS provider', () => {
  const result = validateAws(tf);
  if (result.skipped) throw new Error(result.reason);
  expect(formatDiagnostics(result.errors)).toBe('');
  expect(result.valid).toBe(true);
}, 120_000);
