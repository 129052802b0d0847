import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse, stringify } from 'yaml';
import {
  DASHBOARD_METRICS,
  DASHBOARD_METRICS_BY_EXPORTER,
  GRAFANA_DASHBOARDS_DIR,
  GRAFANA_DASHBOARD_PROVIDER_FILE,
  GRAFANA_DATASOURCES_FILE,
  GRAFANA_PROVISIONING_DIR,
  PROMETHEUS_DATASOURCE_UID,
  grafanaDashboards,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasources,
} from '../../lib/monitoring/grafana';
import { ExporterKind, ScrapeTargetGroup, renderScrapeConfigs } from '../../lib/monitoring/scrape-targets';

interface Target { refId: string; expr: string; legendFormat: string; datasource: { type: string; uid: string } }
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource: { type: string; uid: string };
  targets: Target[];
}
interface Variable {
  name: string;
  type: string;
  definition: string;
  query: { query: string };
  multi: boolean;
  includeAll: boolean;
  allValue?: string;
  regex: string;
  current: { value?: string | string[] };
  datasource: { type: string; uid: string };
}
interface Dashboard {
  uid: string;
  title: string;
  tags: string[];
  schemaVersion: number;
  time: { from: string; to: string };
  refresh: string;
  templating: { list: Variable[] };
  panels: Panel[];
}

const CLUSTER = 'hpc';
const files = grafanaDashboards({ clusterName: CLUSTER });
const dashboards: Dashboard[] = files.map((f) => JSON.parse(f.json) as Dashboard);
const byTitle = (title: string): Dashboard => {
  const d = dashboards.find((x) => x.title === title);
  if (!d) throw new Error(`no dashboard titled ${title}`);
  return d;
};

/** Grafana's built-in variables the queries may use without defining them. */
const GRAFANA_GLOBALS = new Set(['__rate_interval', '__interval', '__range']);
const VARIABLE_REF = /\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g;

function variablesIn(text: string): string[] {
  return [...text.matchAll(VARIABLE_REF)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** What Grafana sends to Prometheus for the given variable values (as `${v}` and `$v`). */
function substitute(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(VARIABLE_REF, (whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    if (!(name in values)) throw new Error(`${whole} has no test value`);
    return values[name];
  });
}

const PROMQL_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'and', 'or', 'unless', 'Inf', 'NaN']);

/**
 * Metric names in a PromQL expression, found without the dashboards' own list: strings, label matchers, ranges and
 * label lists are removed, then every remaining name that is not a function call or keyword is a metric.
 */
function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of e.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const at = m.index ?? 0;
    if (/^\s*\(/.test(e.slice(at + m[0].length))) continue;
    if (PROMQL_KEYWORDS.has(m[0]) || (at > 0 && /[0-9.]/.test(e[at - 1]))) continue;
    out.push(m[0]);
  }
  return out;
}

/** `label_values(<selector>, <label>)` → its parts. */
function labelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$/.exec(query);
  if (!m) throw new Error(`not a label_values query: ${query}`);
  return { selector: m[1], label: m[2] };
}

const allTargets = (d: Dashboard): Target[] => d.panels.flatMap((p) => p.targets);

describe('renderGrafanaDatasources', () => {
  it('provisions one default, read-only Prometheus datasource with the fixed uid', () => {
    const doc = parse(renderGrafanaDatasources({ prometheusUrl: 'http://10.0.0.10:9090' }));
    expect(doc.apiVersion).toBe(1);
    expect(doc.datasources).toHaveLength(1);
    expect(doc.datasources[0]).toMatchObject({
      uid: PROMETHEUS_DATASOURCE_UID,
      type: 'prometheus',
      access: 'proxy',
      url: 'http://10.0.0.10:9090',
      isDefault: true,
      editable: false,
      jsonData: { timeInterval: '30s' },
    });
  });

  it('takes the scrape interval for $__rate_interval, and https with a host name', () => {
    const doc = parse(renderGrafanaDatasources({ prometheusUrl: 'https://prometheus.hpc.internal:9090/', scrapeInterval: '15s' }));
    expect(doc.datasources[0].jsonData.timeInterval).toBe('15s');
    expect(doc.datasources[0].url).toBe('https://prometheus.hpc.internal:9090');
  });

  it.each([
    'prometheus:9090',
    'ftp://10.0.0.10:9090',
    'http://10.0.0.10',
    'http://10.0.0.10:0',
    'http://10.0.0.10:70000',
    'http://admin:secret@10.0.0.10:9090',
    'http://10.0.0.10:9090/api/v1',
    'http://-bad-:9090',
    '',
  ])('refuses prometheusUrl %j, naming the field, the value and the fix', (url) => {
    expect(() => renderGrafanaDatasources({ prometheusUrl: url })).toThrow(
      `prometheusUrl = ${JSON.stringify(url)}: not http(s)://host:port`,
    );
    expect(() => renderGrafanaDatasources({ prometheusUrl: url })).toThrow(/Use e\.g\. http:\/\/10\.0\.0\.10:9090/);
  });

  it('refuses a scrape interval that is not a duration', () => {
    expect(() => renderGrafanaDatasources({ prometheusUrl: 'http://10.0.0.10:9090', scrapeInterval: '30' })).toThrow(/scrapeInterval = "30": not a duration. Use e\.g\. '30s'/);
  });
});

