/**
 * A real Slurm cluster on virtual nodes, built only from what the library produces:
 *
 *   ClusterSpec → lib/slurm renderers (slurm.conf, gres.conf, cgroup.conf, slurmdbd.conf)
 *     → lib/cloudinit buildNodeCloudConfig (bootstrap scripts, node.env, staged files, runcmd)
 *     → rendered #cloud-config text → mini cloud-init on the node → bootstrap.sh → daemons.
 *
 * The harness adds only what a cloud or the hardware would supply, never Slurm configuration:
 * the secret files named by `file:` sources (munge key, DB password — generated here, "uploaded by
 * reference"), and the GPU device nodes a driver would create (`mknod /dev/nvidiaN c 195 N` in the
 * node's private /dev).
 */
import * as crypto from 'crypto';
import * as path from 'path';
import { buildNodeCloudConfig, type NodeRole } from '../../../lib/cloudinit';
import { expandHostlist, renderControllerFiles } from '../../../lib/slurm';
import type { ClusterSpec } from '../../../lib/slurm/model';
import { describeResult, ExecResult } from './exec';
import { provisionNode } from './cloudinit';
import { VirtualCluster, VirtualNode } from './namespaces';
import { hostCgroupFlavour } from './preflight';
import { waitFor } from './wait';

/** Where the `file:` secret sources point on the nodes. */
export const MUNGE_KEY_PATH = '/etc/cdktf-slurm/secrets/munge.key';
export const DB_PASSWORD_PATH = '/etc/cdktf-slurm/secrets/db-password';
export const JWT_KEY_PATH = '/etc/cdktf-slurm/secrets/jwt.key';

export interface SlurmTestClusterOptions {
  /** `[a-z0-9]{1,6}`; also the cluster name and the node name prefix. Distinct per parallel suite. */
  readonly id: string;
  /** Three octets of the node /24, distinct per parallel suite. */
  readonly subnet: string;
  /** Compute nodes. @default 2 */
  readonly computeCount?: number;
  /** GPUs per compute node. @default 2 */
  readonly gpusPerNode?: number;
  /** GRES type of the fake GPUs. @default `fake` */
  readonly gpuType?: string;
  /** Let a test tweak the spec the library renders. */
  readonly customizeSpec?: (spec: ClusterSpec) => ClusterSpec;
  /** Accounting (slurmdbd + local MariaDB on the controller). @default true */
  readonly accounting?: boolean;
  /** JWT auth (`jwtAuth` in the spec, key from a `file:` source) and slurmrestd on the controller. @default false */
  readonly restApi?: boolean;
  /**
   * More compute hosts, outside the spec's first pool (e.g. dynamic nodes), each with its own node.env
   * entries on top of the cluster-wide ones. Namespaces are made for all; `provision: false` ones are
   * left for the test to provision (`c.provision(name)`).
   */
  readonly extraNodes?: (spec: ClusterSpec) => readonly ExtraNode[];
  /** More files staged on the controller beside the rendered ones (e.g. plugstack.conf), served to configless nodes. @default none */
  readonly extraControllerFiles?: readonly { readonly name: string; readonly content: string }[];
  /** More node.env entries on the pool's compute nodes (what a placement adds, e.g. `METADATA_GUARD`). @default none */
  readonly computeEnv?: Readonly<Record<string, string>>;
  /** Runs after the namespaces exist and before anything is provisioned (e.g. edit a node's /etc/hosts). */
  readonly beforeProvision?: (c: SlurmTestCluster) => Promise<void>;
}

export interface ExtraNode {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** Fake GPU device nodes to create (`/dev/nvidiaN` → 195:N). @default none */
  readonly gpuDeviceFiles?: readonly string[];
  /** Provision during boot(). @default true */
  readonly provision?: boolean;
  /** The host's roles; a login host on 22.05 gets the controller's client files staged, as `LoginNode` does. @default `['compute']` */
  readonly roles?: readonly NodeRole[];
}

export interface RenderedNode {
  readonly roles: readonly NodeRole[];
  readonly env: Readonly<Record<string, string>>;
  /** The `#cloud-config` text the node was provisioned from. */
  readonly userData: string;
}

