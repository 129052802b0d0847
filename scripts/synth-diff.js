#!/usr/bin/env node
/**
 * Compares two synthesized outputs of the shipped stacks (two `cdktf.out` directories) as Terraform reads them:
 * a resource renamed through a `moved` block counts as the same resource, and the `//` metadata (construct paths,
 * which Terraform ignores) is compared apart. Exits 1 when any stack's plan differs.
 *
 *   node scripts/synth-diff.js <before-outdir> <after-outdir>
 *   node scripts/synth-diff.js addresses <outdir>      # print each stack's resource addresses (the test baseline)
 *
 * `scripts/synth-diff.sh [git-ref]` synthesizes a ref and the working tree and runs this.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function readStacks(outdir) {
  const dir = path.join(outdir, 'stacks');
  const out = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name, 'cdk.tf.json');
    if (!fs.existsSync(file)) continue;
    const tf = JSON.parse(fs.readFileSync(file, 'utf8'));
    // The default local state file is written as an absolute path below the checkout that synthesized it.
    const local = tf.terraform?.backend?.local;
    if (typeof local?.path === 'string') local.path = path.basename(local.path);
    out[name] = tf;
  }
  return out;
}

/** Every `type.name` (and `data.type.name`) the plan declares. */
function addresses(tf) {
  const list = [];
  for (const [type, blocks] of Object.entries(tf.resource ?? {})) for (const name of Object.keys(blocks)) list.push(`${type}.${name}`);
  for (const [type, blocks] of Object.entries(tf.data ?? {})) for (const name of Object.keys(blocks)) list.push(`data.${type}.${name}`);
  return list.sort();
}

/** The `moved` blocks as from → to address. */
function movedOf(tf) {
  const moves = {};
  for (const m of tf.moved ?? []) moves[m.from] = m.to;
  return moves;
}

function stripMetadata(value) {
  if (Array.isArray(value)) return value.map(stripMetadata);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '//').map(([k, v]) => [k, stripMetadata(v)]));
  }
  return value;
}

/**
 * The plan `before` as it reads after `after`'s moves: resources renamed, and references to them (`${type.old.attr}`)
 * rewritten.
 */
function applyMoves(tf, moves) {
  let text = JSON.stringify(tf);
  const copy = JSON.parse(text);
  for (const [from, to] of Object.entries(moves)) {
    const [ft, fn] = from.split('.');
    const [tt, tn] = to.split('.');
    const block = copy.resource?.[ft]?.[fn];
    if (block === undefined) continue;
    delete copy.resource[ft][fn];
    copy.resource[tt] = copy.resource[tt] ?? {};
    copy.resource[tt][tn] = block;
  }
  text = JSON.stringify(copy);
  for (const [from, to] of Object.entries(moves)) text = text.split(`${from}.`).join(`${to}.`);
  return JSON.parse(text);
}

function diff(a, b, at, out) {
  if (out.length >= 40) return;
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    for (const k of keys) diff(a[k], b[k], `${at}.${k}`, out);
    return;
  }
  const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v).slice(0, 160));
  out.push(`${at}: ${show(a)} -> ${show(b)}`);
}

function main(argv) {
  if (argv[0] === 'addresses') {
    for (const [name, tf] of Object.entries(readStacks(argv[1]))) console.log(JSON.stringify({ stack: name, addresses: addresses(tf) }));
    return 0;
  }
  const [beforeDir, afterDir] = argv;
  if (!beforeDir || !afterDir) {
    console.error('usage: synth-diff.js <before-outdir> <after-outdir>');
    return 2;
  }
  const before = readStacks(beforeDir);
  const after = readStacks(afterDir);
  let failed = false;
  for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    if (!before[name] || !after[name]) {
      console.log(`${name}: only in ${before[name] ? 'before' : 'after'}`);
      failed = true;
      continue;
    }
    const moves = movedOf(after[name]);
    const lost = addresses(before[name]).filter((a) => !addresses(after[name]).includes(a) && !(a in moves));
    const a = stripMetadata(applyMoves(before[name], moves));
    const b = stripMetadata(after[name]);
    delete b.moved;
    delete a.moved;
    const plan = [];
    diff(a, b, name, plan);
    const meta = [];
    diff(applyMoves(before[name], moves)['//'], after[name]['//'], `${name}.//`, meta);
    const summary = [
      `${Object.keys(moves).length} moved`,
      lost.length > 0 ? `${lost.length} addresses lost (not the from of a moved block)` : 'no address lost',
      plan.length === 0 ? 'plan identical' : `plan differs at ${plan.length >= 40 ? '40+' : plan.length} places`,
      meta.length === 0 ? 'metadata identical' : 'metadata differs (construct paths; Terraform ignores it)',
    ];
    console.log(`${name}: ${summary.join(', ')}`);
    for (const l of lost) console.log(`  lost: ${l}`);
    for (const [from, to] of Object.entries(moves)) console.log(`  moved: ${from} -> ${to}`);
    for (const p of plan) console.log(`  ${p}`);
    if (lost.length > 0 || plan.length > 0) failed = true;
  }
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
