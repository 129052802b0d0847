/**
 * The one decision of which steps a host runs, and in what order (lib/cloudinit/boot-steps.ts). bootstrap.sh only
 * walks the list (its tests: __tests__/bootstrap/steps.test.ts), so every condition and every ordering rule is
 * proven here.
 */
import { existsSync } from 'fs';
import { join } from 'path';
import { parse } from 'yaml';
import {
  BOOT_STEPS,
  bootSteps,
  buildNodeCloudConfig,
  checkStepScriptsShipped,
  type ClusterMount,
  type HostTables,
  NO_HOST_TABLES,
  NODE_ENV_PATH,
  type NodeRole,
  nodeScripts,
  renderNodeEnv,
  stepScript,
  STEPS_VARIABLE,
} from '../../lib/cloudinit';
import { SCRIPTS_DIR } from '../bootstrap/sh';

const T = (tables: Partial<HostTables> = {}): HostTables => ({ ...NO_HOST_TABLES, ...tables });
const ALL_TABLES = T({ mountTable: true, usersTable: true, exportTable: true });
/** The Docker and SSH nodes' uploads: a mount table always, a users table when the cluster has users. */
const MESH_TABLES = T({ mountTable: true, usersTable: true });
const MESH = { TAILSCALE_AUTHKEY_SOURCE: 'file:/etc/cdktf-slurm/secrets/tailscale-authkey' };

type Row = [name: string, roles: NodeRole[], env: Record<string, string>, tables: HostTables, steps: string];

