import { DataAwsSecretsmanagerRandomPassword } from '@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SecretsmanagerSecretVersion } from '@cdktf/provider-aws/lib/secretsmanager-secret-version';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { dependable, Token } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import { EfaSecurityGroup } from '../aws/efa';
import { ec2InstanceRole, fixedEc2Host, grantFileSystemParameterRead, ubuntuAmi } from '../aws/node-identity';
import { awsBootstrapScripts, BootstrapScriptBucket } from '../aws/script-bucket';
import {
  buildNodeCloudConfig, ClusterGroup, ClusterMount, ClusterUser, exportProblems, loadBootstrapScripts, NfsExport, NodeFile, NodeRole, renderNodeUserData,
  renderUsersTable, SCRIPTS_BUCKET_TAG, userProblems,
} from '../cloudinit';
import {
  gcpSecretSource,
  gcpServiceAccount,
  gcpStaticInstance,
  GcpNodeIdentity,
  grantLogging,
  grantSecretAccess,
  grantSecretVersionAdder,
  gcpSecret,
  gcpAccountId,
  gcpName,
  gcpServiceAccountMember,
} from '../gcp/vm';
import { hostAddress } from '../net/cidr';
import {
  AccountingSpec,
  assertValidCluster,
  ClusterSpec,
  NodePoolSpec,
  PartitionSpec,
  renderControllerFiles,
  renderPlugstackConf,
  SlurmVersion,
  staticNodesHostlist,
  SUPPORTED_SLURM_VERSIONS,
} from '../slurm';
import { ExporterKind, IScrapeTargets, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import { Admissions, CLUSTER_GROUP_NAME, FileSystemClientNetwork, HostMounts, IClusterFileSystem, IFileSystemClient, MESH_CIDR } from './cluster-file-system';
import { NfsShare } from './nfs-share';
import type { IGcpClusterNetwork } from './gcp-cluster-network';
import { ControllerPart } from '../summary/model';
import { PlanSummaryOptions, attachPlanSummary, describeForPlan } from './plan-summary';
import { ConstructPropError, lazyList, lazyString, oncePerSynth, renamedFrom, terraformLiteral, validateAtSynth } from '../cdktf-adapter';

/** What the controller needs of an AWS network; `BastionVpc` provides it. */
export interface IAwsClusterNetwork {
  readonly cloud: 'aws';
  readonly vpcId: string;
  readonly cidr: string;
  readonly privateSubnets: readonly { readonly id: string; readonly cidr: string; readonly availabilityZone: string }[];
  /** The group every cluster member joins; Slurm ports are open only from itself. */
  readonly clusterSecurityGroupId: string;
  /** The bastion's group, when the network has a bastion (monitoring UIs admit SSH tunnels from it). @default none */
  readonly bastionSecurityGroupId?: string;
}

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

/** slurmdbd's database on another host (RDS, Aurora): its password is a Secrets Manager secret the dbd host reads. */
export interface ExternalAccountingDatabase {
  readonly endpoint: string;
  /** @default 3306 */
  readonly port?: number;
  /** @default `slurm` */
  readonly user?: string;
  /** Name or ARN of the Secrets Manager secret holding the password (SecretString, no quotes, `#` or spaces). */
  readonly passwordSecret: string;
}

/**
 * A Tailscale tailnet (or a self-hosted headscale) that hosts without a route into the VPC (on-prem Docker
 * GPU nodes, other providers) join. The controller joins it as `slurm-controller`, outbound through the NAT
 * gateway: no inbound security-group rule is opened for the mesh.
 */
export interface TailscaleMesh {
  /**
   * A reusable, preferably tagged and pre-approved auth key, as a Terraform reference: a sensitive
   * `TerraformVariable`'s value. A literal is refused. The key is written into a Secrets Manager secret version
   * only the controller's role may read, so it is stored in Terraform state (and, for Docker pools, uploaded
   * into the containers): keep state encrypted and access-controlled.
   */
  readonly authKey: string;
  /** Control server of a self-hosted headscale (`https://…`). @default Tailscale's own */
  readonly loginServer?: string;
  /** `--advertise-tags`, e.g. `['tag:slurm']` (the key must be allowed to use them). @default none */
  readonly tags?: readonly string[];
  /**
   * How mesh nodes reach slurmctld: `SLURM_CONTROLLER` and the `SlurmctldHost` address. The controller's mesh
   * address is assigned by the control server at first boot, so it is not known at synth: the default relies
   * on MagicDNS resolving the controller's mesh host name. Without MagicDNS, reserve the controller's mesh IP
   * (or a DNS name) in your control server and give it here.
   * @default `'slurm-controller'` (MagicDNS)
   */
  readonly controllerAddress?: string;
  /** Tailscale release installed from Tailscale's apt repository. @default `tailscale.sh`'s pinned release */
  readonly version?: string;
}

/** A mesh the cluster's hosts join. */
export interface ClusterMesh {
  readonly tailscale: TailscaleMesh;
}

export interface SlurmControllerProps {
  /** Where the cluster lives: a `BastionVpc` (AWS) or a `GcpClusterNetwork` (Google Cloud). */
  readonly network: IAwsClusterNetwork | IGcpClusterNetwork;
  /** `ClusterName`: lower-case letters, digits, `_`; starts with a letter. Also prefixes secret names. */
  readonly clusterName: string;
  /**
   * Slurm release on the nodes; must match the image's distribution package.
   * @default `'23.11'` (Ubuntu 24.04's)
   */
  readonly slurmVersion?: SlurmVersion;
  /** EC2 instance type (AWS only). @default `m6i.xlarge` */
  readonly instanceType?: string;
  /** AWS only. @default the latest Ubuntu 24.04 LTS amd64 AMI, from Canonical's public SSM parameter */
  readonly amiId?: string;
  /** Compute Engine machine type (GCP only). @default `n2-standard-8` */
  readonly machineType?: string;
  /** Boot image (GCP only): an image or family path. @default Ubuntu 24.04 LTS (`DEFAULT_GCP_NODE_IMAGE`) */
  readonly image?: string;
  /** Boot disk, GiB. @default 40 on AWS, 50 on GCP */
  readonly rootVolumeSizeGiB?: number;
  /** Size of the separate, encrypted volume holding `StateSaveLocation`; it outlives the instance. @default 50 */
  readonly stateVolumeSizeGiB?: number;
  /**
   * Job accounting: `'local'` runs slurmdbd and MariaDB on the controller (password generated on first boot,
   * kept in Secrets Manager, never in Terraform state); an object points slurmdbd at an external database;
   * `false` turns accounting off.
   * @default `'local'`
   */
  readonly accounting?: 'local' | ExternalAccountingDatabase | false;
  /**
   * Index of the host address the controller takes in the first private subnet (AWS) or the system subnet (GCP),
   * fixed so node user-data never waits on an apply-time value.
   * @default 10
   */
  readonly hostIndex?: number;
  /** EC2 key pair for SSH through the bastion (AWS only). @default none (use SSM Session Manager; on GCP, IAP with OS Login) */
  readonly keyName?: string;
  /** Extra slurm.conf keys (the pure core rejects keys the library owns). @default none */
  readonly extraSlurmConf?: Readonly<Record<string, string>>;
  /**
   * Run slurmrestd on the controller (port 6820, open only to the cluster security group), with JWT
   * authentication (`AuthAltTypes=auth/jwt`). The HS256 key is generated on the controller at first boot into
   * Secrets Manager, so it is never in Terraform; users get tokens with `scontrol token`.
   * @default false
   */
  readonly restApi?: boolean;
  /**
   * Join a mesh so hosts outside the VPC (Docker pools) can reach the controller; needed by Docker pools.
   * With a mesh, `SlurmctldHost` is addressed by `controllerAddress`, which AWS pools in the VPC cannot
   * resolve: a meshed cluster takes Docker pools only.
   * @default none
   */
  readonly mesh?: ClusterMesh;
  /**
   * Share a directory of the controller over NFS v4 with the mesh nodes (Docker and SSH pools mount it at the
   * same path). Exported only to the mesh range 100.64.0.0/10, `rw,sync,no_subtree_check,root_squash`; traffic
   * stays inside the mesh's WireGuard tunnels. It lives on the controller's root volume (size it with
   * `rootVolumeSizeGiB`). Needs `mesh`. Every device of the tailnet is in that range: restrict port 2049 to
   * the cluster's tag with mesh ACLs.
   * @default none (no shared directory)
   */
  readonly sharedDirectory?: SharedDirectory;
  /**
   * Cluster file systems the controller mounts at boot, before slurmctld starts (the same as `fs.mountOn(controller)`).
   * @default none
   */
  readonly mounts?: readonly IClusterFileSystem[];
  /**
   * People who use the cluster: created with the same name, UID, GID, groups and SSH keys on every host (controller,
   * login nodes, compute nodes), so files on shared storage and Slurm's accounting agree everywhere. Homes are made
   * where /home lives: on the controller (which serves an NFS /home) and on hosts whose /home is local or on
   * Lustre/CephFS. UIDs and GIDs 1000-59999; 1000 is usually the image's default user.
   * @default none
   */
  readonly users?: readonly ClusterUser[];
  /**
   * The plan summary `cdktf synth` prints for this cluster and writes beside the stack (`cluster-<name>.md` with a
   * Mermaid diagram, `cluster-<name>.json`): pools, nodes, GPUs, partitions, storage, endpoints and an estimated
   * hourly cost. Give your own prices here, or `false` to leave it out.
   * @default printed and written, priced from the shipped table (approximate on-demand list prices)
   */
  readonly planSummary?: PlanSummaryOptions | false;
  /** Supplementary groups `users` refer to, with fixed GIDs. @default none */
  readonly groups?: readonly ClusterGroup[];
  /**
   * Job mail (`sbatch --mail-type=END`) through your SMTP relay: `MailProg=/usr/bin/mail`, relayed by msmtp with TLS.
   * @default none (no MailProg: --mail-type sends nothing)
   */
  readonly mail?: JobMail;
}

/** Where slurmctld sends job mail. */
export interface JobMail {
  /** The relay, `host:port` (587 STARTTLS, 465 implicit TLS). */
  readonly relay: string;
  /** Sender address. */
  readonly from: string;
  /** SMTP user, when the relay wants a login. @default none (no authentication) */
  readonly user?: string;
  /**
   * Secret holding the relay password (`aws-secretsmanager:<name>` under `<cluster>/`, or `gcp-secretmanager:projects/P/secrets/S`
   * the controller can read), fetched at boot. Never the password itself.
   * @default none
   */
  readonly passwordSecret?: string;
  /** @default `'starttls'` (`'tls'` for port 465; `'off'` only for a relay inside the cluster, never with a password) */
  readonly tls?: 'starttls' | 'tls' | 'off';
}

/** An NFS directory the controller shares with the mesh nodes. */
export interface SharedDirectory {
  /** Absolute path on the controller and on every mesh node. @default `'/shared'` */
  readonly path?: string;
}

export { MESH_CIDR };

/** A host's share of the cluster-wide settings (`SlurmController.hostSetup`). */
export interface HostSetup {
  /** node.env entries. */
  readonly env: Readonly<Record<string, string>>;
  /** Bootstrap scripts, relative to the tree. */
  readonly scripts: readonly string[];
  /** The users table, when the cluster has users. */
  readonly usersTable?: string;
}

/** What `MonitoringStack` hands a controller that hosts the monitor. */
export interface MonitorOnController {
  /** node.env entries of the monitoring step (references to secrets only). */
  readonly env: Readonly<Record<string, string>>;
  /** The rendered Prometheus and Grafana files, produced at synth (the scrape jobs need every host set). */
  readonly files: () => NodeFile[];
  /** A group the controller joins (Grafana from the bastion). @default none */
  readonly securityGroupId?: string;
}

/** The controller's exporters: its node, and the Slurm exporter (slurm-metrics.sh). */
const CONTROLLER_EXPORTERS: readonly ExporterKind[] = ['node', 'slurm'];

/** The mesh settings pools use, with defaults applied. */
export interface ResolvedTailscaleMesh {
  readonly authKey: string;
  readonly loginServer?: string;
  readonly tags: readonly string[];
  readonly controllerAddress: string;
  readonly version?: string;
  /** Secrets Manager name of the auth key (read by the controller only). */
  readonly authKeySecretName: string;
}

const CONTROLLER_HOSTNAME = 'slurm-controller';
/** Job hooks of every compute node, run as one glob (Slurm 22.05 keeps one Prolog value); slurmd.sh adds a no-op so it always matches. */
export const NODE_PROLOG_GLOB = '/etc/slurm/prolog.d/*';
export const NODE_EPILOG_GLOB = '/etc/slurm/epilog.d/*';
/** Who keeps a subnet's first addresses: fixed hosts take an index above them. */
export const RESERVED_ADDRESSES = {
  aws: 'AWS reserves the first four addresses of a subnet',
  gcp: 'Google reserves the first two addresses of a subnet',
} as const;
/** Device name of the GCP controller's state disk: the guest sees `/dev/disk/by-id/google-<name>`. */
const GCP_STATE_DISK_DEVICE = 'slurm-state';
/** The node path where the AWS programs slurmctld runs to start and stop cloud nodes are shipped. */
export const AWS_RESUME_PROGRAM = '/opt/cdktf-slurm/bootstrap/aws/slurm-resume.sh';
export const AWS_SUSPEND_PROGRAM = '/opt/cdktf-slurm/bootstrap/aws/slurm-suspend.sh';

/** What an AWS controller runs beyond the role steps when Slurm starts and stops cloud nodes. */
const AWS_CONTROLLER_SCRIPTS = ['aws/pools-sync.sh', 'aws/pool-env.sh', 'aws/slurm-resume.sh', 'aws/slurm-suspend.sh'];

/** The AWS resources of a controller on an `IAwsClusterNetwork`. */
export interface AwsControllerHost {
  readonly network: IAwsClusterNetwork;
  readonly instance: Instance;
  readonly role: IamRole;
  /** Holds the bootstrap scripts every node of the cluster downloads at boot. */
  readonly scriptBucket: BootstrapScriptBucket;
  /** Secrets Manager name and ARN of the munge key; the controller creates the key at first boot. */
  readonly mungeKeySecretName: string;
  readonly mungeKeySecretArn: string;
}

/** The Google Cloud resources of a controller on an `IGcpClusterNetwork`. */
export interface GcpControllerHost {
  readonly network: IGcpClusterNetwork;
  readonly instance: ComputeInstance;
  readonly identity: GcpNodeIdentity;
  /** Secret Manager ID of the munge key (in the network's project); the controller adds its first version. */
  readonly mungeKeySecretId: string;
}

/**
 * The Slurm controller: slurmctld (configless), and by default slurmdbd with a local MariaDB, on one VM in a
 * private subnet with a fixed address: an EC2 instance on an AWS network, a Compute Engine VM on a GCP one.
 * Pools and partitions register with it; slurm.conf and the controller's user-data are rendered when the
 * stack synthesizes, from everything registered by then.
 */
export class SlurmController extends Construct implements IFileSystemClient, IScrapeTargets {
  readonly clusterName: string;
  readonly slurmVersion: SlurmVersion;
  /** Host name slurmctld runs as (`SlurmctldHost`): `slurm-controller` on AWS, `<cluster>-controller` (the VM name) on GCP. */
  readonly hostname: string;
  /** Fixed private address; slurmd's `--conf-server`. */
  readonly privateIp: string;
  readonly network: IAwsClusterNetwork | IGcpClusterNetwork;
  /** Where nodes read the munge key at boot (a node.env secret source: `aws-secretsmanager:…`, `gcp-secretmanager:…`). */
  readonly mungeKeySource: string;
  /** The EC2 side, on an AWS network. */
  readonly aws?: AwsControllerHost;
  /** The Compute Engine side, on a GCP network. */
  readonly gcp?: GcpControllerHost;
  /** The mesh the controller joins, when `mesh` was given. */
  readonly tailscale?: ResolvedTailscaleMesh;
  /** The NFS shared directory, when `sharedDirectory` was given; mesh pools mount it automatically. */
  readonly sharedDirectory?: NfsShare;
  readonly fileSystemClientNetwork: FileSystemClientNetwork;

  private readonly pools: NodePoolSpec[] = [];
  private readonly hostMounts = new HostMounts(this);
  private readonly monitored: IScrapeTargets[] = [];
  private nodesWithoutSystemd = false;
  private readonly jobHookUsers: string[] = [];
  private containerUsers = 0;
  private monitorPath?: string;
  private monitorHost?: MonitorOnController;
  private computePeers?: EfaSecurityGroup;
  private readonly partitions: PartitionSpec[] = [];
  /** The controller's EC2 instance type or Compute Engine machine type. */
  private readonly hostType: string;
  private readonly props: SlurmControllerProps;
  private dbPasswordSource?: string;
  private jwtKeySource?: string;
  private mungeKeySecret?: SecretsmanagerSecret;
  private mungeKeyVersion?: SecretsmanagerSecretVersion;
  private readonly nfsExports: NfsExport[] = [];
  private nfsServerGroup?: SecurityGroup;
  private readonly nfsClientGroups = new Admissions(this);
  /** The rendered users table, when the cluster has users. */
  private readonly usersTable?: string;

  constructor(scope: Construct, id: string, props: SlurmControllerProps) {
    super(scope, id);
    this.props = props;
    const net = props.network;
    this.network = net;
    this.clusterName = props.clusterName;
    this.slurmVersion = props.slurmVersion ?? '23.11';
    if (net?.cloud !== 'aws' && net?.cloud !== 'gcp') {
      throw new ConstructPropError(this, 'network', (net as { cloud?: unknown } | undefined)?.cloud, 'is neither an AWS nor a GCP cluster network',
        'Pass a BastionVpc or a GcpClusterNetwork');
    }
    if (!SUPPORTED_SLURM_VERSIONS.includes(this.slurmVersion)) {
      throw new ConstructPropError(this, 'slurmVersion', this.slurmVersion, 'not a supported Slurm release',
        `Use one of ${SUPPORTED_SLURM_VERSIONS.join(', ')}`);
    }
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(props.clusterName)) {
      throw new ConstructPropError(this, 'clusterName', props.clusterName,
        'Slurm and slurmdbd need lower-case letters, digits and _ , starting with a letter, at most 40 characters',
        "Use a name such as 'hpc' or 'gpu_lab'");
    }
    for (const [field, v] of [['rootVolumeSizeGiB', props.rootVolumeSizeGiB], ['stateVolumeSizeGiB', props.stateVolumeSizeGiB]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 8 || v > 16384)) {
        throw new ConstructPropError(this, field, v, 'must be a whole number of GiB from 8 to 16384', 'Use e.g. 50');
      }
    }
    this.checkCloudProps(props);
    this.hostType = net.cloud === 'aws' ? (props.instanceType ?? 'm6i.xlarge') : (props.machineType ?? 'n2-standard-8');

    // The controller's fixed address: AWS keeps a subnet's first four addresses, Google its first two.
    const hostIndex = props.hostIndex ?? 10;
    const reserved = net.cloud === 'aws' ? 4 : 2;
    let subnetCidr: string;
    if (net.cloud === 'aws') {
      if (net.privateSubnets.length === 0) {
        throw new ConstructPropError(this, 'network.privateSubnets', [], 'the controller needs a private subnet',
          'Give the network at least one availability zone');
      }
      subnetCidr = net.privateSubnets[0].cidr;
    } else {
      subnetCidr = net.system.cidr;
    }
    if (!Number.isInteger(hostIndex) || hostIndex < reserved) {
      throw new ConstructPropError(this, 'hostIndex', hostIndex, RESERVED_ADDRESSES[net.cloud],
        `Use ${reserved} or more (default 10)`);
    }
    try {
      this.privateIp = hostAddress(subnetCidr, hostIndex);
    } catch (e) {
      throw new ConstructPropError(this, 'hostIndex', hostIndex, (e as Error).message,
        `Pick an index inside ${subnetCidr} above the ${reserved} reserved addresses`);
    }

    const prefix = props.clusterName;
    if (net.cloud === 'gcp') {
      this.hostname = `${gcpName(prefix)}-controller`;
      this.fileSystemClientNetwork = {
        kind: 'gcp-network-tag', tag: net.clusterTag, networkSelfLink: net.system.networkSelfLink, project: net.project,
        serviceAccountMember: gcpServiceAccountMember(net.project, gcpAccountId(`${gcpName(prefix)}-controller`)),
        serviceAccountId: gcpAccountId(`${gcpName(prefix)}-controller`),
      };
      const placed = this.placeOnGcp(props, net);
      this.gcp = placed.host;
      this.mungeKeySource = placed.mungeKeySource;
    } else {
      this.hostname = CONTROLLER_HOSTNAME;
      this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: net.clusterSecurityGroupId, vpcId: net.vpcId, groupName: CLUSTER_GROUP_NAME };
      if (props.mesh) this.tailscale = this.resolveMesh(props.mesh, prefix);
      const shared = props.sharedDirectory !== undefined ? this.checkSharedDirectory(props.sharedDirectory) : undefined;
      this.aws = this.placeOnAws(props, net);
      this.mungeKeySource = `aws-secretsmanager:${this.aws.mungeKeySecretName}`;
      if (shared) this.sharedDirectory = new NfsShare(this, 'SharedDirectory', { controller: this, name: 'shared', path: shared, diskGiB: 0, mode: '1777' });
    }

    for (const fs of props.mounts ?? []) this.addMount(fs);
    if (props.mail) this.checkMail(props.mail);
    if ((props.users?.length ?? 0) > 0 || (props.groups?.length ?? 0) > 0) {
      const problems = userProblems(props.users ?? [], props.groups ?? [], this.node.path);
      if (problems.length > 0) throw new Error(problems.join('\n'));
      this.usersTable = renderUsersTable(props.users ?? [], props.groups ?? [], this.node.path);
    }

    describeForPlan(this, () => this.describe());
    if (props.planSummary !== false) attachPlanSummary(this, this.clusterName, props.planSummary ?? {});

    // Fail synth, before anything is written, when the assembled cluster or its user-data is wrong.
    validateAtSynth(this, () => {
      this.renderedUserData();
      return [];
    });
  }

  /** How the controller appears in the plan summary. */
  private describe(): ControllerPart {
    const props = this.props;
    const accounting = props.accounting ?? 'local';
    return {
      kind: 'controller',
      cluster: this.clusterName,
      cloud: this.network.cloud,
      instanceType: this.hostType,
      hostname: this.hostname,
      mounts: this.hostMounts.mounts.map((m) => m.mountPoint),
      diskGiB: props.stateVolumeSizeGiB ?? 50,
      accounting: accounting === 'local' ? 'slurmdbd + MariaDB on the controller' : accounting ? 'slurmdbd, external database' : 'off',
      restApi: props.restApi === true,
      mesh: this.tailscale ? 'Tailscale' : undefined,
      partitions: this.partitions.map((p) => ({ name: p.name, pools: [...p.pools], isDefault: p.default === true })),
    };
  }

  /** Props that belong to the other cloud fail here, naming the one to use. */
  private checkCloudProps(props: SlurmControllerProps): void {
    const awsOnly = { instanceType: props.instanceType, amiId: props.amiId, keyName: props.keyName, mesh: props.mesh, sharedDirectory: props.sharedDirectory };
    const gcpOnly = { machineType: props.machineType, image: props.image };
    const [wrong, cloud, fix] = props.network.cloud === 'gcp'
      ? [awsOnly, 'AWS', 'Use machineType and image on GCP; SSH goes through IAP with OS Login. A mesh (and its shared directory) needs an AWS controller for now']
      : [gcpOnly, 'GCP', 'Use instanceType and amiId on AWS'];
    for (const [field, value] of Object.entries(wrong)) {
      if (value !== undefined) {
        throw new ConstructPropError(this, field, field === 'mesh' ? '<mesh>' : value, `applies to ${cloud} controllers only, and this one is on ${props.network.cloud.toUpperCase()}`, fix);
      }
    }
  }

  /** The shared directory's path, once checked. */
  private checkSharedDirectory(shared: SharedDirectory): string {
    const path = shared.path ?? '/shared';
    if (!this.tailscale) {
      throw new ConstructPropError(this, 'sharedDirectory', shared, 'is exported to mesh nodes only, and the controller has no mesh',
        'Give mesh: { tailscale: { authKey: <sensitive variable> } }, or drop sharedDirectory');
    }
    if (!/^(\/[A-Za-z0-9._-]+)+$/.test(path) || path.split('/').some((p) => p === '.' || p === '..') ||
      /^\/(bin|boot|dev|etc|lib|lib64|opt|proc|root|run|sbin|sys|tmp|usr|var)(\/|$)/.test(path)) {
      throw new ConstructPropError(this, 'sharedDirectory.path', path,
        'must be an absolute path of letters, digits, ".", "_" and "-", outside system directories', "Use e.g. '/shared'");
    }
    return path;
  }

  /**
   * The Compute Engine controller: a keyless service account, its secrets in Secret Manager (each readable by the
   * controller alone, which adds the first version at boot: nothing secret in Terraform), and the VM with its state
   * disk, at the fixed address in the system subnet, SSH through IAP only.
   */
  private placeOnGcp(props: SlurmControllerProps, net: IGcpClusterNetwork): { host: GcpControllerHost; mungeKeySource: string } {
    const prefix = gcpName(props.clusterName);
    const project = net.project;
    const identity = gcpServiceAccount(this, 'Identity', {
      project,
      accountId: gcpAccountId(`${prefix}-controller`),
      displayName: `Slurm controller of ${props.clusterName}`,
      description: 'slurmctld/slurmdbd host: reads and first-boot-writes its own secrets, writes logs and metrics',
    });
    grantLogging(this, 'Logging', { project, member: identity.member });
    const ownSecret = (id: string, suffix: string, description: string): string => {
      const secretId = `${prefix}-${suffix}`;
      gcpSecret(this, id, { project, secretId, description, labels: { 'slurm-cluster': props.clusterName } });
      grantSecretAccess(this, `${id}Read`, { project, secretId, member: identity.member });
      grantSecretVersionAdder(this, `${id}Add`, { project, secretId, member: identity.member });
      return gcpSecretSource(project, secretId);
    };
    const mailSecret = /^gcp-secretmanager:projects\/([^/]+)\/secrets\/([A-Za-z0-9_-]+)$/.exec(props.mail?.passwordSecret ?? '');
    if (mailSecret) grantSecretAccess(this, 'MailPasswordRead', { project: mailSecret[1], secretId: mailSecret[2], member: identity.member });
    const mungeKeySource = ownSecret('MungeKey', 'munge-key', `munge key of Slurm cluster ${props.clusterName}; generated on the controller at first boot`);
    if (props.restApi) {
      this.jwtKeySource = `generate+${ownSecret('JwtKey', 'slurm-jwt-key', `HS256 key slurmrestd JWTs of ${props.clusterName} are verified with; generated on the controller`)}`;
    }
    const accounting = props.accounting ?? 'local';
    if (accounting === 'local') {
      this.dbPasswordSource = `generate+${ownSecret('DbPassword', 'slurmdbd-db-password', `slurmdbd MariaDB password of ${props.clusterName}; generated on the controller`)}`;
    } else if (accounting) {
      const ref = accounting.passwordSecret;
      const full = /^projects\/[^/]+\/secrets\/[^/]+$/.exec(ref);
      if (!full && !/^[A-Za-z0-9_-]{1,255}$/.test(ref)) {
        throw new ConstructPropError(this, 'accounting.passwordSecret', ref, 'is not a Secret Manager secret ID or projects/P/secrets/S path',
          "Give the secret's ID in the network's project, e.g. 'hpc-db-password'");
      }
      grantSecretAccess(this, 'DbPasswordRead', { project, secretId: ref, member: identity.member });
      this.dbPasswordSource = full ? `gcp-secretmanager:${ref}` : gcpSecretSource(project, ref);
    }
    const vm = gcpStaticInstance(this, 'Vm', {
      network: net,
      name: this.hostname,
      machineType: this.hostType,
      isGpu: false,
      gpuNics: 0,
      userData: lazyString(() => terraformLiteral(this.renderedUserData().text)),
      serviceAccountEmail: identity.email,
      clusterName: props.clusterName,
      role: 'controller',
      image: props.image,
      bootDiskSizeGiB: props.rootVolumeSizeGiB ?? 50,
      bootDiskType: 'pd-ssd',
      networkIp: this.privateIp,
      stateDisk: { sizeGiB: props.stateVolumeSizeGiB ?? 50, deviceName: GCP_STATE_DISK_DEVICE },
      sshViaIap: true,
    });
    return { host: { network: net, instance: vm.instance, identity, mungeKeySecretId: `${prefix}-munge-key` }, mungeKeySource };
  }

  /** The EC2 controller: its secrets, instance role, the cluster's script bucket, the instance and its state volume. */
  private placeOnAws(props: SlurmControllerProps, net: IAwsClusterNetwork): AwsControllerHost {
    const prefix = props.clusterName;
    const subnet = net.privateSubnets[0];
    const munge = new SecretsmanagerSecret(this, 'MungeKey', {
      name: `${prefix}/munge-key`,
      description: `munge key of Slurm cluster ${prefix}; generated on the controller at first boot, never in Terraform`,
      recoveryWindowInDays: 7,
    });
    this.mungeKeySecret = munge;

    const secretArns = [munge.arn];
    if (props.restApi) {
      const jwt = new SecretsmanagerSecret(this, 'JwtKey', {
        name: `${prefix}/slurm-jwt-key`,
        description: `HS256 key slurmctld/slurmdbd verify slurmrestd JWTs with, cluster ${prefix}; generated on the controller at first boot`,
        recoveryWindowInDays: 7,
      });
      secretArns.push(jwt.arn);
      this.jwtKeySource = `generate+aws-secretsmanager:${prefix}/slurm-jwt-key`;
    }
    if (this.tailscale) {
      const authKey = new SecretsmanagerSecret(this, 'MeshAuthKey', {
        name: this.tailscale.authKeySecretName,
        description: `Tailscale auth key the controller of ${prefix} joins the mesh with (from a sensitive Terraform variable)`,
        recoveryWindowInDays: 7,
      });
      new SecretsmanagerSecretVersion(this, 'MeshAuthKeyValue', { secretId: authKey.id, secretString: this.tailscale.authKey });
      secretArns.push(authKey.arn);
    }
    const accounting = props.accounting ?? 'local';
    if (accounting === 'local') {
      const db = new SecretsmanagerSecret(this, 'DbPassword', {
        name: `${prefix}/slurmdbd-db-password`,
        description: `slurmdbd MariaDB password of cluster ${prefix}; generated on the controller at first boot`,
        recoveryWindowInDays: 7,
      });
      secretArns.push(db.arn);
      this.dbPasswordSource = `generate+aws-secretsmanager:${prefix}/slurmdbd-db-password`;
    } else if (accounting) {
      this.dbPasswordSource = `aws-secretsmanager:${accounting.passwordSecret}`;
      secretArns.push(
        accounting.passwordSecret.startsWith('arn:')
          ? accounting.passwordSecret
          : `arn:aws:secretsmanager:*:*:secret:${accounting.passwordSecret}-*`,
      );
    }

    const mailSecret = props.mail?.passwordSecret;
    if (mailSecret?.startsWith('aws-secretsmanager:')) {
      // Read-only would do; the statement below is the controller's one secret policy, kept to its own secrets.
      secretArns.push(`arn:aws:secretsmanager:*:*:secret:${mailSecret.slice('aws-secretsmanager:'.length)}-*`);
    }
    const identity = ec2InstanceRole(this, `${prefix}-slurm-controller`, `Slurm controller of ${prefix}: reads and first-boot-writes its own secrets`);
    const role = identity.role;
    const profile = identity.profile;
    grantFileSystemParameterRead(this, role, prefix);
    new IamRolePolicy(this, 'SecretsPolicy', {
      role: role.id,
      name: 'own-secrets',
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'OwnSecrets',
            Effect: 'Allow',
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: secretArns,
          },
        ],
      }),
    });
    new IamRolePolicy(this, 'ResumeReadPolicy', {
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
    new IamRolePolicyAttachment(this, 'Ssm', {
      role: role.name,
      policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
    });
    const scriptBucket = new BootstrapScriptBucket(this, 'Scripts', { namePrefix: prefix.replace(/_/g, '-') });
    scriptBucket.addScripts(awsBootstrapScripts(loadBootstrapScripts()));
    scriptBucket.grantRead(this, 'ScriptsRead', role.id);

    const instance = fixedEc2Host(this, {
      ami: ubuntuAmi(this, props.amiId),
      instanceType: this.hostType,
      subnetId: subnet.id,
      privateIp: this.privateIp,
      // Plus the NFS server's group once an NfsShare is served here.
      securityGroupIds: lazyList(() => [
        net.clusterSecurityGroupId,
        ...(this.nfsServerGroup ? [this.nfsServerGroup.id] : []),
        ...(this.monitorHost?.securityGroupId ? [this.monitorHost.securityGroupId] : []),
      ]),
      instanceProfileName: profile.name,
      keyName: props.keyName,
      rootVolumeSizeGiB: props.rootVolumeSizeGiB ?? 40,
      userDataBase64: lazyString(() => this.renderedUserData().base64),
      tags: {
        Name: `${prefix}-${CONTROLLER_HOSTNAME}`,
        'slurm:cluster': prefix,
        'slurm:role': 'controller',
        [SCRIPTS_BUCKET_TAG]: scriptBucket.bucket.bucket,
      },
    });

    const state = new EbsVolume(this, 'StateVolume', {
      availabilityZone: subnet.availabilityZone,
      size: props.stateVolumeSizeGiB ?? 50,
      type: 'gp3',
      encrypted: true,
      tags: { Name: `${prefix}-slurmctld-state`, 'slurm:cluster': prefix },
    });
    new VolumeAttachment(this, 'StateVolumeAttachment', {
      deviceName: '/dev/sdf',
      volumeId: state.id,
      instanceId: instance.id,
    });

    return { network: net, instance, role, scriptBucket, mungeKeySecretName: `${prefix}/munge-key`, mungeKeySecretArn: munge.arn };
  }

  /**
   * Called by `ComputeNodePool`: the pool becomes one node line (or nodeset) in slurm.conf.
   * @param options.runsWithoutSystemd the pool's slurmd runs with no systemd (containers), so cgroup.conf
   *   lets slurmd build its cgroup hierarchy itself
   */
  addNodePool(pool: NodePoolSpec, options: { readonly runsWithoutSystemd?: boolean } = {}): void {
    if (this.pools.some((p) => p.name === pool.name)) {
      throw new Error(`${this.node.path}: a node pool named '${pool.name}' is already registered; pool names must be unique`);
    }
    this.pools.push(pool);
    if (options.runsWithoutSystemd) this.nodesWithoutSystemd = true;
  }

  /**
   * Called by an AWS `ComputeNodePool`: publishes the pool's launch settings as an SSM parameter the
   * ResumeProgram reads (so they may hold apply-time IDs without touching user-data), and lets the controller
   * start, tag and terminate that pool's instances.
   */
  addAwsPool(settings: AwsPoolLaunchSettings): void {
    const id = `Pool-${settings.poolName}`;
    const lines = [
      `LAUNCH_TEMPLATE_ID='${settings.launchTemplateId}'`,
      `LAUNCH_TEMPLATE_VERSION='$Latest'`,
      `SUBNET_IDS='${settings.subnetIds.join(' ')}'`,
      `CAPACITY_TYPE='${settings.capacityType}'`,
      `PLACEMENT_GROUP='${settings.placementGroup ?? ''}'`,
      `CLUSTER_NAME='${this.clusterName}'`,
      `NETWORK_INTERFACES_IN_TEMPLATE='${settings.networkInterfacesInTemplate ? 1 : 0}'`,
    ];
    new SsmParameter(this, id, {
      name: `${this.poolParameterPrefix}/${settings.poolName}`,
      description: `Launch settings of Slurm pool ${settings.poolName} for the controller's ResumeProgram`,
      type: 'String',
      value: lines.join('\n') + '\n',
    });
    const cluster = this.clusterName;
    new IamRolePolicy(this, `${id}-Launch`, {
      role: this.awsHost('addAwsPool').role.id,
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
   * The group every AWS compute node joins, allowing all traffic to and from itself only: multi-node jobs
   * (NCCL, MPI, EFA) use any port between nodes. Made on first use.
   */
  computePeersSecurityGroupId(): string {
    this.computePeers ??= new EfaSecurityGroup(this, 'ComputePeers', {
      vpcId: this.awsHost('computePeersSecurityGroupId').network.vpcId,
      name: `${this.clusterName}-compute-peers`,
      description: `Compute nodes of Slurm cluster ${this.clusterName}: all traffic between them (NCCL, MPI, EFA)`,
    });
    return this.computePeers.securityGroupId;
  }

  /** SSM parameter path under which pools publish their launch settings. */
  get poolParameterPrefix(): string {
    return `/cdktf-slurm/${this.clusterName}/pools`;
  }

  private checkMail(mail: JobMail): void {
    const hostPort = /^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/.exec(mail.relay ?? '');
    if (!hostPort || Number(hostPort[3]) < 1 || Number(hostPort[3]) > 65535) {
      throw new ConstructPropError(this, 'mail.relay', mail.relay, 'is not host:port', "Use e.g. 'email-smtp.us-east-1.amazonaws.com:587'");
    }
    if (!/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/.test(mail.from ?? '')) {
      throw new ConstructPropError(this, 'mail.from', mail.from, 'is not an e-mail address', "Use e.g. 'slurm@example.org'");
    }
    const tls = mail.tls ?? 'starttls';
    if (!['starttls', 'tls', 'off'].includes(tls)) throw new ConstructPropError(this, 'mail.tls', tls, 'is not starttls, tls or off', "Use 'starttls' (587) or 'tls' (465)");
    if (mail.user !== undefined && !/^[A-Za-z0-9._@+-]{1,128}$/.test(mail.user)) {
      throw new ConstructPropError(this, 'mail.user', mail.user, 'is not an SMTP user name', 'Give the relay login, without spaces');
    }
    if (mail.passwordSecret !== undefined) {
      if (mail.user === undefined) throw new ConstructPropError(this, 'mail.user', undefined, 'is needed with passwordSecret', 'Give the relay login');
      if (tls === 'off') throw new ConstructPropError(this, 'mail.tls', tls, 'would send the relay password in clear', "Use 'starttls' or 'tls'");
      const cloud = this.network.cloud;
      const ok = cloud === 'aws'
        ? new RegExp(`^aws-secretsmanager:${this.clusterName}/[A-Za-z0-9/_+=.@-]+$`).test(mail.passwordSecret)
        : /^gcp-secretmanager:projects\/[^/\s]+\/secrets\/[A-Za-z0-9_-]+$/.test(mail.passwordSecret);
      if (!ok) {
        // Never echo what may be the password itself.
        throw new ConstructPropError(this, 'mail.passwordSecret', `<${mail.passwordSecret.length} characters>`,
          'is not a secret reference the controller may read',
          cloud === 'aws' ? `Store the password in Secrets Manager as '${this.clusterName}/smtp-password' and give 'aws-secretsmanager:${this.clusterName}/smtp-password'`
            : "Give 'gcp-secretmanager:projects/<project>/secrets/<id>' and grant the controller's service account access");
      }
    }
  }

  /** Whether the cluster has users (known at construction: mesh pools fix their script list early). */
  get hasUsers(): boolean {
    return this.usersTable !== undefined;
  }

  /**
   * What every host of the cluster adds to its user-data, rendered at synth: its exporters (`EXPORTERS` and their
   * scripts, only once the cluster has a monitor) and the cluster's users (the table, and whether this host makes
   * home directories — yes on the controller and where /home is local or on Lustre/CephFS; no where /home is an NFS
   * mount, whose root_squash lets only the server create there).
   */
  hostSetup(exporters: readonly ExporterKind[], mounts: readonly ClusterMount[], isController = false): HostSetup {
    const env: Record<string, string> = {};
    const scripts: string[] = [];
    if (this.monitorPath !== undefined && exporters.length > 0) {
      env.EXPORTERS = exporters.join(' ');
      scripts.push('exporters.sh', ...(exporters.includes('slurm') ? ['slurm-metrics.sh'] : []));
    }
    if (!this.usersTable) return { env, scripts };
    const home = mounts.find((m) => m.mountPoint === '/home');
    env.USERS_CREATE_HOMES = isController || home === undefined || home.kind !== 'nfs' ? '1' : '0';
    return { env, scripts, usersTable: this.usersTable };
  }

  /**
   * The fixed address of another host of the cluster (login node, storage or monitoring server): index `hostIndex` of
   * the controller's subnet. The cloud's reserved addresses, an index outside the subnet and the controller's own
   * address fail naming `scope`, `field` and the fix.
   */
  fixedHostAddress(scope: IConstruct, field: string, hostIndex: number, defaultIndex: number): string {
    const net = this.network;
    const reserved = net.cloud === 'aws' ? 4 : 2;
    const cidr = net.cloud === 'aws' ? net.privateSubnets[0].cidr : net.system.cidr;
    if (!Number.isInteger(hostIndex) || hostIndex < reserved) {
      throw new ConstructPropError(scope, field, hostIndex, RESERVED_ADDRESSES[net.cloud], `Use ${reserved} or more (default ${defaultIndex})`);
    }
    let ip: string;
    try {
      ip = hostAddress(cidr, hostIndex);
    } catch (e) {
      throw new ConstructPropError(scope, field, hostIndex, (e as Error).message, `Pick an index inside ${cidr}`);
    }
    if (ip === this.privateIp) throw new ConstructPropError(scope, field, hostIndex, `${ip} is the controller's address`, 'Use another index');
    return ip;
  }

  /** Share disks attached so far (`NfsShare` names the next device after them). */
  get nfsExportDiskCount(): number {
    return this.nfsExports.filter((e) => e.disk).length;
  }

  /** Called by `NfsShare`: the controller serves `e` (the `nfs-server` step, before slurmctld starts). */
  addNfsExport(e: NfsExport): void {
    const problems = exportProblems([...this.nfsExports, e]);
    if (problems.length > 0) throw new Error(problems.join('\n'));
    this.nfsExports.push(e);
  }

  /**
   * Called by `NfsShare` for each AWS client: NFS (TCP 2049) into the controller from the client's security group,
   * once per group, through a group only the controller carries (the cluster's group opens Slurm's ports only).
   */
  admitNfsClient(client: IConstruct, groupName: string, clientGroupId: string): void {
    const aws = this.awsHost('an NFS share');
    const admission = this.nfsClientGroups.admit(client, 'fileSystemClientNetwork.groupName', groupName, clientGroupId);
    if (!admission) return;
    if (!this.nfsServerGroup) {
      this.nfsServerGroup = new SecurityGroup(this, 'NfsServer', {
        name: `${this.clusterName}-nfs-server`,
        description: `NFS server on the controller of Slurm cluster ${this.clusterName}: TCP 2049 from the hosts that mount its shares`,
        vpcId: aws.network.vpcId,
        ingress: [],
        egress: [],
        tags: { Name: `${this.clusterName}-nfs-server`, 'slurm:cluster': this.clusterName },
      });
    }
    // Named after the client's group (`NfsFromClusterGroup`); releases before 0.2 numbered it (`NfsClient0`).
    renamedFrom(new VpcSecurityGroupIngressRule(this, `NfsFrom${admission.name}`, {
      securityGroupId: this.nfsServerGroup.id,
      referencedSecurityGroupId: clientGroupId,
      ipProtocol: 'tcp',
      fromPort: 2049,
      toPort: 2049,
      description: 'NFS v4 from hosts that mount the controller\'s shares',
    }), `NfsClient${admission.formerIndex}`);
  }

  /** Mounts `fs` on the controller at boot, before slurmctld starts. */
  addMount(fs: IClusterFileSystem): void {
    this.hostMounts.add(fs);
  }

  /** Called by pools and login nodes: their hosts become scrape targets of the cluster's monitor. */
  addScrapeTargets(hosts: IScrapeTargets): void {
    this.monitored.push(hosts);
  }

  /**
   * The controller's own exporters (node, and the Slurm exporter) first, then those of every pool and login node
   * registered so far; a monitor calls this when the stack synthesizes.
   */
  scrapeTargets(): ScrapeTargetGroup[] {
    const mine = CONTROLLER_EXPORTERS.map((exporter): ScrapeTargetGroup => ({
      exporter,
      discovery: { kind: 'static', hosts: [this.privateIp] },
      reach: this.network.cloud === 'gcp'
        ? { kind: 'gcp-network-tag', tag: this.network.clusterTag }
        : { kind: 'aws-security-group', securityGroupId: this.network.clusterSecurityGroupId },
      labels: { cluster: this.clusterName, role: 'controller' },
    }));
    return [...mine, ...this.monitored.flatMap((m) => m.scrapeTargets())];
  }

  /** Called by `Partition` / `GpuPartition`. */
  addPartition(partition: PartitionSpec): void {
    if (this.partitions.some((p) => p.name === partition.name)) {
      throw new Error(`${this.node.path}: a partition named '${partition.name}' is already registered; partition names must be unique`);
    }
    this.partitions.push(partition);
  }

  /**
   * The address in `SlurmctldHost=name(address)`: the fixed private IP, or with a mesh the mesh address (by
   * default the MagicDNS name, left to resolution) that every node can reach.
   */
  get slurmctldAddress(): string | undefined {
    if (!this.tailscale) return this.privateIp;
    return this.tailscale.controllerAddress === CONTROLLER_HOSTNAME ? undefined : this.tailscale.controllerAddress;
  }

  /**
   * For hosts with no cloud identity (Docker pools): makes the munge key a Terraform-generated value (a
   * Secrets Manager random password, 128 letters and digits, fixed after creation) stored as the munge
   * secret's version, and returns a reference to it for upload as a file. The key then lives in Terraform
   * state; the controller reads it from Secrets Manager instead of generating it at first boot.
   */
  terraformMungeKey(): string {
    const aws = this.awsHost('terraformMungeKey');
    if (!this.mungeKeyVersion && this.mungeKeySecret) {
      const random = new DataAwsSecretsmanagerRandomPassword(this, 'MungeKeyRandom', {
        passwordLength: 128,
        excludePunctuation: true,
        includeSpace: false,
      });
      this.mungeKeyVersion = new SecretsmanagerSecretVersion(this, 'MungeKeyValue', {
        secretId: this.mungeKeySecret.id,
        secretString: random.randomPassword,
        // The data source draws a new password on every plan; the first one stays.
        lifecycle: { ignoreChanges: ['secret_string'] },
      });
      // The controller must find the key in Secrets Manager when it boots.
      aws.instance.dependsOn = [...(aws.instance.dependsOn ?? []), dependable(this.mungeKeyVersion)];
    }
    return (this.mungeKeyVersion as SecretsmanagerSecretVersion).secretString;
  }

  /** The EC2 side, for callers that only make sense on AWS; a clear error on a GCP controller. */
  awsHost(caller: string): AwsControllerHost {
    if (!this.aws) {
      throw new Error(`${this.node.path}: ${caller} needs a controller on an AWS network, and this one is on ${this.network.cloud.toUpperCase()}`);
    }
    return this.aws;
  }

  /**
   * Called by pools whose nodes run per-job hooks (GPUDirect-TCPXO's RxDM): slurm.conf then runs every script in
   * `<conf>/prolog.d` and `<conf>/epilog.d` (a glob; every compute node carries a no-op hook so it always
   * matches), with `PrologFlags=Alloc,Contain` so the prolog runs once per job on each node at allocation.
   */
  useNodeJobHooks(user: string): void {
    if (!this.jobHookUsers.includes(user)) this.jobHookUsers.push(user);
  }

  /**
   * Called by pools and login nodes with enroot + pyxis: the controller then serves `plugstack.conf` (configless
   * nodes read the controller's copy, never their own), which includes each node's own `plugstack.conf.d/`, where
   * those hosts put pyxis's line. Hosts without pyxis read an empty stack. Debian's and Ubuntu's
   * slurm-wlm-basic-plugins ship the same file; staging it keeps the cluster independent of that packaging.
   */
  /**
   * Called by `MonitoringStack`: from now on every host of the cluster runs its exporters (node.env `EXPORTERS`,
   * rendered at synth, so hosts made before the monitor get them too). One monitor per cluster.
   */
  useMonitoring(monitorPath: string): void {
    if (this.monitorPath !== undefined) {
      throw new Error(`${monitorPath}: cluster ${this.clusterName} is already monitored by ${this.monitorPath}; one MonitoringStack per cluster`);
    }
    this.monitorPath = monitorPath;
  }

  /**
   * Called by `MonitoringStack` with `onController`: the controller also runs Prometheus and Grafana (the
   * `monitoring/monitoring-server` step, after its exporters) from these files, rendered at synth.
   */
  hostMonitor(monitor: MonitorOnController): void {
    this.monitorHost = monitor;
  }

  useContainers(): void {
    this.containerUsers++;
  }

  private resolveMesh(mesh: ClusterMesh, prefix: string): ResolvedTailscaleMesh {
    const ts = mesh.tailscale;
    if (typeof ts?.authKey !== 'string' || ts.authKey === '') {
      throw new ConstructPropError(this, 'mesh.tailscale.authKey', ts?.authKey, 'no auth key given',
        "Pass a sensitive TerraformVariable's value, e.g. new TerraformVariable(stack, 'tailscale_auth_key', { sensitive: true }).stringValue");
    }
    if (!Token.isUnresolved(ts.authKey)) {
      // Never echo the key: only its length.
      throw new ConstructPropError(this, 'mesh.tailscale.authKey', `<literal, ${ts.authKey.length} characters>`,
        'a literal auth key would be written into the synthesized plan',
        "Pass a sensitive TerraformVariable's value instead (set it with TF_VAR_… or a .tfvars file kept out of git)");
    }
    if (ts.loginServer !== undefined && (Token.isUnresolved(ts.loginServer) || !/^https:\/\/[A-Za-z0-9.-]+(:\d+)?(\/\S*)?$/.test(ts.loginServer))) {
      throw new ConstructPropError(this, 'mesh.tailscale.loginServer', ts.loginServer,
        'must be a literal https:// URL (it goes into gzipped user-data, which cannot hold Terraform references)',
        "Give your headscale server's URL, e.g. 'https://headscale.example.com'");
    }
    for (const tag of ts.tags ?? []) {
      if (!/^tag:[A-Za-z0-9-]+$/.test(tag)) {
        throw new ConstructPropError(this, 'mesh.tailscale.tags', ts.tags, `'${tag}' is not a Tailscale tag`, "Use tags such as 'tag:slurm'");
      }
    }
    const address = ts.controllerAddress ?? CONTROLLER_HOSTNAME;
    if (!/^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:]+\]?$/.test(address)) {
      throw new ConstructPropError(this, 'mesh.tailscale.controllerAddress', address, 'is not a host name or IP address',
        "Use the controller's MagicDNS name (default 'slurm-controller') or its reserved mesh IP, e.g. '100.64.0.10'");
    }
    if (ts.version !== undefined && !/^\d+\.\d+\.\d+$/.test(ts.version)) {
      throw new ConstructPropError(this, 'mesh.tailscale.version', ts.version, 'is not a release number', "Pin a release such as '1.82.5'");
    }
    return {
      authKey: ts.authKey,
      loginServer: ts.loginServer,
      tags: [...(ts.tags ?? [])],
      controllerAddress: address,
      version: ts.version,
      authKeySecretName: `${prefix}/tailscale-auth-key`,
    };
  }

  /** The cluster model as it stands: everything registered so far. */
  clusterSpec(): ClusterSpec {
    const accounting = this.props.accounting ?? 'local';
    let accountingSpec: AccountingSpec | undefined;
    if (accounting === 'local') accountingSpec = { dbdHost: this.hostname };
    else if (accounting) {
      accountingSpec = {
        dbdHost: this.hostname,
        storageHost: accounting.endpoint,
        storagePort: accounting.port,
        storageUser: accounting.user,
      };
    }
    const cloud = this.pools.some((p) => p.maxCount !== undefined);
    return {
      clusterName: this.clusterName,
      slurmVersion: this.slurmVersion,
      controller: { hostname: this.hostname, address: this.slurmctldAddress },
      accounting: accountingSpec,
      nodePools: [...this.pools],
      partitions: [...this.partitions],
      powerSaving: cloud ? { resumeProgram: AWS_RESUME_PROGRAM, suspendProgram: AWS_SUSPEND_PROGRAM } : undefined,
      extraSlurmConf: this.props.extraSlurmConf,
      cgroup: this.nodesWithoutSystemd ? { ignoreSystemdOnFailure: true } : undefined,
      jwtAuth: this.props.restApi === true,
      mailProg: this.props.mail ? '/usr/bin/mail' : undefined,
      ...(this.jobHookUsers.length > 0 ? { prolog: [NODE_PROLOG_GLOB], epilog: [NODE_EPILOG_GLOB], prologFlags: ['Alloc', 'Contain'] } : {}),
    };
  }

  /** The controller's user-data, rendered once per synth (validation, the policy pack and the output share it). */
  private readonly renderedUserData = oncePerSynth(this, () => this.renderUserData());

  private renderUserData() {
    const spec = this.clusterSpec();
    assertValidCluster(spec, this.node.path);
    const roles: NodeRole[] = this.dbPasswordSource ? ['controller', 'dbd'] : ['controller'];
    const env: Record<string, string> = {
      CLUSTER_NAME: this.clusterName,
      SLURM_CONTROLLER: this.privateIp,
      // Hybrid clusters: Terraform made the key (hosts without cloud identity get it by upload); else first boot.
      MUNGE_KEY_SOURCE: `${this.mungeKeyVersion ? '' : 'generate+'}${this.mungeKeySource}`,
      STATESAVE_DEVICE: this.gcp ? `/dev/disk/by-id/google-${GCP_STATE_DISK_DEVICE}` : '/dev/sdf',
    };
    const extraScripts = spec.powerSaving ? [...AWS_CONTROLLER_SCRIPTS] : [];
    if (this.tailscale) {
      Object.assign(env, tailscaleEnv(this.tailscale, `aws-secretsmanager:${this.tailscale.authKeySecretName}`), {
        TAILSCALE_HOSTNAME: CONTROLLER_HOSTNAME,
      });
      extraScripts.push('tailscale.sh');
    }
    if (spec.powerSaving) env.AWS_POOL_PARAMETERS = this.poolParameterPrefix;
    const mail = this.props.mail;
    if (mail) {
      Object.assign(env, { MAIL_RELAY: mail.relay, MAIL_FROM: mail.from, MAIL_TLS: mail.tls ?? 'starttls' });
      if (mail.user) env.MAIL_USER = mail.user;
      if (mail.passwordSecret) env.MAIL_PASSWORD_SOURCE = mail.passwordSecret;
      extraScripts.push('mail-relay.sh');
    }
    const host = this.hostSetup(CONTROLLER_EXPORTERS, this.hostMounts.mounts, true);
    Object.assign(env, host.env);
    extraScripts.push(...host.scripts);
    if (this.monitorHost) {
      Object.assign(env, this.monitorHost.env, { MONITOR_ENABLED: '1' });
      extraScripts.push('monitoring/monitoring-server.sh');
    }
    // Always-on pools are cloud nodes kept out of suspend; the controller starts them at first boot.
    const alwaysOn = staticNodesHostlist(spec);
    if (alwaysOn) env.SLURM_POWER_UP_NODES = alwaysOn;
    if (this.jwtKeySource) {
      env.JWT_KEY_SOURCE = this.jwtKeySource;
      env.SLURMRESTD_ENABLED = '1';
    }
    if (this.dbPasswordSource) {
      env.DB_PASSWORD_SOURCE = this.dbPasswordSource;
      env.DB_LOCAL = this.props.accounting === undefined || this.props.accounting === 'local' ? '1' : '0';
    }
    const config = buildNodeCloudConfig({
      roles,
      env,
      hostname: this.hostname,
      slurmFiles: [
        ...renderControllerFiles(spec),
        ...(this.containerUsers > 0 ? [{ name: 'plugstack.conf', content: renderPlugstackConf({}, this.node.path) }] : []),
      ],
      mounts: this.hostMounts.mounts,
      exports: this.nfsExports,
      files: this.monitorHost?.files(),
      usersTable: host.usersTable,
      extraScripts,
      // Compute Engine takes 256 KiB of metadata: the scripts fit inline. EC2's 16 KiB does not.
      scriptDelivery: this.gcp ? { kind: 'inline' } : { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    });
    return renderNodeUserData(config, { target: this.gcp ? 'gcp' : 'aws', role: roles.join(' '), where: this.node.path });
  }
}

/** node.env entries `tailscale.sh` reads (the auth key by reference). */
export function tailscaleEnv(mesh: ResolvedTailscaleMesh, authKeySource: string): Record<string, string> {
  const env: Record<string, string> = { TAILSCALE_AUTHKEY_SOURCE: authKeySource };
  if (mesh.loginServer) env.TAILSCALE_LOGIN_SERVER = mesh.loginServer;
  if (mesh.tags.length > 0) env.TAILSCALE_TAGS = mesh.tags.join(',');
  if (mesh.version) env.TAILSCALE_VERSION = mesh.version;
  return env;
}
