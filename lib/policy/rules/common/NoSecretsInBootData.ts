import { asList, bootTextOf, secretsIn } from '../../inspect';
import { PolicyResource, defineRule } from '../../rule';

/** What each kind of host receives at boot, and where a plan keeps uploaded files. */
function bootTexts(block: PolicyResource): { where: string; text: string }[] {
  const a = block.attributes;
  switch (block.type) {
    case 'aws_instance':
    case 'aws_launch_template':
      return ['user_data', 'user_data_base64'].map((k) => ({ where: k, text: bootTextOf(a[k]) }));
    case 'google_compute_project_metadata_item':
      return [{ where: `project metadata ${String(a.key)}`, text: bootTextOf(a.value) }];
    case 'google_compute_instance':
    case 'google_compute_instance_template':
    case 'google_compute_instance_from_template':
    case 'google_compute_project_metadata': {
      const metadata = (a.metadata ?? {}) as Record<string, unknown>;
      return [
        ...Object.entries(metadata).map(([k, v]) => ({ where: `metadata.${k}`, text: bootTextOf(v) })),
        { where: 'metadata_startup_script', text: bootTextOf(a.metadata_startup_script) },
      ];
    }
    case 'docker_container':
      return [
        ...asList(a.upload).map((u) => ({
          where: `upload ${String(u.file)}`,
          text: `${String(u.content ?? '')}\n${bootTextOf(u.content_base64)}`,
        })),
        { where: 'env', text: JSON.stringify(a.env ?? []) },
      ];
    default:
      return [{ where: 'content', text: bootTextOf(a.content) }];
  }
}

/**
 * User-data and metadata are readable by anyone who can describe the instance (and by every process on it
 * through the metadata service): keys and passwords are fetched at boot with the node's identity instead.
 */
export const NoSecretsInBootData = defineRule({
  id: 'COMMON-NO-SECRETS-IN-BOOT-DATA',
  pack: 'common',
  explanation: 'User-data, instance metadata and uploaded boot files must hold no key, password or token.',
  fix: 'Put the secret in the secret store (or a file uploaded by reference) and let the node fetch it with its own identity.',
  appliesTo: [
    'aws_instance',
    'aws_launch_template',
    'aws_s3_object',
    'google_compute_instance',
    'google_compute_instance_template',
    'google_compute_instance_from_template',
    // Project-wide metadata is readable by every VM of the project.
    'google_compute_project_metadata',
    'google_compute_project_metadata_item',
    'google_storage_bucket_object',
    'docker_container',
  ],
  check: (block) => bootTexts(block).flatMap(({ where, text }) => secretsIn(text).map((what) => `${where} holds ${what}`)),
});
