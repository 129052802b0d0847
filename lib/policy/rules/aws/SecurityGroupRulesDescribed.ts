import { asList } from '../../inspect';
import { defineRule } from '../../rule';

function described(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '';
}

export const SecurityGroupRulesDescribed = defineRule({
  id: 'AWS-SG-RULE-DESCRIPTION',
  pack: 'aws',
  explanation: 'Every security group rule says why it exists, so a stale or widened rule can be spotted.',
  fix: 'Set description on the rule (which daemon or protocol, from whom).',
  appliesTo: [
    'aws_security_group',
    'aws_security_group_rule',
    'aws_vpc_security_group_ingress_rule',
    'aws_vpc_security_group_egress_rule',
  ],
  check: (block) => {
    if (block.type !== 'aws_security_group') return described(block.attributes.description) ? [] : ['the rule has no description'];
    return (['ingress', 'egress'] as const).flatMap((direction) =>
      asList(block.attributes[direction])
        .map((rule, i) => (described(rule.description) ? '' : `${direction}[${i}] has no description`))
        .filter(Boolean),
    );
  },
});
