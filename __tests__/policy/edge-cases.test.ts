/**
 * The rules on plain blocks (no cdktf), for the ways of writing a setting the fixtures do not cover: protocol
 * numbers, write-only secrets, instances made from templates, project metadata, names that merely contain a
 * secret-like word, and the network a firewall's sources are judged against.
 */
import { PolicyResource, evaluatePolicy, policyRule } from '../../lib/policy';

function block(type: string, name: string, attributes: Record<string, unknown>, kind: 'resource' | 'data' = 'resource'): PolicyResource {
  return { kind, type, name, address: `${kind === 'data' ? 'data.' : ''}${type}.${name}`, path: `s/${name}`, attributes };
}

function details(ruleId: string, blocks: PolicyResource[]): string[] {
  const rule = policyRule(ruleId);
  if (!rule) throw new Error(`no rule ${ruleId}`);
  return evaluatePolicy(blocks, [rule]).findings.map((f) => `${f.block.name}: ${f.detail}`);
}

test('a firewall allowing TCP by protocol number is read as TCP', () => {
  expect(details('GCP-FW-WORLD-ADMIN-PORTS', [block('google_compute_firewall', 'fw', { allow: [{ protocol: '6', ports: ['22'] }], source_ranges: ['0.0.0.0/0'] })])).toEqual([
    'fw: allows port 22 from 0.0.0.0/0',
  ]);
});

test("Slurm ports on GCP are judged against the network's own subnets, not any private range", () => {
  const network = block('google_compute_network', 'net', { auto_create_subnetworks: false });
  const subnet = block('google_compute_subnetwork', 'sub', { network: '${google_compute_network.net.self_link}', ip_cidr_range: '10.0.0.0/20' });
  const fw = (source: string) =>
    block('google_compute_firewall', 'fw', { network: '${google_compute_network.net.self_link}', allow: [{ protocol: 'tcp', ports: ['6818'] }], source_ranges: [source] });
  expect(details('GCP-FW-SLURM-PORTS', [network, subnet, fw('10.0.4.0/24')])).toEqual([]);
  expect(details('GCP-FW-SLURM-PORTS', [network, subnet, fw('100.64.0.0/10')])).toEqual([]);
  expect(details('GCP-FW-SLURM-PORTS', [network, subnet, fw('192.168.0.0/16')])).toEqual([
    'fw: allows port 6818 (Slurm daemons 6817-6819) from 192.168.0.0/16, outside 10.0.0.0/20',
  ]);
});

test('instances made from a template are checked only for what they override', () => {
  const inherits = block('google_compute_instance_from_template', 'node', { source_instance_template: 'x', name: 'gpu-0' });
  for (const id of ['GCP-VM-OS-LOGIN', 'GCP-VM-BLOCK-PROJECT-SSH-KEYS', 'GCP-VM-SHIELDED', 'GCP-VM-NO-PUBLIC-IP', 'GCP-VM-NO-IP-FORWARDING']) {
    expect(details(id, [inherits])).toEqual([]);
  }
  const overrides = block('google_compute_instance_from_template', 'node', {
    source_instance_template: 'x',
    can_ip_forward: true,
    metadata: { 'serial-port-enable': 'TRUE' },
    network_interface: [{ access_config: [{}] }],
  });
  expect(details('GCP-VM-NO-IP-FORWARDING', [overrides])).toEqual(['node: can_ip_forward is true']);
  expect(details('GCP-VM-NO-SERIAL-PORT', [overrides])).toEqual(['node: metadata serial-port-enable is "TRUE"']);
  expect(details('GCP-VM-OS-LOGIN', [overrides])).toEqual(['node: metadata enable-oslogin is not TRUE']);
  expect(details('GCP-VM-NO-PUBLIC-IP', [overrides])).toEqual(['node: network_interface[0] has an external address (access_config)']);
});

test('the default compute account given by reference is still the default account', () => {
  const sa = block('google_compute_default_service_account', 'default_sa', {}, 'data');
  const vm = block('google_compute_instance', 'vm', { service_account: [{ email: '${data.google_compute_default_service_account.default_sa.email}' }] });
  expect(details('GCP-VM-NO-DEFAULT-SA', [sa, vm])).toEqual(['vm: service_account.email is "${data.google_compute_default_service_account.default_sa.email}"']);
});