const rows: Row[] = [
  // Roles alone.
  ['compute', ['compute'], {}, T(), 'packages munge gpu slurmd'],
  ['login only: client configuration, no daemon', ['login'], {}, T(), 'packages munge login'],
  ['controller', ['controller'], {}, T(), 'packages munge statesave slurmctld'],
  ['controller dbd: slurmdbd before slurmctld, the state volume before slurmctld', ['controller', 'dbd'], {}, T(), 'packages munge slurmdbd statesave slurmctld'],
  ['dbd controller: the same order whatever order the roles come in', ['dbd', 'controller'], {}, T(), 'packages munge slurmdbd statesave slurmctld'],
  ['dbd alone', ['dbd'], {}, T(), 'packages munge slurmdbd'],
  ['login compute: slurmd brings the configuration, no login step', ['login', 'compute'], {}, T(), 'packages munge gpu slurmd'],
  ['controller login: no login step either', ['controller', 'login'], {}, T(), 'packages munge statesave slurmctld'],

  // The mesh, before munge (its peers are reached over it).
  // The metadata guard: first after packages where people run jobs or log in, before the mesh, munge and users.
  ['the metadata guard on a compute node, before the mesh and the users', ['compute'], { ...MESH, METADATA_GUARD: '1' }, MESH_TABLES,
    'packages metadata-guard tailscale munge gpu mounts users slurmd'],
  ['the metadata guard on a login node', ['login'], { METADATA_GUARD: '1' }, T({ usersTable: true }), 'packages metadata-guard munge users login'],
  ['METADATA_GUARD on the controller: not a user host', ['controller'], { METADATA_GUARD: '1' }, T(), 'packages munge statesave slurmctld'],
  ['METADATA_GUARD other than 1 is off', ['compute'], { METADATA_GUARD: 'yes' }, T(), 'packages munge gpu slurmd'],
  ['tailscale on a compute node', ['compute'], MESH, T(), 'packages tailscale munge gpu slurmd'],
  ['tailscale on a login node', ['login'], MESH, T(), 'packages tailscale munge login'],

  // JWT: before slurmdbd and slurmctld, on the hosts that read it only.
  ['JWT key on controller dbd', ['controller', 'dbd'], { JWT_KEY_SOURCE: 'file:/k' }, T(), 'packages munge jwt-key slurmdbd statesave slurmctld'],
  ['JWT key on dbd alone', ['dbd'], { JWT_KEY_SOURCE: 'file:/k' }, T(), 'packages munge jwt-key slurmdbd'],
  ['JWT key on a compute node: not its business', ['compute'], { JWT_KEY_SOURCE: 'file:/k' }, T(), 'packages munge gpu slurmd'],
  ['slurmrestd after slurmctld', ['controller'], { JWT_KEY_SOURCE: 'file:/k', SLURMRESTD_ENABLED: '1' }, T(), 'packages munge jwt-key statesave slurmctld slurmrestd'],
  ['SLURMRESTD_ENABLED other than 1 is off', ['controller'], { SLURMRESTD_ENABLED: 'yes' }, T(), 'packages munge statesave slurmctld'],
  ['SLURMRESTD_ENABLED on a compute node is ignored', ['compute'], { SLURMRESTD_ENABLED: '1' }, T(), 'packages munge gpu slurmd'],

  // The controller's own steps, between statesave and slurmctld.
  ['AWS pools synced after statesave, before slurmctld', ['controller'], { AWS_POOL_PARAMETERS: '/cdktf-slurm/hpc/pools' }, T(), 'packages munge statesave aws/pools-sync slurmctld'],
  ['AWS pools on a compute node: ignored', ['compute'], { AWS_POOL_PARAMETERS: '/x' }, T(), 'packages munge gpu slurmd'],
  ['NFS exports served before slurmctld', ['controller'], {}, T({ exportTable: true }), 'packages munge statesave nfs-server slurmctld'],
  ['an export table on a compute node: ignored', ['compute'], {}, T({ exportTable: true }), 'packages munge gpu slurmd'],
  ['a mount table on the controller', ['controller'], {}, T({ mountTable: true }), 'packages munge statesave mounts slurmctld'],
  ['exports, then mounts, then users, then mail, then slurmctld', ['controller'], { MAIL_RELAY: 'smtp.example.com:587' }, ALL_TABLES, 'packages munge statesave nfs-server mounts users mail-relay slurmctld'],
  ['mail relay before slurmctld', ['controller'], { MAIL_RELAY: 'smtp.example.com:587' }, T(), 'packages munge statesave mail-relay slurmctld'],
  ['mail relay on a login node: ignored', ['login'], { MAIL_RELAY: 'smtp.example.com:587' }, T(), 'packages munge login'],
  ['a users table without a mount table', ['controller'], {}, T({ usersTable: true }), 'packages munge statesave users slurmctld'],

  // Login-only hosts.
  ['login with mounts', ['login'], {}, T({ mountTable: true }), 'packages munge mounts login'],
  ['login with enroot, Apptainer, mounts and users', ['login'], { ENROOT_VERSION: '3.5.0', APPTAINER_VERSION: '1.3.6' }, MESH_TABLES, 'packages munge containers/enroot-pyxis containers/apptainer mounts users login'],
  ['login with Apptainer only', ['login'], { APPTAINER_VERSION: '1.3.6' }, T(), 'packages munge containers/apptainer login'],

  // Compute hosts: after the GPU check, before slurmd.
  ['compute with mounts', ['compute'], {}, T({ mountTable: true }), 'packages munge gpu mounts slurmd'],
  ['compute with EFA', ['compute'], { EFA_ENABLED: '1' }, T(), 'packages munge gpu aws/efa slurmd'],
  ['EFA_ENABLED=0 is off', ['compute'], { EFA_ENABLED: '0' }, T(), 'packages munge gpu slurmd'],
  ['compute with TCPXO, then mounts', ['compute'], { TCPXO_ENABLED: '1' }, T({ mountTable: true }), 'packages munge gpu gcp/tcpxo mounts slurmd'],
  ['compute with local SSDs, TCPXO and enroot', ['compute'], { LOCALSSD_RAID: '1', TCPXO_ENABLED: '1', ENROOT_VERSION: '3.5.0' }, T(), 'packages munge gpu gcp/localssd-raid gcp/tcpxo containers/enroot-pyxis slurmd'],
  ['compute with EFA and enroot', ['compute'], { EFA_ENABLED: '1', ENROOT_VERSION: '3.5.0' }, T(), 'packages munge gpu aws/efa containers/enroot-pyxis slurmd'],
  ['compute with everything', ['compute'], { EFA_ENABLED: '1', LOCALSSD_RAID: '1', TCPXO_ENABLED: '1', ENROOT_VERSION: '3.5.0', APPTAINER_VERSION: '1.3.6' }, ALL_TABLES,
    'packages munge gpu aws/efa gcp/localssd-raid gcp/tcpxo containers/enroot-pyxis containers/apptainer mounts users slurmd'],
  ['an empty ENROOT_VERSION is off', ['compute'], { ENROOT_VERSION: '' }, T(), 'packages munge gpu slurmd'],
  ['login compute with enroot: once, before slurmd', ['login', 'compute'], { ENROOT_VERSION: '3.5.0' }, T(), 'packages munge gpu containers/enroot-pyxis slurmd'],
  ['controller compute: the mounts and users once, before slurmctld', ['controller', 'compute'], {}, T({ mountTable: true, usersTable: true }), 'packages munge statesave mounts users slurmctld gpu slurmd'],
  ['LOCALSSD_RAID or TCPXO_ENABLED on a login node: ignored', ['login'], { LOCALSSD_RAID: '1', TCPXO_ENABLED: '1', EFA_ENABLED: '1' }, T(), 'packages munge login'],

  // Exporters last, then the monitor on the controller.
  ['exporters last on a compute node', ['compute'], { EXPORTERS: 'node dcgm' }, T({ mountTable: true }), 'packages munge gpu mounts slurmd exporters'],
  ['exporters last on a login node', ['login'], { EXPORTERS: 'node' }, T(), 'packages munge login exporters'],
  ['the monitor after the exporters it scrapes', ['controller', 'dbd'], { EXPORTERS: 'node slurm', MONITOR_ENABLED: '1' }, T(), 'packages munge slurmdbd statesave slurmctld exporters monitoring/monitoring-server'],
  ['MONITOR_ENABLED off the controller: ignored', ['compute'], { MONITOR_ENABLED: '1' }, T(), 'packages munge gpu slurmd'],

  // The Docker mesh node: tailscale, and the uploaded tables (a comment-only mount table is still a table).
  ['Docker mesh node', ['compute'], { ...MESH, SLURMD_MODE: 'dynamic' }, T({ mountTable: true }), 'packages tailscale munge gpu mounts slurmd'],
  ['Docker mesh node, cluster with users and a monitor', ['compute'], { ...MESH, EXPORTERS: 'node' }, MESH_TABLES, 'packages tailscale munge gpu mounts users slurmd exporters'],

  // Everything a controller can have, in order.
  ['controller dbd with everything', ['controller', 'dbd'],
    { ...MESH, JWT_KEY_SOURCE: 'file:/k', SLURMRESTD_ENABLED: '1', AWS_POOL_PARAMETERS: '/p', MAIL_RELAY: 'smtp:587', EXPORTERS: 'node slurm', MONITOR_ENABLED: '1', ENROOT_VERSION: '3.5.0', EFA_ENABLED: '1' },
    ALL_TABLES,
    'packages tailscale munge jwt-key slurmdbd statesave aws/pools-sync nfs-server mounts users mail-relay slurmctld slurmrestd exporters monitoring/monitoring-server'],
];

