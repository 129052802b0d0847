/**
 * What multi-node NCCL over EFA needs from Terraform on AWS: a security group that lets members reach each
 * other on everything, the launch template's network interfaces (one EFA per network card), and the node.env
 * entries `bootstrap-scripts/aws/efa.sh` reads.
 *
 * AWS facts this file relies on (checked 2025):
 * - "The security group for the EFA must allow all inbound and outbound traffic to and from the security
 *   group itself" (AWS Batch UG "Elastic Fabric Adapter"; EC2 UG "Create and attach an EFA": needed for
 *   OS-bypass). AWS PCS creates exactly that: ingress and egress, protocol -1, source/destination = itself.
 * - Security groups on an EFA: every EFA interface needs the EFA group; other groups (SSH, Slurm) are only
 *   needed on the primary interface (device index 0). A launch template with network interfaces can't also
 *   set instance-level security groups (`vpc_security_group_ids`), and RunInstances rejects an instance-level
 *   subnet with network interfaces ("Network interfaces and an instance-level subnet ID may not be specified
 *   on the same request"): groups and subnet go on each interface (AWS PCS UG "Create or update an EC2 launch
 *   template"; EC2 API RunInstances `SubnetId`).
 * - One EFA per network card; p4d.24xlarge has 4 cards, p5.48xlarge 32 (EC2 UG "Network cards"; the table in
 *   instance-types.ts).
 * - Layout on multi-card types (EC2 UG "Maximize network bandwidth on Amazon EC2 instances with multiple network
 *   cards"): the primary interface is network card 0, device index 0, and can't be EFA-only; each further
 *   card takes an EFA-only interface at device index 0 (or an ENA interface at device index 1). An EFA-only
 *   interface has no IP address.
 * - EFA OS-bypass works between instances in one subnet, and not across Availability Zones (ParallelCluster UG
 *   "Elastic Fabric Adapter"), so an EFA pool belongs in one subnet and one cluster placement group.
 * Provider 5.100.0 accepts `interface_type` "efa", "efa-only" and "interface" (its validator's list; it only runs
 * when every value in the block is known, so __tests__/aws/efa.test.ts checks it with literal ids).
 */
import type { LaunchTemplateNetworkInterfaces } from '@cdktf/provider-aws/lib/launch-template';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Construct } from 'constructs';
import { SlurmConfigError, type ConfigIssue } from '../slurm/errors';
import { EC2_INSTANCE_TYPES, type InstanceTypeInfo } from './instance-types';

const DEFAULT_DESCRIPTION = 'EFA: all traffic between members of this group, which EFA OS-bypass requires';

export interface EfaSecurityGroupProps {
  readonly vpcId: string;
  /**
   * Name prefix of the group; AWS appends a unique suffix, so a replacement never collides with the old group.
   * Letters, digits and `._-`, at most 90 characters, not starting with `sg-`.
   */
  readonly name: string;
  /**
   * Group description (ASCII, at most 255 characters). Changing it replaces the group, which running
   * instances block: keep it constant.
   * @default a fixed text saying the group carries EFA traffic
   */
  readonly description?: string;
  /** @default none */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * The security group every EFA interface of a pool carries: all protocols and ports in from, and out to,
 * members of the group itself — nothing else, no CIDR rules. Instances keep the cluster security group on
 * their primary interface for Slurm, SSH and outbound traffic.
 */
export class EfaSecurityGroup extends Construct {
  readonly securityGroup: SecurityGroup;
  readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: EfaSecurityGroupProps) {
    super(scope, id);
    const issues: ConfigIssue[] = [];
    const { name, description = DEFAULT_DESCRIPTION } = props;
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,90}$/.test(name) || /^sg-/i.test(name)) {
      issues.push({
        field: 'name',
        value: name,
        problem: 'is not a usable security group name prefix (letters, digits and ._-, 1-90 characters, not starting with "sg-")',
        fix: 'Use e.g. "<cluster>-<pool>-efa".',
      });
    }
    if (typeof description !== 'string' || !/^[\x20-\x7e]{1,255}$/.test(description)) {
      issues.push({
        field: 'description',
        value: description,
        problem: 'must be 1-255 printable ASCII characters (EC2 rejects others)',
        fix: 'Shorten it or drop non-ASCII characters, or leave description out.',
      });
    }
    if (typeof props.vpcId !== 'string' || props.vpcId.length === 0) {
      issues.push({ field: 'vpcId', value: props.vpcId, problem: 'is empty', fix: 'Pass the VPC id, e.g. vpc.id.' });
    }
    if (issues.length > 0) throw new SlurmConfigError(issues, this.node.path);

    // No inline rules: Terraform then removes AWS's default allow-all egress, and the two rules below are all.
    this.securityGroup = new SecurityGroup(this, 'Group', {
      namePrefix: `${name}-`,
      description,
      vpcId: props.vpcId,
      tags: props.tags ? { ...props.tags } : undefined,
    });
    this.securityGroupId = this.securityGroup.id;
    const rule = {
      securityGroupId: this.securityGroupId,
      ipProtocol: '-1',
      referencedSecurityGroupId: this.securityGroupId,
      tags: props.tags ? { ...props.tags } : undefined,
    };
    new VpcSecurityGroupIngressRule(this, 'SelfIngress', {
      ...rule,
      description: 'All traffic from members of this EFA group (EFA OS-bypass and NCCL)',
    });
    new VpcSecurityGroupEgressRule(this, 'SelfEgress', {
      ...rule,
      description: 'All traffic to members of this EFA group (EFA OS-bypass and NCCL)',
    });
  }
}

