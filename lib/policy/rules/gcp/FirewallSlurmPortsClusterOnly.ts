import { asStrings, clusterOnlyPorts, describePorts, gcpAllowedOf, gcpIngressSources, isExpression, isGcpIngress, rangesOverlap } from '../../inspect';
import { cidrWithin, isPrivateCidr, MESH_CIDR } from '../../../net/cidr';
import { PolicyPlan, PolicyResource, defineRule } from '../../rule';

/** The literal ranges of the subnets on the firewall's network (empty when none are known). */
function networkRanges(fw: PolicyResource, plan: PolicyPlan): string[] {
  const network = plan.referenced(fw.attributes.network);
  if (!network) return [];
  return plan
    .blocks('google_compute_subnetwork')
    .filter((s) => plan.refersTo(s.attributes.network, network))
    .flatMap((s) => [...asStrings(s.attributes.ip_cidr_range), ...[s.attributes.secondary_ip_range].flat().flatMap((r) => asStrings((r as { ip_cidr_range?: unknown } | undefined)?.ip_cidr_range))])
    .filter((c) => !isExpression(c));
}

/**
 * Sources written as expressions (Google's private services range, `${google_compute_global_address.x.address}/20`)
 * are ranges the stack allocated itself and are not judged here.
 */
export const FirewallSlurmPortsClusterOnly = defineRule({
  id: 'GCP-FW-SLURM-PORTS',
  pack: 'gcp',
  explanation:
    'Slurm (6817-6820, SrunPortRange), MariaDB (3306), Lustre (988) and NFS (2049) must only be open to cluster sources.',
  fix: "Admit the cluster's network tag or service account, its own subnets' ranges or the mesh range (100.64.0.0/10).",
  appliesTo: ['google_compute_firewall'],
  check: (fw, plan) => {
    if (!isGcpIngress(fw)) return [];
    const own = networkRanges(fw, plan);
    const inCluster = (cidr: string): boolean =>
      cidrWithin(cidr, MESH_CIDR) || (own.length ? own.some((r) => cidrWithin(cidr, r)) : isPrivateCidr(cidr));
    const outside = gcpIngressSources(fw).ranges.filter((r) => !isExpression(r) && !inCluster(r));
    if (outside.length === 0) return [];
    const guarded = clusterOnlyPorts(plan.options.srunPortRange);
    return gcpAllowedOf(fw)
      .filter((a) => ['tcp', 'udp', 'all'].includes(a.protocol))
      .flatMap((a) => a.ports)
      .flatMap((p) =>
        guarded
          .filter((g) => rangesOverlap(p, g.ports))
          .map((g) => `allows ${describePorts(p)} (${g.name}) from ${outside.join(', ')}, outside ${own.length ? own.join(', ') : 'private ranges'}`),
      );
  },
});
