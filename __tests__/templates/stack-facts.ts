/**
 * What a job template may ask of a shipped stack, read from the stack itself (its constructs and its synthesized
 * Terraform), never copied into the tests: partitions and their pools, each pool's CPUs, memory, GPUs and node
 * count, the file systems its nodes mount at boot (their mount table), and the fabric between its nodes.
 * A stack that changes (a pool resized, a partition renamed, a file system dropped) changes these facts, and
 * the template tests that compare against them fail.
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, TerraformResource, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import * as fs from 'fs';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { parse } from 'yaml';
import { MOUNT_TABLE_PATH } from '../../lib/cloudinit';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { NCCL_TCPXO_PROFILE_PATH } from '../../lib/gcp/tcpxo';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { GcePoolNodes } from '../../lib/gcp/gce-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';

type Json = Record<string, any>;

export type Fabric = 'efa' | 'tcpxo' | 'mesh' | 'none';

export interface PoolFacts {
  readonly name: string;
  /** Most nodes the pool can have at once: `count`, or `maxCount` for on-demand pools. */
  readonly maxNodes: number;
  readonly cpus: number;
  readonly realMemoryMiB: number;
  /** GPUs per node; 0 for CPU pools. */
  readonly gpus: number;
  /** Mount points of the cluster file systems in the pool's mount table (what its nodes mount at boot). */
  readonly mounts: readonly string[];
  readonly fabric: Fabric;
}

export interface PartitionFacts {
  readonly name: string;
  readonly isDefault: boolean;
  /** MaxTime in minutes (Infinity for UNLIMITED or unset). */
  readonly maxTimeMinutes: number;
  readonly exclusive: boolean;
  readonly pools: readonly PoolFacts[];
}

export interface StackFacts {
  readonly stack: string;
  readonly partitions: ReadonlyMap<string, PartitionFacts>;
}

/** Slurm time (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, `UNLIMITED`) in minutes. */
export function slurmMinutes(time: string): number {
  if (/^(UNLIMITED|INFINITE)$/i.test(time)) return Infinity;
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(time);
  if (!m) throw new Error(`not a Slurm time: ${time}`);
  const [days, a, b, c] = [m[1], m[2], m[3], m[4]].map((x) => (x === undefined ? undefined : Number(x)));
  if (days !== undefined) return days * 1440 + a! * 60 + (b ?? 0) + (c ?? 0) / 60; // D-HH[:MM[:SS]]
  if (c !== undefined) return a! * 60 + b! + c / 60; // HH:MM:SS
  if (b !== undefined) return a! + b / 60; // MM:SS
  return a!; // MM
}

/** The mount table a host set's resources carry (EC2 user-data, Compute Engine metadata, Docker uploads). */
function mountTableOf(resources: Json[]): string | undefined {
  const tables: string[] = [];
  const fromCloudConfig = (doc: string): void => {
    const files = (parse(doc)?.write_files ?? []) as { path: string; content: string }[];
    for (const f of files) if (f.path === MOUNT_TABLE_PATH) tables.push(f.content);
  };
  for (const r of resources) {
    if (typeof r.user_data === 'string') fromCloudConfig(gunzipSync(Buffer.from(r.user_data, 'base64')).toString('utf8'));
    if (typeof r.metadata?.['user-data'] === 'string') fromCloudConfig(r.metadata['user-data']);
    for (const u of (r.upload ?? []) as { file: string; content: string }[]) if (u.file === MOUNT_TABLE_PATH) tables.push(u.content);
  }
  if (tables.length > 1) throw new Error(`more than one mount table among ${resources.length} resources`);
  return tables[0];
}

/** Third field of each mount-table line: where the file system is mounted. */
function mountPoints(table: string): string[] {
  return table
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((l) => {
      const fields = l.split('\t');
      if (fields.length < 3 || !fields[2].startsWith('/')) throw new Error(`not a mount-table line: ${JSON.stringify(l)}`);
      return fields[2];
    });
}

/** The pool's resources as synthesized, by their logical ids. */
function synthesizedResources(stack: TerraformStack, tf: Json, pool: ComputeNodePool): Json[] {
  return pool.node
    .findAll()
    .filter((c): c is TerraformResource => c instanceof TerraformResource)
    .map((r) => tf.resource?.[r.terraformResourceType]?.[stack.getLogicalId(r)])
    .filter((r): r is Json => r !== undefined);
}

function fabricOf(pool: ComputeNodePool, resources: Json[]): Fabric {
  if (pool.nodes instanceof GcePoolNodes && pool.nodes.tcpxo !== undefined) return 'tcpxo';
  if (pool.fileSystemClientNetwork.kind === 'mesh') return 'mesh';
  const efa = resources.some((r) => ((r.network_interfaces ?? []) as Json[]).some((n) => /^efa/.test(String(n.interface_type))));
  return efa ? 'efa' : 'none';
}

