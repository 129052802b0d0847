import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, gcpMetadata, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const OsLoginEnabled = defineRule({
  id: 'GCP-VM-OS-LOGIN',
  pack: 'gcp',
  explanation: 'VMs must use OS Login, so SSH access follows IAM and is revoked with it.',
  fix: 'Set metadata enable-oslogin = "TRUE".',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'metadata')) return [];
    return isTrue(gcpMetadata(vm, 'enable-oslogin')) ? [] : ['metadata enable-oslogin is not TRUE'];
  },
});