/**
 * The cgroup plugin Slurm 22.05 should use on this host (see LOCAL-CLUSTER.md): v1 on v1/hybrid hosts
 * (22.05 needs it explicit there), v2 on pure cgroup2 hosts. Hosts with neither are refused by the
 * preflight check (harness/preflight.ts), so `autodetect` is only a placeholder that is never booted.
 */
export function cgroupPluginForHost(): 'cgroup/v1' | 'cgroup/v2' | 'autodetect' {
  const flavour = hostCgroupFlavour();
  return flavour === 'none' ? 'autodetect' : flavour;
}

export class SlurmTestCluster {
  readonly controllerName: string;
  readonly computeNames: string[];
  readonly extraNodes: readonly ExtraNode[];
  readonly spec: ClusterSpec;
  /** Rendered controller-side files by name (slurm.conf, gres.conf, cgroup.conf, slurmdbd.conf). */
  readonly files: Map<string, string> = new Map();
  readonly rendered: Map<string, RenderedNode> = new Map();
  vc: VirtualCluster | undefined;
  readonly timings: Record<string, number> = {};
  private readonly mungeKey = crypto.randomBytes(1024);
  private readonly jwtKey = crypto.randomBytes(32);
  private readonly dbPassword = crypto.randomBytes(18).toString('base64url');

  constructor(readonly opts: SlurmTestClusterOptions) {
    const id = opts.id;
    this.controllerName = `${id}-ctl`;
    const poolName = `${id}gpu`;
    const count = opts.computeCount ?? 2;
    this.computeNames = Array.from({ length: count }, (_, i) => `${poolName}-${i}`);
    const base: ClusterSpec = {
      clusterName: id,
      slurmVersion: '22.05',
      controller: { hostname: this.controllerName },
      accounting: { dbdHost: this.controllerName },
      nodePools: [
        {
          name: poolName,
          count,
          hardware: { cpus: 1, realMemoryMiB: 1000 },
          gpus: { type: opts.gpuType ?? 'fake', count: opts.gpusPerNode ?? 2 },
        },
      ],
      partitions: [
        { name: 'gpu', pools: [poolName], default: true },
        { name: 'debug', pools: [poolName], maxTime: '30' },
      ],
      cgroup: { plugin: cgroupPluginForHost() },
      ...(opts.restApi ? { jwtAuth: true } : {}),
      slurmdTimeoutSec: 5,
      returnToService: 2,
    };
    if (opts.accounting === false) delete (base as { accounting?: unknown }).accounting;
    this.spec = opts.customizeSpec ? opts.customizeSpec(base) : base;
    this.extraNodes = opts.extraNodes ? opts.extraNodes(this.spec) : [];
  }

  get cluster(): VirtualCluster {
    if (!this.vc) throw new Error('cluster not booted');
    return this.vc;
  }
  get ctl(): VirtualNode {
    return this.cluster.node(this.controllerName);
  }
  get computes(): VirtualNode[] {
    return this.computeNames.map((n) => this.cluster.node(n));
  }

  /** Log tails of every node, for failure messages. */
  diagnostics = (): string => (this.vc ? this.vc.diagnostics() : '(no cluster)');

  private gpuDeviceFiles(): string[] {
    const pool = this.spec.nodePools[0];
    const n = pool.gpus?.count ?? 0;
    return Array.from({ length: n }, (_, i) => `/dev/nvidia${i}`);
  }

