import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall';
import { ComputeGlobalAddress } from '@cdktf/provider-google/lib/compute-global-address';
import { ComputeNetwork } from '@cdktf/provider-google/lib/compute-network';
import { ComputeRouter } from '@cdktf/provider-google/lib/compute-router';
import { ComputeRouterNat } from '@cdktf/provider-google/lib/compute-router-nat';
import { ComputeSubnetwork } from '@cdktf/provider-google/lib/compute-subnetwork';
import { ServiceNetworkingConnection } from '@cdktf/provider-google/lib/service-networking-connection';
import { Token } from 'cdktf';
import { Construct } from 'constructs';
import {
  CidrError,
  cidrsOverlap,
  firstOverlap,
  parseIpv4Cidr,
  sshSourceIssue,
  subdivide,
  subnetCount,
} from '../net/cidr';
import { suppressPolicyRule } from '../policy/security-policy';
import { describeForPlan } from './plan-summary';
import type { IClusterBackend } from '../backend';
import type { GcpSubnet, IGcpClusterNetwork, PrivateServiceAccess } from '../gcp/network';
import { gcpBackend } from '../gcp/backend';
import { ConstructPropError } from '../cdktf-adapter';

export type { GcpSubnet, IGcpClusterNetwork, PrivateServiceAccess };

export interface GcpClusterNetworkProps {
  /** Project ID the network lives in; a literal or a Terraform reference. */
  readonly project: string;
  /** Region of every subnet, router and NAT, e.g. `us-central1`; a literal or a Terraform reference. */
  readonly region: string;
  /** Zone inside `region` the VMs go to, e.g. `us-central1-a`; a literal or a Terraform reference. */
  readonly zone: string;
  /**
   * Start of every resource name and network tag (`<namePrefix>-net`, `<namePrefix>-gpunet-0`, …): lower-case
   * letters, digits and hyphens, starting with a letter, short enough that the longest name stays within GCP's 63.
   * A literal: renaming replaces every resource.
   */
  readonly namePrefix: string;
  /**
   * Primary range of the system subnet (controller, login, NIC 0 of compute).
   * @default `'10.0.0.0/20'` (4,092 usable addresses)
   */
  readonly systemCidr?: string;
  /**
   * MTU of the system VPC, 1300 to 8896. Cluster Toolkit's A3 Mega blueprints give their system network 8244,
   * the same as the GPU VPCs, so every NIC of an A3 Mega VM agrees.
   * @default 8244
   */
  readonly systemMtu?: number;
  /**
   * Extra VPCs for GPU-to-GPU traffic, one NIC each, from 0 to 8. A3 Mega (GPUDirect-TCPXO) needs 8.
   * @default 0
   */
  readonly gpuNetworkCount?: number;
  /**
   * One subnet range per GPU VPC, in NIC order, overlapping nothing.
   * @default derived: consecutive /20s of `gpuNetworkSupernet` (`10.128.0.0/20`, `10.128.16.0/20`, …)
   */
  readonly gpuNetworkCidrs?: string[];
  /**
   * Block the default GPU subnet ranges are carved from (one /20 each, in order); used only without `gpuNetworkCidrs`.
   * @default `'10.128.0.0/9'`
   */
  readonly gpuNetworkSupernet?: string;
  /**
   * MTU of every GPU VPC, 1300 to 8896. 8244 is Google's value for A3 Mega (GPUDirect-TCPXO).
   * @default 8244
   */
  readonly mtu?: number;
  /**
   * IPv4 ranges (your office or VPN, /8 or narrower) also allowed to reach port 22 on VMs tagged `iapSshTag`,
   * in a rule of their own. Never `0.0.0.0/0`.
   * @default none: SSH only through IAP (35.235.240.0/20)
   */
  readonly sshSourceRanges?: string[];
  /**
   * VPC flow logs on the system subnet: 5-minute aggregation, half of the flows sampled, all metadata.
   * GPU subnets carry only the TCPXO data path and get none.
   * @default true
   */
  readonly flowLogs?: boolean;
}

