'use strict';
// Target verdicts and the Markdown tables printed to stdout and written to bench/results.md.

const KIB = 1024;
const TARGETS = { timeVsFloor: 1.5, scaleTime: 1.2, scaleJson: 1.1, userDataGzBytes: 8 * KIB };

const mib = (kib) => (kib / KIB).toFixed(1);
const ratio = (a, b) => Math.round((a / b) * 100) / 100;
const verdict = (ok) => (ok ? 'PASS' : 'MISS');
const num = (n) => (n === undefined || n === null ? '–' : n.toLocaleString('en-US'));
// Median with the spread of the runs, so a verdict near its limit can be judged against the noise.
const timing = (s) => `${num(s.medianMs)} (${num(s.minMs)}–${num(s.maxMs)})`;

function table(head, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Every target of issue #8 with its measured value; reported, never asserted. */
function evaluateTargets(results) {
  const out = [];
  for (const [name, s] of Object.entries(results.stacks)) {
    if (!s.ratio) continue;
    out.push({ target: `synth time ≤ ${TARGETS.timeVsFloor}× floor`, subject: name, measured: `${s.ratio.time}×`, verdict: verdict(s.ratio.time <= TARGETS.timeVsFloor) });
  }
  for (const [cloud, series] of Object.entries(results.scale)) {
    const first = series.find((p) => p.nodes === 8);
    const last = series.find((p) => p.nodes === 4096);
    if (!first || !last || !first.ok || !last.ok) {
      out.push({ target: '4096 vs 8 nodes', subject: cloud, measured: 'not measured (a point failed)', verdict: 'MISS' });
      continue;
    }
    const t = ratio(last.medianMs, first.medianMs);
    const j = ratio(last.cdkTfJsonBytes, first.cdkTfJsonBytes);
    out.push({ target: `4096-node time ≤ ${TARGETS.scaleTime}× 8-node`, subject: cloud, measured: `${t}×`, verdict: verdict(t <= TARGETS.scaleTime) });
    out.push({ target: `4096-node JSON ≤ ${TARGETS.scaleJson}× 8-node`, subject: cloud, measured: `${j}×`, verdict: verdict(j <= TARGETS.scaleJson) });
  }
  for (const [name, s] of Object.entries(results.stacks)) {
    if (!s.userData) continue;
    const over = s.userData.filter((u) => u.gzBytes > TARGETS.userDataGzBytes);
    const measured = over.length === 0
      ? `largest ${num(Math.max(...s.userData.map((u) => u.gzBytes)))} B`
      : over.map((u) => `${u.role} ${num(u.gzBytes)} B`).join(', ');
    out.push({ target: 'every role ≤ 8 KiB gzipped', subject: name, measured, verdict: verdict(over.length === 0) });
  }
  return out;
}

function stacksTable(stacks) {
  const rows = Object.entries(stacks).map(([name, s]) => {
    if (!s.synth.ok) return [name, `failed: ${s.synth.error}`, '', '', '', '', '', '', ''];
    const f = s.floor.ok ? s.floor : undefined;
    return [
      name,
      timing(s.synth),
      mib(s.synth.medianMaxRssKiB),
      num(s.cdkTfJsonBytes),
      f ? timing(f) : `failed: ${s.floor.error}`,
      f ? mib(f.medianMaxRssKiB) : '',
      s.ratio ? `${s.ratio.time}×` : '',
      s.ratio ? `${s.ratio.memory}×` : '',
      `${s.renders.renderSlurmConf} / ${s.renders.renderNodeUserData} (${s.userData.length} values)`,
    ];
  });
  return table(['stack', 'synth ms (min–max)', 'peak MiB', 'cdk.tf.json B', 'floor ms (min–max)', 'floor MiB', 'time ×floor', 'mem ×floor', 'renders: slurm.conf / user-data'], rows);
}

function floorTable(stacks) {
  const rows = Object.entries(stacks).map(([name, s]) => [
    name,
    String(s.floorModules.length),
    s.floorModules.filter((m) => m.endsWith('/lib/provider')).map((m) => m.split('/')[1]).join(', '),
    s.unmappedTypes.length === 0 ? 'none' : s.unmappedTypes.map((u) => `${u.type} (${u.tried})`).join('; '),
  ]);
  return table(['stack', 'modules required', 'providers', 'types with no submodule'], rows);
}

function userDataTable(stacks) {
  const rows = [];
  for (const [name, s] of Object.entries(stacks)) {
    for (const u of s.userData || []) {
      rows.push([
        name,
        u.role,
        `\`${u.address.split('.')[0]}\` ${u.field}`,
        u.sentAs,
        num(u.rawBytes),
        num(u.gzBytes),
        verdict(u.gzBytes <= TARGETS.userDataGzBytes),
        u.expr ? 'holds `${…}` Terraform expressions: measured on the literal text' : '',
      ]);
    }
  }
  return table(['stack', 'role', 'where', 'sent as', 'raw B', 'gzip B', '≤ 8 KiB gz', 'note'], rows);
}

function scaleTable(scale) {
  const rows = [];
  for (const [cloud, series] of Object.entries(scale)) {
    for (const p of series) {
      if (!p.ok) {
        rows.push([cloud, p.pool, num(p.nodes), String(p.runs), `refused: ${p.error}`, '', '', '', '', '']);
        continue;
      }
      rows.push([
        cloud,
        p.pool,
        num(p.nodes),
        String(p.runs),
        timing(p),
        mib(p.medianMaxRssKiB),
        num(p.cdkTfJsonBytes),
        p.slurmConf ? `${p.slurmConf.lines} (${p.slurmConf.nodeNameLines} NodeName)` : 'not found',
        num(p.userDataGz.controller),
        num(p.userDataGz.compute),
      ]);
    }
  }
  return table(['cloud', 'pool', 'nodes', 'runs', 'synth ms (min–max)', 'peak MiB', 'cdk.tf.json B', 'slurm.conf lines', 'controller ud gz B', 'compute ud gz B'], rows);
}

function slurmConfWhere(results) {
  const lines = Object.entries(results.stacks).map(([name, s]) =>
    `- ${name}: ${s.slurmConf ? `${s.slurmConf.lines} lines, in ${s.slurmConf.where} (cloud-config write_files)` : 'not found'}`);
  for (const [cloud, series] of Object.entries(results.scale)) {
    const p = series.find((x) => x.ok && x.slurmConf);
    if (p) lines.push(`- scale ${cloud}: in ${p.slurmConf.where}`);
  }
  return lines.join('\n');
}

function toMarkdown(results) {
  const m = results.meta;
  const parts = [
    '# cdktf-slurm synth benchmark',
    '',
    `Node ${m.node} on ${m.cpus} × ${m.cpuModel}, ${m.date}. Each number is the median of ${m.runs} runs, ` +
      `each in a fresh \`node\` process (wall time around the whole child; peak memory = the child's maxRSS). ` +
      `Scale points: ${m.scaleRuns} run${m.scaleRuns === 1 ? '' : 's'} each. Whole bench: ${(m.benchMs / 1000).toFixed(1)} s.`,
    '',
    '## Shipped stacks vs their floor',
    '',
    'Floor: a process that only loads `cdktf` and the provider submodules the stack\'s resources come from, ' +
      'then makes an empty `App`. "renders" counts calls of `renderSlurmConf` and `renderNodeUserData` in one synth.',
    '',
    stacksTable(results.stacks),
    '',
    floorTable(results.stacks),
    '',
    '## User-data by role',
    '',
    'gzip B is what is sent for gzipped values and a level-9 gzip of the text otherwise. Docker nodes get their boot ' +
      'files as container uploads: all uploads of the container together.',
    '',
    userDataTable(results.stacks),
    '',
    '## Scale series: one GPU pool of N nodes',
    '',
    '`aws`: `ComputeNodePool` g5.12xlarge with `maxCount: N` (Slurm starts nodes on demand). ' +
      '`gcp`: a2-highgpu-1g with `count: N` (static VMs). Both with `BastionVpc`/`GcpClusterNetwork`, ' +
      '`SlurmController`, `GpuPartition` and the security policy on.',
    '',
    scaleTable(results.scale),
    '',
    'Where slurm.conf is in the synthesized output:',
    '',
    slurmConfWhere(results),
    '',
    '## Targets (reported, not asserted)',
    '',
    table(['target', 'subject', 'measured', 'verdict'], results.targets.map((t) => [t.target, t.subject, t.measured, t.verdict])),
  ];
  if (results.jest) {
    parts.push('', '## Jest suite', '', `\`npx jest --silent\`: ${num(results.jest.wallMs)} ms, exit ${results.jest.exitCode}.`);
  }
  if (m.notes.length > 0) parts.push('', '## Notes', '', ...m.notes.map((n) => `- ${n}`));
  return parts.join('\n') + '\n';
}

module.exports = { TARGETS, evaluateTargets, toMarkdown, ratio };
