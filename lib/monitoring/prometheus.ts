/**
 * The monitor's Prometheus files: `prometheus.yml` (scrape jobs from the cluster's scrape target groups, one job
 * per host set, found by cloud service discovery or listed) and the alert rules the cluster ships. Pure: no cdktf.
 * Both are checked with `promtool` in the tests.
 */
import { stringify } from 'yaml';
import { renderScrapeConfigs, ScrapeTargetGroup } from './scrape-targets';

/** Where the files land on the monitoring host (Debian/Ubuntu's `prometheus` package reads this directory). */
export const PROMETHEUS_CONFIG_PATH = '/etc/prometheus/prometheus.yml';
export const PROMETHEUS_RULES_PATH = '/etc/prometheus/rules/cdktf-slurm.rules.yml';
/**
 * Stands for the monitor's AWS region in `ec2_sd_configs`: EC2 user-data cannot hold the provider's region when it is
 * a Terraform variable, and Prometheus refuses a config without one unless it can ask the instance metadata while
 * loading. monitoring-server.sh replaces it with the region IMDS reports before promtool checks the file.
 */
export const AWS_REGION_PLACEHOLDER = '@aws-region@';

/** Prometheus' own port (the package default); Grafana's data source points at it on the same host. */
export const PROMETHEUS_PORT = 9090;

export interface PrometheusConfigOptions {
  /** The cluster's scrape target groups (`SlurmController.scrapeTargets()`). */
  readonly groups: readonly ScrapeTargetGroup[];
  /** Label every series carries, so one Grafana can show several clusters. */
  readonly clusterName: string;
  /** Region of EC2 service discovery. @default the monitor's own region, from its instance metadata */
  readonly awsRegion?: string;
  /** @default `'30s'` */
  readonly scrapeInterval?: string;
  /** @default the scrape interval */
  readonly evaluationInterval?: string;
  /** Rule files to load. @default [PROMETHEUS_RULES_PATH] */
  readonly ruleFiles?: readonly string[];
  /** Also scrape Prometheus itself on this port. @default PROMETHEUS_PORT */
  readonly selfPort?: number;
}

const DURATION = /^[1-9][0-9]*(ms|s|m|h)$/;

/** `prometheus.yml`. @throws naming the field, the value and the fix, or any scrape group problem */
export function renderPrometheusConfig(options: PrometheusConfigOptions): string {
  const interval = options.scrapeInterval ?? '30s';
  const evaluation = options.evaluationInterval ?? interval;
  for (const [field, value] of [['scrapeInterval', interval], ['evaluationInterval', evaluation]] as const) {
    if (!DURATION.test(value)) throw new Error(`prometheus: ${field} = ${JSON.stringify(value)}: not a Prometheus duration. Use e.g. '30s' or '1m'`);
  }
  if (!/^[a-z][a-z0-9_]*$/.test(options.clusterName)) {
    throw new Error(`prometheus: clusterName = ${JSON.stringify(options.clusterName)}: not a Slurm cluster name. Pass the controller's clusterName`);
  }
  const selfPort = options.selfPort ?? PROMETHEUS_PORT;
  const config = {
    global: {
      scrape_interval: interval,
      evaluation_interval: evaluation,
      // A slow node answers within the interval or counts as down; never longer than the interval.
      scrape_timeout: interval.endsWith('ms') || parseInt(interval, 10) < 10 ? interval : '10s',
      external_labels: { cluster: options.clusterName },
    },
    rule_files: [...(options.ruleFiles ?? [PROMETHEUS_RULES_PATH])],
    scrape_configs: [
      { job_name: 'prometheus', static_configs: [{ targets: [`localhost:${selfPort}`], labels: { cluster: options.clusterName, role: 'monitor' } }] },
      ...renderScrapeConfigs(options.groups, { awsRegion: options.awsRegion }),
    ],
  };
  return `# Written by cdktf-slurm: scrape jobs from the cluster's host sets; re-rendered on every synth.\n${stringify(config, { lineWidth: 0 })}`;
}

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the condition must hold. */
  readonly for: string;
  readonly severity: 'warning' | 'critical';
  readonly summary: string;
}

