/**
 * A pool's Compute Engine shape: ONE instance template, and its static VMs as ONE counted resource. The settings
 * every cluster VM shares (identity, Shielded VM, NICs, reservation and Spot) are checked in `vm.ts`.
 */
import { ComputeInstanceFromTemplate } from '@cdktf/provider-google/lib/compute-instance-from-template';
import { ComputeInstanceTemplate } from '@cdktf/provider-google/lib/compute-instance-template';
import { ComputeResourcePolicy } from '@cdktf/provider-google/lib/compute-resource-policy';
import { TerraformCount, Token } from 'cdktf';
import { Construct } from 'constructs';
import { failer, GCE_NAME_MAX, GcpNodeProps, isRef, nodeSettings, TEMPLATE_NAME_PREFIX_MAX, ZONE } from './vm';

export interface GcpNodeInstanceTemplateProps extends GcpNodeProps {
  /**
   * Start of the template's name; the provider adds `-` and a unique suffix, so a changed template is created
   * before the old one is deleted. Lower-case letters, digits and hyphens, at most 36.
   */
  readonly namePrefix: string;
  /**
   * Create a compact placement policy (`<namePrefix>-placement`, COLLOCATED) for the pool's VMs: lowest
   * latency between them, at the price of capacity that is harder to find. Not with `reservationName` (a VM
   * consuming a reservation takes the reservation's own placement policy; pass it as `placementPolicy`) nor with
   * `placementPolicy`.
   * @default false
   */
  readonly compactPlacement?: boolean;
  /**
   * Self link of an existing placement policy to attach, e.g. the compact policy your A3 Mega reservation was
   * created with (slurm-gcp gives VMs consuming a reservation the reservation's own policies).
   * @default none
   */
  readonly placementPolicy?: string;
}

/** A pool's template and what instances made from it need. */
export interface GcpNodeTemplate {
  readonly template: ComputeInstanceTemplate;
  /** The compact placement policy, when `compactPlacement` asked for one. */
  readonly placementPolicy?: ComputeResourcePolicy;
  readonly project: string;
  /** The network's zone, where instances from this template go unless told otherwise. */
  readonly zone: string;
}

/**
 * ONE instance template for a pool (under `<scope>/<id>/Template`): boot disk, Shielded VM, the node identity
 * with the cloud-platform scope, OS Login on, project SSH keys blocked, serial port off, no IP forwarding, no
 * public IP, gVNIC on every NIC, and for GPU types one NIC per GPU VPC. Bundled Local SSDs (a3-megagpu-8g: 16 ×
 * 375 GiB) are not listed: Compute Engine attaches them itself.
 */
export function gcpNodeInstanceTemplate(scope: Construct, id: string, props: GcpNodeInstanceTemplateProps): GcpNodeTemplate {
  const self = new Construct(scope, id);
  const fail = failer(self);
  const prefix = props.namePrefix;
  if (typeof prefix !== 'string' || isRef(prefix) || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(prefix)) {
    fail('namePrefix', prefix, 'must be a literal of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
      "Use e.g. 'hpc-gpu'");
  }
  if (prefix.length + 1 > TEMPLATE_NAME_PREFIX_MAX) {
    fail('namePrefix', prefix, `is ${prefix.length} characters; with '-' it must stay within ${TEMPLATE_NAME_PREFIX_MAX} ` +
      'so the provider can add its full unique suffix', `Use at most ${TEMPLATE_NAME_PREFIX_MAX - 1} characters`);
  }
  const compact = props.compactPlacement ?? false;
  if (typeof compact !== 'boolean') fail('compactPlacement', compact, 'must be true or false', 'Leave it out for no placement policy');
  if (compact && props.reservationName !== undefined) {
    fail('compactPlacement', compact, `is combined with reservationName (${props.reservationName}): a VM consuming a reservation ` +
      'takes the reservation\'s own placement, not a policy made here',
      'Leave out compactPlacement; create the reservation with a compact placement policy and pass that policy as placementPolicy');
  }
  if (compact && props.placementPolicy !== undefined) {
    fail('compactPlacement', compact, 'is combined with placementPolicy, but a VM takes one placement policy',
      'Give one of them');
  }
  const settings = nodeSettings(self, props, compact || props.placementPolicy !== undefined);

  const placementPolicy = compact ? new ComputeResourcePolicy(self, 'Placement', {
    project: settings.project,
    region: props.network.region,
    name: `${prefix}-placement`,
    description: `Compact placement of the ${props.pool ?? props.role} VMs of Slurm cluster ${props.clusterName}`,
    groupPlacementPolicy: { collocation: 'COLLOCATED' },
  }) : undefined;
  const policies = placementPolicy ? [placementPolicy.selfLink] : props.placementPolicy ? [props.placementPolicy] : undefined;

  const template = new ComputeInstanceTemplate(self, 'Template', {
    project: settings.project,
    namePrefix: `${prefix}-`,
    // Templates are immutable: every change makes a new one, created before the old one goes.
    lifecycle: { createBeforeDestroy: true },
    machineType: settings.machineType,
    labels: settings.labels,
    tags: settings.tags,
    metadata: settings.metadata,
    canIpForward: false,
    disk: [{
      boot: true,
      autoDelete: true,
      type: 'PERSISTENT',
      sourceImage: settings.bootDisk.image,
      diskSizeGb: settings.bootDisk.sizeGiB,
      diskType: settings.bootDisk.type,
      labels: settings.labels,
    }],
    networkInterface: settings.nics,
    serviceAccount: settings.serviceAccount,
    shieldedInstanceConfig: settings.shieldedInstanceConfig,
    scheduling: settings.scheduling,
    reservationAffinity: settings.reservationAffinity,
    resourcePolicies: policies,
  });
  return { template, placementPolicy, project: settings.project, zone: props.network.zone };
}

