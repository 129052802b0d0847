import { asStrings } from '../../inspect';
import { defineRule } from '../../rule';

/** AWS-managed policies that grant whole services (or everything): node roles get inline, scoped policies. */
const BROAD = /:policy\/(?:AdministratorAccess|PowerUserAccess|[A-Za-z0-9]*FullAccess)$/;

export const IamNoBroadManagedPolicies = defineRule({
  id: 'AWS-IAM-NO-BROAD-MANAGED-POLICY',
  pack: 'aws',
  explanation: 'Roles must not carry AdministratorAccess, PowerUserAccess or *FullAccess managed policies.',
  fix: 'Attach a policy naming the actions and resources the role needs (AmazonSSMManagedInstanceCore is fine).',
  appliesTo: [
    'aws_iam_role_policy_attachment',
    'aws_iam_policy_attachment',
    'aws_iam_user_policy_attachment',
    'aws_iam_group_policy_attachment',
    'aws_iam_role',
  ],
  check: (block) =>
    [...asStrings(block.attributes.policy_arn), ...asStrings(block.attributes.managed_policy_arns)]
      .filter((arn) => BROAD.test(arn))
      .map((arn) => `attaches ${arn}`),
});
