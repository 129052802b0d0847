import { TerraformOutput, TerraformStack, Testing } from 'cdktf';
import { BastionVpc, BastionVpcProps, isGravitonType } from '../../lib/constructs/bastion-vpc';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

function build(props: BastionVpcProps, withOutputs = false): { net: BastionVpc; json: Json } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  const net = new BastionVpc(stack, 'Network', props);
  if (withOutputs) {
    // The public fields, as another construct would use them.
    const fields: Record<string, string> = {
      vpc_id: net.vpcId, cluster_sg: net.clusterSecurityGroupId, bastion_sg: net.bastionSecurityGroupId,
      bastion_ip: net.bastionPublicIp, bastion_id: net.bastionInstanceId, nat_ip: net.natPublicIp, region: net.region,
      private_id: net.privateSubnets[0].id, private_az: net.privateSubnets[0].availabilityZone,
      public_id: net.publicSubnets[0].id,
    };
    for (const [name, value] of Object.entries(fields)) new TerraformOutput(stack, name, { value });
  }
  return { net, json: JSON.parse(Testing.synth(stack)) };
}

/** `{ logicalName: config }` of one resource type (empty when absent). */
function resources(json: Json, type: string): Record<string, Json> {
  return json.resource?.[type] ?? {};
}

function only(json: Json, type: string): [string, Json] {
  const entries = Object.entries(resources(json, type));
  expect(entries).toHaveLength(1);
  return entries[0];
}

const ref = (type: string, name: string, attr = 'id') => `\${${type}.${name}.${attr}}`;

function securityGroupName(json: Json, idPart: string): string {
  const name = Object.keys(resources(json, 'aws_security_group')).find((n) => n.includes(idPart));
  if (!name) throw new Error(`no security group ${idPart}`);
  return name;
}

function ingressOf(json: Json, sgName: string): Json[] {
  return Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'))
    .filter((r) => r.security_group_id === ref('aws_security_group', sgName));
}

