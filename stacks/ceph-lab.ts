import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { BastionVpc } from '../lib/constructs/bastion-vpc';
import { CephFs } from '../lib/constructs/ceph-fs';
import { MicroCephServer } from '../lib/aws/microceph-server';
import { Ec2Nodes } from '../lib/aws/ec2-nodes';
import { ComputeNodePool } from '../lib/constructs/compute-node-pool';
import { LoginNode } from '../lib/constructs/login-node';
import { MonitoringStack } from '../lib/constructs/monitoring-stack';
import { Partition } from '../lib/constructs/partition';
import { SlurmController } from '../lib/constructs/slurm-controller';
import { enforceSecurityPolicy } from '../lib/policy/security-policy';

/**
 * The MicroCeph lab, on AWS: what people build by hand with Juju and LXD (a Slurm controller with slurmdbd and its
 * database, slurmrestd, two compute nodes, a login node, and a CephFS from one MicroCeph server mounted at
 * /mnt/shared everywhere), with the hand-built version's weak spots closed: no root passwords, the cephx key made on
 * the server and read by the nodes from Secrets Manager with their own roles, Ceph ports open only to the cluster.
 */
export class CephLabStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // Every finding of the security policy pack fails synth; accepted ones carry their reason (see README).
    enforceSecurityPolicy(this);
    const region = new TerraformVariable(this, 'region', { type: 'string', default: 'us-east-1', description: 'AWS region of the lab' });
    new AwsProvider(this, 'aws', { region: region.stringValue, defaultTags: [{ tags: { 'managed-by': 'cdktf-slurm', stack: id } }] });

    const network = new BastionVpc(this, 'Network', { cidr: '10.0.0.0/16' });
    const controller = new SlurmController(this, 'Controller', { network, clusterName: 'cephlab', accounting: 'local', restApi: true });
    const compute = new ComputeNodePool(this, 'Compute', { controller, name: 'compute', nodes: Ec2Nodes.of({ instanceType: 'c6i.2xlarge' }), count: 2 });
    new Partition(this, 'Batch', { controller, name: 'batch', pools: [compute], default: true, maxTime: '1-00:00:00' });
    const login = new LoginNode(this, 'Login', { controller });
    // As the lab has it: one server, three 10 GiB loop-file OSDs, CephFS at /mnt/shared on every Slurm host.
    const shared = new CephFs(this, 'Shared', { controller, name: 'shared', fileSystem: MicroCephServer.onEc2({ osdCount: 3, osdSizeGiB: 10 }) });
    shared.mountOn(controller, compute, login);
    // The lab's Prometheus and Grafana, on the controller as the seed has them.
    const monitor = new MonitoringStack(this, 'Monitoring', { controller, onController: true });

    new TerraformOutput(this, 'controller_private_ip', { value: controller.privateIp });
    new TerraformOutput(this, 'login_private_ip', { value: login.privateIp });
    new TerraformOutput(this, 'bastion_public_ip', { value: network.bastionPublicIp });
    new TerraformOutput(this, 'grafana_url', { value: monitor.grafanaUrl, description: 'Through the bastion: ssh -L 3000:<controller>:3000 <bastion>' });
  }
}