describe('renderGrafanaDashboardProvider and the paths', () => {
  it('loads the dashboards directory read-only into the Slurm folder', () => {
    const doc = parse(renderGrafanaDashboardProvider());
    expect(doc.apiVersion).toBe(1);
    expect(doc.providers).toHaveLength(1);
    expect(doc.providers[0]).toMatchObject({
      type: 'file',
      folder: 'Slurm',
      disableDeletion: true,
      allowUiUpdates: false,
      options: { path: GRAFANA_DASHBOARDS_DIR },
    });
  });

  it('puts each provisioning file in the subdirectory Grafana reads it from', () => {
    expect(GRAFANA_DATASOURCES_FILE).toBe(`${GRAFANA_PROVISIONING_DIR}/datasources/cdktf-slurm.yaml`);
    expect(GRAFANA_DASHBOARD_PROVIDER_FILE).toBe(`${GRAFANA_PROVISIONING_DIR}/dashboards/cdktf-slurm.yaml`);
    expect(path.isAbsolute(GRAFANA_DASHBOARDS_DIR)).toBe(true);
    expect(GRAFANA_DASHBOARDS_DIR.startsWith(`${GRAFANA_PROVISIONING_DIR}/`)).toBe(false);
  });
});

describe('grafanaDashboards', () => {
  it('has the Slurm cluster and GPU nodes dashboards, each in its own file, with fixed unique uids', () => {
    expect(dashboards.map((d) => d.title).sort()).toEqual(['GPU nodes', 'Slurm cluster']);
    expect(new Set(files.map((f) => f.fileName)).size).toBe(files.length);
    for (const f of files) expect(f.fileName).toMatch(/^[a-z0-9-]+\.json$/);
    expect(new Set(dashboards.map((d) => d.uid)).size).toBe(dashboards.length);
    for (const d of dashboards) {
      expect(d.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
      expect(d.tags).toEqual(expect.arrayContaining(['slurm', 'cdktf-slurm']));
      expect(d.schemaVersion).toBe(39);
      expect(d.time.from).toMatch(/^now-/);
      expect(d.refresh).toMatch(/^[0-9]+[smh]$/);
    }
    // Same input, same files: a redeploy does not churn the dashboards.
    expect(grafanaDashboards({ clusterName: CLUSTER })).toEqual(files);
  });

  it('refuses an empty cluster name, naming the field and the fix', () => {
    expect(() => grafanaDashboards({ clusterName: '' })).toThrow(/clusterName = "": not a cluster name. Use the controller's clusterName/);
  });

  it.each(dashboards.map((d) => [d.title, d] as const))('%s: panels have unique ids, allowed types and the provisioned datasource', (_title, d) => {
    expect(d.panels.length).toBeGreaterThan(0);
    expect(new Set(d.panels.map((p) => p.id)).size).toBe(d.panels.length);
    for (const p of d.panels) {
      expect(Number.isInteger(p.id) && p.id > 0).toBe(true);
      expect(['timeseries', 'stat', 'table', 'bargauge']).toContain(p.type);
      expect(p.datasource).toEqual({ type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID });
      expect(p.targets.length).toBeGreaterThan(0);
      expect(new Set(p.targets.map((t) => t.refId)).size).toBe(p.targets.length);
      for (const t of p.targets) {
        expect(t.datasource).toEqual({ type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID });
        expect(t.expr.trim()).not.toBe('');
        expect(typeof t.legendFormat).toBe('string');
      }
    }
    for (const v of d.templating.list) expect(v.datasource).toEqual({ type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID });
  });

  it.each(dashboards.map((d) => [d.title, d] as const))('%s: every panel fits the 24-column grid and none overlap', (_title, d) => {
    for (const { gridPos: g, title } of d.panels) {
      for (const n of [g.x, g.y, g.w, g.h]) expect(Number.isInteger(n)).toBe(true);
      expect({ title, ok: g.x >= 0 && g.y >= 0 && g.w >= 1 && g.h >= 1 && g.x + g.w <= 24 }).toEqual({ title, ok: true });
    }
    const overlaps: string[] = [];
    d.panels.forEach((a, i) => d.panels.slice(i + 1).forEach((b) => {
      const A = a.gridPos;
      const B = b.gridPos;
      if (A.x < B.x + B.w && B.x < A.x + A.w && A.y < B.y + B.h && B.y < A.y + A.h) overlaps.push(`${a.title} / ${b.title}`);
    }));
    expect(overlaps).toEqual([]);
  });

  it.each(dashboards.map((d) => [d.title, d] as const))('%s: every variable a query uses is defined (before it, for variable queries) and every variable is used', (_title, d) => {
    const defined = d.templating.list.map((v) => v.name);
    const undefinedRefs = allTargets(d).flatMap((t) => variablesIn(t.expr)).filter((n) => !GRAFANA_GLOBALS.has(n) && !defined.includes(n));
    expect(undefinedRefs).toEqual([]);
    d.templating.list.forEach((v, i) => {
      expect(v.definition).toBe(v.query.query);
      for (const n of variablesIn(v.query.query)) expect({ variable: v.name, uses: n, definedBefore: defined.slice(0, i).includes(n) }).toEqual({ variable: v.name, uses: n, definedBefore: true });
    });
    const used = new Set([...allTargets(d).map((t) => t.expr), ...d.templating.list.map((v) => v.query.query)].flatMap(variablesIn));
    expect(defined.filter((n) => !used.has(n))).toEqual([]);
  });

  it.each(dashboards.map((d) => [d.title, d] as const))('%s: multi-value variables are matched as regexes and "All" is one short regex', (_title, d) => {
    const texts = [...allTargets(d).map((t) => t.expr), ...d.templating.list.map((v) => v.query.query)];
    for (const v of d.templating.list.filter((x) => x.multi)) {
      expect(v.includeAll).toBe(true);
      // Without allValue Grafana sends every value joined by | (4096 alternatives for a 4096-node pool).
      expect(v.allValue).toBe('.+');
      const exact = new RegExp(`[A-Za-z_]+\\s*(=|!=)\\s*"[^"]*\\$\\{?${v.name}\\b`);
      expect(texts.filter((t) => exact.test(t))).toEqual([]);
    }
  });

  it('selects the given cluster from the cluster label of every series', () => {
    for (const d of dashboards) {
      const cluster = d.templating.list.find((v) => v.name === 'cluster');
      expect(cluster).toMatchObject({ type: 'query', definition: 'label_values(up, cluster)', multi: false, current: { value: CLUSTER } });
      for (const t of allTargets(d)) expect({ expr: t.expr, filtered: t.expr.includes('cluster="$cluster"') }).toEqual({ expr: t.expr, filtered: true });
    }
    const other = JSON.parse(grafanaDashboards({ clusterName: 'lab' })[0].json) as Dashboard;
    expect(other.templating.list[0].current.value).toBe('lab');
  });

  it('GPU nodes has pool and instance variables whose instance value is the host without the port', () => {
    const vars = byTitle('GPU nodes').templating.list;
    expect(vars.map((v) => v.name)).toEqual(['cluster', 'pool', 'instance']);
    const instance = vars.find((v) => v.name === 'instance')!;
    const regex = new RegExp(instance.regex.replace(/^\/|\/$/g, ''));
    expect(['gpu-3:9400', 'gpu-3', '10.0.1.5:9100'].map((s) => regex.exec(s)?.[1])).toEqual(['gpu-3', 'gpu-3', '10.0.1.5']);
  });

  it('the metric extractor finds metrics and skips functions, labels and keywords', () => {
    expect(metricNames('1 - sum by (pool) (rate(a_total{mode="idle", x=~"$y"}[5m])) / on(pool) b:rec or vector(0)')).toEqual(['a_total', 'b:rec']);
  });

  it('DASHBOARD_METRICS lists exactly the metrics the queries use', () => {
    const used = new Set(dashboards.flatMap((d) => [
      ...allTargets(d).map((t) => t.expr),
      ...d.templating.list.map((v) => labelValues(v.query.query).selector),
    ]).flatMap(metricNames));
    expect(new Set(DASHBOARD_METRICS).size).toBe(DASHBOARD_METRICS.length);
    expect([...used].sort()).toEqual([...DASHBOARD_METRICS].sort());
  });

  it('Slurm cluster shows node states, the queue, CPU allocation and whether the Slurm exporter answers', () => {
    const d = byTitle('Slurm cluster');
    const used = new Set(allTargets(d).flatMap((t) => metricNames(t.expr)));
    for (const m of [
      'slurm_nodes_alloc', 'slurm_nodes_idle', 'slurm_nodes_mix', 'slurm_nodes_down', 'slurm_nodes_drain', 'slurm_nodes_fail',
      'slurm_queue_pending', 'slurm_queue_running', 'slurm_cpus_alloc', 'slurm_cpus_idle', 'slurm_cpus_total', 'slurmctld_up',
    ]) expect({ metric: m, used: used.has(m) }).toEqual({ metric: m, used: true });
    const reach = d.panels.find((p) => p.targets.some((t) => /\bup\{[^}]*job=~"slurm-\.\*"/.test(t.expr)));
    expect(reach?.type).toBe('stat');
  });

  it('GPU nodes shows DCGM utilisation, memory, temperature, power, XID errors and node memory and CPU', () => {
    const d = byTitle('GPU nodes');
    const used = new Set(allTargets(d).flatMap((t) => metricNames(t.expr)));
    for (const m of [
      'DCGM_FI_DEV_GPU_UTIL', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_POWER_USAGE',
      'DCGM_FI_DEV_XID_ERRORS', 'node_memory_MemAvailable_bytes', 'node_memory_MemTotal_bytes', 'node_cpu_seconds_total', 'up',
    ]) expect({ metric: m, used: used.has(m) }).toEqual({ metric: m, used: true });
    const xid = d.panels.filter((p) => /XID/.test(p.title));
    expect(xid.length).toBeGreaterThan(0);
    for (const p of xid) expect(p.targets.every((t) => metricNames(t.expr).includes('DCGM_FI_DEV_XID_ERRORS'))).toBe(true);
    expect(xid.map((p) => p.type)).toContain('table');
  });

  it('per-exporter metric lists cover DASHBOARD_METRICS except Prometheus\'s own up', () => {
    const listed = Object.values(DASHBOARD_METRICS_BY_EXPORTER).flat();
    expect([...listed, 'up'].sort()).toEqual([...DASHBOARD_METRICS].sort());
    expect(DASHBOARD_METRICS_BY_EXPORTER.dcgm.every((m) => m.startsWith('DCGM_FI_'))).toBe(true);
    expect(DASHBOARD_METRICS_BY_EXPORTER.node.every((m) => m.startsWith('node_'))).toBe(true);
    expect(DASHBOARD_METRICS_BY_EXPORTER.slurm.every((m) => /^slurm(ctld)?_/.test(m))).toBe(true);
  });
});

/**
 * Prometheus's own checks: every query (variables replaced as Grafana would) parses and type-checks
 * (`promtool check rules`), and returns data, a bounded number of series, from series labelled the way
 * `renderScrapeConfigs` labels them (`promtool test rules`).
 */
describe('the queries in Prometheus (promtool)', () => {
  const GPUS_PER_NODE = 8;
  const XID_NODE = 'gpu-3';
  const pools: { name: string; nodes: number; gpu: boolean }[] = [
    { name: 'gpu', nodes: 32, gpu: true }, // gpu-3 and gpu-30, gpu-31: a node filter must not match by prefix
    { name: 'h100', nodes: 8, gpu: true },
    { name: 'cpu', nodes: 4, gpu: false },
  ];
  const mesh = { kind: 'mesh' } as const;
  const groups: ScrapeTargetGroup[] = [
    ...(['node', 'slurm'] as ExporterKind[]).map((exporter) => ({ exporter, discovery: { kind: 'static' as const, hosts: ['10.0.0.10'] }, reach: mesh, labels: { cluster: CLUSTER, role: 'controller' } })),
    { exporter: 'node', discovery: { kind: 'static', hosts: ['10.0.0.20'] }, reach: mesh, labels: { cluster: CLUSTER, role: 'login', node: 'login-0' } },
    ...pools.flatMap((p) => (p.gpu ? ['node', 'dcgm'] as ExporterKind[] : ['node'] as ExporterKind[]).map((exporter) => ({
      exporter,
      discovery: { kind: 'static' as const, hosts: Array.from({ length: p.nodes }, (_, i) => `${p.name}-${i}`) },
      reach: mesh,
      labels: { cluster: CLUSTER, role: 'compute', pool: p.name },
    }))),
  ];

  const fmt = (metric: string, labels: Record<string, string>) =>
    `${metric}{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;

  /** Input series: `up` for every target of every job, and each exporter's metrics with the job's labels. */
  function inputSeries(): { series: string; values: string }[] {
    const out: { series: string; values: string }[] = [];
    const steady = (v: number) => `${v}x40`;
    for (const job of renderScrapeConfigs(groups)) {
      const name = job.job_name as string;
      const exporter = name.split('-')[0] as ExporterKind;
      const sc = (job.static_configs as { targets: string[]; labels: Record<string, string> }[])[0];
      for (const target of sc.targets) {
        const labels = { ...sc.labels, job: name, instance: target };
        const host = target.replace(/:\d+$/, '');
        out.push({ series: fmt('up', labels), values: steady(name === 'node-compute-gpu' && host === XID_NODE ? 0 : 1) });
        if (exporter === 'node') {
          out.push({ series: fmt('node_memory_MemAvailable_bytes', labels), values: steady(64e9) });
          out.push({ series: fmt('node_memory_MemTotal_bytes', labels), values: steady(128e9) });
          for (const mode of ['idle', 'user']) out.push({ series: fmt('node_cpu_seconds_total', { ...labels, cpu: '0', mode }), values: '0+15x40' });
        } else if (exporter === 'dcgm') {
          for (let gpu = 0; gpu < GPUS_PER_NODE; gpu++) {
            const g = { ...labels, gpu: String(gpu), UUID: `GPU-${host}-${gpu}`, modelName: 'NVIDIA H100 80GB HBM3', Hostname: host };
            const value: Record<string, number> = {
              DCGM_FI_DEV_GPU_UTIL: 10 + gpu * 10, DCGM_FI_DEV_FB_USED: 1000 * gpu, DCGM_FI_DEV_FB_FREE: 80000 - 1000 * gpu,
              DCGM_FI_DEV_GPU_TEMP: 40 + gpu, DCGM_FI_DEV_POWER_USAGE: 300, DCGM_FI_DEV_XID_ERRORS: host === XID_NODE && gpu === 5 ? 79 : 0,
            };
            for (const m of DASHBOARD_METRICS_BY_EXPORTER.dcgm) out.push({ series: fmt(m, g), values: steady(value[m]) });
          }
        } else {
          for (const m of DASHBOARD_METRICS_BY_EXPORTER.slurm) out.push({ series: fmt(m, labels), values: steady(m === 'slurm_cpus_total' ? 1024 : 4) });
        }
      }
    }
    // A second cluster on the same Prometheus.
    out.push({ series: fmt('up', { cluster: 'lab', role: 'controller', job: 'node-controller', instance: '10.1.0.10:9100' }), values: steady(1) });
    return out;
  }

  /** Variable values as Grafana sends them: "All" (allValue), one node, and a multi-value choice. */
  const scenarios: Record<string, Record<string, string>> = {
    all: { cluster: CLUSTER, pool: '.+', instance: '.+', __rate_interval: '2m' },
    'one node': { cluster: CLUSTER, pool: 'gpu', instance: XID_NODE, __rate_interval: '2m' },
    'two pools': { cluster: CLUSTER, pool: '(gpu|h100)', instance: '.+', __rate_interval: '2m' },
  };
  /** Most series a non-table panel's query may draw, whatever the pool size (here 320 GPUs). */
  const MAX_SERIES = 10;

  let promtoolMissing = false;
  let dir = '';
  beforeAll(() => {
    const v = spawnSync('promtool', ['--version']);
    if (v.error || v.status !== 0) {
      // CI installs it (scripts/setup-debian.sh): there, a missing checker is a failure, not a skip.
      if (process.env.CI) throw new Error('promtool missing in CI: run scripts/setup-debian.sh');
      console.warn('promtool is not installed (Debian package prometheus): the dashboard queries were not checked by Prometheus');
      promtoolMissing = true;
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grafana-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function promtool(args: string[]): string {
    const r = spawnSync('promtool', args, { encoding: 'utf8', cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    const out = r.stdout + r.stderr;
    expect(out).not.toMatch(/FAILED/);
    expect(r.status).toBe(0);
    return out;
  }

  it('every panel query parses and type-checks, for every variable choice', () => {
    if (promtoolMissing) return;
    const rules = Object.entries(scenarios).flatMap(([scenario, values]) => dashboards.flatMap((d) => d.panels.flatMap((p) => p.targets.map((t) => ({
      record: `check:${d.uid.replace(/-/g, '_')}:panel${p.id}_${t.refId}_${scenario.replace(/ /g, '_')}`,
      expr: substitute(t.expr, values),
    })))));
    fs.writeFileSync(path.join(dir, 'rules.yml'), stringify({ groups: [{ name: 'dashboards', rules }] }));
    expect(promtool(['check', 'rules', 'rules.yml'])).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('every panel query returns data from series labelled like renderScrapeConfigs, a bounded number of series except tables', () => {
    if (promtoolMissing) return;
    const tests: Record<string, unknown>[] = [];
    const at = { eval_time: '10m' };
    for (const values of Object.values(scenarios)) {
      for (const d of dashboards) {
        for (const p of d.panels) {
          for (const t of p.targets) {
            const expr = substitute(t.expr, values);
            // absent() is empty only when the query returns something.
            tests.push({ ...at, expr: `absent(${expr})`, exp_samples: [] });
            if (p.type !== 'table') {
              const max = p.type === 'stat' ? 1 : MAX_SERIES;
              tests.push({ ...at, expr: `count(${expr}) > ${max}`, exp_samples: [] });
            }
          }
        }
      }
    }
    // The node filter narrows to exactly that node's GPUs (port-tolerant, not gpu-30 by prefix); "All" keeps every GPU.
    const gpuUtil = byTitle('GPU nodes').panels.find((p) => p.title === 'Least busy GPUs')!.targets[0].expr;
    const selector = /^bottomk\(10, (.+)\)$/.exec(gpuUtil)![1];
    tests.push({ ...at, expr: `count(${substitute(selector, scenarios['one node'])})`, exp_samples: [{ labels: '{}', value: GPUS_PER_NODE }] });
    tests.push({ ...at, expr: `count(${substitute(selector, scenarios.all)})`, exp_samples: [{ labels: '{}', value: 40 * GPUS_PER_NODE }] });
    // The XID table names the GPU and its last XID code.
    const xid = byTitle('GPU nodes').panels.find((p) => p.title === 'XID errors')!.targets[0].expr;
    tests.push({ ...at, expr: `count by (instance, gpu) (${substitute(xid, scenarios.all)} == 79)`, exp_samples: [{ labels: `{instance="${XID_NODE}:9400",gpu="5"}`, value: 1 }] });

    const file = path.join(dir, 'tests.yml');
    fs.writeFileSync(file, stringify({
      evaluation_interval: '1m',
      tests: [{ interval: '30s', input_series: inputSeries(), promql_expr_test: tests }],
    }));
    expect(promtool(['test', 'rules', 'tests.yml'])).toContain('SUCCESS');
  });

  it('variable queries offer the clusters, the GPU pools only, and the GPU nodes', () => {
    if (promtoolMissing) return;
    const vars = byTitle('GPU nodes').templating.list;
    const q = (name: string) => labelValues(vars.find((v) => v.name === name)!.query.query);
    const gpuPools = pools.filter((p) => p.gpu);
    const expected: Record<string, string[]> = {
      cluster: [CLUSTER, 'lab'],
      pool: gpuPools.map((p) => p.name),
      instance: gpuPools.flatMap((p) => Array.from({ length: p.nodes }, (_, i) => `${p.name}-${i}:9400`)),
    };
    const tests = Object.entries(expected).map(([name, want]) => {
      const { selector, label } = q(name);
      return {
        eval_time: '10m',
        expr: `group by (${label}) (${substitute(selector, scenarios.all)})`,
        exp_samples: want.map((value) => ({ labels: `{${label}="${value}"}`, value: 1 })),
      };
    });
    fs.writeFileSync(path.join(dir, 'variables.yml'), stringify({
      evaluation_interval: '1m',
      tests: [{ interval: '30s', input_series: inputSeries(), promql_expr_test: tests }],
    }));
    expect(promtool(['test', 'rules', 'variables.yml'])).toContain('SUCCESS');
  });
});
