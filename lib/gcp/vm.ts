/**
 * How a Slurm node is made on Google Cloud: its identity (a service account with no keys and only the grants a
 * node needs), the secrets it generates at first boot, and the controller and login VMs; a pool's template and its
 * counted VMs are in `node-template.ts`. The GCP counterpart of `lib/aws/node-identity.ts`.
 *
 * Facts this file rests on (checked 2026-11):
 * - Bundled Local SSD: A3 (and A2 Ultra, Z3) machine types come with their Local SSDs; Compute Engine attaches them
 *   when the VM is created (Google's "Add a Local SSD to your VM" page). Cluster Toolkit's A3 Mega Slurm blueprint
 *   (examples/machine-learning/a3-megagpu-8g/a3mega-slurm-blueprint.yaml) lists no scratch disks for
 *   a3-megagpu-8g, so neither does this template.
 * - Reservations: Cluster Toolkit leaves `reservation_affinity` unset (Compute Engine then uses ANY_RESERVATION)
 *   unless a reservation is named; slurm-gcp then asks for SPECIFIC_RESERVATION with the key
 *   `compute.googleapis.com/reservation-name`. slurm-gcp's resume.py gives a VM that consumes a reservation the
 *   reservation's own resource policies ("vanilla reservations don't support external policies"), and sets
 *   on_host_maintenance TERMINATE whenever a VM has a resource policy; Cluster Toolkit's instance template does
 *   the same for GPUs, Spot and placement policies. Its A3 Mega blueprint offers Spot OR a reservation, never both.
 * - A VM made by `google_compute_instance_from_template` is replaced whenever its template changes
 *   (hashicorp/terraform-provider-google#7398): fine for identical compute nodes, wrong for a controller.
 */
import { ComputeDisk } from '@cdktf/provider-google/lib/compute-disk';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { SecretManagerSecret } from '@cdktf/provider-google/lib/secret-manager-secret';
import { SecretManagerSecretIamMember } from '@cdktf/provider-google/lib/secret-manager-secret-iam-member';
import { ServiceAccount } from '@cdktf/provider-google/lib/service-account';
import { createHash } from 'crypto';
import { Token } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import type { IGcpClusterNetwork } from './network';
import { ConstructPropError } from '../cdktf-adapter';
import { CidrError, parseIpv4Cidr } from '../net/cidr';

/** The only OAuth scope nodes get: access is then decided by IAM alone, which is scoped per secret. */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** Compute Engine's limit on one metadata value (`user-data` is one value): 256 KiB. */
export const GCP_METADATA_VALUE_MAX_BYTES = 262144;
/** Ubuntu 24.04 LTS (Slurm 23.11 in the archive, cgroup v2, gVNIC and Shielded VM support). */
export const DEFAULT_GCP_NODE_IMAGE = 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64';
/**
 * GPU nodes: Canonical's Ubuntu 24.04 accelerator image with the NVIDIA 580 driver, whose kernel modules are
 * signed (Secure Boot stays on). Cluster Toolkit's A3 Mega blueprint builds on the same image line (22.04, 570).
 */
export const DEFAULT_GCP_GPU_NODE_IMAGE = 'projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2404-amd64-with-nvidia-580';
/** Metadata every node carries: OS Login for SSH, no project-wide SSH keys, no interactive serial console. */
export const NODE_SECURITY_METADATA: Readonly<Record<string, string>> = Object.freeze({
  'enable-oslogin': 'TRUE',
  'block-project-ssh-keys': 'TRUE',
  'serial-port-enable': 'FALSE',
});
/** Key Compute Engine matches a specific reservation by (the same key slurm-gcp uses). */
export const RESERVATION_NAME_KEY = 'compute.googleapis.com/reservation-name';

