import { defineRule } from '../../rule';

export const FirewallDescribed = defineRule({
  id: 'GCP-FW-DESCRIPTION',
  pack: 'gcp',
  explanation: 'Every firewall rule says why it exists, so a stale or widened rule can be spotted.',
  fix: 'Set description to what the rule admits and for whom.',
  appliesTo: ['google_compute_firewall'],
  check: (fw) => {
    const d = fw.attributes.description;
    return typeof d === 'string' && d.trim() !== '' ? [] : ['the firewall rule has no description'];
  },
});
