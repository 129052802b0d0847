/**
 * The seams storage and monitoring plug into. File systems: `fs.mountOn(host)` and a host's `mounts` prop reach
 * the host's rendered mount table, the server side is asked to admit each client once with the client's network,
 * and clashing mount points fail with both names. Monitoring: the controller lists every host set's exporters as
 * discovery groups, which render to a Prometheus configuration that Prometheus's own checker accepts.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { App, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse, stringify } from 'yaml';
import { gunzipSync } from 'zlib';
import { ClusterMount } from '../../lib/cloudinit/mounts';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ClusterFileSystem, FileSystemClientNetwork, IFileSystemClient } from '../../lib/constructs/cluster-file-system';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { renderScrapeConfigs } from '../../lib/monitoring/scrape-targets';
import { Construct } from 'constructs';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;

/** A file system as LustreFs/CephFs will be: admits each VPC client with an ingress rule on its server group. */
class TestFs extends ClusterFileSystem {
  readonly connected: { path: string; network: FileSystemClientNetwork }[] = [];
  constructor(scope: Construct, id: string, readonly mountPoint: string, private readonly serverGroup = 'sg-server') {
    super(scope, id);
  }
  connectClient(client: IFileSystemClient): ClusterMount {
    const network = client.fileSystemClientNetwork;
    this.connected.push({ path: client.node.path, network });
    if (network.kind === 'aws-security-group') {
      new VpcSecurityGroupIngressRule(this, `From${this.connected.length}`, {
        securityGroupId: this.serverGroup,
        referencedSecurityGroupId: network.securityGroupId,
        ipProtocol: 'tcp',
        fromPort: 2049,
        toPort: 2049,
        description: `NFS from ${client.node.path}`,
      });
    }
    return { kind: 'nfs', source: `filer.internal:/export${this.mountPoint}`, mountPoint: this.mountPoint, origin: this.node.path };
  }
}

function awsCluster() {
  const app = new App({ outdir: fs.mkdtempSync(path.join(Testing.app().outdir, 'seams-')) });
  const stack = new TerraformStack(app, 'seams');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  return { stack, network, controller };
}

/** The cloud-config of an AWS host: an instance's `user_data_base64` or a launch template's `user_data`. */
function cloudConfigOf(tf: Json, type: 'aws_instance' | 'aws_launch_template', idPrefix: string): Json {
  const [, res] = Object.entries(tf.resource[type] as Json).find(([id]) => id.startsWith(idPrefix))!;
  const b64 = (res.user_data_base64 ?? res.user_data) as string;
  return parse(gunzipSync(Buffer.from(b64, 'base64')).toString('utf8'));
}
const fileOf = (doc: Json, p: string): string | undefined => (doc.write_files as Json[]).find((f) => f.path === p)?.content;
const manifestOf = (doc: Json): string => fileOf(doc, '/etc/cdktf-slurm/bootstrap.sha256') ?? '';

