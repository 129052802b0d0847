/**
 * The job templates run, against stand-ins for srun, scontrol and torchrun (never a real Slurm): what each one
 * hands srun and torchrun, what it sets up for the partition's fabric, and how it stops when something is
 * missing. Where a Python with torch is installed (Debian: python3-torch), the DDP example also trains for real
 * on CPUs, through the template, with gloo.
 */
import { spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { jobRequest, JobRequest, readonlyValue, sbatchHeader } from './sbatch';
import { NODE_PATHS, PartitionFacts, stackFacts } from './stack-facts';

const TEMPLATES = path.resolve(__dirname, '../../templates');
const RUNS: readonly [string, string][] = [
  ...['aws-gpu', 'hybrid-gpu', 'ceph-lab'].flatMap((s) => ['small', 'medium', 'large', 'pytorch-ddp'].map((t) => [s, `${t}.sbatch`] as [string, string])),
  ...['small', 'medium', 'large'].map((t) => ['gcp-a3mega', `${t}.sbatch`] as [string, string]),
];
const JOB_ID = '4242';
const NODE_ADDR = '100.64.0.7';

const read = (stack: string, file: string): string => fs.readFileSync(path.join(TEMPLATES, stack, file), 'utf8');
const requestOf = (stack: string, file: string): JobRequest => jobRequest(sbatchHeader(read(stack, file)));
const partitionOf = (stack: string, file: string): PartitionFacts => stackFacts(stack).partitions.get(requestOf(stack, file).partition)!;
const fabricOf = (stack: string, file: string): Set<string> => new Set(partitionOf(stack, file).pools.map((p) => p.fabric));
const isContainer = (stack: string): boolean => stack === 'gcp-a3mega';

/** Tools the templates and stubs call; everything else (a real torchrun, srun, scontrol) stays out of PATH. */
const TOOLS = ['bash', 'env', 'id', 'mkdir', 'sed', 'head', 'hostname', 'grep', 'sort', 'cat', 'tr', 'sleep', 'rm', 'dirname'];

// The mini torchrun: accepts exactly the options the templates pass, and starts the workers of one node with the
// environment torchrun gives them. Enough to run pytorch_ddp.py for real on one machine, whatever torch version.
const TORCHRUN_STANDIN = `#!/usr/bin/env bash
set -euo pipefail
printf '%s\\0' "$@" > "$STUB_DIR/torchrun.args"
nnodes='' nproc='' endpoint=''
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --nnodes=*) nnodes=\${1#*=} ;;
    --nproc-per-node=*) nproc=\${1#*=} ;;
    --rdzv-endpoint=*) endpoint=\${1#*=} ;;
    --rdzv-backend=c10d | --rdzv-id=* | --max-restarts=*) ;;
    *) echo "torchrun stand-in: unexpected option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $nnodes == 1 && $nproc =~ ^[1-9][0-9]*$ && $endpoint == *:* ]] || { echo "torchrun stand-in: nnodes=$nnodes nproc=$nproc endpoint=$endpoint" >&2; exit 2; }
script=$1
shift
pids=()
for ((i = 0; i < nproc; i++)); do
  RANK=$i LOCAL_RANK=$i WORLD_SIZE=$nproc LOCAL_WORLD_SIZE=$nproc MASTER_ADDR=\${endpoint%:*} MASTER_PORT=\${endpoint##*:} \\
    "$STUB_PYTHON" "$script" "$@" &
  pids+=($!)
done
rc=0
for p in "\${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
`;

interface Sandbox {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;
  readonly shared: string;
  readonly torchEnv: string;
  readonly pluginDir: string;
}

function sandbox(stack: string, file: string): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-templates-'));
  const stubs = path.join(root, 'stubs');
  const sysbin = path.join(root, 'sysbin');
  const torchEnv = path.join(root, 'venv');
  const pluginDir = path.join(root, 'ofi-nccl', 'lib');
  for (const d of [stubs, sysbin, path.join(torchEnv, 'bin'), pluginDir]) fs.mkdirSync(d, { recursive: true });
  for (const tool of TOOLS) {
    const where = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (!where.startsWith('/')) throw new Error(`${tool} is not installed`);
    fs.symlinkSync(where, path.join(sysbin, tool));
  }
  const stub = (name: string, body: string): void => {
    fs.writeFileSync(path.join(stubs, name), `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`, { mode: 0o755 });
  };
  stub(
    'srun',
    [
      'printf "%s\\0" "$@" > "$STUB_DIR/srun.args"',
      'env | grep -E "^(NCCL_|FI_|OMP_NUM_THREADS=|LD_LIBRARY_PATH=|PATH=)" | sort > "$STUB_DIR/srun.env" || true',
      // For the real runs: play one node by running the command after srun's options.
      'if [[ ${STUB_SRUN_EXEC:-0} == 1 ]]; then while [[ $1 == --* ]]; do shift; done; exec "$@"; fi',
    ].join('\n'),
  );
  stub(
    'scontrol',
    [
      'printf "%s\\n" "$*" >> "$STUB_DIR/scontrol.calls"',
      'if [[ $1 == show && $2 == hostnames ]]; then printf "%s\\n" $STUB_HOSTS; exit 0; fi',
      'if [[ $1 == show && $2 == node && $3 == -o ]]; then',
      '  addr=${STUB_NODE_ADDR:+ NodeAddr=$STUB_NODE_ADDR}',
      '  printf "NodeName=%s Arch=x86_64 CoresPerSocket=1%s NodeHostName=%s State=ALLOCATED\\n" "$4" "$addr" "$4"; exit 0',
      'fi',
      'exit 1',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(torchEnv, 'bin', 'torchrun'), TORCHRUN_STANDIN, { mode: 0o755 });
  fs.writeFileSync(path.join(pluginDir, 'libnccl-net.so'), '');
  // What bootstrap-scripts/aws/efa.sh writes on a p5 node, and what the A3 Mega bootstrap writes (a subset).
  // Both read an unset variable: a profile that is not ours must not kill a job running under set -u.
  fs.writeFileSync(
    path.join(root, 'nccl-efa.sh'),
    [
      'export FI_PROVIDER=efa',
      'export FI_EFA_USE_DEVICE_RDMA=1',
      `LD_LIBRARY_PATH="${pluginDir}:/opt/amazon/efa/lib\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; export LD_LIBRARY_PATH`,
      ': "$SOME_UNSET_VARIABLE"',
    ].join('\n') + '\n',
  );
  fs.writeFileSync(
    path.join(root, 'nccl-tcpxo.sh'),
    [
      'export NCCL_FASTRAK_CTRL_DEV=enp0s12',
      'export NCCL_FASTRAK_IFNAME=enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0',
      'export NCCL_SOCKET_IFNAME=enp0s12',
      'export NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY=/dev/aperture_devices',
      ': "$SOME_UNSET_VARIABLE"',
    ].join('\n') + '\n',
  );
  const r = requestOf(stack, file);
  const hosts = Array.from({ length: r.nodes }, (_, i) => `node-${i}`);
  const shared = path.join(root, 'shared', 'tester');
  const env: NodeJS.ProcessEnv = {
    PATH: `${stubs}:${sysbin}`,
    HOME: root,
    USER: 'tester',
    STUB_DIR: root,
    STUB_HOSTS: hosts.join(' '),
    STUB_NODE_ADDR: NODE_ADDR,
    // Should anything reach a real Slurm client, it has no cluster to talk to.
    SLURM_CONF: path.join(root, 'no-slurm.conf'),
    SLURM_JOB_ID: JOB_ID,
    SLURM_JOB_NAME: r.jobName,
    SLURM_JOB_NUM_NODES: String(r.nodes),
    SLURM_JOB_NODELIST: r.nodes === 1 ? 'node-0' : `node-[0-${r.nodes - 1}]`,
    SLURM_CPUS_PER_TASK: String(r.cpusPerTask),
    SLURM_SUBMIT_DIR: path.join(TEMPLATES, stack),
    SHARED_DIR: shared,
    TORCH_ENV: torchEnv,
    EFA_PROFILE: path.join(root, 'nccl-efa.sh'),
    TCPXO_PROFILE: path.join(root, 'nccl-tcpxo.sh'),
  };
  return { root, env, shared, torchEnv, pluginDir };
}

function run(sb: Sandbox, stack: string, file: string, extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync('bash', [path.join(TEMPLATES, stack, file), ...args], {
    cwd: sb.root,
    env: { ...sb.env, ...extraEnv },
    encoding: 'utf8',
    timeout: 25000,
  });
}

const srunCalled = (sb: Sandbox): boolean => fs.existsSync(path.join(sb.root, 'srun.args'));
const srunArgs = (sb: Sandbox): string[] => fs.readFileSync(path.join(sb.root, 'srun.args'), 'utf8').split('\0').slice(0, -1);
const srunEnv = (sb: Sandbox): Map<string, string> =>
  new Map(
    fs
      .readFileSync(path.join(sb.root, 'srun.env'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
const opt = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe.each(RUNS)('%s/%s, run', (stack, file) => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox(stack, file);
  });
  afterEach(() => fs.rmSync(sb.root, { recursive: true, force: true }));

  const r = requestOf(stack, file);
  const gpu = r.gpusPerNode > 0;
  const perNode = gpu ? r.gpusPerNode : Number(readonlyValue(read(stack, file), 'PROCS_PER_NODE'));
  const fabric = fabricOf(stack, file);
  const needsTcpxo = fabric.has('tcpxo') && r.nodes > 1;

  test('starts one torchrun per node with the allocation\'s numbers, rendezvous at the first node\'s NodeAddr', () => {
    // Single-node A3 Mega jobs must not need the TCPXO profile: run them without one.
    const res = run(sb, stack, file, needsTcpxo ? {} : { TCPXO_PROFILE: path.join(sb.root, 'absent.sh') }, ['--epochs', '7']);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const args = srunArgs(sb);
    expect(args.slice(0, 2)).toEqual(['--ntasks-per-node=1', `--cpus-per-task=${r.cpusPerTask}`]);
    const t = args.slice(args.indexOf('torchrun'));
    expect(t.slice(0, 8)).toEqual([
      'torchrun',
      `--nnodes=${r.nodes}`,
      `--nproc-per-node=${perNode}`,
      '--rdzv-backend=c10d',
      `--rdzv-endpoint=${NODE_ADDR}:${29500 + (Number(JOB_ID) % 1000)}`,
      `--rdzv-id=${JOB_ID}`,
      '--max-restarts=0',
      path.join(TEMPLATES, stack, 'pytorch_ddp.py'),
    ]);
    const checkpoints = path.join(sb.shared, 'checkpoints', r.jobName);
    const rest = t.slice(8);
    expect(rest.slice(-4)).toEqual(['--checkpoint-dir', checkpoints, '--epochs', '7']);
    if (!isContainer(stack)) expect(rest.slice(0, 2)).toEqual(['--backend', gpu ? 'nccl' : 'gloo']);
    expect(fs.statSync(checkpoints).isDirectory()).toBe(true);
    const calls = fs.readFileSync(path.join(sb.root, 'scontrol.calls'), 'utf8').split('\n');
    expect(calls).toContain(`show hostnames ${sb.env.SLURM_JOB_NODELIST}`);
    expect(calls).toContain('show node -o node-0');
    expect(res.stdout).toContain(`rendezvous ${NODE_ADDR}:29742, ${r.nodes} node(s) x ${perNode} `);
  });

  test('hands srun the environment the partition\'s fabric needs, and nothing of another fabric', () => {
    const res = run(sb, stack, file, needsTcpxo ? {} : { TCPXO_PROFILE: path.join(sb.root, 'absent.sh') });
    expect(res.status).toBe(0);
    const env = srunEnv(sb);
    if (fabric.has('efa')) {
      expect(env.get('FI_PROVIDER')).toBe('efa');
      expect(env.get('FI_EFA_USE_DEVICE_RDMA')).toBe('1');
      expect(env.get('LD_LIBRARY_PATH')!.split(':')[0]).toBe(sb.pluginDir);
      expect(res.stdout).toContain(`aws-ofi-nccl in ${sb.pluginDir}`);
    } else {
      expect([...env.keys()].filter((k) => k.startsWith('FI_'))).toEqual([]);
    }
    if (fabric.has('mesh')) expect(env.get('NCCL_SOCKET_IFNAME')).toBe(NODE_PATHS.meshInterface);
    if (needsTcpxo) {
      expect(env.get('NCCL_FASTRAK_IFNAME')).toBe('enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0');
      const args = srunArgs(sb);
      expect(opt(args, 'container-env')!.split(',').sort()).toEqual(
        ['NCCL_FASTRAK_CTRL_DEV', 'NCCL_FASTRAK_IFNAME', 'NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY', 'NCCL_SOCKET_IFNAME'].sort(),
      );
      expect(opt(args, 'container-mounts')!.split(',')).toEqual(
        expect.arrayContaining(['/var/lib/tcpxo/lib64:/var/lib/tcpxo/lib64', '/dev/aperture_devices:/dev/aperture_devices']),
      );
    } else {
      expect([...env.keys()].filter((k) => k.startsWith('NCCL_FASTRAK'))).toEqual([]);
    }
    if (!gpu) expect(env.get('OMP_NUM_THREADS')).toBe(String(r.cpusPerTask / perNode));
    if (isContainer(stack)) {
      const args = srunArgs(sb);
      expect(opt(args, 'container-image')).toBe(readonlyValue(read(stack, 'pytorch-ddp.sbatch'), 'DEFAULT_IMAGE'));
      const dir = path.join(TEMPLATES, stack);
      const ckpt = path.join(sb.shared, 'checkpoints', r.jobName);
      expect(opt(args, 'container-mounts')!.split(',')).toEqual(expect.arrayContaining([`${dir}:${dir}`, `${ckpt}:${ckpt}`]));
    } else {
      // torchrun comes from the venv on shared storage, first on every task's PATH.
      expect(env.get('PATH')!.split(':')[0]).toBe(path.join(sb.torchEnv, 'bin'));
    }
  });

  test('falls back to the node name when Slurm has no NodeAddr for it', () => {
    const res = run(sb, stack, file, { STUB_NODE_ADDR: '', ...(needsTcpxo ? {} : { TCPXO_PROFILE: path.join(sb.root, 'absent.sh') }) });
    expect(res.status).toBe(0);
    expect(opt(srunArgs(sb), 'rdzv-endpoint')).toBe('node-0:29742');
  });

  test('outside sbatch, it says so and starts nothing', () => {
    const res = run(sb, stack, file, { SLURM_JOB_ID: undefined });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain('submit this script with sbatch');
    expect(srunCalled(sb)).toBe(false);
  });

  test('without a writable shared directory, it stops before srun and says what to do', () => {
    const res = run(sb, stack, file, { SHARED_DIR: '/proc/no-such-dir/tester' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('error: cannot create /proc/no-such-dir/tester/checkpoints/');
    expect(srunCalled(sb)).toBe(false);
  });

  test('without pytorch_ddp.py next to it, it stops before srun', () => {
    const empty = fs.mkdtempSync(path.join(sb.root, 'empty-'));
    const res = run(sb, stack, file, { DDP_SCRIPT_DIR: empty });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain(`${empty}/pytorch_ddp.py not found`);
    expect(srunCalled(sb)).toBe(false);
  });

  if (!isContainer(stack)) {
    test('without torchrun in the venv, it stops before srun and points at the README', () => {
      const res = run(sb, stack, file, { TORCH_ENV: path.join(sb.root, 'no-venv') });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain('no torchrun');
      expect(srunCalled(sb)).toBe(false);
    });
  }

  if (fabric.has('efa')) {
    test('on a node without the EFA profile, or without aws-ofi-nccl, it refuses to start', () => {
      const noProfile = run(sb, stack, file, { EFA_PROFILE: path.join(sb.root, 'absent.sh') });
      expect(noProfile.status).toBe(1);
      expect(noProfile.stderr).toContain('not a p5 node with EFA set up');
      fs.rmSync(path.join(sb.pluginDir, 'libnccl-net.so'));
      const noPlugin = run(sb, stack, file);
      expect(noPlugin.status).toBe(1);
      expect(noPlugin.stderr).toContain('no libnccl-net.so (aws-ofi-nccl) on LD_LIBRARY_PATH');
      expect(srunCalled(sb)).toBe(false);
    });
  }

  if (needsTcpxo) {
    test('on a node without the TCPXO profile, it refuses to start', () => {
      const res = run(sb, stack, file, { TCPXO_PROFILE: path.join(sb.root, 'absent.sh') });
      expect(res.status).toBe(1);
      expect(res.stderr).toContain('not an A3 Mega node with TCPXO set up');
      expect(srunCalled(sb)).toBe(false);
    });
  }
});

/** A Python that can import torch (Debian's python3-torch lives under /usr/bin/python3), if any. */
function pythonWithTorch(): string | undefined {
  return ['python3', '/usr/bin/python3']
    .map((py) => spawnSync('bash', ['-c', `command -v ${py}`], { encoding: 'utf8' }).stdout.trim())
    .find((py) => py !== '' && spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// The templates' job itself, on CPUs: srun plays one node, the stand-in torchrun starts that node's workers, and
// pytorch_ddp.py trains, checkpoints and resumes as written. GPU templates run it with --backend gloo, which the
// user's arguments may give because they come after the template's own.
describe('the DDP example, trained through the templates on CPUs', () => {
  const py = pythonWithTorch();
  const cases: [string, string, string[], number][] = [
    ['ceph-lab', 'pytorch-ddp.sbatch', [], 2],
    ['aws-gpu', 'pytorch-ddp.sbatch', ['--backend', 'gloo'], 4],
    ['hybrid-gpu', 'pytorch-ddp.sbatch', ['--backend', 'gloo'], 1],
  ];
  const small = ['--samples', '2048', '--batch-size', '32', '--features', '32', '--hidden', '64'];

  test.each(cases)('%s/%s: trains on one node, rank 0 checkpoints on the shared directory, DDP OK', async (stack, file, extra, world) => {
    if (!py) {
      console.warn('SKIPPED: no python3 with torch (apt-get install python3-torch); the templates were not run for real');
      return;
    }
    const sb = sandbox(stack, file);
    try {
      const env = { SLURM_JOB_NUM_NODES: '1', SLURM_JOB_NODELIST: 'node-0', STUB_HOSTS: 'node-0', STUB_NODE_ADDR: '127.0.0.1', STUB_SRUN_EXEC: '1', STUB_PYTHON: py, RDZV_PORT: String(await freePort()) };
      const res = run(sb, stack, file, env, [...extra, ...small, '--epochs', '2']);
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      const ckpt = path.join(sb.shared, 'checkpoints', 'pytorch-ddp', `ddp-${JOB_ID}.pt`);
      expect(res.stdout).toContain(`world size ${world} = 1 nodes x ${world} `);
      expect(res.stdout).toMatch(/^epoch 2\/2: loss [\d.]+/m);
      expect(res.stdout).toContain(`checkpoint written to ${ckpt}`);
      expect(res.stdout.trim().split('\n').pop()).toBe(`DDP OK world_size=${world}`);
      expect(fs.readdirSync(path.dirname(ckpt))).toEqual([`ddp-${JOB_ID}.pt`]);
    } finally {
      fs.rmSync(sb.root, { recursive: true, force: true });
    }
  }, 60000);

  test('a requeued job (same id) resumes after its last finished epoch; the loss keeps falling', async () => {
    if (!py) {
      console.warn('SKIPPED: no python3 with torch; the templates were not run for real');
      return;
    }
    const sb = sandbox('ceph-lab', 'large.sbatch');
    try {
      const env = { SLURM_JOB_NUM_NODES: '1', SLURM_JOB_NODELIST: 'node-0', STUB_HOSTS: 'node-0', STUB_NODE_ADDR: '127.0.0.1', STUB_SRUN_EXEC: '1', STUB_PYTHON: py };
      const losses = (out: string): number[] => [...out.matchAll(/^epoch \d\/\d: loss ([\d.]+)/gm)].map((m) => Number(m[1]));
      const first = run(sb, 'ceph-lab', 'large.sbatch', { ...env, RDZV_PORT: String(await freePort()) }, [...small, '--epochs', '2']);
      expect(first.status).toBe(0);
      const second = run(sb, 'ceph-lab', 'large.sbatch', { ...env, RDZV_PORT: String(await freePort()) }, [...small, '--epochs', '3']);
      expect(second.stderr).toBe('');
      expect(second.status).toBe(0);
      const ckpt = path.join(sb.shared, 'checkpoints', 'large', `ddp-${JOB_ID}.pt`);
      expect(second.stdout).toContain(`resumed from ${ckpt} after epoch 2`);
      expect(second.stdout).not.toMatch(/^epoch [12]\/3/m);
      expect(second.stdout).toMatch(/^epoch 3\/3: /m);
      expect(losses(second.stdout)[0]).toBeLessThan(losses(first.stdout)[0]);
      expect(second.stdout.trim().split('\n').pop()).toBe('DDP OK world_size=4');
    } finally {
      fs.rmSync(sb.root, { recursive: true, force: true });
    }
  }, 90000);

  test('--backend nccl on a machine without a GPU stops with the numbers to fix, not a CUDA trace', () => {
    if (!py) {
      console.warn('SKIPPED: no python3 with torch; pytorch_ddp.py was not run');
      return;
    }
    if (spawnSync(py, ['-c', 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)']).status === 0) {
      console.warn('SKIPPED: this machine has a GPU');
      return;
    }
    const r = spawnSync(py, [path.join(TEMPLATES, 'aws-gpu', 'pytorch_ddp.py')], {
      env: { PATH: process.env.PATH, LOCAL_RANK: '0', RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1' },
      encoding: 'utf8',
      timeout: 25000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^--backend nccl needs GPU 0 on .*, but CUDA sees 0 GPU\(s\) .*--gpus-per-node equal to torchrun's --nproc-per-node/);
  });
});
