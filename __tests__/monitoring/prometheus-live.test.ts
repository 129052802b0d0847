/**
 * The monitoring path for real on this machine: exporters.sh (no systemd here) starts Debian's node_exporter and the
 * Slurm exporter (slurm-metrics.sh + a textfile-only node_exporter; sinfo/squeue/scontrol are fakes answering like
 * a 2-node cluster), then Debian's Prometheus runs the config and alert rules the library renders, with static
 * groups pointing at those exporters. Proven through Prometheus' HTTP API: both targets `up`, Slurm metrics
 * scraped, every rule loaded and healthy, and an alert firing from a real metric.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { AWS_REGION_PLACEHOLDER, renderAlertRules, renderPrometheusConfig } from '../../lib/monitoring/prometheus';
import { installFakes, Sandbox } from '../bootstrap/sh';

const canRun = process.getuid?.() === 0 && spawnSync('prometheus', ['--version']).status === 0 &&
  spawnSync('bash', ['-c', 'command -v prometheus-node-exporter']).status === 0 && spawnSync('id', ['prometheus']).status === 0;
if (!canRun) console.warn('\n!!! SKIPPING the live Prometheus test: needs root, prometheus and prometheus-node-exporter (scripts/setup-debian.sh)\n');
const maybe = canRun ? describe : describe.skip;

const SLURM_FAKES = {
  scontrol: `#!/bin/bash\n[[ "$1" == ping ]] && echo 'Slurmctld(primary) at ctl is UP'\n`,
  sinfo: `#!/bin/bash
case "$*" in
  *NodeHost*) printf '%s\\n' 'gpu-0 gpu:a10g:4 gpu:a10g:1(IDX:0)' 'gpu-1 gpu:a10g:4 gpu:a10g:0' ;;
  *) printf '%s\\n' 'gpu-0 mixed 8/40/0/48' 'gpu-1 idle 0/48/0/48' 'gpu-1 idle 0/48/0/48' 'cpu-0 idle~ 0/8/0/8' ;;
esac
`,
  squeue: `#!/bin/bash\nprintf '%s\\n' RUNNING PENDING PENDING\n`,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function query(port: number, promql: string): Promise<any[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: any[] } };
  if (body.status !== 'success') throw new Error(JSON.stringify(body));
  return body.data.result;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

maybe('exporters.sh + Prometheus from the rendered config', () => {
  let sb: Sandbox;
  let prometheus: ChildProcess | undefined;
  let promPort = 0;
  const pidDir = () => path.join(sb.dir, 'run');

  beforeAll(async () => {
    sb = new Sandbox();
    // The exporters run as the prometheus user, as on a node: they must be able to read the textfile directories.
    fs.chmodSync(sb.dir, 0o755);
    const { bin } = installFakes(sb, SLURM_FAKES);
    const [nodePort, slurmPort] = [await freePort(), await freePort()];
    promPort = await freePort();
    fs.mkdirSync(pidDir());
    const textfiles = path.join(sb.dir, 'textfile');
    fs.writeFileSync(sb.envFile, `CDKTF_SLURM_ROLES='controller'\nEXPORTERS='node slurm'\n`);
    const r = sb.script('exporters.sh', {
      PATH: `${bin}:${process.env.PATH}`,
      NODE_EXPORTER_PORT: String(nodePort),
      SLURM_EXPORTER_PORT: String(slurmPort),
      NODE_EXPORTER_TEXTFILE_DIR: textfiles,
      SLURM_METRICS_DIR: path.join(sb.dir, 'slurm-metrics'),
      SLURM_METRICS_INTERVAL: '1',
      EXPORTER_PID_DIR: pidDir(),
    });
    if (r.status !== 0) throw new Error(`exporters.sh failed:\n${r.log}\n${r.stderr}`);
    // What a GPU node without the DCGM packages leaves behind; the ExporterMissing rule must fire on it.
    fs.writeFileSync(path.join(textfiles, 'cdktf-slurm-missing.prom'), 'cdktf_slurm_exporter_missing{exporter="dcgm"} 1\n');

    const cfg = renderPrometheusConfig({
      clusterName: 'hpc',
      scrapeInterval: '1s',
      selfPort: promPort,
      ruleFiles: [path.join(sb.dir, 'rules.yml')],
      groups: [
        { exporter: 'node', port: nodePort, discovery: { kind: 'static', hosts: ['127.0.0.1'] }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'controller' } },
        { exporter: 'slurm', port: slurmPort, discovery: { kind: 'static', hosts: ['127.0.0.1'] }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'controller' } },
      ],
    });
    fs.writeFileSync(path.join(sb.dir, 'prometheus.yml'), cfg);
    fs.writeFileSync(path.join(sb.dir, 'rules.yml'), renderAlertRules());
    prometheus = spawn('prometheus', [
      `--config.file=${path.join(sb.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(sb.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ], { stdio: 'ignore' });
  }, 60_000);

  afterAll(() => {
    prometheus?.kill('SIGTERM');
    if (!sb) return;
    for (const f of fs.existsSync(pidDir()) ? fs.readdirSync(pidDir()) : []) {
      const pid = Number(fs.readFileSync(path.join(pidDir(), f), 'utf8').trim());
      if (pid > 0) try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    sb.cleanup();
  });

  test('both exporters are scraped: up == 1 for node-controller and slurm-controller', async () => {
    const up = await until('both targets up', async () => {
      const r = await query(promPort, 'up{job=~"node-controller|slurm-controller"} == 1');
      return r.length === 2 ? r : undefined;
    });
    expect(up.map((s) => s.metric.job).sort()).toEqual(['node-controller', 'slurm-controller']);
    expect(up.every((s) => s.metric.cluster === 'hpc' && s.metric.role === 'controller')).toBe(true);
  }, 60_000);

  test('the Slurm metrics arrive as slurm-metrics.sh computed them from sinfo/squeue', async () => {
    const value = async (m: string) => Number((await until(m, async () => (await query(promPort, m))[0]))?.value[1]);
    expect(await value('slurmctld_up')).toBe(1);
    expect(await value('slurm_nodes_idle')).toBe(2);
    expect(await value('slurm_nodes_mix')).toBe(1);
    expect(await value('slurm_nodes_powered_down')).toBe(1);
    expect(await value('slurm_nodes_total')).toBe(3);
    expect(await value('slurm_queue_pending')).toBe(2);
    expect(await value('slurm_cpus_alloc')).toBe(8);
    expect(await value('slurm_cpus_total')).toBe(104);
    expect(await value('slurm_gpus_alloc')).toBe(1);
    expect(await value('slurm_gpus_total')).toBe(8);
  }, 60_000);

  test('every alert rule is loaded and healthy, and ExporterMissing fires from the textfile metric', async () => {
    const rules = await until('rules evaluated', async () => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/rules`);
      const groups = ((await res.json()) as any).data.groups as any[];
      const all = groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => r.lastEvaluation && !r.lastEvaluation.startsWith('0001')) ? all : undefined;
    });
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    const firing = await until('ExporterMissing firing', async () => {
      const r = await query(promPort, 'ALERTS{alertname="ExporterMissing",alertstate="firing"}');
      return r.length > 0 ? r : undefined;
    });
    expect(firing[0].metric).toMatchObject({ exporter: 'dcgm', severity: 'warning' });
    // Nothing else is wrong on this test cluster.
    expect((await query(promPort, 'ALERTS{alertstate="firing"}')).map((a) => a.metric.alertname)).toEqual(['ExporterMissing']);
  }, 60_000);

  test('a second exporters.sh run finds everything running and starts nothing', () => {
    fs.writeFileSync(path.join(sb.logDir, 'bootstrap.log'), '');
    const r = sb.script('exporters.sh', {
      PATH: `${path.join(sb.dir, 'fake', 'bin')}:${process.env.PATH}`,
      EXPORTER_PID_DIR: pidDir(),
      NODE_EXPORTER_TEXTFILE_DIR: path.join(sb.dir, 'textfile'),
      SLURM_METRICS_DIR: path.join(sb.dir, 'slurm-metrics'),
    });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/prometheus-node-exporter already running/);
    expect(r.log).toMatch(/cdktf-slurm-exporter already running/);
    expect(r.log).not.toMatch(/starting /);
  });
});

maybe('monitoring-server.sh (Prometheus part, no systemd) from the files MonitoringStack renders', () => {
  let sb: Sandbox;
  let port = 0;
  const pidFile = () => path.join(sb.dir, 'run', 'cdktf-slurm-prometheus.pid');
  const run = () => sb.script('monitoring/monitoring-server.sh', {
    MONITOR_STAGING_DIR: path.join(sb.dir, 'staging'),
    PROMETHEUS_ETC: path.join(sb.dir, 'etc-prometheus'),
    PROMETHEUS_STORAGE: path.join(sb.dir, 'tsdb'),
    MONITOR_PID_DIR: path.join(sb.dir, 'run'),
    PROMETHEUS_PORT: String(port),
    GRAFANA_ENABLED: '0',
    AWS_REGION: 'eu-west-1',
  }, 60_000);

  beforeAll(async () => {
    sb = new Sandbox();
    fs.chmodSync(sb.dir, 0o755);
    port = await freePort();
    fs.mkdirSync(path.join(sb.dir, 'run'));
    fs.writeFileSync(sb.envFile, '');
    const rules = path.join(sb.dir, 'etc-prometheus', 'rules', 'cdktf-slurm.rules.yml');
    sb.file('staging/rules.yml', renderAlertRules());
    sb.file('staging/prometheus.yml', renderPrometheusConfig({
      clusterName: 'hpc', selfPort: port, awsRegion: AWS_REGION_PLACEHOLDER, ruleFiles: [rules],
      groups: [{ exporter: 'node', discovery: { kind: 'ec2', tags: { 'slurm:cluster': 'hpc', 'slurm:pool': 'gpu' } }, reach: { kind: 'mesh' }, labels: { cluster: 'hpc', role: 'compute', pool: 'gpu' } }],
    }));
  }, 30_000);

  afterAll(() => {
    if (!sb) return;
    if (fs.existsSync(pidFile())) try { process.kill(Number(fs.readFileSync(pidFile(), 'utf8')), 'SIGTERM'); } catch { /* gone */ }
    sb.cleanup();
  });

  test('installs the checked files, fills in the region, starts Prometheus with its rules; a re-run restarts nothing', async () => {
    const first = run();
    if (first.status !== 0) throw new Error(first.log + first.stderr);
    const installed = fs.readFileSync(path.join(sb.dir, 'etc-prometheus', 'prometheus.yml'), 'utf8');
    expect(installed).toMatch(/region: "eu-west-1"/);
    expect(installed).not.toContain('@aws-region@');
    await until('Prometheus ready', async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined));
    const groups = await until('rules loaded', async () => {
      const g = ((await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json()) as any).data.groups as any[];
      return g.length > 0 ? g : undefined;
    });
    expect(groups[0].name).toBe('cdktf-slurm');
    const pid = fs.readFileSync(pidFile(), 'utf8').trim();
    expect(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('prometheus');
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(new RegExp(`^Uid:\\s+${spawnSync('id', ['-u', 'prometheus'], { encoding: 'utf8' }).stdout.trim()}\\s`, 'm'));

    fs.writeFileSync(path.join(sb.logDir, 'bootstrap.log'), '');
    const second = run();
    expect(second.status).toBe(0);
    expect(second.log).toMatch(/prometheus already running/);
    expect(fs.readFileSync(pidFile(), 'utf8').trim()).toBe(pid);
  }, 90_000);

  test('a staged config promtool rejects is never installed', () => {
    const good = fs.readFileSync(path.join(sb.dir, 'staging', 'prometheus.yml'), 'utf8');
    fs.writeFileSync(path.join(sb.dir, 'staging', 'prometheus.yml'), good.replace('scrape_interval: 30s', 'scrape_interval: thirty'));
    const r = run();
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(/promtool rejects .*prometheus\.yml/);
    expect(fs.readFileSync(path.join(sb.dir, 'etc-prometheus', 'prometheus.yml'), 'utf8')).toMatch(/scrape_interval: 30s/);
    fs.writeFileSync(path.join(sb.dir, 'staging', 'prometheus.yml'), good);
  });
});
