/**
 * What every pool whose nodes have no cloud identity and reach the controller over its mesh shares (Docker containers,
 * SSH hosts): hardware the user gives (no type table), dynamic registration (`slurmd -Z`), and the files each node is
 * uploaded — its steps' scripts, node.env, the mount and users tables, and two secret files whose contents are
 * Terraform references (the Terraform-made munge key and the mesh auth key, both therefore in Terraform state).
 */
import type { Construct } from 'constructs';
import { ConstructPropError, lazyString, terraformLiteral } from '../cdktf-adapter';
import {
  BOOTSTRAP_DIR, bootSteps, checkStepScriptsShipped, type HostTables, MOUNT_TABLE_PATH, mountScripts, NODE_ENV_PATH, nodeScripts,
  renderMountTable, renderNodeEnv, type ResolvedTailscaleMesh, tailscaleEnv, USERS_TABLE_PATH,
} from '../cloudinit';
import type { ExporterKind, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import type { INodePoolHandle, IPlacedNodes, NodePoolRequest } from '../node-placement';
import { dynamicNodeEnv, type NodePoolSpec } from '../slurm';

/** Where mesh nodes' secrets are uploaded; node.env names these paths, never the values. */
export const MESH_SECRETS_DIR = '/etc/cdktf-slurm/secrets';
const MUNGE_KEY_FILE = `${MESH_SECRETS_DIR}/munge.key`;
const AUTH_KEY_FILE = `${MESH_SECRETS_DIR}/tailscale-authkey`;

/** CPUs and memory of a mesh node, given by the user: there is no type table to read them from. */
export interface GivenHardware {
  /** CPUs Slurm may hand out on each node (`CPUs=`). */
  readonly cpus: number;
  /** Memory Slurm may hand out on each node, MiB (`RealMemory=`). */
  readonly realMemoryMiB: number;
}

/** A file uploaded to every mesh node. */
export interface MeshNodeFile {
  readonly path: string;
  /** Text, or a Terraform reference (the secrets). */
  readonly content: string;
  readonly mode: string;
  /** The content is a secret. */
  readonly secret: boolean;
}

/** How a mesh placement names itself in messages: `Docker`, `container`; `SSH`, `host`. */
export interface MeshKind {
  readonly kind: 'Docker' | 'SSH';
  readonly unit: 'container' | 'host';
  /** The settings object, as messages show it (`DockerNodes.on(...)`). */
  readonly shown: unknown;
}

/**
 * The controller's mesh, which mesh nodes need; refuses what mesh nodes cannot install.
 * @throws ConstructPropError naming `pool`
 */
export function meshOf(pool: Construct, request: NodePoolRequest, kind: MeshKind): ResolvedTailscaleMesh {
  const ctl = request.controller;
  if (!ctl.tailscale) {
    const what = kind.kind === 'SSH' ? 'hosts outside the VPC' : 'containers outside the VPC';
    throw new ConstructPropError(pool, 'nodes', kind.shown, `controller ${ctl.node.path} has no mesh, so ${what} cannot reach it`,
      'Give the SlurmController mesh: { tailscale: { authKey: <sensitive variable> } }');
  }
  if (request.apptainer !== undefined) {
    throw new ConstructPropError(pool, 'apptainer', '<settings>', 'is installed on EC2 and Compute Engine pools only',
      'Install Apptainer in the Docker image or on the SSH hosts yourself, or drop apptainer');
  }
  if (request.enroot !== undefined) {
    throw new ConstructPropError(pool, 'enroot', '<settings>', 'is installed on EC2 and Compute Engine pools only', 'Drop enroot from a Docker or SSH pool');
  }
  if (ctl.host.terraformMungeKey === undefined) {
    throw new ConstructPropError(pool, 'nodes', kind.shown, `the ${ctl.backend.name} controller cannot hand a munge key to hosts without a cloud identity`,
      'Put mesh nodes on a cluster whose backend has a mesh');
  }
  return ctl.tailscale;
}

/**
 * The pool's model entry: `count` hosts that register themselves (`slurmd -Z`), with the hardware the user gave.
 * @throws ConstructPropError naming `pool` and the field
 */
export function dynamicPoolSpec(pool: Construct, request: NodePoolRequest, count: number, given: GivenHardware, kind: MeshKind, defaultFeature: string): NodePoolSpec {
  const a = kind.kind === 'SSH' ? 'an' : 'a';
  const whole = (field: string, v: number | undefined, what: string): number => {
    if (v === undefined) {
      throw new ConstructPropError(pool, field, v, `${a} ${kind.kind} pool needs ${what}: there is no instance-type table to read it from`,
        `Set ${field} to what each ${kind.unit} may use, e.g. ${field.endsWith('cpus') ? '8' : '30000'}`);
    }
    if (!Number.isInteger(v) || v < 1) {
      throw new ConstructPropError(pool, field, v, 'must be a whole number ≥ 1', `Set ${field} to what each ${kind.unit} may use`);
    }
    return v;
  };
  const cpus = whole('nodes.cpus', given?.cpus, 'the CPUs per node');
  const realMemoryMiB = whole('nodes.realMemoryMiB', given?.realMemoryMiB, 'the memory per node (MiB) Slurm may hand out');
  let gpus: NodePoolSpec['gpus'];
  if (request.gpus !== undefined) {
    const { type, count: perNode } = request.gpus;
    if (perNode === undefined || !Number.isInteger(perNode) || perNode < 1) {
      throw new ConstructPropError(pool, 'gpus.count', perNode, `must be a whole number ≥ 1 for ${a} ${kind.kind} pool`,
        `Give the GPUs per ${kind.unit}, e.g. gpus: { type: 'rtx3070', count: 1 }, or drop gpus for a CPU pool`);
    }
    if (type === undefined || !/^[a-z0-9][a-z0-9_]*$/i.test(type)) {
      throw new ConstructPropError(pool, 'gpus.type', type, `${a} ${kind.kind} pool needs the GRES type of its GPUs`,
        "Name the model as jobs ask for it (--gres=gpu:<type>:1), e.g. 'rtx3070'");
    }
    gpus = { type, count: perNode };
  }
  return {
    name: request.poolName,
    count,
    registration: 'dynamic',
    hardware: { cpus, realMemoryMiB },
    gpus,
    features: request.features ?? [defaultFeature],
    weight: request.weight,
  };
}

/**
 * The files every node of a mesh pool is uploaded, rendered at synth when the cluster (partitions, mounts) is
 * complete. node.env is the same for every node: each gets its own SLURMD_NODENAME from Terraform's count.index
 * (the container's environment, or a line appended on the host), which wins over node.env.
 * `extraScripts` are what the placement itself runs (`container-entrypoint.sh`).
 */
export function meshNodeFiles(
  pool: INodePoolHandle,
  mesh: ResolvedTailscaleMesh,
  extraScripts: readonly string[],
): MeshNodeFile[] {
  const ctl = pool.controller;
  // Always a mount table (a comment line when the pool mounts nothing) and, with users, a users table: non-empty
  // files, so the mounts and users steps run there.
  const tables: HostTables = { mountTable: true, usersTable: ctl.hasUsers, exportTable: false };
  // The steps known now; exporters.sh and every mount client ship too, for what the cluster may add before synth.
  const steps = bootSteps({ roles: ['compute'], env: tailscaleEnv(mesh, `file:${AUTH_KEY_FILE}`), tables });
  const scripts = nodeScripts({ steps, extraScripts: ['tailscale.sh', ...extraScripts, 'exporters.sh', ...(ctl.hasUsers ? ['users.sh'] : []), ...mountScripts('all')] });
  const sharedEnv = lazyString(() => {
    const { SLURMD_NODENAME: _perHost, ...dynamic } = dynamicNodeEnv(ctl.clusterSpec(), pool.poolName, 0);
    const node = {
      roles: ['compute'] as const,
      env: {
        CLUSTER_NAME: ctl.clusterName,
        SLURM_CONTROLLER: mesh.controllerAddress,
        MUNGE_KEY_SOURCE: `file:${MUNGE_KEY_FILE}`,
        ...dynamic,
        ...tailscaleEnv(mesh, `file:${AUTH_KEY_FILE}`),
        ...ctl.hostSetup(pool.exporterKinds(), pool.mounts).env,
      },
      tables,
    };
    checkStepScriptsShipped(bootSteps(node), scripts, pool.node.path);
    return terraformLiteral(renderNodeEnv(node));
  });
  const mountTable = lazyString(() => terraformLiteral(renderMountTable(pool.mounts) || '# no cluster file systems\n'));
  const usersTable = lazyString(() => terraformLiteral(ctl.hostSetup([], pool.mounts).usersTable ?? '# no cluster users\n'));
  // meshOf refused a controller host without one.
  const mungeKey = ctl.host.terraformMungeKey!();
  return [
    ...scripts.map((s) => ({ path: `${BOOTSTRAP_DIR}/${s.relativePath}`, content: s.content, mode: '0755', secret: false })),
    { path: NODE_ENV_PATH, content: sharedEnv, mode: '0600', secret: false },
    { path: MOUNT_TABLE_PATH, content: mountTable, mode: '0644', secret: false },
    ...(ctl.hasUsers ? [{ path: USERS_TABLE_PATH, content: usersTable, mode: '0644', secret: false }] : []),
    { path: MUNGE_KEY_FILE, content: mungeKey, mode: '0400', secret: true },
    { path: AUTH_KEY_FILE, content: mesh.authKey, mode: '0400', secret: true },
  ];
}

/** A mesh pool's nodes as made. */
export class MeshPoolNodes implements IPlacedNodes {
  readonly spot = false;
  readonly fabric = 'mesh';

  constructor(
    readonly hostType: string,
    private readonly poolName: string,
    private readonly count: number,
  ) {}

  /** Found by their mesh names (`<pool>-<i>`, MagicDNS), which no cloud API lists. */
  scrapeTargets(exporters: readonly ExporterKind[], labels: Readonly<Record<string, string>>): ScrapeTargetGroup[] {
    return exporters.map((exporter) => ({
      exporter,
      discovery: { kind: 'static', hosts: Array.from({ length: this.count }, (_, i) => `${this.poolName}-${i}`) },
      reach: { kind: 'mesh' },
      labels,
    }));
  }
}
