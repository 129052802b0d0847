import { iamStatements } from '../../inspect';
import { defineRule } from '../../rule';

export const IamTrustNoWildcardPrincipal = defineRule({
  id: 'AWS-IAM-TRUST-PRINCIPAL',
  pack: 'aws',
  explanation: 'A role may only be assumable by the services or accounts named in its trust policy, never by "*".',
  fix: 'Set Principal to the service (ec2.amazonaws.com) or account ARN that assumes the role.',
  appliesTo: ['aws_iam_role'],
  check: (role) =>
    (iamStatements(role.attributes.assume_role_policy) ?? [])
      .filter((s) => s.effect === 'Allow' && s.principals.includes('*'))
      .map((s) => `trust statement ${s.sid} lets any principal ("*") assume the role`),
});
