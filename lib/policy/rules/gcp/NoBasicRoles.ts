import { asStrings } from '../../inspect';
import { defineRule } from '../../rule';

const BASIC = ['roles/owner', 'roles/editor', 'roles/viewer'];

export const NoBasicRoles = defineRule({
  id: 'GCP-IAM-NO-BASIC-ROLES',
  pack: 'gcp',
  explanation: 'No identity may be granted Owner, Editor or Viewer: basic roles span every service of the project.',
  fix: 'Grant the predefined role for the job (roles/logging.logWriter, roles/compute.instanceAdmin.v1, ...) or a custom role.',
  appliesTo: [
    'google_project_iam_member',
    'google_project_iam_binding',
    'google_project_iam_policy',
    'google_folder_iam_member',
    'google_folder_iam_binding',
    'google_organization_iam_member',
    'google_organization_iam_binding',
    'google_service_account_iam_member',
    'google_service_account_iam_binding',
  ],
  check: (grant) => {
    const roles = asStrings(grant.attributes.role);
    if (grant.type === 'google_project_iam_policy') {
      // policy_data is the JSON of google_iam_policy's output: { bindings: [{ role, members }] }.
      try {
        const policy = JSON.parse(String(grant.attributes.policy_data)) as { bindings?: { role?: string }[] };
        roles.push(...(policy.bindings ?? []).map((b) => String(b.role)));
      } catch {
        // A reference to a data source: its bindings are checked where they are written.
      }
    }
    return roles.filter((r) => BASIC.includes(r)).map((r) => `grants ${r}`);
  },
});
