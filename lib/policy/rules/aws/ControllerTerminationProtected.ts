import { defineRule } from '../../rule';

export const ControllerTerminationProtected = defineRule({
  id: 'AWS-EC2-CONTROLLER-PROTECTED',
  pack: 'aws',
  explanation: "The Slurm controller must have termination protection: it holds the cluster's state, accounting and keys.",
  fix: 'Keep SlurmController deletionProtection on (disable_api_termination = true); turn it off only to destroy the cluster.',
  appliesTo: ['aws_instance'],
  check: (block) => {
    const tags = (block.attributes.tags ?? {}) as Record<string, unknown>;
    if (tags['slurm:role'] !== 'controller') return [];
    return block.attributes.disable_api_termination === true ? [] : ['the controller instance has no termination protection (disable_api_termination)'];
  },
});
