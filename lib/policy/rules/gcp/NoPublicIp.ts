import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, asList } from '../../inspect';
import { defineRule } from '../../rule';

export const NoPublicIp = defineRule({
  id: 'GCP-VM-NO-PUBLIC-IP',
  pack: 'gcp',
  explanation: 'Cluster VMs must have no external address; they reach the internet through Cloud NAT and users through IAP.',
  fix: 'Remove access_config (and ipv6_access_config) from the network interfaces.',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'network_interface')) return [];
    return asList(vm.attributes.network_interface).flatMap((nic, i) =>
      asList(nic.access_config).length || asList(nic.ipv6_access_config).length
        ? [`network_interface[${i}] has an external address (access_config)`]
        : [],
    );
  },
});
