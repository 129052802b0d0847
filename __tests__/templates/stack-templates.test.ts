/**
 * The small/medium/large job templates of every shipped stack, and the DDP example of the stacks that had none,
 * checked against the stack they are for. The facts (partitions, node counts, CPUs, memory, GPUs, mounts, fabric)
 * come from building the stack (stack-facts.ts), so resizing a pool or renaming a partition fails these tests
 * until the templates follow. gcp-a3mega's own pytorch-ddp.sbatch and nccl-tests are covered by gcp-a3mega.test.ts.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { codeLines, defaultOf, JobRequest, jobRequest, KNOWN_OPTIONS, readonlyValue, sbatchHeader } from './sbatch';
import { defaultMeshSharedMounts, NODE_PATHS, PartitionFacts, stackFacts } from './stack-facts';

const TEMPLATES = path.resolve(__dirname, '../../templates');
const SIZES = ['small', 'medium', 'large'] as const;
type Size = (typeof SIZES)[number];

interface Case {
  readonly stack: string;
  /** The sbatch files these tests own in templates/<stack>/. */
  readonly files: readonly string[];
  /** The README that documents them. */
  readonly readme: string;
  /** Jobs run in a pyxis container instead of a venv on shared storage. */
  readonly container: boolean;
}

const CASES: readonly Case[] = [
  { stack: 'aws-gpu', files: ['small.sbatch', 'medium.sbatch', 'large.sbatch', 'pytorch-ddp.sbatch'], readme: 'README.md', container: false },
  { stack: 'hybrid-gpu', files: ['small.sbatch', 'medium.sbatch', 'large.sbatch', 'pytorch-ddp.sbatch'], readme: 'README.md', container: false },
  { stack: 'ceph-lab', files: ['small.sbatch', 'medium.sbatch', 'large.sbatch', 'pytorch-ddp.sbatch'], readme: 'README.md', container: false },
  // Its README.md predates these three and is left as it was; README-sizes.md documents them.
  { stack: 'gcp-a3mega', files: ['small.sbatch', 'medium.sbatch', 'large.sbatch'], readme: 'README-sizes.md', container: true },
];

/**
 * Stacks whose nodes do not (yet) mount the file system their templates write to. The test stays, marked
 * failing: once the stack mounts it, jest reports the test as passing unexpectedly, and the entry goes.
 */
/** Stacks whose templates write to a file system the stack does not mount yet (none now; the marker stays for new stacks). */
const SHARED_FS_GAPS: Readonly<Record<string, string>> = {};

const haveShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
const python = spawnSync('python3', ['--version']).status === 0 ? 'python3' : undefined;
const read = (stack: string, file: string): string => fs.readFileSync(path.join(TEMPLATES, stack, file), 'utf8');
const within = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);

/** Strips `%u`-style patterns and shell variables after the first one: the fixed directory a path lies in. */
function fixedPrefix(p: string): string {
  const cut = p.search(/[%$]/);
  return cut < 0 ? p : p.slice(0, cut);
}

/** Mount points every pool of the partition mounts: the only places all of a job's nodes see. */
function sharedMounts(partition: PartitionFacts): string[] {
  const [first, ...rest] = partition.pools.map((p) => p.mounts);
  return (first ?? []).filter((m) => rest.every((ms) => ms.includes(m)));
}

const minOf = (partition: PartitionFacts, key: 'cpus' | 'gpus' | 'realMemoryMiB'): number => Math.min(...partition.pools.map((p) => p[key]));
const capacity = (partition: PartitionFacts): number => partition.pools.reduce((n, p) => n + p.maxNodes, 0);
const fabricOf = (partition: PartitionFacts): Set<string> => new Set(partition.pools.map((p) => p.fabric));

test('every shipped stack has job templates here (a new stack needs its own)', () => {
  expect(Object.keys(SHIPPED_STACKS).sort()).toEqual(CASES.map((c) => c.stack).sort());
});

test('shellcheck is installed (otherwise the lint tests below prove nothing)', () => {
  expect(haveShellcheck).toBe(true);
});

