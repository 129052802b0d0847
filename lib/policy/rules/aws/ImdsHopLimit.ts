import { nested } from '../../inspect';
import { defineRule } from '../../rule';

/**
 * A hop limit above 1 lets containers on the host (enroot, Docker) reach the metadata service and take the
 * node's role. 2 is sometimes needed (containers that must call AWS themselves): then suppress with the reason.
 */
export const ImdsHopLimit = defineRule({
  id: 'AWS-EC2-IMDS-HOP-LIMIT',
  pack: 'aws',
  explanation: "The metadata hop limit must be 1 so containers on the node cannot fetch the node role's credentials.",
  fix: 'Set metadata_options.http_put_response_hop_limit = 1; where containers must call AWS, suppress with the reason.',
  appliesTo: ['aws_instance', 'aws_launch_template'],
  check: (block) => {
    const m = nested(block.attributes.metadata_options);
    if (m.http_endpoint === 'disabled') return [];
    const limit = m.http_put_response_hop_limit;
    if (limit === undefined) return ['metadata_options.http_put_response_hop_limit is unset (the AMI decides; often 2)'];
    return Number(limit) === 1 ? [] : [`metadata_options.http_put_response_hop_limit is ${String(limit)}`];
  },
});
