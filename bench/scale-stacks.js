'use strict';
// The scale-series stacks: a controller and ONE GPU pool of N nodes, built from the public constructs exactly as
// README's example and stacks/aws-gpu.ts / stacks/gcp-a3mega.ts compose them (security policy on, as in every
// shipped stack). Only N changes between points, so any growth in time or output is the pool's.
const { AwsProvider } = require('@cdktf/provider-aws/lib/provider');
const { GoogleProvider } = require('@cdktf/provider-google/lib/provider');
const { TerraformStack } = require('cdktf');
const lib = require('../dist/lib');

/** AWS: a pool Slurm starts on demand (`maxCount: N`), one launch template whatever N. */
function awsScaleStack(app, nodes) {
  const stack = new TerraformStack(app, `scale-aws-${nodes}`);
  lib.enforceSecurityPolicy(stack);
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new lib.BastionVpc(stack, 'Network', { cidr: '10.0.0.0/16', availabilityZoneCount: 2 });
  const controller = new lib.SlurmController(stack, 'Controller', { network, clusterName: 'scale' });
  const pool = new lib.ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: lib.Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), maxCount: nodes });
  new lib.GpuPartition(stack, 'GpuPartition', { controller, name: 'gpu', pools: [pool], default: true });
  return stack;
}

/** GCP: N static VMs (`count: N`), one instance template plus one counted instance resource. */
function gcpScaleStack(app, nodes) {
  const stack = new TerraformStack(app, `scale-gcp-${nodes}`);
  lib.enforceSecurityPolicy(stack);
  const where = { project: 'bench-project', region: 'us-central1', zone: 'us-central1-a' };
  new GoogleProvider(stack, 'google', where);
  const network = new lib.GcpClusterNetwork(stack, 'Network', { ...where, namePrefix: 'scale' });
  const controller = new lib.SlurmController(stack, 'Controller', { network, clusterName: 'scale' });
  const pool = new lib.ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: lib.GceNodes.of({ machineType: 'a2-highgpu-1g' }), count: nodes });
  new lib.GpuPartition(stack, 'GpuPartition', { controller, name: 'gpu', pools: [pool], default: true });
  return stack;
}

const SCALE_CLOUDS = { aws: awsScaleStack, gcp: gcpScaleStack };

function buildScaleStack(app, cloud, nodes) {
  const make = SCALE_CLOUDS[cloud];
  if (!make) throw new Error(`unknown scale cloud '${cloud}' (have ${Object.keys(SCALE_CLOUDS).join(', ')})`);
  return make(app, nodes);
}

module.exports = { buildScaleStack, SCALE_CLOUDS };
