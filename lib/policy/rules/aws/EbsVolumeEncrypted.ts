import { isTrue } from '../../inspect';
import { defineRule } from '../../rule';

export const EbsVolumeEncrypted = defineRule({
  id: 'AWS-EBS-ENCRYPTED',
  pack: 'aws',
  explanation: 'EBS volumes (slurmctld state, NFS homes, MicroCeph disks) must be encrypted at rest.',
  fix: 'Set encrypted = true (optionally kms_key_id to a key you manage).',
  appliesTo: ['aws_ebs_volume'],
  check: (volume) => (isTrue(volume.attributes.encrypted) ? [] : ['encrypted is not true']),
});
