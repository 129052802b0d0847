import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { BastionVpc } from '../lib/constructs/bastion-vpc';
import { Ec2Nodes } from '../lib/aws/ec2-nodes';
import { ComputeNodePool } from '../lib/constructs/compute-node-pool';
import { GpuPartition } from '../lib/constructs/gpu-partition';
import { LoginNode } from '../lib/constructs/login-node';
import { LustreFs } from '../lib/constructs/lustre-fs';
import { FsxLustre } from '../lib/aws/fsx-lustre';
import { MonitoringStack } from '../lib/constructs/monitoring-stack';
import { NfsShare } from '../lib/constructs/nfs-share';
import { SlurmController } from '../lib/constructs/slurm-controller';
import { enforceSecurityPolicy } from '../lib/policy/security-policy';

/**
 * All-AWS GPU cluster: a private controller (slurmctld + slurmdbd/MariaDB + slurmrestd) and a login node behind a
 * bastion, two g5.12xlarge
 * nodes always up, and up to 4 p5.48xlarge nodes Slurm starts on demand (EFA, cluster placement group), and a
 * 2.4 TiB FSx for Lustre (PERSISTENT_2) at /lustre and the controller's NFS /home (its own 200 GiB volume) on the GPU
 * nodes and the login node.
 * Synthesizes with no credentials; region and SSH CIDRs are Terraform variables.
 */
export class AwsGpuStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Every finding of the security policy pack fails synth; accepted ones carry their reason (see README).
    enforceSecurityPolicy(this);
    const region = new TerraformVariable(this, 'region', {
      type: 'string',
      default: 'us-east-1',
      description: 'AWS region of the cluster',
    });
    new AwsProvider(this, 'aws', { region: region.stringValue, defaultTags: [{ tags: { 'managed-by': 'cdktf-slurm', stack: id } }] });

    const network = new BastionVpc(this, 'Network', { cidr: '10.0.0.0/16', availabilityZoneCount: 2 });
    const controller = new SlurmController(this, 'Controller', { network, clusterName: 'awsgpu', restApi: true });
    const g5 = new ComputeNodePool(this, 'G5', { controller, name: 'g5', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2 });
    const p5 = new ComputeNodePool(this, 'P5', { controller, name: 'p5', nodes: Ec2Nodes.of({ instanceType: 'p5.48xlarge' }), maxCount: 4 });
    new GpuPartition(this, 'Gpu', { controller, name: 'gpu', pools: [g5], default: true, maxTime: '1-00:00:00' });
    new GpuPartition(this, 'H100', { controller, name: 'h100', pools: [p5], exclusive: true, maxTime: '3-00:00:00' });

    const login = new LoginNode(this, 'Login', { controller });
    // Shared scratch for datasets and checkpoints: FSx for Lustre in the controller's zone, on every GPU node and the
    // login node (security rules follow from mountOn).
    const scratch = new LustreFs(this, 'Scratch', { controller, name: 'scratch', mountPoint: '/lustre', fileSystem: FsxLustre.of({ storageCapacityGiB: 2400 }) });
    scratch.mountOn(g5, p5, login);
    // Homes (dotfiles, small code) on the controller's own volume over NFS; bulk data belongs on /lustre.
    const home = new NfsShare(this, 'Home', { controller, name: 'home', diskGiB: 200 });
    home.mountOn(g5, p5, login);
    // Prometheus + Grafana on their own VM: GPU health (DCGM), node and Slurm state, alert rules.
    const monitor = new MonitoringStack(this, 'Monitoring', { controller });

    new TerraformOutput(this, 'controller_private_ip', { value: controller.privateIp });
    new TerraformOutput(this, 'login_private_ip', { value: login.privateIp });
    new TerraformOutput(this, 'bastion_public_ip', { value: network.bastionPublicIp });
    new TerraformOutput(this, 'grafana_url', { value: monitor.grafanaUrl, description: 'Through the bastion: ssh -L 3000:<monitor>:3000 <bastion>' });
  }
}
