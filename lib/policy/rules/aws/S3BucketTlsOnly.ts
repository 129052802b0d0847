import { asList } from '../../inspect';
import { PolicyResource, defineRule } from '../../rule';

function deniesPlainHttp(policy: PolicyResource): boolean {
  let doc: unknown;
  try {
    doc = JSON.parse(String(policy.attributes.policy));
  } catch {
    return false;
  }
  return asList((doc as Record<string, unknown>).Statement).some((s) => {
    const condition = (s.Condition ?? {}) as Record<string, Record<string, unknown>>;
    return s.Effect === 'Deny' && String(condition.Bool?.['aws:SecureTransport']) === 'false';
  });
}

export const S3BucketTlsOnly = defineRule({
  id: 'AWS-S3-TLS-ONLY',
  pack: 'aws',
  explanation: 'Buckets must refuse plain HTTP, so scripts and secrets-bearing objects never cross the wire unencrypted.',
  fix: 'Add an aws_s3_bucket_policy denying s3:* when aws:SecureTransport is "false".',
  appliesTo: ['aws_s3_bucket'],
  check: (bucket, plan) =>
    plan.blocks('aws_s3_bucket_policy').some((p) => plan.refersTo(p.attributes.bucket, bucket) && deniesPlainHttp(p))
      ? []
      : ['no bucket policy denies requests with aws:SecureTransport = false'],
});
