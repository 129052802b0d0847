import { TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { buildNodeCloudConfig, renderNodeUserData } from '../lib/cloudinit';
import { ClusterSpec, renderControllerFiles } from '../lib/slurm';

/**
 * The cluster the default stack describes: a controller that also runs slurmdbd, and a GPU pool plus a CPU pool.
 * Exported so tests can check what the stack renders against the model it came from.
 */
export const EXAMPLE_CLUSTER: ClusterSpec = {
  clusterName: 'example',
  slurmVersion: '23.11',
  controller: { hostname: 'slurm-controller' },
  accounting: { dbdHost: 'slurm-controller' },
  nodePools: [
    {
      name: 'gpu',
      maxCount: 16,
      minCount: 1,
      hardware: { cpus: 48, realMemoryMiB: 180_000 },
      gpus: { type: 'l4', count: 4 },
      features: ['g6.12xlarge'],
    },
    { name: 'cpu', count: 2, hardware: { cpus: 8, realMemoryMiB: 30_000 } },
  ],
  partitions: [
    { name: 'gpu', pools: ['gpu'], default: true, maxTime: '1-00:00:00', defMemPerGpuMiB: 40_000, defCpuPerGpu: 12 },
    { name: 'debug', pools: ['cpu'], maxTime: '60' },
  ],
  powerSaving: {
    resumeProgram: '/opt/cdktf-slurm/bin/resume',
    suspendProgram: '/opt/cdktf-slurm/bin/suspend',
  },
};

/**
 * Minimal default stack until the cloud stacks land: renders the example cluster's controller configuration and
 * user-data, and exposes them as outputs. It creates no cloud resources and needs no credentials.
 */
export class ExampleClusterStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const files = renderControllerFiles(EXAMPLE_CLUSTER);
    const cloudConfig = buildNodeCloudConfig({
      roles: ['controller', 'dbd'],
      env: {
        CLUSTER_NAME: EXAMPLE_CLUSTER.clusterName,
        SLURM_CONTROLLER: EXAMPLE_CLUSTER.controller.hostname,
        MUNGE_KEY_SOURCE: 'generate+aws-secretsmanager:example/munge-key',
        DB_PASSWORD_SOURCE: 'aws-secretsmanager:example/slurmdbd-password',
        DB_LOCAL: '1',
      },
      slurmFiles: files,
    });
    const userData = renderNodeUserData(cloudConfig, { target: 'aws', role: 'controller', where: this.node.path });

    for (const file of files) {
      new TerraformOutput(this, file.name.replace(/\W/g, '_'), { value: file.content });
    }
    new TerraformOutput(this, 'controller_user_data_bytes', {
      value: userData.bytes.length,
      description: 'Controller user-data size as sent to EC2 (gzipped), in bytes; the limit is 16384.',
    });
  }
}
