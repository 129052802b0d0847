/**
 * AwsControllerHost: an external accounting database's password secret. The controller reads it by name; the
 * name must be one a pasted password never looks like (under the cluster's prefix, RDS-managed, or a full ARN), and
 * the IAM grant covers that secret alone, read-only. A refused value is shown by its length only. And the munge key:
 * written by the controller when it generates it, only read when Terraform drew it (Docker and SSH pools).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { Ec2Nodes } from '../../lib/aws/ec2-nodes';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;

function withAccountingSecret(passwordSecret: string) {
  const stack = new TerraformStack(Testing.app(), 'a');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', accounting: { endpoint: 'db.example.org', passwordSecret } });
  const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  return { stack, controller };
}

/** The controller role's secret-reading statement's resources. */
function secretResources(tf: Json): string[] {
  const policies = Object.values(tf.resource.aws_iam_role_policy as Json) as Json[];
  return policies.flatMap((p) => JSON.parse(p.policy).Statement as Json[])
    .filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'))
    .flatMap((st) => [st.Resource].flat() as string[]);
}

/** What the controller role may PutSecretValue to. */
function writableSecrets(tf: Json): string[] {
  const policies = Object.values(tf.resource.aws_iam_role_policy as Json) as Json[];
  return policies.flatMap((p) => JSON.parse(p.policy).Statement as Json[])
    .filter((st) => [st.Action].flat().includes('secretsmanager:PutSecretValue'))
    .flatMap((st) => [st.Resource].flat() as string[]);
}

describe('an external accounting database password', () => {
  test.each([
    ['a name under the cluster prefix', 'hpc/slurmdbd-db-password', 'arn:aws:secretsmanager:*:*:secret:hpc/slurmdbd-db-password-*'],
    ['an RDS-managed secret', 'rds!db-0b7c2a1e-4f3d-4e5a-9b8c-1d2e3f4a5b6c', 'arn:aws:secretsmanager:*:*:secret:rds!db-0b7c2a1e-4f3d-4e5a-9b8c-1d2e3f4a5b6c-*'],
    ['a full ARN', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/db-AbCdEf', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:shared/db-AbCdEf'],
  ])('%s is read by the controller, and granted alone', (_name, ref, resource) => {
    const { stack } = withAccountingSecret(ref);
    const tf: Json = JSON.parse(Testing.synth(stack));
    expect(secretResources(tf)).toContain(resource);
    expect(secretResources(tf).filter((r) => r.includes('*:secret:*'))).toEqual([]);
    // Read, never written: the controller cannot overwrite the database's password.
    expect(writableSecrets(tf)).not.toContain(resource);
    expect(writableSecrets(tf).some((r) => r.includes('munge-key') || r.includes('MungeKey'))).toBe(true);
  });

  test.each([
    ['a pasted password', 'correct-horse-battery-staple'],
    ['a name outside the cluster prefix', 'other/db-password'],
    ['an ARN of another service', 'arn:aws:ssm:us-east-1:123456789012:parameter/db'],
  ])('%s is refused, shown by its length', (_name, ref) => {
    expect(() => withAccountingSecret(ref)).toThrow(new RegExp(
      `a/Ctl: accounting\\.passwordSecret = "<${ref.length} characters>": is not a Secrets Manager secret name under hpc/, an RDS-managed secret .*Store the password as 'hpc/slurmdbd-db-password'`));
    let message = '';
    try { withAccountingSecret(ref); } catch (e) { message = (e as Error).message; }
    expect(message).not.toContain(ref);
  });
});

describe('a munge key Terraform draws (a mesh with Docker nodes)', () => {
  const stack = new TerraformStack(Testing.app(), 'm');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const authKey = new TerraformVariable(stack, 'ts_key', { type: 'string', sensitive: true }).stringValue;
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'lab', mesh: { tailscale: { authKey } } });
  const pool = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('ssh://me@gpu-box', { cpus: 8, realMemoryMiB: 30000 }), count: 1 });
  new Partition(stack, 'Part', { controller, name: 'box', pools: [pool], default: true });
  const tf: Json = JSON.parse(Testing.synth(stack));
  const munge = Object.entries(tf.resource.aws_secretsmanager_secret as Json).find(([, s]) => (s as Json).name === 'lab/munge-key')!;
  const mungeArn = `\${aws_secretsmanager_secret.${munge[0]}.arn}`;

  test('is read by the controller, never written', () => {
    expect(secretResources(tf)).toContain(mungeArn);
    expect(writableSecrets(tf)).not.toContain(mungeArn);
  });

  test('and its secret says it is in Terraform state, not "never in Terraform"', () => {
    expect((munge[1] as Json).description).toMatch(/drawn by Terraform .* so it is in Terraform state/);
    expect((munge[1] as Json).description).not.toMatch(/never in Terraform/);
  });
});

test('a munge key the controller generates stays writable by it alone, and says so', () => {
  const { stack } = withAccountingSecret('hpc/slurmdbd-db-password');
  const tf: Json = JSON.parse(Testing.synth(stack));
  const munge = Object.entries(tf.resource.aws_secretsmanager_secret as Json).find(([, s]) => (s as Json).name === 'hpc/munge-key')!;
  expect(writableSecrets(tf)).toContain(`\${aws_secretsmanager_secret.${munge[0]}.arn}`);
  expect((munge[1] as Json).description).toMatch(/generated on the controller at first boot, never in Terraform/);
});

test('the controller has termination protection unless deletionProtection is off, and the policy pack checks it', () => {
  const on = withAccountingSecret('hpc/slurmdbd-db-password');
  const instance = (stack: TerraformStack): Json => Object.values(JSON.parse(Testing.synth(stack)).resource.aws_instance as Json)
    .find((i) => (i as Json).tags?.['slurm:role'] === 'controller') as Json;
  expect(instance(on.stack).disable_api_termination).toBe(true);
  const off = new TerraformStack(Testing.app(), 'o');
  new AwsProvider(off, 'aws', { region: 'us-east-1' });
  const controller = new SlurmController(off, 'Ctl', { network: new BastionVpc(off, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc', deletionProtection: false });
  const pool = new ComputeNodePool(off, 'Cpu', { controller, name: 'cpu', nodes: Ec2Nodes.of({ instanceType: 'c6i.large' }), count: 1 });
  new Partition(off, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  expect(instance(off).disable_api_termination).toBe(false);
});
