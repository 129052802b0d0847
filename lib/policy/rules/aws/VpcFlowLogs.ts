import { defineRule } from '../../rule';

/** Every VPC records its traffic: without flow logs there is nothing to investigate an incident with. */
export const VpcFlowLogs = defineRule({
  id: 'AWS-VPC-FLOW-LOGS',
  pack: 'aws',
  explanation: 'Every VPC needs a flow log, the only record of who talked to which node.',
  fix: 'Add an aws_flow_log with vpc_id set to this VPC (BastionVpc creates one).',
  appliesTo: ['aws_vpc'],
  check: (vpc, plan) =>
    plan.blocks('aws_flow_log').some((log) => plan.refersTo(log.attributes.vpc_id, vpc))
      ? []
      : ['no aws_flow_log refers to this VPC'],
});