test('write-only secret data and enable_flow_logs are read', () => {
  expect(details('GCP-SECRET-LITERAL', [block('google_secret_manager_secret_version', 'v', { secret_data_wo: 'hunter2hunter2' })])).toEqual([
    'v: secret_data_wo is a literal',
  ]);
  expect(details('GCP-VPC-FLOW-LOGS', [block('google_compute_subnetwork', 'a', { enable_flow_logs: true })])).toEqual([]);
  expect(details('GCP-VPC-FLOW-LOGS', [block('google_compute_subnetwork', 'b', { enable_flow_logs: false, log_config: [{}] })])).toEqual([
    'b: enable_flow_logs is false',
  ]);
});

test('basic roles are found in bindings and whole project policies', () => {
  expect(
    details('GCP-IAM-NO-BASIC-ROLES', [
      block('google_folder_iam_binding', 'f', { role: 'roles/owner', members: [] }),
      block('google_project_iam_policy', 'p', { policy_data: JSON.stringify({ bindings: [{ role: 'roles/viewer', members: [] }] }) }),
    ]),
  ).toEqual(['f: grants roles/owner', 'p: grants roles/viewer']);
});

test('secret-looking environment names are matched by word, not by substring', () => {
  const container = (env: string[]) => block('docker_container', 'c', { env });
  expect(details('DOCKER-SECRET-ENV', [container(['TOKENIZERS_PARALLELISM=false', 'SSH_BYPASS_HOSTS=a', 'MUNGE_KEY_FILE=/run/k'])])).toEqual([]);
  expect(details('DOCKER-SECRET-ENV', [container(['HF_TOKEN=hf_abc', 'DB_PASSWORD=${var.db}'])])).toEqual([
    'c: env HF_TOKEN carries a literal',
    'c: env DB_PASSWORD carries a secret reference',
  ]);
});

test('boot data is scanned in project metadata, base64 uploads and gzip user-data', () => {
  const pem = '-----BEGIN RSA PRIVATE KEY-----';
  const { gzipSync } = jest.requireActual<typeof import('node:zlib')>('node:zlib');
  expect(
    details('COMMON-NO-SECRETS-IN-BOOT-DATA', [
      block('google_compute_project_metadata_item', 'item', { key: 'ssh-setup', value: pem }),
      block('docker_container', 'c', { upload: [{ file: '/k', content_base64: Buffer.from(pem).toString('base64') }] }),
      block('aws_launch_template', 'lt', { user_data: gzipSync(Buffer.from(`#!/bin/bash\n${pem}\n`)).toString('base64') }),
    ]),
  ).toEqual(['item: project metadata ssh-setup holds a private key', 'c: upload /k holds a private key', 'lt: user_data holds a private key']);
});

test('cgroup namespace sharing counts as a host namespace', () => {
  expect(details('DOCKER-NO-HOST-NAMESPACES', [block('docker_container', 'c', { cgroupns_mode: 'host' })])).toEqual(['c: cgroupns_mode is "host"']);
});

test('IAM: Describe-only statements may use "*", NotAction may not, service wildcards never', () => {
  const policy = (statement: Record<string, unknown>) =>
    block('aws_iam_role_policy', 'p', { policy: JSON.stringify({ Version: '2012-10-17', Statement: [statement] }) });
  expect(details('AWS-IAM-NO-WILDCARD-RESOURCE', [policy({ Effect: 'Allow', Action: ['ec2:DescribeInstances', 'ec2:DescribeAvailabilityZones'], Resource: '*' })])).toEqual([]);
  expect(details('AWS-IAM-NO-WILDCARD-RESOURCE', [policy({ Effect: 'Allow', Action: 'ec2:*', Resource: '*' })])).toEqual(['p: statement #0 allows ec2:* on Resource "*"']);
  expect(details('AWS-IAM-NO-WILDCARD-ACTION', [policy({ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' })])).toEqual([
    'p: statement #0 allows everything but iam:* (NotAction)',
  ]);
  expect(details('AWS-IAM-NO-WILDCARD-ACTION', [policy({ Effect: 'Deny', Action: '*', Resource: '*' })])).toEqual([]);
});
