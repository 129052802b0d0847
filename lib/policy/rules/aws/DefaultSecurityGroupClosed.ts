import { asList } from '../../inspect';
import { defineRule } from '../../rule';

/**
 * The default security group admits every member of itself and lets everything out; anything launched without a
 * group lands in it. Adopted with no rules, Terraform empties it.
 */
export const DefaultSecurityGroupClosed = defineRule({
  id: 'AWS-VPC-DEFAULT-SG-CLOSED',
  pack: 'aws',
  explanation: "The VPC's default security group must allow nothing, so a host launched without a group is cut off.",
  fix: 'Adopt it with an aws_default_security_group for this VPC with no ingress and no egress (BastionVpc does).',
  appliesTo: ['aws_vpc', 'aws_default_security_group'],
  check: (block, plan) => {
    if (block.type === 'aws_default_security_group') {
      const open = [...asList(block.attributes.ingress), ...asList(block.attributes.egress)].length;
      return open > 0 ? [`the default security group keeps ${open} rule(s)`] : [];
    }
    return plan.blocks('aws_default_security_group').some((g) => plan.refersTo(g.attributes.vpc_id, block))
      ? []
      : ["no aws_default_security_group closes this VPC's default group"];
  },
});
