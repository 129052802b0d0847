import { asList, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

/** Controller, login, compute and storage hosts are reached through the bastion or Session Manager only. */
export const InstanceNoPublicIp = defineRule({
  id: 'AWS-EC2-NO-PUBLIC-IP',
  pack: 'aws',
  explanation: 'Cluster hosts (controller, login, compute, storage) must have no public address.',
  fix: 'Set associate_public_ip_address = false and reach the host through the bastion or Session Manager.',
  appliesTo: ['aws_instance', 'aws_launch_template', 'aws_eip', 'aws_eip_association'],
  check: (block) => {
    const a = block.attributes;
    switch (block.type) {
      case 'aws_instance':
        return isTrue(a.associate_public_ip_address) ? ['associate_public_ip_address is true'] : [];
      case 'aws_launch_template':
        return asList(a.network_interfaces)
          .map((nic, i) => (isTrue(nic.associate_public_ip_address) ? `network_interfaces[${i}] asks for a public address` : ''))
          .filter(Boolean);
      default:
        // An Elastic IP on an instance or its interface (a NAT gateway's is held by the gateway, not here).
        return a.instance !== undefined || a.network_interface !== undefined
          ? [`an Elastic IP is attached to ${String(a.instance ?? a.network_interface)}`]
          : [];
    }
  },
});
