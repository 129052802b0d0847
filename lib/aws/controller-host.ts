/**
 * The Slurm controller on EC2: its secrets in Secrets Manager, its instance role, the cluster's script bucket, the
 * instance at its fixed address and the state volume that outlives it; and what the AWS side of a cluster asks of the
 * controller later (pool launch settings for the ResumeProgram, the NFS server's group, the compute-peers group, a
 * Terraform-made munge key for hosts without a cloud identity). Resources are made in the controller's scope, so
 * their addresses are the controller's (`<Controller>/MungeKey`).
 */
import { DataAwsSecretsmanagerRandomPassword } from '@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecretsmanagerSecretVersion } from '@cdktf/provider-aws/lib/secretsmanager-secret-version';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { dependable } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import type {
  ControllerHostRequest, FileSystemSecretExample, IClusterBackend, IControllerHost, IFileSystemSecret, PowerSavingPrograms, ShareDisk, ShareDiskRequest,
} from '../backend';
import { ConstructPropError, lazyList, lazyString, renamedFrom } from '../cdktf-adapter';
import { loadBootstrapScripts, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { Admissions, clientNetworkShown, CLUSTER_GROUP_NAME, FileSystemClientNetwork, IFileSystemClient } from '../constructs/cluster-file-system';
import type { TargetReach } from '../monitoring/scrape-targets';
import { EfaSecurityGroup } from './efa';
import type { IAwsClusterNetwork } from './network';
import { ec2InstanceRole, fileSystemSecretName, fixedEc2Host, grantFileSystemParameterRead, ubuntuAmi } from './node-identity';
import { awsBootstrapScripts, BootstrapScriptBucket } from './script-bucket';

/** The node path where the AWS programs slurmctld runs to start and stop cloud nodes are shipped. */
export const AWS_RESUME_PROGRAM = '/opt/cdktf-slurm/bootstrap/aws/slurm-resume.sh';
export const AWS_SUSPEND_PROGRAM = '/opt/cdktf-slurm/bootstrap/aws/slurm-suspend.sh';
/** What an AWS controller runs beyond the role steps when Slurm starts and stops cloud nodes. */
const AWS_CONTROLLER_SCRIPTS = ['aws/pools-sync.sh', 'aws/pool-env.sh', 'aws/slurm-resume.sh', 'aws/slurm-suspend.sh'];
/** EC2 device names for the controller's share disks, in the order shares are made; /dev/sdf is its state volume. */
const SHARE_DEVICE_LETTERS = 'ghijklmnop';
/** What a bad secret reference is shown as: it may be the secret itself, pasted where its name belongs. */
const redacted = (v: unknown): string => (typeof v === 'string' ? `<${v.length} characters>` : String(v));

/** How the controller's ResumeProgram launches one AWS pool's nodes. */
export interface AwsPoolLaunchSettings {
  readonly poolName: string;
  readonly launchTemplateId: string;
  readonly subnetIds: readonly string[];
  readonly capacityType: 'on-demand' | 'spot';
  /** @default none */
  readonly placementGroup?: string;
  /** Role the pool's instances run as; the controller may pass it to EC2. */
  readonly nodeRoleArn: string;
  /** The template defines the network interfaces (EFA): launch without a subnet of our own. @default false */
  readonly networkInterfacesInTemplate?: boolean;
}

/** The controller's EC2 side. */
export class AwsControllerHost implements IControllerHost {
  /**
   * The EC2 side of `controller`, for constructs that only make sense on AWS.
   * @throws Error naming the controller and the caller when the controller is on another cloud
   */
  static of(controller: { readonly host: IControllerHost; readonly node: IConstruct['node'] }, caller: string): AwsControllerHost {
    if (!(controller.host instanceof AwsControllerHost)) {
      throw new Error(`${controller.node.path}: ${caller} needs a controller on an AWS network, and this one is on ${controller.host.backend.name.toUpperCase()}`);
    }
    return controller.host;
  }

  readonly mungeKeySource: string;
  readonly jwtKeySource?: string;
  readonly dbPasswordSource?: string;
  readonly meshAuthKeySource?: string;
  readonly stateDevice = '/dev/sdf';
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach: TargetReach;
  readonly userDataTarget = 'aws' as const;
  readonly scriptDelivery = { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' } as const;
  readonly powerSaving: PowerSavingPrograms;
  readonly instance: Instance;
  readonly role: IamRole;
  /** Holds the bootstrap scripts every node of the cluster downloads at boot. */
  readonly scriptBucket: BootstrapScriptBucket;
  /** Secrets Manager name and ARN of the munge key; the controller creates the key at first boot. */
  readonly mungeKeySecretName: string;
  readonly mungeKeySecretArn: string;
  /** SSM parameter path under which pools publish their launch settings. */
  readonly poolParameterPrefix: string;

  private readonly mungeKeySecret: SecretsmanagerSecret;
  private mungeKeyVersion?: SecretsmanagerSecretVersion;
  private nfsServerGroup?: SecurityGroup;
  private readonly nfsClientGroups: Admissions;
  private computePeers?: EfaSecurityGroup;
  private shareDisks = 0;

  constructor(
    readonly backend: IClusterBackend,
    readonly network: IAwsClusterNetwork,
    private readonly scope: Construct,
    private readonly request: ControllerHostRequest,
  ) {
    const prefix = request.clusterName;
    this.nfsClientGroups = new Admissions(scope);
    this.poolParameterPrefix = `/cdktf-slurm/${prefix}/pools`;
    this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: network.clusterSecurityGroupId, vpcId: network.vpcId, groupName: CLUSTER_GROUP_NAME };
    this.scrapeReach = { kind: 'aws-security-group', securityGroupId: network.clusterSecurityGroupId };
    this.powerSaving = {
      resumeProgram: AWS_RESUME_PROGRAM,
      suspendProgram: AWS_SUSPEND_PROGRAM,
      env: { AWS_POOL_PARAMETERS: this.poolParameterPrefix },
      scripts: AWS_CONTROLLER_SCRIPTS,
    };
    const subnet = network.privateSubnets[0];
    const munge = new SecretsmanagerSecret(scope, 'MungeKey', {
      name: `${prefix}/munge-key`,
      description: `munge key of Slurm cluster ${prefix}; generated on the controller at first boot, never in Terraform`,
      recoveryWindowInDays: 7,
    });
    this.mungeKeySecret = munge;
    this.mungeKeySecretName = `${prefix}/munge-key`;
    this.mungeKeySecretArn = munge.arn;
    this.mungeKeySource = `aws-secretsmanager:${this.mungeKeySecretName}`;

    // Secrets the controller generates at first boot (it writes their first version), and secrets it only reads
    // (Terraform's mesh key, the user's database and mail passwords): it may never overwrite one of the latter.
    const secretArns = [this.mungeKeySecretArn];
    const readOnlySecretArns: string[] = [];
    if (request.restApi) {
      const jwt = new SecretsmanagerSecret(scope, 'JwtKey', {
        name: `${prefix}/slurm-jwt-key`,
        description: `HS256 key slurmctld/slurmdbd verify slurmrestd JWTs with, cluster ${prefix}; generated on the controller at first boot`,
        recoveryWindowInDays: 7,
      });
      secretArns.push(jwt.arn);
      this.jwtKeySource = `generate+aws-secretsmanager:${prefix}/slurm-jwt-key`;
    }
    if (request.meshAuthKey) {
      const authKey = new SecretsmanagerSecret(scope, 'MeshAuthKey', {
        name: request.meshAuthKey.secretName,
        description: `Tailscale auth key the controller of ${prefix} joins the mesh with (from a sensitive Terraform variable)`,
        recoveryWindowInDays: 7,
      });
      new SecretsmanagerSecretVersion(scope, 'MeshAuthKeyValue', { secretId: authKey.id, secretString: request.meshAuthKey.value });
      readOnlySecretArns.push(authKey.arn);
      this.meshAuthKeySource = `aws-secretsmanager:${request.meshAuthKey.secretName}`;
    }
    const accounting = request.accounting;
    if (accounting === 'local') {
      const db = new SecretsmanagerSecret(scope, 'DbPassword', {
        name: `${prefix}/slurmdbd-db-password`,
        description: `slurmdbd MariaDB password of cluster ${prefix}; generated on the controller at first boot`,
        recoveryWindowInDays: 7,
      });
      secretArns.push(db.arn);
      this.dbPasswordSource = `generate+aws-secretsmanager:${prefix}/slurmdbd-db-password`;
    } else if (accounting) {
      const ref = accounting.passwordSecret;
      // A name under the cluster's prefix, an RDS-managed secret, or a full ARN: what a pasted password never looks
      // like, so one is refused instead of landing in user-data and an IAM policy.
      const arn = typeof ref === 'string' && /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/.test(ref);
      const named = typeof ref === 'string' && (new RegExp(`^${prefix}/[A-Za-z0-9/_+=.@-]+$`).test(ref) || /^rds![a-z]+-[0-9a-f-]{36}$/.test(ref));
      if (!arn && !named) {
        // ConstructPropError shows a secret field's value by its length only.
        throw new ConstructPropError(scope, 'accounting.passwordSecret', ref,
          `is not a Secrets Manager secret name under ${prefix}/, an RDS-managed secret (rds!db-…) or a secret ARN`,
          `Store the password as '${prefix}/slurmdbd-db-password' (aws secretsmanager create-secret --name ${prefix}/slurmdbd-db-password --secret-string file://<file>) and give that name`);
      }
      this.dbPasswordSource = `aws-secretsmanager:${ref}`;
      readOnlySecretArns.push(arn ? ref : `arn:aws:secretsmanager:*:*:secret:${ref}-*`);
    }

    const mailSecret = request.mailPasswordSecret;
    if (mailSecret?.startsWith('aws-secretsmanager:')) {
      readOnlySecretArns.push(`arn:aws:secretsmanager:*:*:secret:${mailSecret.slice('aws-secretsmanager:'.length)}-*`);
    }
    const identity = ec2InstanceRole(scope, `${prefix}-slurm-controller`, `Slurm controller of ${prefix}: reads and first-boot-writes its own secrets`);
    const role = identity.role;
    this.role = role;
    grantFileSystemParameterRead(scope, role, prefix);
    new IamRolePolicy(scope, 'SecretsPolicy', {
      role: role.id,
      name: 'own-secrets',
      // At synth: a mesh pool may yet have Terraform draw the munge key (terraformMungeKey), which the controller
      // then only reads.
      policy: lazyString(() => {
        const drawnByTerraform = this.mungeKeyVersion !== undefined;
        // The same token string as in secretArns (each read of `munge.arn` makes a new one).
        const written = secretArns.filter((arn) => !(drawnByTerraform && arn === this.mungeKeySecretArn));
        const read = [...(drawnByTerraform ? [this.mungeKeySecretArn] : []), ...readOnlySecretArns];
        return JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            ...(written.length > 0
              ? [{ Sid: 'OwnSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'], Resource: written }]
              : []),
            ...(read.length > 0
              ? [{ Sid: 'ReadSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: read }]
              : []),
          ],
        });
      }),
    });
    new IamRolePolicy(scope, 'ResumeReadPolicy', {
      role: role.id,
      name: 'resume-read',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'PoolSettings',
            Effect: 'Allow',
            Action: ['ssm:GetParameter', 'ssm:GetParametersByPath'],
            Resource: [`arn:aws:ssm:*:*:parameter/cdktf-slurm/${prefix}/pools`, `arn:aws:ssm:*:*:parameter/cdktf-slurm/${prefix}/pools/*`],
          },
          // EC2 Describe* calls do not support resource-level permissions; they reveal no secrets.
          { Sid: 'FindNodes', Effect: 'Allow', Action: ['ec2:DescribeInstances'], Resource: ['*'] },
        ],
      }),
    });
    new IamRolePolicyAttachment(scope, 'Ssm', {
      role: role.name,
      policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    });
    const scriptBucket = new BootstrapScriptBucket(scope, 'Scripts', { namePrefix: prefix.replace(/_/g, '-') });
    scriptBucket.addScripts(awsBootstrapScripts(loadBootstrapScripts()));
    scriptBucket.grantRead(scope, 'ScriptsRead', role.id);
    this.scriptBucket = scriptBucket;

    this.instance = fixedEc2Host(scope, {
      ami: ubuntuAmi(scope, request.image),
      instanceType: request.hostType,
      subnetId: subnet.id,
      privateIp: request.privateIp,
      // Plus the NFS server's group once an NfsShare is served here, and any group others ask for (a monitor's).
      securityGroupIds: lazyList(() => [
        network.clusterSecurityGroupId,
        ...(this.nfsServerGroup ? [this.nfsServerGroup.id] : []),
        ...request.extraGroups(),
      ]),
      instanceProfileName: identity.profile.name,
      keyName: request.keyName,
      rootVolumeSizeGiB: request.rootVolumeSizeGiB ?? 40,
      // Secrets Manager has no deletion protection of its own: its secrets keep a 7-day recovery window instead.
      disableApiTermination: request.deletionProtection,
      role: role,
      bootObjects: scriptBucket.objects,
      userDataBase64: lazyString(() => request.userData().base64),
      tags: {
        Name: `${prefix}-${request.hostname}`,
        'slurm:cluster': prefix,
        'slurm:role': 'controller',
        [SCRIPTS_BUCKET_TAG]: scriptBucket.bucket.bucket,
      },
    });

    const state = new EbsVolume(scope, 'StateVolume', {
      availabilityZone: subnet.availabilityZone,
      size: request.stateVolumeSizeGiB,
      type: 'gp3',
      encrypted: true,
      tags: { Name: `${prefix}-slurmctld-state`, 'slurm:cluster': prefix },
    });
    new VolumeAttachment(scope, 'StateVolumeAttachment', {
      deviceName: this.stateDevice,
      volumeId: state.id,
      instanceId: this.instance.id,
    });
  }

  /** Hybrid clusters: Terraform made the key (hosts without cloud identity get it by upload); else first boot. */
  controllerMungeKeySource(): string {
    return `${this.mungeKeyVersion ? '' : 'generate+'}${this.mungeKeySource}`;
  }

  /**
   * For hosts with no cloud identity (Docker and SSH pools): makes the munge key a Terraform-generated value (a
   * Secrets Manager random password, 128 letters and digits, fixed after creation) stored as the munge secret's
   * version, and returns a reference to it for upload as a file. The key then lives in Terraform state; the
   * controller reads it from Secrets Manager instead of generating it at first boot.
   */
  terraformMungeKey(): string {
    if (!this.mungeKeyVersion) {
      const random = new DataAwsSecretsmanagerRandomPassword(this.scope, 'MungeKeyRandom', {
        passwordLength: 128,
        excludePunctuation: true,
        includeSpace: false,
      });
      this.mungeKeyVersion = new SecretsmanagerSecretVersion(this.scope, 'MungeKeyValue', {
        secretId: this.mungeKeySecret.id,
        secretString: random.randomPassword,
        // The data source draws a new password on every plan; the first one stays.
        lifecycle: { ignoreChanges: ['secret_string'] },
      });
      // Say where the key really comes from: it is in Terraform state for the cluster's life.
      this.mungeKeySecret.description = `munge key of Slurm cluster ${this.request.clusterName}; drawn by Terraform for hosts with no cloud identity (Docker, SSH pools), so it is in Terraform state`;
      // The controller must find the key in Secrets Manager when it boots.
      this.instance.dependsOn = [...(this.instance.dependsOn ?? []), dependable(this.mungeKeyVersion)];
    }
    return this.mungeKeyVersion.secretString;
  }

  get shareClientCidrs(): readonly string[] {
    return this.network.privateSubnets.map((s) => s.cidr);
  }

  /**
   * An encrypted gp3 volume in the controller's zone, attached as the next free device: it outlives a replaced
   * controller, and the NFS server formats it once (by label) and mounts it at the share's path.
   */
  attachShareDisk(scope: Construct, disk: ShareDiskRequest): ShareDisk {
    const index = this.shareDisks;
    if (index >= SHARE_DEVICE_LETTERS.length) {
      throw new ConstructPropError(scope, 'diskGiB', disk.sizeGiB, `the controller already has ${index} share disks, the most this library attaches`,
        'Put more directories on one share, or use diskGiB: 0');
    }
    this.shareDisks += 1;
    const device = `/dev/sd${SHARE_DEVICE_LETTERS[index]}`;
    const cluster = this.request.clusterName;
    const volume = new EbsVolume(scope, 'Disk', {
      availabilityZone: this.network.privateSubnets[0].availabilityZone,
      size: disk.sizeGiB,
      type: 'gp3',
      encrypted: true,
      tags: { Name: `${cluster}-nfs-${disk.name}`, 'slurm:cluster': cluster },
    });
    new VolumeAttachment(scope, 'DiskAttachment', { deviceName: device, volumeId: volume.id, instanceId: this.instance.id });
    return { device, resource: volume, priceKey: 'aws:ebs-gp3' };
  }

  admitShareClient(client: IFileSystemClient, share: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'aws-security-group') {
      throw new ConstructPropError(client, 'mounts', share.node.path, "this host is not on the share's cluster network", 'Mount it on hosts of the same cluster network');
    }
    this.admitNfsClient(client, net.groupName, net.securityGroupId);
  }

  /**
   * A Secrets Manager secret under `<cluster>/filesystems/`: every host of the cluster may read that prefix (and no
   * other), so a client needs no grant of its own, only an AWS identity.
   */
  fileSystemSecret(scope: Construct, field: string, ref: string, example: FileSystemSecretExample): IFileSystemSecret {
    const prefix = fileSystemSecretName(this.request.clusterName, '');
    if (typeof ref !== 'string' || !ref.startsWith(prefix) || ref.length === prefix.length || !/^[A-Za-z0-9/_+=.@-]+$/.test(ref)) {
      throw new ConstructPropError(scope, field, redacted(ref), `must be a Secrets Manager name under ${prefix}, the only secrets the cluster's hosts may read`,
        `Store it as e.g. '${prefix}${example.name}' (aws secretsmanager create-secret --name ${prefix}${example.name} --secret-string "$(${example.valueCommand})")`);
    }
    return {
      source: `aws-secretsmanager:${ref}`,
      grant(client: IFileSystemClient, fileSystem: IConstruct): void {
        const net = client.fileSystemClientNetwork;
        if (net.kind !== 'aws-security-group') {
          throw new ConstructPropError(client, 'mounts', fileSystem.node.path,
            `this file system's key is in AWS Secrets Manager, which a host ${clientNetworkShown(net)} cannot read`,
            'Mount it on EC2 pools, the controller or login nodes of this VPC');
        }
      },
    };
  }

  /**
   * Called by `NfsShare` for each AWS client: NFS (TCP 2049) into the controller from the client's security group,
   * once per group, through a group only the controller carries (the cluster's group opens Slurm's ports only).
   */
  private admitNfsClient(client: IConstruct, groupName: string, clientGroupId: string): void {
    const admission = this.nfsClientGroups.admit(client, 'fileSystemClientNetwork.groupName', groupName, clientGroupId);
    if (!admission) return;
    const cluster = this.request.clusterName;
    this.nfsServerGroup ??= new SecurityGroup(this.scope, 'NfsServer', {
      name: `${cluster}-nfs-server`,
      description: `NFS server on the controller of Slurm cluster ${cluster}: TCP 2049 from the hosts that mount its shares`,
      vpcId: this.network.vpcId,
      ingress: [],
      egress: [],
      tags: { Name: `${cluster}-nfs-server`, 'slurm:cluster': cluster },
    });
    // Named after the client's group (`NfsFromClusterGroup`); releases before 0.2 numbered it (`NfsClient0`).
    renamedFrom(new VpcSecurityGroupIngressRule(this.scope, `NfsFrom${admission.name}`, {
      securityGroupId: this.nfsServerGroup.id,
      referencedSecurityGroupId: clientGroupId,
      ipProtocol: 'tcp',
      fromPort: 2049,
      toPort: 2049,
      description: 'NFS v4 from hosts that mount the controller\'s shares',
    }), `NfsClient${admission.formerIndex}`);
  }

  /**
   * Called by an EC2 pool: publishes the pool's launch settings as an SSM parameter the ResumeProgram reads (so they
   * may hold apply-time IDs without touching user-data), and lets the controller start, tag and terminate that
   * pool's instances.
   */
  addPool(settings: AwsPoolLaunchSettings): void {
    const id = `Pool-${settings.poolName}`;
    const cluster = this.request.clusterName;
    const lines = [
      `LAUNCH_TEMPLATE_ID='${settings.launchTemplateId}'`,
      `LAUNCH_TEMPLATE_VERSION='$Latest'`,
      `SUBNET_IDS='${settings.subnetIds.join(' ')}'`,
      `CAPACITY_TYPE='${settings.capacityType}'`,
      `PLACEMENT_GROUP='${settings.placementGroup ?? ''}'`,
      `CLUSTER_NAME='${cluster}'`,
      `NETWORK_INTERFACES_IN_TEMPLATE='${settings.networkInterfacesInTemplate ? 1 : 0}'`,
    ];
    new SsmParameter(this.scope, id, {
      name: `${this.poolParameterPrefix}/${settings.poolName}`,
      description: `Launch settings of Slurm pool ${settings.poolName} for the controller's ResumeProgram`,
      type: 'String',
      value: lines.join('\n') + '\n',
    });
    new IamRolePolicy(this.scope, `${id}-Launch`, {
      role: this.role.id,
      name: `launch-pool-${settings.poolName}`,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'LaunchFromPoolTemplate',
            Effect: 'Allow',
            Action: ['ec2:RunInstances'],
            Resource: [
              'arn:aws:ec2:*:*:launch-template/' + settings.launchTemplateId,
              'arn:aws:ec2:*::image/*',
              'arn:aws:ec2:*:*:subnet/*',
              'arn:aws:ec2:*:*:network-interface/*',
              'arn:aws:ec2:*:*:security-group/*',
              'arn:aws:ec2:*:*:volume/*',
              'arn:aws:ec2:*:*:instance/*',
              'arn:aws:ec2:*:*:placement-group/*',
            ],
          },
          {
            Sid: 'TagOnLaunch',
            Effect: 'Allow',
            Action: ['ec2:CreateTags'],
            Resource: ['arn:aws:ec2:*:*:instance/*', 'arn:aws:ec2:*:*:volume/*'],
            Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
          },
          {
            Sid: 'TerminateOwnNodes',
            Effect: 'Allow',
            Action: ['ec2:TerminateInstances'],
            Resource: ['arn:aws:ec2:*:*:instance/*'],
            Condition: { StringEquals: { 'aws:ResourceTag/slurm:cluster': cluster } },
          },
          { Sid: 'PassNodeRole', Effect: 'Allow', Action: ['iam:PassRole'], Resource: [settings.nodeRoleArn] },
        ],
      }),
    });
  }

  /**
   * The group every EC2 compute node joins, allowing all traffic to and from itself only: multi-node jobs (NCCL, MPI,
   * EFA) use any port between nodes. Made on first use.
   */
  computePeersSecurityGroupId(): string {
    const cluster = this.request.clusterName;
    this.computePeers ??= new EfaSecurityGroup(this.scope, 'ComputePeers', {
      vpcId: this.network.vpcId,
      name: `${cluster}-compute-peers`,
      description: `Compute nodes of Slurm cluster ${cluster}: all traffic between them (NCCL, MPI, EFA)`,
    });
    return this.computePeers.securityGroupId;
  }
}
