/**
 * Several "hosts" on one machine, each a set of Linux namespaces held open by a long-lived process.
 *
 *   - Network: one network namespace per node, plus one for a bridge (`br-<id>`). Each node gets a veth
 *     pair whose outer end (`v-<id>-<i>`) sits in the bridge namespace, its inner end is the node's `eth0` with
 *     `<subnet>.<10+i>/24`. There is no default route and nothing is connected to the host's
 *     namespace, so traffic cannot leave the test subnet. Nothing is created in the host's own
 *     network namespace and no named netns (`/run/netns/*`) is registered: the namespaces live
 *     exactly as long as the processes inside them, so a crashed run cannot leave one behind.
 *   - Files: a private mount namespace (propagation private) with an overlayfs over `/` whose upper
 *     and work dirs are on a tmpfs inside that namespace: the node sees the host's installed packages,
 *     and every write (configs, databases, spools, logs) lands in memory and vanishes with the node.
 *     On top: `/proc` and `/sys` rbound (the cgroup mounts stay visible to slurmd), a private tmpfs
 *     `/dev` with only null/zero/full/random/urandom/tty bound in (fake GPU device nodes created there
 *     never reach the host's /dev), private tmpfs `/run`, `/tmp`, `/dev/shm`, a new devpts instance,
 *     a node-specific `/etc/hosts` and `/etc/hostname`, and `/shared` bound to one host directory for
 *     all nodes (the cluster's "shared file system", where jobs write their output).
 *     Runtime leftovers the host may hold (files under /var/log, Slurm spool/state dirs, munge's seed,
 *     /etc/cdktf-slurm, /opt/cdktf-slurm) are hidden, so every node starts like a fresh image.
 *   - UTS: each node has its own hostname.
 *
 * Commands run in a node with `nsenter -t <holder> -m -u -n -- chroot <root> env -i … bash -c …`.
 * (`ip netns exec` is not used: it remounts /sys and hides the cgroup mounts.)
 *
 * Teardown is by PID only: every process whose mount or network namespace is one of ours gets TERM,
 * then KILL; then the holders; then the `slurm_<node>` cgroup directories are removed and the temp
 * dir deleted. `leftovers()` reports anything that survived.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { describeResult, ExecResult, run, runOk } from './exec';
import { sleep, waitFor } from './wait';

const MARKER = 'cdktf-slurm-holder';
const NODE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface VirtualClusterOptions {
  /**
   * Short id, `[a-z0-9]{1,6}`: names the temp dir, the holder processes and the veth ends. Two
   * clusters that may run at the same time (parallel jest workers) need different ids, subnets and
   * node names.
   */
  readonly id: string;
  /** First three octets of the node /24, e.g. `10.213.1`. Node i gets `.10+i`. */
  readonly subnet: string;
  /** Hostnames, in order. */
  readonly nodes: readonly string[];
}

export interface NodeExecOptions {
  readonly timeoutMs?: number;
  readonly input?: string | Buffer;
  /** Extra environment variables (the node starts from an empty environment). */
  readonly env?: Readonly<Record<string, string>>;
}

/** Linux namespace identity, as `readlink /proc/PID/ns/X` prints it (`mnt:[4026532…]`). */
function nsOf(pid: number, kind: 'mnt' | 'net'): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function argv0(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
  } catch {
    return undefined;
  }
}

function allPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => p !== process.pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // a zombie still answers kill(0); treat it as gone
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** The node's holder script: builds the node's file system view, then sleeps forever as the anchor. */
const HOLDER_SCRIPT = String.raw`
set -euo pipefail
N=$1; HOST=$2; MARK=$3; SHARED=$4; HOSTS=$5
R=$N/root; T=$N/mem
mkdir -p "$R" "$T"
mount -t tmpfs -o mode=0755 cdktf-slurm-mem "$T"
mkdir "$T/upper" "$T/work"
mount -t overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" cdktf-slurm-root "$R"
# Start like a freshly installed image: hide runtime leftovers the host may hold (logs, Slurm state,
# our own dirs from someone's manual run). Deleting a lower file only writes a whiteout to the tmpfs.
for d in var/log var/spool/slurmctld var/spool/slurmd var/lib/slurm var/lib/munge; do
  if [ -d "$R/$d" ]; then find "$R/$d" -xdev ! -type d -delete; fi
done
rm -rf "$R/etc/cdktf-slurm" "$R/opt/cdktf-slurm"
mount --rbind /proc "$R/proc"
mount --rbind /sys "$R/sys"
mount -t tmpfs -o mode=0755,nosuid cdktf-slurm-dev "$R/dev"
for d in null zero full random urandom tty; do : > "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mkdir "$R/dev/shm" "$R/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev cdktf-slurm-shm "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=0755,nosuid,nodev cdktf-slurm-run "$R/run"
mkdir -m 1777 "$R/run/lock"
mount -t tmpfs -o mode=1777,nosuid,nodev cdktf-slurm-tmp "$R/tmp"
mkdir -p "$R/shared"
mount --bind "$SHARED" "$R/shared"
cp "$HOSTS" "$R/etc/hosts"
echo "$HOST" > "$R/etc/hostname"
hostname "$HOST"
ip link set lo up
exec -a "$MARK" sleep infinity
`;