describe('file systems', () => {
  test('mountOn and the mounts prop reach each host\'s mount table; the server admits each client once, by its group', () => {
    const { stack, network, controller } = awsCluster();
    const home = new TestFs(stack, 'Home', '/home');
    const scratch = new TestFs(stack, 'Scratch', '/scratch');
    const gpu = new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 1, mounts: [home] });
    const cpu = new ComputeNodePool(stack, 'Cpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), maxCount: 4 });
    new LoginNode(stack, 'Login', { controller, mounts: [home] });
    // Added after the pools and the login node exist: rendering is deferred to synth.
    scratch.mountOn(gpu, controller);
    home.mountOn(controller);
    new GpuPartition(stack, 'GpuPart', { controller, pools: [gpu], default: true });
    new Partition(stack, 'CpuPart', { controller, pools: [cpu] });
    const tf = JSON.parse(Testing.synth(stack));

    const table = (doc: Json) => fileOf(doc, '/etc/cdktf-slurm/mounts.tab');
    const gpuDoc = cloudConfigOf(tf, 'aws_launch_template', 'Gpu_');
    expect(table(gpuDoc)).toBe('nfs\tfiler.internal:/export/home\t/home\t-\t-\n' + 'nfs\tfiler.internal:/export/scratch\t/scratch\t-\t-\n');
    expect(table(cloudConfigOf(tf, 'aws_instance', 'Ctl_'))).toBe('nfs\tfiler.internal:/export/scratch\t/scratch\t-\t-\n' + 'nfs\tfiler.internal:/export/home\t/home\t-\t-\n');
    expect(table(cloudConfigOf(tf, 'aws_instance', 'Login_'))).toBe('nfs\tfiler.internal:/export/home\t/home\t-\t-\n');
    // A host without mounts carries no table and no mount scripts.
    const cpuDoc = cloudConfigOf(tf, 'aws_launch_template', 'Cpu_');
    expect(table(cpuDoc)).toBeUndefined();
    expect(manifestOf(cpuDoc)).not.toMatch(/mounts\.sh|nfs-client\.sh/);
    expect(manifestOf(gpuDoc)).toMatch(/  mounts\.sh$/m);
    expect(manifestOf(gpuDoc)).toMatch(/  nfs-client\.sh$/m);

    // Each client was admitted once, through the cluster's security group.
    expect(home.connected.map((c) => c.path)).toEqual(['seams/Gpu', 'seams/Login', 'seams/Ctl']);
    expect(scratch.connected.map((c) => c.path)).toEqual(['seams/Gpu', 'seams/Ctl']);
    for (const c of [...home.connected, ...scratch.connected]) {
      expect(c.network).toEqual({ kind: 'aws-security-group', securityGroupId: network.clusterSecurityGroupId, vpcId: network.vpcId, groupName: 'ClusterGroup' });
    }
    const rules = Object.values(tf.resource.aws_vpc_security_group_ingress_rule as Json).filter((r: Json) => r.security_group_id === 'sg-server');
    expect(rules).toHaveLength(5);
  });

  test('a mount point clash fails at the call, naming the host and both file systems', () => {
    const { stack, controller } = awsCluster();
    const a = new TestFs(stack, 'A', '/shared');
    const b = new TestFs(stack, 'B', '/shared');
    const inner = new TestFs(stack, 'Inner', '/shared/data');
    const pool = new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g5.xlarge' }), count: 1, mounts: [a] });
    expect(() => b.mountOn(pool)).toThrow(/seams\/Gpu: seams\/B: mount nfs: mountPoint = "\/shared": is also the mount point "\/shared" of seams\/A on the same hosts/);
    expect(() => inner.mountOn(pool)).toThrow(/seams\/Gpu: seams\/Inner: .*"\/shared\/data": overlaps the mount point "\/shared" of seams\/A/);
    expect(() => a.mountOn(pool)).toThrow(/seams\/Gpu: mounts: seams\/A is already mounted here \(at \/shared\); mount each file system once/);
    // The same mount point on different hosts is fine.
    expect(() => b.mountOn(controller)).not.toThrow();
  });

  test('the controller\'s shared directory: the controller itself is refused (it serves it); mesh pools mount it by mesh name', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(Testing.app().outdir, 'seams-')) });
    const stack = new TerraformStack(app, 'mesh');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    const key = new TerraformVariable(stack, 'ts_key', { type: 'string', sensitive: true });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } }, sharedDirectory: {} });
    expect(() => controller.sharedDirectory!.mountOn(controller)).toThrow(
      /mesh\/Ctl: mounts = "mesh\/Ctl\/SharedDirectory": the controller serves this share: \/shared is already its own directory there\. Mount it on pools and login nodes only/,
    );
    // Mesh pools mount it without being asked, and only once when also asked.
    const box = new ComputeNodePool(stack, 'Box', {
      controller, name: 'box', nodes: DockerNodes.on('ssh://me@box', { cpus: 8, realMemoryMiB: 30000 }), count: 2,
      mounts: [controller.sharedDirectory!],
    });
    new Partition(stack, 'Cpu', { controller, pools: [box], default: true });
    const tf = JSON.parse(Testing.synth(stack));
    const container = Object.values(tf.resource.docker_container as Json)[0] as Json;
    expect(container.upload.find((u: Json) => u.file === '/etc/cdktf-slurm/mounts.tab').content).toBe('nfs\tslurm-controller:/shared\t/shared\t-\t-\n');
  });
});

