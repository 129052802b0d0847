import { AWS_INGRESS_TYPES, awsIngressOf } from '../../inspect';
import { isPubliclyOpen } from '../../../net/cidr';
import { defineRule } from '../../rule';

export const SecurityGroupNoWorldAllPorts = defineRule({
  id: 'AWS-SG-WORLD-ALL-PORTS',
  pack: 'aws',
  explanation: 'No security group may accept every port from 0.0.0.0/0 or ::/0.',
  fix: 'Name the ports and the sources (a security group, or your own CIDRs).',
  appliesTo: AWS_INGRESS_TYPES,
  check: (block) =>
    awsIngressOf(block)
      .filter((p) => p.ports[0] === 0 && p.ports[1] === 65535)
      .flatMap((p) => p.cidrs.filter(isPubliclyOpen).map((c) => `${p.where} opens all ports (${p.protocol}) to ${c}`)),
});