const SEED: BastionVpcProps = { cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.0/24'] };

describe('BastionVpc: the seed network', () => {
  const { net, json } = build(SEED, true);
  const [vpcName] = only(json, 'aws_vpc');

  it('matches the seed VPC and subnets', () => {
    expect(resources(json, 'aws_vpc')[vpcName]).toMatchObject({
      cidr_block: '10.0.0.0/16', enable_dns_support: true, enable_dns_hostnames: true,
    });
    const subnets = Object.entries(resources(json, 'aws_subnet'));
    expect(subnets.map(([, s]) => s.cidr_block).sort()).toEqual(['10.0.1.0/24', '10.0.2.0/24']);
    for (const [, s] of subnets) {
      expect(s.vpc_id).toBe(ref('aws_vpc', vpcName));
      expect(s.map_public_ip_on_launch).toBe(false);
    }
    expect(net.cloud).toBe('aws');
    expect(net.cidr).toBe('10.0.0.0/16');
    expect(net.privateSubnets.map((s) => s.cidr)).toEqual(['10.0.1.0/24']);
    expect(net.publicSubnets.map((s) => s.cidr)).toEqual(['10.0.2.0/24']);
    expect(net.bastionAccess).toBe('ssh');
  });

  it('has one NAT gateway with an EIP, in the public subnet', () => {
    const [eipName, eip] = only(json, 'aws_eip');
    const [, nat] = only(json, 'aws_nat_gateway');
    const publicSubnet = Object.entries(resources(json, 'aws_subnet')).find(([, s]) => s.cidr_block === '10.0.2.0/24')![0];
    expect(eip.domain).toBe('vpc');
    expect(nat.allocation_id).toBe(ref('aws_eip', eipName, 'allocation_id'));
    expect(nat.subnet_id).toBe(ref('aws_subnet', publicSubnet));
    only(json, 'aws_internet_gateway');
  });

  it('routes public subnets to the IGW and private ones to the NAT', () => {
    const [igwName] = only(json, 'aws_internet_gateway');
    const [natName] = only(json, 'aws_nat_gateway');
    const routes = Object.values(resources(json, 'aws_route'));
    expect(routes).toHaveLength(2);
    const tableOf = (target: Json) => routes.find((r) => r.destination_cidr_block === '0.0.0.0/0' &&
      (r.gateway_id === target.gw || r.nat_gateway_id === target.nat))!.route_table_id;
    const publicTable = tableOf({ gw: ref('aws_internet_gateway', igwName) });
    const privateTable = tableOf({ nat: ref('aws_nat_gateway', natName) });
    expect(publicTable).not.toBe(privateTable);
    const subnetName = (cidr: string) => Object.entries(resources(json, 'aws_subnet')).find(([, s]) => s.cidr_block === cidr)![0];
    const assoc = Object.values(resources(json, 'aws_route_table_association'));
    expect(assoc).toHaveLength(2);
    expect(assoc).toContainEqual({ subnet_id: ref('aws_subnet', subnetName('10.0.1.0/24')), route_table_id: privateTable });
    expect(assoc).toContainEqual({ subnet_id: ref('aws_subnet', subnetName('10.0.2.0/24')), route_table_id: publicTable });
  });

  it('closes the default security group', () => {
    const [, dsg] = only(json, 'aws_default_security_group');
    expect(dsg.vpc_id).toBe(ref('aws_vpc', vpcName));
    expect(dsg.ingress).toEqual([]);
    expect(dsg.egress).toEqual([]);
  });

  it('logs ALL traffic to a retained log group, through a role that can write only there', () => {
    const [logName, logGroup] = only(json, 'aws_cloudwatch_log_group');
    const [, flow] = only(json, 'aws_flow_log');
    expect(logGroup.retention_in_days).toBe(90);
    expect(flow).toMatchObject({
      vpc_id: ref('aws_vpc', vpcName),
      traffic_type: 'ALL',
      log_destination_type: 'cloud-watch-logs',
      log_destination: ref('aws_cloudwatch_log_group', logName, 'arn'),
    });
    const [, policy] = only(json, 'aws_iam_role_policy');
    expect(flow.iam_role_arn).toBe(policy.role.replace(/\.id\}$/, '.arn}'));
    // Only this account's flow logs may assume the role.
    const flowRole = resources(json, 'aws_iam_role')[flow.iam_role_arn.split('.')[1]];
    const trust = JSON.parse(flowRole.assume_role_policy).Statement[0];
    expect(trust.Principal).toEqual({ Service: 'vpc-flow-logs.amazonaws.com' });
    expect(trust.Condition.StringEquals['aws:SourceAccount']).toMatch(/^\$\{data\.aws_caller_identity\.\w+\.account_id\}$/);
    const doc = JSON.parse(policy.policy);
    expect(doc.Statement).toEqual([{
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      Resource: `${ref('aws_cloudwatch_log_group', logName, 'arn')}:*`,
    }]);
  });

  it('has no IAM statement with a wildcard action or a bare * resource', () => {
    const docs = [
      ...Object.values(resources(json, 'aws_iam_role_policy')).map((p) => p.policy),
      ...Object.values(resources(json, 'aws_iam_role')).map((r) => r.assume_role_policy),
    ].map((text) => JSON.parse(text));
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const doc of docs) {
      for (const st of doc.Statement) {
        for (const action of [st.Action].flat()) expect(action).not.toMatch(/\*/);
        for (const resource of [st.Resource ?? []].flat()) expect(resource).not.toBe('*');
      }
    }
    // The bastion's only permissions are AWS's Session Manager core policy.
    const attachments = Object.values(resources(json, 'aws_iam_role_policy_attachment'));
    expect(attachments.map((a) => a.policy_arn)).toEqual([expect.stringMatching(/:iam::aws:policy\/AmazonSSMManagedInstanceCore$/)]);
  });

  it('opens SSH on the bastion only from the given ranges', () => {
    const bastionSg = securityGroupName(json, 'BastionSecurityGroup');
    const ingress = ingressOf(json, bastionSg);
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({ ip_protocol: 'tcp', from_port: 22, to_port: 22, cidr_ipv4: '203.0.113.0/24' });
  });

  it('never opens ingress to the whole internet', () => {
    for (const rule of Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'))) {
      expect(rule.cidr_ipv4).not.toBe('0.0.0.0/0');
      expect(rule.cidr_ipv6).toBeUndefined();
    }
    // Rules are separate resources only: no inline rules that could hide an open port.
    for (const sg of Object.values(resources(json, 'aws_security_group'))) {
      expect(sg.ingress).toBeUndefined();
      expect(sg.egress).toBeUndefined();
    }
  });

  it('opens Slurm ports on the cluster group only to itself, and SSH only from the bastion', () => {
    const clusterSg = securityGroupName(json, 'ClusterSecurityGroup');
    const bastionSg = securityGroupName(json, 'BastionSecurityGroup');
    const ingress = ingressOf(json, clusterSg);
    const self = ref('aws_security_group', clusterSg);
    const ports = ingress.map((r) => [r.from_port, r.to_port, r.referenced_security_group_id]);
    expect(ports).toEqual(expect.arrayContaining([
      [6817, 6819, self], [6820, 6820, self], [60001, 63000, self], [22, 22, ref('aws_security_group', bastionSg)],
    ]));
    expect(ingress).toHaveLength(4);
    for (const rule of ingress) {
      expect(rule.cidr_ipv4).toBeUndefined();
      expect(rule.ip_protocol).toBe('tcp');
    }
    // Cluster members reach the internet (NAT) for packages.
    const egress = Object.values(resources(json, 'aws_vpc_security_group_egress_rule')).filter((r) => r.security_group_id === self);
    expect(egress).toEqual([expect.objectContaining({ ip_protocol: '-1', cidr_ipv4: '0.0.0.0/0' })]);
  });

  it('describes every security group and rule', () => {
    const all = [
      ...Object.values(resources(json, 'aws_security_group')),
      ...Object.values(resources(json, 'aws_vpc_security_group_ingress_rule')),
      ...Object.values(resources(json, 'aws_vpc_security_group_egress_rule')),
    ];
    expect(all.length).toBe(2 + 5 + 4);
    for (const item of all) expect(item.description).toMatch(/\S{3}/);
  });

  it('runs the bastion with IMDSv2, an encrypted root, a public IP and the SSM role', () => {
    const [, bastion] = only(json, 'aws_instance');
    const [profileName] = only(json, 'aws_iam_instance_profile');
    const publicSubnet = Object.entries(resources(json, 'aws_subnet')).find(([, s]) => s.cidr_block === '10.0.2.0/24')![0];
    expect(bastion).toMatchObject({
      instance_type: 't3.micro',
      subnet_id: ref('aws_subnet', publicSubnet),
      associate_public_ip_address: true,
      iam_instance_profile: ref('aws_iam_instance_profile', profileName, 'name'),
      vpc_security_group_ids: [ref('aws_security_group', securityGroupName(json, 'BastionSecurityGroup'))],
      metadata_options: { http_tokens: 'required', http_put_response_hop_limit: 1, http_endpoint: 'enabled' },
      root_block_device: { encrypted: true, volume_type: 'gp3' },
      lifecycle: { ignore_changes: ['ami'] },
    });
    expect(bastion.user_data).toBeUndefined();
    expect(bastion.user_data_base64).toBeUndefined();
    const params = Object.entries(json.data.aws_ssm_parameter) as [string, Json][];
    expect(params).toHaveLength(1);
    expect(params[0][1].name).toBe('/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id');
    expect(bastion.ami).toBe(`\${data.aws_ssm_parameter.${params[0][0]}.value}`);
  });

  it('spreads subnets over available standard zones of the region', () => {
    const zones = Object.entries(json.data.aws_availability_zones) as [string, Json][];
    expect(zones).toHaveLength(1);
    expect(zones[0][1]).toMatchObject({ state: 'available', filter: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }] });
    for (const s of Object.values(resources(json, 'aws_subnet'))) {
      expect(s.availability_zone).toBe(`\${element(data.aws_availability_zones.${zones[0][0]}.names, 0)}`);
    }
    expect(Object.keys(json.data.aws_region)).toHaveLength(1);
  });

  it('exposes references to the right resources', () => {
    const value = (name: string) => json.output[name].value;
    const subnet = (cidr: string) => Object.entries(resources(json, 'aws_subnet')).find(([, s]) => s.cidr_block === cidr)![0];
    expect(value('vpc_id')).toBe(ref('aws_vpc', vpcName));
    expect(value('cluster_sg')).toBe(ref('aws_security_group', securityGroupName(json, 'ClusterSecurityGroup')));
    expect(value('bastion_sg')).toBe(ref('aws_security_group', securityGroupName(json, 'BastionSecurityGroup')));
    expect(value('bastion_ip')).toBe(ref('aws_instance', only(json, 'aws_instance')[0], 'public_ip'));
    expect(value('bastion_id')).toBe(ref('aws_instance', only(json, 'aws_instance')[0]));
    expect(value('nat_ip')).toBe(ref('aws_eip', only(json, 'aws_eip')[0], 'public_ip'));
    expect(value('region')).toMatch(/^\$\{data\.aws_region\.\w+\.name\}$/);
    expect(value('private_id')).toBe(ref('aws_subnet', subnet('10.0.1.0/24')));
    expect(value('private_az')).toBe(ref('aws_subnet', subnet('10.0.1.0/24'), 'availability_zone'));
    expect(value('public_id')).toBe(ref('aws_subnet', subnet('10.0.2.0/24')));
  });

  it('matches the snapshot', () => {
    expect(json).toMatchSnapshot();
  });
});

