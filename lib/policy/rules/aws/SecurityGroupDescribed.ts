import { defineRule } from '../../rule';

export const SecurityGroupDescribed = defineRule({
  id: 'AWS-SG-DESCRIPTION',
  pack: 'aws',
  explanation: 'Every security group says what it is for; "Managed by Terraform" (the default) tells an auditor nothing.',
  fix: 'Set description to who is in the group and what it admits.',
  appliesTo: ['aws_security_group'],
  check: (group) => {
    const d = group.attributes.description;
    return typeof d === 'string' && d.trim() !== '' && d !== 'Managed by Terraform'
      ? []
      : [`description is ${JSON.stringify(d ?? 'unset ("Managed by Terraform")')}`];
  },
});
