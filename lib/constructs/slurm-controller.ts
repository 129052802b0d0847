import { Token } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import type { IClusterBackend, IClusterNetwork, IControllerHost, IHostSettings } from '../backend';
import { resolveHostSettings } from './host-settings';
import {
  buildNodeCloudConfig, ClusterGroup, ClusterMount, ClusterUser, exportProblems, NfsExport, NodeRole, renderNodeUserData,
  renderUsersTable, ResolvedTailscaleMesh, tailscaleEnv, userProblems,
} from '../cloudinit';
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
import { FileSystemClientNetwork, HostMounts, IClusterFileSystem, MESH_CIDR } from './cluster-file-system';
import type { HostSetup, ISlurmController, MonitorOnController } from './cluster-interfaces';
import { NfsShare } from './nfs-share';
import { ControllerPart } from '../summary/model';
import { PlanSummaryOptions, attachPlanSummary, describeForPlan } from './plan-summary';
import { ConstructPropError, oncePerSynth, validateAtSynth } from '../cdktf-adapter';


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
  /**
   * Where the cluster lives: a `BastionVpc` (AWS), a `GcpClusterNetwork` (Google Cloud), or a network of your own
   * whose `backend` places the controller on your cloud (docs/architecture.md, "Adding a backend").
   */
  readonly network: IClusterNetwork;
  /** `ClusterName`: lower-case letters, digits, `_`; starts with a letter. Also prefixes secret names. */
  readonly clusterName: string;
  /**
   * Slurm release on the nodes; must match the image's distribution package.
   * @default `'23.11'` (Ubuntu 24.04's)
   */
  readonly slurmVersion?: SlurmVersion;
  /**
   * The controller's VM, in its cloud's words: `Ec2Instance.of({ instanceType, amiId, keyName, rootVolumeSizeGiB })`
   * on an AWS network, `GceInstance.of({ machineType, image, bootDiskSizeGiB })` on a GCP one (SSH through IAP with
   * OS Login there).
   * @default the backend's: `m6i.xlarge` with a 40 GiB root volume on AWS, `n2-standard-8` with 50 GiB on GCP;
   * Ubuntu 24.04 LTS; no key pair (SSM Session Manager)
   */
  readonly instance?: IHostSettings;
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
   * The controller's VM, and the secrets it keeps where the cloud can protect them (Secret Manager on Google Cloud),
   * cannot be deleted: `terraform destroy`, or a change that would replace the VM, fails until you set this to
   * `false` and apply. It holds the cluster's state and accounting, and a lost munge key means re-keying every host.
   * Turning it on or off changes nothing on the running VM.
   * @default true
   */
  readonly deletionProtection?: boolean;
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
   * `instance: Ec2Instance.of({ rootVolumeSizeGiB })`). Needs `mesh`. Every device of the tailnet is in that range: restrict port 2049 to
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
export type { HostSetup, MonitorOnController, ResolvedTailscaleMesh };
export { tailscaleEnv };

/** The controller's exporters: its node, and the Slurm exporter (slurm-metrics.sh). */
const CONTROLLER_EXPORTERS: readonly ExporterKind[] = ['node', 'slurm'];

const CONTROLLER_HOSTNAME = 'slurm-controller';
/** Job hooks of every compute node, run as one glob (Slurm 22.05 keeps one Prolog value); slurmd.sh adds a no-op so it always matches. */
export const NODE_PROLOG_GLOB = '/etc/slurm/prolog.d/*';
export const NODE_EPILOG_GLOB = '/etc/slurm/epilog.d/*';
/**
 * The Slurm controller: slurmctld (configless), and by default slurmdbd with a local MariaDB, on one VM in a
 * private subnet with a fixed address: an EC2 instance on an AWS network, a Compute Engine VM on a GCP one.
 * Pools and partitions register with it; slurm.conf and the controller's user-data are rendered when the
 * stack synthesizes, from everything registered by then.
 */
