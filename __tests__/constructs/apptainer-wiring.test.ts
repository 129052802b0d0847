/**
 * `apptainer` on pools and login nodes reaches the node: its node.env entries, the staged registry file, and the
 * install step in the shipped scripts; a Docker pool refuses it (its image is the user's to build).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { STAGED_APPTAINER_REGISTRIES_CONF_PATH } from '../../lib/cloudinit/apptainer';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;
const SETTINGS = { version: '1.3.6', sha256: 'a'.repeat(64), registry: { host: '10.0.1.50:5000', insecure: true } };

test('pool and login node: APPTAINER_* in node.env, the registry file staged, apptainer.sh shipped; a pool without it has none', () => {
  const stack = new TerraformStack(Testing.app(), 'a');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const gpu = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1, apptainer: SETTINGS });
  const cpu = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 1 });
  new LoginNode(stack, 'Login', { controller, apptainer: SETTINGS });
  new Partition(stack, 'Part', { controller, name: 'all', pools: [gpu, cpu], default: true });
  const tf: Json = JSON.parse(Testing.synth(stack));
  const doc = (type: string, prefix: string) => {
    const [, r] = Object.entries(tf.resource[type] as Json).find(([id]) => id.startsWith(prefix))!;
    const d = parse(gunzipSync(Buffer.from(((r as Json).user_data_base64 ?? (r as Json).user_data) as string, 'base64')).toString('utf8'));
    return new Map((d.write_files as Json[]).map((f) => [f.path, f.content as string]));
  };
  for (const files of [doc('aws_launch_template', 'Gpu_'), doc('aws_instance', 'Login_')]) {
    const env = files.get('/etc/cdktf-slurm/node.env')!;
    expect(env).toContain("APPTAINER_VERSION='1.3.6'");
    expect(env).toContain(`APPTAINER_SHA256='${'a'.repeat(64)}'`);
    expect(env).toContain("APPTAINER_REGISTRY='10.0.1.50:5000'");
    expect(files.get(STAGED_APPTAINER_REGISTRIES_CONF_PATH)).toContain('10.0.1.50:5000');
    expect(files.get('/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  containers\/apptainer\.sh$/m);
  }
  const cpuFiles = doc('aws_launch_template', 'Cpu_');
  expect(cpuFiles.get('/etc/cdktf-slurm/node.env')).not.toMatch(/APPTAINER/);
  expect(cpuFiles.get('/etc/cdktf-slurm/bootstrap.sha256')).not.toMatch(/apptainer/);
});

test('a Docker pool refuses apptainer, naming the fix; a bad checksum fails at the prop', () => {
  const stack = new TerraformStack(Testing.app(), 'a');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const key = new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } } });
  expect(() => new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1, apptainer: SETTINGS }))
    .toThrow(/a\/Box: apptainer = "<settings>": is installed on EC2 and Compute Engine pools only\. Install Apptainer in the Docker image/);
  const s2 = new TerraformStack(Testing.app(), 'b');
  new AwsProvider(s2, 'aws', { region: 'us-east-1' });
  const c2 = new SlurmController(s2, 'Ctl', { network: new BastionVpc(s2, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc' });
  expect(() => new ComputeNodePool(s2, 'Gpu', { controller: c2, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1, apptainer: { ...SETTINGS, sha256: 'abc' } }))
    .toThrow(/b\/Gpu: apptainer.*sha256/);
});