const BRIDGE_SCRIPT = String.raw`
set -euo pipefail
ip link set lo up
ip link add "$2" type bridge
ip link set "$2" up
exec -a "$1" sleep infinity
`;

export class VirtualNode {
  constructor(
    readonly name: string,
    readonly ip: string,
    /** PID of the holder process (its namespaces are the node's). */
    readonly holderPid: number,
    /** The node's root, as a path inside the holder's mount namespace. */
    readonly root: string,
    readonly mntNs: string,
    readonly netNs: string,
    private readonly scratchDir: string,
  ) {}

  /** Host-side path to a file inside the node (through the holder's view of its root). */
  hostPath(p: string): string {
    return path.join(`/proc/${this.holderPid}/root`, this.root, p);
  }

  /** Runs a bash script as root inside the node, from an empty environment. */
  sh(script: string, opts: NodeExecOptions = {}): Promise<ExecResult> {
    return this.exec(['/bin/bash', '-c', script], opts);
  }

  /** Like sh(), but rejects with the output unless the script exits 0. */
  async shOk(script: string, opts: NodeExecOptions = {}): Promise<ExecResult> {
    const r = await this.sh(script, opts);
    if (r.code !== 0) throw new Error(`on ${this.name}:\n${describeResult(r)}`);
    return r;
  }

