import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { App, TerraformStack, Testing } from 'cdktf';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { terraformExpressionOf } from '../../lib/cdktf-adapter';
import {
  CLOUD_PLATFORM_SCOPE,
  GCP_METADATA_VALUE_MAX_BYTES,
  gcpSecret,
  gcpServiceAccount,
  gcpStaticInstance,
  grantLogging,
  grantSecretAccess,
  grantSecretVersionAdder,
} from '../../lib/gcp/vm';
import { GcpNodeInstanceTemplateProps, gcpComputeInstances, gcpNodeInstanceTemplate } from '../../lib/gcp/node-template';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Json = Record<string, any>;

const PROJECT = 'my-hpc-project';
const USER_DATA = '#cloud-config\nruncmd:\n  - echo hello\n';

function setup(gpuNetworkCount = 8) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  new GoogleProvider(stack, 'google', { project: PROJECT, region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Network', {
    project: PROJECT, region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc', gpuNetworkCount,
  });
  const identity = gcpServiceAccount(stack, 'ComputeSa', { project: PROJECT, accountId: 'hpc-compute', displayName: 'HPC compute nodes' });
  return { stack, network, identity };
}

const synth = (stack: TerraformStack): Json => JSON.parse(Testing.synth(stack));
const resources = (json: Json, type: string): Record<string, Json> => json.resource?.[type] ?? {};
function only(json: Json, type: string): [string, Json] {
  const entries = Object.entries(resources(json, type));
  expect(entries).toHaveLength(1);
  return entries[0];
}
const ref = (type: string, name: string, attr = 'self_link') => `\${${type}.${name}.${attr}}`;
/** Logical name of the resource whose `name` field is `gcpName`. */
function logicalByName(json: Json, type: string, gcpName: string): string {
  const found = Object.entries(resources(json, type)).filter(([, r]) => r.name === gcpName);
  expect(found).toHaveLength(1);
  return found[0][0];
}
/** Every key path in `value` (to find e.g. an `access_config` anywhere). */
function keysDeep(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysDeep);
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [k, ...keysDeep(v)]);
  return [];
}

function a3mega(setupResult: ReturnType<typeof setup>, over: Partial<GcpNodeInstanceTemplateProps> = {}): GcpNodeInstanceTemplateProps {
  return {
    network: setupResult.network,
    namePrefix: 'hpc-a3mega',
    machineType: 'a3-megagpu-8g',
    isGpu: true,
    gpuNics: 8,
    userData: USER_DATA,
    serviceAccountEmail: setupResult.identity.email,
    clusterName: 'hpc',
    role: 'compute',
    pool: 'a3mega',
    bootDiskSizeGiB: 200,
    bootDiskType: 'pd-ssd',
    ...over,
  };
}

