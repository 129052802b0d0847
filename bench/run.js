'use strict';
// `npm run bench` (issue #8): synth time and memory of every shipped stack against its floor, user-data size per
// node role, and a scale series of one GPU pool at 8…4096 nodes. Writes bench/results.json and bench/results.md.
// Flags: --runs N (default 5, at least 5 for the shipped stacks), --scale-runs N (default: --runs),
//        --jest (also time one `npx jest --silent`; off by default, it is slow).
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { CHILD_ENV, makeTempDir, removeDir, runChild, summarise } = require('./measure');
const { findSlurmConf, providerModules, userDataByRole } = require('./inspect');
const { evaluateTargets, ratio, toMarkdown } = require('./report');

const ROOT = path.resolve(__dirname, '..');
const CHILD_FILES = ['synth-child.js', 'floor-child.js', 'scale-stacks.js'];
const SCALE_NODES = [8, 64, 512, 4096];
const SCALE_POOLS = { aws: 'g5.12xlarge, maxCount: N', gcp: 'a2-highgpu-1g, count: N' };
const MIN_RUNS = 5;

function parseArgs(argv) {
  const opts = { runs: MIN_RUNS, scaleRuns: undefined, jest: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--jest') opts.jest = true;
    else if (a === '--runs' || a === '--scale-runs') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a whole number ≥ 1, got ${argv[i]}`);
      opts[a === '--runs' ? 'runs' : 'scaleRuns'] = n;
    } else throw new Error(`unknown argument ${a} (use --runs N, --scale-runs N, --jest)`);
  }
  return opts;
}

/**
 * A private copy of the compiled package that every child loads. `dist/` may be rebuilt by someone else while the
 * bench runs (seen: a child failing on a half-written dist), and one bench must measure one build throughout.
 * node_modules is linked, not copied; removing the copy removes only the link.
 */
function snapshotPackage() {
  const pkg = makeTempDir('pkg');
  for (const entry of ['package.json', 'dist', 'bootstrap-scripts']) {
    fs.cpSync(path.join(ROOT, entry), path.join(pkg, entry), { recursive: true });
  }
  fs.mkdirSync(path.join(pkg, 'bench'));
  for (const f of CHILD_FILES) fs.copyFileSync(path.join(__dirname, f), path.join(pkg, 'bench', f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  return { pkg, synthChild: path.join(pkg, 'bench', 'synth-child.js'), floorChild: path.join(pkg, 'bench', 'floor-child.js') };
}

/** The synthesized JSON of one child run, read before its temporary outdir is removed. */
function readStackJson(outdir) {
  const stacksDir = path.join(outdir, 'stacks');
  const [name] = fs.readdirSync(stacksDir);
  const file = path.join(stacksDir, name, 'cdk.tf.json');
  return { bytes: fs.statSync(file).size, json: JSON.parse(fs.readFileSync(file, 'utf8')) };
}

/** One synth child in its own temporary outdir; `inspect` (first run only) reads what it wrote. */
function synthOnce(ctx, args, inspect) {
  const outdir = makeTempDir('synth');
  try {
    const run = runChild(ctx.synthChild, [outdir, ...args]);
    if (run.ok) {
      const out = readStackJson(outdir);
      run.cdkTfJsonBytes = out.bytes;
      if (inspect) run.inspected = inspect(out.json);
    }
    return run;
  } finally {
    removeDir(outdir);
  }
}

function floorOnce(ctx, modules) {
  const outdir = makeTempDir('floor');
  try {
    return runChild(ctx.floorChild, [outdir, ...modules]);
  } finally {
    removeDir(outdir);
  }
}

/** What the bench reports about a stack's output, from its first run. */
function inspectStack(ctx, tf) {
  const userData = userDataByRole(tf);
  const { modules, unmapped } = providerModules(tf, ctx.pkg);
  return {
    userData: userData.map(({ text, ...row }) => row),
    slurmConf: findSlurmConf(tf, userData),
    floorModules: modules,
    unmappedTypes: unmapped,
  };
}

/** A shipped stack and its floor, interleaved run by run so load from elsewhere hits both alike. */
function benchShippedStack(ctx, name, runs, log) {
  const synthRuns = [];
  const floorRuns = [];
  let inspected;
  for (let i = 0; i < runs; i++) {
    const run = synthOnce(ctx, ['shipped', name], i === 0 ? (tf) => inspectStack(ctx, tf) : undefined);
    synthRuns.push(run);
    if (!run.ok) break;
    if (i === 0) inspected = run.inspected;
    floorRuns.push(floorOnce(ctx, inspected.floorModules));
  }
  const synth = summarise(synthRuns);
  const floor = summarise(floorRuns);
  const first = synthRuns[0];
  const sizes = new Set(synthRuns.filter((r) => r.ok).map((r) => r.cdkTfJsonBytes));
  log(`  ${name}: ${synth.ok ? `synth ${synth.medianMs} ms` : `failed: ${synth.error}`}, floor ${floor.medianMs ?? '–'} ms`);
  return {
    synth,
    floor,
    ratio: synth.ok && floor.ok
      ? { time: ratio(synth.medianMs, floor.medianMs), memory: ratio(synth.medianMaxRssKiB, floor.medianMaxRssKiB) }
      : undefined,
    cdkTfJsonBytes: first.cdkTfJsonBytes,
    deterministicSize: sizes.size <= 1,
    renders: first.renders || {},
    ...(inspected || { userData: [], floorModules: [], unmappedTypes: [] }),
  };
}

function inspectScale(tf) {
  const userData = userDataByRole(tf);
  const gzOf = (pred) => (userData.find((u) => pred(u.role)) || {}).gzBytes;
  return {
    slurmConf: findSlurmConf(tf, userData),
    userDataGz: { controller: gzOf((r) => r === 'controller'), compute: gzOf((r) => r.startsWith('compute:')) },
  };
}

/**
 * One scale series. Points run round-robin (8, 64, 512, 4096, 8, …) so load from elsewhere hits every point
 * alike; a point a construct refuses stops after its first run and is reported with the construct's message.
 */
function benchScaleSeries(ctx, cloud, runs, log) {
  const points = SCALE_NODES.map((nodes) => ({ nodes, runs: [] }));
  for (let i = 0; i < runs; i++) {
    for (const p of points) {
      if (p.runs.length > 0 && !p.runs[0].ok) continue;
      p.runs.push(synthOnce(ctx, ['scale', cloud, String(p.nodes)], i === 0 ? inspectScale : undefined));
    }
  }
  return points.map(({ nodes, runs: all }) => {
    const s = summarise(all);
    log(`  ${cloud} ${nodes}: ${s.ok ? `${s.medianMs} ms` : `refused: ${s.error}`}`);
    const first = all[0];
    return { pool: SCALE_POOLS[cloud], nodes, ...s, cdkTfJsonBytes: first.cdkTfJsonBytes, renders: first.renders, ...(first.inspected || {}) };
  });
}

/** One discarded synth and floor: the first measured run should not pay for a cold file cache. It also proves the snapshot loads. */
function warmUp(ctx) {
  const run = synthOnce(ctx, ['scale', 'aws', '8']);
  if (!run.ok) throw new Error(`warm-up synth failed: ${run.error}`);
  floorOnce(ctx, []);
}

function runJest(log) {
  log('  npx jest --silent (once) …');
  const start = process.hrtime.bigint();
  const res = spawnSync('npx', ['jest', '--silent'], { cwd: ROOT, env: CHILD_ENV, stdio: 'inherit' });
  return { wallMs: Math.round(Number(process.hrtime.bigint() - start) / 1e6), exitCode: res.status };
}

function meta(opts, notes) {
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    cpus: os.cpus().length,
    cpuModel: (os.cpus()[0] || {}).model || 'unknown',
    runs: opts.runs,
    scaleRuns: opts.scaleRuns,
    scaleNodes: SCALE_NODES,
    notes,
  };
}

function runAll(ctx, opts, notes, log) {
  // The list of stacks comes from the compiled registry, as main.ts builds them.
  const { SHIPPED_STACKS } = require(path.join(ctx.pkg, 'dist', 'stacks', 'shipped'));
  log(`bench: ${Object.keys(SHIPPED_STACKS).length} shipped stacks × ${opts.runs} runs (+ floor), scale ${SCALE_NODES.join('/')} × ${opts.scaleRuns} runs`);
  const loadBefore = os.loadavg()[0];
  warmUp(ctx);
  const stacks = {};
  for (const name of Object.keys(SHIPPED_STACKS)) stacks[name] = benchShippedStack(ctx, name, opts.runs, log);
  const scale = {};
  for (const cloud of Object.keys(SCALE_POOLS)) scale[cloud] = benchScaleSeries(ctx, cloud, opts.scaleRuns, log);
  for (const [name, s] of Object.entries(stacks)) {
    if (!s.deterministicSize) notes.push(`${name}: cdk.tf.json size differed between runs.`);
  }
  // The bench itself keeps about one process busy; only load beyond that is someone else's.
  const load = Math.max(loadBefore, os.loadavg()[0] - 1);
  if (load > os.cpus().length / 2) {
    notes.push(`Other work was running (1-minute load average up to ${load.toFixed(2)} besides the bench, on ${os.cpus().length} CPUs): timings are noisier than usual; see min–max.`);
  }
  return { stacks, scale };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const notes = [];
  if (opts.runs < MIN_RUNS) {
    notes.push(`--runs ${opts.runs} was raised to ${MIN_RUNS} for the shipped stacks (medians need at least 5).`);
    opts.runs = MIN_RUNS;
  }
  opts.scaleRuns = opts.scaleRuns ?? opts.runs;
  if (opts.scaleRuns < MIN_RUNS) notes.push(`Scale points ran ${opts.scaleRuns} time(s) each (--scale-runs): their medians are rougher than the shipped stacks'.`);
  if (!fs.existsSync(path.join(ROOT, 'dist', 'stacks', 'shipped.js'))) {
    throw new Error('dist/ is missing: run `npm run bench`, which compiles first');
  }
  const log = (line) => process.stderr.write(`${line}\n`);
  const started = process.hrtime.bigint();
  const ctx = snapshotPackage();
  let measured;
  try {
    measured = runAll(ctx, opts, notes, log);
  } finally {
    removeDir(ctx.pkg);
  }
  const jest = opts.jest ? runJest(log) : null;

  const results = { meta: meta(opts, notes), ...measured, jest };
  results.targets = evaluateTargets(results);
  results.meta.benchMs = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
  const md = toMarkdown(results);
  fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  fs.writeFileSync(path.join(__dirname, 'results.md'), md);
  process.stdout.write(md);
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exitCode = 1;
}
