/**
 * Two SlurmController/ComputeNodePool options that reach slurm.conf: GPU sharing through the `shard` GRES
 * (`gpus.shardsPerGpu`) and job mail through a relay (`mail`), each honoured to the rendered file and refused
 * clearly when it cannot apply.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { SlurmController, SlurmControllerProps } from '../../lib/constructs/slurm-controller';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';

type Json = Record<string, any>;

function cluster(ctl: Partial<SlurmControllerProps> = {}, shards?: number) {
  const stack = new TerraformStack(Testing.app(), 's');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...ctl });
  const pool = new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' }), count: 2, ...(shards !== undefined ? { gpus: { shardsPerGpu: shards } } : {}) });
  new GpuPartition(stack, 'Part', { controller, name: 'gpu', pools: [pool], default: true });
  return { stack, network, controller };
}
function controllerFiles(stack: TerraformStack): Map<string, string> {
  const tf: Json = JSON.parse(Testing.synth(stack));
  const [, ctl] = Object.entries(tf.resource.aws_instance as Json).find(([id]) => id.startsWith('Ctl_Instance'))!;
  const doc = parse(gunzipSync(Buffer.from((ctl as Json).user_data_base64, 'base64')).toString('utf8'));
  return new Map((doc.write_files as Json[]).map((f) => [f.path, f.content as string]));
}

describe('GPU sharing (shard GRES)', () => {
  test('4 shards per A10G: GresTypes, the node line and gres.conf carry 16 shards per node', () => {
    const files = controllerFiles(cluster({}, 4).stack);
    const conf = files.get('/etc/cdktf-slurm/slurm/slurm.conf')!;
    expect(conf).toMatch(/^GresTypes=gpu,shard$/m);
    expect(conf).toMatch(/^NodeName=gpu-\[0-1\] .*Gres=gpu:a10g:4,shard:16\b/m);
    expect(files.get('/etc/cdktf-slurm/slurm/gres.conf')).toMatch(/^NodeName=gpu-\[0-1\] Name=shard Count=16$/m);
  });

  test('without shardsPerGpu there is no shard GRES at all', () => {
    const conf = controllerFiles(cluster().stack).get('/etc/cdktf-slurm/slurm/slurm.conf')!;
    expect(conf).toMatch(/^GresTypes=gpu$/m);
    expect(conf).not.toMatch(/shard/);
  });

  test('a CPU pool cannot share GPUs; zero shards are refused by the model', () => {
    const { stack, controller } = cluster();
    expect(() => new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.xlarge' }), count: 1, gpus: { shardsPerGpu: 2 } }))
      .toThrow(/s\/Cpu: gpus = \{"shardsPerGpu":2\}: but c6i\.xlarge has no GPUs\. Leave gpus out/);
    expect(() => cluster({}, 0)).toThrow(/s\/Gpu: .*shardsPerGpu = 0/);
  });
});

describe('job mail', () => {
  const mail: SlurmControllerProps['mail'] = { relay: 'email-smtp.us-east-1.amazonaws.com:587', from: 'slurm@example.org', user: 'AKIAEXAMPLE', passwordSecret: 'aws-secretsmanager:hpc/smtp-password' };

  test('MailProg in slurm.conf, the relay step on the controller, the password by reference readable by the controller alone', () => {
    const { stack } = cluster({ mail });
    const files = controllerFiles(stack);
    expect(files.get('/etc/cdktf-slurm/slurm/slurm.conf')).toMatch(/^MailProg=\/usr\/bin\/mail$/m);
    const env = files.get('/etc/cdktf-slurm/node.env')!;
    expect(env).toContain("MAIL_RELAY='email-smtp.us-east-1.amazonaws.com:587'");
    expect(env).toContain("MAIL_PASSWORD_SOURCE='aws-secretsmanager:hpc/smtp-password'");
    expect(env).toContain("MAIL_TLS='starttls'");
    expect(files.get('/etc/cdktf-slurm/bootstrap.sha256')).toMatch(/  mail-relay\.sh$/m);
    const tf: Json = JSON.parse(Testing.synth(stack));
    const policy = Object.values(tf.resource.aws_iam_role_policy as Json).find((p) => (p as Json).name === 'own-secrets') as Json;
    // Read only: the relay password is the user's, and the controller may not overwrite it.
    const statements = JSON.parse(policy.policy).Statement as Json[];
    expect(statements.find((st) => st.Sid === 'ReadSecrets')).toEqual({
      Sid: 'ReadSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: ['arn:aws:secretsmanager:*:*:secret:hpc/smtp-password-*'],
    });
    expect(statements.find((st) => st.Sid === 'OwnSecrets')?.Resource).not.toContain('arn:aws:secretsmanager:*:*:secret:hpc/smtp-password-*');
  });

  test('without mail: no MailProg, no relay step', () => {
    const files = controllerFiles(cluster().stack);
    expect(files.get('/etc/cdktf-slurm/slurm/slurm.conf')).not.toMatch(/MailProg/);
    expect(files.get('/etc/cdktf-slurm/bootstrap.sha256')).not.toMatch(/mail-relay/);
  });

  test.each<[string, SlurmControllerProps['mail'], RegExp]>([
    ['a relay without a port', { relay: 'smtp.example.org', from: 'slurm@example.org' }, /s\/Ctl: mail\.relay = "smtp\.example\.org": is not host:port/],
    ['a bad sender', { relay: 'smtp.example.org:587', from: 'slurm' }, /mail\.from = "slurm": is not an e-mail address/],
    ['a password without a user', { relay: 'smtp.example.org:587', from: 'a@example.org', passwordSecret: 'aws-secretsmanager:hpc/smtp' }, /mail\.user = undefined: is needed with passwordSecret/],
    ['a password over plain SMTP', { relay: 'smtp.example.org:25', from: 'a@example.org', user: 'u', passwordSecret: 'aws-secretsmanager:hpc/smtp', tls: 'off' }, /mail\.tls = "off": would send the relay password in clear/],
    ['the password itself', { relay: 'smtp.example.org:587', from: 'a@example.org', user: 'u', passwordSecret: 'hunter2-the-password' }, /mail\.passwordSecret = "<20 characters>": is not a secret reference the controller may read\. Store the password in Secrets Manager as 'hpc\/smtp-password'/],
  ])('%s is refused, naming the field and the fix', (_name, bad, message) => {
    let error: Error | undefined;
    try {
      cluster({ mail: bad });
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain('hunter2');
  });
});
