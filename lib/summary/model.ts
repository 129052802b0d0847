/**
 * What a cluster is made of, as the plan summary and the diagram see it: each public construct describes itself
 * as one part (plain data), the summary is assembled from the parts of one cluster. No cdktf here.
 */

/** Where a host set runs. Docker and SSH hosts are the user's own hardware. */
export type PartCloud = 'aws' | 'gcp' | 'docker' | 'ssh';

export interface NetworkPart {
  readonly kind: 'network';
  readonly name: string;
  readonly cloud: 'aws' | 'gcp';
  readonly cidr: string;
  /** How people get in: `bastion t3.micro (SSH from 203.0.113.0/24)`, `IAP TCP forwarding`. */
  readonly access: string;
  /** The bastion's instance type, priced with the network. */
  readonly bastionType?: string;
  /** NAT gateways (AWS) or Cloud NAT routers (GCP), priced per hour. */
  readonly natGateways: number;
  /** Extra networks, e.g. the 8 GPUDirect-TCPXO data networks of A3 Mega. */
  readonly gpuNetworks: number;
}

export interface ControllerPart {
  readonly kind: 'controller';
  readonly cluster: string;
  readonly cloud: string;
  readonly instanceType: string;
  readonly hostname: string;
  readonly mounts: readonly string[];
  /** GiB of extra disks the controller carries (slurmctld state, NFS exports). */
  readonly diskGiB: number;
  readonly accounting: string;
  readonly restApi: boolean;
  /** `tailscale` when on-prem nodes join over a mesh. */
  readonly mesh?: string;
  readonly partitions: readonly { readonly name: string; readonly pools: readonly string[]; readonly isDefault: boolean }[];
}

export interface LoginPart {
  readonly kind: 'login';
  readonly cluster: string;
  readonly name: string;
  readonly cloud: string;
  readonly instanceType: string;
  readonly mounts: readonly string[];
}

export interface PoolPart {
  readonly kind: 'pool';
  readonly cluster: string;
  readonly name: string;
  /** The placement's kind (`INodePlacement.kind`): one of `PartCloud`, or a placement of your own (left unpriced). */
  readonly cloud: string;
  /** EC2 instance type or Compute Engine machine type; the host description for Docker/SSH pools. */
  readonly instanceType: string;
  /** Nodes always up. */
  readonly staticNodes: number;
  /** Most nodes at once (static + on demand). */
  readonly maxNodes: number;
  readonly gpusPerNode: number;
  readonly gpuModel?: string;
  readonly spot: boolean;
  readonly mounts: readonly string[];
  /** The fabric between nodes, e.g. `EFA`, `GPUDirect-TCPXO`, `mesh`. */
  readonly fabric?: string;
}

export interface FileSystemPart {
  readonly kind: 'filesystem';
  readonly cluster: string;
  readonly name: string;
  /** `FSx for Lustre`, `Managed Lustre`, `CephFS`, `NFS`. */
  readonly type: string;
  readonly mountPoint: string;
  readonly capacityGiB?: number;
  /** Where it is served from: `FSx (PERSISTENT_2, 250 MB/s/TiB)`, `controller`, `MicroCeph VM m6i.large`. */
  readonly server: string;
  /** What prices it: a per-GiB-month storage key of the price table and/or a VM type. */
  readonly priceKey?: string;
  readonly serverInstanceType?: string;
}

export interface MonitoringPart {
  readonly kind: 'monitoring';
  readonly cluster: string;
  readonly cloud: string;
  /** `controller`, or the VM's instance type. */
  readonly onController: boolean;
  readonly instanceType?: string;
  readonly diskGiB: number;
}

/** Something a person connects to, and how. */
export interface EndpointPart {
  readonly kind: 'endpoint';
  readonly cluster?: string;
  readonly name: string;
  readonly reach: string;
}

export type ClusterPart = NetworkPart | ControllerPart | LoginPart | PoolPart | FileSystemPart | MonitoringPart | EndpointPart;

/** The parts of one cluster (its network included), as the summary needs them. */
export interface ClusterPlan {
  readonly stack: string;
  readonly cluster: string;
  readonly networks: readonly NetworkPart[];
  readonly controller: ControllerPart;
  readonly logins: readonly LoginPart[];
  readonly pools: readonly PoolPart[];
  readonly fileSystems: readonly FileSystemPart[];
  readonly monitoring?: MonitoringPart;
  readonly endpoints: readonly EndpointPart[];
}

/** Groups described parts into the plan of `cluster`; undefined when no controller of that name is among them. */
export function clusterPlan(stack: string, cluster: string, parts: readonly ClusterPart[]): ClusterPlan | undefined {
  const mine = <K extends ClusterPart['kind']>(kind: K) =>
    parts.filter((p): p is Extract<ClusterPart, { kind: K }> => p.kind === kind && (!('cluster' in p) || p.cluster === undefined || p.cluster === cluster));
  const controller = mine('controller')[0];
  if (!controller) return undefined;
  return {
    stack,
    cluster,
    networks: mine('network'),
    controller,
    logins: mine('login'),
    pools: mine('pool'),
    fileSystems: mine('filesystem'),
    monitoring: mine('monitoring')[0],
    endpoints: mine('endpoint'),
  };
}
