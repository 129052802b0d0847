import { AWS_INGRESS_TYPES, awsIngressOf, describePorts, rangesOverlap } from '../../inspect';
import { isPubliclyOpen } from '../../../net/cidr';
import { defineRule } from '../../rule';

const ADMIN_PORTS: [number, number][] = [
  [22, 22],
  [3389, 3389],
];

export const SecurityGroupNoWorldAdminPorts = defineRule({
  id: 'AWS-SG-WORLD-ADMIN-PORTS',
  pack: 'aws',
  explanation: 'SSH (22) and RDP (3389) must not be open to 0.0.0.0/0 or ::/0: they are scanned and brute-forced within minutes.',
  fix: "Allow your own ranges only (BastionVpc's allowedSshCidrs), or use Session Manager / IAP and open nothing.",
  appliesTo: AWS_INGRESS_TYPES,
  check: (block) =>
    awsIngressOf(block)
      .filter((p) => !(p.ports[0] === 0 && p.ports[1] === 65535))
      .filter((p) => ADMIN_PORTS.some((admin) => rangesOverlap(p.ports, admin)))
      .flatMap((p) => p.cidrs.filter(isPubliclyOpen).map((c) => `${p.where} opens ${describePorts(p.ports)} to ${c}`)),
});
