/**
 * SlurmController, ComputeNodePool and LoginNode on a GcpClusterNetwork: bad input fails when the construct is
 * made (or at synth), naming the construct path, the field, the value and the fix; and a small valid cluster
 * synthesizes with the facts a GCP cluster depends on (hostnames, scrape discovery, secrets by reference).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool, ComputeNodePoolProps } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork, GcpClusterNetworkProps } from '../../lib/constructs/gcp-cluster-network';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { LoginNode } from '../../lib/constructs/login-node';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { GceNodes, GceNodesSettings } from '../../lib/gcp/gce-nodes';
import { Ec2Instance } from '../../lib/aws/ec2-instance';
import { GceInstance } from '../../lib/gcp/gce-instance';

type Json = Record<string, any>;

function gcpCluster(net: Partial<GcpClusterNetworkProps> = {}, ctl: Partial<SlurmControllerProps> = {}) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', {
    project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc', gpuNetworkCount: 8, ...net,
  });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...ctl });
  return { stack, network, controller };
}

const A3: GceNodesSettings = { machineType: 'a3-megagpu-8g' };

function pool(props: Partial<ComputeNodePoolProps>, net: Partial<GcpClusterNetworkProps> = {}, gce: Partial<GceNodesSettings> = {}) {
  const { stack, controller } = gcpCluster(net);
  return new ComputeNodePool(stack, 'Pool', { controller, name: 'a3', count: 2, nodes: GceNodes.of({ ...A3, ...gce } as GceNodesSettings), ...props });
}

describe('bad input fails with path, field, value and fix', () => {
  test.each<[string, () => unknown, RegExp]>([
    ['A3 Mega without the 8 GPU networks',
      () => pool({}, { gpuNetworkCount: 0 }),
      /g\/Pool: controller\.network\.gpuNetworks = 0: a3-megagpu-8g needs 8 GPU networks .* Create the GcpClusterNetwork with gpuNetworkCount: 8/],
    ['A3 Mega with 4 of the 8 GPU networks',
      () => pool({}, { gpuNetworkCount: 4 }),
      /g\/Pool: controller\.network\.gpuNetworks = 4: a3-megagpu-8g needs 8 GPU networks/],
    ['GPU VPC MTU below what TCPXO needs',
      () => pool({}, { mtu: 1500 }),
      /g\/Pool: controller\.network\.gpuNetworks\[0\]\.mtu = 1500: is below 8244: GPUDirect-TCPXO needs jumbo frames.*mtu: 8244/],
    ['GPU VPC MTU out of GCP range',
      () => pool({}, { mtu: 9001 }),
      /g\/Net: mtu = 9001: .*1300.*8896/],
    ['a zone without the machine type',
      () => pool({}, { zone: 'europe-west2-a', region: 'europe-west2' }),
      /g\/Pool: nodes\.machineType = "a3-megagpu-8g": a3-megagpu-8g is not offered in zone "europe-west2-a".*Zones that have it: .*us-central1-a/],
    ['GPU count that does not match the machine type',
      () => pool({ gpus: { count: 4 } }),
      /g\/Pool.*gpus\.count = 4.*a3-megagpu-8g has 8 H100 GPUs.*set it to 8/],
    ['a mismatched TCPXO NIC list',
      () => pool({}, {}, { tcpxo: { dataNicNames: ['enp6s0', 'enp7s0', 'enp13s0'] } }),
      /g\/Pool.*dataNicNames.*enp6s0/],
    ['TCPXO settings on a machine type without TCPXO NICs',
      () => pool({}, { gpuNetworkCount: 8 }, { machineType: 'a3-highgpu-8g', tcpxo: {} }),
      /g\/Pool: nodes\.tcpxo = "<settings>": a3-highgpu-8g has no GPUDirect-TCPXO NICs/],
    ['on-demand sizing on GCP',
      () => pool({ count: undefined, maxCount: 4 }),
      /g\/Pool: maxCount = 4: GCP pools are static.*Give count/],
    ['EC2 nodes on a GCP controller',
      () => pool({ nodes: Ec2Nodes.of({ instanceType: 'p5.48xlarge' }) }),
      /g\/Pool: nodes = "Ec2Nodes\.of\(\{ instanceType: 'p5\.48xlarge' \}\)": EC2 nodes need a controller on an AWS network, and controller g\/Ctl is on GCP\. .*GceNodes\.of/],
    ['no machine type (from JavaScript)',
      () => pool({}, {}, { machineType: undefined }),
      /g\/Pool.*nodes\.machineType.*undefined/s],
    ['Spot and a reservation together',
      () => pool({}, {}, { provisioningModel: 'SPOT', reservationName: 'res-a3' }),
      /reservationName = "res-a3": is combined with spot = true/],
    ['compact placement with a reservation',
      () => pool({}, {}, { compactPlacement: true, reservationName: 'res-a3' }),
      /compactPlacement = true: is combined with reservationName/],
    ['a mesh on a GCP controller',
      () => gcpCluster({}, { mesh: { tailscale: { authKey: 'x' } } }),
      /g\/Ctl: mesh = "<mesh>": the GCP backend cannot put its controller on a mesh\. Drop mesh; .*\(BastionVpc\)/],
    ['EC2 settings on a GCP controller',
      () => gcpCluster({}, { instance: Ec2Instance.of({ instanceType: 'm6i.xlarge' }) }),
      /g\/Ctl: instance = "Ec2Instance\.of\(\{\\"instanceType\\":\\"m6i\.xlarge\\"\}\)": are AWS settings, and the cluster network is GCP\. Use instance: GceInstance\.of\(\{ machineType: 'n2-standard-8' \}\)/],
    ['a controller address Google reserves',
      () => gcpCluster({}, { hostIndex: 1 }),
      /g\/Ctl: hostIndex = 1: Google reserves the first two addresses of a subnet\. Use 2 or more/],
    ['a controller address outside the system subnet',
      () => gcpCluster({ systemCidr: '10.0.0.0/28' }, { hostIndex: 40 }),
      /g\/Ctl: hostIndex = 40: .*10\.0\.0\.0\/28/],
    ['a bad external DB secret',
      () => gcpCluster({}, { accounting: { endpoint: '10.1.0.5', passwordSecret: 'not a secret!' } }),
      /g\/Ctl: accounting\.passwordSecret = "<13 characters>": is not a Secret Manager secret ID starting hpc- or a projects\/P\/secrets\/S path/],
  ])('%s', (_name, make, message) => {
    expect(make).toThrow(message);
  });

  test('Compute Engine nodes on an AWS controller, and a GCP host type on an AWS controller, are refused', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'a');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    const controller = new SlurmController(stack, 'Ctl', { network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc' });
    expect(() => new ComputeNodePool(stack, 'Q', { controller, name: 'q', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 }))
      .toThrow(/a\/Q: nodes = "GceNodes\.of\(\{ machineType: 'n2-standard-8' \}\)": Compute Engine nodes need a controller on a Google Cloud network, and controller a\/Ctl is on AWS\. .*Ec2Nodes\.of/);
    expect(() => new SlurmController(stack, 'Ctl2', { network: new BastionVpc(stack, 'Net2', { cidr: '10.1.0.0/16' }), clusterName: 'hpc2', instance: GceInstance.of({ machineType: 'n2-standard-8' }) }))
      .toThrow(/a\/Ctl2: instance = .*n2-standard-8.*: are GCP settings, and the cluster network is AWS\. Use instance: Ec2Instance\.of/);
  });
});

describe('a small GCP cluster', () => {
  const { stack, controller } = gcpCluster({ gpuNetworkCount: 0 }, { restApi: true });
  const cpu = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 3 });
  const g2 = new ComputeNodePool(stack, 'G2', { controller, name: 'g2', nodes: GceNodes.of({ machineType: 'g2-standard-24', provisioningModel: 'SPOT' }), count: 1 });
  new Partition(stack, 'Batch', { controller, name: 'batch', pools: [cpu], default: true });
  new GpuPartition(stack, 'Gpu', { controller, name: 'gpu', pools: [g2] });
  new LoginNode(stack, 'Login', { controller });
  const tf: Json = JSON.parse(Testing.synth(stack));
  const ctlVm: Json = Object.values(tf.resource.google_compute_instance).find((v: any) => v.name === 'hpc-controller') as Json;
  const userData: string = ctlVm.metadata['user-data'];

  test('slurmctld runs as the VM name; the pools are named nodes Compute Engine DNS resolves', () => {
    expect(controller.hostname).toBe('hpc-controller');
    expect(userData).toContain('hostname: hpc-controller');
    expect(userData).toMatch(/SlurmctldHost=hpc-controller\(10\.0\.0\.10\)/);
    expect(userData).toMatch(/NodeName=cpu-\[0-2\] /);
    expect(userData).toMatch(/NodeName=g2-0 .*Gres=gpu:l4:2/);
    // Static nodes: no ResumeProgram on GCP.
    expect(userData).not.toMatch(/^\s*ResumeProgram=/m);
  });

  test('no job hooks without a TCPXO pool; the JWT key is generated into Secret Manager', () => {
    expect(userData).not.toMatch(/^\s*Prolog=/m);
    expect(userData).toContain("JWT_KEY_SOURCE='generate+gcp-secretmanager:projects/my-hpc-project/secrets/hpc-slurm-jwt-key'");
    expect(tf.resource.google_secret_manager_secret_version).toBeUndefined();
  });

  test('scrape targets: the controller by address, pools by GCE labels, reached through the cluster tag', () => {
    const groups = controller.scrapeTargets();
    const pools = groups.filter((g) => g.labels.role === 'compute');
    expect(pools.map((g) => `${g.exporter}:${g.labels.pool}`).sort()).toEqual(['dcgm:g2', 'node:cpu', 'node:g2']);
    for (const g of pools) {
      expect(g.discovery).toEqual({ kind: 'gce', project: 'my-hpc-project', zone: 'us-central1-a', labels: { 'slurm-cluster': 'hpc', 'slurm-pool': g.labels.pool } });
      expect(g.reach).toEqual({ kind: 'gcp-network-tag', tag: 'hpc-cluster' });
    }
    expect(groups.find((g) => g.labels.role === 'controller')!.discovery).toEqual({ kind: 'static', hosts: ['10.0.0.10'] });
  });

  test('spot pool: SPOT provisioning that deletes on preemption; the labels the discovery filters on', () => {
    const tpl = Object.values(tf.resource.google_compute_instance_template).find((t: any) => t.machine_type === 'g2-standard-24') as Json;
    expect(tpl.scheduling).toMatchObject({ provisioning_model: 'SPOT', preemptible: true, instance_termination_action: 'DELETE' });
    expect(tpl.labels).toMatchObject({ 'slurm-cluster': 'hpc', 'slurm-pool': 'g2', 'slurm-role': 'compute' });
  });
});
