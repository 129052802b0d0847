/**
 * The shipped `gcp-a3mega` stack: what a user with an A3 Mega reservation gets. Network count and MTU, the NIC
 * order, no public address anywhere, pinned TCPXO images, the job hooks Slurm runs, the NCCL profile as a shell
 * sees it, secrets by reference only, and every VM's user-data through cloud-init's schema.
 */
import { execFileSync, spawnSync } from 'child_process';
import { App, Testing } from 'cdktf';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { loadBootstrapScripts } from '../../lib/cloudinit';
import { DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE, DEFAULT_TCPXO_RXDM_IMAGE } from '../../lib/gcp/tcpxo';
import { GcpA3MegaStack } from '../../stacks/gcp-a3mega';
import { validateCloudConfig } from '../cloudinit/validate-cloud-config';
import { interpolations, terraformLiteralValue } from '../terraform/template-strings';

type Json = Record<string, any>;
type WriteFile = { path: string; content: string; permissions: string };

function synth(): Json {
  const app = new App({ outdir: Testing.app().outdir });
  const stack = new GcpA3MegaStack(app, 'gcp-a3mega');
  const outdir = Testing.fullSynth(stack);
  return JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'gcp-a3mega', 'cdk.tf.json'), 'utf8'));
}

const tf = synth();
const all = (type: string): [string, Json][] => Object.entries(tf.resource[type] ?? {}) as [string, Json][];
const byPath = (type: string, part: string): Json => {
  const hits = all(type).filter(([, r]) => r['//']?.metadata?.path?.includes(part));
  expect(hits).toHaveLength(1);
  return hits[0][1];
};
const ref = (type: string, part: string, attr: string): string => {
  const hit = all(type).find(([, r]) => r['//']?.metadata?.path?.includes(part));
  return `\${${type}.${hit![0]}.${attr}}`;
};

/**
 * A VM's user-data as cloud-init will read it once Terraform has filled in the variables: Terraform's escapes
 * undone, references replaced by the variables' defaults (or a sample value).
 */
const SAMPLE_SHA = 'a'.repeat(64);
const SAMPLE_LUSTRE = '172.16.0.5@tcp:/home';
function userData(metadata: Json): { doc: string; files: Map<string, WriteFile>; env: Map<string, string> } {
  const raw: string = metadata['user-data'];
  const filled = raw.replace(/(?<!\$)\$\{var\.([a-z0-9_]+)\}/g, (_m, name: string) => {
    const v = tf.variable[name];
    return v.default !== undefined ? String(v.default) : SAMPLE_SHA;
  });
  // The one resource reference: the Managed Lustre /home's mount point, known after apply.
  const withHome = filled.replace(/(?<!\$)\$\{google_lustre_instance\.[A-Za-z0-9_]+\.mount_point\}/g, SAMPLE_LUSTRE);
  expect(interpolations(withHome)).toEqual([]); // nothing else is interpolated
  const doc = terraformLiteralValue(withHome);
  const files = new Map((parse(doc).write_files as WriteFile[]).map((f) => [f.path, f]));
  const env = new Map<string, string>();
  for (const line of files.get('/etc/cdktf-slurm/node.env')!.content.split('\n')) {
    const m = /^([A-Z_0-9]+)='(.*)'$/.exec(line);
    if (m) env.set(m[1], m[2]);
  }
  return { doc, files, env };
}

const a3Template = byPath('google_compute_instance_template', 'A3Mega/Template');
const debugTemplate = byPath('google_compute_instance_template', 'Debug/Template');
const controllerVm = byPath('google_compute_instance', 'Controller/Vm');
const loginVm = byPath('google_compute_instance', 'Login/Vm');
const a3 = userData(a3Template.metadata);
const debug = userData(debugTemplate.metadata);
const ctl = userData(controllerVm.metadata);
const login = userData(loginVm.metadata);
const slurmConf = ctl.files.get('/etc/cdktf-slurm/slurm/slurm.conf')!.content;

