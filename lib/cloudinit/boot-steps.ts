/**
 * The one place that decides which bootstrap steps a host runs, and in what order.
 *
 * A step `x` is the script `bootstrap-scripts/x.sh`. The list is written to node.env as `CDKTF_SLURM_STEPS`;
 * `bootstrap.sh` runs it in order and decides nothing itself, and the scripts a host ships are derived from it.
 * Pure: no cdktf, no file system.
 */

/** Roles a host can play; `CDKTF_SLURM_ROLES` lists them space-separated. */
export type NodeRole = 'controller' | 'dbd' | 'compute' | 'login';

export const NODE_ROLES: readonly NodeRole[] = ['controller', 'dbd', 'compute', 'login'];

/** The variable node.env fills from {@link bootSteps}; callers do not set it themselves. */
export const STEPS_VARIABLE = 'CDKTF_SLURM_STEPS';

/** Every step there is, in no particular order; each is a script `<step>.sh` in the bootstrap-scripts tree. */
export const BOOT_STEPS = [
  'packages',
  'metadata-guard',
  'tailscale',
  'munge',
  'jwt-key',
  'slurmdbd',
  'statesave',
  'aws/pools-sync',
  'nfs-server',
  'mounts',
  'users',
  'mail-relay',
  'slurmctld',
  'slurmrestd',
  'containers/enroot-pyxis',
  'containers/apptainer',
  'login',
  'gpu',
  'aws/efa',
  'gcp/localssd-raid',
  'gcp/tcpxo',
  'slurmd',
  'exporters',
  'monitoring/monitoring-server',
] as const;

export type BootStep = (typeof BOOT_STEPS)[number];

/** The script a step runs, relative to the bootstrap-scripts tree. */
export function stepScript(step: string): string {
  return `${step}.sh`;
}

/**
 * The tables the host receives, as non-empty files. A table that holds only a comment line is still a table: the
 * step runs and finds nothing to do (Docker and SSH nodes always get a mount table, see ComputeNodePool).
 */
export interface HostTables {
  /** A mount table (`/etc/cdktf-slurm/mounts.tab`): the `mounts` step. */
  readonly mountTable: boolean;
  /** A users table (`/etc/cdktf-slurm/users.tab`): the `users` step. */
  readonly usersTable: boolean;
  /** An export table (`/etc/cdktf-slurm/exports.tab`): the `nfs-server` step, on a controller. */
  readonly exportTable: boolean;
}

/** A host that receives no tables. */
export const NO_HOST_TABLES: HostTables = { mountTable: false, usersTable: false, exportTable: false };

export interface BootStepsInput {
  /** The host's roles (`CDKTF_SLURM_ROLES`). */
  readonly roles: readonly NodeRole[];
  /** The host's node.env entries; a flag is on when it is `'1'`, a setting when it is not empty. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly tables: HostTables;
}

/** The ordered steps of a host. */
export function bootSteps(host: BootStepsInput): BootStep[] {
  const { roles, env, tables } = host;
  const hasRole = (role: NodeRole): boolean => roles.includes(role);
  const isSet = (key: string): boolean => (env[key] ?? '') !== '';
  const isOn = (key: string): boolean => env[key] === '1';

  // Step order: slurmdbd before slurmctld (with accounting, slurmctld registers with slurmdbd at start);
  // GPU devices checked before slurmd reports them. Login nodes need only munge and the client tools.
  const steps: BootStep[] = ['packages'];
  const add = (step: BootStep, when = true): void => {
    if (when && !steps.includes(step)) steps.push(step);
  };
  // The mount table's file systems, once, just before the host's Slurm daemon (or the login setup) starts.
  const addMounts = (): void => {
    add('mounts', tables.mountTable);
    // The cluster's users right after: their homes may live on a file system mounted just before.
    add('users', tables.usersTable);
  };

  // Where people log in or run jobs, the cloud's metadata endpoint (which hands out the host's credentials, and
  // with them the munge key) is root's before anything else: before the users exist, before sackd or slurmd.
  add('metadata-guard', isOn('METADATA_GUARD') && (hasRole('compute') || hasRole('login')));
  // Mesh first: on hybrid nodes slurmd reaches the controller (and munge's peers) only over the mesh.
  add('tailscale', isSet('TAILSCALE_AUTHKEY_SOURCE'));
  add('munge');
  // The JWT key must be in place before slurmdbd and slurmctld read AuthAltParameters.
  add('jwt-key', isSet('JWT_KEY_SOURCE') && (hasRole('controller') || hasRole('dbd')));
  add('slurmdbd', hasRole('dbd'));
  if (hasRole('controller')) {
    add('statesave');
    // AWS: pools publish their launch settings in SSM; the ResumeProgram reads the synced copies.
    add('aws/pools-sync', isSet('AWS_POOL_PARAMETERS'));
    // NFS exports (home, the mesh's shared directory), served before slurmctld hands out jobs that use them.
    add('nfs-server', tables.exportTable);
    addMounts();
    // Job mail (MailProg) must work before slurmctld sends the first one.
    add('mail-relay', isSet('MAIL_RELAY'));
    add('slurmctld');
    add('slurmrestd', isOn('SLURMRESTD_ENABLED'));
  }
  // Hosts running slurmd or slurmctld already have the configuration.
  if (hasRole('login') && !hasRole('compute') && !hasRole('controller')) {
    // srun loads pyxis on the submit host too, or --container-image is an unknown option.
    add('containers/enroot-pyxis', isSet('ENROOT_VERSION'));
    add('containers/apptainer', isSet('APPTAINER_VERSION'));
    addMounts();
    add('login');
  }
  if (hasRole('compute')) {
    add('gpu');
    // EFA after the GPU check, before slurmd offers the node: NCCL jobs need the profile from the start.
    add('aws/efa', isOn('EFA_ENABLED'));
    // Local NVMe SSDs as one RAID0 scratch (GCP), before anything puts data on it.
    add('gcp/localssd-raid', isOn('LOCALSSD_RAID'));
    // GPUDirect-TCPXO (GCP A3 Mega): devices, plugin and the RxDM prolog in place before the first job.
    add('gcp/tcpxo', isOn('TCPXO_ENABLED'));
    // enroot + pyxis: slurmd loads the SPANK plugin when it starts, so it must be in place first.
    add('containers/enroot-pyxis', isSet('ENROOT_VERSION'));
    add('containers/apptainer', isSet('APPTAINER_VERSION'));
    // Cluster file systems, mounted before slurmd takes jobs that read them.
    addMounts();
    add('slurmd');
  }

  // Exporters last: what they report on (slurmctld, slurmd, mounts) is up by then.
  add('exporters', isSet('EXPORTERS'));
  // The monitor on the controller (MonitoringStack onController): after the exporters it scrapes.
  add('monitoring/monitoring-server', isOn('MONITOR_ENABLED') && hasRole('controller'));
  return steps;
}
