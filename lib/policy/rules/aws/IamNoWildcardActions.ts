import { AWS_IAM_POLICY_TYPES, statementsOf } from '../../inspect';
import { defineRule } from '../../rule';

function isServiceWide(action: string): boolean {
  return action === '*' || /^[a-z0-9-]+:\*$/i.test(action);
}

export const IamNoWildcardActions = defineRule({
  id: 'AWS-IAM-NO-WILDCARD-ACTION',
  pack: 'aws',
  explanation: 'Policies must name their actions: "*" or "service:*" grants whatever AWS adds to the service later.',
  fix: 'List the actions the node needs (e.g. secretsmanager:GetSecretValue), not "*" or "service:*"; no Allow with NotAction.',
  appliesTo: [...Object.keys(AWS_IAM_POLICY_TYPES), 'data.aws_iam_policy_document'],
  check: (block) =>
    statementsOf(block)
      .filter((s) => s.effect === 'Allow')
      .flatMap((s) => [
        ...s.actions.filter(isServiceWide).map((a) => `statement ${s.sid} allows ${a}`),
        ...(s.notActions.length ? [`statement ${s.sid} allows everything but ${s.notActions.join(', ')} (NotAction)`] : []),
      ]),
});
