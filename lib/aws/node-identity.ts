/**
 * What every EC2 host of a cluster starts from: an instance role with its profile, the right to read the munge
 * key, and the Ubuntu 24.04 image. One place, so the controller, login nodes and pools cannot drift apart.
 */
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { dependable, type ITerraformDependable, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { runAtSynthStart, terraformExpressionOf } from '../cdktf-adapter';

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
  /** The instance profile's role: the instance waits for every policy on it, wherever in the stack it was made. @default none */
  readonly role?: IamRole;
  /** What the first boot fetches from S3 (the bootstrap scripts): the instance waits until they exist. @default none */
  readonly bootObjects?: readonly ITerraformDependable[];
  /** EC2 termination protection (`disable_api_termination`). @default false */
  readonly disableApiTermination?: boolean;
}

/**
 * A controller or login instance (`<scope>/Instance`): private address only, IMDSv2 with hop limit 1 and instance
 * tags readable from IMDS (nodes read their scripts bucket from a tag, so user-data holds no apply-time value), an
 * encrypted gp3 root volume.
 */
export function fixedEc2Host(scope: Construct, props: FixedEc2HostProps): Instance {
  const instance = new Instance(scope, 'Instance', {
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
  // The first boot reads with the role's inline policies and fetches the scripts: without an edge in the graph
  // Terraform may start the instance before either exists (a race on the first apply). Decided at synth, when
  // every policy of the role (a pool's launch grant, the monitor's grant) has been added.
  runAtSynthStart(scope, {
    visit: () => {
      const stack = TerraformStack.of(scope);
      const roleRefs = props.role ? new Set([terraformExpressionOf(scope, props.role.id), terraformExpressionOf(scope, props.role.name)]) : new Set<string>();
      const have = new Set(instance.dependsOn ?? []);
      const needed = [
        // A policy on the role may live in another construct's scope (the monitor's grant on the controller's role).
        ...stack.node.findAll().filter((c): c is IamRolePolicy | IamRolePolicyAttachment =>
          (c instanceof IamRolePolicy || c instanceof IamRolePolicyAttachment) && typeof c.roleInput === 'string' && roleRefs.has(terraformExpressionOf(scope, c.roleInput))),
        ...(props.bootObjects ?? []),
      ];
      const missing = needed.map((d) => dependable(d)).filter((fqn) => !have.has(fqn));
      if (missing.length > 0) instance.dependsOn = [...(instance.dependsOn ?? []), ...missing];
    },
  });
  return instance;
}
