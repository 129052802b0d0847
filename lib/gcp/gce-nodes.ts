/**
 * Compute Engine nodes of a pool: a keyless service account that may read the munge key, ONE instance template
 * (user-data inline: Compute Engine takes 256 KiB), and the pool's VMs as one counted resource, named `<pool>-<i>` as
 * Slurm's nodes (Compute Engine's DNS resolves them). A3 Mega nodes also get the TCPXO step, the NCCL profile and the
 * cluster's job-hook globs; types with Local SSDs get a RAID0 scratch. Resources are made in the pool's scope
 * (`<Pool>/Template`, `<Pool>/Nodes`).
 */
import { Token } from 'cdktf';
import type { Construct } from 'constructs';
import { ConstructPropError, lazyString, oncePerSynth, terraformLiteral, validateAtSynth } from '../cdktf-adapter';
import { apptainerNodeSetup, buildNodeCloudConfig, enrootNodeSetup, renderNodeUserData } from '../cloudinit';
import type { ExporterKind, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import type { INodePlacement, INodePoolHandle, IPlacedNodes, NodePoolRequest, PlannedNodes } from '../node-placement';
import { suppressPolicyRule } from '../policy/security-policy';
import { needsFabricManager } from '../slurm';
import { GcpControllerHost } from './controller-host';
import { GcpMachineTypeInfo, gcpPoolHardwareFor, zoneProblem } from './machine-types';
import { gcpComputeInstances, GcpComputeInstances, gcpNodeInstanceTemplate, GcpNodeTemplate } from './node-template';
import { NCCL_TCPXO_PROFILE_PATH, renderNcclTcpxoProfile, resolveTcpxoSettings, ResolvedTcpxoSettings, tcpxoNodeEnv, TcpxoSettings } from './tcpxo';
import {
  DEFAULT_GCP_GPU_NODE_IMAGE, gcpAccountId, gcpName, gcpServiceAccount, gcpServiceAccountMember, grantLogging, grantSecretAccess,
} from './vm';

/** GPUDirect-TCPXO's GPU VPCs carry jumbo frames: Google's A3 Mega MTU. */
const TCPXO_MIN_MTU = 8244;

/** The Compute Engine settings of a pool. */
export interface GceNodesSettings {
  /** Machine type; CPUs, memory, GPUs, GPU NICs and Local SSDs come from the library's table. */
  readonly machineType: string;
  /** CPUs per node, for types the table lacks. @default from the table */
  readonly cpus?: number;
  /** Memory Slurm may hand out, MiB, for types the table lacks. @default from the table, minus OS headroom */
  readonly realMemoryMiB?: number;
  /**
   * Boot image or family path.
   * @default Ubuntu 24.04 LTS (`DEFAULT_GCP_NODE_IMAGE`); for GPU types Canonical's accelerator image with the
   * signed NVIDIA driver (`DEFAULT_GCP_GPU_NODE_IMAGE`)
   */
  readonly image?: string;
  /** Boot disk, GiB. @default 100 */
  readonly bootDiskSizeGiB?: number;
  /**
   * `STANDARD` VMs, or `SPOT` (cheaper, and Compute Engine may stop them at any time). Not with a reservation.
   * @default `'STANDARD'`
   */
  readonly provisioningModel?: 'STANDARD' | 'SPOT';
  /**
   * Shielded VM Secure Boot (vTPM and integrity monitoring are always on).
   * @default true, except on GPUDirect-TCPXO pools: their dmabuf import-helper module is built on the node by
   * DKMS and unsigned, so Secure Boot would refuse to load it. Give an image with a signed module to keep it on.
   */
  readonly secureBoot?: boolean;
  /**
   * Consume this specific reservation (`name` or `projects/P/reservations/name`), as A3 Mega capacity usually is.
   * Not with `provisioningModel: 'SPOT'` nor `compactPlacement`.
   * @default none (Compute Engine may use any matching reservation)
   */
  readonly reservationName?: string;
  /**
   * A compact placement policy made for the pool (lowest latency between its VMs). Not with a reservation, whose
   * own placement applies (give it as `placementPolicy`).
   * @default false
   */
  readonly compactPlacement?: boolean;
  /** Self link of an existing placement policy, e.g. the one your reservation was made with. @default none */
  readonly placementPolicy?: string;
  /**
   * A3 Mega only: GPUDirect-TCPXO settings (pinned RxDM and NCCL plugin images, NIC names, NCCL tuning). TCPXO is
   * always on for `a3-megagpu-8g`: the RxDM prolog/epilog and the NCCL profile at /etc/profile.d/nccl-tcpxo.sh.
   * @default the defaults of `lib/gcp/tcpxo.ts`
   */
  readonly tcpxo?: TcpxoSettings;
}

/** A pool's nodes on Compute Engine: `nodes: GceNodes.of({ machineType: 'a3-megagpu-8g', reservationName })`. */
export class GceNodes implements INodePlacement {
  static of(settings: GceNodesSettings): GceNodes {
    return new GceNodes(settings);
  }

  readonly kind = 'gcp';

  private constructor(readonly settings: GceNodesSettings) {}

  plan(pool: Construct, request: NodePoolRequest): PlannedNodes {
    const s = this.settings;
    const ctl = request.controller;
    if (!(ctl.host instanceof GcpControllerHost)) {
      throw new ConstructPropError(pool, 'nodes', `GceNodes.of({ machineType: '${s.machineType}' })`,
        `Compute Engine nodes need a controller on a Google Cloud network, and controller ${ctl.node.path} is on ${ctl.backend.name.toUpperCase()}`,
        "Place the pool where the controller is, e.g. nodes: Ec2Nodes.of({ instanceType: 'g5.12xlarge' })");
    }
    const gcp = ctl.host;
    const net = gcp.network;
    const { count, maxCount, minCount } = request.counts;
    if (maxCount === undefined && minCount === undefined && count === undefined) {
      throw new ConstructPropError(pool, 'count', undefined, 'a GCP pool needs its number of VMs', 'Set count, e.g. 2');
    }
    if (maxCount !== undefined || minCount !== undefined || count === undefined) {
      throw new ConstructPropError(pool, maxCount !== undefined ? 'maxCount' : 'minCount', maxCount ?? minCount,
        'GCP pools are static: Slurm power saving on Compute Engine (a ResumeProgram that creates VMs) is not built yet',
        'Give count (the VMs are created by Terraform and always on); A3 Mega reservations are used this way');
    }
    const machineType = s.machineType;
    if (!Token.isUnresolved(net.zone)) {
      const problem = zoneProblem(machineType, net.zone);
      if (problem) throw new ConstructPropError(pool, 'nodes.machineType', machineType, problem.replace(/\.$/, ''), 'Or change the network\'s zone');
    }
    const { hardware, gpus, info } = gcpPoolHardwareFor({
      machineType, gpus: request.gpus, cpus: s.cpus, realMemoryMiB: s.realMemoryMiB, where: pool.node.path, fieldPrefix: 'nodes.',
    });
    const gpuNics = info?.gpuNics ?? 0;
    if (gpuNics > net.gpuNetworks.length) {
      throw new ConstructPropError(pool, 'controller.network.gpuNetworks', net.gpuNetworks.length,
        `${machineType} needs ${gpuNics} GPU networks (one per GPU NIC, in NIC order), and the network has ${net.gpuNetworks.length}`,
        `Create the GcpClusterNetwork with gpuNetworkCount: ${gpuNics}`);
    }
    if (info?.gpuDirect === 'tcpxo') {
      net.gpuNetworks.slice(0, gpuNics).forEach((g, i) => {
        if (!Token.isUnresolved(g.mtu) && g.mtu < TCPXO_MIN_MTU) {
          throw new ConstructPropError(pool, `controller.network.gpuNetworks[${i}].mtu`, g.mtu,
            `is below ${TCPXO_MIN_MTU}: GPUDirect-TCPXO needs jumbo frames on every GPU VPC`, `Create the network with mtu: ${TCPXO_MIN_MTU} (the default)`);
        }
      });
    } else if (s.tcpxo !== undefined) {
      throw new ConstructPropError(pool, 'nodes.tcpxo', '<settings>', `${machineType} has no GPUDirect-TCPXO NICs`, 'Drop tcpxo, or use a3-megagpu-8g');
    }
    const accountId = gcpAccountId(`${gcpName(ctl.clusterName)}-${request.poolName}`);
    return {
      spec: { name: request.poolName, count, hardware, gpus, features: request.features ?? [machineType], weight: request.weight },
      fileSystemClientNetwork: {
        kind: 'gcp-network-tag', tag: net.clusterTag, networkSelfLink: net.system.networkSelfLink, project: net.project,
        serviceAccountMember: gcpServiceAccountMember(net.project, accountId),
        serviceAccountId: accountId,
      },
      place: (handle) => this.place(handle, request, gcp, info, accountId),
    };
  }

  private place(pool: INodePoolHandle, request: NodePoolRequest, gcp: GcpControllerHost, info: GcpMachineTypeInfo | undefined, accountId: string): IPlacedNodes {
    const s = this.settings;
    const ctl = pool.controller;
    const net = gcp.network;
    const where = pool.node.path;
    const poolName = pool.poolName;
    const prefix = `${gcpName(ctl.clusterName)}-${poolName}`;
    const identity = gcpServiceAccount(pool, 'Identity', {
      project: net.project,
      accountId,
      displayName: `Slurm pool ${poolName} of ${ctl.clusterName}`,
      description: 'Compute nodes: read the munge key; write logs and metrics',
    });
    grantSecretAccess(pool, 'MungeKeyRead', { project: net.project, secretId: gcp.mungeKeySecretId, member: identity.member, secret: gcp.mungeKeySecret });
    grantLogging(pool, 'Logging', { project: net.project, member: identity.member });

    const tcpxo = info?.gpuDirect === 'tcpxo' ? resolveTcpxoSettings(s.tcpxo, where) : undefined;
    if (tcpxo) ctl.useNodeJobHooks(where);
    // Compute Engine user-data is a Terraform string: checksums may be Terraform variables.
    const containers = request.enroot ? enrootNodeSetup(request.enroot, `${where}: enroot`, { isDeferred: Token.isUnresolved }) : undefined;
    if (containers) ctl.useContainers();
    const apptainer = request.apptainer ? apptainerNodeSetup(request.apptainer, `${where}: apptainer`, { isDeferred: Token.isUnresolved }) : undefined;
    const gpus = pool.spec.gpus;
    const localSsd = (info?.localSsdCount ?? 0) > 0;
    const env: Record<string, string> = {
      CLUSTER_NAME: ctl.clusterName,
      SLURM_CONTROLLER: ctl.privateIp,
      MUNGE_KEY_SOURCE: ctl.mungeKeySource,
      // Jobs run here: the metadata server (the service account's tokens, which read the munge key) is root's alone.
      METADATA_GUARD: '1',
      GPU_COUNT: String(gpus?.count ?? 0),
      GPU_TYPE: gpus?.type ?? '',
      ...(needsFabricManager(gpus) ? { GPU_FABRIC_MANAGER: '1' } : {}),
      ...(localSsd ? { LOCALSSD_RAID: '1', LOCALSSD_REQUIRED: '1' } : {}),
      ...(tcpxo ? tcpxoNodeEnv(tcpxo) : {}),
      ...(containers?.env ?? {}),
      ...(apptainer?.env ?? {}),
    };
    const extraScripts = [
      ...(localSsd ? ['gcp/localssd-raid.sh'] : []),
      ...(tcpxo ? ['gcp/tcpxo.sh', 'gcp/tcpxo-prolog.sh', 'gcp/tcpxo-epilog.sh'] : []),
      ...(containers ? ['containers/enroot-pyxis.sh'] : []),
      ...(apptainer ? ['containers/apptainer.sh'] : []),
    ];
    const files = [
      ...(tcpxo ? [{ path: NCCL_TCPXO_PROFILE_PATH, content: renderNcclTcpxoProfile(tcpxo) }] : []),
      ...(containers?.files ?? []),
      ...(apptainer?.files ?? []),
    ];
    // Rendered at synth: file systems may be mounted on the pool after it is made.
    const render = oncePerSynth(pool, () => {
      const host = ctl.hostSetup(pool.exporterKinds(), pool.mounts);
      return renderNodeUserData(buildNodeCloudConfig({
        roles: ['compute'],
        env: { ...env, ...host.env },
        usersTable: host.usersTable,
        mounts: pool.mounts,
        files,
        slurmFiles: containers?.slurmFiles,
        extraScripts: [...extraScripts, ...host.scripts],
        scriptDelivery: { kind: 'inline' },
      }), { target: 'gcp', role: `compute pool ${poolName}`, where });
    });
    const template = gcpNodeInstanceTemplate(pool, 'Template', {
      network: net,
      namePrefix: prefix,
      machineType: s.machineType,
      isGpu: info?.requiresTerminateOnMaintenance ?? gpus !== undefined,
      gpuNics: info?.gpuNics ?? 0,
      userData: lazyString(() => terraformLiteral(render().text)),
      serviceAccountEmail: identity.email,
      clusterName: ctl.clusterName,
      role: 'compute',
      pool: poolName,
      image: s.image ?? (gpus ? DEFAULT_GCP_GPU_NODE_IMAGE : undefined),
      // The TCPXO step builds the dmabuf import helper with DKMS: an unsigned module Secure Boot would refuse.
      secureBoot: s.secureBoot ?? (tcpxo ? false : true),
      bootDiskSizeGiB: s.bootDiskSizeGiB ?? 100,
      bootDiskType: 'pd-ssd',
      spot: s.provisioningModel === 'SPOT',
      reservationName: s.reservationName,
      compactPlacement: s.compactPlacement,
      placementPolicy: s.placementPolicy,
    });
    if (tcpxo && s.secureBoot === undefined) {
      // Only our own default: a user who turns Secure Boot off says why in a suppression of their own.
      suppressPolicyRule(
        template.template,
        'GCP-VM-SHIELDED',
        "Secure Boot is off by default on GPUDirect-TCPXO pools: the node builds the dmabuf import helper with DKMS, " +
          'an unsigned module Secure Boot would refuse to load. vTPM and integrity monitoring stay on; give ' +
          'secureBoot: true with an image that carries a signed module.',
      );
    }
    const nodes = gcpComputeInstances(pool, 'Nodes', { template, namePrefix: poolName, count: pool.spec.count as number });
    validateAtSynth(pool, () => {
      render();
      return [];
    });
    return new GcePoolNodes(template, nodes, s, tcpxo, ctl.clusterName, poolName, net);
  }
}

/** A pool's Compute Engine VMs as made: the instance template and the counted VMs. */
export class GcePoolNodes implements IPlacedNodes {
  readonly hostType: string;
  readonly spot: boolean;
  readonly fabric?: string;

  constructor(
    readonly template: GcpNodeTemplate,
    readonly instances: GcpComputeInstances,
    settings: GceNodesSettings,
    /** The resolved GPUDirect-TCPXO settings, on A3 Mega pools. */
    readonly tcpxo: ResolvedTcpxoSettings | undefined,
    private readonly clusterName: string,
    private readonly poolName: string,
    private readonly network: { readonly project: string; readonly zone: string; readonly clusterTag: string },
  ) {
    this.hostType = settings.machineType;
    this.spot = settings.provisioningModel === 'SPOT';
    this.fabric = tcpxo ? 'GPUDirect-TCPXO' : undefined;
  }

  /** Found by their labels; reached through the cluster's network tag. */
  scrapeTargets(exporters: readonly ExporterKind[], labels: Readonly<Record<string, string>>): ScrapeTargetGroup[] {
    return exporters.map((exporter) => ({
      exporter,
      discovery: { kind: 'gce', project: this.network.project, zone: this.network.zone, labels: { 'slurm-cluster': this.clusterName, 'slurm-pool': this.poolName } },
      reach: { kind: 'gcp-network-tag', tag: this.network.clusterTag },
      labels,
    }));
  }
}
