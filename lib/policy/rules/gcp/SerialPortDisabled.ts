import { GCP_FROM_TEMPLATE, GCP_VM_TYPES, inheritsFromTemplate, gcpMetadata, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const SerialPortDisabled = defineRule({
  id: 'GCP-VM-NO-SERIAL-PORT',
  pack: 'gcp',
  explanation: 'The interactive serial console must stay off: it is reachable from outside the VPC and bypasses firewalls.',
  fix: 'Leave out serial-port-enable or set it to "FALSE"; read boot logs with get-serial-port-output instead.',
  appliesTo: [...GCP_VM_TYPES, GCP_FROM_TEMPLATE],
  check: (vm) => {
    if (inheritsFromTemplate(vm, 'metadata')) return [];
    const value = gcpMetadata(vm, 'serial-port-enable');
    return isTrue(value) || value === '1' ? [`metadata serial-port-enable is ${JSON.stringify(value)}`] : [];
  },
});
