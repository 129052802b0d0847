/**
 * Google Cloud Managed Lustre as a `LustreFs` server (`fileSystem: ManagedLustre.of({ capacityGiB: 9000 })`): the
 * instance in the network's zone, attached through the network's private services access, and the firewall rule
 * that lets its servers (in the peered range) reach the cluster's VMs on LNet's port 988. Resources are made in the
 * `LustreFs`'s scope (`<LustreFs>/Instance`, `<LustreFs>/AllowLnet`).
 */
import { ComputeFirewall } from '@cdktf/provider-google/lib/compute-firewall';
import { LustreInstance } from '@cdktf/provider-google/lib/lustre-instance';
import type { Construct, IConstruct } from 'constructs';
import { ConstructPropError } from '../cdktf-adapter';
import { clientNetworkShown, IFileSystemClient } from '../constructs/cluster-file-system';
import type { FileSystemServerPlan, FileSystemServerRequest, ILustreServer, IMadeLustre } from '../file-system-server';
import { shownSettings } from '../file-system-server';
import { GcpControllerHost } from './controller-host';
import type { IGcpClusterNetwork } from './network';

/** Managed Lustre performance tiers, MB/s per TiB. */
export type ManagedLustreTier = 125 | 250 | 500 | 1000;

/** A Managed Lustre instance to create, in the network's zone. */
export interface ManagedLustreSettings {
  /**
   * Capacity in GiB, within the tier's range and a multiple of its step (docs of 2026-11): 1000 MB/s/TiB from 9000
   * in steps of 9000; 500 from 18000 by 18000; 250 from 36000 by 36000; 125 from 72000 by 72000 (the larger tiers
   * step coarser above 1.53, 3.06 and 6.12 PB). Google bills the provisioned capacity by the hour, by tier.
   */
  readonly capacityGiB: number;
  /** Throughput per TiB, MB/s; fixed for the instance's life. @default 1000 (Google's tier for AI/ML training) */
  readonly perUnitStorageThroughput?: ManagedLustreTier;
  /** Lustre file system name clients mount, 1-8 letters and digits. @default the construct's name, letters and digits only, first 8 */
  readonly fsname?: string;
}

/** Managed Lustre tiers: the smallest instance, the step below and above the threshold, and the largest (docs, 2026-11). */
const MANAGED_TIERS: Readonly<Record<ManagedLustreTier, { min: number; step: number; threshold: number; bigStep: number; max: number }>> = {
  1000: { min: 9000, step: 9000, threshold: 1_530_000, bigStep: 72_000, max: 10_008_000 },
  500: { min: 18_000, step: 18_000, threshold: 3_060_000, bigStep: 144_000, max: 20_016_000 },
  250: { min: 36_000, step: 36_000, threshold: 6_120_000, bigStep: 288_000, max: 40_032_000 },
  125: { min: 72_000, step: 72_000, threshold: 12_240_000, bigStep: 72_000, max: 12_240_000 },
};

/** Why `capacity` GiB is not valid in `tier`, or undefined. */
export function managedLustreCapacityProblem(tier: ManagedLustreTier, capacity: number): string | undefined {
  const t = MANAGED_TIERS[tier];
  if (!Number.isInteger(capacity) || capacity < t.min || capacity > t.max) {
    return `the ${tier} MB/s/TiB tier takes ${t.min} to ${t.max} GiB`;
  }
  const step = capacity <= t.threshold ? t.step : t.bigStep;
  return capacity % step === 0 ? undefined : `the ${tier} MB/s/TiB tier takes multiples of ${step} GiB at this size`;
}

/** A Managed Lustre instance for a `LustreFs` on a Google Cloud cluster. */
export class ManagedLustre implements ILustreServer {
  static of(settings: ManagedLustreSettings): ManagedLustre {
    return new ManagedLustre(settings);
  }

  readonly shown: string;

  private constructor(readonly settings: ManagedLustreSettings) {
    this.shown = shownSettings('ManagedLustre.of', settings);
  }