/** Identity-Aware Proxy's TCP-forwarding source range: SSH through IAP arrives from here. */
export const IAP_TCP_FORWARDING_RANGE = '35.235.240.0/20';
const DEFAULT_SYSTEM_CIDR = '10.0.0.0/20';
const DEFAULT_GPU_SUPERNET = '10.128.0.0/9';
const GPU_SUBNET_PREFIX = 20;
/** Google's MTU for A3 Mega VPCs; Cluster Toolkit's A3 Mega blueprints use it for the system network too. */
const A3_MEGA_MTU = 8244;
const MTU_RANGE = { min: 1300, max: 8896 } as const; // GCP VPC limits
const MAX_GPU_NETWORKS = 8; // A3 Mega's 8 data NICs
/** Size of the private services range: a /20 is Google's recommendation for Managed Lustre. */
const PRIVATE_SERVICE_PREFIX = 20;
/** GCP accepts /29 as the smallest primary range; wider than /8 is never what a cluster means. */
const SUBNET_PREFIX_RANGE = { min: 8, max: 29 } as const;
/** GCP resource names and network tags: RFC 1035 labels of at most 63 characters. */
const GCP_NAME_MAX = 63;
const NAME_PREFIX_PATTERN = /^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$/;
const REGION_PATTERN = /^[a-z]+-[a-z]+\d+$/;
/** Project IDs: 6–30 characters, optionally behind a legacy `domain:` scope. */
const PROJECT_PATTERN = /^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$/;
/** Everything the TCPXO data path, Slurm and NCCL bootstrap can use; ports unset means all ports. */
const ALL_TCP_UDP_ICMP = [{ protocol: 'tcp' }, { protocol: 'udp' }, { protocol: 'icmp' }];

/** Every name this construct appends to `namePrefix`, in one place so the length check cannot drift from use. */
const SUFFIX = {
  network: '-net',
  subnet: '-subnet',
  router: '-router',
  nat: '-nat',
  allowInternal: '-allow-internal',
  allowIapSsh: '-allow-iap-ssh',
  allowSsh: '-allow-ssh',
  clusterTag: '-cluster',
  privateServiceRange: '-psa',
  iapSshTag: '-iap-ssh',
  gpuNetwork: (i: number) => `-gpunet-${i}`,
  gpuSubnet: (i: number) => `-gpunet-${i}-subnet`,
  gpuAllowInternal: (i: number) => `-gpunet-${i}-allow-internal`,
} as const;
/** Worst case over all GPU indexes, so adding GPU VPCs later never makes a valid prefix invalid. */
const LONGEST_SUFFIX = Object.values(SUFFIX)
  .map((s) => (typeof s === 'function' ? s(MAX_GPU_NETWORKS - 1) : s))
  .reduce((a, b) => (b.length > a.length ? b : a));
const NAME_PREFIX_MAX = Math.min(40, GCP_NAME_MAX - LONGEST_SUFFIX.length);

/**
 * The GCP network of a Slurm GPU cluster: a system VPC (one subnet, Private Google Access, flow logs, Cloud NAT for
 * egress) and optionally up to 8 GPU VPCs (one subnet each, jumbo MTU) for A3 Mega's GPUDirect-TCPXO NICs.
 * Inbound, the system VPC admits only traffic between VMs tagged `clusterTag` and SSH to VMs tagged `iapSshTag`
 * from IAP (plus `sshSourceRanges`); GCP's implied deny-ingress rule drops the rest. Each GPU VPC admits only its own
 * subnet. No VM gets a public IP from here.
 */
export class GcpClusterNetwork extends Construct implements IGcpClusterNetwork {
  readonly cloud = 'gcp' as const;
  /** What the cluster's constructs ask of Compute Engine. */
  readonly backend: IClusterBackend = gcpBackend(this);
  readonly project: string;
  readonly region: string;
  readonly zone: string;
  readonly system: GcpSubnet;
  readonly gpuNetworks: readonly GcpSubnet[];
  readonly clusterTag: string;
  readonly iapSshTag: string;
  readonly systemNetworkId: string;
  private psa?: PrivateServiceAccess;
  private readonly systemNetwork: ComputeNetwork;
  private readonly namePrefix: string;

