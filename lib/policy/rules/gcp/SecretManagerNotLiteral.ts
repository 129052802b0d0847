import { isExpression } from '../../inspect';
import { defineRule } from '../../rule';

export const SecretManagerNotLiteral = defineRule({
  id: 'GCP-SECRET-LITERAL',
  pack: 'gcp',
  explanation: 'Secret Manager values must come from a generator or the node that creates them, never a literal.',
  fix: 'Leave the version to be added by the node at first boot, or use a sensitive variable or generated value.',
  appliesTo: ['google_secret_manager_secret_version'],
  check: (version) => {
    // The write-only variant stays out of state, but a literal still sits in cdk.tf.json and in git.
    return ['secret_data', 'secret_data_wo']
      .filter((k) => {
        const data = version.attributes[k];
        return typeof data === 'string' && data !== '' && !isExpression(data);
      })
      .map((k) => `${k} is a literal`);
  },
});
