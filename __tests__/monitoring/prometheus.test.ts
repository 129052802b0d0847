/**
 * The monitor's Prometheus files, checked by Debian's promtool (the same parser Prometheus uses): the config with
 * EC2, GCE and static jobs from a cluster's scrape target groups, and the alert rules.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse } from 'yaml';
import { ALERT_RULES, PROMETHEUS_RULES_PATH, renderAlertRules, renderPrometheusConfig } from '../../lib/monitoring/prometheus';
import { ScrapeTargetGroup } from '../../lib/monitoring/scrape-targets';

type Json = Record<string, any>;
const havePromtool = spawnSync('promtool', ['--version']).status === 0;

const GROUPS: ScrapeTargetGroup[] = [
  { exporter: 'node', discovery: { kind: 'static', hosts: ['10.0.1.10'] }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'controller' } },
  { exporter: 'slurm', discovery: { kind: 'static', hosts: ['10.0.1.10'] }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'controller' } },
  { exporter: 'node', discovery: { kind: 'ec2', tags: { 'slurm:cluster': 'hpc', 'slurm:pool': 'gpu' } }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'compute', pool: 'gpu' } },
  { exporter: 'dcgm', discovery: { kind: 'ec2', tags: { 'slurm:cluster': 'hpc', 'slurm:pool': 'gpu' } }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'compute', pool: 'gpu' } },
  { exporter: 'node', discovery: { kind: 'gce', project: 'p-1234', zone: 'us-central1-a', labels: { 'slurm-pool': 'a3' } }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'compute', pool: 'a3' } },
];

function promtool(args: string[], files: Record<string, string>) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promtool-'));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });
  fs.rmSync(dir, { recursive: true, force: true });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('prometheus.yml', () => {
  const text = renderPrometheusConfig({ groups: GROUPS, clusterName: 'hpc', awsRegion: 'us-east-1', ruleFiles: ['rules.yml'] });
  const doc: Json = parse(text);

  test('one job per host set plus Prometheus itself; the cluster as an external label; rule files loaded', () => {
    expect(doc.scrape_configs.map((j: Json) => j.job_name)).toEqual(['prometheus', 'node-controller', 'slurm-controller', 'node-compute-gpu', 'dcgm-compute-gpu', 'node-compute-a3']);
    expect(doc.global).toMatchObject({ scrape_interval: '30s', evaluation_interval: '30s', scrape_timeout: '10s', external_labels: { cluster: 'hpc' } });
    expect(doc.rule_files).toEqual(['rules.yml']);
    expect(doc.scrape_configs[2].static_configs[0].targets).toEqual(['10.0.1.10:8080']);
    expect(doc.scrape_configs[4].ec2_sd_configs[0]).toMatchObject({ region: 'us-east-1', port: 9400 });
    expect(doc.scrape_configs[5].gce_sd_configs[0]).toMatchObject({ project: 'p-1234', zone: 'us-central1-a', port: 9100, filter: 'labels.slurm-pool="a3"' });
  });

  (havePromtool ? test : test.skip)('promtool check config accepts it (with its rules file)', () => {
    const r = promtool(['check', 'config', 'prometheus.yml'], { 'prometheus.yml': text, 'rules.yml': renderAlertRules() });
    expect(r.out).toMatch(/SUCCESS/);
    expect(r.status).toBe(0);
  });

  test('the default rule file is the one the monitor writes', () => {
    expect(parse(renderPrometheusConfig({ groups: [], clusterName: 'hpc' })).rule_files).toEqual([PROMETHEUS_RULES_PATH]);
  });

  test.each([
    [{ scrapeInterval: '30 seconds' }, /prometheus: scrapeInterval = "30 seconds": not a Prometheus duration/],
    [{ clusterName: 'HPC cluster' }, /prometheus: clusterName = "HPC cluster"/],
  ])('%p is refused', (change, message) => {
    expect(() => renderPrometheusConfig({ groups: GROUPS, clusterName: 'hpc', awsRegion: 'us-east-1', ...change })).toThrow(message);
  });

  test('without a region, EC2 discovery omits it (Prometheus then uses the monitor\'s own, from the instance metadata)', () => {
    const jobs = parse(renderPrometheusConfig({ groups: GROUPS, clusterName: 'hpc' })).scrape_configs as Json[];
    const ec2 = jobs.filter((j) => j.ec2_sd_configs);
    expect(ec2).toHaveLength(2);
    for (const j of ec2) expect(Object.keys(j.ec2_sd_configs[0])).not.toContain('region');
  });
});

describe('alert rules', () => {
  const text = renderAlertRules();
  const rules: Json[] = parse(text).groups[0].rules;

  (havePromtool ? test : test.skip)('promtool check rules accepts them', () => {
    const r = promtool(['check', 'rules', 'rules.yml'], { 'rules.yml': text });
    expect(r.out).toMatch(new RegExp(`SUCCESS: ${ALERT_RULES.length} rules found`));
    expect(r.status).toBe(0);
  });

  (havePromtool ? test : test.skip)('promtool refuses a broken rule, so the check above can fail', () => {
    const r = promtool(['check', 'rules', 'rules.yml'], { 'rules.yml': renderAlertRules([{ ...ALERT_RULES[0], expr: 'up{job=~"node-.*" == 0' }]) });
    expect(r.status).not.toBe(0);
  });

  test('covers node down, GPU XID, disk full and slurmctld unreachable, each with a severity and a summary', () => {
    const byName = new Map(rules.map((r) => [r.alert, r]));
    expect(byName.get('NodeDown')).toMatchObject({ expr: 'up{job=~"node-.*"} == 0', for: '5m', labels: { severity: 'critical' } });
    expect(byName.get('GpuXidError')!.expr).toContain('DCGM_FI_DEV_XID_ERRORS');
    expect(byName.get('DiskFull')!.expr).toMatch(/node_filesystem_avail_bytes.*\/ node_filesystem_size_bytes.* < 0\.03/);
    expect(byName.get('SlurmctldDown')!.expr).toBe('slurmctld_up == 0');
    expect(byName.get('SlurmExporterDown')!.expr).toBe('up{job=~"slurm-.*"} == 0');
    for (const r of rules) {
      expect(['warning', 'critical']).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(20);
    }
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });
});
