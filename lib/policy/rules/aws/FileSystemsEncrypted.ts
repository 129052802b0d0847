import { isExpression, isTrue } from '../../inspect';
import { defineRule } from '../../rule';

/**
 * EFS encrypts only when asked. FSx for Lustre always encrypts; persistent deployments take a customer-managed
 * key, which makes reading the data an auditable, revocable grant (scratch ones cannot).
 */
export const FileSystemsEncrypted = defineRule({
  id: 'AWS-FS-ENCRYPTED',
  pack: 'aws',
  explanation: 'Shared file systems must be encrypted at rest, persistent FSx for Lustre with a key you manage.',
  fix: 'EFS: encrypted = true. FSx for Lustre PERSISTENT_*: kms_key_id = a KMS key of yours (LustreFs makes one).',
  appliesTo: ['aws_efs_file_system', 'aws_fsx_lustre_file_system'],
  check: (fs) => {
    const a = fs.attributes;
    if (fs.type === 'aws_efs_file_system') return isTrue(a.encrypted) ? [] : ['encrypted is not true'];
    const persistent = isExpression(a.deployment_type) || String(a.deployment_type ?? 'SCRATCH_1').startsWith('PERSISTENT');
    return persistent && !a.kms_key_id ? ['a persistent deployment with no kms_key_id (AWS-managed key)'] : [];
  },
});