function factsOf(stack: TerraformStack): StackFacts {
  const tf = JSON.parse(Testing.synth(stack)) as Json;
  const all = stack.node.findAll();
  const controllers = all.filter((c): c is SlurmController => c instanceof SlurmController);
  if (controllers.length !== 1) throw new Error(`${stack.node.id}: expected one SlurmController, found ${controllers.length}`);
  const pools = new Map<string, PoolFacts>();
  for (const pool of all.filter((c): c is ComputeNodePool => c instanceof ComputeNodePool)) {
    const resources = synthesizedResources(stack, tf, pool);
    const table = mountTableOf(resources);
    if (table === undefined) throw new Error(`${pool.node.path}: no mount table in its ${resources.length} synthesized resources`);
    const s = pool.spec;
    pools.set(s.name, {
      name: s.name,
      maxNodes: s.count ?? s.maxCount ?? 0,
      cpus: s.hardware.cpus,
      realMemoryMiB: s.hardware.realMemoryMiB,
      gpus: s.gpus?.count ?? 0,
      mounts: mountPoints(table),
      fabric: fabricOf(pool, resources),
    });
  }
  const partitions = new Map<string, PartitionFacts>();
  for (const p of controllers[0].clusterSpec().partitions) {
    partitions.set(p.name, {
      name: p.name,
      isDefault: p.default === true,
      maxTimeMinutes: p.maxTime === undefined ? Infinity : slurmMinutes(p.maxTime),
      exclusive: p.exclusive === true || p.overSubscribe === 'EXCLUSIVE',
      pools: p.pools.map((name) => {
        const pool = pools.get(name);
        if (!pool) throw new Error(`${stack.node.id}: partition ${p.name} names pool ${name}, which is not a ComputeNodePool`);
        return pool;
      }),
    });
  }
  return { stack: stack.node.id, partitions };
}

const cache = new Map<string, StackFacts>();

/** The facts of a shipped stack (`SHIPPED_STACKS` key), built once per test file. */
export function stackFacts(name: string): StackFacts {
  let facts = cache.get(name);
  if (!facts) {
    const make = SHIPPED_STACKS[name];
    if (!make) throw new Error(`${name} is not a shipped stack (${Object.keys(SHIPPED_STACKS).join(', ')})`);
    facts = factsOf(make(new App(), name));
    cache.set(name, facts);
  }
  return facts;
}

/**
 * Where a Docker pool of a meshed cluster mounts the controller's shared directory when the controller is given
 * `sharedDirectory: {}`: the library's default, read from a minimal cluster built like hybrid-gpu.
 */
export function defaultMeshSharedMounts(): readonly string[] {
  const stack = new TerraformStack(new App(), 'mesh-probe');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const authKey = new TerraformVariable(stack, 'tailscale_auth_key', { type: 'string', sensitive: true }).stringValue;
  const network = new BastionVpc(stack, 'Network', { cidr: '10.0.0.0/16', privateSubnetCidrs: ['10.0.1.0/24'], publicSubnetCidrs: ['10.0.2.0/24'] });
  const controller = new SlurmController(stack, 'Controller', {
    network,
    clusterName: 'meshprobe',
    accounting: 'local',
    mesh: { tailscale: { authKey, tags: ['tag:slurm'] } },
    sharedDirectory: {},
  });
  const pool = new ComputeNodePool(stack, 'Gpus', {
    controller,
    name: 'gpu',
    nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 8, realMemoryMiB: 28000 }),
    count: 1,
    gpus: { type: 'rtx3070', count: 1 },
  });
  new GpuPartition(stack, 'Gpu', { controller, name: 'gpu', pools: [pool], default: true });
  const tf = JSON.parse(Testing.synth(stack)) as Json;
  const table = mountTableOf(synthesizedResources(stack, tf, pool));
  if (table === undefined) throw new Error('the probe Docker pool has no mount table');
  return mountPoints(table);
}

/** Node-side paths the templates rely on, read from the node bootstrap that creates them. */
export const NODE_PATHS = {
  /** The NCCL-over-EFA profile `bootstrap-scripts/aws/efa.sh` writes on EFA nodes. */
  efaProfile: (() => {
    const efa = fs.readFileSync(path.resolve(__dirname, '../../bootstrap-scripts/aws/efa.sh'), 'utf8');
    const m = /^: "\$\{NCCL_PROFILE_PATH:=(\/[^}]+)\}"$/m.exec(efa);
    if (!m) throw new Error('bootstrap-scripts/aws/efa.sh no longer sets a default NCCL_PROFILE_PATH');
    return m[1];
  })(),
  /** The TCPXO profile the A3 Mega node bootstrap writes. */
  tcpxoProfile: NCCL_TCPXO_PROFILE_PATH,
  /** The network device kernel-mode tailscaled creates on mesh nodes (`tailscaled --tun=...`). */
  meshInterface: (() => {
    const ts = fs.readFileSync(path.resolve(__dirname, '../../bootstrap-scripts/tailscale.sh'), 'utf8');
    const m = /\s--tun=([A-Za-z0-9_-]+)\s/.exec(ts);
    if (!m) throw new Error('bootstrap-scripts/tailscale.sh no longer names its tun device (--tun=...)');
    return m[1];
  })(),
};
