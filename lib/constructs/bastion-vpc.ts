import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsAvailabilityZones } from '@cdktf/provider-aws/lib/data-aws-availability-zones';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { DefaultSecurityGroup } from '@cdktf/provider-aws/lib/default-security-group';
import { Eip } from '@cdktf/provider-aws/lib/eip';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway';
import { NatGateway } from '@cdktf/provider-aws/lib/nat-gateway';
import { Route } from '@cdktf/provider-aws/lib/route';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Fn, Op, Token } from 'cdktf';
import { Construct } from 'constructs';
import {
  CidrError,
  cidrContains,
  firstOverlap,
  parseIpv4Cidr,
  sshSourceIssue,
  subdivide,
  subnetCount,
} from '../net/cidr';
import { suppressPolicyRule } from '../policy/security-policy';
import { describeForPlan } from './plan-summary';
import type { IClusterBackend } from '../backend';
import { awsBackend } from '../aws/backend';
import type { IAwsClusterNetwork } from '../aws/network';
import { ConstructPropError } from '../cdktf-adapter';

/** One subnet as other constructs see it. `availabilityZone` is a Terraform reference (known at plan). */
export interface BastionVpcSubnet {
  readonly id: string;
  readonly cidr: string;
  readonly availabilityZone: string;
}

/** How operators reach the bastion. */
export type BastionAccess = 'ssh' | 'ssm';

export interface BastionVpcProps {
  /** The VPC's IPv4 block, /16 to /24, e.g. `10.0.0.0/16` (the seed's). */
  readonly cidr: string;
  /**
   * Availability zones to spread subnets over (one private and one public subnet each); at most the region's
   * count of standard zones, checked at plan.
   * @default 1
   */
  readonly availabilityZoneCount?: number;
  /**
   * Prefix length of derived subnets. Zone i gets block 1+2i (private) and 2+2i (public) of the VPC cut at this
   * length; block 0 is left free, as in the seed.
   * @default 24
   */
  readonly subnetPrefixLength?: number;
  /**
   * One private subnet CIDR per zone, inside the VPC, overlapping nothing.
   * @default derived: block 1+2i of `cidr` at `subnetPrefixLength` (`10.0.1.0/24` for the seed)
   */
  readonly privateSubnetCidrs?: string[];
  /**
   * One public subnet CIDR per zone, inside the VPC, overlapping nothing.
   * @default derived: block 2+2i of `cidr` at `subnetPrefixLength` (`10.0.2.0/24` for the seed)
   */
  readonly publicSubnetCidrs?: string[];
  /**
   * IPv4 ranges (your office or VPN, /8 or narrower) allowed to SSH to the bastion. Never `0.0.0.0/0`.
   * @default none (no SSH from anywhere)
   */
  readonly sshAllowedCidrs?: string[];
  /**
   * `'ssh'` opens port 22 on the bastion to `sshAllowedCidrs` only; `'ssm'` opens nothing inbound and you connect
   * with AWS Systems Manager Session Manager. The bastion is SSM-managed in both modes.
   * @default `'ssh'` when `sshAllowedCidrs` is non-empty, else `'ssm'`
   */
  readonly bastionAccess?: BastionAccess;
  /** @default `t3.micro` */
  readonly bastionInstanceType?: string;
  /**
   * AMI of the bastion. With the default, later Ubuntu releases do not replace a running bastion
   * (`ignore_changes = [ami]`; it patches itself with unattended-upgrades); taint it to move on.
   * @default the latest Ubuntu 24.04 LTS AMI (amd64, or arm64 for Graviton types) from Canonical's public SSM parameter
   */
  readonly bastionAmiId?: string;
  /** EC2 key pair for SSH to the bastion. @default none (use Session Manager, or EC2 Instance Connect) */
  readonly keyName?: string;
  /**
   * Days CloudWatch keeps VPC flow logs; one of CloudWatch's allowed values (0 = never expire).
   * @default 90
   */
  readonly flowLogRetentionDays?: number;
  /**
   * Slurm's `SrunPortRange`: ports srun listens on for steps, open between cluster members only.
   * Must be at least 1024 and not touch 6817-6820.
   * @default [60001, 63000]
   */
  readonly srunPortRange?: [number, number];
  /** Tags added to every resource that takes tags (`Name` is set per resource). @default none */
  readonly tags?: Record<string, string>;
}

