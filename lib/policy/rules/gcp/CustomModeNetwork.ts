import { defineRule } from '../../rule';

export const CustomModeNetwork = defineRule({
  id: 'GCP-VPC-CUSTOM-MODE',
  pack: 'gcp',
  explanation: "Networks must be custom mode: auto mode makes a subnet in every region, with the default network's known ranges.",
  fix: 'Set auto_create_subnetworks = false and declare the subnets the cluster uses.',
  appliesTo: ['google_compute_network'],
  check: (network) => (network.attributes.auto_create_subnetworks === false ? [] : ['auto_create_subnetworks is not false (auto mode)']),
});