export interface GcpComputeInstancesProps {
  /** The pool's template (gcpNodeInstanceTemplate()). */
  readonly template: GcpNodeTemplate;
  /** Names and host names are `<namePrefix>-0` … `<namePrefix>-<count-1>`, as Slurm's node names. */
  readonly namePrefix: string;
  /** Number of VMs, 0 or more. */
  readonly count: number;
  /** @default the template's zone (the network's) */
  readonly zone?: string;
}

export interface GcpComputeInstances {
  /** One resource with Terraform `count`. */
  readonly instances: ComputeInstanceFromTemplate;
  /** The pool's Slurm hostlist, e.g. `gpu-[0-15]`; undefined when count is 0. */
  readonly hostlist?: string;
}

/**
 * A static pool as ONE `google_compute_instance_from_template` with Terraform `count` (`<scope>/<id>/Instances`),
 * named `<namePrefix>-${count.index}`: the plan does not grow with the pool. Not a managed instance group: a MIG
 * names its VMs with random suffixes, while Slurm needs the stable names `<pool>-<i>` (slurm-gcp likewise creates
 * named VMs itself and uses no MIG). A changed template replaces every VM of the pool at the next apply: drain it first.
 */
export function gcpComputeInstances(scope: Construct, id: string, props: GcpComputeInstancesProps): GcpComputeInstances {
  const self = new Construct(scope, id);
  const fail = failer(self);
  const { count, namePrefix } = props;
  if (!Number.isInteger(count) || count < 0) fail('count', count, 'must be a whole number, 0 or more', 'Use e.g. 2');
  if (typeof namePrefix !== 'string' || isRef(namePrefix) || !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(namePrefix)) {
    fail('namePrefix', namePrefix, 'must be a literal of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen',
      "Use e.g. 'gpu'");
  }
  const longest = `${namePrefix}-${Math.max(count - 1, 0)}`;
  if (longest.length > GCE_NAME_MAX) {
    fail('namePrefix', namePrefix, `makes the name '${longest}' longer than ${GCE_NAME_MAX}`, 'Use a shorter prefix');
  }
  const zone = props.zone ?? props.template.zone;
  if (typeof zone !== 'string' || (!isRef(zone) && !ZONE.test(zone))) fail('zone', zone, 'is not a GCP zone', "Use e.g. 'us-central1-a'");

  const each = TerraformCount.of(count);
  const instances = new ComputeInstanceFromTemplate(self, 'Instances', {
    count: each,
    project: props.template.project,
    zone,
    // A number token in a template literal would print as its encoded double: make it a string token first.
    name: `${namePrefix}-${Token.asString(each.index)}`,
    sourceInstanceTemplate: props.template.template.selfLink,
  });
  const hostlist = count === 0 ? undefined : count === 1 ? `${namePrefix}-0` : `${namePrefix}-[0-${count - 1}]`;
  return { instances, hostlist };
}
