/**
 * Grafana for `MonitoringStack`: the provisioning files that point Grafana at the cluster's Prometheus, and the
 * dashboards it loads from disk. Everything is provisioned (read-only in the UI), so a redeploy is the only way a
 * dashboard changes and two monitors of one cluster show the same thing. Pure: no cdktf.
 *
 * Series labels the queries rely on are those `renderScrapeConfigs` sets (lib/monitoring/scrape-targets.ts):
 * `cluster`, `role`, `pool`, `instance`, and `job` = `<exporter>-<role>[-<pool>]`, so `job=~"dcgm-.*"` is every
 * DCGM exporter of every pool and `job=~"slurm-.*"` the Slurm exporter on the controller.
 */
import { stringify } from 'yaml';
import type { ExporterKind } from './scrape-targets';

/** Where Grafana's own .deb/.rpm packages read provisioning files (`paths.provisioning` in /etc/grafana/grafana.ini). */
/** Grafana's HTTP port (its default). */
export const GRAFANA_PORT = 3000;

export const GRAFANA_PROVISIONING_DIR = '/etc/grafana/provisioning';

/**
 * Where the dashboard JSON files go: under Grafana's data directory (owned by the `grafana` user, kept across
 * package upgrades), in a folder of our own, so the file provider owns exactly these dashboards and deleting a file
 * here removes its dashboard without touching anything an operator added by hand.
 */
export const GRAFANA_DASHBOARDS_DIR = '/var/lib/grafana/dashboards/cdktf-slurm';

/** The datasource provisioning file (`renderGrafanaDatasources`). */
export const GRAFANA_DATASOURCES_FILE = `${GRAFANA_PROVISIONING_DIR}/datasources/cdktf-slurm.yaml`;

/** The dashboard provider provisioning file (`renderGrafanaDashboardProvider`). */
export const GRAFANA_DASHBOARD_PROVIDER_FILE = `${GRAFANA_PROVISIONING_DIR}/dashboards/cdktf-slurm.yaml`;

/** Fixed so dashboards can name their datasource by uid: a generated uid would differ on every Grafana. */
export const PROMETHEUS_DATASOURCE_UID = 'cdktf-slurm-prometheus';

/** The Grafana folder the dashboards appear in. */
export const GRAFANA_DASHBOARD_FOLDER = 'Slurm';

/**
 * Metric names the dashboards query, per exporter, so tests can check them against what each exporter serves:
 * node_exporter, NVIDIA dcgm-exporter's default counters, and the Slurm exporter's names, which are those of the
 * widely used vpenso/prometheus-slurm-exporter (`slurm_nodes_<state>`, `slurm_queue_<state>`, `slurm_cpus_<state>`,
 * `slurm_gpus_{alloc,total}`) plus `slurmctld_up`, which only the library's own collector writes.
 */
export const DASHBOARD_METRICS_BY_EXPORTER: Readonly<Record<ExporterKind, readonly string[]>> = {
  node: ['node_cpu_seconds_total', 'node_memory_MemAvailable_bytes', 'node_memory_MemTotal_bytes'],
  dcgm: [
    'DCGM_FI_DEV_FB_FREE', 'DCGM_FI_DEV_FB_USED', 'DCGM_FI_DEV_GPU_TEMP', 'DCGM_FI_DEV_GPU_UTIL',
    'DCGM_FI_DEV_POWER_USAGE', 'DCGM_FI_DEV_XID_ERRORS',
  ],
  slurm: [
    'slurm_cpus_alloc', 'slurm_cpus_idle', 'slurm_cpus_other', 'slurm_cpus_total',
    'slurm_gpus_alloc', 'slurm_gpus_total',
    'slurm_nodes_alloc', 'slurm_nodes_comp', 'slurm_nodes_down', 'slurm_nodes_drain', 'slurm_nodes_fail',
    'slurm_nodes_idle', 'slurm_nodes_maint', 'slurm_nodes_mix', 'slurm_nodes_powered_down', 'slurm_nodes_resv',
    'slurm_nodes_total',
    'slurm_queue_pending', 'slurm_queue_running', 'slurmctld_up',
  ],
};