  constructor(scope: Construct, id: string, props: GcpClusterNetworkProps) {
    super(scope, id);
    const layout = this.validate(props);
    const { project, region } = props;
    const name = (suffix: string) => `${props.namePrefix}${suffix}`;
    this.project = project;
    this.region = region;
    this.zone = props.zone;
    this.clusterTag = name(SUFFIX.clusterTag);
    this.iapSshTag = name(SUFFIX.iapSshTag);
    describeForPlan(this, () => ({
      kind: 'network',
      name: this.node.id,
      cloud: 'gcp',
      cidr: layout.systemCidr,
      access: `IAP TCP forwarding with OS Login${layout.sshRanges.length ? `; SSH from ${layout.sshRanges.join(', ')}` : ''}`,
      natGateways: 1,
      gpuNetworks: layout.gpuCidrs.length,
    }));

    // --- System VPC.
    const network = new ComputeNetwork(this, 'Network', {
      project,
      name: name(SUFFIX.network),
      // Constant: a description change replaces the network, and every VM attached to it with it.
      description: 'Slurm cluster system network: controller, login, Slurm traffic, NAT egress',
      autoCreateSubnetworks: false,
      routingMode: 'REGIONAL',
      mtu: layout.systemMtu,
    });
    const subnet = new ComputeSubnetwork(this, 'Subnet', {
      project,
      region,
      name: name(SUFFIX.subnet),
      network: network.selfLink,
      ipCidrRange: layout.systemCidr,
      // VMs have no public IP: Google APIs (Secret Manager, Artifact Registry, GCS) are reached privately.
      privateIpGoogleAccess: true,
      // A log_config block is what turns flow logs on. The system VPC also carries storage traffic, so flows are
      // aggregated over 5 minutes to keep log volume down while still recording every connection.
      logConfig: layout.flowLogs ? {
        aggregationInterval: 'INTERVAL_5_MIN',
        flowSampling: 0.5,
        metadata: 'INCLUDE_ALL_METADATA',
      } : undefined,
    });
    this.system = { networkSelfLink: network.selfLink, subnetworkSelfLink: subnet.selfLink, cidr: layout.systemCidr, mtu: layout.systemMtu };
    this.systemNetwork = network;
    this.systemNetworkId = network.id;
    this.namePrefix = props.namePrefix;

    // Private VMs reach apt mirrors and container registries through Cloud NAT; nothing can connect in through it.
    const router = new ComputeRouter(this, 'Router', {
      project,
      region,
      name: name(SUFFIX.router),
      network: network.selfLink,
      description: 'Cloud Router of the cluster NAT',
    });
    new ComputeRouterNat(this, 'Nat', {
      project,
      region,
      name: name(SUFFIX.nat),
      router: router.name,
      natIpAllocateOption: 'AUTO_ONLY',
      sourceSubnetworkIpRangesToNat: 'LIST_OF_SUBNETWORKS',
      subnetwork: [{ name: subnet.selfLink, sourceIpRangesToNat: ['ALL_IP_RANGES'] }],
      logConfig: { enable: true, filter: 'ERRORS_ONLY' },
    });

    // --- System firewall. Ingress only; GCP's implied rules already deny all other ingress and allow egress.
    new ComputeFirewall(this, 'AllowInternal', {
      project,
      name: name(SUFFIX.allowInternal),
      network: network.selfLink,
      description: 'All TCP, UDP and ICMP between cluster VMs (by tag): Slurm 6817-6819, srun step ports, NCCL bootstrap',
      direction: 'INGRESS',
      sourceTags: [this.clusterTag],
      targetTags: [this.clusterTag],
      allow: ALL_TCP_UDP_ICMP,
    });
    new ComputeFirewall(this, 'AllowIapSsh', {
      project,
      name: name(SUFFIX.allowIapSsh),
      network: network.selfLink,
      description: `SSH (22) through Identity-Aware Proxy TCP forwarding (${IAP_TCP_FORWARDING_RANGE}) to VMs tagged ${this.iapSshTag}`,
      direction: 'INGRESS',
      sourceRanges: [IAP_TCP_FORWARDING_RANGE],
      targetTags: [this.iapSshTag],
      allow: [{ protocol: 'tcp', ports: ['22'] }],
    });
    if (layout.sshRanges.length > 0) {
      // A rule of its own, so dropping the extra ranges never touches the IAP path.
      new ComputeFirewall(this, 'AllowSsh', {
        project,
        name: name(SUFFIX.allowSsh),
        network: network.selfLink,
        description: `SSH (22) from allowed ranges ${layout.sshRanges.join(', ')} to VMs tagged ${this.iapSshTag}`,
        direction: 'INGRESS',
        sourceRanges: layout.sshRanges,
        targetTags: [this.iapSshTag],
        allow: [{ protocol: 'tcp', ports: ['22'] }],
      });
    }

    // --- GPU VPCs: data path only, so no router, no NAT, no tags, no SSH.
    this.gpuNetworks = layout.gpuCidrs.map((cidr, i) => {
      const scopeI = new Construct(this, `GpuNet${i}`);
      const gpuNetwork = new ComputeNetwork(scopeI, 'Network', {
        project,
        name: name(SUFFIX.gpuNetwork(i)),
        description: `Slurm cluster GPU network ${i}: GPUDirect-TCPXO data path`,
        autoCreateSubnetworks: false,
        routingMode: 'REGIONAL',
        mtu: layout.gpuMtu,
      });
      const gpuSubnet = new ComputeSubnetwork(scopeI, 'Subnet', {
        project,
        region,
        name: name(SUFFIX.gpuSubnet(i)),
        network: gpuNetwork.selfLink,
        ipCidrRange: cidr,
      });
      suppressPolicyRule(
        gpuSubnet,
        'GCP-VPC-FLOW-LOGS',
        'A GPU subnet carries only GPUDirect-TCPXO traffic between the GPU NICs of the pool (its firewall admits the ' +
          "subnet itself, nothing else): flow logs would sample hundreds of Gbit/s of collectives per node and show no " +
          "connection the system subnet's logs do not.",
      );
      new ComputeFirewall(scopeI, 'AllowInternal', {
        project,
        name: name(SUFFIX.gpuAllowInternal(i)),
        network: gpuNetwork.selfLink,
        description: `All TCP, UDP and ICMP within GPU subnet ${i} (${cidr}): GPUDirect-TCPXO data paths`,
        direction: 'INGRESS',
        sourceRanges: [cidr],
        allow: ALL_TCP_UDP_ICMP,
      });
      return { networkSelfLink: gpuNetwork.selfLink, subnetworkSelfLink: gpuSubnet.selfLink, cidr, mtu: layout.gpuMtu };
    });
  }

