'use strict';
// Spawning bench children and summarising repeated runs. Every measured run is a fresh `node` process, so module
// loading and start-up are part of the number, as they are for a user's `cdktf synth`.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// cdktf phones home unless told not to; the bench must not depend on the network.
const CHILD_ENV = { ...process.env, CHECKPOINT_DISABLE: '1' };

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function lastLine(text) {
  const lines = String(text || '').trim().split('\n');
  return lines[lines.length - 1];
}

/** A child's JSON report (its last stdout line), or undefined when it printed none. */
function parseReport(stdout) {
  try {
    return JSON.parse(lastLine(stdout));
  } catch {
    return undefined;
  }
}

/**
 * Runs `node <script> ...args` once. The wall time spans the whole child process (start-up, require, synth,
 * exit); peak memory is the child's own maxRSS, which it prints as JSON on its last line.
 */
function runChild(script, args) {
  const start = process.hrtime.bigint();
  const res = spawnSync(process.execPath, [script, ...args], { env: CHILD_ENV, encoding: 'utf8', maxBuffer: 256 << 20 });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const report = parseReport(res.stdout);
  if (res.status !== 0 || !report || report.error) {
    const why = (report && report.error) || lastLine(res.stderr) || `exit ${res.status}`;
    return { ok: false, wallMs, error: String(why) };
  }
  return { ok: true, wallMs, ...report };
}

function makeTempDir(label) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cdktf-slurm-bench-${label}-`));
}

function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Median wall time (ms) and median peak RSS (KiB) of successful runs; the first error if any run failed. */
function summarise(runs) {
  const failed = runs.find((r) => !r.ok);
  if (failed) return { ok: false, error: failed.error, runs: runs.length };
  const ms = runs.map((r) => r.wallMs);
  return {
    ok: true,
    runs: runs.length,
    medianMs: Math.round(median(ms)),
    minMs: Math.round(Math.min(...ms)),
    maxMs: Math.round(Math.max(...ms)),
    medianMaxRssKiB: Math.round(median(runs.map((r) => r.maxRssKiB))),
    wallMs: ms.map(Math.round),
  };
}

module.exports = { CHILD_ENV, median, runChild, makeTempDir, removeDir, summarise };
