import { App, Testing } from 'cdktf';
import { gunzipSync } from 'zlib';
import { parse } from 'yaml';
import { buildNodeCloudConfig, renderNodeUserData } from '../../lib/cloudinit';
import { expandHostlist } from '../../lib/slurm';
import { EXAMPLE_CLUSTER, ExampleClusterStack } from '../../stacks/example-cluster';

type Outputs = Record<string, { value: unknown }>;

function synthOutputs(): Outputs {
  const app = Testing.app();
  const stack = new ExampleClusterStack(app as App, 'example-cluster');
  return (JSON.parse(Testing.synth(stack)) as { output: Outputs }).output;
}

describe('example-cluster stack', () => {
  const outputs = synthOutputs();
  const slurmConf = String(outputs.slurm_conf.value);

  test('renders the model: one node line per pool, the GPU pool as cloud nodes, both partitions', () => {
    const nodeLines = slurmConf.split('\n').filter((l) => l.startsWith('NodeName='));
    expect(nodeLines).toHaveLength(EXAMPLE_CLUSTER.nodePools.length);
    const gpuLine = nodeLines.find((l) => l.startsWith('NodeName=gpu-'))!;
    expect(expandHostlist(gpuLine.split(/\s/)[0].slice('NodeName='.length))).toHaveLength(16);
    expect(gpuLine).toContain('Gres=gpu:l4:4');
    expect(gpuLine).toContain('State=CLOUD');
    expect(slurmConf).toMatch(/^PartitionName=gpu Nodes=gpu-\[0-15\] Default=YES .*DefMemPerGPU=40000/m);
    expect(slurmConf).toMatch(/^PartitionName=debug Nodes=cpu-\[0-1\] /m);
    expect(slurmConf).toMatch(/^SlurmctldParameters=enable_configless/m);
    // The always-on GPU node and the static CPU pool are never suspended.
    expect(slurmConf).toMatch(/^SuspendExcNodes=.*gpu-0/m);
    expect(String(outputs.gres_conf.value)).toContain('NodeName=gpu-[0-15] Name=gpu Type=l4 File=/dev/nvidia[0-3]');
  });

  test('no database password in the synthesized plan; slurmdbd.conf leaves StoragePass to the node', () => {
    expect(String(outputs.slurmdbd_conf.value)).not.toMatch(/^StoragePass/m);
    expect(JSON.stringify(outputs)).not.toMatch(/StoragePass\s*=/);
  });

  test('the controller user-data fits the AWS budget and carries the staged files and references only', () => {
    const size = Number(outputs.controller_user_data_bytes.value);
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(16_384);
    // Re-render exactly as the stack does, and read the document back.
    const files = ['slurm.conf', 'gres.conf', 'cgroup.conf', 'slurmdbd.conf'].map((name) => ({
      name,
      content: String(outputs[name.replace('.', '_')].value),
    }));
    const ud = renderNodeUserData(
      buildNodeCloudConfig({
        roles: ['controller', 'dbd'],
        env: { CLUSTER_NAME: 'example', MUNGE_KEY_SOURCE: 'generate+aws-secretsmanager:example/munge-key' },
        slurmFiles: files,
      }),
      { target: 'aws', role: 'controller' },
    );
    const doc = parse(gunzipSync(ud.bytes).toString('utf8')) as { write_files: { path: string; permissions: string }[] };
    const staged = doc.write_files.filter((f) => f.path.startsWith('/etc/cdktf-slurm/slurm/'));
    expect(staged.map((f) => f.path).sort()).toEqual(
      ['cgroup.conf', 'gres.conf', 'slurm.conf', 'slurmdbd.conf'].map((n) => `/etc/cdktf-slurm/slurm/${n}`),
    );
    expect(new Set(staged.map((f) => f.permissions))).toEqual(new Set(['0600']));
  });
});