  /** Every construct-time check; returns the resolved layout. Terraform references are let through unchecked. */
  privateServiceAccess(): PrivateServiceAccess {
    if (!this.psa) {
      const range = new ComputeGlobalAddress(this, 'PrivateServiceRange', {
        project: this.project,
        name: `${this.namePrefix}${SUFFIX.privateServiceRange}`,
        description: 'Range Google-managed services (Managed Lustre, Cloud SQL) take addresses from, peered into the system VPC',
        purpose: 'VPC_PEERING',
        addressType: 'INTERNAL',
        prefixLength: PRIVATE_SERVICE_PREFIX,
        network: this.systemNetwork.selfLink,
      });
      const connection = new ServiceNetworkingConnection(this, 'PrivateServiceConnection', {
        network: this.systemNetwork.id,
        service: 'servicenetworking.googleapis.com',
        reservedPeeringRanges: [range.name],
      });
      this.psa = { rangeCidr: `${range.address}/${PRIVATE_SERVICE_PREFIX}`, connection };
    }
    return this.psa;
  }

  private validate(props: GcpClusterNetworkProps) {
    const fail = (field: string, value: unknown, problem: string, fix: string): never => {
      throw new ConstructPropError(this, field, value, problem, fix);
    };
    const isReference = (value: unknown) => typeof value === 'string' && Token.isUnresolved(value);
    const parse = (field: string, value: string) => {
      if (isReference(value)) fail(field, value, 'is a Terraform reference, but the layout is computed at synth', 'Give a literal CIDR');
      try {
        return parseIpv4Cidr(value);
      } catch (e) {
        if (e instanceof CidrError) return fail(field, value, e.problem, e.fix);
        throw e;
      }
    };
    const subnetRange = (field: string, value: string) => {
      const block = parse(field, value);
      if (block.prefixLength < SUBNET_PREFIX_RANGE.min || block.prefixLength > SUBNET_PREFIX_RANGE.max) {
        fail(field, value, `a /${block.prefixLength} subnet is outside /${SUBNET_PREFIX_RANGE.min} to /${SUBNET_PREFIX_RANGE.max}` +
          ` (/${SUBNET_PREFIX_RANGE.max} is GCP's smallest)`, "Use e.g. a /20 such as '10.0.0.0/20'");
      }
      return block.cidr;
    };
    const mtuOf = (field: string, value: number | undefined, fallback: number) => {
      const mtu = value ?? fallback;
      if (!Number.isInteger(mtu) || mtu < MTU_RANGE.min || mtu > MTU_RANGE.max) {
        fail(field, value, `must be a whole number from ${MTU_RANGE.min} to ${MTU_RANGE.max} (GCP's VPC MTU range)`,
          `Use ${A3_MEGA_MTU} for A3 Mega, or 8896 for jumbo frames elsewhere`);
      }
      return mtu;
    };

    // --- Where: project, region, zone.
    if (typeof props.project !== 'string' || (!isReference(props.project) && !PROJECT_PATTERN.test(props.project))) {
      fail('project', props.project, 'is not a GCP project ID (6 to 30 lower-case letters, digits and hyphens, starting with a letter)',
        "Give the project ID, e.g. 'my-hpc-project', not its name or number");
    }
    const regionLiteral = typeof props.region === 'string' && !isReference(props.region);
    if (typeof props.region !== 'string' || (regionLiteral && !REGION_PATTERN.test(props.region))) {
      fail('region', props.region, 'is not a GCP region', "Use e.g. 'us-central1' or 'europe-west4' (a region, not a zone)");
    }
    if (typeof props.zone !== 'string') fail('zone', props.zone, 'is not a GCP zone', "Use e.g. 'us-central1-a'");
    if (!isReference(props.zone)) {
      const zonePattern = regionLiteral ? new RegExp(`^${props.region}-[a-z]$`) : /^[a-z]+-[a-z]+\d+-[a-z]$/;
      if (!zonePattern.test(props.zone)) {
        fail('zone', props.zone, regionLiteral ? `is not a zone of region ${props.region}` : 'is not a GCP zone',
          regionLiteral ? `Use a zone of that region, e.g. '${props.region}-a', where your A3 Mega capacity is` : "Use e.g. 'us-central1-a'");
      }
    }

    // --- Names.
    const prefix = props.namePrefix;
    if (isReference(prefix)) {
      fail('namePrefix', prefix, 'is a Terraform reference, but names are checked and built at synth', "Give a literal, e.g. 'hpc'");
    }
    if (typeof prefix !== 'string' || !NAME_PREFIX_PATTERN.test(prefix)) {
      fail('namePrefix', prefix, 'must be lower-case letters, digits and hyphens, start with a letter and not end with a hyphen',
        "Use e.g. 'hpc' or 'a3mega-prod'");
    }
    if (prefix.length > NAME_PREFIX_MAX) {
      fail('namePrefix', prefix, `is ${prefix.length} characters: with the suffix '${LONGEST_SUFFIX}' a GCP name would reach ` +
        `${prefix.length + LONGEST_SUFFIX.length}, over ${GCP_NAME_MAX}`, `Use at most ${NAME_PREFIX_MAX} characters`);
    }

    // --- System subnet.
    const systemCidr = subnetRange('systemCidr', props.systemCidr ?? DEFAULT_SYSTEM_CIDR);
    const systemMtu = mtuOf('systemMtu', props.systemMtu, A3_MEGA_MTU);

    // --- GPU VPCs.
    const count = props.gpuNetworkCount ?? 0;
    if (!Number.isInteger(count) || count < 0 || count > MAX_GPU_NETWORKS) {
      fail('gpuNetworkCount', props.gpuNetworkCount, `must be a whole number from 0 to ${MAX_GPU_NETWORKS}`,
        'Use 8 for A3 Mega (a3-megagpu-8g), 0 for machines without GPUDirect NICs');
    }
    const gpuMtu = mtuOf('mtu', props.mtu, A3_MEGA_MTU);
    let gpuCidrs: string[];
    if (props.gpuNetworkCidrs !== undefined) {
      const given = props.gpuNetworkCidrs;
      if (!Array.isArray(given) || given.length !== count) {
        fail('gpuNetworkCidrs', given, `needs one CIDR per GPU network (gpuNetworkCount = ${count})`,
          `Give ${count} CIDR${count === 1 ? '' : 's'}, or leave it out to derive /${GPU_SUBNET_PREFIX}s from gpuNetworkSupernet`);
      }
      gpuCidrs = given.map((c, i) => subnetRange(`gpuNetworkCidrs[${i}]`, c));
      const all = [{ field: 'systemCidr', cidr: systemCidr }, ...gpuCidrs.map((c, i) => ({ field: `gpuNetworkCidrs[${i}]`, cidr: c }))];
      const overlap = firstOverlap(all);
      if (overlap) {
        fail(overlap.block.field, overlap.block.cidr, `overlaps ${overlap.clash.field} (${overlap.clash.cidr})`, 'Give every subnet its own block');
      }
    } else {
      const supernetText = props.gpuNetworkSupernet ?? DEFAULT_GPU_SUPERNET;
      const supernet = parse('gpuNetworkSupernet', supernetText);
      const available = subnetCount(supernet.cidr, GPU_SUBNET_PREFIX);
      if (available < count) {
        fail('gpuNetworkSupernet', supernetText, `holds ${available} /${GPU_SUBNET_PREFIX} block${available === 1 ? '' : 's'}, ` +
          `but ${count} GPU networks need one each`, `Use a /${GPU_SUBNET_PREFIX - Math.ceil(Math.log2(count))} or larger block, ` +
          `e.g. '${DEFAULT_GPU_SUPERNET}', or give gpuNetworkCidrs`);
      }
      gpuCidrs = Array.from({ length: count }, (_, i) => subdivide(supernet.cidr, GPU_SUBNET_PREFIX, i));
      const clash = gpuCidrs.findIndex((c) => cidrsOverlap(c, systemCidr));
      if (clash >= 0) {
        fail('gpuNetworkSupernet', supernetText, `its block ${clash} (${gpuCidrs[clash]}) overlaps systemCidr (${systemCidr})`,
          'Pick a supernet clear of systemCidr, or give gpuNetworkCidrs');
      }
    }

    // --- SSH.
    const sshRanges = props.sshSourceRanges ?? [];
    if (!Array.isArray(sshRanges)) fail('sshSourceRanges', sshRanges, 'must be a list of CIDRs', "Use e.g. ['203.0.113.0/24']");
    const fixOpen = "Give your office or VPN range, e.g. ['203.0.113.0/24'], or leave sshSourceRanges out and SSH through IAP";
    sshRanges.forEach((c, i) => {
      if (isReference(c)) fail(`sshSourceRanges[${i}]`, c, 'is a Terraform reference, but the layout is computed at synth', 'Give a literal CIDR');
    });
    const sshIssue = sshSourceIssue(sshRanges, 'sshSourceRanges', fixOpen, 'is IPv6, but these subnets are IPv4 only');
    if (sshIssue) fail(`sshSourceRanges[${sshIssue.index}]`, sshIssue.cidr, sshIssue.problem, sshIssue.fix);

    const flowLogs = props.flowLogs ?? true;
    if (typeof flowLogs !== 'boolean') fail('flowLogs', flowLogs, 'must be true or false', 'Leave it out to keep flow logs on');
    return { systemCidr, systemMtu, gpuMtu, gpuCidrs, sshRanges: [...sshRanges], flowLogs };
  }
}