/** Free-space share below which a disk alert fires; local scratch and OS disks only (shared file systems have their own). */
const DISK_FSTYPES = 'ext4|xfs|btrfs';

/** The cluster's alert rules: what an operator must hear about without logging in. */
export const ALERT_RULES: readonly AlertRule[] = [
  {
    alert: 'NodeDown', expr: 'up{job=~"node-.*"} == 0', for: '5m', severity: 'critical',
    summary: 'node_exporter on {{ $labels.instance }} ({{ $labels.role }} {{ $labels.pool }}) has not answered for 5 minutes',
  },
  {
    alert: 'SlurmctldDown', expr: 'slurmctld_up == 0', for: '2m', severity: 'critical',
    summary: 'slurmctld does not answer scontrol ping on the controller of {{ $labels.cluster }}',
  },
  {
    alert: 'SlurmExporterDown', expr: 'up{job=~"slurm-.*"} == 0', for: '5m', severity: 'critical',
    summary: 'the Slurm exporter on the controller of {{ $labels.cluster }} is unreachable: the controller itself may be down',
  },
  {
    alert: 'SlurmNodesDown', expr: 'slurm_nodes_down + slurm_nodes_fail > 0', for: '10m', severity: 'warning',
    summary: '{{ $value }} Slurm node(s) DOWN or FAILED for 10 minutes; see sinfo -R',
  },
  {
    alert: 'SlurmNodesDrained', expr: 'slurm_nodes_drain > 0', for: '30m', severity: 'warning',
    summary: '{{ $value }} Slurm node(s) drained for 30 minutes (a failed mount or health check drains a node); see sinfo -R',
  },
  {
    // DCGM reports the last XID error code; any non-zero value is a GPU fault the driver logged.
    alert: 'GpuXidError', expr: 'DCGM_FI_DEV_XID_ERRORS > 0', for: '0m', severity: 'critical',
    summary: 'GPU {{ $labels.gpu }} on {{ $labels.instance }} reported XID {{ $value }}; drain the node and check dmesg',
  },
  {
    alert: 'GpuTemperatureHigh', expr: 'DCGM_FI_DEV_GPU_TEMP > 85', for: '10m', severity: 'warning',
    summary: 'GPU {{ $labels.gpu }} on {{ $labels.instance }} above 85 °C for 10 minutes',
  },
  {
    alert: 'GpuExporterDown', expr: 'up{job=~"dcgm-.*"} == 0', for: '10m', severity: 'warning',
    summary: 'dcgm-exporter on {{ $labels.instance }} is unreachable: no GPU health data from it',
  },
  {
    alert: 'ExporterMissing', expr: 'cdktf_slurm_exporter_missing == 1', for: '0m', severity: 'warning',
    summary: '{{ $labels.exporter }} exporter could not be installed on {{ $labels.instance }}; see /var/log/cdktf-slurm/bootstrap.log',
  },
  {
    alert: 'DiskAlmostFull',
    expr: `node_filesystem_avail_bytes{fstype=~"${DISK_FSTYPES}"} / node_filesystem_size_bytes{fstype=~"${DISK_FSTYPES}"} < 0.10`,
    for: '15m', severity: 'warning',
    summary: '{{ $labels.mountpoint }} on {{ $labels.instance }} has less than 10% free',
  },
  {
    alert: 'DiskFull',
    expr: `node_filesystem_avail_bytes{fstype=~"${DISK_FSTYPES}"} / node_filesystem_size_bytes{fstype=~"${DISK_FSTYPES}"} < 0.03`,
    for: '5m', severity: 'critical',
    summary: '{{ $labels.mountpoint }} on {{ $labels.instance }} has less than 3% free; jobs writing there will fail',
  },
];

/** The rules file (`groups:` of one group). */
export function renderAlertRules(rules: readonly AlertRule[] = ALERT_RULES): string {
  const doc = {
    groups: [{
      name: 'cdktf-slurm',
      rules: rules.map((r) => ({ alert: r.alert, expr: r.expr, for: r.for, labels: { severity: r.severity }, annotations: { summary: r.summary } })),
    }],
  };
  return `# Written by cdktf-slurm: the cluster's alert rules.\n${stringify(doc, { lineWidth: 0 })}`;
}
