import { AWS_INGRESS_TYPES, awsIngressOf, describePorts, rangesOverlap } from '../../inspect';
import { isPubliclyOpen } from '../../../net/cidr';
import { defineRule } from '../../rule';

/** Anything else open to the internet (the admin-port and all-port rules report those). */
export const SecurityGroupNoWorldIngress = defineRule({
  id: 'AWS-SG-WORLD-INGRESS',
  pack: 'aws',
  explanation: 'No cluster port may be open to 0.0.0.0/0 or ::/0; nothing in a Slurm cluster serves the internet.',
  fix: 'Open the port to a security group or your own CIDRs; a deliberate public endpoint needs a suppression with its reason.',
  appliesTo: AWS_INGRESS_TYPES,
  check: (block) =>
    awsIngressOf(block)
      .filter((p) => !(p.ports[0] === 0 && p.ports[1] === 65535))
      .filter((p) => !rangesOverlap(p.ports, [22, 22]) && !rangesOverlap(p.ports, [3389, 3389]))
      .flatMap((p) => p.cidrs.filter(isPubliclyOpen).map((c) => `${p.where} opens ${describePorts(p.ports)} to ${c}`)),
});