describe('gcpNodeInstanceTemplate: A3 Mega on 8 GPU networks', () => {
  const s = setup();
  const tpl = gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s, { reservationName: 'a3mega-res', sshViaIap: false }));
  const json = synth(s.stack);
  const [, t] = only(json, 'google_compute_instance_template');

  test('9 NICs, system first then gpunet-0..7 in order, all gVNIC, no access_config anywhere', () => {
    const nics: Json[] = t.network_interface;
    expect(nics).toHaveLength(9);
    const expected = ['hpc-subnet', ...Array.from({ length: 8 }, (_, i) => `hpc-gpunet-${i}-subnet`)]
      .map((name) => ref('google_compute_subnetwork', logicalByName(json, 'google_compute_subnetwork', name)));
    expect(nics.map((n) => n.subnetwork)).toEqual(expected);
    const expectedNets = ['hpc-net', ...Array.from({ length: 8 }, (_, i) => `hpc-gpunet-${i}`)]
      .map((name) => ref('google_compute_network', logicalByName(json, 'google_compute_network', name)));
    expect(nics.map((n) => n.network)).toEqual(expectedNets);
    expect(nics.every((n) => n.nic_type === 'GVNIC')).toBe(true);
    expect(keysDeep(json.resource)).not.toContain('access_config');
    expect(t.can_ip_forward).toBe(false);
  });

  test('Shielded VM, node identity with cloud-platform scope, security metadata and the user-data', () => {
    expect(t.shielded_instance_config).toEqual({ enable_secure_boot: true, enable_vtpm: true, enable_integrity_monitoring: true });
    const [saName] = only(json, 'google_service_account');
    expect(t.service_account).toEqual({ email: ref('google_service_account', saName, 'email'), scopes: [CLOUD_PLATFORM_SCOPE] });
    expect(t.metadata).toEqual({
      'user-data': USER_DATA,
      'enable-oslogin': 'TRUE',
      'block-project-ssh-keys': 'TRUE',
      'serial-port-enable': 'FALSE',
    });
    expect(t.metadata_startup_script).toBeUndefined();
  });

  test('GPU scheduling: TERMINATE on maintenance, restart, standard provisioning', () => {
    expect(t.scheduling).toEqual({ provisioning_model: 'STANDARD', preemptible: false, automatic_restart: true, on_host_maintenance: 'TERMINATE' });
  });

  test('the named reservation, specifically', () => {
    expect(t.reservation_affinity).toEqual({
      type: 'SPECIFIC_RESERVATION',
      specific_reservation: { key: 'compute.googleapis.com/reservation-name', values: ['a3mega-res'] },
    });
  });

  test('only the boot disk: bundled Local SSDs are attached by Compute Engine, not listed', () => {
    expect(t.disk).toEqual([{
      boot: true, auto_delete: true, type: 'PERSISTENT',
      source_image: 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64',
      disk_size_gb: 200, disk_type: 'pd-ssd', labels: t.labels,
    }]);
  });

  test('name_prefix with create_before_destroy; cluster tag only; labels', () => {
    expect(t.name_prefix).toBe('hpc-a3mega-');
    expect(t.name).toBeUndefined();
    expect(t.lifecycle).toEqual({ create_before_destroy: true });
    expect(t.tags).toEqual(['hpc-cluster']);
    expect(t.labels).toEqual({ 'slurm-cluster': 'hpc', 'slurm-role': 'compute', 'slurm-pool': 'a3mega' });
    expect(t.project).toBe(PROJECT);
    expect(tpl.zone).toBe('us-central1-a');
    expect(tpl.placementPolicy).toBeUndefined();
    expect(t.resource_policies).toBeUndefined();
  });
});