const DISK_SIZE_GIB = { min: 10, max: 65536 } as const;
const DEFAULT_BOOT_DISK_GIB = 50;
const BOOT_DISK_TYPES = ['pd-ssd', 'pd-balanced'] as const;
const MAX_GPU_NICS = 8;
/** RFC 1035 label: what Compute Engine accepts for instance, disk, policy and device names. */
const GCE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** @internal */
export const GCE_NAME_MAX = 63;
/** The provider appends a 26-character unique suffix to `name_prefix`; past 37 it shortens it and collides more. */
/** @internal */
export const TEMPLATE_NAME_PREFIX_MAX = 37;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const PROJECT_ID = /^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const ACCOUNT_ID = /^[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const MACHINE_TYPE = /^[a-z][a-z0-9]*-[a-z0-9-]+$/;
/** @internal */
export const ZONE = /^[a-z]+-[a-z]+\d+-[a-z]$/;
const RESERVATION = /^(projects\/[a-z][-a-z0-9]{4,28}[a-z0-9]\/reservations\/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** The Compute Engine default service account: broad by default, so nodes never run as it. */
const DEFAULT_COMPUTE_SA = /^\d+-compute@developer\.gserviceaccount\.com$/;

/** @internal A Terraform reference, not a literal. */
export const isRef = (value: unknown): boolean => typeof value === 'string' && Token.isUnresolved(value);

/** @internal Throws a ConstructPropError naming `scope`. */
export function failer(scope: IConstruct) {
  return (field: string, value: unknown, problem: string, fix: string): never => {
    throw new ConstructPropError(scope, field, value, problem, fix);
  };
}

function checkProject(scope: IConstruct, field: string, project: string): void {
  if (typeof project !== 'string' || (!isRef(project) && !PROJECT_ID.test(project))) {
    failer(scope)(field, project, 'is not a GCP project ID', "Give the project ID, e.g. 'my-hpc-project', not its name or number");
  }
}

/** IAM members these helpers grant to: a node identity, never a person, a group or the public. */
function checkNodeMember(scope: IConstruct, member: string): void {
  if (typeof member !== 'string' || (!isRef(member) && !/^serviceAccount:[^@\s]+@[^@\s]+$/.test(member))) {
    failer(scope)('member', member, 'is not a service account member (`serviceAccount:<email>`)',
      'Pass the `member` of gcpServiceAccount(): node grants go to the node identity only');
  }
}

function checkLabels(scope: IConstruct, field: string, labels: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key)) {
      failer(scope)(`${field}.${key}`, key, 'is not a GCE label key (lower-case letter first, then lower-case letters, digits, _ or -; at most 63)',
        "Use e.g. 'team'");
    }
    if (!isRef(value) && (typeof value !== 'string' || !LABEL_VALUE.test(value))) {
      failer(scope)(`${field}.${key}`, value, 'is not a GCE label value (lower-case letters, digits, _ or -; at most 63)',
        "Use lower case, e.g. 'hpc'");
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Identity and secrets
// ---------------------------------------------------------------------------------------------------------------

/** A Slurm name (`gpu_lab`) as a Compute Engine name part: `_` is not allowed there. */
export function gcpName(slurmName: string): string {
  return slurmName.replace(/_/g, '-');
}

/**
 * A service account ID (6 to 30 of lower-case letters, digits and `-`, starting with a letter) for `base`: kept
 * when it fits, else cut to 23 characters plus a hash of the whole, so two long names never share an account.
 */
export function gcpAccountId(base: string): string {
  let id = base.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '');
  if (id.length > 30) id = `${id.slice(0, 23).replace(/-+$/, '')}-${createHash('sha256').update(base).digest('hex').slice(0, 6)}`;
  while (id.length < 6) id += '-node'.slice(0, 6 - id.length);
  return id;
}

/** The node.env secret source of a Secret Manager secret (`fetch_secret` in common.sh reads its latest version). */
export function gcpSecretSource(project: string, secretId: string): string {
  return `gcp-secretmanager:projects/${project}/secrets/${secretId}`;
}

/** The IAM member of the service account `accountId` of `project`, known before the account exists. */
export function gcpServiceAccountMember(project: string, accountId: string): string {
  return `serviceAccount:${accountId}@${project}.iam.gserviceaccount.com`;
}

export interface GcpServiceAccountProps {
  /** Project the account lives in. */
  readonly project: string;
  /** The part before `@`: 6 to 30 lower-case letters, digits and hyphens, starting with a letter. */
  readonly accountId: string;
  /** Shown in the console. */
  readonly displayName: string;
  /** @default none */
  readonly description?: string;
}

/** A node identity: the account, its email (for `service_account`) and its IAM member (for grants). */
export interface GcpNodeIdentity {
  readonly account: ServiceAccount;
  readonly email: string;
  /** `serviceAccount:<email>`. */
  readonly member: string;
}

/**
 * A service account for one node role. No key is ever created: the VM gets short-lived tokens from the metadata
 * server, so there is nothing to leak or rotate. It has no roles until the grant helpers below add them.
 */
export function gcpServiceAccount(scope: Construct, id: string, props: GcpServiceAccountProps): GcpNodeIdentity {
  checkProject(scope, 'project', props.project);
  if (typeof props.accountId !== 'string' || (!isRef(props.accountId) && !ACCOUNT_ID.test(props.accountId))) {
    failer(scope)('accountId', props.accountId, 'is not a service account ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)',
      "Use e.g. 'hpc-controller'");
  }
  const account = new ServiceAccount(scope, id, {
    project: props.project,
    accountId: props.accountId,
    displayName: props.displayName,
    description: props.description,
  });
  return { account, email: account.email, member: account.member };
}

export interface GcpSecretGrantProps {
  readonly project: string;
  /** The secret's ID (`secret_id`), e.g. `gcpSecret(...).secretId`. */
  readonly secretId: string;
  /** Who gets the role: a node identity's `member`. */
  readonly member: string;
  /**
   * The secret's resource, when this stack makes it: the binding waits for it (`secretId` is a literal, so Terraform
   * would otherwise create both at once, and the binding fails on a secret that does not exist yet).
   * @default none (a secret made elsewhere)
   */
  readonly secret?: SecretManagerSecret;
}

function grantOnSecret(scope: Construct, id: string, props: GcpSecretGrantProps, role: string): SecretManagerSecretIamMember {
  checkProject(scope, 'project', props.project);
  checkNodeMember(scope, props.member);
  if (typeof props.secretId !== 'string' || (!isRef(props.secretId) && !SECRET_ID.test(props.secretId))) {
    failer(scope)('secretId', props.secretId, 'is not a Secret Manager secret ID', 'Pass gcpSecret(...).secretId');
  }
  // A member binding, not a policy: other bindings on the secret stay untouched.
  return new SecretManagerSecretIamMember(scope, id, {
    project: props.project, secretId: props.secretId, role, member: props.member, ...(props.secret ? { dependsOn: [props.secret] } : {}),
  });
}

/** Lets `member` read the versions of this one secret (`roles/secretmanager.secretAccessor` on the secret, not the project). */
export function grantSecretAccess(scope: Construct, id: string, props: GcpSecretGrantProps): SecretManagerSecretIamMember {
  return grantOnSecret(scope, id, props, 'roles/secretmanager.secretAccessor');
}

/**
 * Lets `member` add versions to this one secret (`roles/secretmanager.secretVersionAdder`): the controller
 * generates the munge key, DB password and JWT key at first boot and stores them, so no value is ever in
 * Terraform state. It cannot read, disable or destroy versions with this role.
 */
export function grantSecretVersionAdder(scope: Construct, id: string, props: GcpSecretGrantProps): SecretManagerSecretIamMember {
  return grantOnSecret(scope, id, props, 'roles/secretmanager.secretVersionAdder');
}

export interface GcpProjectGrantProps {
  readonly project: string;
  /** A node identity's `member`. */
  readonly member: string;
}

/**
 * Lets `member` write logs and metrics (the Ops Agent's two roles), as project IAM members under `<id>/LogWriter`
 * and `<id>/MetricWriter`. Nothing broader: no Editor, and nodes never run as the default compute account.
 */
export function grantLogging(scope: Construct, id: string, props: GcpProjectGrantProps): ProjectIamMember[] {
  checkProject(scope, 'project', props.project);
  checkNodeMember(scope, props.member);
  const group = new Construct(scope, id);
  return [
    new ProjectIamMember(group, 'LogWriter', { project: props.project, role: 'roles/logging.logWriter', member: props.member }),
    new ProjectIamMember(group, 'MetricWriter', { project: props.project, role: 'roles/monitoring.metricWriter', member: props.member }),
  ];
}

export interface GcpSecretProps {
  readonly project: string;
  /** Letters, digits, `_` and `-`, at most 255; unique in the project. */
  readonly secretId: string;
  /** What the secret holds; stored as the `description` annotation (Secret Manager has no description field). */
  readonly description: string;
  /** @default none */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Make Terraform refuse to delete the secret. Losing the munge key means every node must be re-keyed.
   * @default false (a test cluster can be destroyed in one go)
   */
  readonly deletionProtection?: boolean;
}

/**
 * An empty secret with automatic replication. No version is created here: the value is generated on the VM and
 * added there (see grantSecretVersionAdder), so it never passes through Terraform or its state.
 */
export function gcpSecret(scope: Construct, id: string, props: GcpSecretProps): SecretManagerSecret {
  checkProject(scope, 'project', props.project);
  if (typeof props.secretId !== 'string' || (!isRef(props.secretId) && !SECRET_ID.test(props.secretId))) {
    failer(scope)('secretId', props.secretId, 'is not a Secret Manager secret ID (letters, digits, _ and -, at most 255)',
      "Use e.g. 'hpc-munge-key'");
  }
  checkLabels(scope, 'labels', props.labels ?? {});
  return new SecretManagerSecret(scope, id, {
    project: props.project,
    secretId: props.secretId,
    replication: { auto: {} },
    labels: props.labels ? { ...props.labels } : undefined,
    annotations: { description: props.description },
    deletionProtection: props.deletionProtection ?? false,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// VMs
// ---------------------------------------------------------------------------------------------------------------

/** `monitor` is the cluster's Prometheus/Grafana VM: not a Slurm node, but on the cluster network like one. */
export type GcpNodeRole = 'controller' | 'login' | 'compute' | 'monitor';
export type GcpBootDiskType = (typeof BOOT_DISK_TYPES)[number];

/** What every cluster VM is made from, whether through a template or as a single instance. */
export interface GcpNodeProps {
  /**
   * The cluster network: NIC 0 goes on `system`, GPU NICs on `gpuNetworks` in order. Compute Engine does not require
   * all NICs of a VM to share an MTU, but TCPXO traffic and the system path both expect jumbo frames on A3 Mega:
   * keep `systemMtu` and `mtu` at 8244 there (GcpClusterNetwork's default), as Cluster Toolkit's blueprint does.
   */
  readonly network: IGcpClusterNetwork;
  /** Compute Engine machine type, e.g. `a3-megagpu-8g` or `n2-standard-8`. */
  readonly machineType: string;
  /** From the caller's machine table: GPU VMs cannot live-migrate, so they get `on_host_maintenance = TERMINATE`. */
  readonly isGpu: boolean;
  /** From the caller's machine table: NICs besides NIC 0, one per GPU VPC (a3-megagpu-8g: 8; most types: 0). */
  readonly gpuNics: number;
  /** The cloud-init text, as the `user-data` metadata value (at most 256 KiB; references are not measured). */
  readonly userData: string;
  /** Email of the node identity (gcpServiceAccount().email); never the default compute account. */
  readonly serviceAccountEmail: string;
  /** Value of the `slurm-cluster` label. */
  readonly clusterName: string;
  /** Value of the `slurm-role` label. */
  readonly role: GcpNodeRole;
  /** Value of the `slurm-pool` label. @default no `slurm-pool` label */
  readonly pool?: string;
  /** Boot image: an image or image family self link or `project/family` path. @default {@link DEFAULT_GCP_NODE_IMAGE} */
  readonly image?: string;
  /** Boot disk size, 10 to 65536 GiB. @default 50 */
  readonly bootDiskSizeGiB?: number;
  /** Boot disk type. @default `'pd-balanced'` */
  readonly bootDiskType?: GcpBootDiskType;
  /**
   * Spot VMs: `provisioning_model = SPOT`, deleted (not stopped) when reclaimed. Not with `reservationName`.
   * @default false
   */
  readonly spot?: boolean;
  /**
   * A specific reservation to consume (its name, or `projects/<p>/reservations/<name>` for a shared one). Without
   * one, the VM may use any matching automatically-consumed reservation (Compute Engine's `ANY_RESERVATION`).
   * @default none (`ANY_RESERVATION`)
   */
  readonly reservationName?: string;
  /** Add the network's `iapSshTag`, which admits SSH from IAP (and `sshSourceRanges`). @default false */
  readonly sshViaIap?: boolean;
  /**
   * Shielded VM Secure Boot: only signed kernel modules load. vTPM and integrity monitoring stay on regardless.
   * Turn it off only for a module the image builds itself (DKMS), e.g. GPUDirect-TCPXO's dmabuf import helper.
   * @default true
   */
  readonly secureBoot?: boolean;
  /** More labels, merged under the `slurm-*` ones. @default none */
  readonly labels?: Readonly<Record<string, string>>;
}

/** @internal The validated settings both VM shapes are built from, in provider field names. */
export interface NodeSettings {
  readonly project: string;
  readonly machineType: string;
  readonly labels: Record<string, string>;
  readonly tags: string[];
  readonly metadata: Record<string, string>;
  readonly nics: { network: string; subnetwork: string; nicType: 'GVNIC' }[];
  readonly scheduling: {
    provisioningModel: 'SPOT' | 'STANDARD';
    preemptible: boolean;
    automaticRestart: boolean;
    onHostMaintenance: 'TERMINATE' | 'MIGRATE';
    instanceTerminationAction?: 'DELETE';
  };
  readonly reservationAffinity: {
    type: 'SPECIFIC_RESERVATION' | 'ANY_RESERVATION';
    specificReservation?: { key: string; values: string[] };
  };
  readonly serviceAccount: { email: string; scopes: string[] };
  readonly shieldedInstanceConfig: { enableSecureBoot: boolean; enableVtpm: true; enableIntegrityMonitoring: true };
  readonly bootDisk: { image: string; sizeGiB: number; type: GcpBootDiskType };
}

/** @internal */
export function nodeSettings(scope: IConstruct, props: GcpNodeProps, hasPlacementPolicy: boolean): NodeSettings {
  const fail = failer(scope);
  const { network } = props;
  if (!network || network.cloud !== 'gcp') {
    fail('network', network?.cloud, 'is not a GCP cluster network', 'Pass a GcpClusterNetwork');
  }

  if (typeof props.machineType !== 'string' || (!isRef(props.machineType) && !MACHINE_TYPE.test(props.machineType))) {
    fail('machineType', props.machineType, 'is not a Compute Engine machine type', "Use e.g. 'a3-megagpu-8g' or 'n2-standard-8'");
  }
  if (typeof props.isGpu !== 'boolean') fail('isGpu', props.isGpu, 'must be true or false', 'Take it from the machine-type table');
  if (!Number.isInteger(props.gpuNics) || props.gpuNics < 0 || props.gpuNics > MAX_GPU_NICS) {
    fail('gpuNics', props.gpuNics, `must be a whole number from 0 to ${MAX_GPU_NICS}`, 'Take it from the machine-type table (a3-megagpu-8g: 8)');
  }
  if (props.gpuNics > 0 && !props.isGpu) {
    fail('gpuNics', props.gpuNics, 'is set for a machine type marked isGpu = false', 'Fix the machine-type table entry');
  }
  const found = network.gpuNetworks.length;
  if (props.gpuNics > found) {
    fail('network.gpuNetworks', found, `${props.machineType} needs ${props.gpuNics} GPU networks (one per GPU NIC), found ${found}`,
      `Create the network with new GcpClusterNetwork(..., { gpuNetworkCount: ${props.gpuNics} })`);
  }

  // --- Metadata: user-data must fit one metadata value.
  if (typeof props.userData !== 'string' || props.userData.length === 0) {
    fail('userData', props.userData, 'is empty', 'Pass the rendered cloud-init text');
  }
  if (!Token.isUnresolved(props.userData)) {
    const bytes = Buffer.byteLength(props.userData, 'utf8');
    if (bytes > GCP_METADATA_VALUE_MAX_BYTES) {
      fail('userData', `${bytes} bytes`, `is over Compute Engine's ${GCP_METADATA_VALUE_MAX_BYTES}-byte (256 KiB) limit on one metadata value`,
        'Move large scripts to Cloud Storage and fetch them at boot, or compress the cloud-config');
    }
  }

  const email = props.serviceAccountEmail;
  if (typeof email !== 'string' || (!isRef(email) && !/^[^@\s]+@[^@\s]+$/.test(email))) {
    fail('serviceAccountEmail', email, 'is not a service account email', 'Pass gcpServiceAccount(...).email');
  }
  if (!isRef(email) && DEFAULT_COMPUTE_SA.test(email)) {
    fail('serviceAccountEmail', email, 'is the Compute Engine default service account, which holds project-wide Editor by default',
      'Create a node identity with gcpServiceAccount() and grant it only what the node needs');
  }

  // --- Boot disk.
  const sizeGiB = props.bootDiskSizeGiB ?? DEFAULT_BOOT_DISK_GIB;
  if (!Number.isInteger(sizeGiB) || sizeGiB < DISK_SIZE_GIB.min || sizeGiB > DISK_SIZE_GIB.max) {
    fail('bootDiskSizeGiB', props.bootDiskSizeGiB, `must be a whole number from ${DISK_SIZE_GIB.min} to ${DISK_SIZE_GIB.max} GiB`,
      `Use at least the image size, e.g. ${DEFAULT_BOOT_DISK_GIB}`);
  }
  const diskType = props.bootDiskType ?? 'pd-balanced';
  if (!(BOOT_DISK_TYPES as readonly string[]).includes(diskType)) {
    fail('bootDiskType', diskType, `is not one of ${BOOT_DISK_TYPES.join(', ')}`, "Use 'pd-ssd' for busy nodes, 'pd-balanced' otherwise");
  }

  // --- Provisioning: Spot, reservation.
  const spot = props.spot ?? false;
  if (typeof spot !== 'boolean') fail('spot', spot, 'must be true or false', 'Leave it out for standard VMs');
  if (props.secureBoot !== undefined && typeof props.secureBoot !== 'boolean') {
    fail('secureBoot', props.secureBoot, 'must be true or false', 'Leave it out to keep Secure Boot on');
  }
  const reservation = props.reservationName;
  if (reservation !== undefined) {
    if (typeof reservation !== 'string' || (!isRef(reservation) && !RESERVATION.test(reservation))) {
      fail('reservationName', reservation, 'is not a reservation name', "Give its name, e.g. 'a3mega-res', or 'projects/<project>/reservations/<name>'");
    }
    if (spot) {
      fail('reservationName', reservation, 'is combined with spot = true, but a pool is provisioned one way: reserved or Spot',
        'Leave out spot to consume the reservation, or leave out reservationName for Spot capacity');
    }
  }

  // --- Labels and tags.
  const labels: Record<string, string> = {
    ...(props.labels ?? {}),
    'slurm-cluster': props.clusterName,
    'slurm-role': props.role,
    ...(props.pool !== undefined ? { 'slurm-pool': props.pool } : {}),
  };
  if (!['controller', 'login', 'compute', 'monitor'].includes(props.role)) {
    fail('role', props.role, 'is not a node role', "Use 'controller', 'login', 'compute' or 'monitor'");
  }
  checkLabels(scope, 'labels', labels);
  const sshViaIap = props.sshViaIap ?? false;
  const tags = sshViaIap ? [network.clusterTag, network.iapSshTag] : [network.clusterTag];

  // --- Where the NICs go: system first, then the GPU VPCs in NIC order. None gets an access_config, so no VM
  // has a public address; egress goes through the network's Cloud NAT.
  const nics = [network.system, ...network.gpuNetworks.slice(0, props.gpuNics)]
    .map((s) => ({ network: s.networkSelfLink, subnetwork: s.subnetworkSelfLink, nicType: 'GVNIC' as const }));

  // GPUs and placement policies rule out live migration; Spot VMs cannot migrate or restart either.
  const terminate = props.isGpu || hasPlacementPolicy || spot;
  const scheduling: NodeSettings['scheduling'] = spot
    ? { provisioningModel: 'SPOT', preemptible: true, automaticRestart: false, onHostMaintenance: 'TERMINATE', instanceTerminationAction: 'DELETE' }
    : { provisioningModel: 'STANDARD', preemptible: false, automaticRestart: true, onHostMaintenance: terminate ? 'TERMINATE' : 'MIGRATE' };

  return {
    project: network.project,
    machineType: props.machineType,
    labels,
    tags,
    metadata: { 'user-data': props.userData, ...NODE_SECURITY_METADATA },
    nics,
    scheduling,
    reservationAffinity: reservation !== undefined
      ? { type: 'SPECIFIC_RESERVATION', specificReservation: { key: RESERVATION_NAME_KEY, values: [reservation] } }
      : { type: 'ANY_RESERVATION' },
    serviceAccount: { email, scopes: [CLOUD_PLATFORM_SCOPE] },
    shieldedInstanceConfig: { enableSecureBoot: props.secureBoot ?? true, enableVtpm: true, enableIntegrityMonitoring: true },
    bootDisk: { image: props.image ?? DEFAULT_GCP_NODE_IMAGE, sizeGiB, type: diskType },
  };
}

export interface GcpStateDiskProps {
  /** Size, 10 to 65536 GiB. */
  readonly sizeGiB: number;
  /**
   * Name the guest sees it by: `/dev/disk/by-id/google-<deviceName>`.
   * @default `'slurm-state'`
   */
  readonly deviceName?: string;
  /** @default `'pd-ssd'` (slurmctld writes its state often and waits on it) */
  readonly type?: GcpBootDiskType;
}

export interface GcpStaticInstanceProps extends GcpNodeProps {
  /** Instance name, which is also the host name: lower-case letters, digits and hyphens, at most 63. */
  readonly name: string;
  /** @default the network's zone */
  readonly zone?: string;
  /**
   * Fixed internal address of NIC 0, inside the system subnet, so other nodes' user-data can name it without
   * waiting for apply. The subnet's first two and last two addresses are Google's.
   * @default an address Compute Engine picks at apply time
   */
  readonly networkIp?: string;
  /** Make Compute Engine refuse to delete the VM. @default false */
  readonly deletionProtection?: boolean;
  /**
   * Let Terraform stop the VM to change its machine type or service account; without it such a plan fails.
   * @default false (a controller never stops by surprise during an apply)
   */
  readonly allowStoppingForUpdate?: boolean;
  /** An extra persistent disk (`<name>-state`) for the controller's StateSaveLocation; it outlives the VM. @default none */
  readonly stateDisk?: GcpStateDiskProps;
}

export interface GcpStaticNode {
  readonly instance: ComputeInstance;
  readonly stateDisk?: ComputeDisk;
  /** NIC 0's address: the literal `networkIp`, or a reference known after apply. */
  readonly networkIp: string;
}

/**
 * A controller or login VM (`<scope>/<id>/Instance`): a plain `google_compute_instance` with the same settings a
 * template would carry. Not `google_compute_instance_from_template`: that resource is replaced whenever its
 * template changes, and overriding NIC 0's address means restating every NIC anyway. Here metadata, labels and
 * tags update in place (cloud-init does not re-run changed user-data) and the state disk is a separate resource.
 */
export function gcpStaticInstance(scope: Construct, id: string, props: GcpStaticInstanceProps): GcpStaticNode {
  const self = new Construct(scope, id);
  const fail = failer(self);
  if (typeof props.name !== 'string' || isRef(props.name) || !GCE_NAME.test(props.name)) {
    fail('name', props.name, `must be a literal of lower-case letters, digits and hyphens, starting with a letter, at most ${GCE_NAME_MAX}`,
      "Use e.g. 'hpc-controller'");
  }
  const zone = props.zone ?? props.network.zone;
  if (typeof zone !== 'string' || (!isRef(zone) && !ZONE.test(zone))) fail('zone', zone, 'is not a GCP zone', "Use e.g. 'us-central1-a'");
  const settings = nodeSettings(self, props, false);

  if (props.networkIp !== undefined) checkNetworkIp(self, props.networkIp, props.network.system.cidr);

  let stateDisk: ComputeDisk | undefined;
  let deviceName: string | undefined;
  if (props.stateDisk) {
    const d = props.stateDisk;
    if (!Number.isInteger(d.sizeGiB) || d.sizeGiB < DISK_SIZE_GIB.min || d.sizeGiB > DISK_SIZE_GIB.max) {
      fail('stateDisk.sizeGiB', d.sizeGiB, `must be a whole number from ${DISK_SIZE_GIB.min} to ${DISK_SIZE_GIB.max} GiB`, 'Use e.g. 50');
    }
    deviceName = d.deviceName ?? 'slurm-state';
    if (!GCE_NAME.test(deviceName)) {
      fail('stateDisk.deviceName', deviceName, 'must be lower-case letters, digits and hyphens, starting with a letter', "Use e.g. 'slurm-state'");
    }
    const type = d.type ?? 'pd-ssd';
    if (!(BOOT_DISK_TYPES as readonly string[]).includes(type)) {
      fail('stateDisk.type', type, `is not one of ${BOOT_DISK_TYPES.join(', ')}`, "Use 'pd-ssd'");
    }
    const diskName = `${props.name}-state`;
    if (diskName.length > GCE_NAME_MAX) {
      fail('name', props.name, `makes the state disk name '${diskName}' longer than ${GCE_NAME_MAX}`, `Use at most ${GCE_NAME_MAX - 6} characters`);
    }
    stateDisk = new ComputeDisk(self, 'StateDisk', {
      project: settings.project,
      zone,
      name: diskName,
      type,
      size: d.sizeGiB,
      labels: settings.labels,
    });
  }

  const instance = new ComputeInstance(self, 'Instance', {
    project: settings.project,
    zone,
    name: props.name,
    machineType: settings.machineType,
    labels: settings.labels,
    tags: settings.tags,
    metadata: settings.metadata,
    canIpForward: false,
    deletionProtection: props.deletionProtection ?? false,
    allowStoppingForUpdate: props.allowStoppingForUpdate ?? false,
    bootDisk: {
      autoDelete: true,
      initializeParams: {
        image: settings.bootDisk.image,
        size: settings.bootDisk.sizeGiB,
        type: settings.bootDisk.type,
        labels: settings.labels,
      },
    },
    networkInterface: settings.nics.map((nic, i) => (i === 0 && props.networkIp !== undefined ? { ...nic, networkIp: props.networkIp } : nic)),
    attachedDisk: stateDisk ? [{ source: stateDisk.selfLink, deviceName, mode: 'READ_WRITE' }] : undefined,
    serviceAccount: settings.serviceAccount,
    shieldedInstanceConfig: settings.shieldedInstanceConfig,
    scheduling: settings.scheduling,
    reservationAffinity: settings.reservationAffinity,
  });
  return { instance, stateDisk, networkIp: props.networkIp ?? instance.networkInterface.get(0).networkIp };
}

/** A literal address must be a usable host of the system subnet; Google keeps the first two and the last two. */
function checkNetworkIp(scope: IConstruct, ip: string, subnetCidr: string): void {
  const fail = failer(scope);
  if (isRef(ip)) return;
  let host: number;
  try {
    host = parseIpv4Cidr(`${ip}/32`).first;
  } catch (e) {
    if (e instanceof CidrError) return fail('networkIp', ip, 'is not an IPv4 address', "Use e.g. '10.0.0.2'");
    throw e;
  }
  if (isRef(subnetCidr)) return;
  const subnet = parseIpv4Cidr(subnetCidr);
  const index = host - subnet.first;
  if (index < 0 || index >= subnet.size) {
    fail('networkIp', ip, `is outside the system subnet ${subnet.cidr}`, `Pick an address inside ${subnet.cidr}`);
  }
  if (index < 2 || index >= subnet.size - 2) {
    fail('networkIp', ip, `is reserved by Google in ${subnet.cidr} (network, gateway, second-to-last and broadcast addresses)`,
      'Pick another address of the subnet, e.g. its third');
  }
}
