import { GCP_VM_TYPES, asList } from '../../inspect';
import { defineRule } from '../../rule';

/** The Compute Engine default account has Editor on the project in most projects. */
export const NoDefaultServiceAccount = defineRule({
  id: 'GCP-VM-NO-DEFAULT-SA',
  pack: 'gcp',
  explanation: "VMs must run as a service account of their own: the default compute account is usually a project Editor.",
  fix: 'Create a google_service_account per host role and set service_account.email to it (the constructs do).',
  appliesTo: [...GCP_VM_TYPES, 'google_compute_instance_from_template'],
  check: (vm, plan) =>
    asList(vm.attributes.service_account)
      .map((sa) => sa.email)
      .filter(
        (email) =>
          email === undefined ||
          email === 'default' ||
          /-compute@developer\.gserviceaccount\.com$/.test(String(email)) ||
          plan.referenced(email)?.type === 'google_compute_default_service_account',
      )
      .map((email) => `service_account.email is ${email === undefined ? 'unset (the default account)' : JSON.stringify(email)}`),
});