  /** Renders everything, boots the namespaces, provisions the controller, then the compute nodes. */
  async boot(): Promise<void> {
    const t0 = Date.now();
    for (const f of [...renderControllerFiles(this.spec), ...(this.opts.extraControllerFiles ?? [])]) this.files.set(f.name, f.content);
    const controllerAddr = `${this.controllerName}:${this.spec.controller.port ?? 6817}`;
    const common = {
      CLUSTER_NAME: this.spec.clusterName,
      SLURM_CONTROLLER: controllerAddr,
      MUNGE_KEY_SOURCE: `file:${MUNGE_KEY_PATH}`,
    };
    const ctlFiles = [...this.files].map(([name, content]) => ({ name, content }));
    const rest: Record<string, string> = this.opts.restApi ? { JWT_KEY_SOURCE: `file:${JWT_KEY_PATH}`, SLURMRESTD_ENABLED: '1' } : {};
    if (this.opts.accounting === false) {
      this.render(this.controllerName, ['controller'], { ...common, ...rest }, ctlFiles);
    } else {
      this.render(this.controllerName, ['controller', 'dbd'], { ...common, ...rest, DB_LOCAL: '1', DB_PASSWORD_SOURCE: `file:${DB_PASSWORD_PATH}` }, ctlFiles);
    }
    const gpus = this.spec.nodePools[0].gpus;
    for (const name of this.computeNames) {
      this.render(name, ['compute'], {
        ...common,
        SLURMD_MODE: 'configless',
        GPU_COUNT: String(gpus?.count ?? 0),
        ...(gpus ? { GPU_TYPE: gpus.type, GPU_DEVICE_FILES: this.gpuDeviceFiles().join(' ') } : {}),
        ...(this.opts.computeEnv ?? {}),
      });
    }
    const clientFiles = ctlFiles.filter((f) => f.name !== 'slurmdbd.conf');
    for (const x of this.extraNodes) {
      const roles = [...(x.roles ?? ['compute'])];
      this.render(x.name, roles, { ...common, ...x.env }, roles.includes('login') && !roles.includes('compute') ? clientFiles : undefined);
    }
    this.timings.render = Date.now() - t0;

    this.vc = await VirtualCluster.create({
      id: this.opts.id,
      subnet: this.opts.subnet,
      nodes: [this.controllerName, ...this.computeNames, ...this.extraNodes.map((x) => x.name)],
    });
    this.timings.namespaces = Date.now() - t0 - this.timings.render;

    // What the GPU driver would create: character devices 195:N, in the node's private /dev.
    await Promise.all(
      this.computes.map((n) =>
        n.shOk(this.gpuDeviceFiles().map((f, i) => `mknod -m 0666 ${f} c 195 ${i}`).join(' && ') || 'true'),
      ),
    );

    await Promise.all(
      this.extraNodes.map((x) =>
        this.cluster.node(x.name).shOk((x.gpuDeviceFiles ?? []).map((f, i) => `mknod -m 0666 ${f} c 195 ${i}`).join(' && ') || 'true'),
      ),
    );
    if (this.opts.beforeProvision) await this.opts.beforeProvision(this);

    const t1 = Date.now();
    await this.provision(this.controllerName);
    this.timings.controllerBootstrap = Date.now() - t1;
    const t2 = Date.now();
    const boot = [...this.computeNames, ...this.extraNodes.filter((x) => x.provision !== false).map((x) => x.name)];
    await Promise.all(boot.map((n) => this.provision(n)));
    this.timings.computeBootstrap = Date.now() - t2;
  }

  private render(name: string, roles: NodeRole[], env: Record<string, string>, slurmFiles?: { name: string; content: string }[]) {
    const config = buildNodeCloudConfig({ roles, env, hostname: name, ...(slurmFiles ? { slurmFiles } : {}) });
    // Provision from the rendered text, the bytes a cloud would hand the instance.
    this.rendered.set(name, { roles, env, userData: config.render() });
  }

  /** Runs the mini cloud-init for one node; rejects with the bootstrap output and log tails on failure. */
  async provision(name: string): Promise<ExecResult> {
    const r = this.rendered.get(name);
    if (!r) throw new Error(`nothing rendered for ${name}`);
    const node = this.cluster.node(name);
    const secrets = [{ path: MUNGE_KEY_PATH, content: this.mungeKey, mode: '0600' }];
    if (r.roles.includes('dbd')) secrets.push({ path: DB_PASSWORD_PATH, content: Buffer.from(this.dbPassword), mode: '0600' });
    if (r.env.JWT_KEY_SOURCE) secrets.push({ path: JWT_KEY_PATH, content: this.jwtKey, mode: '0600' });
    const res = await provisionNode(node, r.userData, { outOfBandFiles: secrets, runcmdTimeoutMs: 150_000 });
    const run = res.runcmd;
    if (!run || run.code !== 0) {
      throw new Error(
        `bootstrap (cloud-init runcmd) failed on ${name}:\n${run ? describeResult(run) : '(no runcmd)'}\n` +
          `--- node logs ---\n${this.diagnostics()}`,
      );
    }
    return run;
  }