describe('BastionVpc: layouts', () => {
  it.each([
    [1, ['10.0.1.0/24'], ['10.0.2.0/24']],
    [2, ['10.0.1.0/24', '10.0.3.0/24'], ['10.0.2.0/24', '10.0.4.0/24']],
    [3, ['10.0.1.0/24', '10.0.3.0/24', '10.0.5.0/24'], ['10.0.2.0/24', '10.0.4.0/24', '10.0.6.0/24']],
  ])('%i zone(s): one private and one public subnet each, blocks 1+2i and 2+2i', (count, priv, pub) => {
    const { net, json } = build({ cidr: '10.0.0.0/16', availabilityZoneCount: count });
    expect(net.privateSubnets.map((s) => s.cidr)).toEqual(priv);
    expect(net.publicSubnets.map((s) => s.cidr)).toEqual(pub);
    const subnets = Object.values(resources(json, 'aws_subnet'));
    expect(subnets).toHaveLength(2 * count);
    // Zone i's pair shares zone index i.
    for (let i = 0; i < count; i++) {
      const inZone = subnets.filter((s) => s.availability_zone.endsWith(`.names, ${i})}`)).map((s) => s.cidr_block).sort();
      expect(inZone).toEqual([priv[i], pub[i]].sort());
    }
    // Still one NAT; every private subnet routes through the same private table.
    only(json, 'aws_nat_gateway');
    expect(Object.values(resources(json, 'aws_route_table_association'))).toHaveLength(2 * count);
    // The plan stops if the region has fewer zones than asked for.
    const guarded = subnets.filter((s) => s.lifecycle?.precondition);
    expect(guarded).toHaveLength(1);
    expect(guarded[0].lifecycle.precondition[0].condition).toMatch(new RegExp(`^\\$\\{\\(length\\(data\\.aws_availability_zones\\.\\w+\\.names\\) >= ${count}\\)\\}$`));
  });

  it('cuts derived subnets at subnetPrefixLength', () => {
    const { net } = build({ cidr: '10.20.0.0/20', subnetPrefixLength: 26, availabilityZoneCount: 2 });
    expect(net.privateSubnets.map((s) => s.cidr)).toEqual(['10.20.0.64/26', '10.20.0.192/26']);
    expect(net.publicSubnets.map((s) => s.cidr)).toEqual(['10.20.0.128/26', '10.20.1.0/26']);
  });

  it('uses explicit subnet CIDRs as given', () => {
    const { net, json } = build({
      cidr: '10.0.0.0/16', availabilityZoneCount: 2,
      privateSubnetCidrs: ['10.0.128.0/20', '10.0.144.0/20'], publicSubnetCidrs: ['10.0.0.0/28', '10.0.0.16/28'],
    });
    expect(net.privateSubnets.map((s) => s.cidr)).toEqual(['10.0.128.0/20', '10.0.144.0/20']);
    expect(Object.values(resources(json, 'aws_subnet')).map((s) => s.cidr_block).sort())
      .toEqual(['10.0.0.0/28', '10.0.0.16/28', '10.0.128.0/20', '10.0.144.0/20']);
  });

  it('ssm mode: no port-22 ingress at all, yet the bastion is SSM-managed', () => {
    const { net, json } = build({ cidr: '10.0.0.0/16' });
    expect(net.bastionAccess).toBe('ssm');
    const bastionSg = securityGroupName(json, 'BastionSecurityGroup');
    expect(ingressOf(json, bastionSg)).toEqual([]);
    const fromCidr = Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'))
      .filter((r) => r.cidr_ipv4 !== undefined || r.cidr_ipv6 !== undefined || r.prefix_list_id !== undefined);
    expect(fromCidr).toEqual([]);
    // Same description in both modes: changing it would replace the group under the running bastion.
    expect(resources(json, 'aws_security_group')[bastionSg].description)
      .toBe(build(SEED).json.resource.aws_security_group[bastionSg].description);
    expect(Object.values(resources(json, 'aws_iam_role_policy_attachment'))[0].policy_arn).toMatch(/AmazonSSMManagedInstanceCore$/);
  });

  it('lists several SSH ranges, one rule each', () => {
    const { json } = build({ cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.0/24', '198.51.100.7/32'], bastionAccess: 'ssh' });
    const ingress = ingressOf(json, securityGroupName(json, 'BastionSecurityGroup'));
    expect(ingress.map((r) => [r.cidr_ipv4, r.from_port, r.to_port])).toEqual([['203.0.113.0/24', 22, 22], ['198.51.100.7/32', 22, 22]]);
  });

  it('takes a custom srun range, retention, instance type, key, AMI and tags', () => {
    const { json } = build({
      cidr: '10.0.0.0/16', srunPortRange: [40000, 40100], flowLogRetentionDays: 365, bastionInstanceType: 't4g.small',
      keyName: 'ops', bastionAmiId: 'ami-0123456789abcdef0', tags: { team: 'hpc' },
    });
    const srun = Object.values(resources(json, 'aws_vpc_security_group_ingress_rule')).filter((r) => r.from_port === 40000);
    expect(srun).toEqual([expect.objectContaining({ to_port: 40100, description: expect.stringContaining('40000-40100') })]);
    expect(Object.values(resources(json, 'aws_vpc_security_group_ingress_rule')).some((r) => r.from_port === 60001)).toBe(false);
    expect(only(json, 'aws_cloudwatch_log_group')[1].retention_in_days).toBe(365);
    const [, bastion] = only(json, 'aws_instance');
    expect(bastion).toMatchObject({ instance_type: 't4g.small', key_name: 'ops', ami: 'ami-0123456789abcdef0' });
    // A chosen AMI is the user's to change: no ignore_changes, no SSM lookup.
    expect(bastion.lifecycle).toBeUndefined();
    expect(json.data.aws_ssm_parameter).toBeUndefined();
    expect(bastion.tags).toEqual({ team: 'hpc', Name: 'Network-bastion' });
    expect(only(json, 'aws_vpc')[1].tags).toEqual({ team: 'hpc', Name: 'Network-vpc' });
  });

  it('turns a construct ID into names AWS accepts', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    new BastionVpc(stack, 'Lab net+1', { cidr: '10.0.0.0/16' });
    const json = JSON.parse(Testing.synth(stack));
    const names = [
      ...Object.values(resources(json, 'aws_security_group')).map((g) => g.name_prefix),
      ...Object.values(resources(json, 'aws_iam_role')).map((r) => r.name_prefix),
      ...Object.values(resources(json, 'aws_cloudwatch_log_group')).map((g) => g.name_prefix),
    ];
    expect(names).toHaveLength(5);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_./-]+$/);
    expect(names).toContain('Lab-net-1-bastion-');
  });

  it('picks the arm64 Ubuntu image for a Graviton bastion', () => {
    const { json } = build({ cidr: '10.0.0.0/16', bastionInstanceType: 't4g.micro' });
    expect((Object.values(json.data.aws_ssm_parameter)[0] as Json).name).toContain('/arm64/');
  });

  it.each([
    ['t4g.micro', true], ['m7g.large', true], ['c7gn.16xlarge', true], ['g5g.xlarge', true], ['is4gen.large', true],
    ['t3.micro', false], ['g5.xlarge', false], ['g6e.xlarge', false], ['p5.48xlarge', false], ['g4dn.xlarge', false],
    ['mac2-m2pro.metal', false], ['m7i.large', false],
  ])('isGravitonType(%s) is %s', (type, expected) => {
    expect(isGravitonType(type)).toBe(expected);
  });
});

