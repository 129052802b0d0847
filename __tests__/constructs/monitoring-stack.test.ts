/**
 * MonitoringStack: Prometheus + Grafana on a VM of their own (AWS, GCP) or on the controller. Asserted: the scrape
 * jobs come from the cluster's host sets (promtool accepts the rendered config), every host runs exactly its
 * exporters once a monitor exists (and none without), the exporter ports open from the monitor only, Grafana is
 * reachable from the bastion (or given private ranges) only, its password is a secret the monitor fills, and bad
 * input fails at synth with path, field, value and fix. The AWS part passes `terraform validate`.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { App, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { LoginNode } from '../../lib/constructs/login-node';
import { MonitoringStack, MonitoringStackProps } from '../../lib/constructs/monitoring-stack';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';
import { Ec2Instance } from '../../lib/aws/ec2-instance';

type Json = Record<string, any>;
const havePromtool = spawnSync('promtool', ['--version']).status === 0;

function awsCluster(monitor?: Omit<MonitoringStackProps, 'controller'>) {
  const stack = new TerraformStack(Testing.app(), 'm');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const gpu = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), maxCount: 4 });
  const cpu = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 2 });
  new LoginNode(stack, 'Login', { controller });
  new GpuPartition(stack, 'GpuPart', { controller, name: 'gpu', pools: [gpu], default: true });
  new Partition(stack, 'CpuPart', { controller, name: 'cpu', pools: [cpu] });
  const mon = monitor ? new MonitoringStack(stack, 'Monitor', { controller, ...monitor }) : undefined;
  return { stack, network, controller, mon };
}

const cloudConfig = (b64: string): Json => parse(gunzipSync(Buffer.from(b64, 'base64')).toString('utf8'));
const fileOf = (doc: Json, p: string): string | undefined => (doc.write_files as Json[]).find((f) => f.path === p)?.content;
const envOf = (doc: Json): string => fileOf(doc, '/etc/cdktf-slurm/node.env')!;
function hosts(tf: Json): Record<string, Json> {
  const byId = (type: string, prefix: string) => {
    const [, r] = Object.entries(tf.resource[type] as Json).find(([id]) => id.startsWith(prefix))!;
    return cloudConfig((r.user_data_base64 ?? r.user_data) as string);
  };
  return { controller: byId('aws_instance', 'Ctl_Instance'), login: byId('aws_instance', 'Login_'), gpu: byId('aws_launch_template', 'Gpu_'), cpu: byId('aws_launch_template', 'Cpu_') };
}

function promtoolConfig(config: string, rules: string): { status: number | null; out: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mon-'));
  fs.writeFileSync(path.join(dir, 'rules.yml'), rules);
  // What monitoring-server.sh does on the VM: the region from IMDS in place of the placeholder.
  const onVm = config.replace('/etc/prometheus/rules/cdktf-slurm.rules.yml', path.join(dir, 'rules.yml')).replace(/@aws-region@/g, 'us-east-1');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), onVm);
  const r = spawnSync('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('a monitoring VM on AWS', () => {
  const { stack, network, mon } = awsCluster({ grafanaAllowedCidrs: ['10.8.0.0/16'] });
  const text = Testing.synth(stack);
  const tf: Json = JSON.parse(text);
  const vm = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Monitor_'))![1] as Json;
  const doc = cloudConfig(vm.user_data_base64);
  const promYml = fileOf(doc, '/etc/cdktf-slurm/monitoring/prometheus.yml')!;
  const sgId = Object.entries(tf.resource.aws_security_group as Json).find(([, g]) => (g as Json).name === 'hpc-monitor')![0];
  const sgRef = `\${aws_security_group.${sgId}.id}`;
  const clusterRef = `\${aws_security_group.${Object.keys(tf.resource.aws_security_group).find((k) => /Net_ClusterSecurityGroup/.test(k))}.id}`;
  const bastionRef = `\${aws_security_group.${Object.keys(tf.resource.aws_security_group).find((k) => /Net_Bastion/.test(k))}.id}`;
  const ingress = Object.values(tf.resource.aws_vpc_security_group_ingress_rule as Json) as Json[];

  test('a private VM at its fixed address, IMDSv2, encrypted 100 GiB root, running monitoring-server.sh', () => {
    expect(vm).toMatchObject({ private_ip: '10.0.1.30', associate_public_ip_address: false, instance_type: 'm6i.large' });
    expect(vm.metadata_options.http_tokens).toBe('required');
    expect(vm.root_block_device).toMatchObject({ encrypted: true, volume_size: 100 });
    expect(fileOf(doc, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  monitoring\/monitoring-server\.sh$/m);
    expect(doc.runcmd.map((c: string[]) => c.join(' '))).toContain('bash /opt/cdktf-slurm/bootstrap/monitoring/monitoring-server.sh');
    expect(mon!.grafanaUrl).toBe('http://10.0.1.30:3000');
  });

  test('scrape jobs for every host set, EC2 discovery by the cluster and pool tags; promtool accepts the config', () => {
    const jobs = (parse(promYml).scrape_configs as Json[]).map((j) => j.job_name);
    expect(jobs).toEqual(['prometheus', 'node-controller', 'slurm-controller', 'node-compute-gpu', 'dcgm-compute-gpu', 'node-compute-cpu', 'node-login-slurm-login']);
    const gpuJob = (parse(promYml).scrape_configs as Json[]).find((j) => j.job_name === 'dcgm-compute-gpu')!;
    expect(gpuJob.ec2_sd_configs[0].region).toBe('@aws-region@');
    expect(gpuJob.ec2_sd_configs[0].filters).toEqual([{ name: 'tag:slurm:cluster', values: ['hpc'] }, { name: 'tag:slurm:pool', values: ['gpu'] }]);
    if (havePromtool) {
      const r = promtoolConfig(promYml, fileOf(doc, '/etc/cdktf-slurm/monitoring/rules.yml')!);
      expect(r.out).toMatch(/SUCCESS/);
      expect(r.status).toBe(0);
    }
    // Grafana: the data source, the provider and both dashboards are shipped.
    expect(parse(fileOf(doc, '/etc/cdktf-slurm/monitoring/grafana-datasources.yaml')!).datasources[0].url).toBe('http://localhost:9090');
    for (const d of ['slurm-cluster.json', 'gpu-nodes.json']) expect(JSON.parse(fileOf(doc, `/etc/cdktf-slurm/monitoring/dashboards/${d}`)!).panels.length).toBeGreaterThan(3);
  });

  test('every host runs its exporters: controller node+slurm, GPU pool node+dcgm, CPU pool and login node only', () => {
    const h = hosts(tf);
    expect(envOf(h.controller)).toContain("EXPORTERS='node slurm'");
    expect(envOf(h.gpu)).toContain("EXPORTERS='node dcgm'");
    expect(envOf(h.cpu)).toContain("EXPORTERS='node'");
    expect(envOf(h.login)).toContain("EXPORTERS='node'");
    expect(fileOf(h.controller, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  slurm-metrics\.sh$/m);
    expect(fileOf(h.gpu, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  exporters\.sh$/m);
  });

  test('exporter ports open into the cluster group from the monitor group only; Grafana/Prometheus from the bastion and the given private range', () => {
    const scrape = ingress.filter((r) => r.security_group_id === clusterRef && r.referenced_security_group_id === sgRef);
    expect(scrape.map((r) => r.from_port).sort()).toEqual([8080, 9100, 9400]);
    expect(ingress.filter((r) => [8080, 9100, 9400].includes(r.from_port)).every((r) => r.referenced_security_group_id === sgRef && r.cidr_ipv4 === undefined)).toBe(true);
    const into = ingress.filter((r) => r.security_group_id === sgRef).map((r) => `${r.referenced_security_group_id ?? r.cidr_ipv4}:${r.from_port}`).sort();
    expect(into).toEqual([`${bastionRef}:3000`, `${bastionRef}:9090`, '10.8.0.0/16:3000'].sort());
    expect(network.bastionSecurityGroupId).toBeDefined();
  });

  test('Grafana\'s password: an empty secret the monitor fills at first boot, readable by the monitor\'s role alone; never "admin"', () => {
    const secret = Object.values(tf.resource.aws_secretsmanager_secret as Json).find((s) => (s as Json).name === 'hpc/grafana-admin-password');
    expect(secret).toBeDefined();
    expect(JSON.stringify(tf.resource.aws_secretsmanager_secret_version ?? {})).not.toContain('grafana');
    expect(envOf(doc)).toContain("GRAFANA_ADMIN_PASSWORD_SOURCE='generate+aws-secretsmanager:hpc/grafana-admin-password'");
    expect(text).not.toMatch(/admin_password|GF_SECURITY_ADMIN_PASSWORD=/i);
    const policies = Object.values(tf.resource.aws_iam_role_policy as Json).filter((p) => (p as Json).name === 'monitoring') as Json[];
    expect(policies).toHaveLength(1);
    const statements = JSON.parse(policies[0].policy).Statement as Json[];
    expect(statements.map((s) => s.Action).flat().sort()).toEqual(['ec2:DescribeAvailabilityZones', 'ec2:DescribeInstances', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(statements.find((s) => s.Sid === 'GrafanaAdminPassword')!.Resource).toEqual([expect.stringMatching(/aws_secretsmanager_secret\..*\.arn/)]);
  });

  (awsValidationAvailability().ok ? test : test.skip)('terraform validate accepts it against the AWS provider schema', () => {
    const result = validateAws(text);
    if (result.skipped) throw new Error(result.reason);
    expect(formatDiagnostics(result.errors)).toBe('');
  }, 120_000);
});

test('without a MonitoringStack no host runs exporters', () => {
  const { stack } = awsCluster();
  const h = hosts(JSON.parse(Testing.synth(stack)));
  for (const doc of Object.values(h)) {
    expect(envOf(doc)).not.toMatch(/EXPORTERS=/);
    expect(fileOf(doc, '/etc/cdktf-slurm/bootstrap.sha256')).not.toMatch(/exporters\.sh/);
  }
});

test('on the controller: the controller runs the monitor step with the rendered files, within EC2\'s user-data budget', () => {
  const { stack } = awsCluster({ onController: true });
  const tf: Json = JSON.parse(Testing.synth(stack));
  expect(Object.keys(tf.resource.aws_instance).some((id) => id.startsWith('Monitor_'))).toBe(false);
  const ctl = hosts(tf).controller;
  expect(envOf(ctl)).toContain("MONITOR_ENABLED='1'");
  expect(fileOf(ctl, '/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  monitoring\/monitoring-server\.sh$/m);
  expect(parse(fileOf(ctl, '/etc/cdktf-slurm/monitoring/prometheus.yml')!).scrape_configs.length).toBe(7);
  const ctlVm = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Ctl_Instance'))![1] as Json;
  expect(ctlVm.vpc_security_group_ids).toHaveLength(2);
});

describe('a monitoring VM on GCP', () => {
  const stack = new TerraformStack(Testing.app(), 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 2 });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  new MonitoringStack(stack, 'Monitor', { controller });
  const tf: Json = JSON.parse(Testing.synth(stack));
  const vm = Object.values(tf.resource.google_compute_instance as Json).find((i) => (i as Json).name === 'hpc-monitor') as Json;

  test('a VM labelled slurm-role=monitor with its own account (compute.viewer for discovery), no external address', () => {
    expect(vm.labels['slurm-role']).toBe('monitor');
    expect(vm.network_interface[0].access_config).toBeUndefined();
    const viewer = Object.values(tf.resource.google_project_iam_member as Json).filter((m) => (m as Json).role === 'roles/compute.viewer') as Json[];
    expect(viewer).toHaveLength(1);
    expect(viewer[0].member).toMatch(/google_service_account\..*Monitor.*member/);
    const grants = Object.values(tf.resource.google_secret_manager_secret_iam_member as Json).filter((g) => (g as Json).secret_id === 'hpc-grafana-admin-password');
    expect(grants).toHaveLength(2);
  });

  test('GCE discovery for the pool, the password generated into Secret Manager', () => {
    const userData = vm.metadata['user-data'] as string;
    expect(userData).toContain("GRAFANA_ADMIN_PASSWORD_SOURCE='generate+gcp-secretmanager:projects/my-hpc-project/secrets/hpc-grafana-admin-password'");
    const doc = parse(userData.replace(/\$\$\{/g, '${'));
    const jobs = parse(fileOf(doc, '/etc/cdktf-slurm/monitoring/prometheus.yml')!).scrape_configs as Json[];
    expect(jobs.find((j) => j.job_name === 'node-compute-cpu')!.gce_sd_configs[0]).toMatchObject({ project: 'my-hpc-project', zone: 'us-central1-a', port: 9100 });
  });
});

describe('bad input fails at synth, naming path, field, value and fix', () => {
  test.each<[string, Omit<MonitoringStackProps, 'controller'>, RegExp]>([
    ['a public range for Grafana', { grafanaAllowedCidrs: ['0.0.0.0/0'] }, /m\/Monitor: grafanaAllowedCidrs\[0\] = "0\.0\.0\.0\/0": is not a private range; Grafana is never opened to the internet/],
    ['a non-CIDR', { grafanaAllowedCidrs: ['10.0.0.1'] }, /grafanaAllowedCidrs\[0\] = "10\.0\.0\.1": not an IPv4 CIDR block/],
    ['a VM type with onController', { onController: true, instance: Ec2Instance.of({ instanceType: 'm6i.large' }) }, /m\/Monitor: instance = .*m6i\.large.*: describes the monitoring VM, and onController puts the monitor on the controller/],
    ['a boot disk beside diskGiB', { instance: Ec2Instance.of({ rootVolumeSizeGiB: 200 }) }, /m\/Monitor: instance\.rootVolumeSizeGiB = 200: is the monitor's diskGiB\. Give diskGiB instead/],
    ['a bad retention', { retention: '30 days' }, /retention = "30 days": is not a Prometheus retention/],
    ['the controller\'s address', { hostIndex: 10 }, /hostIndex = 10: 10\.0\.1\.10 is the controller's address/],
    ['a tiny disk', { diskGiB: 8 }, /diskGiB = 8: must be a whole number of GiB from 20/],
  ])('%s', (_name, props, message) => {
    expect(() => awsCluster(props)).toThrow(message);
  });

  test('one monitor per cluster', () => {
    const { stack, controller } = awsCluster({});
    expect(() => new MonitoringStack(stack, 'Second', { controller })).toThrow(/m\/Second: cluster hpc is already monitored by m\/Monitor/);
  });

  test('a dedicated monitor cannot reach mesh pools: synth fails naming onController', () => {
    const stack = new TerraformStack(new App({ outdir: fs.mkdtempSync(path.join(os.tmpdir(), 'mon-mesh-')) }), 'mesh');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    const key = new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } } });
    const box = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1 });
    new Partition(stack, 'Part', { controller, name: 'box', pools: [box], default: true });
    new MonitoringStack(stack, 'Monitor', { controller });
    expect(() => Testing.synth(stack, true)).toThrow(/onController = false: pool box is on the mesh, which only the controller reaches\. Use onController: true/);
  });
});
