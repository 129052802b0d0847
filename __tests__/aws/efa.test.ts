/**
 * lib/aws/efa.ts: the EFA security group and the launch template interfaces for p4d (4 EFA) and p5 (32 EFA),
 * synthesized into a real stack and checked against the AWS provider schema with terraform validate.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { TerraformStack, Testing } from 'cdktf';
import { EfaSecurityGroup, efaNetworkInterfaces, efaNodeEnv } from '../../lib/aws/efa';
import { EC2_INSTANCE_TYPES, instanceTypeInfo, type InstanceTypeInfo } from '../../lib/aws/instance-types';
import { SlurmConfigError } from '../../lib/slurm/errors';
import { awsValidationAvailability, formatDiagnostics, validateAws } from '../terraform/validate-aws';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const info = (type: string): InstanceTypeInfo => {
  const i = instanceTypeInfo(type);
  if (!i) throw new Error(`${type} missing from the table`);
  return i;
};

function buildStack(): Json {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'efa');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const vpc = new Vpc(stack, 'Vpc', { cidrBlock: '10.0.0.0/16' });
  const subnet = new Subnet(stack, 'Subnet', { vpcId: vpc.id, cidrBlock: '10.0.1.0/24', availabilityZone: 'us-east-1a' });
  const cluster = new SecurityGroup(stack, 'ClusterSg', { namePrefix: 'test-cluster-', description: 'cluster stub', vpcId: vpc.id });
  const efa = new EfaSecurityGroup(stack, 'Efa', { vpcId: vpc.id, name: 'test-gpu-efa', tags: { 'slurm:cluster': 'test' } });
  const template = (id: string, type: string, secondaryInterfaceType?: 'efa' | 'efa-only') =>
    new LaunchTemplate(stack, id, {
      name: `test-${id.toLowerCase()}`,
      imageId: 'ami-12345678',
      instanceType: type,
      // No vpcSecurityGroupIds: the groups live on the interfaces.
      networkInterfaces: efaNetworkInterfaces(info(type), {
        efaSecurityGroupId: efa.securityGroupId,
        primarySecurityGroupIds: [cluster.id],
        subnetId: subnet.id,
        secondaryInterfaceType,
        where: `${stack.node.path}/${id}`,
      }),
    });
  template('P4d', 'p4d.24xlarge');
  template('P5', 'p5.48xlarge');
  template('P5Legacy', 'p5.48xlarge', 'efa');
  template('G5', 'g5.48xlarge');
  return JSON.parse(Testing.synth(stack));
}

const tf = buildStack();
const resources = (type: string): [string, Json][] => Object.entries(tf.resource[type] ?? {}) as [string, Json][];
const only = (type: string): [string, Json] => {
  const all = resources(type);
  expect(all).toHaveLength(1);
  return all[0];
};
const lt = (name: string): Json => {
  const hit = resources('aws_launch_template').find(([, r]) => r.name === name);
  if (!hit) throw new Error(`no launch template ${name}`);
  return hit[1];
};
const efaSgKey = resources('aws_security_group').find(([k]) => k.startsWith('Efa_'))![0];
const EFA_SG = `\${aws_security_group.${efaSgKey}.id}`;
const CLUSTER_SG = `\${aws_security_group.${resources('aws_security_group').find(([k]) => k !== efaSgKey)![0]}.id}`;
const SUBNET = `\${aws_subnet.${only('aws_subnet')[0]}.id}`;

describe('EfaSecurityGroup', () => {
  test('one ingress and one egress rule, both all protocols from/to the group itself, described, no CIDR', () => {
    const [, sg] = resources('aws_security_group').find(([k]) => k === efaSgKey)!;
    expect(sg.name_prefix).toBe('test-gpu-efa-');
    expect(sg.description).toMatch(/EFA/);
    // No inline rules: Terraform would otherwise manage (and AWS would keep) an allow-all egress.
    expect(sg.ingress).toBeUndefined();
    expect(sg.egress).toBeUndefined();

    const [, ingress] = only('aws_vpc_security_group_ingress_rule');
    const [, egress] = only('aws_vpc_security_group_egress_rule');
    for (const rule of [ingress, egress]) {
      expect(rule.security_group_id).toBe(EFA_SG);
      expect(rule.referenced_security_group_id).toBe(EFA_SG);
      expect(rule.ip_protocol).toBe('-1');
      expect(rule.description.length).toBeGreaterThan(10);
      for (const key of ['cidr_ipv4', 'cidr_ipv6', 'prefix_list_id', 'from_port', 'to_port']) expect(rule[key]).toBeUndefined();
      expect(rule.tags).toEqual({ 'slurm:cluster': 'test' });
    }
    expect(ingress.description).not.toBe(egress.description);
  });

  test('a bad name or description fails with the construct path, field and fix', () => {
    const stack = new TerraformStack(Testing.app(), 's');
    expect(() => new EfaSecurityGroup(stack, 'Bad', { vpcId: 'vpc-1', name: 'sg-gpu' })).toThrow(
      /s\/Bad: name = "sg-gpu": .*not starting with "sg-".*Use e\.g\./,
    );
    expect(() => new EfaSecurityGroup(stack, 'Bad2', { vpcId: 'vpc-1', name: 'gpu', description: 'GPU – EFA' })).toThrow(
      /s\/Bad2: description = "GPU – EFA": must be 1-255 printable ASCII/,
    );
  });
});

describe('efaNetworkInterfaces in a launch template', () => {
  test('p4d.24xlarge: 4 EFAs, one per network card; primary efa on card 0 with the cluster group, efa-only on cards 1-3', () => {
    const template = lt('test-p4d');
    expect(template.vpc_security_group_ids).toBeUndefined();
    const nis: Json[] = template.network_interfaces;
    expect(nis.map((n) => [n.network_card_index, n.device_index, n.interface_type])).toEqual([
      [0, 0, 'efa'],
      [1, 0, 'efa-only'],
      [2, 0, 'efa-only'],
      [3, 0, 'efa-only'],
    ]);
    expect(nis[0].security_groups).toEqual([EFA_SG, CLUSTER_SG]);
    for (const n of nis.slice(1)) expect(n.security_groups).toEqual([EFA_SG]);
    for (const n of nis) {
      expect(n.subnet_id).toBe(SUBNET);
      expect(n.delete_on_termination).toBe('true');
    }
    expect(nis.map((n) => n.associate_public_ip_address)).toEqual(['false', undefined, undefined, undefined]);
  });

  test('p5.48xlarge: 32 EFAs on 32 distinct cards, exactly one primary (card 0, device 0), all carry the EFA group', () => {
    const nis: Json[] = lt('test-p5').network_interfaces;
    expect(nis).toHaveLength(32);
    expect(EC2_INSTANCE_TYPES['p5.48xlarge'].maxEfaInterfaces).toBe(32);
    expect(nis.map((n) => n.network_card_index)).toEqual([...Array(32).keys()]);
    expect(nis.filter((n) => n.interface_type === 'efa')).toEqual([expect.objectContaining({ network_card_index: 0, device_index: 0 })]);
    expect(nis.filter((n) => n.interface_type === 'efa-only')).toHaveLength(31);
    expect(new Set(nis.map((n) => `${n.network_card_index}/${n.device_index}`)).size).toBe(32);
    for (const n of nis) {
      expect(n.security_groups).toContain(EFA_SG);
      expect(n.subnet_id).toBe(SUBNET);
    }
    expect(nis.filter((n) => n.security_groups.includes(CLUSTER_SG))).toHaveLength(1);
  });

  test('p5.48xlarge with secondaryInterfaceType "efa": EFA with ENA at device index 1 on cards 1-31', () => {
    const nis: Json[] = lt('test-p5legacy').network_interfaces;
    expect(nis).toHaveLength(32);
    expect(nis[0]).toMatchObject({ network_card_index: 0, device_index: 0, interface_type: 'efa' });
    for (const [i, n] of nis.slice(1).entries()) {
      expect(n).toMatchObject({ network_card_index: i + 1, device_index: 1, interface_type: 'efa' });
    }
  });

  test('single-card EFA type (g5.48xlarge): just the primary efa interface', () => {
    expect(lt('test-g5').network_interfaces).toEqual([
      expect.objectContaining({ network_card_index: 0, device_index: 0, interface_type: 'efa', security_groups: [EFA_SG, CLUSTER_SG] }),
    ]);
  });

  test('the EFA group is not repeated when it is also passed as a primary group; no subnet means none on any interface', () => {
    const nis = efaNetworkInterfaces(info('p4d.24xlarge'), { efaSecurityGroupId: 'sg-efa', primarySecurityGroupIds: ['sg-efa', 'sg-c'] });
    expect(nis[0].securityGroups).toEqual(['sg-efa', 'sg-c']);
    expect(nis.every((n) => n.subnetId === undefined)).toBe(true);
  });
});

describe('errors', () => {
  test('a type without EFA: names where, the type, and the fix (turn EFA off or an EFA type)', () => {
    let err: unknown;
    try {
      efaNetworkInterfaces(info('g5.xlarge'), { efaSecurityGroupId: 'sg-1', where: 'stack/GpuPool' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SlurmConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('stack/GpuPool: instanceType = "g5.xlarge": does not support EFA');
    expect(msg).toContain('Turn EFA off for this pool');
    expect(msg).toContain('p4d.24xlarge (4 EFA), p5.48xlarge (32 EFA)');
    expect(() => efaNodeEnv(info('m6i.large'))).toThrow(/efaNodeEnv\(m6i\.large\): instanceType = "m6i\.large": does not support EFA/);
  });

  test('a missing EFA group, an empty subnet or an unknown interface type are refused', () => {
    const p5 = info('p5.48xlarge');
    expect(() => efaNetworkInterfaces(p5, { efaSecurityGroupId: '' })).toThrow(/efaSecurityGroupId = "": is empty.*EfaSecurityGroup/);
    expect(() => efaNetworkInterfaces(p5, { efaSecurityGroupId: 'sg-1', subnetId: '' })).toThrow(/subnetId = "": is empty/);
    expect(() => efaNetworkInterfaces(p5, { efaSecurityGroupId: 'sg-1', secondaryInterfaceType: 'interface' as 'efa' })).toThrow(
      /secondaryInterfaceType = "interface"/,
    );
  });
});

test('efaNodeEnv: what efa.sh reads', () => {
  expect(efaNodeEnv(info('p5.48xlarge'))).toEqual({ EFA_ENABLED: '1', INSTANCE_TYPE: 'p5.48xlarge' });
  expect(efaNodeEnv(info('p4d.24xlarge'))).toEqual({ EFA_ENABLED: '1', INSTANCE_TYPE: 'p4d.24xlarge' });
});

const availability = awsValidationAvailability();
if (!availability.ok) console.warn(`\n!!! SKIPPING terraform validate of the EFA stack: ${availability.reason}\n`);
(availability.ok ? test : test.skip)('terraform validate of the whole stack passes against the real AWS provider', () => {
  const result = validateAws(tf);
  if (result.skipped) throw new Error(result.reason);
  expect(formatDiagnostics(result.errors)).toBe('');
  expect(result.valid).toBe(true);
  expect(result.dropped).toEqual([]);
}, 120_000);

/**
 * The provider checks `interface_type` only in a network_interfaces list whose values are all known: with
 * references to the subnet and groups (as above) it skips the whole list. So the interface types are checked on
 * a copy of the p5 template with literal ids: "efa-only" passes, a misspelling fails.
 */
(availability.ok ? test : test.skip)('with literal ids, the provider accepts "efa-only" and rejects a misspelt interface type', () => {
  const withType = (secondType: string): Json => {
    const copy: Json = JSON.parse(JSON.stringify(tf));
    const [key, template] = Object.entries(copy.resource.aws_launch_template).find(([, r]) => (r as Json).name === 'test-p5') as [string, Json];
    copy.resource.aws_launch_template = { [key]: template };
    for (const n of template.network_interfaces as Json[]) {
      n.subnet_id = 'subnet-0123456789abcdef0';
      n.security_groups = n.security_groups.map((_: string, i: number) => `sg-0123456789abcdef${i}`);
    }
    template.network_interfaces[1].interface_type = secondType;
    return copy;
  };
  const good = validateAws(withType('efa-only'));
  if (good.skipped) throw new Error(good.reason);
  expect(formatDiagnostics(good.errors)).toBe('');

  const bad = validateAws(withType('efa_only'));
  if (bad.skipped) throw new Error(bad.reason);
  expect(bad.valid).toBe(false);
  expect(formatDiagnostics(bad.errors)).toMatch(/interface_type.*"efa" "efa-only" "interface".*got efa_only/);
}, 120_000);