describe('BastionVpc: validation', () => {
  const cases: [string, BastionVpcProps, string, string, RegExp][] = [
    ['invalid CIDR', { cidr: '10.0.0/16' }, 'cidr', '"10.0.0/16"', /not an IPv4 CIDR block\. Write four decimal parts/],
    ['non-aligned CIDR', { cidr: '10.0.1.0/16' }, 'cidr', '"10.0.1.0/16"', /host bits are set.*Use '10\.0\.0\.0\/16'/],
    ['VPC too large', { cidr: '10.0.0.0/8' }, 'cidr', '"10.0.0.0/8"', /outside \/16 to \/24.*Use a \/16/],
    ['VPC too small', { cidr: '10.0.0.0/26' }, 'cidr', '"10.0.0.0/26"', /outside \/16 to \/24.*Use a \/24 or shorter/],
    ['zero zones', { cidr: '10.0.0.0/16', availabilityZoneCount: 0 }, 'availabilityZoneCount', '0', /at least 1\. Use 1/],
    ['fractional zones', { cidr: '10.0.0.0/16', availabilityZoneCount: 1.5 }, 'availabilityZoneCount', '1.5', /whole number/],
    ['too many zones for the blocks', { cidr: '10.0.0.0/24', subnetPrefixLength: 26, availabilityZoneCount: 2 },
      'availabilityZoneCount', '2', /need 5 \/26 blocks \(block 0 stays free\), but 10\.0\.0\.0\/24 holds 4\. Use fewer zones, a longer subnetPrefixLength/],
    ['default /24 subnets in a /24 VPC', { cidr: '10.0.0.0/24' }, 'subnetPrefixLength', 'undefined', /above the VPC's \/24.*Use a value from 25 to 28/],
    ['subnet prefix too long', { cidr: '10.0.0.0/16', subnetPrefixLength: 29 }, 'subnetPrefixLength', '29', /at most 28/],
    ['subnet outside the VPC', { cidr: '10.0.0.0/16', privateSubnetCidrs: ['10.1.1.0/24'] },
      'privateSubnetCidrs[0]', '"10.1.1.0/24"', /is not inside the VPC's 10\.0\.0\.0\/16\. Pick a block inside/],
    ['non-aligned subnet', { cidr: '10.0.0.0/16', publicSubnetCidrs: ['10.0.2.1/24'] },
      'publicSubnetCidrs[0]', '"10.0.2.1/24"', /Use '10\.0\.2\.0\/24'/],
    ['overlapping subnets', { cidr: '10.0.0.0/16', privateSubnetCidrs: ['10.0.0.0/22'], publicSubnetCidrs: ['10.0.2.0/24'] },
      'publicSubnetCidrs[0]', '"10.0.2.0/24"', /overlaps privateSubnetCidrs\[0\] \(10\.0\.0\.0\/22\)\. Give every subnet its own block/],
    ['explicit subnet overlapping a derived one', { cidr: '10.0.0.0/16', privateSubnetCidrs: ['10.0.2.0/23'] },
      'publicSubnetCidrs[0]', '"10.0.2.0/24"', /overlaps privateSubnetCidrs\[0\]/],
    ['wrong subnet count', { cidr: '10.0.0.0/16', availabilityZoneCount: 2, privateSubnetCidrs: ['10.0.1.0/24'] },
      'privateSubnetCidrs', '["10.0.1.0/24"]', /one CIDR per availability zone \(2\)\. Give 2 CIDRs/],
    ['subnet smaller than /28', { cidr: '10.0.0.0/16', publicSubnetCidrs: ['10.0.2.0/29'] }, 'publicSubnetCidrs[0]', '"10.0.2.0/29"', /smallest, \/28/],
    ['SSH from anywhere', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['0.0.0.0/0'] },
      'sshAllowedCidrs[0]', '"0.0.0.0/0"', /opens SSH to the whole internet\. Give your office or VPN range.*bastionAccess 'ssm'/],
    ['SSH from anywhere, IPv6', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.0/24', '::/0'] },
      'sshAllowedCidrs[1]', '"::/0"', /whole internet\. Give your office or VPN range/],
    ['SSH from half the internet', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['0.0.0.0/1'] },
      'sshAllowedCidrs[0]', '"0.0.0.0/1"', /as good as the whole internet\. Use a \/8 or narrower/],
    ['SSH from an IPv6 range', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['2001:db8::/32'] }, 'sshAllowedCidrs[0]', '"2001:db8::/32"', /no IPv6/],
    ['SSH from a host address with a prefix', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.9/24'] },
      'sshAllowedCidrs[0]', '"203.0.113.9/24"', /Use '203\.0\.113\.0\/24'/],
    ['SSH range twice', { cidr: '10.0.0.0/16', sshAllowedCidrs: ['203.0.113.0/24', '203.0.113.0/24'] },
      'sshAllowedCidrs[1]', '"203.0.113.0/24"', /repeats sshAllowedCidrs\[0\]/],
    ['ssh without ranges', { cidr: '10.0.0.0/16', bastionAccess: 'ssh' }, 'bastionAccess', '"ssh"',
      /needs sshAllowedCidrs.*Set sshAllowedCidrs to your office or VPN range, or use bastionAccess 'ssm'/],
    ['ssm with ranges', { cidr: '10.0.0.0/16', bastionAccess: 'ssm', sshAllowedCidrs: ['203.0.113.0/24'] },
      'sshAllowedCidrs', '["203.0.113.0/24"]', /would be ignored\. Remove sshAllowedCidrs/],
    ['unknown access mode', { cidr: '10.0.0.0/16', bastionAccess: 'telnet' as 'ssh' }, 'bastionAccess', '"telnet"', /'ssh' or 'ssm'/],
    ['srun range over the Slurm ports', { cidr: '10.0.0.0/16', srunPortRange: [6000, 7000] },
      'srunPortRange', '[6000,7000]', /overlaps the Slurm daemon ports 6817-6820\. Use a range clear of them/],
    ['srun range touching 6820', { cidr: '10.0.0.0/16', srunPortRange: [6820, 6900] }, 'srunPortRange', '[6820,6900]', /overlaps/],
    ['srun range reversed', { cidr: '10.0.0.0/16', srunPortRange: [63000, 60001] }, 'srunPortRange', '[63000,60001]', /first <= last/],
    ['srun range privileged', { cidr: '10.0.0.0/16', srunPortRange: [22, 2000] }, 'srunPortRange', '[22,2000]', /1024 <= first/],
    ['srun range past 65535', { cidr: '10.0.0.0/16', srunPortRange: [60000, 70000] }, 'srunPortRange', '[60000,70000]', /<= 65535/],
    ['retention CloudWatch refuses', { cidr: '10.0.0.0/16', flowLogRetentionDays: 100 }, 'flowLogRetentionDays', '100', /Use one of 0, 1, 3/],
    ['bad instance type', { cidr: '10.0.0.0/16', bastionInstanceType: 'micro' }, 'bastionInstanceType', '"micro"', /not an EC2 instance type/],
    ['bad AMI', { cidr: '10.0.0.0/16', bastionAmiId: 'ubuntu' }, 'bastionAmiId', '"ubuntu"', /not an AMI ID/],
  ];

  it.each(cases)('%s', (_name, props, field, value, rest) => {
    let message = '';
    try {
      build(props);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.startsWith(`test/Network: ${field} = ${value}: `)).toBe(true);
    expect(message).toMatch(rest);
  });

  it('accepts the boundary values', () => {
    expect(() => build({ cidr: '10.0.0.0/24', subnetPrefixLength: 27, availabilityZoneCount: 3 })).not.toThrow();
    expect(() => build({ cidr: '10.0.0.0/16', sshAllowedCidrs: ['10.0.0.0/8'], srunPortRange: [6821, 6821] })).not.toThrow();
    expect(() => build({ cidr: '10.0.0.0/16', srunPortRange: [1024, 6816], flowLogRetentionDays: 0 })).not.toThrow();
  });
});