/** Every metric name the dashboards query: the exporters' plus Prometheus's own `up`. */
export const DASHBOARD_METRICS: readonly string[] = ['up', ...Object.values(DASHBOARD_METRICS_BY_EXPORTER).flat()];

/** A dashboard file for `GRAFANA_DASHBOARDS_DIR`. */
export interface GrafanaDashboardFile {
  /** File name inside `GRAFANA_DASHBOARDS_DIR`. */
  readonly fileName: string;
  /** The dashboard, as Grafana's dashboard JSON. */
  readonly json: string;
}

const HOST = '(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])';
const PROMETHEUS_URL = new RegExp(`^https?://${HOST}:(\\d{1,5})/?$`);
const DURATION = /^[1-9][0-9]*(ms|s|m|h)$/;

/**
 * `provisioning/datasources/cdktf-slurm.yaml`: the cluster's Prometheus as Grafana's default datasource.
 * @param opts.prometheusUrl where Grafana's server reaches Prometheus, `http(s)://host:port` (access is `proxy`:
 *   the browser never talks to Prometheus)
 * @param opts.scrapeInterval the scrape interval, which Grafana needs so `$__rate_interval` spans enough samples. @default '30s'
 * @throws naming the field, the bad value and the fix
 */
export function renderGrafanaDatasources(opts: { readonly prometheusUrl: string; readonly scrapeInterval?: string }): string {
  const url = opts.prometheusUrl;
  const m = PROMETHEUS_URL.exec(url);
  const port = m ? Number(m[1]) : 0;
  if (!m || port < 1 || port > 65535) {
    throw new Error(
      `renderGrafanaDatasources: prometheusUrl = ${JSON.stringify(url)}: not http(s)://host:port ` +
      '(a port is required; paths, query strings and credentials are refused). Use e.g. http://10.0.0.10:9090',
    );
  }
  const scrapeInterval = opts.scrapeInterval ?? '30s';
  if (!DURATION.test(scrapeInterval)) {
    throw new Error(`renderGrafanaDatasources: scrapeInterval = ${JSON.stringify(scrapeInterval)}: not a duration. Use e.g. '30s' or '1m'`);
  }
  return stringify({
    apiVersion: 1,
    datasources: [{
      name: 'cdktf-slurm Prometheus',
      uid: PROMETHEUS_DATASOURCE_UID,
      type: 'prometheus',
      access: 'proxy',
      url: url.replace(/\/$/, ''),
      isDefault: true,
      editable: false,
      // POST: "All" of a big pool can make long queries; GET would hit URL length limits first.
      jsonData: { timeInterval: scrapeInterval, httpMethod: 'POST' },
    }],
  });
}

/** `provisioning/dashboards/cdktf-slurm.yaml`: load every JSON file in `GRAFANA_DASHBOARDS_DIR`, read-only. */
export function renderGrafanaDashboardProvider(): string {
  return stringify({
    apiVersion: 1,
    providers: [{
      name: 'cdktf-slurm',
      orgId: 1,
      folder: GRAFANA_DASHBOARD_FOLDER,
      type: 'file',
      // The files are the source of truth: no deleting from the UI, no UI edits a redeploy would silently undo.
      disableDeletion: true,
      allowUiUpdates: false,
      options: { path: GRAFANA_DASHBOARDS_DIR, foldersFromFilesStructure: false },
    }],
  });
}

// ---- dashboards ----

const DATASOURCE = { type: 'prometheus', uid: PROMETHEUS_DATASOURCE_UID } as const;
const UP_DOWN = { 0: { text: 'down', color: 'red' }, 1: { text: 'up', color: 'green' } };
const GRID_COLUMNS = 24;

type PanelType = 'timeseries' | 'stat' | 'table' | 'bargauge';

interface Query {
  readonly expr: string;
  /** @default '' (Grafana's own series name) */
  readonly legend?: string;
}

interface PanelSpec {
  readonly type: PanelType;
  readonly title: string;
  readonly description: string;
  readonly w: number;
  /** @default 8 (4 for stat) */
  readonly h?: number;
  readonly queries: readonly Query[];
  /** Grafana unit id. @default 'short' */
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  /** Value at which the panel turns red. @default none (always green) */
  readonly redFrom?: number;
  /** Stack the series (states that add up to a whole). @default false */
  readonly stacked?: boolean;
  /** Value → text and colour for stat panels. @default none */
  readonly valueText?: Readonly<Record<string, { readonly text: string; readonly color: string }>>;
}

