/**
 * slurm-metrics.sh, the controller's Slurm exporter, against fake sinfo/squeue/scontrol: the counts it derives,
 * the outage case (only slurmctld_up 0, never stale counts), and that every Slurm metric the dashboards and alert
 * rules read is one it writes.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DASHBOARD_METRICS_BY_EXPORTER } from '../../lib/monitoring/grafana';
import { ALERT_RULES } from '../../lib/monitoring/prometheus';
import { installFakes, Sandbox, SCRIPTS_DIR } from '../bootstrap/sh';

const UP = {
  scontrol: `#!/bin/bash\n[[ "$1" == ping ]] && echo 'Slurmctld(primary) at ctl is UP'\n`,
  sinfo: `#!/bin/bash
case "$*" in
  *NodeHost*) printf '%s\\n' 'gpu-0 gpu:h100:8(S:0-1) gpu:h100:8(IDX:0-7)' 'gpu-1 gpu:h100:8(S:0-1) gpu:h100:3(IDX:0-2)' 'cpu-0 (null) (null)' ;;
  *) printf '%s\\n' 'gpu-0 allocated 96/0/0/96' 'gpu-1 mixed 24/72/0/96' 'gpu-1 mixed 24/72/0/96' 'cpu-0 drained* 0/0/8/8' 'cpu-1 down~ 0/0/8/8' ;;
esac
`,
  squeue: `#!/bin/bash\nprintf '%s\\n' RUNNING RUNNING PENDING COMPLETING\n`,
};

let sb: Sandbox;
beforeEach(() => { sb = new Sandbox(); });
afterEach(() => sb.cleanup());

function run(fakes: Record<string, string>): Map<string, number> {
  const { bin } = installFakes(sb, fakes);
  const out = path.join(sb.dir, 'metrics');
  const r = sb.bash('bash "$STEP" --once', { PATH: `${bin}:${process.env.PATH}`, SLURM_METRICS_DIR: out, STEP: path.join(SCRIPTS_DIR, 'slurm-metrics.sh') });
  if (r.status !== 0) throw new Error(r.log + r.stderr);
  // No temp file left behind: node_exporter would read it.
  expect(fs.readdirSync(out)).toEqual(['slurm.prom']);
  const text = fs.readFileSync(path.join(out, 'slurm.prom'), 'utf8');
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]));
}

test('node states (flags dropped, each node once), CPUs, queue and GPUs as sinfo/squeue report them', () => {
  const m = run(UP);
  expect(Object.fromEntries(m)).toMatchObject({
    slurmctld_up: 1, slurm_nodes_alloc: 1, slurm_nodes_mix: 1, slurm_nodes_drain: 1, slurm_nodes_down: 1, slurm_nodes_idle: 0,
    slurm_nodes_powered_down: 1, slurm_nodes_total: 4,
    slurm_cpus_alloc: 120, slurm_cpus_idle: 72, slurm_cpus_other: 16, slurm_cpus_total: 208,
    slurm_queue_running: 2, slurm_queue_pending: 1, slurm_queue_completing: 1,
    slurm_gpus_alloc: 11, slurm_gpus_total: 16,
  });
});

test('slurmctld not answering: only slurmctld_up 0, no stale counts', () => {
  const m = run({ ...UP, scontrol: `#!/bin/bash\necho 'Slurmctld(primary) at ctl is DOWN'\nexit 1\n` });
  expect([...m]).toEqual([['slurmctld_up', 0]]);
});

test('every Slurm metric the dashboards and the alert rules read is one the exporter writes', () => {
  const written = new Set(run(UP).keys());
  const read = new Set([
    ...DASHBOARD_METRICS_BY_EXPORTER.slurm,
    ...ALERT_RULES.flatMap((r) => r.expr.match(/\bslurm(?:ctld)?_[a-z_]+/g) ?? []),
  ]);
  expect(read.size).toBeGreaterThan(5);
  expect([...read].filter((name) => !written.has(name))).toEqual([]);
});