  exec(argv: readonly string[], opts: NodeExecOptions = {}): Promise<ExecResult> {
    const env = { PATH: NODE_PATH, HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'dumb', ...(opts.env ?? {}) };
    return run(
      'nsenter',
      [
        '-t', String(this.holderPid), '-m', '-u', '-n', '--',
        'chroot', this.root,
        '/usr/bin/env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      { timeoutMs: opts.timeoutMs ?? 30_000, input: opts.input, scratchDir: this.scratchDir },
    );
  }

  /** Reads a file of the node, or undefined if it does not exist. */
  readFile(p: string): string | undefined {
    try {
      return fs.readFileSync(this.hostPath(p), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** PIDs (host PID namespace, which nodes share) of the processes living in this node. */
  pids(): number[] {
    return allPids().filter((p) => p !== this.holderPid && nsOf(p, 'mnt') === this.mntNs);
  }

  /** The last `lines` lines of a node file, or a note that it is missing. */
  tail(p: string, lines = 30): string {
    const text = this.readFile(p);
    if (text === undefined) return `(${p}: missing)`;
    return text.split('\n').slice(-lines - 1).join('\n');
  }
}

export class VirtualCluster {
  static async create(opts: VirtualClusterOptions): Promise<VirtualCluster> {
    if (!/^[a-z0-9]{1,6}$/.test(opts.id)) throw new Error(`cluster id must match [a-z0-9]{1,6}, got ${opts.id}`);
    if (!/^\d+\.\d+\.\d+$/.test(opts.subnet)) throw new Error(`subnet must be three octets, got ${opts.subnet}`);
    if (opts.nodes.length < 1 || opts.nodes.length > 200) throw new Error('between 1 and 200 nodes');
    await reapStale(opts.id, opts.nodes);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cdktf-slurm-${opts.id}-`));
    const cluster = new VirtualCluster(opts, dir);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.teardown();
      throw err;
    }
    return cluster;
  }

  readonly nodes: VirtualNode[] = [];
  /** Host directory mounted at `/shared` in every node. */
  readonly sharedDir: string;
  private bridgePid = 0;
  private bridgeNetNs = '';
  private readonly holderPids: number[] = [];
  private readonly scratch: string;
  private tornDown = false;

  private constructor(readonly opts: VirtualClusterOptions, readonly dir: string) {
    this.sharedDir = path.join(dir, 'shared');
    this.scratch = path.join(dir, 'scratch');
  }

  node(name: string): VirtualNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name} (have ${this.nodes.map((x) => x.name).join(', ')})`);
    return n;
  }

  ipOf(name: string): string {
    const i = this.opts.nodes.indexOf(name);
    if (i < 0) throw new Error(`no node ${name}`);
    return `${this.opts.subnet}.${10 + i}`;
  }

  /** The bridge, in the bridge namespace (named per cluster so a leak into the host would be ours). */
  private get bridgeName(): string {
    return `br-${this.opts.id}`;
  }

  private marker(what: string): string {
    return `${MARKER}:${this.opts.id}:${what}`;
  }

  /** Starts `unshare … bash -c script args` and waits until it has exec'd into its marker. */
  private async startHolder(unshareArgs: string[], script: string, args: string[], mark: string): Promise<number> {
    const logFile = path.join(this.dir, `${mark.split(':').pop()}.holder.log`);
    const fd = fs.openSync(logFile, 'w');
    const child = spawn('unshare', [...unshareArgs, '--', 'bash', '-c', script, 'holder', ...args], {
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    const pid = child.pid;
    if (!pid) throw new Error(`could not start holder ${mark}`);
    this.holderPids.push(pid);
    let exited: string | undefined;
    child.on('exit', (code, signal) => {
      exited = `exit ${code} ${signal ?? ''}`;
    });
    child.unref();
    await waitFor(
      () => {
        if (exited) throw new Error(`holder ${mark} died (${exited}): ${fs.readFileSync(logFile, 'utf8')}`);
        return argv0(pid) === mark;
      },
      10_000,
      `holder ${mark} ready`,
      { intervalMs: 20, diagnostics: () => fs.readFileSync(logFile, 'utf8') },
    );
    return pid;
  }

  private async boot(): Promise<void> {
    fs.mkdirSync(this.sharedDir, { mode: 0o755 });
    fs.chmodSync(this.sharedDir, 0o1777);
    fs.mkdirSync(this.scratch);
    const hosts = path.join(this.dir, 'hosts');
    fs.writeFileSync(
      hosts,
      ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback',
        ...this.opts.nodes.map((n) => `${this.ipOf(n)}\t${n}`), ''].join('\n'),
    );
    this.bridgePid = await this.startHolder(['--net'], BRIDGE_SCRIPT, [this.marker('bridge'), this.bridgeName], this.marker('bridge'));
    this.bridgeNetNs = nsOf(this.bridgePid, 'net') ?? '';
    await Promise.all(
      this.opts.nodes.map(async (name, i) => {
        const nodeDir = path.join(this.dir, 'nodes', name);
        fs.mkdirSync(nodeDir, { recursive: true });
        const mark = this.marker(name);
        const pid = await this.startHolder(
          ['--mount', '--uts', '--net', '--propagation', 'private'],
          HOLDER_SCRIPT,
          [nodeDir, name, mark, this.sharedDir, hosts],
          mark,
        );
        const mnt = nsOf(pid, 'mnt');
        const net = nsOf(pid, 'net');
        if (!mnt || !net) throw new Error(`holder of ${name} has no namespaces`);
        this.nodes[i] = new VirtualNode(name, this.ipOf(name), pid, path.join(nodeDir, 'root'), mnt, net, this.scratch);
      }),
    );
    // Wire the nodes to the bridge: v-<id>-<i> in the bridge namespace, eth0 in the node.
    for (const [i, node] of this.nodes.entries()) {
      const outer = `v-${this.opts.id}-${i}`;
      await runOk('nsenter', ['-t', String(this.bridgePid), '-n', '--', 'ip', 'link', 'add', outer, 'type', 'veth',
        'peer', 'name', 'eth0', 'netns', String(node.holderPid)]);
      await runOk('nsenter', ['-t', String(this.bridgePid), '-n', '--', 'ip', 'link', 'set', outer, 'master', this.bridgeName, 'up']);
      await runOk('nsenter', ['-t', String(node.holderPid), '-n', '--', 'sh', '-c',
        `ip addr add ${node.ip}/24 dev eth0 && ip link set eth0 up`]);
    }
  }

  /**
   * A stand-in for the cloud's metadata server: 169.254.169.254 on the bridge, beyond every node's eth0 as a cloud
   * puts it (not on a node's own loopback, where a REJECT would never reach the socket), answering each connection
   * on port 80; every node gets an on-link route to it. Its process lives in the bridge namespace, so teardown ends
   * it with the rest.
   */
  async startMetadataServer(): Promise<void> {
    const address = '169.254.169.254';
    await runOk('nsenter', ['-t', String(this.bridgePid), '-n', '--', 'ip', 'addr', 'add', `${address}/32`, 'dev', this.bridgeName]);
    // The way back to the nodes: the bridge has no address in their subnet.
    await runOk('nsenter', ['-t', String(this.bridgePid), '-n', '--', 'ip', 'route', 'add', `${this.opts.subnet}.0/24`, 'dev', this.bridgeName]);
    const listener = [
      'import socket',
      's = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
      `s.bind(("${address}", 80)); s.listen(64)`,
      'while True:',
      '    c, _ = s.accept(); c.sendall(b"credentials"); c.close()',
    ].join('\n');
    const child = spawn('nsenter', ['-t', String(this.bridgePid), '-n', '--', 'python3', '-c', listener], { detached: true, stdio: 'ignore' });
    child.unref();
    for (const node of this.nodes) {
      await runOk('nsenter', ['-t', String(node.holderPid), '-n', '--', 'ip', 'route', 'add', `${address}/32`, 'dev', 'eth0']);
    }
    const first = this.nodes[0];
    await waitFor(async () => (await first.sh(`exec 3<>/dev/tcp/${address}/80`, { timeoutMs: 5000 })).code === 0, 15_000,
      `the metadata stand-in answering ${first.name}`);
  }

  /** Tails of the bootstrap and daemon logs of every node, for error messages. */
  diagnostics(lines = 25): string {
    const out: string[] = [];
    for (const n of this.nodes) {
      if (!n || !alive(n.holderPid)) continue;
      const files = ['/var/log/cdktf-slurm/bootstrap.log'];
      try {
        for (const f of fs.readdirSync(n.hostPath('/var/log/slurm'))) files.push(`/var/log/slurm/${f}`);
      } catch {
        /* no slurm logs yet */
      }
      files.push('/var/log/munge/munged.log');
      for (const f of files) {
        if (n.readFile(f) === undefined) continue;
        out.push(`===== ${n.name}:${f} (last ${lines} lines) =====\n${n.tail(f, lines)}`);
      }
    }
    return out.join('\n');
  }

  /** Every PID living in one of this cluster's namespaces, holders excluded. */
  private memberPids(): number[] {
    const mnts = new Set(this.nodes.filter(Boolean).map((n) => n.mntNs));
    const nets = new Set([...this.nodes.filter(Boolean).map((n) => n.netNs), this.bridgeNetNs].filter(Boolean));
    const holders = new Set(this.holderPids);
    return allPids().filter((p) => {
      if (holders.has(p)) return false;
      const m = nsOf(p, 'mnt');
      const n = nsOf(p, 'net');
      return (m !== undefined && mnts.has(m)) || (n !== undefined && nets.has(n));
    });
  }

  /** TERM, then KILL, every process of the cluster; then the holders, cgroup dirs and temp dir. */
  async teardown(graceMs = 3000): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    await killAll(() => this.memberPids().filter(alive), graceMs);
    await killAll(() => this.holderPids.filter(alive), 1000);
    await removeSlurmCgroups(this.opts.nodes);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** What teardown failed to remove; empty when the host is clean. */
  leftovers(): string[] {
    const left: string[] = [];
    for (const p of this.memberPids().filter(alive)) left.push(`process ${p} (${argv0(p)}) in a node namespace`);
    for (const p of this.holderPids.filter(alive)) left.push(`holder process ${p} (${argv0(p)})`);
    for (const p of allPids()) {
      const a = argv0(p);
      if (a?.startsWith(`${MARKER}:${this.opts.id}:`) && alive(p)) left.push(`marked holder ${p} (${a})`);
    }
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(this.dir));
    for (const m of mounts) left.push(`host mount: ${m}`);
    for (const cg of slurmCgroupDirs(this.opts.nodes)) left.push(`cgroup dir ${cg}`);
    if (fs.existsSync(this.dir)) left.push(`temp dir ${this.dir}`);
    try {
      for (const ns of fs.readdirSync('/run/netns')) if (ns.includes(this.opts.id)) left.push(`named netns ${ns}`);
    } catch {
      /* no /run/netns: nothing named */
    }
    for (const link of fs.readdirSync('/sys/class/net')) {
      if (link === this.bridgeName || link.startsWith(`v-${this.opts.id}-`)) left.push(`host interface ${link}`);
    }
    return left;
  }
}

async function killAll(pids: () => number[], graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  let signal: NodeJS.Signals = 'SIGTERM';
  for (let round = 0; round < 200; round++) {
    const left = pids();
    if (left.length === 0) return;
    if (Date.now() > deadline) signal = 'SIGKILL';
    // Re-signal every round: daemons fork (slurmstepd, job steps) while we are killing.
    if (round === 0 || signal === 'SIGKILL' || round % 10 === 0) for (const p of left) kill(p, signal);
    await sleep(50);
  }
  const left = pids();
  if (left.length) throw new Error(`processes survived SIGKILL: ${left.join(' ')}`);
}

/** Mounted cgroup hierarchies (v1 controllers and the v2 unified tree). */
function cgroupRoots(): string[] {
  const roots: string[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const parts = line.split(' ');
    const sep = parts.indexOf('-');
    if (sep < 0) continue;
    const fstype = parts[sep + 1];
    if (fstype === 'cgroup' || fstype === 'cgroup2') roots.push(parts[4]);
  }
  return roots;
}

/** `slurm_<node>` dirs slurmd (MULTIPLE_SLURMD build, cgroup/v1) created for our nodes. */
export function slurmCgroupDirs(nodes: readonly string[]): string[] {
  const found: string[] = [];
  for (const root of cgroupRoots()) {
    for (const n of nodes) {
      const d = path.join(root, `slurm_${n}`);
      if (fs.existsSync(d)) found.push(d);
    }
  }
  return found;
}

function rmdirTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) rmdirTree(path.join(dir, e.name));
  }
  fs.rmdirSync(dir);
}