/** Lays out rows left to right, top to bottom; a row is as tall as its tallest panel. */
function layout(rows: readonly (readonly PanelSpec[])[]): Record<string, unknown>[] {
  const panels: Record<string, unknown>[] = [];
  let y = 0;
  for (const row of rows) {
    let x = 0;
    let rowHeight = 0;
    for (const spec of row) {
      const h = spec.h ?? (spec.type === 'stat' ? 4 : 8);
      if (x + spec.w > GRID_COLUMNS) throw new Error(`panel ${spec.title}: row is wider than ${GRID_COLUMNS} columns`);
      panels.push(panel(spec, panels.length + 1, { h, w: spec.w, x, y }));
      x += spec.w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  return panels;
}

function panel(spec: PanelSpec, id: number, gridPos: { h: number; w: number; x: number; y: number }): Record<string, unknown> {
  // Tables list what is wrong now (one row per failing target or GPU), so they query one instant, not a range.
  const instant = spec.type === 'table';
  const targets = spec.queries.map((q, i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    expr: q.expr,
    legendFormat: q.legend ?? '',
    range: !instant,
    instant,
    ...(instant ? { format: 'table' } : {}),
  }));
  const steps: { color: string; value: number | null }[] = [{ color: 'green', value: null }];
  if (spec.redFrom !== undefined) steps.push({ color: 'red', value: spec.redFrom });
  const defaults: Record<string, unknown> = {
    unit: spec.unit ?? 'short',
    thresholds: { mode: 'absolute', steps },
    mappings: spec.valueText
      ? [{ type: 'value', options: Object.fromEntries(Object.entries(spec.valueText).map(([v, t], i) => [v, { ...t, index: i }])) }]
      : [],
    ...(spec.min !== undefined ? { min: spec.min } : {}),
    ...(spec.max !== undefined ? { max: spec.max } : {}),
  };
  if (spec.type === 'timeseries') {
    defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: spec.stacked ? 30 : 0, stacking: { mode: spec.stacked ? 'normal' : 'none', group: 'A' } };
  }
  const reduceOptions = { calcs: ['lastNotNull'], fields: '', values: false };
  const options: Record<string, unknown> = {
    timeseries: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    stat: { reduceOptions, colorMode: 'value', graphMode: 'area', justifyMode: 'auto', orientation: 'auto', textMode: 'auto' },
    bargauge: { reduceOptions, displayMode: 'gradient', orientation: 'horizontal', showUnfilled: true },
    table: { showHeader: true, cellHeight: 'sm' },
  }[spec.type];
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    gridPos,
    datasource: DATASOURCE,
    targets,
    fieldConfig: { defaults, overrides: [] },
    options,
    // Tables: drop the sample time and metric name columns; the labels say which target or GPU.
    ...(spec.type === 'table' ? { transformations: [{ id: 'organize', options: { excludeByName: { Time: true, __name__: true } } }] } : {}),
  };
}

interface VariableSpec {
  readonly name: string;
  readonly label: string;
  /** `label_values(<selector>, <label>)`; may use variables defined before it. */
  readonly query: string;
  /** Several values and "All". @default false */
  readonly multi?: boolean;
  /** Grafana regex applied to each value; its first group becomes the value. @default '' */
  readonly regex?: string;
  /** Selected when the dashboard opens. @default "All" for multi, else Grafana's first value */
  readonly current?: string;
}

function variable(v: VariableSpec): Record<string, unknown> {
  const current = v.multi ? { selected: true, text: ['All'], value: ['$__all'] } : v.current ? { selected: true, text: v.current, value: v.current } : {};
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: DATASOURCE,
    definition: v.query,
    query: { query: v.query, refId: `${v.name}-values` },
    refresh: 2, // on time range change: pools and nodes come and go
    sort: 1,
    regex: v.regex ?? '',
    multi: v.multi ?? false,
    includeAll: v.multi ?? false,
    // "All" as one regex: Grafana's default lists every value, a 4096-alternative regex for a 4096-node pool.
    ...(v.multi ? { allValue: '.+' } : {}),
    current,
    options: [],
    hide: 0,
    skipUrlSync: false,
  };
}

interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly VariableSpec[];
  readonly rows: readonly (readonly PanelSpec[])[];
}

function dashboard(spec: DashboardSpec): string {
  const doc = {
    id: null,
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['slurm', 'cdktf-slurm'],
    editable: false,
    graphTooltip: 1, // shared crosshair: one moment across every panel
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '1m',
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: { list: spec.variables.map(variable) },
    panels: layout(spec.rows),
  };
  // Compact: the file rides in user-data (EC2 allows 16 KiB gzipped); Grafana shows it formatted anyway.
  return `${JSON.stringify(doc)}\n`;
}

/**
 * The dashboards for `GRAFANA_DASHBOARDS_DIR`: "Slurm cluster" (node states, queue, CPU and GPU allocation, exporter
 * health) and "GPU nodes" (DCGM and node_exporter). Views are aggregated by pool or cut to the top 10, so a
 * 4096-node pool draws a handful of series; a `cluster` variable picks the cluster when one Prometheus holds several.
 * @param opts.clusterName the cluster selected when a dashboard opens (its `cluster` label)
 * @throws when `clusterName` is empty
 */
export function grafanaDashboards(opts: { readonly clusterName: string }): GrafanaDashboardFile[] {
  if (opts.clusterName.trim() === '' || /[\r\n]/.test(opts.clusterName)) {
    throw new Error(`grafanaDashboards: clusterName = ${JSON.stringify(opts.clusterName)}: not a cluster name. Use the controller's clusterName`);
  }
  const cluster: VariableSpec = { name: 'cluster', label: 'Cluster', query: 'label_values(up, cluster)', current: opts.clusterName };
  return [
    { fileName: 'slurm-cluster.json', json: dashboard(slurmCluster(cluster)) },
    { fileName: 'gpu-nodes.json', json: dashboard(gpuNodes(cluster)) },
  ];
}

