/**
 * The seam between the cloud-neutral constructs and the clouds. A cluster network (`BastionVpc`, `GcpClusterNetwork`,
 * or one of your own) carries its `IClusterBackend`; the constructs ask it for what only a cloud knows, and never
 * test which cloud it is. Each backend lives in its own folder (`lib/aws/`, `lib/gcp/`) and imports its provider;
 * this file imports none.
 */
import type { Construct, IConstruct } from 'constructs';
import type { NodeCloudConfigOptions, NodeFile } from './cloudinit/node-bootstrap';
import type { UserDataTarget } from './cloudinit/budget';
import type { FileSystemClientNetwork, IFileSystemClient } from './constructs/cluster-file-system';
import type { TargetReach } from './monitoring/scrape-targets';

/** What a backend can do; a combination it cannot do fails at construction, naming the prop. */
export interface BackendCapabilities {
  /** The controller can join a Tailscale mesh, so hosts outside the cloud's network (Docker, SSH) reach it. */
  readonly mesh: boolean;
  /** Slurm starts and stops this cloud's nodes itself (`State=CLOUD`, a ResumeProgram and a SuspendProgram). */
  readonly powerSaving: boolean;
}

/** Where the cluster's fixed hosts (controller, login, monitor, storage server) take their addresses. */
export interface FixedHostSubnet {
  readonly cidr: string;
  /** The first host index the cloud leaves to us. */
  readonly firstUsableIndex: number;
  /** Who keeps the addresses below it, for the error that refuses one. */
  readonly reservedBy: string;
}

/** The cluster's long-lived hosts, each with its own default size. */
export type FixedHostRole = 'controller' | 'login' | 'monitor';

/**
 * A fixed host's cloud settings (`instance: Ec2Instance.of({...})`, `GceInstance.of({...})`): what its VM is. Each
 * field left out takes the backend's default for the host's role.
 */
export interface IHostSettings {
  /** The backend that takes them (`IClusterBackend.name`). */
  readonly backend: string;
  /** How messages show them, e.g. `Ec2Instance.of({"instanceType":"m6i.xlarge"})`. */
  readonly shown: string;
  /** The instance or machine type. @default the backend's for the role */
  readonly hostType?: string;
  /** The boot image. @default the backend's */
  readonly image?: string;
  /** An SSH key pair, where the cloud has them. @default none */
  readonly keyName?: string;
  /** Boot disk, GiB. @default the backend's for the role */
  readonly rootVolumeSizeGiB?: number;
  /** The boot-disk field's name in these settings (`rootVolumeSizeGiB`, `bootDiskSizeGiB`), for messages. */
  readonly diskField: string;
}