describe('gcpNodeInstanceTemplate: placement, CPU types, Spot', () => {
  test('compactPlacement creates a COLLOCATED policy the template references, and forces TERMINATE', () => {
    const s = setup();
    gcpNodeInstanceTemplate(s.stack, 'Gpu', a3mega(s, { compactPlacement: true }));
    const json = synth(s.stack);
    const [policyName, policy] = only(json, 'google_compute_resource_policy');
    expect(policy).toMatchObject({ name: 'hpc-a3mega-placement', region: 'us-central1', project: PROJECT,
      group_placement_policy: { collocation: 'COLLOCATED' } });
    const [, t] = only(json, 'google_compute_instance_template');
    expect(t.resource_policies).toEqual([ref('google_compute_resource_policy', policyName)]);
    expect(t.reservation_affinity).toEqual({ type: 'ANY_RESERVATION' });
  });

  test('a CPU type on the same network: 1 NIC, MIGRATE, IAP SSH tag when asked', () => {
    const s = setup();
    gcpNodeInstanceTemplate(s.stack, 'Cpu', a3mega(s, {
      namePrefix: 'hpc-cpu', machineType: 'n2-standard-8', isGpu: false, gpuNics: 0, sshViaIap: true, pool: 'cpu',
    }));
    const [, t] = only(synth(s.stack), 'google_compute_instance_template');
    expect(t.network_interface).toHaveLength(1);
    expect(t.network_interface[0].nic_type).toBe('GVNIC');
    expect(t.scheduling.on_host_maintenance).toBe('MIGRATE');
    expect(t.scheduling.automatic_restart).toBe(true);
    expect(t.tags).toEqual(['hpc-cluster', 'hpc-iap-ssh']);
  });

  test('a CPU type with compact placement is TERMINATE too (placement policies rule out live migration)', () => {
    const s = setup(0);
    gcpNodeInstanceTemplate(s.stack, 'Cpu', a3mega(s, { namePrefix: 'hpc-cpu', machineType: 'c2-standard-60', isGpu: false, gpuNics: 0, compactPlacement: true }));
    const [, t] = only(synth(s.stack), 'google_compute_instance_template');
    expect(t.scheduling.on_host_maintenance).toBe('TERMINATE');
  });

  test('Spot: SPOT, preemptible, no restart, deleted when reclaimed', () => {
    const s = setup();
    gcpNodeInstanceTemplate(s.stack, 'Spot', a3mega(s, { spot: true }));
    const [, t] = only(synth(s.stack), 'google_compute_instance_template');
    expect(t.scheduling).toEqual({
      provisioning_model: 'SPOT', preemptible: true, automatic_restart: false,
      on_host_maintenance: 'TERMINATE', instance_termination_action: 'DELETE',
    });
  });

  test('an existing placement policy (the reservation\'s own) can go with a reservation', () => {
    const s = setup();
    const policy = 'projects/my-hpc-project/regions/us-central1/resourcePolicies/a3mega-compact';
    gcpNodeInstanceTemplate(s.stack, 'Gpu', a3mega(s, { reservationName: 'a3mega-res', placementPolicy: policy }));
    const json = synth(s.stack);
    const [, t] = only(json, 'google_compute_instance_template');
    expect(t.resource_policies).toEqual([policy]);
    expect(resources(json, 'google_compute_resource_policy')).toEqual({});
  });
});

describe('identity and secrets', () => {
  const s = setup(0);
  const munge = gcpSecret(s.stack, 'MungeKey', { project: PROJECT, secretId: 'hpc-munge-key', description: 'Slurm munge key', labels: { 'slurm-cluster': 'hpc' } });
  grantSecretAccess(s.stack, 'ComputeReadsMunge', { project: PROJECT, secretId: munge.secretId, member: s.identity.member });
  grantLogging(s.stack, 'ComputeLogs', { project: PROJECT, member: s.identity.member });
  const ctl = gcpServiceAccount(s.stack, 'ControllerSa', { project: PROJECT, accountId: 'hpc-controller', displayName: 'HPC controller' });
  grantSecretVersionAdder(s.stack, 'ControllerAddsMunge', { project: PROJECT, secretId: munge.secretId, member: ctl.member });
  const json = synth(s.stack);

  test('no service account key is ever created', () => {
    expect(resources(json, 'google_service_account_key')).toEqual({});
    expect(Object.keys(resources(json, 'google_service_account'))).toHaveLength(2);
  });

  test('secret-level grants only: accessor for compute, version adder for the controller, on that one secret', () => {
    const [secretName] = only(json, 'google_secret_manager_secret');
    const grants = Object.values(resources(json, 'google_secret_manager_secret_iam_member'));
    const saRef = (name: string) => ref('google_service_account', Object.entries(resources(json, 'google_service_account'))
      .find(([, r]) => r.account_id === name)![0], 'member');
    expect(grants).toEqual(expect.arrayContaining([
      { project: PROJECT, secret_id: ref('google_secret_manager_secret', secretName, 'secret_id'), role: 'roles/secretmanager.secretAccessor', member: saRef('hpc-compute') },
      { project: PROJECT, secret_id: ref('google_secret_manager_secret', secretName, 'secret_id'), role: 'roles/secretmanager.secretVersionAdder', member: saRef('hpc-controller') },
    ]));
    expect(grants).toHaveLength(2);
    // No project-level Secret Manager role, no Editor, no policies or bindings that would replace others.
    const projectRoles = Object.values(resources(json, 'google_project_iam_member')).map((m) => m.role).sort();
    expect(projectRoles).toEqual(['roles/logging.logWriter', 'roles/monitoring.metricWriter']);
    for (const type of ['google_project_iam_binding', 'google_project_iam_policy', 'google_secret_manager_secret_iam_binding']) {
      expect(resources(json, type)).toEqual({});
    }
  });

  test('the secret: automatic replication, labels, no version', () => {
    const [, secret] = only(json, 'google_secret_manager_secret');
    expect(secret).toMatchObject({ secret_id: 'hpc-munge-key', replication: { auto: {} }, labels: { 'slurm-cluster': 'hpc' },
      annotations: { description: 'Slurm munge key' } });
    expect(resources(json, 'google_secret_manager_secret_version')).toEqual({});
  });

  test('grants go to service accounts only', () => {
    const t = setup(0);
    expect(() => grantSecretAccess(t.stack, 'Bad', { project: PROJECT, secretId: 'x', member: 'allUsers' }))
      .toThrow(/test: member = "allUsers": is not a service account member.*gcpServiceAccount/);
  });
});