describe('networks', () => {
  const nets = all('google_compute_network').map(([, n]) => n);
  const subnets = all('google_compute_subnetwork').map(([, s]) => s);

  test('one system VPC and 8 GPU VPCs, each with exactly one subnet, all at MTU 8244', () => {
    expect(nets).toHaveLength(9);
    expect(subnets).toHaveLength(9);
    expect(nets.filter((n) => /-gpunet-\d$/.test(n.name)).map((n) => n.name).sort())
      .toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((i) => `a3mega-gpunet-${i}`));
    for (const n of nets) {
      expect(n.mtu).toBe(8244);
      expect(n.auto_create_subnetworks).toBe(false);
    }
  });

  test('A3 Mega template: 9 gVNIC NICs, system VPC first, then GPU VPCs 0..7 in order; no public address', () => {
    const nics: Json[] = a3Template.network_interface;
    expect(nics).toHaveLength(9);
    const names = nics.map((n) => {
      const [, id] = /^\$\{google_compute_network\.([^.]+)\.self_link\}$/.exec(n.network)!;
      return tf.resource.google_compute_network[id].name;
    });
    expect(names).toEqual(['a3mega-net', ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => `a3mega-gpunet-${i}`)]);
    for (const n of nics) expect(n.nic_type).toBe('GVNIC');
  });

  test('no VM, template or NIC anywhere gets a public address', () => {
    const vms = [...all('google_compute_instance'), ...all('google_compute_instance_template')].map(([, v]) => v);
    // controller, login, monitor; the two pools' templates.
    expect(vms).toHaveLength(5);
    for (const vm of vms) {
      for (const nic of vm.network_interface) expect(nic.access_config).toBeUndefined();
    }
  });

  test('controller and login at fixed addresses in the system subnet; debug pool has no GPU NICs', () => {
    expect(controllerVm.network_interface[0].network_ip).toBe('10.0.0.10');
    expect(loginVm.network_interface[0].network_ip).toBe('10.0.0.11');
    expect(debugTemplate.network_interface).toHaveLength(1);
  });
});