export class SlurmController extends Construct implements ISlurmController {
  readonly clusterName: string;
  readonly slurmVersion: SlurmVersion;
  /** Host name slurmctld runs as (`SlurmctldHost`): `slurm-controller` on AWS, `<cluster>-controller` (the VM name) on GCP. */
  readonly hostname: string;
  /** Fixed private address; slurmd's `--conf-server`. */
  readonly privateIp: string;
  readonly network: IClusterNetwork;
  readonly backend: IClusterBackend;
  /** The controller's host on its cloud (EC2, Compute Engine): its identity, secrets, VM and state disk. */
  readonly host: IControllerHost;
  /** Where nodes read the munge key at boot (a node.env secret source: `aws-secretsmanager:…`, `gcp-secretmanager:…`). */
  get mungeKeySource(): string {
    return this.host.mungeKeySource;
  }
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
  private readonly partitions: PartitionSpec[] = [];
  /** The controller's EC2 instance type or Compute Engine machine type. */
  private readonly hostType: string;
  private readonly props: SlurmControllerProps;
  private readonly nfsExports: NfsExport[] = [];
  /** The rendered users table, when the cluster has users. */
  private readonly usersTable?: string;

  constructor(scope: Construct, id: string, props: SlurmControllerProps) {
    super(scope, id);
    this.props = props;
    const net = props.network;
    this.network = net;
    this.clusterName = props.clusterName;
    this.slurmVersion = props.slurmVersion ?? '23.11';
    if (typeof net?.backend?.placeController !== 'function') {
      throw new ConstructPropError(this, 'network', net === undefined ? undefined : '<no backend>', 'is not a cluster network: it carries no backend',
        'Pass a BastionVpc, a GcpClusterNetwork, or a network of your own whose backend implements IClusterBackend');
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
    const state = props.stateVolumeSizeGiB;
    if (state !== undefined && (!Number.isInteger(state) || state < 8 || state > 16384)) {
      throw new ConstructPropError(this, 'stateVolumeSizeGiB', state, 'must be a whole number of GiB from 8 to 16384', 'Use e.g. 50');
    }
    this.backend = net.backend;
    const instance = resolveHostSettings(this, props.instance, this.backend, 'controller');
    this.hostType = instance.hostType;

    this.hostname = this.backend.controllerHostname(props.clusterName);
    this.privateIp = this.fixedAddress(this, 'hostIndex', props.hostIndex ?? 10, 10);
    if (props.mesh) {
      if (!this.backend.capabilities.mesh) {
        // Worded from the capability, not a cloud: any backend without a mesh says the same.
        throw new ConstructPropError(this, 'mesh', '<mesh>', `the ${this.backend.name.toUpperCase()} backend cannot put its controller on a mesh`,
          'Drop mesh; to join Docker or SSH GPU hosts over a mesh, put the controller on a network whose backend has one (BastionVpc)');
      }
      this.tailscale = this.resolveMesh(props.mesh, props.clusterName);
    }
    const shared = props.sharedDirectory !== undefined ? this.checkSharedDirectory(props.sharedDirectory) : undefined;
    const accounting = props.accounting ?? 'local';
    this.host = this.backend.placeController(this, {
      clusterName: props.clusterName,
      hostname: this.hostname,
      privateIp: this.privateIp,
      ...instance,
      stateVolumeSizeGiB: props.stateVolumeSizeGiB ?? 50,
      accounting: accounting === 'local' || accounting === false ? accounting : { passwordSecret: accounting.passwordSecret },
      restApi: props.restApi === true,
      deletionProtection: props.deletionProtection ?? true,
      mailPasswordSecret: props.mail?.passwordSecret,
      meshAuthKey: this.tailscale ? { value: this.tailscale.authKey, secretName: this.tailscale.authKeySecretName } : undefined,
      userData: () => this.renderedUserData(),
      extraGroups: () => (this.monitorHost?.securityGroupId ? [this.monitorHost.securityGroupId] : []),
    });
    this.fileSystemClientNetwork = this.host.fileSystemClientNetwork;
    if (shared) this.sharedDirectory = new NfsShare(this, 'SharedDirectory', { controller: this, name: 'shared', path: shared, diskGiB: 0, mode: '1777' });

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
      cloud: this.backend.name,
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
      const readable = this.backend.secretReference(this.clusterName);
      if (!readable.pattern.test(mail.passwordSecret)) {
        // Never echo what may be the password itself.
        throw new ConstructPropError(this, 'mail.passwordSecret', `<${mail.passwordSecret.length} characters>`,
          'is not a secret reference the controller may read', readable.fix);
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
    const ip = this.fixedAddress(scope, field, hostIndex, defaultIndex);
    if (ip === this.privateIp) throw new ConstructPropError(scope, field, hostIndex, `${ip} is the controller's address`, 'Use another index');
    return ip;
  }

  /** Index `hostIndex` of the backend's fixed-host subnet, above the addresses the cloud keeps. */
  private fixedAddress(scope: IConstruct, field: string, hostIndex: number, defaultIndex: number): string {
    const subnet = this.backend.fixedHostSubnet(scope);
    const reserved = subnet.firstUsableIndex;
    if (!Number.isInteger(hostIndex) || hostIndex < reserved) {
      throw new ConstructPropError(scope, field, hostIndex, subnet.reservedBy, `Use ${reserved} or more (default ${defaultIndex})`);
    }
    try {
      return hostAddress(subnet.cidr, hostIndex);
    } catch (e) {
      throw new ConstructPropError(scope, field, hostIndex, (e as Error).message, `Pick an index inside ${subnet.cidr} above the ${reserved} reserved addresses`);
    }
  }

  /** Called by `NfsShare`: the controller serves `e` (the `nfs-server` step, before slurmctld starts). */
  addNfsExport(e: NfsExport): void {
    const problems = exportProblems([...this.nfsExports, e]);
    if (problems.length > 0) throw new Error(problems.join('\n'));
    this.nfsExports.push(e);
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
      reach: this.host.scrapeReach,
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
    const programs = this.host.powerSaving;
    const cloud = this.pools.some((p) => p.maxCount !== undefined) && programs !== undefined;
    return {
      clusterName: this.clusterName,
      slurmVersion: this.slurmVersion,
      controller: { hostname: this.hostname, address: this.slurmctldAddress },
      accounting: accountingSpec,
      nodePools: [...this.pools],
      partitions: [...this.partitions],
      powerSaving: cloud ? { resumeProgram: programs.resumeProgram, suspendProgram: programs.suspendProgram } : undefined,
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
    const host = this.host;
    const roles: NodeRole[] = host.dbPasswordSource ? ['controller', 'dbd'] : ['controller'];
    const env: Record<string, string> = {
      CLUSTER_NAME: this.clusterName,
      SLURM_CONTROLLER: this.privateIp,
      // Hybrid clusters: Terraform made the key (hosts without cloud identity get it by upload); else first boot.
      MUNGE_KEY_SOURCE: host.controllerMungeKeySource(),
      STATESAVE_DEVICE: host.stateDevice,
    };
    const extraScripts = spec.powerSaving && host.powerSaving ? [...host.powerSaving.scripts] : [];
    if (this.tailscale) {
      Object.assign(env, tailscaleEnv(this.tailscale, host.meshAuthKeySource as string), {
        TAILSCALE_HOSTNAME: CONTROLLER_HOSTNAME,
      });
      extraScripts.push('tailscale.sh');
    }
    if (spec.powerSaving && host.powerSaving) Object.assign(env, host.powerSaving.env);
    const mail = this.props.mail;
    if (mail) {
      Object.assign(env, { MAIL_RELAY: mail.relay, MAIL_FROM: mail.from, MAIL_TLS: mail.tls ?? 'starttls' });
      if (mail.user) env.MAIL_USER = mail.user;
      if (mail.passwordSecret) env.MAIL_PASSWORD_SOURCE = mail.passwordSecret;
      extraScripts.push('mail-relay.sh');
    }
    const setup = this.hostSetup(CONTROLLER_EXPORTERS, this.hostMounts.mounts, true);
    Object.assign(env, setup.env);
    extraScripts.push(...setup.scripts);
    if (this.monitorHost) {
      Object.assign(env, this.monitorHost.env, { MONITOR_ENABLED: '1' });
      extraScripts.push('monitoring/monitoring-server.sh');
    }
    // Always-on pools are cloud nodes kept out of suspend; the controller starts them at first boot.
    const alwaysOn = staticNodesHostlist(spec);
    if (alwaysOn) env.SLURM_POWER_UP_NODES = alwaysOn;
    if (host.jwtKeySource) {
      env.JWT_KEY_SOURCE = host.jwtKeySource;
      env.SLURMRESTD_ENABLED = '1';
    }
    if (host.dbPasswordSource) {
      env.DB_PASSWORD_SOURCE = host.dbPasswordSource;
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
      usersTable: setup.usersTable,
      extraScripts,
      scriptDelivery: host.scriptDelivery,
    });
    return renderNodeUserData(config, { target: host.userDataTarget, role: roles.join(' '), where: this.node.path });
  }
}