/** Ports the cluster group opens to itself, and only to itself. */
const SLURM_DAEMON_PORTS = { from: 6817, to: 6819 } as const; // slurmctld, slurmd, slurmdbd
const SLURMRESTD_PORT = 6820;
const DEFAULT_SRUN_PORT_RANGE: [number, number] = [60001, 63000];
const CLOUDWATCH_RETENTION_DAYS = [0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
  2192, 2557, 2922, 3288, 3653];
const UBUNTU_AMI_PARAMETER = (arch: 'amd64' | 'arm64') =>
  `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arch}/hvm/ebs-gp3/ami-id`;

/**
 * The AWS network of the seed environment, secured: a VPC with one private and one public subnet per zone, an
 * internet gateway, one NAT gateway (EIP) for the private subnets, flow logs, a closed default security group,
 * a bastion host, and the security group every cluster member joins (Slurm ports open only to itself).
 */
export class BastionVpc extends Construct implements IAwsClusterNetwork {
  readonly cloud = 'aws' as const;
  /** What the cluster's constructs ask of AWS. */
  readonly backend: IClusterBackend = awsBackend(this);
  readonly vpcId: string;
  /** The VPC's CIDR as given. */
  readonly cidr: string;
  /** One per zone, in zone order; the controller goes in the first. */
  readonly privateSubnets: BastionVpcSubnet[];
  readonly publicSubnets: BastionVpcSubnet[];
  /** Group every cluster member (controller, login, compute) joins. */
  readonly clusterSecurityGroupId: string;
  readonly bastionSecurityGroupId: string;
  readonly bastionAccess: BastionAccess;
  readonly bastionPublicIp: string;
  /** Instance ID of the bastion, the target of `aws ssm start-session`. */
  readonly bastionInstanceId: string;
  /** Address the cluster's outbound traffic comes from (allow-list it at package mirrors, mesh coordinators). */
  readonly natPublicIp: string;
  /** Region name, from the provider's configuration. */
  readonly region: string;
  readonly srunPortRange: [number, number];

