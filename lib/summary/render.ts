/**
 * The plan summary as text (printed by `cdktf synth`), as Markdown with a Mermaid diagram (written beside the
 * synthesized stack), and as JSON. Pure functions of a ClusterPlan and its cost estimate.
 */
import { CostEstimate } from './estimate';
import { ClusterPlan, PoolPart } from './model';

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function gpus(pool: PoolPart): string {
  return pool.gpusPerNode > 0 ? `${pool.gpusPerNode}× ${pool.gpuModel ?? 'gpu'}` : '-';
}

/** GPUs by model, at the static size and with every node up: `8× a10g` / `8× a10g, 32× h100`. */
export function gpusByModel(pools: readonly PoolPart[], which: 'staticNodes' | 'maxNodes'): string {
  const byModel = new Map<string, number>();
  for (const p of pools) {
    if (p.gpusPerNode === 0) continue;
    const model = p.gpuModel ?? 'gpu';
    byModel.set(model, (byModel.get(model) ?? 0) + p.gpusPerNode * p[which]);
  }
  const parts = [...byModel].filter(([, n]) => n > 0).map(([m, n]) => `${n}× ${m}`);
  return parts.length ? parts.join(', ') : 'none';
}

const usd = (n: number): string => `$${n.toFixed(2)}`;

/** The short table `cdktf synth` prints for a cluster. */
export function renderPlanSummary(plan: ClusterPlan, cost: CostEstimate): string {
  const ctl = plan.controller;
  const out: string[] = [`plan summary of cluster ${plan.cluster} (stack ${plan.stack})`];
  for (const n of plan.networks) {
    out.push(`network     ${n.cloud} ${n.cidr}${n.gpuNetworks ? ` + ${n.gpuNetworks} GPU networks` : ''}; access: ${n.access}`);
  }
  out.push(
    `controller  ${ctl.hostname} ${ctl.instanceType}; accounting ${ctl.accounting}${ctl.restApi ? '; slurmrestd' : ''}${ctl.mesh ? `; mesh ${ctl.mesh}` : ''}`,
  );
  for (const l of plan.logins) out.push(`login       ${l.name} ${l.instanceType}`);
  if (plan.monitoring) out.push(`monitoring  Prometheus + Grafana on ${plan.monitoring.onController ? 'the controller' : `a ${plan.monitoring.instanceType} VM`}`);
  out.push('', 'pools');
  out.push(
    ...table(
      ['name', 'where', 'type', 'nodes static/max', 'GPUs/node', 'fabric', 'mounts'],
      plan.pools.map((p) => [p.name, p.cloud + (p.spot ? ' spot' : ''), p.instanceType, `${p.staticNodes}/${p.maxNodes}`, gpus(p), p.fabric ?? '-', p.mounts.join(' ') || '-']),
    ).map((l) => `  ${l}`),
  );
  out.push(`GPUs        ${gpusByModel(plan.pools, 'staticNodes')} always up; ${gpusByModel(plan.pools, 'maxNodes')} with every node up`);
  out.push(
    `partitions  ${ctl.partitions.map((p) => `${p.name}${p.isDefault ? '*' : ''} (${p.pools.join(', ')})`).join('; ') || 'none'}`,
  );
  if (plan.fileSystems.length) {
    out.push('', 'file systems');
    out.push(
      ...table(
        ['mount', 'type', 'size', 'served by'],
        plan.fileSystems.map((f) => [f.mountPoint, f.type, f.capacityGiB ? `${f.capacityGiB} GiB` : '-', f.server]),
      ).map((l) => `  ${l}`),
    );
  }
  const mounts = [
    `controller ${ctl.mounts.join(' ') || '-'}`,
    ...plan.logins.map((l) => `login ${l.name} ${l.mounts.join(' ') || '-'}`),
  ];
  out.push(`mounts      ${mounts.join('; ')}`);
  if (plan.endpoints.length) {
    out.push('', 'endpoints');
    for (const e of plan.endpoints) out.push(`  ${e.name}: ${e.reach}`);
  }
  const p = cost.prices;
  out.push(
    '',
    `estimated cost, ESTIMATE ONLY (${p.currency} list prices of ${p.asOf}, ${p.regions}; on-demand, no discounts, no data transfer):`,
    `  ${usd(cost.idlePerHour)}/h idle (always-on parts and static nodes), ${usd(cost.fullPerHour)}/h with every node up`,
  );
  for (const l of cost.lines) out.push(`    ${l.item}: ${usd(l.idle)}${l.full !== l.idle ? ` - ${usd(l.full)}` : ''}/h`);
  if (cost.unpriced.length) out.push(`  not priced (add them with planSummary.prices): ${cost.unpriced.join('; ')}`);
  return out.join('\n');
}

