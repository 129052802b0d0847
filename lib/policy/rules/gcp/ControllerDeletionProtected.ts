import { defineRule } from '../../rule';

export const ControllerDeletionProtected = defineRule({
  id: 'GCP-CONTROLLER-PROTECTED',
  pack: 'gcp',
  explanation: "The Slurm controller's VM and its munge key secret must have deletion protection: a lost key means re-keying every host.",
  fix: 'Keep SlurmController deletionProtection on (deletion_protection = true); turn it off only to destroy the cluster.',
  appliesTo: ['google_compute_instance', 'google_secret_manager_secret'],
  check: (block) => {
    const a = block.attributes;
    const labels = (a.labels ?? {}) as Record<string, unknown>;
    const isController = block.type === 'google_compute_instance' && labels['slurm-role'] === 'controller';
    const isMungeKey = block.type === 'google_secret_manager_secret' && typeof a.secret_id === 'string' && a.secret_id.endsWith('-munge-key') && labels['slurm-cluster'] !== undefined;
    if (!isController && !isMungeKey) return [];
    return a.deletion_protection === true ? [] : [`the ${isController ? 'controller VM' : 'munge key secret'} has deletion_protection off`];
  },
});
