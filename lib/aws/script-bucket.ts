import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA as S3BucketServerSideEncryptionConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA as S3BucketVersioning } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { Construct } from 'constructs';
import type { BootstrapScript } from '../cloudinit';

/**
 * The scripts an AWS host may run: the top-level steps, the shared `lib/` and `aws/`. Other clouds' folders stay
 * out of the bucket (and out of the plan).
 */
export function awsBootstrapScripts(scripts: readonly BootstrapScript[]): BootstrapScript[] {
  return scripts.filter((s) => !s.relativePath.includes('/') || /^(lib|aws|containers|storage|monitoring)\//.test(s.relativePath));
}

export interface BootstrapScriptBucketProps {
  /** Prefix of the bucket's generated name (lower-case, digits, `-`). */
  readonly namePrefix: string;
}

/**
 * A private, encrypted S3 bucket holding the bootstrap scripts nodes download at boot (EC2 user-data is
 * capped at 16 KiB). Nodes read it with their own role; the user-data carries only SHA-256 sums.
 */
export class BootstrapScriptBucket extends Construct {
  /** Key prefix of the scripts. */
  static readonly PREFIX = 'bootstrap';
  readonly bucket: S3Bucket;
  private readonly uploaded = new Map<string, string>();
  /** The uploaded scripts, which a host that fetches them at boot waits for (`fixedEc2Host`'s `bootObjects`). */
  readonly objects: S3Object[] = [];

  constructor(scope: Construct, id: string, props: BootstrapScriptBucketProps) {
    super(scope, id);
    this.bucket = new S3Bucket(this, 'Bucket', { bucketPrefix: `${props.namePrefix}-bootstrap-`, forceDestroy: true });
    new S3BucketPublicAccessBlock(this, 'PublicAccessBlock', {
      bucket: this.bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'Ownership', {
      bucket: this.bucket.id,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    new S3BucketServerSideEncryptionConfiguration(this, 'Encryption', {
      bucket: this.bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    new S3BucketVersioning(this, 'Versioning', { bucket: this.bucket.id, versioningConfiguration: { status: 'Enabled' } });
    new S3BucketPolicy(this, 'Policy', {
      bucket: this.bucket.id,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:*',
            Resource: [this.bucket.arn, `${this.bucket.arn}/*`],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    });
  }

  /** Uploads each script once, whatever number of nodes ship it. */
  addScripts(scripts: readonly BootstrapScript[]): void {
    for (const script of scripts) {
      const seen = this.uploaded.get(script.relativePath);
      if (seen !== undefined) {
        if (seen !== script.content) throw new Error(`${this.node.path}: two different contents for ${script.relativePath}`);
        continue;
      }
      this.uploaded.set(script.relativePath, script.content);
      this.objects.push(new S3Object(this, `Script-${script.relativePath.replace(/[^A-Za-z0-9]/g, '_')}`, {
        bucket: this.bucket.id,
        key: `${BootstrapScriptBucket.PREFIX}/${script.relativePath}`,
        // base64: a plain string would be read by Terraform as a template, and scripts are full of ${…}.
        contentBase64: Buffer.from(script.content, 'utf8').toString('base64'),
        contentType: 'text/x-shellscript',
      }));
    }
  }

  /** Lets `role` download the scripts, and nothing else from the bucket. */
  grantRead(scope: Construct, id: string, roleId: string): void {
    new IamRolePolicy(scope, id, {
      role: roleId,
      name: 'read-bootstrap-scripts',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Sid: 'BootstrapScripts', Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`${this.bucket.arn}/${BootstrapScriptBucket.PREFIX}/*`] },
        ],
      }),
    });
  }
}