describe('gcpStaticInstance: controller', () => {
  const s = setup();
  const ctl = gcpStaticInstance(s.stack, 'Controller', {
    network: s.network, name: 'hpc-controller', machineType: 'n2-standard-8', isGpu: false, gpuNics: 0, userData: USER_DATA,
    serviceAccountEmail: s.identity.email, clusterName: 'hpc', role: 'controller', networkIp: '10.0.0.2',
    deletionProtection: true, stateDisk: { sizeGiB: 64 },
  });
  const json = synth(s.stack);
  const [, vm] = only(json, 'google_compute_instance');

  test('fixed internal IP on the system subnet, one NIC, no public IP', () => {
    expect(vm.network_interface).toHaveLength(1);
    expect(vm.network_interface[0]).toEqual({
      network: ref('google_compute_network', logicalByName(json, 'google_compute_network', 'hpc-net')),
      subnetwork: ref('google_compute_subnetwork', logicalByName(json, 'google_compute_subnetwork', 'hpc-subnet')),
      nic_type: 'GVNIC', network_ip: '10.0.0.2',
    });
    expect(ctl.networkIp).toBe('10.0.0.2');
    expect(vm).toMatchObject({ name: 'hpc-controller', zone: 'us-central1-a', can_ip_forward: false, deletion_protection: true });
  });

  test('the state disk: pd-ssd, attached by device name, outliving the VM', () => {
    const [diskName, disk] = only(json, 'google_compute_disk');
    expect(disk).toMatchObject({ name: 'hpc-controller-state', type: 'pd-ssd', size: 64, zone: 'us-central1-a' });
    expect(vm.attached_disk).toEqual([{ source: ref('google_compute_disk', diskName), device_name: 'slurm-state', mode: 'READ_WRITE' }]);
    expect(vm.boot_disk).toMatchObject({ auto_delete: true, initialize_params: { size: 50, type: 'pd-balanced' } });
  });

  test('same security settings as the template', () => {
    expect(vm.shielded_instance_config).toEqual({ enable_secure_boot: true, enable_vtpm: true, enable_integrity_monitoring: true });
    expect(vm.metadata).toMatchObject({ 'enable-oslogin': 'TRUE', 'block-project-ssh-keys': 'TRUE', 'serial-port-enable': 'FALSE' });
    expect(vm.scheduling.on_host_maintenance).toBe('MIGRATE');
    expect(vm.labels).toEqual({ 'slurm-cluster': 'hpc', 'slurm-role': 'controller' });
    expect(resources(json, 'google_compute_instance_template')).toEqual({});
  });

  test('without networkIp, the address is a reference to NIC 0 known after apply', () => {
    const t = setup(0);
    const login = gcpStaticInstance(t.stack, 'Login', {
      network: t.network, name: 'hpc-login', machineType: 'n2-standard-4', isGpu: false, gpuNics: 0, userData: USER_DATA,
      serviceAccountEmail: t.identity.email, clusterName: 'hpc', role: 'login', sshViaIap: true,
    });
    const out = synth(t.stack);
    const [name, vm] = only(out, 'google_compute_instance');
    expect(vm.network_interface[0].network_ip).toBeUndefined();
    expect(vm.tags).toEqual(['hpc-cluster', 'hpc-iap-ssh']);
    expect(vm.attached_disk).toBeUndefined();
    expect(resources(out, 'google_compute_disk')).toEqual({});
    expect(terraformExpressionOf(t.stack, login.networkIp)).toBe(`\${google_compute_instance.${name}.network_interface[0].network_ip}`);
  });

  test('a fixed address outside the subnet or reserved by Google is refused', () => {
    const t = setup(0);
    const base = { network: t.network, machineType: 'n2-standard-8', isGpu: false, gpuNics: 0, userData: USER_DATA,
      serviceAccountEmail: t.identity.email, clusterName: 'hpc', role: 'controller' as const };
    expect(() => gcpStaticInstance(t.stack, 'A', { ...base, name: 'a', networkIp: '10.1.0.2' }))
      .toThrow('test/A: networkIp = "10.1.0.2": is outside the system subnet 10.0.0.0/20. Pick an address inside 10.0.0.0/20');
    expect(() => gcpStaticInstance(t.stack, 'B', { ...base, name: 'b', networkIp: '10.0.0.1' })).toThrow(/test\/B: networkIp = "10.0.0.1": is reserved by Google/);
    expect(() => gcpStaticInstance(t.stack, 'C', { ...base, name: 'c', networkIp: '10.0.15.254' })).toThrow(/reserved by Google/);
  });
});