/** Interface type of the EFAs on network cards 1 and up. */
export type EfaSecondaryInterfaceType = 'efa-only' | 'efa';

export interface EfaNetworkInterfacesOptions {
  /** The EFA security group ({@link EfaSecurityGroup.securityGroupId}); goes on every interface. */
  readonly efaSecurityGroupId: string;
  /**
   * Further groups for the primary interface only (card 0, device 0), which carries all IP traffic: the
   * cluster security group for Slurm, SSH and outbound traffic.
   * @default none
   */
  readonly primarySecurityGroupIds?: readonly string[];
  /**
   * Subnet of every interface. Without it the template can't launch on its own: each launch must then pass
   * complete `--network-interfaces` (an instance-level subnet is rejected).
   * @default none
   */
  readonly subnetId?: string;
  /**
   * `efa-only` (AWS's current layout: device index 0, no IP address, no extra ENA device in the OS) or `efa`
   * (EFA with ENA at device index 1: one more private IP and one more ENA device per card, for AMIs or tools
   * that predate EFA-only interfaces).
   * @default 'efa-only'
   */
  readonly secondaryInterfaceType?: EfaSecondaryInterfaceType;
  /** Prefix of error messages, e.g. the pool's construct path. @default `efaNetworkInterfaces(<type>)` */
  readonly where?: string;
}

/** Table types taking more than one EFA, for error messages: `p4d.24xlarge (4 EFA), p5.48xlarge (32 EFA)`. */
function multiEfaTypes(): string {
  return Object.values(EC2_INSTANCE_TYPES)
    .filter((t) => t.maxEfaInterfaces > 1)
    .map((t) => `${t.instanceType} (${t.maxEfaInterfaces} EFA)`)
    .join(', ');
}

/**
 * The `networkInterfaces` of a launch template for an EFA instance type: one EFA per network card, all in
 * `subnetId`, none with a public IP, each deleted with the instance.
 * - card 0, device 0: `efa` (EFA with ENA), the primary interface: the instance's IP address, with the EFA
 *   group plus `primarySecurityGroupIds`;
 * - cards 1..n-1: `efa-only` at device 0 (default) or `efa` at device 1, with the EFA group only.
 * The template must then have no `vpcSecurityGroupIds` (EC2 rejects both together).
 * @throws SlurmConfigError naming `where`, the field, the value and the fix, e.g. for a type without EFA
 */
