import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const NoIpForwarding = defineRule({
  id: 'GCP-VM-NO-IP-FORWARDING',
  pack: 'gcp',
  explanation: 'VMs must not forward packets for other addresses; only a router (a mesh subnet router) needs to.',
  fix: 'Set can_ip_forward = false; a VM that routes for a mesh needs a suppression saying so.',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'can_ip_forward')) return [];
    return isTrue(vm.attributes.can_ip_forward) ? ['can_ip_forward is true'] : [];
  },
});
