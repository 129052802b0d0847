import { defineRule } from '../../rule';

export const S3BucketEncrypted = defineRule({
  id: 'AWS-S3-ENCRYPTED',
  pack: 'aws',
  explanation: 'Buckets (bootstrap scripts, checkpoints) must state their at-rest encryption, not rely on defaults.',
  fix: 'Add an aws_s3_bucket_server_side_encryption_configuration for the bucket (aws:kms or AES256).',
  appliesTo: ['aws_s3_bucket'],
  check: (bucket, plan) =>
    plan
      .blocks('aws_s3_bucket_server_side_encryption_configuration')
      .some((c) => plan.refersTo(c.attributes.bucket, bucket))
      ? []
      : ['no aws_s3_bucket_server_side_encryption_configuration refers to this bucket'],
});