  make(scope: Construct, request: FileSystemServerRequest): ManagedLustreServer {
    const ctl = request.controller;
    if (!(ctl.host instanceof GcpControllerHost)) {
      throw new ConstructPropError(scope, request.field, this.shown, `Managed Lustre is Google Cloud, and controller ${ctl.node.path} is on ${ctl.backend.name.toUpperCase()}`,
        "Use FsxLustre.of({ storageCapacityGiB }) on an AWS cluster, or ExistingLustre.at('<mgs-nid>@tcp:/<fsname>') for one made elsewhere");
    }
    return new ManagedLustreServer(scope, request, this.settings, ctl.host.network);
  }
}

/** Managed Lustre as made. */
export class ManagedLustreServer implements IMadeLustre {
  readonly instance: LustreInstance;
  /** The instance's mount point (`<ip>@tcp:/<fsname>`), known after apply. */
  readonly source: string;
  // Compute Engine user-data is a Terraform string, so the reference goes into the mount table as it is.
  readonly sourceIsReference = true;
  readonly plan: FileSystemServerPlan;

  constructor(scope: Construct, request: FileSystemServerRequest, m: ManagedLustreSettings, private readonly network: IGcpClusterNetwork) {
    const { controller: ctl, name, field } = request;
    const tier = m.perUnitStorageThroughput ?? 1000;
    if (!(tier in MANAGED_TIERS)) {
      throw new ConstructPropError(scope, `${field}.perUnitStorageThroughput`, tier, 'is not a Managed Lustre tier', 'Use 125, 250, 500 or 1000');
    }
    const capacityProblem = managedLustreCapacityProblem(tier, m.capacityGiB);
    if (capacityProblem) {
      const t = MANAGED_TIERS[tier];
      const fix = Math.min(t.max, Math.max(t.min, Math.ceil((m.capacityGiB || 0) / t.step) * t.step));
      throw new ConstructPropError(scope, `${field}.capacityGiB`, m.capacityGiB, capacityProblem, `Use e.g. ${fix}`);
    }
    const fsname = m.fsname ?? (name.replace(/[^a-z0-9]/g, '').slice(0, 8) || 'lustre');
    if (!/^[A-Za-z0-9]{1,8}$/.test(fsname)) {
      throw new ConstructPropError(scope, `${field}.fsname`, fsname, 'must be 1 to 8 letters and digits', "Use e.g. 'home'");
    }
    this.plan = { type: 'Managed Lustre', capacityGiB: m.capacityGiB, server: `Google Cloud, ${tier} MB/s/TiB`, priceKey: `gcp:managed-lustre-${tier}` };
    const cluster = ctl.clusterName;
    const prefix = `${cluster.replace(/_/g, '-')}-${name}`;
    const psa = network.privateServiceAccess();
    this.instance = new LustreInstance(scope, 'Instance', {
      project: network.project,
      instanceId: prefix,
      location: network.zone,
      filesystem: fsname,
      capacityGib: String(m.capacityGiB),
      perUnitStorageThroughput: String(tier),
      network: network.systemNetworkId,
      description: `Lustre ${name} of Slurm cluster ${cluster}`,
      labels: { 'slurm-cluster': cluster, 'slurm-filesystem': name },
      dependsOn: [psa.connection],
    });
    new ComputeFirewall(scope, 'AllowLnet', {
      project: network.project,
      name: `${prefix}-lustre-lnet`,
      network: network.system.networkSelfLink,
      description: `LNet (TCP 988) from Managed Lustre ${name}'s servers in the private services range to the cluster's VMs`,
      direction: 'INGRESS',
      sourceRanges: [psa.rangeCidr],
      targetTags: [network.clusterTag],
      allow: [{ protocol: 'tcp', ports: ['988'] }],
    });
    this.source = this.instance.mountPoint;
  }

  /** The firewall rule above already lets the instance reach every cluster VM: a client needs only to be one. */
  admit(client: IFileSystemClient, fileSystem: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'gcp-network-tag') {
      throw new ConstructPropError(client, 'mounts', fileSystem.node.path,
        `Managed Lustre is reachable from its VPC only, and this host is ${clientNetworkShown(net)}`,
        'Mount it on Compute Engine pools, the controller or login nodes of this cluster');
    }
    if (net.networkSelfLink !== this.network.system.networkSelfLink) {
      throw new ConstructPropError(client, 'mounts', fileSystem.node.path, 'the host is on another VPC than the instance', 'Mount it from hosts of the same cluster network');
    }
  }
}
