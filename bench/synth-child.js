'use strict';
// One bench measurement: synthesize ONE stack into <outdir> in this fresh process, then print
// {"maxRssKiB", "renders"} (or {"error"}) as JSON on the last stdout line.
// Usage: node bench/synth-child.js <outdir> shipped <stack-name>
//        node bench/synth-child.js <outdir> scale <aws|gcp> <nodes>
const DIST = '../dist/lib';

/**
 * Counts calls of a library function by wrapping its module export. The compiled callers read the export at call
 * time (`(0, mod_1.fn)(…)`), so the wrapper sees every call; it shows whether a render runs more than once.
 */
function countCalls(modulePath, name, counts) {
  const mod = require(modulePath);
  const original = mod[name];
  counts[name] = 0;
  mod[name] = function counted(...args) {
    counts[name] += 1;
    return original.apply(this, args);
  };
}

function buildStack(app, kind, a, b) {
  if (kind === 'shipped') {
    const { SHIPPED_STACKS } = require('../dist/stacks/shipped');
    const make = SHIPPED_STACKS[a];
    if (!make) throw new Error(`no shipped stack '${a}' (have ${Object.keys(SHIPPED_STACKS).join(', ')})`);
    make(app, a);
  } else if (kind === 'scale') {
    require('./scale-stacks').buildScaleStack(app, a, Number(b));
  } else {
    throw new Error(`unknown kind '${kind}'`);
  }
}

function main() {
  const [outdir, kind, a, b] = process.argv.slice(2);
  const renders = {};
  countCalls(`${DIST}/slurm/render-slurm-conf`, 'renderSlurmConf', renders);
  countCalls(`${DIST}/cloudinit/render-user-data`, 'renderNodeUserData', renders);
  const { App } = require('cdktf');
  const app = new App({ outdir });
  try {
    buildStack(app, kind, a, b);
    app.synth();
  } catch (e) {
    // A construct refusing the input (e.g. a node-count limit) is a result to report, not a bench crash.
    console.log(JSON.stringify({ error: (e && e.message ? e.message : String(e)).split('\n').slice(0, 3).join(' ') }));
    process.exitCode = 2;
    return;
  }
  console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, renders }));
}

main();