export function efaNetworkInterfaces(info: InstanceTypeInfo, opts: EfaNetworkInterfacesOptions): LaunchTemplateNetworkInterfaces[] {
  const where = opts.where ?? `efaNetworkInterfaces(${info.instanceType})`;
  const secondaryType = opts.secondaryInterfaceType ?? 'efa-only';
  const issues: ConfigIssue[] = [];
  if (!info.efa || !Number.isSafeInteger(info.maxEfaInterfaces) || info.maxEfaInterfaces < 1) {
    issues.push({
      field: 'instanceType',
      value: info.instanceType,
      problem: `does not support EFA (the instance-type table gives ${info.instanceType} ${info.maxEfaInterfaces} EFA interfaces)`,
      fix: `Turn EFA off for this pool (it then keeps vpcSecurityGroupIds and needs no network interfaces), or pick an EFA type: ${multiEfaTypes()}, or the 8xlarge and larger g4dn/g5/g6 sizes (1 EFA).`,
    });
  }
  if (typeof opts.efaSecurityGroupId !== 'string' || opts.efaSecurityGroupId.length === 0) {
    issues.push({
      field: 'efaSecurityGroupId',
      value: opts.efaSecurityGroupId,
      problem: 'is empty; without a self-referencing group on every EFA, OS-bypass traffic is dropped',
      fix: 'Create an EfaSecurityGroup in the pool\'s VPC and pass its securityGroupId.',
    });
  }
  (opts.primarySecurityGroupIds ?? []).forEach((sg, i) => {
    if (typeof sg !== 'string' || sg.length === 0) {
      issues.push({ field: `primarySecurityGroupIds[${i}]`, value: sg, problem: 'is empty', fix: 'Pass security group ids, e.g. the cluster security group.' });
    }
  });
  if (opts.subnetId !== undefined && (typeof opts.subnetId !== 'string' || opts.subnetId.length === 0)) {
    issues.push({ field: 'subnetId', value: opts.subnetId, problem: 'is empty', fix: 'Pass one private subnet id, or leave subnetId out.' });
  }
  if (secondaryType !== 'efa-only' && secondaryType !== 'efa') {
    issues.push({
      field: 'secondaryInterfaceType',
      value: secondaryType,
      problem: 'is neither "efa-only" nor "efa"',
      fix: 'Leave it out (efa-only) or use "efa" for AMIs that predate EFA-only interfaces.',
    });
  }
  if (issues.length > 0) throw new SlurmConfigError(issues, where);

  const efaSg = opts.efaSecurityGroupId;
  const primaryGroups = [...new Set([efaSg, ...(opts.primarySecurityGroupIds ?? [])])];
  const subnet = opts.subnetId !== undefined ? { subnetId: opts.subnetId } : {};
  const n = info.maxEfaInterfaces;
  const interfaces: LaunchTemplateNetworkInterfaces[] = [
    {
      networkCardIndex: 0,
      deviceIndex: 0,
      interfaceType: 'efa',
      description: `Primary interface with EFA 1 of ${n} (network card 0)`,
      securityGroups: primaryGroups,
      // Only the primary interface may carry this flag; the others never get a public address.
      associatePublicIpAddress: 'false',
      deleteOnTermination: 'true',
      ...subnet,
    },
  ];
  for (let card = 1; card < n; card++) {
    interfaces.push({
      networkCardIndex: card,
      // Device index counts per network card: EFA-only takes 0 on its card, an EFA with ENA takes 1.
      deviceIndex: secondaryType === 'efa-only' ? 0 : 1,
      interfaceType: secondaryType,
      description: `EFA ${card + 1} of ${n} (network card ${card})`,
      securityGroups: [efaSg],
      deleteOnTermination: 'true',
      ...subnet,
    });
  }
  return interfaces;
}

/**
 * node.env entries for `bootstrap-scripts/aws/efa.sh` on an EFA pool: `EFA_ENABLED=1` (anything else makes the
 * step a no-op) and `INSTANCE_TYPE`, which decides `FI_EFA_USE_DEVICE_RDMA` without asking IMDS. The installer
 * version and checksum stay the script's pinned ones.
 * @throws SlurmConfigError for a type without EFA, like {@link efaNetworkInterfaces}
 */
export function efaNodeEnv(info: InstanceTypeInfo, where = `efaNodeEnv(${info.instanceType})`): Record<string, string> {
  if (!info.efa || info.maxEfaInterfaces < 1) {
    throw new SlurmConfigError([{
      field: 'instanceType',
      value: info.instanceType,
      problem: 'does not support EFA, so efa.sh would find no EFA device and fail the bootstrap',
      fix: `Turn EFA off for this pool, or pick an EFA type: ${multiEfaTypes()}, or the 8xlarge and larger g4dn/g5/g6 sizes.`,
    }], where);
  }
  return { EFA_ENABLED: '1', INSTANCE_TYPE: info.instanceType };
}