describe('gcpComputeInstances: a static pool is one counted resource', () => {
  test.each([1, 2, 64])('%i nodes: one resource, count, names from count.index', (count) => {
    const s = setup();
    const tpl = gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s));
    const pool = gcpComputeInstances(s.stack, 'A3MegaNodes', { template: tpl, namePrefix: 'a3mega', count });
    const json = synth(s.stack);
    const [, vms] = only(json, 'google_compute_instance_from_template');
    const [tplName] = only(json, 'google_compute_instance_template');
    expect(vms).toEqual({
      count, project: PROJECT, zone: 'us-central1-a', name: 'a3mega-${count.index}',
      source_instance_template: ref('google_compute_instance_template', tplName),
    });
    expect(resources(json, 'google_compute_instance_group_manager')).toEqual({});
    expect(pool.hostlist).toBe(count === 1 ? 'a3mega-0' : `a3mega-[0-${count - 1}]`);
  });
});

test('a pool of 0 nodes is count 0 and has no hostlist', () => {
  const s = setup();
  const pool = gcpComputeInstances(s.stack, 'Empty', { template: gcpNodeInstanceTemplate(s.stack, 'T', a3mega(s)), namePrefix: 'gpu', count: 0 });
  expect(only(synth(s.stack), 'google_compute_instance_from_template')[1].count).toBe(0);
  expect(pool.hostlist).toBeUndefined();
});

