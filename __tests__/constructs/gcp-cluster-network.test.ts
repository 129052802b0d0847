import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import {
  GcpClusterNetwork,
  GcpClusterNetworkProps,
  IAP_TCP_FORWARDING_RANGE,
  IGcpClusterNetwork,
} from '../../lib/constructs/gcp-cluster-network';
import { cidrContains, cidrsOverlap } from '../../lib/net/cidr';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

const BASE: GcpClusterNetworkProps = { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' };
const A3MEGA: GcpClusterNetworkProps = { ...BASE, gpuNetworkCount: 8 };

function build(props: GcpClusterNetworkProps, withOutputs = false): { net: GcpClusterNetwork; json: Json } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const net = new GcpClusterNetwork(stack, 'Network', props);
  if (withOutputs) {
    // The interface's references, as the controller and pools would use them.
    const view: IGcpClusterNetwork = net;
    new TerraformOutput(stack, 'system_net', { value: view.system.networkSelfLink });
    new TerraformOutput(stack, 'system_subnet', { value: view.system.subnetworkSelfLink });
    view.gpuNetworks.forEach((g, i) => {
      new TerraformOutput(stack, `gpu_net_${i}`, { value: g.networkSelfLink });
      new TerraformOutput(stack, `gpu_subnet_${i}`, { value: g.subnetworkSelfLink });
    });
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

const ref = (type: string, name: string, attr = 'self_link') => `\${${type}.${name}.${attr}}`;

/** Logical name of the resource whose `name` field is `gcpName`. */
function byName(json: Json, type: string, gcpName: string): [string, Json] {
  const found = Object.entries(resources(json, type)).filter(([, r]) => r.name === gcpName);
  expect(found).toHaveLength(1);
  return found[0];
}

function firewallsOf(json: Json, networkLogical: string): Json[] {
  return Object.values(resources(json, 'google_compute_firewall'))
    .filter((f) => f.network === ref('google_compute_network', networkLogical));
}

describe('GcpClusterNetwork: system VPC only', () => {
  const { net, json } = build({ ...BASE, sshSourceRanges: ['203.0.113.0/24'] }, true);
  const [netName, network] = only(json, 'google_compute_network');

  it('has one custom-mode regional network with an explicit MTU, and one private subnet with flow logs', () => {
    expect(network).toMatchObject({
      name: 'hpc-net', project: 'my-hpc-project', auto_create_subnetworks: false, routing_mode: 'REGIONAL', mtu: 8244,
    });
    const [, subnet] = only(json, 'google_compute_subnetwork');
    expect(subnet).toMatchObject({
      name: 'hpc-subnet', project: 'my-hpc-project', region: 'us-central1', ip_cidr_range: '10.0.0.0/20',
      network: ref('google_compute_network', netName), private_ip_google_access: true,
    });
    expect(subnet.log_config.aggregation_interval).toMatch(/^INTERVAL_/);
    expect(subnet.log_config.flow_sampling).toBeGreaterThan(0);
    expect(subnet.log_config.flow_sampling).toBeLessThanOrEqual(1);
    expect(net.gpuNetworks).toEqual([]);
  });

  it('has a router and NAT on the system VPC for the system subnet only, logging errors', () => {
    const [routerName, router] = only(json, 'google_compute_router');
    const [, nat] = only(json, 'google_compute_router_nat');
    const [subnetName] = only(json, 'google_compute_subnetwork');
    expect(router).toMatchObject({ network: ref('google_compute_network', netName), region: 'us-central1' });
    expect(nat).toMatchObject({
      router: ref('google_compute_router', routerName, 'name'),
      region: 'us-central1',
      nat_ip_allocate_option: 'AUTO_ONLY',
      source_subnetwork_ip_ranges_to_nat: 'LIST_OF_SUBNETWORKS',
      subnetwork: [{ name: ref('google_compute_subnetwork', subnetName), source_ip_ranges_to_nat: ['ALL_IP_RANGES'] }],
      log_config: { enable: true, filter: 'ERRORS_ONLY' },
    });
  });

  it('opens intra-cluster traffic by tag, SSH from IAP, and the extra SSH ranges in a rule of their own', () => {
    const rules = firewallsOf(json, netName);
    expect(rules).toHaveLength(3);
    for (const r of rules) expect(r.direction).toBe('INGRESS');

    const internal = rules.filter((r) => r.source_tags !== undefined);
    expect(internal).toHaveLength(1);
    expect(internal[0]).toMatchObject({ source_tags: [net.clusterTag], target_tags: [net.clusterTag] });
    expect(internal[0].source_ranges).toBeUndefined();
    expect(internal[0].allow.map((a: Json) => a.protocol).sort()).toEqual(['icmp', 'tcp', 'udp']);
    for (const a of internal[0].allow) expect(a.ports).toBeUndefined(); // all ports

    const iap = rules.filter((r) => r.source_ranges?.includes(IAP_TCP_FORWARDING_RANGE));
    expect(iap).toHaveLength(1);
    expect(iap[0]).toMatchObject({ source_ranges: ['35.235.240.0/20'], target_tags: [net.iapSshTag], allow: [{ protocol: 'tcp', ports: ['22'] }] });

    const extra = rules.filter((r) => r !== iap[0] && r !== internal[0]);
    expect(extra[0]).toMatchObject({ source_ranges: ['203.0.113.0/24'], target_tags: [net.iapSshTag], allow: [{ protocol: 'tcp', ports: ['22'] }] });
    expect(net.clusterTag).not.toBe(net.iapSshTag);
  });

  it('exposes the interface fields from the synthesized resources', () => {
    const [subnetName, subnet] = only(json, 'google_compute_subnetwork');
    expect(net.cloud).toBe('gcp');
    expect(net.project).toBe('my-hpc-project');
    expect(net.region).toBe('us-central1');
    expect(net.zone).toBe('us-central1-a');
    expect(net.system.cidr).toBe(subnet.ip_cidr_range);
    expect(net.system.mtu).toBe(network.mtu);
    expect(json.output.system_net.value).toBe(ref('google_compute_network', netName));
    expect(json.output.system_subnet.value).toBe(ref('google_compute_subnetwork', subnetName));
  });

  it('leaves SSH to IAP alone when no extra ranges are given, and turns flow logs off on request', () => {
    const { json: plain } = build({ ...BASE, flowLogs: false });
    const rules = Object.values(resources(plain, 'google_compute_firewall'));
    expect(rules).toHaveLength(2);
    const ssh = rules.filter((r) => r.allow.some((a: Json) => a.ports?.includes('22')));
    expect(ssh.map((r) => r.source_ranges)).toEqual([[IAP_TCP_FORWARDING_RANGE]]);
    expect(only(plain, 'google_compute_subnetwork')[1].log_config).toBeUndefined();
  });
});

describe('GcpClusterNetwork: A3 Mega (8 GPU VPCs)', () => {
  const { net, json } = build(A3MEGA, true);
  const networks = Object.entries(resources(json, 'google_compute_network'));
  const subnets = Object.entries(resources(json, 'google_compute_subnetwork'));
  const [systemNetName] = byName(json, 'google_compute_network', 'hpc-net');

  it('has 1 + 8 networks and 1 + 8 subnets', () => {
    expect(networks).toHaveLength(9);
    expect(subnets).toHaveLength(9);
    expect(net.gpuNetworks).toHaveLength(8);
  });

  it('gives every GPU network MTU 8244, no auto subnets and exactly one subnet in the region', () => {
    const gpu = networks.filter(([name]) => name !== systemNetName);
    expect(gpu).toHaveLength(8);
    for (const [name, n] of gpu) {
      expect(n).toMatchObject({ mtu: 8244, auto_create_subnetworks: false, routing_mode: 'REGIONAL' });
      const own = subnets.filter(([, s]) => s.network === ref('google_compute_network', name));
      expect(own).toHaveLength(1);
      expect(own[0][1].region).toBe('us-central1');
      // The data path carries no flow logs and needs no Google API access.
      expect(own[0][1].log_config).toBeUndefined();
    }
  });

  it('names GPU resources in NIC order, under stable construct ids GpuNet0..GpuNet7', () => {
    for (let i = 0; i < 8; i++) {
      const [netName] = byName(json, 'google_compute_network', `hpc-gpunet-${i}`);
      expect(netName).toMatch(new RegExp(`GpuNet${i}_Network`));
      const [subName, sub] = byName(json, 'google_compute_subnetwork', `hpc-gpunet-${i}-subnet`);
      expect(subName).toMatch(new RegExp(`GpuNet${i}_Subnet`));
      expect(sub.network).toBe(ref('google_compute_network', netName));
    }
  });

  it('derives distinct /20s inside the default supernet, clear of the system subnet', () => {
    const cidrs = net.gpuNetworks.map((g) => g.cidr);
    expect(new Set(cidrs).size).toBe(8);
    for (const c of cidrs) {
      expect(c).toMatch(/\/20$/);
      expect(cidrContains('10.128.0.0/9', c)).toBe(true);
      expect(cidrsOverlap(c, net.system.cidr)).toBe(false);
    }
    for (let i = 0; i < cidrs.length; i++) {
      for (let j = i + 1; j < cidrs.length; j++) expect(cidrsOverlap(cidrs[i], cidrs[j])).toBe(false);
    }
    // Consecutive: the first is the supernet's start, each next one right after it.
    expect(cidrs[0]).toBe('10.128.0.0/20');
    expect(cidrs[1]).toBe('10.128.16.0/20');
  });

  it('opens each GPU VPC only to its own subnet', () => {
    for (let i = 0; i < 8; i++) {
      const [netName] = byName(json, 'google_compute_network', `hpc-gpunet-${i}`);
      const rules = firewallsOf(json, netName);
      expect(rules).toHaveLength(1);
      expect(rules[0]).toMatchObject({ direction: 'INGRESS', source_ranges: [net.gpuNetworks[i].cidr] });
      expect(rules[0].source_tags).toBeUndefined();
      expect(rules[0].allow.map((a: Json) => a.protocol).sort()).toEqual(['icmp', 'tcp', 'udp']);
    }
  });

  it('has a router and NAT on the system VPC only', () => {
    const [, router] = only(json, 'google_compute_router');
    expect(router.network).toBe(ref('google_compute_network', systemNetName));
    only(json, 'google_compute_router_nat');
  });

  it('never admits 0.0.0.0/0 and describes every firewall rule', () => {
    const rules = Object.values(resources(json, 'google_compute_firewall'));
    expect(rules).toHaveLength(2 + 8);
    for (const r of rules) {
      expect(r.source_ranges ?? []).not.toContain('0.0.0.0/0');
      expect(r.source_ranges ?? []).not.toContain('::/0');
      expect(r.description).toMatch(/\S{3}/);
      expect(r.deny).toBeUndefined();
    }
  });

  it('agrees with the synthesized resources in its interface fields', () => {
    expect(net.system.mtu).toBe(byName(json, 'google_compute_network', 'hpc-net')[1].mtu);
    net.gpuNetworks.forEach((g, i) => {
      const [netName, n] = byName(json, 'google_compute_network', `hpc-gpunet-${i}`);
      const [subName, s] = byName(json, 'google_compute_subnetwork', `hpc-gpunet-${i}-subnet`);
      expect(g.mtu).toBe(n.mtu);
      expect(g.cidr).toBe(s.ip_cidr_range);
      expect(json.output[`gpu_net_${i}`].value).toBe(ref('google_compute_network', netName));
      expect(json.output[`gpu_subnet_${i}`].value).toBe(ref('google_compute_subnetwork', subName));
    });
  });

  it('keeps every GCP name and tag within 63 characters at the longest accepted prefix', () => {
    const longest = 'a'.repeat(39);
    const { net: long, json: longJson } = build({ ...A3MEGA, namePrefix: longest });
    const names = ['google_compute_network', 'google_compute_subnetwork', 'google_compute_router', 'google_compute_router_nat',
      'google_compute_firewall'].flatMap((t) => Object.values(resources(longJson, t)).map((r) => r.name as string));
    expect(names).toHaveLength(9 + 9 + 1 + 1 + 10);
    for (const n of [...names, long.clusterTag, long.iapSshTag]) {
      expect(n.length).toBeLessThanOrEqual(63);
      expect(n).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(Math.max(...names.map((n) => n.length))).toBe(63);
  });
});

describe('GcpClusterNetwork: options', () => {
  it('uses explicit GPU CIDRs, MTUs and a system CIDR as given', () => {
    const cidrs = ['192.168.0.0/24', '192.168.1.0/24'];
    const { net, json } = build({ ...BASE, gpuNetworkCount: 2, gpuNetworkCidrs: cidrs, mtu: 8896, systemMtu: 1460, systemCidr: '172.16.0.0/16' });
    expect(net.gpuNetworks.map((g) => g.cidr)).toEqual(cidrs);
    expect(byName(json, 'google_compute_subnetwork', 'hpc-gpunet-1-subnet')[1].ip_cidr_range).toBe('192.168.1.0/24');
    expect(byName(json, 'google_compute_network', 'hpc-gpunet-0')[1].mtu).toBe(8896);
    expect(byName(json, 'google_compute_network', 'hpc-net')[1].mtu).toBe(1460);
    expect(byName(json, 'google_compute_subnetwork', 'hpc-subnet')[1].ip_cidr_range).toBe('172.16.0.0/16');
    expect(net.system.mtu).toBe(1460);
  });

  it('carves GPU subnets from a custom supernet', () => {
    const { net } = build({ ...BASE, gpuNetworkCount: 3, gpuNetworkSupernet: '172.20.0.0/16' });
    expect(net.gpuNetworks.map((g) => g.cidr)).toEqual(['172.20.0.0/20', '172.20.16.0/20', '172.20.32.0/20']);
  });

  it('passes Terraform references for project, region and zone through unchecked', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    const project = new TerraformVariable(stack, 'project', { type: 'string' }).stringValue;
    const region = new TerraformVariable(stack, 'region', { type: 'string' }).stringValue;
    const zone = new TerraformVariable(stack, 'zone', { type: 'string' }).stringValue;
    const net = new GcpClusterNetwork(stack, 'Network', { project, region, zone, namePrefix: 'hpc', gpuNetworkCount: 1 });
    const json = JSON.parse(Testing.synth(stack));
    expect(net.project).toBe(project);
    for (const s of Object.values(resources(json, 'google_compute_subnetwork'))) {
      expect(s.project).toBe('${var.project}');
      expect(s.region).toBe('${var.region}');
    }
    // A literal zone is still checked against the zone shape when the region is a reference.
    expect(() => new GcpClusterNetwork(stack, 'Bad', { project, region, zone: 'us-central1', namePrefix: 'hpc2' }))
      .toThrow(/test\/Bad: zone = "us-central1": is not a GCP zone/);
  });
});

describe('GcpClusterNetwork: validation', () => {
  const cases: [string, GcpClusterNetworkProps, string, string, RegExp][] = [
    ['invalid system CIDR', { ...BASE, systemCidr: '10.0.0/20' }, 'systemCidr', '"10.0.0/20"', /not an IPv4 CIDR block/],
    ['non-aligned system CIDR', { ...BASE, systemCidr: '10.0.1.0/20' }, 'systemCidr', '"10.0.1.0/20"', /host bits.*Use '10\.0\.0\.0\/20'/],
    ['system subnet too small', { ...BASE, systemCidr: '10.0.0.0/30' }, 'systemCidr', '"10.0.0.0/30"', /outside \/8 to \/29/],
    ['invalid GPU CIDR', { ...BASE, gpuNetworkCount: 1, gpuNetworkCidrs: ['10.300.0.0/20'] },
      'gpuNetworkCidrs[0]', '"10.300.0.0/20"', /not an IPv4 CIDR block/],
    ['GPU CIDR over the system subnet', { ...BASE, gpuNetworkCount: 2, gpuNetworkCidrs: ['10.1.0.0/20', '10.0.8.0/24'] },
      'gpuNetworkCidrs[1]', '"10.0.8.0/24"', /overlaps systemCidr \(10\.0\.0\.0\/20\)\. Give every subnet its own block/],
    ['GPU CIDRs overlapping each other', { ...BASE, gpuNetworkCount: 2, gpuNetworkCidrs: ['10.1.0.0/16', '10.1.16.0/20'] },
      'gpuNetworkCidrs[1]', '"10.1.16.0/20"', /overlaps gpuNetworkCidrs\[0\] \(10\.1\.0\.0\/16\)/],
    ['too few GPU CIDRs', { ...A3MEGA, gpuNetworkCidrs: ['10.1.0.0/20'] },
      'gpuNetworkCidrs', '["10.1.0.0/20"]', /one CIDR per GPU network \(gpuNetworkCount = 8\)\. Give 8 CIDRs/],
    ['GPU CIDRs without GPU networks', { ...BASE, gpuNetworkCidrs: ['10.1.0.0/20'] },
      'gpuNetworkCidrs', '["10.1.0.0/20"]', /gpuNetworkCount = 0\)\. Give 0 CIDRs/],
    ['supernet too small', { ...A3MEGA, gpuNetworkSupernet: '10.128.0.0/18' },
      'gpuNetworkSupernet', '"10.128.0.0/18"', /holds 4 \/20 blocks, but 8 GPU networks need one each\. Use a \/17 or larger/],
    ['supernet over the system subnet', { ...A3MEGA, gpuNetworkSupernet: '10.0.0.0/9' },
      'gpuNetworkSupernet', '"10.0.0.0/9"', /block 0 \(10\.0\.0\.0\/20\) overlaps systemCidr/],
    ['invalid supernet', { ...A3MEGA, gpuNetworkSupernet: 'ten' }, 'gpuNetworkSupernet', '"ten"', /not an IPv4 CIDR block/],
    ['nine GPU networks', { ...BASE, gpuNetworkCount: 9 }, 'gpuNetworkCount', '9', /from 0 to 8\. Use 8 for A3 Mega/],
    ['negative GPU networks', { ...BASE, gpuNetworkCount: -1 }, 'gpuNetworkCount', '-1', /from 0 to 8/],
    ['fractional GPU networks', { ...BASE, gpuNetworkCount: 2.5 }, 'gpuNetworkCount', '2.5', /whole number/],
    ['MTU too large', { ...A3MEGA, mtu: 9000 }, 'mtu', '9000', /from 1300 to 8896.*Use 8244 for A3 Mega/],
    ['MTU too small', { ...A3MEGA, mtu: 1200 }, 'mtu', '1200', /from 1300 to 8896/],
    ['fractional MTU', { ...A3MEGA, mtu: 8244.5 }, 'mtu', '8244.5', /whole number/],
    ['system MTU out of range', { ...BASE, systemMtu: 8897 }, 'systemMtu', '8897', /from 1300 to 8896/],
    ['upper-case prefix', { ...BASE, namePrefix: 'HPC' }, 'namePrefix', '"HPC"', /lower-case letters.*Use e\.g\. 'hpc'/],
    ['prefix ending in a hyphen', { ...BASE, namePrefix: 'hpc-' }, 'namePrefix', '"hpc-"', /not end with a hyphen/],
    ['prefix starting with a digit', { ...BASE, namePrefix: '1hpc' }, 'namePrefix', '"1hpc"', /start with a letter/],
    ['empty prefix', { ...BASE, namePrefix: '' }, 'namePrefix', '""', /lower-case letters/],
    ['prefix too long for the longest name', { ...BASE, namePrefix: 'a'.repeat(40) }, 'namePrefix', `"${'a'.repeat(40)}"`,
      /is 40 characters: with the suffix '-gpunet-7-allow-internal' a GCP name would reach 64, over 63\. Use at most 39/],
    ['zone for a region', { ...BASE, region: 'us-central1-a' }, 'region', '"us-central1-a"', /not a GCP region.*not a zone/],
    ['region in upper case', { ...BASE, region: 'US-CENTRAL1' }, 'region', '"US-CENTRAL1"', /not a GCP region/],
    ['zone of another region', { ...BASE, zone: 'us-east4-a' }, 'zone', '"us-east4-a"',
      /is not a zone of region us-central1\. Use a zone of that region, e\.g\. 'us-central1-a'/],
    ['region given as zone', { ...BASE, zone: 'us-central1' }, 'zone', '"us-central1"', /not a zone of region us-central1/],
    ['project number', { ...BASE, project: '123456789012' }, 'project', '"123456789012"', /not a GCP project ID/],
    ['SSH from anywhere', { ...BASE, sshSourceRanges: ['0.0.0.0/0'] }, 'sshSourceRanges[0]', '"0.0.0.0/0"',
      /opens SSH to the whole internet\. Give your office or VPN range.*SSH through IAP/],
    ['SSH from anywhere, IPv6', { ...BASE, sshSourceRanges: ['203.0.113.0/24', '::/0'] }, 'sshSourceRanges[1]', '"::/0"',
      /whole internet/],
    ['SSH from an IPv6 range', { ...BASE, sshSourceRanges: ['2001:db8::/32'] }, 'sshSourceRanges[0]', '"2001:db8::/32"', /IPv4 only/],
    ['SSH from half the internet', { ...BASE, sshSourceRanges: ['0.0.0.0/1'] }, 'sshSourceRanges[0]', '"0.0.0.0/1"',
      /as good as the whole internet\. Use a \/8 or narrower/],
    ['invalid SSH range', { ...BASE, sshSourceRanges: ['my-office'] }, 'sshSourceRanges[0]', '"my-office"', /not an IPv4 CIDR block/],
    ['SSH range twice', { ...BASE, sshSourceRanges: ['203.0.113.0/24', '203.0.113.0/24'] }, 'sshSourceRanges[1]',
      '"203.0.113.0/24"', /repeats sshSourceRanges\[0\]/],
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

  it('refuses a Terraform reference where a literal is needed', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    const v = new TerraformVariable(stack, 'v', { type: 'string' }).stringValue;
    expect(() => new GcpClusterNetwork(stack, 'A', { ...BASE, namePrefix: v })).toThrow(/^test\/A: namePrefix = .*Terraform reference/);
    expect(() => new GcpClusterNetwork(stack, 'B', { ...BASE, systemCidr: v })).toThrow(/^test\/B: systemCidr = .*Give a literal CIDR/);
  });

  it('accepts the boundary values', () => {
    expect(() => build({ ...A3MEGA, mtu: 1300, systemMtu: 8896, namePrefix: 'a'.repeat(39) })).not.toThrow();
    expect(() => build({ ...BASE, gpuNetworkCount: 8, gpuNetworkSupernet: '10.128.0.0/17', sshSourceRanges: ['10.0.0.0/8'] })).not.toThrow();
    expect(() => build({ ...BASE, namePrefix: 'a', systemCidr: '10.0.0.0/29', zone: 'us-central1-f' })).not.toThrow();
  });
});