describe.each(CASES)('$stack templates', ({ stack, files, readme, container }) => {
  const dir = path.join(TEMPLATES, stack);
  const facts = stackFacts(stack);
  const requests = new Map<string, JobRequest>();
  for (const f of files) {
    if (fs.existsSync(path.join(dir, f))) requests.set(f, jobRequest(sbatchHeader(read(stack, f))));
  }
  const req = (f: string): JobRequest => {
    const r = requests.get(f);
    if (!r) throw new Error(`${stack}/${f} is missing`);
    return r;
  };
  const partitionOf = (f: string): PartitionFacts => {
    const p = facts.partitions.get(req(f).partition);
    if (!p) throw new Error(`${stack}/${f}: partition ${req(f).partition} is not one of ${[...facts.partitions.keys()].join(', ')}`);
    return p;
  };

  test('ships the templates, pytorch_ddp.py and the README', () => {
    for (const f of [...files, 'pytorch_ddp.py', readme]) expect(fs.existsSync(path.join(dir, f))).toBe(true);
    for (const f of files) expect(fs.statSync(path.join(dir, f)).mode & 0o111).not.toBe(0);
  });

  describe.each(files)('%s', (file) => {
    const text = fs.existsSync(path.join(dir, file)) ? read(stack, file) : '';
    const code = codeLines(text).join('\n');

    (haveShellcheck ? test : test.skip)('passes shellcheck -x --shell=bash', () => {
      const r = spawnSync('shellcheck', ['-x', '--shell=bash', file], { cwd: dir, encoding: 'utf8' });
      expect(r.stdout + r.stderr).toBe('');
      expect(r.status).toBe(0);
    });

    test('starts with #!/usr/bin/env bash; set -euo pipefail is the first command', () => {
      const lines = text.split('\n');
      expect(lines[0]).toBe('#!/usr/bin/env bash');
      expect(lines.find((l) => l.trim() !== '' && !l.trim().startsWith('#'))).toBe('set -euo pipefail');
    });

    test('set +u only around sourcing a profile that is not ours, set -u again right after', () => {
      const lines = codeLines(text).map((l) => l.trim());
      lines.forEach((l, i) => {
        if (l !== 'set +u') return;
        expect(lines[i + 1]).toMatch(/^source "\$\w+"$/);
        expect(lines[i + 2]).toBe('set -u');
      });
      expect(lines.filter((l) => l === 'set +u').length).toBe(lines.filter((l) => l === 'set -u').length);
    });

    test('#SBATCH options: known to sbatch, each given once, none below the first command', () => {
      const header = sbatchHeader(text);
      const names = header.options.map(([n]) => n);
      for (const n of names) expect(KNOWN_OPTIONS).toContain(n);
      expect(new Set(names).size).toBe(names.length);
      expect(header.ignored).toEqual([]);
      expect(req(file).jobName).toBe(file.replace(/\.sbatch$/, ''));
    });

    test('fits the stack: partition exists; nodes, GPUs, CPUs, memory and time within it', () => {
      const r = req(file);
      const p = partitionOf(file);
      expect(r.nodes).toBeLessThanOrEqual(capacity(p));
      expect(r.gpusPerNode).toBeLessThanOrEqual(minOf(p, 'gpus'));
      expect(r.ntasksPerNode * r.cpusPerTask).toBeLessThanOrEqual(minOf(p, 'cpus'));
      if (r.mem === 'node') expect(r.exclusive).toBe(true);
      else expect(r.mem).toBeLessThanOrEqual(minOf(p, 'realMemoryMiB'));
      expect(r.minutes).toBeLessThanOrEqual(p.maxTimeMinutes);
      // A GPU partition's jobs ask for GPUs; a CPU partition's cannot (Slurm would never start them).
      if (minOf(p, 'gpus') > 0) expect(r.gpusPerNode).toBeGreaterThan(0);
      else expect(r.gpusPerNode).toBe(0);
    });

    test('one torchrun per node, with one worker per GPU (or a share of the CPUs)', () => {
      const r = req(file);
      expect(r.ntasksPerNode).toBe(1);
      if (r.gpusPerNode > 0) {
        expect(readonlyValue(text, 'GPUS_PER_NODE')).toBe(String(r.gpusPerNode));
        expect(code).toContain('--nproc-per-node="$GPUS_PER_NODE"');
      } else {
        const procs = Number(readonlyValue(text, 'PROCS_PER_NODE'));
        expect(procs).toBeGreaterThanOrEqual(1);
        expect(procs).toBeLessThanOrEqual(r.cpusPerTask);
        expect(code).toContain('--nproc-per-node="$PROCS_PER_NODE"');
        expect(code).toMatch(/OMP_NUM_THREADS=\$\(\( \$\{SLURM_CPUS_PER_TASK:-\d+\} \/ PROCS_PER_NODE \)\)/);
      }
      expect(code).toContain('scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1');
      expect(code).toContain('--nnodes="$SLURM_JOB_NUM_NODES"');
      expect(code).toContain('--rdzv-backend=c10d');
      expect(code).toContain('--rdzv-endpoint="${master_addr}:${rdzv_port}"');
      expect(code).toMatch(/^srun --ntasks-per-node=1 --cpus-per-task="\$\{SLURM_CPUS_PER_TASK:-1\}" \\$/m);
    });

    test('passes pytorch_ddp.py only options it defines, and the backend the partition needs', () => {
      const py = read(stack, 'pytorch_ddp.py');
      const defined = [...py.matchAll(/add_argument\(\s*"(--[a-z-]+)"/g)].map((m) => m[1]);
      const passed = [...text.slice(text.indexOf('"$script"')).matchAll(/\s(--[a-z-]+)/g)].map((m) => m[1]);
      expect(passed).toContain('--checkpoint-dir');
      for (const flag of passed) expect(defined).toContain(flag);
      const wanted = minOf(partitionOf(file), 'gpus') > 0 ? 'nccl' : 'gloo';
      if (defined.includes('--backend')) expect(text).toContain(`"$script" --backend ${wanted} `);
      else expect(py).toContain(`init_process_group(backend="${wanted}")`);
    });

    const gap = SHARED_FS_GAPS[stack];
    (gap ? test.failing : test)(
      `output, checkpoints${container ? '' : ' and the torch venv'} are on a file system every node of the partition mounts${gap ? ` (known gap: ${gap})` : ''}`,
      () => {
        const r = req(file);
        const mounts = sharedMounts(partitionOf(file));
        const on = (p: string): boolean => mounts.some((m) => within(fixedPrefix(p), m));
        expect(on(r.output)).toBe(true);
        expect(on(defaultOf(text, 'shared_dir', 'SHARED_DIR')!)).toBe(true);
      },
    );

    test('writes to the shared directory, never to node-local /tmp', () => {
      const r = req(file);
      expect(r.output).toMatch(/^\/[^%$]+\/%u\/%x-%j\.out$/);
      const shared = defaultOf(text, 'shared_dir', 'SHARED_DIR');
      expect(shared).toMatch(/^\/[a-z/]+\/\$user$/);
      // The job's output and its data live under the same shared root, except on aws-gpu, where logs go to /home
      // and data to the Lustre scratch (both mounted everywhere; checked above).
      if (stack !== 'aws-gpu') expect(fixedPrefix(r.output)).toBe(fixedPrefix(shared!));
      expect(defaultOf(text, 'checkpoint_dir', 'CHECKPOINT_DIR')).toMatch(/^\$shared_dir\//);
      if (!container) expect(defaultOf(text, 'torch_env', 'TORCH_ENV')).toMatch(/^\$shared_dir\//);
      // (/var/tmp in the TCPXO container mounts is the plugin's scratch, not the job's output.)
      expect(code).not.toMatch(/(^|[\s"'=:,])\/tmp\b/m);
    });

    const fabric = (): Set<string> => fabricOf(partitionOf(file));

    test("uses the partition's fabric: EFA profile and FI_* on EFA pools, and only there", () => {
      if (fabric().has('efa')) {
        expect(defaultOf(text, 'efa_profile', 'EFA_PROFILE')).toBe(NODE_PATHS.efaProfile);
        expect(code).toMatch(/^source "\$efa_profile"$/m);
        expect(code).toMatch(/^export FI_PROVIDER=efa$/m);
        expect(code).toMatch(/^export FI_EFA_USE_DEVICE_RDMA=1$/m);
        // aws-ofi-nccl is what NCCL loads as its network plugin: the job refuses to start without it.
        expect(code).toContain('libnccl-net.so');
        const lines = text.split('\n');
        expect(lines.findIndex((l) => /^source "\$efa_profile"$/.test(l))).toBeLessThan(lines.findIndex((l) => /^srun /.test(l)));
      } else {
        expect(code).not.toMatch(/FI_PROVIDER|FI_EFA|efa_profile/);
      }
    });

    test('uses the partition\'s fabric: the TCPXO profile for multi-node A3 Mega jobs', () => {
      const lines = text.split('\n');
      const sourced = lines.findIndex((l) => /^source "\$profile"$/.test(l));
      if (fabric().has('tcpxo') && req(file).nodes > 1) {
        expect(defaultOf(text, 'profile', 'TCPXO_PROFILE')).toBe(NODE_PATHS.tcpxoProfile);
        expect(lines.findIndex((l) => /not an A3 Mega node with TCPXO set up/.test(l))).toBeGreaterThan(0);
        expect(sourced).toBeGreaterThan(0);
        expect(sourced).toBeLessThan(lines.findIndex((l) => /^srun /.test(l)));
        expect(code).toContain('--container-env="$container_env"');
      } else {
        // Inside one node NCCL uses NVLink: a single-node job must not need (or fail for want of) the profile.
        expect(sourced).toBe(-1);
        expect(code).not.toContain('TCPXO_PROFILE');
      }
    });

    test('uses the partition\'s fabric: NCCL over the mesh interface on mesh nodes', () => {
      if (fabric().has('mesh')) {
        expect(code).toContain(`export NCCL_SOCKET_IFNAME=\${NCCL_SOCKET_IFNAME:-${NODE_PATHS.meshInterface}}`);
      } else {
        expect(code).not.toContain('NCCL_SOCKET_IFNAME');
      }
    });

    if (container) {
      test('runs in the pinned NGC PyTorch image this stack\'s other templates use', () => {
        const pinned = readonlyValue(read(stack, 'pytorch-ddp.sbatch'), 'DEFAULT_IMAGE');
        expect(pinned).toMatch(/^nvcr\.io#nvidia\/pytorch:\d{2}\.\d{2}-py3$/);
        expect(readonlyValue(text, 'DEFAULT_IMAGE')).toBe(pinned);
        expect(code).toContain('--container-image="$image"');
        expect(code).toMatch(/--container-mounts="\$mounts"/);
      });
    } else {
      test('runs torchrun from the venv on shared storage, and says so when it is missing', () => {
        expect(code).toContain('PATH="$torch_env/bin:$PATH"');
        expect(code).toContain('command -v torchrun');
      });
    }
  });

  describe('sizes', () => {
    const total = (f: string): { gpus: number; cpus: number; nodes: number; minutes: number } => {
      const r = req(f);
      return { gpus: r.nodes * r.gpusPerNode, cpus: r.nodes * r.ntasksPerNode * r.cpusPerTask, nodes: r.nodes, minutes: r.minutes };
    };
    const size = (s: Size): string => `${s}.sbatch`;
    const gpuStack = (): boolean => minOf(partitionOf(size('small')), 'gpus') > 0;

    test('small: one GPU (a few CPUs on CPU nodes) on the default partition, shared, at most an hour', () => {
      const r = req(size('small'));
      const p = partitionOf(size('small'));
      expect(p.isDefault).toBe(true);
      expect(r.nodes).toBe(1);
      if (gpuStack()) expect(r.gpusPerNode).toBe(1);
      else expect(r.cpusPerTask).toBeLessThan(minOf(p, 'cpus'));
      expect(r.exclusive).toBe(false);
      expect(r.mem).not.toBe('node');
      expect(r.minutes).toBeLessThanOrEqual(60);
      expect(r.requeue).toBe(false);
    });

    test.each(['medium', 'large'] as const)('%s: whole nodes (every GPU, CPU and byte of memory), requeued on failure', (s) => {
      const r = req(size(s));
      const p = partitionOf(size(s));
      expect(r.exclusive).toBe(true);
      expect(r.mem).toBe('node');
      expect(r.gpusPerNode).toBe(minOf(p, 'gpus'));
      expect(r.ntasksPerNode * r.cpusPerTask).toBe(minOf(p, 'cpus'));
      expect(r.requeue).toBe(true);
      // A requeued job keeps its output file: append, don't truncate.
      expect(r.openMode).toBe('append');
    });

    test('medium is one node; large is several, no more than the partition has', () => {
      expect(req(size('medium')).nodes).toBe(1);
      expect(req(size('large')).nodes).toBeGreaterThan(1);
      expect(req(size('large')).nodes).toBeLessThanOrEqual(capacity(partitionOf(size('large'))));
    });

    test('small < medium < large: never less of anything, more of something', () => {
      for (const [a, b] of [['small', 'medium'], ['medium', 'large']] as const) {
        const [x, y] = [total(size(a)), total(size(b))];
        for (const k of ['gpus', 'cpus', 'nodes', 'minutes'] as const) expect(y[k]).toBeGreaterThanOrEqual(x[k]);
        expect(y.gpus > x.gpus || y.cpus > x.cpus).toBe(true);
        expect(y.minutes).toBeGreaterThan(x.minutes);
      }
    });

    if (files.includes('pytorch-ddp.sbatch')) {
      test('pytorch-ddp: several nodes (on GPU stacks whole ones, all their GPUs)', () => {
        const r = req('pytorch-ddp.sbatch');
        const p = partitionOf('pytorch-ddp.sbatch');
        expect(r.nodes).toBeGreaterThan(1);
        expect(r.nodes).toBeLessThanOrEqual(capacity(p));
        if (gpuStack()) {
          expect(r.gpusPerNode).toBe(minOf(p, 'gpus'));
          expect(r.exclusive).toBe(true);
        }
      });
    }
  });

  describe(readme, () => {
    const text = fs.existsSync(path.join(dir, readme)) ? read(stack, readme) : '';

    test('says how to submit each template and what each asks for', () => {
      for (const f of files) {
        expect(text).toContain(`sbatch ${f}`);
        const r = req(f);
        // The table row of the template names its partition and node count.
        const row = text.split('\n').find((l) => l.startsWith(`| \`${f}\``));
        expect(row).toBeDefined();
        expect(row).toContain(`\`${r.partition}\``);
        expect(row).toMatch(new RegExp(`\\b${r.nodes} nodes?\\b`));
        if (r.gpusPerNode > 0) expect(row).toMatch(new RegExp(`\\b${r.gpusPerNode} x `));
      }
    });

    test('names the shared directory the jobs write to', () => {
      const shared = fixedPrefix(defaultOf(read(stack, files[0]), 'shared_dir', 'SHARED_DIR')!).replace(/\/$/, '');
      expect(text).toContain(shared);
    });
  });
});

test('hybrid-gpu writes to /shared: where Docker nodes mount the controller\'s shared directory by default', () => {
  const mounts = defaultMeshSharedMounts();
  expect(mounts).toHaveLength(1);
  for (const f of ['small.sbatch', 'medium.sbatch', 'large.sbatch', 'pytorch-ddp.sbatch']) {
    const text = read('hybrid-gpu', f);
    expect(within(fixedPrefix(jobRequest(sbatchHeader(text)).output).replace(/\/$/, ''), mounts[0])).toBe(true);
    expect(within(fixedPrefix(defaultOf(text, 'shared_dir', 'SHARED_DIR')!).replace(/\/$/, ''), mounts[0])).toBe(true);
  }
});

describe('pytorch_ddp.py of aws-gpu, hybrid-gpu and ceph-lab', () => {
  const copies = ['aws-gpu', 'hybrid-gpu', 'ceph-lab'].map((s) => [s, read(s, 'pytorch_ddp.py')] as const);

  test('one program: the GPU stacks\' copies are identical; ceph-lab\'s differs only in defaulting to gloo', () => {
    const [[, aws], [, hybrid], [, ceph]] = copies;
    expect(hybrid).toBe(aws);
    const backendDefault = (py: string): string | undefined => /"--backend",\n\s+choices=\["nccl", "gloo"\],\n\s+default="(\w+)"/.exec(py)?.[1];
    expect(backendDefault(aws)).toBe('nccl');
    expect(backendDefault(ceph)).toBe('gloo');
    expect(ceph.replace('default="gloo"', 'default="nccl"')).toBe(aws);
  });

  test.each(copies)('%s: compiles (python3 -m py_compile)', (_stack, py) => {
    if (!python) {
      console.warn('SKIPPED: no python3 on PATH, pytorch_ddp.py was not compiled');
      return;
    }
    // Compile a copy: py_compile would drop a __pycache__ into the shipped template folder.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ddp-compile-'));
    try {
      fs.writeFileSync(path.join(tmp, 'pytorch_ddp.py'), py);
      const r = spawnSync(python, ['-m', 'py_compile', path.join(tmp, 'pytorch_ddp.py')], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('DDP with the chosen backend, a DistributedSampler reshuffled per epoch, rank-0 checkpoints, resume, DDP OK', () => {
    const py = copies[0][1];
    expect(py).toMatch(/dist\.init_process_group\(backend=args\.backend\)/);
    expect(py).toMatch(/DistributedSampler\(/);
    expect(py).toMatch(/sampler\.set_epoch\(epoch\)/);
    expect(py).toMatch(/DDP\(model, device_ids=/);
    expect(py).toMatch(/if rank == 0:\n(?:.*\n){0,12}.*torch\.save\(/);
    expect(py).toMatch(/os\.replace\(partial, path\)/);
    expect(py).toMatch(/torch\.load\(path, map_location=device\)/);
    expect(py).toMatch(/print\(f"DDP OK world_size=\{world_size\}"/);
  });
});
