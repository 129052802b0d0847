import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, gcpMetadata, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const BlockProjectSshKeys = defineRule({
  id: 'GCP-VM-BLOCK-PROJECT-SSH-KEYS',
  pack: 'gcp',
  explanation: 'VMs must ignore project-wide SSH keys, which let anyone with one key into every VM of the project.',
  fix: 'Set metadata block-project-ssh-keys = "TRUE" and grant access through OS Login.',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'metadata')) return [];
    return isTrue(gcpMetadata(vm, 'block-project-ssh-keys')) ? [] : ['metadata block-project-ssh-keys is not TRUE'];
  },
});
