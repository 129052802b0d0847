import { asList, isTrue, nested } from '../../inspect';
import { defineRule } from '../../rule';

/** Root and extra volumes made with an instance or from a launch template: absent settings take the AMI's. */
export const InstanceVolumesEncrypted = defineRule({
  id: 'AWS-EC2-VOLUMES-ENCRYPTED',
  pack: 'aws',
  explanation: "An instance's root and attached volumes must be encrypted; left unset they follow the AMI's snapshot.",
  fix: 'Set root_block_device { encrypted = true } (launch templates: block_device_mappings { ebs { encrypted = "true" } }).',
  appliesTo: ['aws_instance', 'aws_launch_template'],
  check: (block) => {
    const a = block.attributes;
    if (block.type === 'aws_instance') {
      const problems = isTrue(nested(a.root_block_device).encrypted) ? [] : ['root_block_device.encrypted is not true'];
      asList(a.ebs_block_device).forEach((d, i) => {
        if (!isTrue(d.encrypted)) problems.push(`ebs_block_device[${i}] (${String(d.device_name)}) is not encrypted`);
      });
      return problems;
    }
    const mappings = asList(a.block_device_mappings).filter((m) => m.ebs !== undefined);
    if (mappings.length === 0) return ['no block_device_mappings: the root volume takes the AMI snapshot\'s encryption'];
    return mappings
      .filter((m) => !isTrue(nested(m.ebs).encrypted))
      .map((m) => `block_device_mappings ${String(m.device_name)}: ebs.encrypted is not true`);
  },
});
