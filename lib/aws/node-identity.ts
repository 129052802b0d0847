/**
 * What every EC2 host of a cluster starts from: an instance role with its profile, the right to read the munge
 * key, and the Ubuntu 24.04 image. One place, so the controller, login nodes and pools cannot drift apart.
 */
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { Construct } from 'constructs';

/** Canonical's public SSM parameter for the current Ubuntu 24.04 LTS amd64 AMI. */
export const UBUNTU_2404_AMI_PARAMETER = '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id';

/**
 * AWS's public SSM parameter for the current Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04): the
 * NVIDIA driver, Fabric Manager, the container toolkit and EFA preinstalled, which plain Ubuntu lacks.
 */
export const DLAMI_GPU_UBUNTU_2404_AMI_PARAMETER = '/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id';

/** `amiId`, or the current Ubuntu 24.04 AMI (for GPU nodes, the DLAMI GPU base built on it) looked up at plan time. */
export function ubuntuAmi(scope: Construct, amiId?: string, options: { readonly gpu?: boolean } = {}): string {
  const name = options.gpu ? DLAMI_GPU_UBUNTU_2404_AMI_PARAMETER : UBUNTU_2404_AMI_PARAMETER;
  return amiId ?? new DataAwsSsmParameter(scope, 'Ami', { name }).value;
}

/** An EC2 instance role (`<scope>/Role`) and its instance profile (`<scope>/Profile`), both named `name`. */
export function ec2InstanceRole(scope: Construct, name: string, description: string): { role: IamRole; profile: IamInstanceProfile } {
  const role = new IamRole(scope, 'Role', {
    name,
    description,
    assumeRolePolicy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    }),
  });
  const profile = new IamInstanceProfile(scope, 'Profile', { name, role: role.name });
  return { role, profile };
}

/** SSM parameter a cluster file system publishes its mount source in (values known only after apply). */
export function fileSystemParameterName(clusterName: string, fileSystem: string): string {
  return `/cdktf-slurm/${clusterName}/filesystems/${fileSystem}`;
}

/** Secrets Manager name of a cluster file system's client secret (a CephFS key). */
export function fileSystemSecretName(clusterName: string, secret: string): string {
  return `${clusterName}/filesystems/${secret}`;
}

/**
 * Lets `role` read the cluster's file-system parameters (mount sources) and file-system secrets (client keys) and
 * nothing else in SSM or Secrets Manager: every host may mount any file system of its cluster, so each host role
 * gets it.
 */
export function grantFileSystemParameterRead(scope: Construct, role: IamRole, clusterName: string): void {
  new IamRolePolicy(scope, 'FileSystemParametersRead', {
    role: role.id,
    name: 'read-file-system-parameters',
    policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{
        Sid: 'ClusterFileSystems',
        Effect: 'Allow',
        Action: ['ssm:GetParameter'],
        Resource: [`arn:aws:ssm:*:*:parameter${fileSystemParameterName(clusterName, '*')}`],
      }, {
        Sid: 'ClusterFileSystemKeys',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [`arn:aws:secretsmanager:*:*:secret:${fileSystemSecretName(clusterName, '*')}`],
      }],
    }),
  });
}

/** Lets `role` read the munge key secret, and nothing else from Secrets Manager. */
export function grantMungeKeyRead(scope: Construct, role: IamRole, mungeKeySecretArn: string): void {
  new IamRolePolicy(scope, 'MungeKeyRead', {
    role: role.id,
    name: 'read-munge-key',
    policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Sid: 'MungeKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: [mungeKeySecretArn] }],
    }),
  });
}

export interface FixedEc2HostProps {
  readonly ami: string;
  readonly instanceType: string;
  readonly subnetId: string;
  /** Fixed private address, so other nodes' user-data names it without waiting for apply. */
  readonly privateIp: string;
  readonly securityGroupIds: string[];
  readonly instanceProfileName: string;
  /** @default none (SSM Session Manager) */
  readonly keyName?: string;
  readonly rootVolumeSizeGiB: number;
  /** gzip+base64 user-data (a lazy value rendered at synth). */
  readonly userDataBase64: string;
  readonly tags: Record<string, string>;
  /** EC2 termination protection (`disable_api_termination`). @default false */
  readonly disableApiTermination?: boolean;
}

/**
 * A controller or login instance (`<scope>/Instance`): private address only, IMDSv2 with hop limit 1 and instance
 * tags readable from IMDS (nodes read their scripts bucket from a tag, so user-data holds no apply-time value), an
 * encrypted gp3 root volume.
 */
export function fixedEc2Host(scope: Construct, props: FixedEc2HostProps): Instance {
  return new Instance(scope, 'Instance', {
    ami: props.ami,
    instanceType: props.instanceType,
    subnetId: props.subnetId,
    privateIp: props.privateIp,
    associatePublicIpAddress: false,
    vpcSecurityGroupIds: props.securityGroupIds,
    iamInstanceProfile: props.instanceProfileName,
    keyName: props.keyName,
    metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', instanceMetadataTags: 'enabled' },
    rootBlockDevice: { encrypted: true, volumeType: 'gp3', volumeSize: props.rootVolumeSizeGiB },
    userDataBase64: props.userDataBase64,
    tags: props.tags,
    disableApiTermination: props.disableApiTermination,
  });
}
