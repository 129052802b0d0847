/**
 * What every EC2 host of a cluster starts from: an instance role with its profile, the right to read the munge
 * key, and the Ubuntu 24.04 image. One place, so the controller, login nodes and pools cannot drift apart.
 */
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { Construct } from 'constructs';

/** Canonical's public SSM parameter for the current Ubuntu 24.04 LTS amd64 AMI. */
export const UBUNTU_2404_AMI_PARAMETER = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

/** `amiId`, or the current Ubuntu 24.04 AMI looked up at plan time. */
export function ubuntuAmi(scope: Construct, amiId?: string): string {
  return amiId ?? new DataAwsSsmParameter(scope, 'Ami', { name: UBUNTU_2404_AMI_PARAMETER }).value;
}

/** An EC2 instance role (`<scope>/Role`) and its instance profile (`<scope>/Profile`), both named `name`. */
export function ec2InstanceRole(scope: Construct, name: string, description: string): { role: IamRole; profile: IamInstanceProfile } {
  const role = new IamRole(scope, 'Role', {
    name,
    description,
    assumeRolePolicy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
  });
  const profile = new IamInstanceProfile(scope, 'Profile', { name, role: role.name });
  return { role, profile };
}

/** Lets `role` read the munge key secret, and nothing else from Secrets Manager. */
export function grantMungeKeyRead(scope: Construct, role: IamRole, mungeKeySecretArn: string): void {
  new IamRolePolicy(scope, 'MungeKeyRead', {
    role: role.id,
    name: 'read-munge-key',
    policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'MungeKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [mungeKeySecretArn] }],
    }),
  });
}