  constructor(scope: Construct, id: string, props: BastionVpcProps) {
    super(scope, id);
    const layout = this.validate(props);
    this.cidr = props.cidr;
    this.bastionAccess = layout.access;
    this.srunPortRange = layout.srunPortRange;
    describeForPlan(this, () => ({
      kind: 'network',
      name: this.node.id,
      cloud: 'aws',
      cidr: props.cidr,
      access: layout.access === 'ssh'
        ? `bastion ${layout.instanceType}, SSH from ${layout.sshCidrs.join(', ')}`
        : `bastion ${layout.instanceType} through Session Manager (no inbound port)`,
      bastionType: layout.instanceType,
      natGateways: 1,
      gpuNetworks: 0,
    }));
    describeForPlan(this, () => ({
      kind: 'endpoint',
      name: 'bastion',
      reach: layout.access === 'ssh'
        ? `ssh to its public address (output), from ${layout.sshCidrs.join(', ')}`
        : `aws ssm start-session --target <bastion instance id> (output)`,
    }));
    // Construct IDs may hold characters IAM, log-group and security-group names refuse.
    const safeId = id.replace(/[^A-Za-z0-9_.-]/g, '-');
    const tagged = (name: string) => ({ ...props.tags, Name: `${safeId}-${name}` });

    this.region = new DataAwsRegion(this, 'Region').name;
    const partition = new DataAwsPartition(this, 'Partition').partition;
    const zones = new DataAwsAvailabilityZones(this, 'Zones', {
      state: 'available',
      // Standard zones only: Local and Wavelength zones lack most instance types and NAT gateways.
      filter: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }],
    });

    const vpc = new Vpc(this, 'Vpc', {
      cidrBlock: props.cidr,
      enableDnsSupport: true,
      enableDnsHostnames: true,
      tags: tagged('vpc'),
    });
    this.vpcId = vpc.id;

    // Managing the default group with no rules strips AWS's allow-all-from-itself default.
    new DefaultSecurityGroup(this, 'DefaultSecurityGroup', {
      vpcId: vpc.id,
      ingress: [],
      egress: [],
      tags: tagged('default-closed'),
    });

    const makeSubnets = (kind: 'private' | 'public', cidrs: string[]) =>
      cidrs.map((cidr, i) => {
        const subnet = new Subnet(this, `${kind === 'private' ? 'Private' : 'Public'}Subnet${i}`, {
          vpcId: vpc.id,
          cidrBlock: cidr,
          // element() wraps around, so a count above the region's would silently double up zones: stop the plan.
          availabilityZone: Fn.element(zones.names, i),
          // No subnet hands out public IPs: the bastion asks for its own, NAT gateways need none.
          mapPublicIpOnLaunch: false,
          tags: tagged(`${kind}-${i}`),
          lifecycle: i === 0 && kind === 'private' ? {
            precondition: [{
              condition: Op.gte(Fn.lengthOf(zones.names), cidrs.length),
              errorMessage: `${this.node.path}: availabilityZoneCount = ${cidrs.length} is more than this region's ` +
                'available standard zones. Use fewer zones.',
            }],
          } : undefined,
        });
        return { resource: subnet, view: { id: subnet.id, cidr, availabilityZone: subnet.availabilityZone } };
      });
    const privateSubnets = makeSubnets('private', layout.privateCidrs);
    const publicSubnets = makeSubnets('public', layout.publicCidrs);
    this.privateSubnets = privateSubnets.map((s) => s.view);
    this.publicSubnets = publicSubnets.map((s) => s.view);

    const igw = new InternetGateway(this, 'InternetGateway', { vpcId: vpc.id, tags: tagged('igw') });
    const natEip = new Eip(this, 'NatEip', { domain: 'vpc', dependsOn: [igw], tags: tagged('nat') });
    // One NAT gateway, as in the seed: a zone outage cuts the other zones' egress, at a third of the cost.
    const nat = new NatGateway(this, 'NatGateway', {
      allocationId: natEip.allocationId,
      subnetId: publicSubnets[0].resource.id,
      dependsOn: [igw],
      tags: tagged('nat'),
    });
    this.natPublicIp = natEip.publicIp;

    // Separate Route resources, so other constructs (a mesh, peering) can add routes to these tables.
    const publicTable = new RouteTable(this, 'PublicRouteTable', { vpcId: vpc.id, tags: tagged('public') });
    new Route(this, 'PublicDefaultRoute', {
      routeTableId: publicTable.id,
      destinationCidrBlock: '0.0.0.0/0',
      gatewayId: igw.id,
    });
    const privateTable = new RouteTable(this, 'PrivateRouteTable', { vpcId: vpc.id, tags: tagged('private') });
    new Route(this, 'PrivateDefaultRoute', {
      routeTableId: privateTable.id,
      destinationCidrBlock: '0.0.0.0/0',
      natGatewayId: nat.id,
    });
    publicSubnets.forEach((s, i) => new RouteTableAssociation(this, `PublicSubnet${i}Routes`, {
      subnetId: s.resource.id,
      routeTableId: publicTable.id,
    }));
    privateSubnets.forEach((s, i) => new RouteTableAssociation(this, `PrivateSubnet${i}Routes`, {
      subnetId: s.resource.id,
      routeTableId: privateTable.id,
    }));

    this.addFlowLogs(vpc, props, safeId, partition);

    // --- Security groups. Rules are separate resources, never inline, so other constructs can add their own.
    const bastionSg = new SecurityGroup(this, 'BastionSecurityGroup', {
      namePrefix: `${safeId}-bastion-`,
      // Constant: a description change replaces the group, which the running bastion would block.
      description: 'Bastion host: SSH only from the listed ranges, nothing inbound with Session Manager',
      vpcId: vpc.id,
      tags: tagged('bastion'),
    });
    const clusterSg = new SecurityGroup(this, 'ClusterSecurityGroup', {
      namePrefix: `${safeId}-cluster-`,
      description: 'Slurm cluster members: Slurm ports from this group only, SSH from the bastion',
      vpcId: vpc.id,
      tags: tagged('cluster'),
    });
    this.bastionSecurityGroupId = bastionSg.id;
    this.clusterSecurityGroupId = clusterSg.id;

    layout.sshCidrs.forEach((cidr, i) => new VpcSecurityGroupIngressRule(this, `BastionSshIngress${i}`, {
      securityGroupId: bastionSg.id,
      description: `SSH from allowed range ${cidr}`,
      ipProtocol: 'tcp',
      fromPort: 22,
      toPort: 22,
      cidrIpv4: cidr,
      tags: props.tags,
    }));
    const bastionEgress: [string, number, string][] = [
      ['BastionHttpsEgress', 443, 'HTTPS out: Session Manager endpoints and package updates'],
      ['BastionHttpEgress', 80, 'HTTP out: Ubuntu package mirrors'],
    ];
    for (const [ruleId, port, description] of bastionEgress) {
      new VpcSecurityGroupEgressRule(this, ruleId, {
        securityGroupId: bastionSg.id, description, ipProtocol: 'tcp', fromPort: port, toPort: port,
        cidrIpv4: '0.0.0.0/0', tags: props.tags,
      });
    }
    new VpcSecurityGroupEgressRule(this, 'BastionSshToCluster', {
      securityGroupId: bastionSg.id,
      description: 'SSH to cluster members',
      ipProtocol: 'tcp',
      fromPort: 22,
      toPort: 22,
      referencedSecurityGroupId: clusterSg.id,
      tags: props.tags,
    });

    const [srunFrom, srunTo] = layout.srunPortRange;
    const fromSelf: [string, number, number, string][] = [
      ['ClusterSlurmDaemons', SLURM_DAEMON_PORTS.from, SLURM_DAEMON_PORTS.to,
        'Slurm slurmctld 6817, slurmd 6818, slurmdbd 6819 from cluster members'],
      ['ClusterSlurmrestd', SLURMRESTD_PORT, SLURMRESTD_PORT, 'Slurm slurmrestd 6820 from cluster members'],
      ['ClusterSrunPorts', srunFrom, srunTo, `srun step ports ${srunFrom}-${srunTo} (SrunPortRange) from cluster members`],
    ];
    for (const [ruleId, fromPort, toPort, description] of fromSelf) {
      new VpcSecurityGroupIngressRule(this, ruleId, {
        securityGroupId: clusterSg.id, description, ipProtocol: 'tcp', fromPort, toPort,
        referencedSecurityGroupId: clusterSg.id, tags: props.tags,
      });
    }
    new VpcSecurityGroupIngressRule(this, 'ClusterSshFromBastion', {
      securityGroupId: clusterSg.id,
      description: 'SSH from the bastion host',
      ipProtocol: 'tcp',
      fromPort: 22,
      toPort: 22,
      referencedSecurityGroupId: bastionSg.id,
      tags: props.tags,
    });
    new VpcSecurityGroupEgressRule(this, 'ClusterEgressAll', {
      securityGroupId: clusterSg.id,
      description: 'All outbound: packages and mesh through the NAT gateway, Slurm traffic between members',
      ipProtocol: '-1',
      cidrIpv4: '0.0.0.0/0',
      tags: props.tags,
    });

    // --- Bastion host.
    const role = new IamRole(this, 'BastionRole', {
      namePrefix: `${safeId}-bastion-`.slice(0, 38),
      description: `Bastion host of ${this.node.path}: Session Manager only`,
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
      tags: props.tags,
    });
    // AWS-managed and narrow (ssm/ssmmessages/ec2messages): Session Manager works in both access modes.
    new IamRolePolicyAttachment(this, 'BastionSsmCore', {
      role: role.name,
      policyArn: `arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
    });
    const profile = new IamInstanceProfile(this, 'BastionProfile', {
      namePrefix: `${safeId}-bastion-`.slice(0, 38),
      role: role.name,
      tags: props.tags,
    });
    const amiId = props.bastionAmiId ?? new DataAwsSsmParameter(this, 'BastionAmi', {
      name: UBUNTU_AMI_PARAMETER(isGravitonType(layout.instanceType) ? 'arm64' : 'amd64'),
    }).value;
    const bastion = new Instance(this, 'Bastion', {
      ami: amiId,
      instanceType: layout.instanceType,
      subnetId: publicSubnets[0].resource.id,
      associatePublicIpAddress: true,
      vpcSecurityGroupIds: [bastionSg.id],
      iamInstanceProfile: profile.name,
      keyName: props.keyName,
      metadataOptions: {
        httpEndpoint: 'enabled',
        httpTokens: 'required',
        httpPutResponseHopLimit: 1,
        instanceMetadataTags: 'disabled',
      },
      rootBlockDevice: { encrypted: true, volumeType: 'gp3', deleteOnTermination: true },
      tags: tagged('bastion'),
      lifecycle: props.bastionAmiId === undefined ? { ignoreChanges: ['ami'] } : undefined,
    });
    suppressPolicyRule(
      bastion,
      'AWS-EC2-NO-PUBLIC-IP',
      'The bastion is the one host meant to be reached from outside: it sits alone in the public subnet, admits SSH ' +
        'only from allowedSshCidrs (nothing with Session Manager, which still needs the address to reach AWS ' +
        'through the internet gateway) and runs nothing else.',
    );
    this.bastionPublicIp = bastion.publicIp;
    this.bastionInstanceId = bastion.id;
  }

  private addFlowLogs(vpc: Vpc, props: BastionVpcProps, safeId: string, partition: string): void {
    const logGroup = new CloudwatchLogGroup(this, 'FlowLogGroup', {
      namePrefix: `/cdktf-slurm/${safeId}/vpc-flow-logs-`,
      retentionInDays: props.flowLogRetentionDays ?? 90,
      tags: props.tags,
    });
    const account = new DataAwsCallerIdentity(this, 'Account').accountId;
    const role = new IamRole(this, 'FlowLogRole', {
      namePrefix: `${safeId}-flowlogs-`.slice(0, 38),
      description: `VPC flow logs of ${this.node.path}: write to one log group`,
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Allow',
          Principal: { Service: 'vpc-flow-logs.amazonaws.com' },
          Action: 'sts:AssumeRole',
          // Confused-deputy guard: only flow logs of this account may take the role.
          Condition: {
            StringEquals: { 'aws:SourceAccount': account },
            ArnLike: { 'aws:SourceArn': `arn:${partition}:ec2:*:${account}:vpc-flow-log/*` },
          },
        }],
      }),
      tags: props.tags,
    });
    // The log group exists already, so the service only needs to create streams and put events in it.
    new IamRolePolicy(this, 'FlowLogRolePolicy', {
      name: 'write-flow-logs',
      role: role.id,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
          Resource: `${logGroup.arn}:*`,
        }],
      }),
    });
    new FlowLog(this, 'FlowLog', {
      vpcId: vpc.id,
      trafficType: 'ALL',
      logDestinationType: 'cloud-watch-logs',
      logDestination: logGroup.arn,
      iamRoleArn: role.arn,
      tags: { ...props.tags, Name: `${safeId}-flow-logs` },
    });
  }

  /** Every construct-time check; returns the resolved layout. */
  private validate(props: BastionVpcProps) {
    const fail = (field: string, value: unknown, problem: string, fix: string): never => {
      throw new ConstructPropError(this, field, value, problem, fix);
    };
    const literal = (field: string, value: unknown) => {
      if (typeof value === 'string' && Token.isUnresolved(value)) {
        fail(field, value, 'is a Terraform reference, but the layout is computed at synth', 'Give a literal CIDR');
      }
    };
    const parse = (field: string, value: string) => {
      literal(field, value);
      try {
        return parseIpv4Cidr(value);
      } catch (e) {
        if (e instanceof CidrError) return fail(field, value, e.problem, e.fix);
        throw e;
      }
    };

    const vpc = parse('cidr', props.cidr);
    if (vpc.prefixLength < 16 || vpc.prefixLength > 24) {
      fail('cidr', props.cidr, `a /${vpc.prefixLength} VPC is outside /16 to /24 (AWS allows /16 to /28; the subnets need room)`,
        vpc.prefixLength < 16 ? 'Use a /16, e.g. \'10.0.0.0/16\'' : 'Use a /24 or shorter prefix');
    }

    const azCount = props.availabilityZoneCount ?? 1;
    if (!Number.isInteger(azCount) || azCount < 1) {
      fail('availabilityZoneCount', props.availabilityZoneCount, 'must be a whole number of at least 1', 'Use 1 (the seed) or 2');
    }
    const subnetPrefix = props.subnetPrefixLength ?? 24;
    if (!Number.isInteger(subnetPrefix) || subnetPrefix <= vpc.prefixLength || subnetPrefix > 28) {
      fail('subnetPrefixLength', props.subnetPrefixLength,
        `must be a whole number above the VPC's /${vpc.prefixLength} and at most 28 (AWS's smallest subnet)`,
        `Use a value from ${vpc.prefixLength + 1} to 28`);
    }

    const explicit = (field: 'privateSubnetCidrs' | 'publicSubnetCidrs', list: string[] | undefined) => {
      if (list === undefined) return undefined;
      if (!Array.isArray(list) || list.length !== azCount) {
        fail(field, list, `needs one CIDR per availability zone (${azCount})`,
          `Give ${azCount} CIDR${azCount === 1 ? '' : 's'}, or leave it out to derive them from cidr`);
      }
      return list.map((c, i) => {
        const block = parse(`${field}[${i}]`, c);
        if (block.prefixLength > 28) {
          fail(`${field}[${i}]`, c, `a /${block.prefixLength} subnet is smaller than AWS's smallest, /28`, 'Use /28 or a shorter prefix');
        }
        if (!cidrContains(vpc.cidr, block.cidr)) {
          fail(`${field}[${i}]`, c, `is not inside the VPC's ${vpc.cidr}`, `Pick a block inside ${vpc.cidr}`);
        }
        return block.cidr;
      });
    };
    const givenPrivate = explicit('privateSubnetCidrs', props.privateSubnetCidrs);
    const givenPublic = explicit('publicSubnetCidrs', props.publicSubnetCidrs);
    if (!givenPrivate || !givenPublic) {
      const available = subnetCount(vpc.cidr, subnetPrefix);
      const needed = givenPublic ? 2 * azCount : 2 * azCount + 1; // highest block index used, plus one
      if (needed > available) {
        fail('availabilityZoneCount', azCount,
          `${azCount} zone${azCount === 1 ? '' : 's'} need${azCount === 1 ? 's' : ''} ${needed} /${subnetPrefix} blocks ` +
          `(block 0 stays free), but ${vpc.cidr} holds ${available}`,
          'Use fewer zones, a longer subnetPrefixLength or a larger cidr, or give privateSubnetCidrs and publicSubnetCidrs');
      }
    }
    const privateCidrs = givenPrivate ?? Array.from({ length: azCount }, (_, i) => subdivide(vpc.cidr, subnetPrefix, 1 + 2 * i));
    const publicCidrs = givenPublic ?? Array.from({ length: azCount }, (_, i) => subdivide(vpc.cidr, subnetPrefix, 2 + 2 * i));
    const all = [
      ...privateCidrs.map((c, i) => ({ field: `privateSubnetCidrs[${i}]`, cidr: c })),
      ...publicCidrs.map((c, i) => ({ field: `publicSubnetCidrs[${i}]`, cidr: c })),
    ];
    const overlap = firstOverlap(all);
    if (overlap) {
      fail(overlap.block.field, overlap.block.cidr, `overlaps ${overlap.clash.field} (${overlap.clash.cidr})`, 'Give every subnet its own block');
    }

    const sshCidrs = props.sshAllowedCidrs ?? [];
    if (!Array.isArray(sshCidrs)) fail('sshAllowedCidrs', sshCidrs, 'must be a list of CIDRs', "Use e.g. ['203.0.113.0/24']");
    const fixOpen = "Give your office or VPN range, e.g. ['203.0.113.0/24'], or use bastionAccess 'ssm' (no inbound SSH)";
    sshCidrs.forEach((c, i) => literal(`sshAllowedCidrs[${i}]`, c));
    const sshIssue = sshSourceIssue(sshCidrs, 'sshAllowedCidrs', fixOpen, 'is IPv6, but this VPC has no IPv6');
    if (sshIssue) fail(`sshAllowedCidrs[${sshIssue.index}]`, sshIssue.cidr, sshIssue.problem, sshIssue.fix);

    const access = props.bastionAccess ?? (sshCidrs.length > 0 ? 'ssh' : 'ssm');
    if (access !== 'ssh' && access !== 'ssm') fail('bastionAccess', access, "must be 'ssh' or 'ssm'", "Use 'ssm' unless you need plain SSH");
    if (access === 'ssh' && sshCidrs.length === 0) {
      fail('bastionAccess', access, 'SSH access needs sshAllowedCidrs, and none are given',
        "Set sshAllowedCidrs to your office or VPN range, or use bastionAccess 'ssm'");
    }
    if (access === 'ssm' && sshCidrs.length > 0) {
      fail('sshAllowedCidrs', sshCidrs, "'ssm' access opens no inbound port, so these ranges would be ignored",
        "Remove sshAllowedCidrs, or use bastionAccess 'ssh'");
    }

    const srunPortRange = props.srunPortRange ?? DEFAULT_SRUN_PORT_RANGE;
    const [lo, hi] = Array.isArray(srunPortRange) ? srunPortRange : [NaN, NaN];
    if (!Array.isArray(srunPortRange) || srunPortRange.length !== 2 || !Number.isInteger(lo) || !Number.isInteger(hi) ||
        lo < 1024 || hi > 65535 || lo > hi) {
      fail('srunPortRange', srunPortRange, 'must be [first, last] whole ports with 1024 <= first <= last <= 65535 (srun runs unprivileged)',
        'Use e.g. [60001, 63000]');
    }
    if (lo <= SLURMRESTD_PORT && hi >= SLURM_DAEMON_PORTS.from) {
      fail('srunPortRange', srunPortRange, 'overlaps the Slurm daemon ports 6817-6820', 'Use a range clear of them, e.g. [60001, 63000]');
    }

    const retention = props.flowLogRetentionDays ?? 90;
    if (!CLOUDWATCH_RETENTION_DAYS.includes(retention)) {
      fail('flowLogRetentionDays', props.flowLogRetentionDays, 'is not a retention CloudWatch Logs accepts',
        `Use one of ${CLOUDWATCH_RETENTION_DAYS.join(', ')}`);
    }
    const instanceType = props.bastionInstanceType ?? 't3.micro';
    if (!Token.isUnresolved(instanceType) && !/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(instanceType)) {
      fail('bastionInstanceType', instanceType, 'is not an EC2 instance type', "Use e.g. 't3.micro' or 't4g.micro'");
    }
    if (props.bastionAmiId !== undefined && !Token.isUnresolved(props.bastionAmiId) && !/^ami-[0-9a-f]{8,17}$/.test(props.bastionAmiId)) {
      fail('bastionAmiId', props.bastionAmiId, 'is not an AMI ID', "Use e.g. 'ami-0123456789abcdef0', or leave it out for Ubuntu 24.04");
    }
    if (props.keyName !== undefined && props.keyName.trim() === '') {
      fail('keyName', props.keyName, 'is empty', 'Leave it out, or name an EC2 key pair');
    }
    return { privateCidrs, publicCidrs, sshCidrs: [...sshCidrs], access, srunPortRange: [lo, hi] as [number, number], instanceType };
  }
}

/** Graviton families carry a `g` after the generation digit (t4g, m7g, c7gn, r8g, is4gen); x86 GPU families don't (g5, g6e). */
export function isGravitonType(instanceType: string): boolean {
  return /^[a-z]+\d+[a-z-]*g[a-z-]*\./.test(instanceType);
}
