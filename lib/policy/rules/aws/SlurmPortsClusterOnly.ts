import { AWS_INGRESS_TYPES, awsIngressOf, clusterOnlyPorts, describePorts, rangesOverlap, vpcCidrOfGroup } from '../../inspect';
import { cidrWithin, isPrivateCidr, MESH_CIDR } from '../../../net/cidr';
import { defineRule } from '../../rule';

/**
 * Slurm authenticates with munge, but its daemons, srun's listeners, MariaDB, Lustre and NFS trust the network
 * for much else: only cluster members (a security group, the VPC's own range, the mesh) may reach them.
 */
export const SlurmPortsClusterOnly = defineRule({
  id: 'AWS-SG-SLURM-PORTS',
  pack: 'aws',
  explanation:
    'Slurm (6817-6820, SrunPortRange), MariaDB (3306), Lustre (988) and NFS (2049) must only be open to cluster sources.',
  fix: "Admit a security group (the cluster's), the VPC's own CIDR or the mesh range (100.64.0.0/10), nothing wider.",
  appliesTo: AWS_INGRESS_TYPES,
  check: (block, plan) =>
    awsIngressOf(block).flatMap((p) => {
      const hit = clusterOnlyPorts(plan.options.srunPortRange).find((c) => rangesOverlap(p.ports, c.ports));
      if (!hit) return [];
      const vpcCidr = vpcCidrOfGroup(plan, p.securityGroup);
      const inCluster = (cidr: string): boolean =>
        cidrWithin(cidr, MESH_CIDR) || (vpcCidr ? cidrWithin(cidr, vpcCidr) : isPrivateCidr(cidr));
      return p.cidrs
        .filter((c) => !inCluster(c))
        .map((c) => `${p.where} opens ${describePorts(p.ports)} (${hit.name}) to ${c}, outside ${vpcCidr ?? 'private ranges'}`);
    }),
});
