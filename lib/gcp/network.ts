import type { ITerraformDependable } from 'cdktf';
import type { IClusterNetwork } from '../backend';

/** One VPC with its single subnet, as VMs attach to it (one NIC each). */
export interface GcpSubnet {
  readonly networkSelfLink: string;
  readonly subnetworkSelfLink: string;
  readonly cidr: string;
  readonly mtu: number;
}

/** What controllers, login nodes and pools need from a GCP cluster network. */
export interface IGcpClusterNetwork extends IClusterNetwork {
  readonly cloud: 'gcp';
  readonly project: string;
  readonly region: string;
  /** Zone the cluster's VMs go to (A3 Mega capacity is zonal). */
  readonly zone: string;
  /** The system VPC (NIC 0 of every VM): controller, login, Slurm traffic, NAT egress. */
  readonly system: GcpSubnet;
  /** Extra GPU VPCs, in NIC order (A3 Mega: 8, each one subnet, MTU 8244); empty when none were asked for. */
  readonly gpuNetworks: readonly GcpSubnet[];
  /** Network tag every cluster VM carries; intra-cluster firewall rules match it. */
  readonly clusterTag: string;
  /** Network tag for VMs that accept SSH through IAP (35.235.240.0/20) only. */
  readonly iapSshTag: string;
  /** The system VPC's ID (`projects/<project>/global/networks/<name>`), as peered services (Managed Lustre) take it. */
  readonly systemNetworkId: string;
  /**
   * Private services access on the system VPC, made on first call: one allocated /20 and the peering with Google's
   * service producers, which Managed Lustre, Cloud SQL and Filestore attach through (one peering per VPC, so every
   * such service shares it).
   */
  privateServiceAccess(): PrivateServiceAccess;
}

/** The private services range of a cluster network and what must exist before a service uses it. */
export interface PrivateServiceAccess {
  /** The allocated range as `<address>/<prefix>` (known after apply). */
  readonly rangeCidr: string;
  /** The peering: services depend on it. */
  readonly connection: ITerraformDependable;
}
