import { spawn, spawnSync, type SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const DIR = path.resolve(__dirname, '../../templates/gcp-a3mega');
const read = (name: string): string => fs.readFileSync(path.join(DIR, name), 'utf8');
const SHELL_FILES = ['build-nccl-tests.sh', 'run-nccl-tests.sbatch', 'pytorch-ddp.sbatch'];
const haveShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

/** The `#SBATCH` options sbatch reads: those before the first command line. */
function sbatchOptions(text: string): Map<string, string | true> {
  const opts = new Map<string, string | true>();
  for (const line of text.split('\n').slice(1)) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('#')) break;
    const m = /^#SBATCH\s+--([a-z-]+)(?:[= ](\S+))?\s*$/.exec(t);
    if (m) opts.set(m[1], m[2] ?? true);
  }
  return opts;
}

/** Shell variable assignments `NAME=value` / `readonly NAME=value` at the start of a line, quotes removed. */
function assignment(text: string, name: string): string | undefined {
  const m = new RegExp(`^(?:readonly\\s+)?${name}=(.*)$`, 'm').exec(text);
  return m ? m[1].trim().replace(/^'(.*)'$|^"(.*)"$/, '$1$2') : undefined;
}

/** Bytes for nccl-tests size arguments (K/M/G are powers of 1024). */
function bytes(size: string): number {
  const m = /^(\d+)([KMG]?)$/.exec(size);
  if (!m) throw new Error(`not an nccl-tests size: ${size}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2] as '' | 'K' | 'M' | 'G'];
}

describe('gcp-a3mega templates: files and shell hygiene', () => {
  test('ships the scripts, the Python job and a README', () => {
    for (const f of [...SHELL_FILES, 'pytorch_ddp.py', 'README.md']) expect(fs.existsSync(path.join(DIR, f))).toBe(true);
  });

  test('shellcheck is installed (otherwise the lint tests below prove nothing)', () => {
    expect(haveShellcheck).toBe(true);
  });

  describe.each(SHELL_FILES)('%s', (file) => {
    const text = read(file);

    (haveShellcheck ? test : test.skip)('passes shellcheck -x --shell=bash', () => {
      const r = spawnSync('shellcheck', ['-x', '--shell=bash', file], { cwd: DIR, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });

    test('starts with #!/usr/bin/env bash and runs under set -euo pipefail before any command', () => {
      const lines = text.split('\n');
      expect(lines[0]).toBe('#!/usr/bin/env bash');
      expect(lines.find((l) => l.trim() !== '' && !l.trim().startsWith('#'))).toBe('set -euo pipefail');
    });

    test('pins its versions: no latest, no master', () => {
      const code = text
        .split('\n')
        .filter((l) => !l.trim().startsWith('#'))
        .join('\n');
      expect(code).not.toMatch(/\blatest\b/i);
      expect(code).not.toMatch(/\bmaster\b/);
    });
  });
});

describe('pins agree across the files', () => {
  const images = SHELL_FILES.map((f) => assignment(read(f), 'DEFAULT_IMAGE'));

  test('one pinned NGC PyTorch image for the build and both jobs', () => {
    for (const img of images) expect(img).toMatch(/^nvcr\.io#nvidia\/pytorch:\d{2}\.\d{2}-py3$/);
    expect(new Set(images).size).toBe(1);
    expect(read('README.md')).toContain(images[0]);
  });

  test('the run looks for binaries built at the tag the build pins, a release tag', () => {
    const built = assignment(read('build-nccl-tests.sh'), 'NCCL_TESTS_TAG');
    expect(built).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(assignment(read('run-nccl-tests.sbatch'), 'NCCL_TESTS_TAG')).toBe(built);
    expect(read('build-nccl-tests.sh')).toMatch(/--branch "\$tag"/);
    expect(read('README.md')).toContain(built!);
  });
});

describe('sbatch headers', () => {
  test.each(['run-nccl-tests.sbatch', 'pytorch-ddp.sbatch'])('%s: 2 exclusive a3mega nodes with 8 GPUs each', (file) => {
    const o = sbatchOptions(read(file));
    expect(o.get('nodes')).toBe('2');
    expect(o.get('gpus-per-node')).toBe('8');
    expect(o.get('partition')).toBe('a3mega');
    expect(o.get('exclusive')).toBe(true);
    // sbatch stops reading directives at the first command: none may hide below it.
    const afterFirstCommand = read(file).split('set -euo pipefail')[1];
    expect(afterFirstCommand).not.toMatch(/^#SBATCH/m);
  });

  test('nccl-tests: one rank per GPU', () => {
    expect(sbatchOptions(read('run-nccl-tests.sbatch')).get('ntasks-per-node')).toBe('8');
  });

  test('DDP: one torchrun per node', () => {
    expect(sbatchOptions(read('pytorch-ddp.sbatch')).get('ntasks-per-node')).toBe('1');
  });
});

describe('run-nccl-tests.sbatch content', () => {
  const text = read('run-nccl-tests.sbatch');

  test('all_gather_perf sweeps 8 MiB to 8 GiB, doubling, one GPU per rank', () => {
    const line = text.split('\n').find((l) => l.includes('all_gather_perf" '))!;
    const arg = (flag: string): string => new RegExp(`\\s${flag}\\s+(\\S+)`).exec(line)![1];
    expect(bytes(arg('-b'))).toBe(8 * 2 ** 20);
    expect(bytes(arg('-e'))).toBe(8 * 2 ** 30);
    expect(arg('-f')).toBe('2');
    expect(arg('-g')).toBe('1');
    expect(Math.log2(bytes(arg('-e')) / bytes(arg('-b'))) + 1).toBe(11);
  });

  test('states the reference result in a comment', () => {
    expect(text).toMatch(/^#.*2 nodes.*188\.7 GB\/s at 8 GiB/m);
  });

  test.each(['run-nccl-tests.sbatch', 'pytorch-ddp.sbatch'])('%s: checks for, then sources the TCPXO profile before srun', (file) => {
    const lines = read(file).split('\n');
    const at = (re: RegExp): number => lines.findIndex((l) => re.test(l));
    expect(assignment(read(file), 'profile')).toBe('${TCPXO_PROFILE:-/etc/profile.d/nccl-tcpxo.sh}');
    const check = at(/not an A3 Mega node with TCPXO set up/);
    const source = at(/^source "\$profile"$/);
    const srun = at(/^srun /);
    expect(check).toBeGreaterThan(0);
    expect(source).toBeGreaterThan(check);
    expect(srun).toBeGreaterThan(source);
  });
});

describe('pytorch-ddp.sbatch content', () => {
  const text = read('pytorch-ddp.sbatch');

  test('rendezvous on the first host of the job, port 29500', () => {
    expect(text).toContain('scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1');
    expect(assignment(text, 'MASTER_PORT')).toBe('29500');
    expect(assignment(text, 'GPUS_PER_NODE')).toBe('8');
  });

  test('torchrun arguments: c10d rendezvous, 8 workers per node, endpoint on the first host', () => {
    const torchrun = text.slice(text.indexOf('  torchrun \\'));
    expect(torchrun).toContain('--rdzv-backend=c10d');
    expect(torchrun).toContain('--nproc-per-node="$GPUS_PER_NODE"');
    expect(torchrun).toContain('--rdzv-endpoint="${master_addr}:${MASTER_PORT}"');
    expect(torchrun).toContain('--nnodes="$SLURM_NNODES"');
  });

  test('passes pytorch_ddp.py only options it defines', () => {
    const defined = [...read('pytorch_ddp.py').matchAll(/add_argument\(\s*"(--[a-z-]+)"/g)].map((m) => m[1]);
    const passed = [...text.slice(text.indexOf('"$script"')).matchAll(/\s(--[a-z-]+)/g)].map((m) => m[1]);
    expect(passed.length).toBeGreaterThan(0);
    for (const flag of passed) expect(defined).toContain(flag);
  });
});

describe('pytorch_ddp.py', () => {
  const py = read('pytorch_ddp.py');
  const python = spawnSync('python3', ['--version']).status === 0 ? 'python3' : undefined;

  test('compiles (python3 -m py_compile)', () => {
    if (!python) {
      console.warn('SKIPPED: no python3 on PATH, pytorch_ddp.py was not compiled');
      return;
    }
    // Compile a copy: py_compile would drop a __pycache__ into the shipped template folder.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-compile-'));
    try {
      fs.copyFileSync(path.join(DIR, 'pytorch_ddp.py'), path.join(tmp, 'pytorch_ddp.py'));
      const r = spawnSync(python, ['-m', 'py_compile', path.join(tmp, 'pytorch_ddp.py')], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('uses NCCL, a DistributedSampler reshuffled per epoch, DDP, and a rank-0 checkpoint', () => {
    expect(py).toMatch(/init_process_group\(backend="nccl"\)/);
    expect(py).toMatch(/DistributedSampler\(/);
    expect(py).toMatch(/sampler\.set_epoch\(epoch\)/);
    expect(py).toMatch(/DDP\(/);
    expect(py).toMatch(/if rank == 0:\n(?:.*\n){0,3}.*torch\.save\(/);
  });
});

/** A Python that can import torch (Debian's python3-torch lives under /usr/bin/python3), if any. */
function pythonWithTorch(): string | undefined {
  return ['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0);
}

// The job itself, on CPUs: gloo stands in for NCCL and the CPU for the GPU, everything else (sampler,
// DDP, the per-epoch all-reduce, the rank-0 checkpoint) runs as written.
const CPU_HARNESS = `
import runpy, sys
import torch, torch.distributed as dist, torch.nn.parallel
_init, _barrier, _DDP, _device = dist.init_process_group, dist.barrier, torch.nn.parallel.DistributedDataParallel, torch.device
dist.init_process_group = lambda backend=None, **kw: _init(backend="gloo", **kw)
dist.barrier = lambda device_ids=None, **kw: _barrier(**kw)
torch.nn.parallel.DistributedDataParallel = lambda module, device_ids=None, **kw: _DDP(module, **kw)
torch.cuda.set_device = lambda index: None
torch.device = lambda *args, **kw: _device("cpu")
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
`;

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

async function runRanks(py: string, dir: string, args: string[]): Promise<{ code: number | null; out: string }[]> {
  const harness = path.join(dir, 'harness.py');
  fs.writeFileSync(harness, CPU_HARNESS);
  const port = await freePort();
  return Promise.all(
    [0, 1].map(
      (rank) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const env = { PATH: process.env.PATH, MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), RANK: String(rank), LOCAL_RANK: String(rank), WORLD_SIZE: '2', LOCAL_WORLD_SIZE: '1', SLURM_JOB_ID: '77' };
          const child = spawn(py, [harness, path.join(DIR, 'pytorch_ddp.py'), ...args], { env, cwd: dir });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (out += d));
          const timer = setTimeout(() => child.kill('SIGKILL'), 25000);
          child.on('close', (code) => {
            clearTimeout(timer);
            resolve({ code, out });
          });
        }),
    ),
  );
}

describe('pytorch_ddp.py, run on CPUs with two ranks', () => {
  const py = pythonWithTorch();
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-run-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('trains (the loss falls), and rank 0 alone writes the checkpoint', async () => {
    if (!py) {
      console.warn('SKIPPED: no python3 with torch (apt-get install python3-torch); pytorch_ddp.py was not run');
      return;
    }
    const ckpt = path.join(dir, 'ckpt');
    const [r0, r1] = await runRanks(py, dir, ['--epochs', '3', '--samples', '1024', '--batch-size', '32', '--hidden', '64', '--features', '32', '--checkpoint-dir', ckpt]);
    expect([r0.code, r1.code]).toEqual([0, 0]);
    expect(r0.out).toContain('world size 2 = 2 nodes x 1 GPUs, 16 steps per epoch');
    const losses = [...r0.out.matchAll(/^epoch \d\/3: loss ([\d.]+)/gm)].map((m) => Number(m[1]));
    expect(losses).toHaveLength(3);
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(r0.out).toContain(`checkpoint written to ${path.join(ckpt, 'ddp-77.pt')}`);
    expect(r1.out).not.toMatch(/epoch|checkpoint/);
    expect(fs.readdirSync(ckpt)).toEqual(['ddp-77.pt']);
    const keys = spawnSync(py, ['-c', 'import sys, torch; c = torch.load(sys.argv[1]); print(sorted(c), c["world_size"], c["epoch"])', path.join(ckpt, 'ddp-77.pt')], { encoding: 'utf8' });
    expect(keys.stdout.trim()).toBe("['args', 'epoch', 'model', 'optimizer', 'world_size'] 2 3");
  });

  test('a dataset too small for one step per rank stops with the numbers to fix', async () => {
    if (!py) {
      console.warn('SKIPPED: no python3 with torch; pytorch_ddp.py was not run');
      return;
    }
    const results = await runRanks(py, dir, ['--samples', '16', '--batch-size', '32', '--checkpoint-dir', path.join(dir, 'ckpt')]);
    for (const r of results) {
      expect(r.code).toBe(1);
      expect(r.out).toContain('--samples 16 is too small for 2 ranks x --batch-size 32: give at least 64 samples');
    }
  });
});

// ---- Running the scripts against stand-ins for srun/scontrol/git/make (never the real Slurm). ----

interface Sandbox {
  root: string;
  stubs: string;
  env: NodeJS.ProcessEnv;
}

function sandbox(): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'a3mega-templates-'));
  const stubs = path.join(root, 'bin');
  fs.mkdirSync(stubs);
  const stub = (name: string, body: string): void => {
    fs.writeFileSync(path.join(stubs, name), `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`, { mode: 0o755 });
  };
  // srun: record its arguments (NUL-separated) and the NCCL_* environment it was started with.
  stub(
    'srun',
    [
      'printf "%s\\0" "$@" > "$STUB_DIR/srun.args"',
      'env | grep "^NCCL_" | sort > "$STUB_DIR/srun.env" || true',
      // For the build: play the container by running the command after the srun options.
      'if [[ ${STUB_SRUN_EXEC:-0} == 1 ]]; then while [[ $1 == --* ]]; do shift; done; exec "$@"; fi',
      // For the benchmark: what rank 0 of all_gather_perf prints for the biggest size.
      'echo "  8589934592     134217728     float    none      -1    45512  188.74  176.94    N/A   45467  188.93  177.12    N/A"',
    ].join('\n'),
  );
  stub('scontrol', '[[ $1 == show && $2 == hostnames ]] && printf "a3mega-7\\na3mega-8\\n"');
  stub('git', 'tree=${!#}; mkdir -p "$tree"; printf "%s\\n" "$*" > "$STUB_DIR/git.args"');
  stub('make', 'printf "%s\\n" "$@" > "$STUB_DIR/make.args"; mkdir -p "$2/build"; printf "#!/bin/sh\\n" > "$2/build/all_gather_perf"; chmod +x "$2/build/all_gather_perf"');
  stub('mpicc', 'exit 0');
  fs.writeFileSync(
    path.join(root, 'nccl-tcpxo.sh'),
    [
      'export NCCL_FASTRAK_CTRL_DEV=enp0s12',
      'export NCCL_FASTRAK_IFNAME=enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0',
      'export NCCL_SOCKET_IFNAME=enp0s12',
      'export NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY=/dev/aperture_devices',
      'export NCCL_DEBUG=WARN',
      // A profile that reads an unset variable must not kill a job running under set -u.
      ': "$SOME_UNSET_VARIABLE"',
    ].join('\n') + '\n',
  );
  const env: NodeJS.ProcessEnv = {
    PATH: `${stubs}:/usr/bin:/bin`,
    HOME: root,
    STUB_DIR: root,
    // Should anything reach a real Slurm client, it has no cluster to talk to.
    SLURM_CONF: path.join(root, 'no-slurm.conf'),
    NCCL_TESTS_DIR: path.join(root, 'nccl'),
    TCPXO_PROFILE: path.join(root, 'nccl-tcpxo.sh'),
    SLURM_JOB_ID: '4242',
    SLURM_NNODES: '2',
    SLURM_JOB_NODELIST: 'a3mega-[7-8]',
    SLURM_CPUS_ON_NODE: '208',
    SLURM_SUBMIT_DIR: DIR,
  };
  return { root, stubs, env };
}

function run(sb: Sandbox, file: string, extraEnv: NodeJS.ProcessEnv = {}, args: string[] = []): SpawnSyncReturns<string> {
  return spawnSync('bash', [path.join(DIR, file), ...args], { cwd: sb.root, env: { ...sb.env, ...extraEnv }, encoding: 'utf8', timeout: 20000 });
}

const srunArgs = (sb: Sandbox): string[] => fs.readFileSync(path.join(sb.root, 'srun.args'), 'utf8').split('\0').slice(0, -1);
const srunCalled = (sb: Sandbox): boolean => fs.existsSync(path.join(sb.root, 'srun.args'));
const opt = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

describe('build-nccl-tests.sh, run', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox();
  });
  afterEach(() => fs.rmSync(sb.root, { recursive: true, force: true }));

  const tag = assignment(read('build-nccl-tests.sh'), 'NCCL_TESTS_TAG')!;
  const image = assignment(read('build-nccl-tests.sh'), 'DEFAULT_IMAGE')!;

  test('builds in the pinned container into NCCL_TESTS_DIR, at the pinned tag, with MPI, then skips a built tree', () => {
    const first = run(sb, 'build-nccl-tests.sh', { STUB_SRUN_EXEC: '1' });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const args = srunArgs(sb);
    const nccl = path.join(sb.root, 'nccl');
    const tree = path.join(nccl, `nccl-tests-${tag}`);
    expect(opt(args, 'container-image')).toBe(image);
    expect(opt(args, 'container-mounts')).toBe(`${nccl}:${nccl}`);
    expect(opt(args, 'partition')).toBe('a3mega');
    expect(fs.readFileSync(path.join(sb.root, 'git.args'), 'utf8')).toContain(`--branch ${tag} https://github.com/NVIDIA/nccl-tests.git ${tree}`);
    const make = fs.readFileSync(path.join(sb.root, 'make.args'), 'utf8').split('\n');
    expect(make).toEqual(expect.arrayContaining(['-C', tree, 'MPI=1', `MPI_HOME=${sb.root}`, 'NVCC_GENCODE=-gencode=arch=compute_90,code=sm_90']));
    expect(fs.readFileSync(path.join(tree, '.built'), 'utf8')).toBe(`${tag} ${image}\n`);

    fs.rmSync(path.join(sb.root, 'srun.args'));
    const second = run(sb, 'build-nccl-tests.sh', { STUB_SRUN_EXEC: '1' });
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`nccl-tests ${tag} is already built in ${tree}`);
    expect(srunCalled(sb)).toBe(false);

    // Another image is another build: the stamp records both.
    const third = run(sb, 'build-nccl-tests.sh', { STUB_SRUN_EXEC: '1', CONTAINER_IMAGE: '/shared/pytorch-24.04-py3.sqsh' });
    expect(third.status).toBe(0);
    expect(opt(srunArgs(sb), 'container-image')).toBe('/shared/pytorch-24.04-py3.sqsh');
  });

  test('a half-built tree (no stamp) is removed and built again', () => {
    const tree = path.join(sb.root, 'nccl', `nccl-tests-${tag}`);
    fs.mkdirSync(path.join(tree, 'build'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'leftover.o'), '');
    const r = run(sb, 'build-nccl-tests.sh', { STUB_SRUN_EXEC: '1' });
    expect(r.status).toBe(0);
    expect(srunCalled(sb)).toBe(true);
    expect(fs.existsSync(path.join(tree, 'leftover.o'))).toBe(false);
  });

  test('a build that produced no binary fails loudly', () => {
    const r = run(sb, 'build-nccl-tests.sh'); // srun stub does not execute anything
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/all_gather_perf is missing/);
  });
});

