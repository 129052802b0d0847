import { isTrue } from '../../inspect';
import { defineRule } from '../../rule';

const SETTINGS = ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'];

export const S3BucketPublicAccessBlocked = defineRule({
  id: 'AWS-S3-PUBLIC-ACCESS-BLOCK',
  pack: 'aws',
  explanation: 'Buckets must block public ACLs and policies: a bootstrap bucket made public leaks how nodes are built.',
  fix: 'Add an aws_s3_bucket_public_access_block for the bucket with all four settings true.',
  appliesTo: ['aws_s3_bucket'],
  check: (bucket, plan) => {
    const block = plan.blocks('aws_s3_bucket_public_access_block').find((b) => plan.refersTo(b.attributes.bucket, bucket));
    if (!block) return ['no aws_s3_bucket_public_access_block refers to this bucket'];
    const off = SETTINGS.filter((s) => !isTrue(block.attributes[s]));
    return off.length ? [`${block.address} leaves ${off.join(', ')} off`] : [];
  },
});
