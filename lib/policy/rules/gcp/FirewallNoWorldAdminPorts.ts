import { describePorts, gcpAllowedOf, gcpWorldSources, rangesOverlap } from '../../inspect';
import { defineRule } from '../../rule';

export const FirewallNoWorldAdminPorts = defineRule({
  id: 'GCP-FW-WORLD-ADMIN-PORTS',
  pack: 'gcp',
  explanation: 'SSH (22) and RDP (3389) must not be open to 0.0.0.0/0 or ::/0 (a rule with no source is open to all).',
  fix: "Admit IAP's range (35.235.240.0/20) or your own CIDRs only.",
  appliesTo: ['google_compute_firewall'],
  check: (fw) => {
    const world = gcpWorldSources(fw);
    if (world.length === 0) return [];
    return gcpAllowedOf(fw)
      .filter((a) => a.protocol === 'tcp' || a.protocol === 'all')
      .flatMap((a) => a.ports.filter((p) => !(p[0] === 0 && p[1] === 65535)))
      .filter((p) => rangesOverlap(p, [22, 22]) || rangesOverlap(p, [3389, 3389]))
      .map((p) => `allows ${describePorts(p)} from ${world.join(', ')}`);
  },
});