describe('A3 Mega nodes', () => {
  test('2 VMs from ONE template, named a3mega-<i> (the Slurm node names), consuming the reservation, TERMINATE on maintenance', () => {
    const nodes = byPath('google_compute_instance_from_template', 'A3Mega/Nodes');
    expect(nodes.count).toBe(2);
    expect(nodes.name).toBe('a3mega-${count.index}');
    expect(nodes.source_instance_template).toBe(ref('google_compute_instance_template', 'A3Mega/Template', 'self_link'));
    expect(a3Template.machine_type).toBe('a3-megagpu-8g');
    expect(a3Template.reservation_affinity).toEqual({
      type: 'SPECIFIC_RESERVATION',
      specific_reservation: { key: 'compute.googleapis.com/reservation-name', values: ['${var.reservation}'] },
    });
    expect(a3Template.scheduling).toMatchObject({ on_host_maintenance: 'TERMINATE', provisioning_model: 'STANDARD' });
    expect(slurmConf).toMatch(/^NodeName=a3mega-\[0-1\] .*Gres=gpu:h100:8/m);
  });

  test('TCPXO images pinned to versions in node.env, never latest', () => {
    expect(a3.env.get('TCPXO_ENABLED')).toBe('1');
    expect(a3.env.get('TCPXO_RXDM_IMAGE')).toBe(DEFAULT_TCPXO_RXDM_IMAGE);
    expect(a3.env.get('TCPXO_NCCL_PLUGIN_IMAGE')).toBe(DEFAULT_TCPXO_NCCL_PLUGIN_IMAGE);
    for (const image of [a3.env.get('TCPXO_RXDM_IMAGE')!, a3.env.get('TCPXO_NCCL_PLUGIN_IMAGE')!]) {
      expect(image).toMatch(/:v\d+\.\d+\.\d+$/);
      expect(image).not.toMatch(/latest/);
    }
    expect(a3.env.get('TCPXO_DATA_NICS')!.split(' ')).toHaveLength(8);
  });

  test('the NCCL profile, sourced by a shell, sets the NIC variables, the LLCM directory and the plugin path', () => {
    const profile = a3.files.get('/etc/profile.d/nccl-tcpxo.sh')!;
    expect(profile.permissions).toBe('0644');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nccl-profile-'));
    try {
      fs.writeFileSync(path.join(dir, 'p.sh'), profile.content);
      const out = execFileSync('sh', ['-c', `. ${dir}/p.sh; . ${dir}/p.sh; env`], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      const env = new Map(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(env.get('NCCL_FASTRAK_CTRL_DEV')).toBe(a3.env.get('TCPXO_CONTROL_NIC'));
      expect(env.get('NCCL_SOCKET_IFNAME')).toBe(a3.env.get('TCPXO_CONTROL_NIC'));
      expect(env.get('NCCL_FASTRAK_IFNAME')).toBe(a3.env.get('TCPXO_DATA_NICS')!.split(' ').join(','));
      expect(env.get('NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY')).toBe('/dev/aperture_devices');
      expect(env.get('NCCL_TUNER_CONFIG_PATH')).toBe('/var/lib/tcpxo/lib64/a3plus_tuner_config.textproto');
      // Sourced twice, the plugin directory is on the path once.
      expect(env.get('LD_LIBRARY_PATH')).toBe('/var/lib/tcpxo/lib64');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('slurm.conf runs the node job-hook globs once per job at allocation; the nodes carry the TCPXO hooks', () => {
    expect(slurmConf).toMatch(/^Prolog=\/etc\/slurm\/prolog\.d\/\*$/m);
    expect(slurmConf).toMatch(/^Epilog=\/etc\/slurm\/epilog\.d\/\*$/m);
    expect(slurmConf).toMatch(/^PrologFlags=Alloc,Contain$/m);
    const shipped = new Map(loadBootstrapScripts().map((s) => [s.relativePath, s.content]));
    for (const script of ['gcp/tcpxo.sh', 'gcp/tcpxo-prolog.sh', 'gcp/tcpxo-epilog.sh', 'gcp/localssd-raid.sh', 'containers/enroot-pyxis.sh']) {
      expect(a3.files.get(`/opt/cdktf-slurm/bootstrap/${script}`)).toMatchObject({ content: shipped.get(script), permissions: '0755' });
      expect(debug.files.has(`/opt/cdktf-slurm/bootstrap/${script}`)).toBe(false);
    }
  });

  test('the job hooks as delivered pass shellcheck', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-'));
    try {
      for (const [p, f] of a3.files) if (p.startsWith('/opt/cdktf-slurm/bootstrap/')) {
        const dest = path.join(dir, p.slice('/opt/cdktf-slurm/bootstrap/'.length));
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.writeFileSync(dest, f.content);
      }
      const r = spawnSync('shellcheck', ['-x', 'gcp/tcpxo-prolog.sh', 'gcp/tcpxo-epilog.sh', 'gcp/tcpxo.sh'], { cwd: dir, encoding: 'utf8' });
      if (r.error) throw new Error(`shellcheck not runnable: ${r.error.message}`);
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('local SSD RAID0 scratch and enroot + pyxis on it; plugstack served by the controller', () => {
    expect(a3.env.get('LOCALSSD_RAID')).toBe('1');
    expect(a3.env.get('LOCAL_SCRATCH')).toBe('/mnt/localssd');
    expect(a3.files.get('/etc/cdktf-slurm/enroot.conf')!.content).toMatch(/^ENROOT_DATA_PATH\s+\/mnt\/localssd\/enroot\/data\/user-\$\{UID\}$/m);
    expect(a3.files.get('/etc/cdktf-slurm/slurm/plugstack.conf.d/pyxis.conf')!.content).toMatch(/^required \/usr\/local\/lib\/slurm\/spank_pyxis\.so /m);
    // Configless nodes read the controller's plugstack.conf, which includes each node's drop-ins.
    expect(ctl.files.get('/etc/cdktf-slurm/slurm/plugstack.conf')!.content).toMatch(/^include \/etc\/slurm\/plugstack\.conf\.d\/\*\.conf$/m);
    // The download checksums are Terraform variables the user sets (checked by their validation), filled in at plan.
    expect(a3Template.metadata['user-data']).toContain("ENROOT_SHA256_AMD64='${var.enroot_deb_sha256}'");
    expect(tf.variable.enroot_deb_sha256.validation[0].condition).toContain('[0-9a-f]{64}');
    expect(tf.variable.enroot_deb_sha256.default).toBeUndefined();
    // srun loads pyxis on the submit host too.
    expect(login.env.get('ENROOT_VERSION')).toBe('3.5.0');
  });
});

describe('/home on Managed Lustre', () => {
  test('one instance at 9 TiB / 1000 MB/s/TiB in the zone, mounted at /home on the login node and both pools, not the controller', () => {
    expect(Object.values(tf.resource.google_lustre_instance)).toEqual([
      expect.objectContaining({ location: '${var.zone}', capacity_gib: '9000', per_unit_storage_throughput: '1000', filesystem: 'home' }),
    ]);
    for (const node of [login, a3, debug]) {
      expect(node.files.get('/etc/cdktf-slurm/mounts.tab')!.content).toBe(`lustre\t${SAMPLE_LUSTRE}\t/home\tdefaults,flock\t-\n`);
      expect(node.files.has('/opt/cdktf-slurm/bootstrap/lustre-client.sh')).toBe(true);
    }
    expect(ctl.files.has('/etc/cdktf-slurm/mounts.tab')).toBe(false);
  });
});

describe('partitions', () => {
  test('a3mega (default, exclusive) and debug', () => {
    expect(slurmConf).toMatch(/^PartitionName=a3mega .*Nodes=a3mega-\[0-1\].*Default=YES.*OverSubscribe=EXCLUSIVE/m);
    expect(slurmConf).toMatch(/^PartitionName=debug .*Nodes=debug-0.*MaxTime=30:00/m);
  });
});

describe('identity and secrets', () => {
  test('no secret value in the plan: no secret versions, nodes read Secret Manager by reference', () => {
    expect(tf.resource.google_secret_manager_secret_version).toBeUndefined();
    const secrets = all('google_secret_manager_secret').map(([, s]) => s.secret_id).sort();
    expect(secrets).toEqual(['a3mega-grafana-admin-password', 'a3mega-munge-key', 'a3mega-slurmdbd-db-password']);
    const source = 'gcp-secretmanager:projects/my-a3mega-project/secrets/a3mega-munge-key';
    expect(ctl.env.get('MUNGE_KEY_SOURCE')).toBe(`generate+${source}`);
    for (const node of [a3, debug, login]) expect(node.env.get('MUNGE_KEY_SOURCE')).toBe(source);
    expect(ctl.env.get('DB_PASSWORD_SOURCE')).toBe('generate+gcp-secretmanager:projects/my-a3mega-project/secrets/a3mega-slurmdbd-db-password');
  });

  test('grants are per secret: every node reads the munge key, only the controller adds versions', () => {
    const grants = all('google_secret_manager_secret_iam_member').map(([, g]) => g);
    const accounts = new Map(all('google_service_account').map(([id, a]) => [`\${google_service_account.${id}.member}`, a.account_id]));
    const who = (role: string, secret: string) => grants
      .filter((g) => g.role === role && g.secret_id === secret)
      .map((g) => accounts.get(g.member)).sort();
    expect(who('roles/secretmanager.secretAccessor', 'a3mega-munge-key')).toEqual(['a3mega-a3mega', 'a3mega-controller', 'a3mega-debug', 'a3mega-login'].sort());
    expect(who('roles/secretmanager.secretVersionAdder', 'a3mega-munge-key')).toEqual(['a3mega-controller']);
    expect(who('roles/secretmanager.secretAccessor', 'a3mega-slurmdbd-db-password')).toEqual(['a3mega-controller']);
    for (const g of grants) expect(g.role).toMatch(/^roles\/secretmanager\.(secretAccessor|secretVersionAdder)$/);
  });

  test('GPU nodes boot the accelerator image (signed NVIDIA driver) and run Fabric Manager; Secure Boot is off only where TCPXO builds its module', () => {
    expect(a3Template.disk[0].source_image).toBe('projects/ubuntu-os-accelerator-images/global/images/family/ubuntu-accelerator-2404-amd64-with-nvidia-580');
    expect(debugTemplate.disk[0].source_image).toBe('projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64');
    expect(a3.env.get('GPU_FABRIC_MANAGER')).toBe('1');
    expect(debug.env.has('GPU_FABRIC_MANAGER')).toBe(false);
    expect(a3Template.shielded_instance_config.enable_secure_boot).toBe(false);
    for (const vm of [controllerVm, loginVm, debugTemplate]) expect(vm.shielded_instance_config.enable_secure_boot).toBe(true);
  });

  test('every VM: its own service account with the cloud-platform scope, Shielded VM, OS Login, serial port off', () => {
    for (const vm of [controllerVm, loginVm, a3Template, debugTemplate]) {
      expect(vm.service_account.email).toMatch(/^\$\{google_service_account\.[^.]+\.email\}$/);
      expect(vm.service_account.scopes).toEqual(['https://www.googleapis.com/auth/cloud-platform']);
      expect(vm.shielded_instance_config).toMatchObject({ enable_vtpm: true, enable_integrity_monitoring: true });
      expect(vm.metadata).toMatchObject({ 'enable-oslogin': 'TRUE', 'block-project-ssh-keys': 'TRUE', 'serial-port-enable': 'FALSE' });
      expect(vm.can_ip_forward).toBe(false);
    }
  });

  test('the controller keeps its state on its own disk, found by device name', () => {
    expect(ctl.env.get('STATESAVE_DEVICE')).toBe('/dev/disk/by-id/google-slurm-state');
    expect(controllerVm.attached_disk[0].device_name).toBe('slurm-state');
  });
});

describe('variables', () => {
  test('project, region, zone and reservation have defaults; the zone is checked against the A3 Mega zones', () => {
    for (const v of ['project', 'region', 'zone', 'reservation']) expect(typeof tf.variable[v].default).toBe('string');
    const zone = tf.variable.zone;
    expect(zone.validation[0].condition).toContain('"us-central1-a"');
    expect(zone.validation[0].condition).not.toContain('"europe-west2-a"');
  });
});

const terraform = process.env.TERRAFORM_BIN ?? 'terraform';
const haveTerraform = spawnSync(terraform, ['version'], { encoding: 'utf8' }).status === 0;

describe('variables, as Terraform checks them', () => {
  /** `terraform plan` of the stack's variables alone (no provider needed): their validations run on the values. */
  function planVariables(vars: Record<string, string>): { code: number; out: string } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'a3mega-vars-'));
    try {
      fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify({ variable: tf.variable }));
      const env = { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' };
      const init = spawnSync(terraform, ['init', '-input=false', '-backend=false'], { cwd: dir, encoding: 'utf8', env });
      if (init.status !== 0) throw new Error(init.stderr);
      const args = Object.entries(vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]);
      const r = spawnSync(terraform, ['plan', '-input=false', '-no-color', ...args], { cwd: dir, encoding: 'utf8', env });
      return { code: r.status ?? -1, out: r.stdout + r.stderr };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const sums = { enroot_deb_sha256: SAMPLE_SHA, enroot_caps_deb_sha256: SAMPLE_SHA, pyxis_source_sha256: SAMPLE_SHA };

  (haveTerraform ? test : test.skip)('the defaults pass; a zone without a3-megagpu-8g and a malformed checksum are refused', () => {
    const ok = planVariables(sums);
    expect(ok.out).not.toMatch(/Error/);
    expect(ok.code).toBe(0);
    const zone = planVariables({ ...sums, zone: 'europe-west2-a' });
    expect(zone.code).not.toBe(0);
    expect(zone.out).toMatch(/The zone does not offer a3-megagpu-8g/);
    const sha = planVariables({ ...sums, pyxis_source_sha256: 'deadbeef' });
    expect(sha.code).not.toBe(0);
    expect(sha.out).toMatch(/pyxis_source_sha256 must be 64 lower-case hex digits/);
  }, 60_000);
});

describe('user-data', () => {
  test.each([
    ['controller', () => ctl],
    ['login', () => login],
    ['a3mega pool', () => a3],
    ['debug pool', () => debug],
  ])('%s passes cloud-init schema and fits one metadata value', (_name, get) => {
    const { doc } = get();
    // Throws listing every problem; says which checks ran (cloud-init's own `schema` among them when installed).
    const report = validateCloudConfig(doc);
    expect(report.ran).toEqual(expect.arrayContaining(['ajv', 'cloud-init schema']));
    expect(Buffer.byteLength(doc)).toBeLessThanOrEqual(262144);
  });
});