const ID = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');
const LABEL = (s: string): string => `"${s.replace(/"/g, '#quot;')}"`;

/** A Mermaid flowchart of the cluster: networks, controller, login, pools, storage, monitoring, mesh. */
export function renderMermaid(plan: ClusterPlan): string {
  const ctl = plan.controller;
  const out = ['flowchart LR'];
  const inCloud = plan.pools.filter((p) => p.cloud === 'aws' || p.cloud === 'gcp');
  const onPrem = plan.pools.filter((p) => p.cloud === 'docker' || p.cloud === 'ssh');
  const poolNode = (p: PoolPart) =>
    `    pool_${ID(p.name)}[${LABEL(`pool ${p.name}: ${p.staticNodes === p.maxNodes ? p.maxNodes : `${p.staticNodes}-${p.maxNodes}`}× ${p.instanceType}${p.gpusPerNode ? `<br/>${gpus(p)} per node` : ''}${p.fabric ? `<br/>${p.fabric}` : ''}`)}]`;
  plan.networks.forEach((n, i) => {
    out.push(`  subgraph net${i}[${LABEL(`${n.cloud.toUpperCase()} ${n.cloud === 'aws' ? 'VPC' : 'network'} ${n.cidr}`)}]`);
    out.push(`    access${i}[${LABEL(n.access)}]`);
    if (i === 0) {
      out.push(`    ctl[${LABEL(`slurmctld ${ctl.hostname}<br/>${ctl.instanceType}`)}]`);
      for (const l of plan.logins) out.push(`    login_${ID(l.name)}[${LABEL(`login ${l.name}<br/>${l.instanceType}`)}]`);
      if (plan.monitoring && !plan.monitoring.onController) out.push(`    mon[${LABEL(`Prometheus + Grafana<br/>${plan.monitoring.instanceType}`)}]`);
      for (const p of inCloud) out.push(poolNode(p));
    }
    out.push('  end');
  });
  if (onPrem.length) {
    out.push(`  subgraph onprem[${LABEL('your GPU hosts')}]`);
    for (const p of onPrem) out.push(poolNode(p));
    out.push('  end');
  }
  if (plan.monitoring?.onController) out.push(`  mon[${LABEL('Prometheus + Grafana on the controller')}]`);
  for (const f of plan.fileSystems) out.push(`  fs_${ID(f.name)}[(${LABEL(`${f.mountPoint}<br/>${f.type}${f.capacityGiB ? ` ${f.capacityGiB} GiB` : ''}`)})]`);
  if (ctl.mesh) out.push(`  mesh((${LABEL(`${ctl.mesh} mesh`)}))`);
  // Edges: people in through the access path; slurmctld to every pool; hosts to what they mount.
  const edges: string[] = [];
  plan.networks.forEach((_, i) => edges.push(`  access${i} --> ctl`));
  for (const l of plan.logins) edges.push(`  access0 --> login_${ID(l.name)}`, `  login_${ID(l.name)} --> ctl`);
  for (const p of inCloud) edges.push(`  ctl --> pool_${ID(p.name)}`);
  for (const p of onPrem) edges.push('  ctl --- mesh', `  mesh --- pool_${ID(p.name)}`);
  const mountsOf = (host: string, paths: readonly string[]) =>
    plan.fileSystems.filter((f) => paths.includes(f.mountPoint)).map((f) => `  ${host} -.- fs_${ID(f.name)}`);
  edges.push(...mountsOf('ctl', ctl.mounts));
  for (const l of plan.logins) edges.push(...mountsOf(`login_${ID(l.name)}`, l.mounts));
  for (const p of plan.pools) edges.push(...mountsOf(`pool_${ID(p.name)}`, p.mounts));
  if (plan.monitoring) edges.push('  mon -. scrapes .-> ctl');
  return [...out, ...new Set(edges)].join('\n');
}

/** The file written beside the stack: the summary and the diagram. */
export function renderPlanMarkdown(plan: ClusterPlan, cost: CostEstimate): string {
  return [
    `# Cluster ${plan.cluster} (stack ${plan.stack})`,
    '',
    'Written by `cdktf synth`. The cost is an estimate from the price table the library ships, not a quote.',
    '',
    '```mermaid',
    renderMermaid(plan),
    '```',
    '',
    '```text',
    renderPlanSummary(plan, cost),
    '```',
    '',
  ].join('\n');
}