describe('run-nccl-tests.sbatch, run', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox();
  });
  afterEach(() => fs.rmSync(sb.root, { recursive: true, force: true }));
  const tag = assignment(read('run-nccl-tests.sbatch'), 'NCCL_TESTS_TAG')!;
  const buildTree = (): string => {
    const bin = path.join(sb.root, 'nccl', `nccl-tests-${tag}`, 'build');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'all_gather_perf'), '#!/bin/sh\n', { mode: 0o755 });
    return bin;
  };

  test('without the TCPXO profile it stops before srun and says why', () => {
    buildTree();
    const r = run(sb, 'run-nccl-tests.sbatch', { TCPXO_PROFILE: path.join(sb.root, 'absent.sh') });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('absent.sh is missing');
    expect(r.stderr).toContain('not an A3 Mega node with TCPXO set up');
    expect(srunCalled(sb)).toBe(false);
  });

  test('without built binaries it says to build first', () => {
    const r = run(sb, 'run-nccl-tests.sbatch');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("run 'bash build-nccl-tests.sh' on the login node first");
    expect(srunCalled(sb)).toBe(false);
  });

  test('runs all_gather_perf in the container with the TCPXO mounts and the profile environment', () => {
    const bin = buildTree();
    const r = run(sb, 'run-nccl-tests.sbatch');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const args = srunArgs(sb);
    expect(opt(args, 'mpi')).toBe('pmi2');
    expect(opt(args, 'cpus-per-task')).toBe('26');
    expect(opt(args, 'container-image')).toBe(assignment(read('run-nccl-tests.sbatch'), 'DEFAULT_IMAGE'));
    const mounts = opt(args, 'container-mounts')!.split(',');
    expect(mounts).toEqual(
      expect.arrayContaining(['/var/lib/tcpxo/lib64:/var/lib/tcpxo/lib64', '/dev/aperture_devices:/dev/aperture_devices', `${path.join(sb.root, 'nccl')}:${path.join(sb.root, 'nccl')}`]),
    );
    // Sourced before srun: srun was started with the profile's variables, and pyxis is told to keep them.
    const env = fs.readFileSync(path.join(sb.root, 'srun.env'), 'utf8');
    expect(env).toContain('NCCL_FASTRAK_IFNAME=enp6s0,enp7s0,enp13s0,enp14s0,enp134s0,enp135s0,enp141s0,enp142s0');
    expect(opt(args, 'container-env')!.split(',').sort()).toEqual(
      ['NCCL_DEBUG', 'NCCL_FASTRAK_CTRL_DEV', 'NCCL_FASTRAK_IFNAME', 'NCCL_FASTRAK_LLCM_DEVICE_DIRECTORY', 'NCCL_SOCKET_IFNAME'].sort(),
    );
    expect(env).toContain('NCCL_DEBUG=WARN');
    // The command inside the container: plugin first on LD_LIBRARY_PATH, then the benchmark.
    const cmd = args.slice(args.indexOf('bash'));
    expect(cmd[1]).toBe('-c');
    expect(cmd[2]).toMatch(/^export LD_LIBRARY_PATH="\$1:\$\{LD_LIBRARY_PATH:-\}"; exec "\$2\/all_gather_perf" -b 8M -e 8G -f 2 -g 1/);
    expect(cmd.slice(3)).toEqual(['all-gather', '/var/lib/tcpxo/lib64', bin]);
    // The summary line compares the 8 GiB busbw with the reference.
    expect(r.stdout).toContain('all_gather busbw at 8 GiB: 176.94 GB/s (reference for 2 A3 Mega nodes: about 188.7 GB/s)');
    expect(fs.existsSync(path.join(sb.root, 'nccl-all-gather-4242.log'))).toBe(true);
  });
});

