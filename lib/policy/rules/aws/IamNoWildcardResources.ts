import { AWS_IAM_POLICY_TYPES, statementsOf } from '../../inspect';
import { defineRule } from '../../rule';

/**
 * Actions AWS cannot scope to a resource (the service authorization reference lists no resource type for them),
 * so "*" is the only valid Resource: Describe/List calls, metric and log writes, identity look-ups.
 */
const UNSCOPABLE = [
  'ec2:Describe*',
  'autoscaling:Describe*',
  'elasticfilesystem:DescribeMountTargets',
  'fsx:DescribeFileSystems',
  'cloudwatch:PutMetricData',
  'cloudwatch:GetMetricData',
  'cloudwatch:ListMetrics',
  'logs:DescribeLogGroups',
  'ssm:DescribeParameters',
  'secretsmanager:ListSecrets',
  'secretsmanager:GetRandomPassword',
  'kms:ListAliases',
  'kms:ListKeys',
  's3:ListAllMyBuckets',
  'sts:GetCallerIdentity',
  'tag:GetResources',
  'pricing:GetProducts',
];

function unscopable(action: string): boolean {
  const a = action.toLowerCase();
  return UNSCOPABLE.some((u) => {
    const pattern = u.toLowerCase();
    return pattern.endsWith('*') ? a.startsWith(pattern.slice(0, -1)) && !a.endsWith(':*') : a === pattern;
  });
}

export const IamNoWildcardResources = defineRule({
  id: 'AWS-IAM-NO-WILDCARD-RESOURCE',
  pack: 'aws',
  explanation: 'Actions that can be scoped to a resource must be: "*" lets a node read every secret or terminate any instance.',
  fix: 'Name the ARNs (this secret, this bucket/prefix, instances tagged with the cluster); keep "*" for Describe/List-only statements.',
  appliesTo: [...Object.keys(AWS_IAM_POLICY_TYPES), 'data.aws_iam_policy_document'],
  check: (block) =>
    statementsOf(block)
      .filter((s) => s.effect === 'Allow' && s.resources.includes('*'))
      .flatMap((s) => {
        const scopable = s.actions.filter((a) => !unscopable(a));
        return scopable.length ? [`statement ${s.sid} allows ${scopable.join(', ')} on Resource "*"`] : [];
      }),
});
