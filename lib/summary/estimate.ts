/**
 * The hourly cost estimate of a cluster plan: what runs all the time (controller, login, monitor, bastion, NAT,
 * storage, static nodes) and what the cluster costs with every on-demand node up. Anything the table cannot
 * price is listed, never guessed; Docker and SSH hosts are the user's own hardware.
 */
import { ClusterPlan } from './model';
import { HOURS_PER_MONTH, PriceTable } from './prices';

export interface CostLine {
  readonly item: string;
  /** Per hour while the cluster is idle (always-on parts only). */
  readonly idle: number;
  /** Per hour with every node of every pool up. */
  readonly full: number;
}

export interface CostEstimate {
  readonly lines: readonly CostLine[];
  readonly idlePerHour: number;
  readonly fullPerHour: number;
  /** What the table has no price for, e.g. `pool x: instance type y`. */
  readonly unpriced: readonly string[];
  readonly prices: PriceTable;
}

/** The disks the controller's state and the monitor's TSDB are on, by cloud (what the backends make). */
const BLOCK_STORAGE: Readonly<Record<string, { readonly controller: string; readonly monitoring: string }>> = {
  aws: { controller: 'aws:ebs-gp3', monitoring: 'aws:ebs-gp3' },
  gcp: { controller: 'gcp:pd-ssd', monitoring: 'gcp:pd-balanced' },
};

export function estimateCost(plan: ClusterPlan, prices: PriceTable): CostEstimate {
  const lines: CostLine[] = [];
  const unpriced: string[] = [];
  const vm = (item: string, type: string | undefined, idleCount: number, fullCount = idleCount): void => {
    if (!type) return;
    const rate = prices.hourly[type];
    if (rate === undefined) {
      unpriced.push(`${item}: ${type}`);
      return;
    }
    lines.push({ item: `${item} (${idleCount === fullCount ? `${idleCount}×` : `${idleCount}-${fullCount}×`} ${type})`, idle: rate * idleCount, full: rate * fullCount });
  };
  const storage = (item: string, key: string, gib: number): void => {
    const rate = prices.perGiBMonth[key];
    if (rate === undefined) {
      unpriced.push(`${item}: ${key}`);
      return;
    }
    const hourly = (rate * gib) / HOURS_PER_MONTH;
    lines.push({ item: `${item} (${gib} GiB)`, idle: hourly, full: hourly });
  };

  /** Block-storage price keys by cloud; a cloud not listed (a backend of your own) is reported unpriced. */
  const disk = (cloud: string, use: 'controller' | 'monitoring'): string => BLOCK_STORAGE[cloud]?.[use] ?? `${cloud}:disk`;
  for (const net of plan.networks) {
    vm(`${net.name} bastion`, net.bastionType, 1);
    const nat = net.cloud === 'aws' ? 'aws:nat-gateway' : 'gcp:cloud-nat';
    if (net.natGateways > 0) vm(`${net.name} NAT`, nat, net.natGateways);
  }
  const ctl = plan.controller;
  vm('controller', ctl.instanceType, 1);
  if (ctl.diskGiB > 0) storage('controller disks', disk(ctl.cloud, 'controller'), ctl.diskGiB);
  for (const login of plan.logins) vm(`login ${login.name}`, login.instanceType, 1);
  if (plan.monitoring && !plan.monitoring.onController) {
    vm('monitoring', plan.monitoring.instanceType, 1);
    storage('monitoring disk', disk(plan.monitoring.cloud, 'monitoring'), plan.monitoring.diskGiB);
  }
  for (const fs of plan.fileSystems) {
    if (fs.serverInstanceType) vm(`${fs.name} server`, fs.serverInstanceType, 1);
    if (fs.priceKey && fs.capacityGiB) storage(`${fs.name} ${fs.type}`, fs.priceKey, fs.capacityGiB);
  }
  for (const pool of plan.pools) {
    if (pool.cloud === 'docker' || pool.cloud === 'ssh') continue;
    vm(`pool ${pool.name}${pool.spot ? ' (Spot: priced on-demand)' : ''}`, pool.instanceType, pool.staticNodes, pool.maxNodes);
  }
  const sum = (k: 'idle' | 'full') => lines.reduce((t, l) => t + l[k], 0);
  return { lines, idlePerHour: sum('idle'), fullPerHour: sum('full'), unpriced, prices };
}