function slurmCluster(cluster: VariableSpec): DashboardSpec {
  // The Slurm exporter runs once, on the controller: its series carry `cluster` and `role`, no pool.
  const c = 'cluster="$cluster"';
  const s = (metric: string) => `${metric}{${c}}`;
  const states = ['alloc', 'mix', 'idle', 'comp', 'drain', 'down', 'fail', 'maint', 'resv'];
  return {
    uid: 'cdktf-slurm-cluster',
    title: 'Slurm cluster',
    description: 'Node states, job queue and allocation from the Slurm exporter on the controller; which exporters answer.',
    variables: [cluster],
    rows: [
      [
        { type: 'stat', w: 3, title: 'Slurm exporter', description: 'Whether Prometheus reaches the Slurm exporter on the controller. Down: every Slurm panel here is stale.', queries: [{ expr: `max(up{${c}, job=~"slurm-.*"})` }], valueText: UP_DOWN, min: 0, max: 1 },
        { type: 'stat', w: 3, title: 'slurmctld', description: 'Whether slurmctld answers scontrol ping. Down: the Slurm exporter writes no other metric, so the panels below show no data.', queries: [{ expr: `max(${s('slurmctld_up')})` }], valueText: UP_DOWN, min: 0, max: 1 },
        { type: 'stat', w: 3, title: 'Nodes down, drained or failed', description: 'Nodes that take no jobs: DOWN, DRAIN and FAIL.', queries: [{ expr: `${s('slurm_nodes_down')} + ${s('slurm_nodes_drain')} + ${s('slurm_nodes_fail')}` }], redFrom: 1 },
        { type: 'stat', w: 3, title: 'Jobs pending', description: 'Jobs waiting for resources, dependencies or priority.', queries: [{ expr: s('slurm_queue_pending') }] },
        { type: 'stat', w: 3, title: 'Jobs running', description: 'Jobs in the RUNNING state.', queries: [{ expr: s('slurm_queue_running') }] },
        { type: 'stat', w: 3, title: 'Nodes', description: 'Nodes slurmctld knows, and how many of them are cloud nodes powered down by power saving.', queries: [{ expr: s('slurm_nodes_total'), legend: 'known' }, { expr: s('slurm_nodes_powered_down'), legend: 'powered down' }] },
        { type: 'stat', w: 3, title: 'CPUs allocated', description: 'Share of the cluster\'s CPUs allocated to jobs.', queries: [{ expr: `${s('slurm_cpus_alloc')} / ${s('slurm_cpus_total')}` }], unit: 'percentunit', min: 0, max: 1 },
        { type: 'stat', w: 3, title: 'GPUs allocated', description: 'Share of the cluster\'s GPUs allocated to jobs.', queries: [{ expr: `${s('slurm_gpus_alloc')} / ${s('slurm_gpus_total')}` }], unit: 'percentunit', min: 0, max: 1 },
      ],
      [
        { type: 'timeseries', w: 12, title: 'Nodes by state', description: 'Each node counted once, in its main state (a powered-down idle cloud node is idle).', queries: states.map((st) => ({ expr: s(`slurm_nodes_${st}`), legend: st })), stacked: true, min: 0 },
        { type: 'timeseries', w: 12, title: 'Jobs', description: 'Pending and running jobs.', queries: [{ expr: s('slurm_queue_pending'), legend: 'pending' }, { expr: s('slurm_queue_running'), legend: 'running' }], min: 0 },
      ],
      [
        { type: 'timeseries', w: 12, title: 'CPUs', description: 'Allocated, idle and other (on nodes that are down or drained) CPUs; the total is their sum.', queries: [{ expr: s('slurm_cpus_alloc'), legend: 'allocated' }, { expr: s('slurm_cpus_idle'), legend: 'idle' }, { expr: s('slurm_cpus_other'), legend: 'other' }, { expr: s('slurm_cpus_total'), legend: 'total' }], min: 0 },
        { type: 'timeseries', w: 12, title: 'GPUs', description: 'Allocated and total GPUs as Slurm counts them (GRES).', queries: [{ expr: s('slurm_gpus_alloc'), legend: 'allocated' }, { expr: s('slurm_gpus_total'), legend: 'total' }], min: 0 },
      ],
      [
        { type: 'bargauge', w: 12, title: 'Exporters up, by job', description: 'Share of each scrape job\'s targets that answer (job = exporter-role-pool).', queries: [{ expr: `sum by (job) (up{${c}}) / count by (job) (up{${c}})`, legend: '{{job}}' }], unit: 'percentunit', min: 0, max: 1 },
        { type: 'table', w: 12, title: 'Targets down', description: 'Every exporter Prometheus cannot scrape now.', queries: [{ expr: `up{${c}} == 0` }] },
      ],
    ],
  };
}