describe('pytorch-ddp.sbatch, run', () => {
  let sb: Sandbox;
  beforeEach(() => {
    sb = sandbox();
  });
  afterEach(() => fs.rmSync(sb.root, { recursive: true, force: true }));

  test('starts torchrun in the container with a c10d rendezvous on the first host', () => {
    const ckpt = path.join(sb.root, 'ckpt');
    const r = run(sb, 'pytorch-ddp.sbatch', { CHECKPOINT_DIR: ckpt }, ['--epochs', '5']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('rendezvous a3mega-7:29500, 2 nodes x 8 GPUs');
    const args = srunArgs(sb);
    expect(opt(args, 'ntasks-per-node')).toBe('1');
    expect(opt(args, 'cpus-per-task')).toBe('208');
    expect(opt(args, 'container-mounts')!.split(',')).toEqual(
      expect.arrayContaining(['/dev/aperture_devices:/dev/aperture_devices', '/var/lib/tcpxo/lib64:/var/lib/tcpxo/lib64', `${DIR}:${DIR}`, `${ckpt}:${ckpt}`]),
    );
    expect(opt(args, 'container-env')!.split(',')).toEqual(expect.arrayContaining(['NCCL_FASTRAK_IFNAME', 'NCCL_SOCKET_IFNAME']));
    const torchrun = args.slice(args.indexOf('torchrun'));
    expect(torchrun).toEqual([
      'torchrun',
      '--nnodes=2',
      '--nproc-per-node=8',
      '--rdzv-backend=c10d',
      '--rdzv-endpoint=a3mega-7:29500',
      '--rdzv-id=4242',
      '--max-restarts=0',
      path.join(DIR, 'pytorch_ddp.py'),
      '--checkpoint-dir',
      ckpt,
      '--epochs',
      '5',
    ]);
    expect(fs.existsSync(ckpt)).toBe(true);
  });

  test('NCCL_DEBUG given at submit time wins over the profile', () => {
    const r = run(sb, 'pytorch-ddp.sbatch', { CHECKPOINT_DIR: path.join(sb.root, 'ckpt'), NCCL_DEBUG: 'INFO' });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(sb.root, 'srun.env'), 'utf8')).toContain('NCCL_DEBUG=INFO\n');
  });

  test('without the TCPXO profile it stops before srun', () => {
    const r = run(sb, 'pytorch-ddp.sbatch', { TCPXO_PROFILE: '/nonexistent/nccl-tcpxo.sh' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not an A3 Mega node with TCPXO set up');
    expect(srunCalled(sb)).toBe(false);
  });

  test('outside sbatch it says to submit with sbatch', () => {
    const r = run(sb, 'pytorch-ddp.sbatch', { SLURM_JOB_NODELIST: '' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/SLURM_JOB_NODELIST: is not set: submit this script with sbatch/);
    expect(srunCalled(sb)).toBe(false);
  });
});
