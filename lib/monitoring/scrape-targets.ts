/**
 * What a monitor scrapes: each host set of the cluster (controller, login node, pool) describes its exporters
 * as target groups, found by cloud service discovery (EC2 tags, GCE labels) or listed (mesh hosts, which no
 * cloud API knows). `MonitoringStack` turns them into Prometheus `scrape_configs`; nothing is hand-listed, and
 * a pool's thousand nodes are one group, not a thousand targets. Pure: no cdktf.
 */

/** Exporters the library runs on cluster hosts. */
export type ExporterKind = 'node' | 'dcgm' | 'slurm';

/** Their listen ports: the exporters' own defaults (node_exporter 9100, dcgm-exporter 9400, prometheus-slurm-exporter 8080). */
export const EXPORTER_PORTS: Readonly<Record<ExporterKind, number>> = { node: 9100, dcgm: 9400, slurm: 8080 };

/** How the monitor finds a group's hosts. */
export type TargetDiscovery =
  /** EC2 instances with all these tags (ResumeProgram-launched nodes come and go; tags find them). */
  | { readonly kind: 'ec2'; readonly tags: Readonly<Record<string, string>> }
  /** GCE instances with all these labels. */
  | { readonly kind: 'gce'; readonly project: string; readonly zone: string; readonly labels: Readonly<Record<string, string>> }
  /** Host names or addresses (mesh nodes, fixed hosts); the port is added. */
  | { readonly kind: 'static'; readonly hosts: readonly string[] };

/** How the monitor's traffic reaches the group: what must let the scrape port in. */
export type TargetReach =
  | { readonly kind: 'aws-security-group'; readonly securityGroupId: string }
  | { readonly kind: 'gcp-network-tag'; readonly tag: string }
  | { readonly kind: 'mesh' }
  /** Hosts known by their addresses (a backend of your own): the monitor reaches them across the range. */
  | { readonly kind: 'address-range'; readonly cidr: string };

export interface ScrapeTargetGroup {
  readonly exporter: ExporterKind;
  /** Port the exporter listens on. @default EXPORTER_PORTS[exporter] */
  readonly port?: number;
  readonly discovery: TargetDiscovery;
  readonly reach: TargetReach;
  /** Labels every series of the group carries: `cluster`, `role`, `pool`. */
  readonly labels: Readonly<Record<string, string>>;
}

/** A host set the monitor scrapes; implemented by the controller, login nodes and pools. */
export interface IScrapeTargets {
  scrapeTargets(): readonly ScrapeTargetGroup[];
}

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/** Every problem with the groups, each naming the group, the field and the fix. */
export function scrapeTargetProblems(groups: readonly ScrapeTargetGroup[]): string[] {
  const out: string[] = [];
  groups.forEach((g, i) => {
    const at = `scrape target group ${i} (${g.exporter}${g.labels.pool ? `, pool ${g.labels.pool}` : ''})`;
    const port = g.port ?? EXPORTER_PORTS[g.exporter];
    if (!Number.isInteger(port) || port < 1 || port > 65535) out.push(`${at}: port = ${port}: not a TCP port. Use 1-65535`);
    for (const name of Object.keys(g.labels)) {
      if (!LABEL.test(name) || name.startsWith('__')) out.push(`${at}: label ${JSON.stringify(name)}: not a Prometheus label name. Use letters, digits and _`);
    }
    if (g.discovery.kind === 'static') {
      if (g.discovery.hosts.length === 0) out.push(`${at}: discovery.hosts = []: no hosts. List them or drop the group`);
      for (const h of g.discovery.hosts) {
        if (!HOST.test(h)) out.push(`${at}: discovery.hosts: ${JSON.stringify(h)} is not a host name or IPv4 address`);
      }
    } else if (g.discovery.kind === 'ec2' && Object.keys(g.discovery.tags).length === 0) {
      out.push(`${at}: discovery.tags = {}: would scrape every instance in the region. Filter by the cluster's tags`);
    } else if (g.discovery.kind === 'gce' && Object.keys(g.discovery.labels).length === 0) {
      out.push(`${at}: discovery.labels = {}: would scrape every VM in the zone. Filter by the cluster's labels`);
    }
  });
  return out;
}

/** Prometheus label name of an EC2 tag in `ec2_sd_configs` meta labels (`slurm:node-name` → `__meta_ec2_tag_slurm_node_name`). */
export function ec2TagMetaLabel(tag: string): string {
  return `__meta_ec2_tag_${tag.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * Prometheus `scrape_configs` entries, one job per group (`<exporter>-<role>[-<pool>]`), as plain objects for a
 * YAML writer. Cloud groups scrape the private address at the exporter's port and take the instance's Slurm node
 * name (tag `slurm:node-name`, label `slurm-node-name`) as `instance` when it has one.
 * @param options.awsRegion region of `ec2_sd_configs` (default: the monitor's own, from the instance metadata)
 * @throws with every problem `scrapeTargetProblems` finds, or a duplicate job name
 */
export function renderScrapeConfigs(groups: readonly ScrapeTargetGroup[], options: { readonly awsRegion?: string } = {}): Record<string, unknown>[] {
  const problems = scrapeTargetProblems(groups);
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const seen = new Set<string>();
  return groups.map((g) => {
    const port = g.port ?? EXPORTER_PORTS[g.exporter];
    const job = [g.exporter, g.labels.role, g.labels.pool ?? g.labels.node].filter(Boolean).join('-');
    if (seen.has(job)) throw new Error(`scrape job ${job}: two groups with the same exporter, role and pool; give each pool its own name`);
    seen.add(job);
    const labels = { ...g.labels };
    const base: Record<string, unknown> = { job_name: job };
    const d = g.discovery;
    if (d.kind === 'static') {
      base.static_configs = [{ targets: d.hosts.map((h) => `${h}:${port}`), labels }];
      return base;
    }
    const keep = (source: string, value: string) => ({ source_labels: [source], regex: escapeRegex(value), action: 'keep' });
    const fixed = Object.entries(labels).map(([k, v]) => ({ target_label: k, replacement: v, action: 'replace' }));
    if (d.kind === 'ec2') {
      base.ec2_sd_configs = [{
        // Without a region Prometheus takes the monitor's own from the instance metadata.
        ...(options.awsRegion ? { region: options.awsRegion } : {}),
        port,
        filters: Object.entries(d.tags).map(([k, v]) => ({ name: `tag:${k}`, values: [v] })),
      }];
      base.relabel_configs = [
        // Filters already select; keep re-checks in case the API ignores one.
        ...Object.entries(d.tags).map(([k, v]) => keep(ec2TagMetaLabel(k), v)),
        { source_labels: ['__meta_ec2_private_ip'], regex: '(.+)', target_label: '__address__', replacement: `$1:${port}`, action: 'replace' },
        { source_labels: [ec2TagMetaLabel('slurm:node-name')], regex: '(.+)', target_label: 'instance', action: 'replace' },
        ...fixed,
      ];
      return base;
    }
    base.gce_sd_configs = [{
      project: d.project,
      zone: d.zone,
      port,
      filter: Object.entries(d.labels).map(([k, v]) => `labels.${k}="${v}"`).join(' AND '),
    }];
    base.relabel_configs = [
      { source_labels: ['__meta_gce_label_slurm_node_name'], regex: '(.+)', target_label: 'instance', action: 'replace' },
      ...fixed,
    ];
    return base;
  });
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