function gpuNodes(cluster: VariableSpec): DashboardSpec {
  // `instance` is the Slurm node name on cloud pools but `host:port` on mesh pools, whose node and DCGM
  // exporters differ in port: the variable keeps the host, queries accept any port after it.
  const sel = 'cluster="$cluster", pool=~"$pool", instance=~"${instance}(:[0-9]+)?"';
  const dcgm = (metric: string) => `${metric}{${sel}}`;
  const node = (metric: string, extra = '') => `${metric}{${sel}, job=~"node-.*"${extra}}`;
  const perGpu = '{{instance}} GPU {{gpu}}';
  return {
    uid: 'cdktf-slurm-gpu-nodes',
    title: 'GPU nodes',
    description: 'DCGM and node_exporter on the GPU pools, by pool or the top 10 GPUs, so a pool of thousands stays readable.',
    variables: [
      cluster,
      { name: 'pool', label: 'Pool', query: 'label_values(up{cluster="$cluster", job=~"dcgm-.*"}, pool)', multi: true },
      { name: 'instance', label: 'Node', query: 'label_values(up{cluster="$cluster", pool=~"$pool", job=~"dcgm-.*"}, instance)', multi: true, regex: '/^([^:]+)/' },
    ],
    rows: [
      [
        { type: 'stat', w: 6, title: 'GPU nodes up', description: 'DCGM exporters that answer.', queries: [{ expr: `sum(up{${sel}, job=~"dcgm-.*"})` }] },
        { type: 'stat', w: 6, title: 'GPU nodes down', description: 'DCGM exporters Prometheus cannot scrape.', queries: [{ expr: `count(up{${sel}, job=~"dcgm-.*"} == 0) or vector(0)` }], redFrom: 1 },
        { type: 'stat', w: 6, title: 'Mean GPU utilisation', description: 'Mean over the selected GPUs.', queries: [{ expr: `avg(${dcgm('DCGM_FI_DEV_GPU_UTIL')})` }], unit: 'percent', min: 0, max: 100 },
        { type: 'stat', w: 6, title: 'GPUs with an XID error', description: 'GPUs whose last XID (DCGM_FI_DEV_XID_ERRORS) is not 0; the table below names them.', queries: [{ expr: `count(${dcgm('DCGM_FI_DEV_XID_ERRORS')} > 0) or vector(0)` }], redFrom: 1 },
      ],
      [
        { type: 'timeseries', w: 12, title: 'GPU utilisation by pool', description: 'Mean utilisation of each pool\'s GPUs.', queries: [{ expr: `avg by (pool) (${dcgm('DCGM_FI_DEV_GPU_UTIL')})`, legend: '{{pool}}' }], unit: 'percent', min: 0, max: 100 },
        { type: 'timeseries', w: 12, title: 'Least busy GPUs', description: 'The 10 GPUs with the lowest utilisation at each moment: allocated but idle GPUs show here.', queries: [{ expr: `bottomk(10, ${dcgm('DCGM_FI_DEV_GPU_UTIL')})`, legend: perGpu }], unit: 'percent', min: 0, max: 100 },
      ],
      [
        { type: 'timeseries', w: 12, title: 'GPU memory by pool', description: 'Framebuffer memory used and free, summed over each pool.', queries: [{ expr: `sum by (pool) (${dcgm('DCGM_FI_DEV_FB_USED')})`, legend: '{{pool}} used' }, { expr: `sum by (pool) (${dcgm('DCGM_FI_DEV_FB_FREE')})`, legend: '{{pool}} free' }], unit: 'mbytes', min: 0 },
        { type: 'timeseries', w: 12, title: 'Fullest GPU memory', description: 'The 10 GPUs with the largest share of framebuffer memory used.', queries: [{ expr: `topk(10, ${dcgm('DCGM_FI_DEV_FB_USED')} / (${dcgm('DCGM_FI_DEV_FB_USED')} + ${dcgm('DCGM_FI_DEV_FB_FREE')}))`, legend: perGpu }], unit: 'percentunit', min: 0, max: 1 },
      ],
      [
        { type: 'timeseries', w: 12, title: 'Hottest GPUs', description: 'The 10 hottest GPUs.', queries: [{ expr: `topk(10, ${dcgm('DCGM_FI_DEV_GPU_TEMP')})`, legend: perGpu }], unit: 'celsius' },
        { type: 'timeseries', w: 12, title: 'GPU power by pool', description: 'Power draw summed over each pool.', queries: [{ expr: `sum by (pool) (${dcgm('DCGM_FI_DEV_POWER_USAGE')})`, legend: '{{pool}}' }], unit: 'watt', min: 0 },
      ],
      [
        { type: 'table', w: 12, title: 'XID errors', description: 'GPUs whose last XID error is not 0; the value is the XID code (a gauge of the last code, not a count).', queries: [{ expr: `${dcgm('DCGM_FI_DEV_XID_ERRORS')} > 0` }] },
        { type: 'table', w: 12, title: 'Exporters down', description: 'node and DCGM exporters of the selected nodes that Prometheus cannot scrape.', queries: [{ expr: `up{${sel}, job=~"(node|dcgm)-.*"} == 0` }] },
      ],
      [
        { type: 'timeseries', w: 12, title: 'Node memory used by pool', description: 'Share of host memory not available to new processes (MemAvailable), over each pool.', queries: [{ expr: `1 - sum by (pool) (${node('node_memory_MemAvailable_bytes')}) / sum by (pool) (${node('node_memory_MemTotal_bytes')})`, legend: '{{pool}}' }], unit: 'percentunit', min: 0, max: 1 },
        { type: 'timeseries', w: 12, title: 'Node CPU busy by pool', description: 'Share of host CPU time not idle, over each pool.', queries: [{ expr: `1 - avg by (pool) (rate(${node('node_cpu_seconds_total', ', mode="idle"')}[$__rate_interval]))`, legend: '{{pool}}' }], unit: 'percentunit', min: 0, max: 1 },
      ],
    ],
  };
}