async function removeSlurmCgroups(nodes: readonly string[]): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const dirs = slurmCgroupDirs(nodes);
    if (dirs.length === 0) return;
    for (const d of dirs) {
      try {
        // Anything still attached (a job process that escaped the namespace scan) is killed first.
        for (const p of collectProcs(d)) kill(p, 'SIGKILL');
        rmdirTree(d);
      } catch {
        /* busy: retry */
      }
    }
    await sleep(100);
  }
}

function collectProcs(dir: string): number[] {
  const pids: number[] = [];
  try {
    pids.push(...fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  } catch {
    /* not readable */
  }
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) pids.push(...collectProcs(path.join(dir, e.name)));
  }
  return pids;
}

/**
 * Cleans up after an earlier run of the same cluster id that died without teardown (jest killed):
 * its holders are found by their marker argv[0], everything in their namespaces is killed by PID,
 * and its temp dirs and cgroup dirs are removed.
 */
export async function reapStale(id: string, nodes: readonly string[]): Promise<void> {
  const holders = allPids().filter((p) => argv0(p)?.startsWith(`${MARKER}:${id}:`));
  if (holders.length) {
    const mnts = new Set(holders.map((p) => nsOf(p, 'mnt')).filter(Boolean));
    const nets = new Set(holders.map((p) => nsOf(p, 'net')).filter(Boolean));
    const hostMnt = nsOf(process.pid, 'mnt');
    const hostNet = nsOf(process.pid, 'net');
    mnts.delete(hostMnt);
    nets.delete(hostNet);
    const members = () =>
      allPids().filter((p) => {
        if (holders.includes(p)) return false;
        const m = nsOf(p, 'mnt');
        const n = nsOf(p, 'net');
        return (m !== undefined && mnts.has(m)) || (n !== undefined && nets.has(n));
      }).filter(alive);
    await killAll(members, 2000);
    await killAll(() => holders.filter(alive), 1000);
  }
  await removeSlurmCgroups(nodes);
  for (const e of fs.readdirSync(os.tmpdir())) {
    if (e.startsWith(`cdktf-slurm-${id}-`)) fs.rmSync(path.join(os.tmpdir(), e), { recursive: true, force: true });
  }
}

/** `comm` (kernel process name, ≤15 chars) of a PID, or undefined when it is gone. */
export function commOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The processes of a node with one of these names, as sorted `name:pid` strings. */
export function daemonsOf(node: VirtualNode, names: readonly string[]): string[] {
  return node
    .pids()
    .map((p) => ({ p, c: commOf(p) }))
    .filter((x) => x.c !== undefined && names.includes(x.c))
    .map((x) => `${x.c}:${x.p}`)
    .sort();
}
