import { nested } from '../../inspect';
import { defineRule } from '../../rule';

export const ImdsV2Required = defineRule({
  id: 'AWS-EC2-IMDSV2',
  pack: 'aws',
  explanation: "Instances must require IMDSv2 tokens: IMDSv1 lets any SSRF read the instance role's credentials.",
  fix: "Set metadata_options { http_tokens = \"required\" } (or http_endpoint = \"disabled\").",
  appliesTo: ['aws_instance', 'aws_launch_template'],
  check: (block) => {
    const m = nested(block.attributes.metadata_options);
    if (m.http_endpoint === 'disabled' || m.http_tokens === 'required') return [];
    return [`metadata_options.http_tokens is ${JSON.stringify(m.http_tokens ?? 'unset (optional on most AMIs)')}`];
  },
});