describe('bootSteps', () => {
  test.each(rows)('%s', (_name, roles, env, tables, steps) => {
    expect(bootSteps({ roles, env, tables }).join(' ')).toBe(steps);
  });

  test('every step is a script in the bootstrap-scripts tree, and every step is reachable', () => {
    for (const step of BOOT_STEPS) expect(existsSync(join(SCRIPTS_DIR, stepScript(step)))).toBe(true);
    const reached = new Set(rows.flatMap(([, roles, env, tables]) => bootSteps({ roles, env, tables })));
    expect([...BOOT_STEPS].filter((s) => !reached.has(s))).toEqual([]);
  });
});

describe('node.env carries the list', () => {
  test('renderNodeEnv writes CDKTF_SLURM_STEPS from roles, env and tables, right after the roles', () => {
    const env = { CLUSTER_NAME: 'hpc', EFA_ENABLED: '1', EXPORTERS: 'node' };
    const text = renderNodeEnv({ roles: ['compute'], env, tables: T({ mountTable: true }) });
    expect(text.split('\n').slice(1, 3)).toEqual(["CDKTF_SLURM_ROLES='compute'", "CDKTF_SLURM_STEPS='packages munge gpu aws/efa mounts slurmd exporters'"]);
  });

  test('the variable is the library\'s to set', () => {
    expect(() => renderNodeEnv({ roles: ['compute'], env: { [STEPS_VARIABLE]: 'slurmd' }, tables: NO_HOST_TABLES })).toThrow(
      /node.env CDKTF_SLURM_STEPS: set by cdktf-slurm from roles, env and tables/,
    );
  });

  const nfs: ClusterMount = { kind: 'nfs', source: 'filer:/home', mountPoint: '/home', origin: 'test/Home' };
  const write = (o: Parameters<typeof buildNodeCloudConfig>[0]) =>
    (parse(buildNodeCloudConfig(o).render(), { version: '1.1' }) as { write_files: { path: string; content: string }[] }).write_files;

  test('buildNodeCloudConfig: the tables it writes are the tables the steps count; empty ones are neither', () => {
    const files = write({ roles: ['login'], env: {}, mounts: [nfs], usersTable: 'user\talice\t2001\t2001\t-\t/home/alice\t/bin/bash\n' });
    expect(files.find((f) => f.path === NODE_ENV_PATH)!.content).toMatch(/^CDKTF_SLURM_STEPS='packages munge mounts users login'$/m);
    const bare = write({ roles: ['login'], env: {}, mounts: [], usersTable: '', exports: [] });
    expect(bare.find((f) => f.path === NODE_ENV_PATH)!.content).toMatch(/^CDKTF_SLURM_STEPS='packages munge login'$/m);
    expect(bare.map((f) => f.path).filter((p) => p.endsWith('.tab'))).toEqual([]);
  });

  test('the scripts shipped are the steps\' scripts, the mount clients the table needs, and the helpers asked for', () => {
    const shipped = (o: Parameters<typeof buildNodeCloudConfig>[0]) =>
      write(o).map((f) => f.path).filter((p) => p.startsWith('/opt/cdktf-slurm/bootstrap/')).map((p) => p.slice('/opt/cdktf-slurm/bootstrap/'.length));
    expect(shipped({ roles: ['compute'], env: { EFA_ENABLED: '1' }, mounts: [nfs], extraScripts: ['aws/node-name.sh'] })).toEqual([
      'aws/efa.sh', 'aws/node-name.sh', 'bootstrap.sh', 'gpu.sh', 'lib/common.sh', 'mounts.sh', 'munge.sh', 'nfs-client.sh', 'packages.sh', 'slurmd.sh',
    ]);
    // A controller without a REST API carries neither the JWT nor the slurmrestd step.
    expect(shipped({ roles: ['controller', 'dbd'], env: {} })).toEqual(['bootstrap.sh', 'lib/common.sh', 'munge.sh', 'packages.sh', 'slurmctld.sh', 'slurmdbd.sh', 'statesave.sh']);
    expect(() => nodeScripts({ steps: ['packages', 'nope'] })).toThrow(/steps \["nope"\]: no nope\.sh in the bootstrap-scripts tree/);
  });

  test('hosts whose uploads are fixed before node.env is rendered: a step without its upload fails synth, naming the host', () => {
    const shipped = nodeScripts({ steps: ['packages', 'munge', 'gpu', 'slurmd'] });
    expect(() => checkStepScriptsShipped(['packages', 'munge', 'gpu', 'slurmd'], shipped, 'stack/Box')).not.toThrow();
    expect(() => checkStepScriptsShipped(['packages', 'munge', 'gpu', 'slurmd', 'exporters'], shipped, 'stack/Box')).toThrow(
      /stack\/Box: node.env lists step\(s\) exporters but exporters\.sh is not among the scripts uploaded/,
    );
  });
});