/** A cloud as the constructs see it. */
export interface IClusterBackend {
  /** Short name in messages and the plan summary (`aws`, `gcp`). */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  /** The instance or machine type of a fixed host whose settings name none. */
  defaultHostType(role: FixedHostRole): string;
  /** How a user gives this cloud's fixed-host settings, for messages: `Ec2Instance.of({ instanceType: 'm6i.xlarge' })`. */
  readonly hostSettingsExample: string;
  /**
   * The secret references a host of this cluster may read (a job-mail password), and how to make one: `ref` is
   * checked against `pattern`, never echoed.
   */
  secretReference(clusterName: string): { readonly pattern: RegExp; readonly fix: string };
  /**
   * The subnet fixed hosts go in.
   * @throws ConstructPropError naming `scope` when the network has no such subnet
   */
  fixedHostSubnet(scope: IConstruct): FixedHostSubnet;
  /** The controller's host name (`SlurmctldHost`): some clouds make it the VM's name. */
  controllerHostname(clusterName: string): string;
  /** Puts the controller on this cloud: its identity, secrets, the VM and its state disk. */
  placeController(scope: Construct, request: ControllerHostRequest): IControllerHost;
  /** The login node's default host name. */
  loginHostname(clusterName: string): string;
  /** Puts a login node on this cloud: an identity that reads the munge key, and the VM at its fixed address. */
  placeLoginNode(scope: Construct, request: LoginHostRequest): IFixedHost;
  /** Puts Prometheus and Grafana on this cloud: a VM of their own or the controller, and what lets them scrape. */
  placeMonitor(scope: Construct, request: MonitorHostRequest): IMonitorHost;
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

/** What a monitor asks of its cloud. */
export interface MonitorHostRequest {
  readonly controller: { readonly host: IControllerHost; readonly node: IConstruct['node'] };
  readonly clusterName: string;
  /** Prometheus and Grafana run on the controller, not a VM of their own. */
  readonly onController: boolean;
  /** The monitoring VM's fixed address (not on the controller). @default none */
  readonly privateIp?: string;
  readonly hostType: string;
  /** The boot image. @default the backend's */
  readonly image?: string;
  /** An SSH key pair, where the cloud has them. @default none */
  readonly keyName?: string;
  readonly diskGiB: number;
  /** Private ranges that may open Grafana directly. */
  readonly grafanaAllowedCidrs: readonly string[];
  /** Prometheus' retention. */
  readonly retention: string;
  /** The rendered Prometheus and Grafana files, at synth; `awsRegion` is the region placeholder the cloud fills on the host. */
  readonly files: (cloud: { readonly awsRegion?: string }) => NodeFile[];
  /** Called when the controller hosts the monitor: the construct hands it to the controller. */
  readonly hostOnController: (monitor: MonitorOnController) => void;
}

/** Prometheus and Grafana as the cloud made them. */
export interface IMonitorHost {
  /** Where Grafana's admin password is (a node.env secret source), to read with your own identity. */
  readonly grafanaAdminPasswordSecret: string;
  /** The monitoring VM's name. @default none (on the controller) */
  readonly hostname?: string;
  /** How a person reaches Grafana: `an IAP tunnel`, `an SSH tunnel through the bastion`. */
  readonly tunnel: string;
}

/** A cluster network: where the cluster lives, and the cloud that makes its hosts. */
export interface IClusterNetwork {
  readonly backend: IClusterBackend;
}

/** Where slurmdbd keeps accounting, as a backend needs it: its own password secret, another one, or none. */
export type AccountingStore = 'local' | { readonly passwordSecret: string } | false;

/** What every fixed host (controller, login node) asks of its cloud. */
export interface FixedHostBasics {
  readonly clusterName: string;
  readonly hostname: string;
  readonly privateIp: string;
  /** The cloud's instance or machine type. */
  readonly hostType: string;
  /** The boot image (an AMI, an image path). @default the backend's */
  readonly image?: string;
  /** An SSH key pair, where the cloud has them. @default none */
  readonly keyName?: string;
}

/** What the controller asks of its cloud. */
export interface ControllerHostRequest extends FixedHostBasics {
  /** @default the backend's */
  readonly rootVolumeSizeGiB?: number;
  readonly stateVolumeSizeGiB: number;
  readonly accounting: AccountingStore;
  /** slurmrestd runs: a JWT key secret is made. */
  readonly restApi: boolean;
  /** The VM (and the secrets it keeps, where the cloud can protect them) refuse deletion until this is turned off. */
  readonly deletionProtection: boolean;
  /** A job-mail relay password secret (`<store>:<name>`) the controller reads. @default none */
  readonly mailPasswordSecret?: string;
  /** The mesh auth key (a Terraform reference) and the secret name it is kept under. @default no mesh */
  readonly meshAuthKey?: { readonly value: string; readonly secretName: string };
  /** The controller's user-data, rendered when the stack synthesizes. */
  readonly userData: () => { readonly text: string; readonly base64: string };
  /** Security groups (or the cloud's equivalent) others ask the controller to join, read at synth. */
  readonly extraGroups: () => string[];
}

/** What a login node asks of its cloud. */
export interface LoginHostRequest extends FixedHostBasics {
  /** The cluster's controller (its cloud host holds the munge key and the scripts). */
  readonly controller: { readonly host: IControllerHost; readonly node: IConstruct['node'] };
  readonly rootVolumeSizeGiB: number;
  /** The host's user-data, rendered when the stack synthesizes. */
  readonly userData: () => { readonly text: string; readonly base64: string };
}

/** A fixed host (login node, monitor, storage server) as the cloud made it. */
export interface IFixedHost {
  /** How file-system servers reach it. */
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  /** How a monitor reaches its exporters. */
  readonly scrapeReach: TargetReach;
  readonly userDataTarget: UserDataTarget;
  readonly scriptDelivery: NonNullable<NodeCloudConfigOptions['scriptDelivery']>;
  /** User-data is a Terraform string (values known at apply may go in), not gzip. */
  readonly userDataTakesReferences: boolean;
  /** How a person reaches it, for the plan summary. */
  readonly access: string;
  /**
   * The host has a cloud metadata endpoint that hands out its credentials (EC2's IMDS, the Compute Engine metadata
   * server): a login node then limits it to root (`METADATA_GUARD`), so no user reaches what the host's identity may
   * read.
   */
  readonly metadataEndpoint: boolean;
}

/** The controller's host on a cloud: what the cluster-neutral controller renders into its node.env and config. */
export interface IControllerHost {
  readonly backend: IClusterBackend;
  /** Where nodes read the munge key at boot (a node.env secret source such as `aws-secretsmanager:hpc/munge-key`). */
  readonly mungeKeySource: string;
  /** The controller's own munge source: generated at first boot unless Terraform made the key. */
  controllerMungeKeySource(): string;
  /** The JWT key's source, when slurmrestd runs. @default none */
  readonly jwtKeySource?: string;
  /** The slurmdbd database password's source, with accounting. @default none */
  readonly dbPasswordSource?: string;
  /** The mesh auth key's source on the controller, with a mesh. @default none */
  readonly meshAuthKeySource?: string;
  /** The state disk's device as the guest sees it (`STATESAVE_DEVICE`). */
  readonly stateDevice: string;
  /** How file-system servers reach the controller. */
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  /** How a monitor reaches the controller's exporters. */
  readonly scrapeReach: TargetReach;
  /** The user-data budget and encoding the cloud applies. */
  readonly userDataTarget: UserDataTarget;
  /** How the bootstrap scripts reach the controller. */
  readonly scriptDelivery: NonNullable<NodeCloudConfigOptions['scriptDelivery']>;
  /** The programs slurmctld runs to start and stop this cloud's nodes, with their node.env and scripts. @default none */
  readonly powerSaving?: PowerSavingPrograms;
  /**
   * The munge key as a Terraform reference, for hosts with no cloud identity to read it with (Docker, SSH): made by
   * Terraform, so it lives in state. Backends with a mesh have it. @default none
   */
  terraformMungeKey?(): string;
  /** Address ranges the controller's NFS exports admit: the cluster's subnets (a share adds the mesh range itself). */
  readonly shareClientCidrs: readonly string[];
  /**
   * Attaches a share's own disk to the controller, made in `scope` (the share) so its address is `<Share>/Disk`.
   * @throws ConstructPropError naming `scope` and `diskGiB` when the controller can take no more share disks
   */
  attachShareDisk(scope: Construct, disk: ShareDiskRequest): ShareDisk;
  /**
   * Lets an NFS client of the controller's shares in (a security-group rule, or nothing where the cluster's own
   * firewall already does). Mesh clients never come here: their traffic stays inside the mesh.
   * @throws ConstructPropError naming `client` and `mounts` when it is not on the controller's network
   */
  admitShareClient(client: IFileSystemClient, share: IConstruct): void;
  /**
   * A file-system secret the user made (an existing CephFS's client key), named by `ref`: checked against what this
   * cloud's hosts may read, granted per client where the cloud needs a grant.
   * @throws ConstructPropError naming `scope` and `field` when `ref` is not such a secret; the value is never shown
   *   (it may be the key itself, pasted where its secret's name belongs)
   */
  fileSystemSecret(scope: Construct, field: string, ref: string, example: FileSystemSecretExample): IFileSystemSecret;
}

/** A share's own disk, as `NfsShare` asks for it. */
export interface ShareDiskRequest {
  /** The share's name (`home`), in the disk's name and tags. */
  readonly name: string;
  /** The file-system label the server formats it with (`nfs-home`); clients never see it. */
  readonly label: string;
  readonly sizeGiB: number;
}

/** A share's disk as attached. */
export interface ShareDisk {
  /** The device as the controller sees it (`NFS_EXPORTS`' disk). */
  readonly device: string;
  /** The disk resource (an `EbsVolume`, a `ComputeDisk`). */
  readonly resource: IConstruct;
  /** What prices it in the plan summary's table (`aws:ebs-gp3`). */
  readonly priceKey: string;
}

/** How a message tells the user to store a file-system secret. */
export interface FileSystemSecretExample {
  /** The secret's suggested name, without the cloud's prefix (`lab-ceph-client-key`). */
  readonly name: string;
  /** The shell that prints the value (`ceph auth print-key client.fs`). */
  readonly valueCommand: string;
}

/** A file-system secret the cluster's hosts read at boot. */
export interface IFileSystemSecret {
  /** Where hosts read it (a node.env secret source). */
  readonly source: string;
  /**
   * Lets `client` read it, once per client identity.
   * @throws ConstructPropError naming `client` and `mounts` when the client has no identity that can
   */
  grant(client: IFileSystemClient, fileSystem: IConstruct): void;
}

/** How slurmctld starts and stops a cloud's nodes. */
export interface PowerSavingPrograms {
  readonly resumeProgram: string;
  readonly suspendProgram: string;
  readonly env: Readonly<Record<string, string>>;
  readonly scripts: readonly string[];
}
