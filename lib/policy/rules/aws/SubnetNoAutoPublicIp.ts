import { isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const SubnetNoAutoPublicIp = defineRule({
  id: 'AWS-VPC-NO-AUTO-PUBLIC-IP',
  pack: 'aws',
  explanation: 'Subnets must not give every instance a public address: a forgotten node becomes reachable.',
  fix: 'Set map_public_ip_on_launch = false and give a public address only to the one host that needs it.',
  appliesTo: ['aws_subnet'],
  check: (subnet) => (isTrue(subnet.attributes.map_public_ip_on_launch) ? ['map_public_ip_on_launch is true'] : []),
});