describe('scrape targets', () => {
  function monitoredCluster() {
    const { stack, network, controller } = awsCluster();
    const gpu = new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), maxCount: 8 });
    const cpu = new ComputeNodePool(stack, 'Cpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 2 });
    new LoginNode(stack, 'Login', { controller });
    new GpuPartition(stack, 'GpuPart', { controller, pools: [gpu], default: true });
    new Partition(stack, 'CpuPart', { controller, pools: [cpu] });
    return { network, controller };
  }

  test('every host set is listed once per exporter: tags for pools whatever their size, fixed addresses for the rest', () => {
    const { network, controller } = monitoredCluster();
    const groups = controller.scrapeTargets();
    const summary = groups.map((g) => `${g.exporter}:${g.labels.role}:${g.labels.pool ?? g.labels.node ?? ''}:${g.discovery.kind}`);
    expect(summary).toEqual([
      'node:controller::static', 'slurm:controller::static',
      'node:compute:gpu:ec2', 'dcgm:compute:gpu:ec2',
      // CPU nodes run no DCGM exporter.
      'node:compute:cpu:ec2',
      'node:login:slurm-login:static',
    ]);
    expect(groups[0].discovery).toEqual({ kind: 'static', hosts: [controller.privateIp] });
    expect(groups[2].discovery).toEqual({ kind: 'ec2', tags: { 'slurm:cluster': 'hpc', 'slurm:pool': 'gpu' } });
    for (const g of groups) expect(g.reach).toEqual({ kind: 'aws-security-group', securityGroupId: network.clusterSecurityGroupId });
  });

  test('mesh pools are listed by their mesh names', () => {
    const app = new App({ outdir: fs.mkdtempSync(path.join(Testing.app().outdir, 'seams-')) });
    const stack = new TerraformStack(app, 'mesh');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    const key = new TerraformVariable(stack, 'ts_key', { type: 'string', sensitive: true });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', mesh: { tailscale: { authKey: key.stringValue } } });
    new ComputeNodePool(stack, 'Box', { controller, name: 'gpu', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 8, realMemoryMiB: 30000 }), count: 3, gpus: { type: 'rtx3070', count: 1 } });
    const pool = controller.scrapeTargets().filter((g) => g.labels.pool === 'gpu');
    expect(pool.map((g) => g.exporter)).toEqual(['node', 'dcgm']);
    for (const g of pool) {
      expect(g.discovery).toEqual({ kind: 'static', hosts: ['gpu-0', 'gpu-1', 'gpu-2'] });
      expect(g.reach).toEqual({ kind: 'mesh' });
    }
  });

  test('the groups render to scrape configs Prometheus accepts, with the cluster\'s tag filters and ports', () => {
    const { controller } = monitoredCluster();
    const configs = renderScrapeConfigs(controller.scrapeTargets(), { awsRegion: 'us-east-1' });
    expect(configs.map((c) => c.job_name)).toEqual(['node-controller', 'slurm-controller', 'node-compute-gpu', 'dcgm-compute-gpu', 'node-compute-cpu', 'node-login-slurm-login']);
    const dcgm = configs[3] as Json;
    expect(dcgm.ec2_sd_configs).toEqual([{ region: 'us-east-1', port: 9400, filters: [{ name: 'tag:slurm:cluster', values: ['hpc'] }, { name: 'tag:slurm:pool', values: ['gpu'] }] }]);
    expect(dcgm.relabel_configs).toContainEqual({ source_labels: ['__meta_ec2_private_ip'], regex: '(.+)', target_label: '__address__', replacement: '$1:9400', action: 'replace' });
    expect(dcgm.relabel_configs).toContainEqual({ source_labels: ['__meta_ec2_tag_slurm_node_name'], regex: '(.+)', target_label: 'instance', action: 'replace' });
    expect((configs[0] as Json).static_configs).toEqual([{ targets: [`${controller.privateIp}:9100`], labels: { cluster: 'hpc', role: 'controller' } }]);
    // Without a region, Prometheus reads the monitor's own from the instance metadata: no region key at all.
    expect(((renderScrapeConfigs(controller.scrapeTargets())[3] as Json).ec2_sd_configs as Json[])[0]).not.toHaveProperty('region');

    const promtool = spawnSync('promtool', ['--version']);
    if (promtool.error || promtool.status !== 0) {
      // CI installs it (scripts/setup-debian.sh): there, a missing checker is a failure, not a skip.
      if (process.env.CI) throw new Error('promtool missing in CI: run scripts/setup-debian.sh');
      console.warn('promtool is not installed (Debian package prometheus): the rendered configuration was not checked by Prometheus');
      return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-'));
    const file = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(file, stringify({ global: { scrape_interval: '30s' }, scrape_configs: configs }));
    const r = spawnSync('promtool', ['check', 'config', '--syntax-only', file], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
