import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, nested } from '../../inspect';
import { defineRule } from '../../rule';

export const ShieldedVm = defineRule({
  id: 'GCP-VM-SHIELDED',
  pack: 'gcp',
  explanation: 'VMs must be Shielded VMs (Secure Boot, vTPM, integrity monitoring), so a tampered boot chain is refused.',
  fix: 'Set shielded_instance_config { enable_secure_boot = true }; an image whose modules are unsigned needs a suppression with its reason.',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'shielded_instance_config')) return [];
    const s = nested(vm.attributes.shielded_instance_config);
    const problems: string[] = [];
    if (s.enable_secure_boot !== true) problems.push('shielded_instance_config.enable_secure_boot is not true');
    if (s.enable_vtpm === false) problems.push('shielded_instance_config.enable_vtpm is false');
    if (s.enable_integrity_monitoring === false) problems.push('shielded_instance_config.enable_integrity_monitoring is false');
    return problems;
  },
});