  /** Runs `bash /opt/cdktf-slurm/bootstrap/bootstrap.sh` again on a node, as a second cloud-init run would. */
  rerunBootstrap(name: string): Promise<ExecResult> {
    return this.cluster.node(name).sh('bash /opt/cdktf-slurm/bootstrap/bootstrap.sh', { timeoutMs: 150_000 });
  }

  /** A client command on the controller (the cluster's submit host); rejects unless it exits 0. */
  async client(cmd: string, timeoutMs = 20_000): Promise<string> {
    const r = await this.ctl.sh(cmd, { timeoutMs });
    if (r.code !== 0) throw new Error(`on ${this.controllerName}:\n${describeResult(r)}`);
    return r.stdout;
  }

  /** Node name → state (`idle`, `alloc`, `down*`, …) as sinfo reports it. */
  async nodeStates(): Promise<Map<string, string>> {
    const out = await this.client('sinfo -h -N -o "%N %t"');
    const m = new Map<string, string>();
    for (const line of out.split('\n').filter(Boolean)) {
      const [n, s] = line.trim().split(/\s+/);
      m.set(n, s);
    }
    return m;
  }

  async waitNodesIdle(names: readonly string[] = this.computeNames, timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async (note) => {
        const states = await this.nodeStates();
        note([...states].map(([n, s]) => `${n}=${s}`).join(' '));
        return names.every((n) => states.get(n) === 'idle');
      },
      timeoutMs,
      `nodes ${names.join(',')} idle in sinfo`,
      { diagnostics: this.diagnostics, intervalMs: 300 },
    );
  }

  /** Submits a batch script from the controller; returns the job id. */
  async sbatch(args: string, script: string): Promise<number> {
    const r = await this.ctl.sh(`sbatch --parsable ${args}`, { input: script, timeoutMs: 20_000 });
    if (r.code !== 0) throw new Error(`sbatch failed:\n${describeResult(r)}`);
    const id = Number(r.stdout.trim().split(';')[0]);
    if (!Number.isInteger(id)) throw new Error(`sbatch printed no job id: ${r.stdout}`);
    return id;
  }

  /** `scontrol show job -o` as key/value pairs (undefined once slurmctld forgot the job). */
  async job(id: number): Promise<Record<string, string> | undefined> {
    const r = await this.ctl.sh(`scontrol show job -o ${id}`);
    if (r.code !== 0) return undefined;
    const kv: Record<string, string> = {};
    for (const m of r.stdout.trim().matchAll(/(\S+?)=(\S*)/g)) if (!(m[1] in kv)) kv[m[1]] = m[2];
    return kv;
  }

  async waitJobState(id: number, states: readonly string[], timeoutMs: number): Promise<Record<string, string>> {
    return waitFor(
      async (note) => {
        const j = await this.job(id);
        note(j ? `JobState=${j.JobState} Reason=${j.Reason} NodeList=${j.NodeList} Restarts=${j.Restarts}` : 'job unknown');
        return j && states.includes(j.JobState) ? j : undefined;
      },
      timeoutMs,
      `job ${id} in state ${states.join('|')}`,
      { diagnostics: this.diagnostics, intervalMs: 300 },
    );
  }

  /** Host path of a file in the shared directory (where jobs write their output). */
  sharedPath(name: string): string {
    return path.join(this.cluster.sharedDir, name);
  }

  /** The partitions in the rendered slurm.conf: name → { nodes (expanded), default }. */
  renderedPartitions(): Map<string, { nodes: string[]; isDefault: boolean }> {
    const conf = this.files.get('slurm.conf') ?? '';
    const m = new Map<string, { nodes: string[]; isDefault: boolean }>();
    for (const line of conf.split('\n')) {
      const name = /^\s*PartitionName=(\S+)/i.exec(line)?.[1];
      if (!name || name.toUpperCase() === 'DEFAULT') continue;
      const nodes = /\bNodes=(\S+)/i.exec(line)?.[1] ?? '';
      m.set(name, {
        nodes: nodes ? expandHostlist(nodes).sort() : [],
        isDefault: /\bDefault=YES\b/i.test(line),
      });
    }
    return m;
  }

  async teardown(): Promise<void> {
    await this.vc?.teardown();
  }
}