describe('bad input fails with construct path, field, value and fix', () => {
  test('A3 Mega on a network without GPU VPCs', () => {
    const s = setup(0);
    expect(() => gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s))).toThrow(
      'test/A3Mega: network.gpuNetworks = 0: a3-megagpu-8g needs 8 GPU networks (one per GPU NIC), found 0. ' +
      'Create the network with new GcpClusterNetwork(..., { gpuNetworkCount: 8 })');
  });

  test('user-data over 256 KiB names its size', () => {
    const s = setup();
    const big = '#cloud-config\n' + 'x'.repeat(GCP_METADATA_VALUE_MAX_BYTES);
    expect(() => gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s, { userData: big }))).toThrow(
      `test/A3Mega: userData = "${GCP_METADATA_VALUE_MAX_BYTES + 14} bytes": is over Compute Engine's 262144-byte (256 KiB) limit`);
  });

  test('user-data exactly at the limit is accepted', () => {
    const s = setup();
    expect(() => gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s, { userData: 'x'.repeat(GCP_METADATA_VALUE_MAX_BYTES) }))).not.toThrow();
  });

  test('boot disk of 5 GiB', () => {
    const s = setup();
    expect(() => gcpNodeInstanceTemplate(s.stack, 'A3Mega', a3mega(s, { bootDiskSizeGiB: 5 }))).toThrow(
      'test/A3Mega: bootDiskSizeGiB = 5: must be a whole number from 10 to 65536 GiB. Use at least the image size, e.g. 50');
  });

  test('compact placement with a reservation, and Spot with a reservation', () => {
    const s = setup();
    expect(() => gcpNodeInstanceTemplate(s.stack, 'P', a3mega(s, { reservationName: 'r1', compactPlacement: true })))
      .toThrow(/test\/P: compactPlacement = true: is combined with reservationName \(r1\).*placementPolicy/);
    expect(() => gcpNodeInstanceTemplate(s.stack, 'S', a3mega(s, { reservationName: 'r1', spot: true })))
      .toThrow(/test\/S: reservationName = "r1": is combined with spot = true.*Leave out spot/);
  });

  test('the default compute service account is refused', () => {
    const s = setup();
    expect(() => gcpNodeInstanceTemplate(s.stack, 'D', a3mega(s, { serviceAccountEmail: '123456789-compute@developer.gserviceaccount.com' })))
      .toThrow(/test\/D: serviceAccountEmail = "123456789-compute@developer.gserviceaccount.com": is the Compute Engine default service account/);
  });

  test('labels outside GCE rules', () => {
    const s = setup();
    expect(() => gcpNodeInstanceTemplate(s.stack, 'L', a3mega(s, { clusterName: 'HPC' })))
      .toThrow(/test\/L: labels.slurm-cluster = "HPC": is not a GCE label value/);
  });

  test('pool node names past 63 characters', () => {
    const s = setup();
    const tpl = gcpNodeInstanceTemplate(s.stack, 'T', a3mega(s));
    expect(() => gcpComputeInstances(s.stack, 'N', { template: tpl, namePrefix: 'a'.repeat(61), count: 100 }))
      .toThrow(/test\/N: namePrefix = "a{61}": makes the name 'a{61}-99' longer than 63/);
    // 63 exactly is a valid name.
    expect(() => gcpComputeInstances(s.stack, 'M', { template: tpl, namePrefix: 'a'.repeat(60), count: 100 })).not.toThrow();
  });
});

describe('secret grants wait for the secrets this plan makes (a first apply must not bind to a secret not yet made)', () => {
  // The shipped Compute Engine stack: every grant on a secret it makes depends on that secret.
  const tf = JSON.parse(Testing.synth(SHIPPED_STACKS['gcp-a3mega'](Testing.app() as App, 'gcp-a3mega')));
  const secrets = tf.resource.google_secret_manager_secret as Record<string, { secret_id: string }>;
  const grants = Object.entries(tf.resource.google_secret_manager_secret_iam_member as Record<string, { secret_id: string; depends_on?: string[] }>);

  test.each(grants.map(([id, g]) => [id, g] as const))('%s', (_id, grant) => {
    const made = Object.entries(secrets).find(([, s]) => s.secret_id === grant.secret_id);
    if (!made) return; // a secret made elsewhere (the user's): nothing in this plan to wait for
    expect(grant.depends_on ?? []).toContain(`google_secret_manager_secret.${made[0]}`);
  });

  test('the stack has such grants at all (munge key readers, the monitor\'s password)', () => {
    expect(grants.filter(([, g]) => Object.values(secrets).some((s) => s.secret_id === g.secret_id)).length).toBeGreaterThanOrEqual(5);
  });
});
