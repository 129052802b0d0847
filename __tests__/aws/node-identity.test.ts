/**
 * fixedEc2Host: a fixed host (controller, login node, monitor, storage server) waits, in Terraform's graph, for what
 * its first boot needs: every inline policy and policy attachment of its role, and the bootstrap scripts it fetches
 * from S3. Without those edges Terraform may start the instance first, and the boot fails or retries on a missing
 * permission or script (a race on the first apply). Checked on every shipped stack with EC2 hosts.
 */
import { App, Testing } from 'cdktf';
import { SHIPPED_STACKS } from '../../stacks/shipped';

type Json = Record<string, any>;

const ref = (type: string, id: string, attr: string) => `\${${type}.${id}.${attr}}`;

describe.each(Object.keys(SHIPPED_STACKS))('%s', (name) => {
  const tf: Json = JSON.parse(Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name)));
  const r = (type: string): [string, Json][] => Object.entries((tf.resource[type] ?? {}) as Json);
  // The cluster's hosts (the bastion fetches nothing of ours and holds no cluster credentials).
  const hosts = r('aws_instance').filter(([, i]) => i.iam_instance_profile && i.tags?.['slurm:role']);

  test('every fixed host waits for its role\'s policies and for the bootstrap scripts', () => {
    for (const [id, instance] of hosts) {
      const profile = r('aws_iam_instance_profile').find(([pid]) => instance.iam_instance_profile === ref('aws_iam_instance_profile', pid, 'name'))!;
      expect([id, profile]).toEqual([id, expect.anything()]);
      const roleId = r('aws_iam_role').find(([rid]) => [ref('aws_iam_role', rid, 'name'), ref('aws_iam_role', rid, 'id')].includes(profile[1].role))![0];
      const policies = [
        ...r('aws_iam_role_policy').filter(([, p]) => p.role === ref('aws_iam_role', roleId, 'id') || p.role === ref('aws_iam_role', roleId, 'name')).map(([pid]) => `aws_iam_role_policy.${pid}`),
        ...r('aws_iam_role_policy_attachment').filter(([, p]) => p.role === ref('aws_iam_role', roleId, 'name') || p.role === ref('aws_iam_role', roleId, 'id')).map(([pid]) => `aws_iam_role_policy_attachment.${pid}`),
      ];
      const scripts = r('aws_s3_object').map(([oid]) => `aws_s3_object.${oid}`);
      expect(policies.length).toBeGreaterThan(0);
      expect(scripts.length).toBeGreaterThan(0);
      expect([id, instance.depends_on ?? []]).toEqual([id, expect.arrayContaining([...policies, ...scripts])]);
    }
  });
});

test('the shipped stacks have such hosts (controller, login, monitor, MicroCeph server)', () => {
  const roles = new Set<string>();
  for (const name of Object.keys(SHIPPED_STACKS)) {
    const tf: Json = JSON.parse(Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name)));
    for (const i of Object.values((tf.resource.aws_instance ?? {}) as Json)) if ((i as Json).iam_instance_profile) roles.add((i as Json).tags?.['slurm:role']);
  }
  expect([...roles].sort()).toEqual(expect.arrayContaining(['controller', 'login', 'monitor', 'storage']));
});
