import { gcpAllowedOf, gcpWorldSources } from '../../inspect';
import { defineRule } from '../../rule';

export const FirewallNoWorldAllPorts = defineRule({
  id: 'GCP-FW-WORLD-ALL-PORTS',
  pack: 'gcp',
  explanation: 'No firewall rule may allow every port from 0.0.0.0/0 or ::/0 (a rule with no source is open to all).',
  fix: 'Name the protocols and ports, and the sources (tags, service accounts or your own CIDRs).',
  appliesTo: ['google_compute_firewall'],
  check: (fw) => {
    const world = gcpWorldSources(fw);
    if (world.length === 0) return [];
    return gcpAllowedOf(fw)
      .filter((a) => a.ports.some((p) => p[0] === 0 && p[1] === 65535))
      .map((a) => `allows all ${a.protocol} ports from ${world.join(', ')}`);
  },
});
