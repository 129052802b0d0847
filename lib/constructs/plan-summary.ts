/**
 * The plan summary's construct side: each public construct describes itself as a ClusterPart (lib/summary, pure);
 * on synth each controller assembles its cluster's parts, prints the summary with `cdktf synth` and writes
 * `cluster-<name>.md` (summary and Mermaid diagram) and `cluster-<name>.json` beside the stack's cdk.tf.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TerraformStack } from 'cdktf';
import { IConstruct } from 'constructs';
import { ClusterPart, clusterPlan } from '../summary/model';
import { estimateCost } from '../summary/estimate';
import { withPriceOverrides } from '../summary/prices';
import { renderPlanMarkdown, renderPlanSummary } from '../summary/render';
import { onStackSynthesized, reportAtSynth } from '../cdktf-adapter';

const DESCRIBED = new WeakMap<IConstruct, (() => ClusterPart)[]>();

/** Registers a part `scope` adds to its cluster's plan summary; read when the stack synthesizes. */
export function describeForPlan(scope: IConstruct, describe: () => ClusterPart): void {
  DESCRIBED.set(scope, [...(DESCRIBED.get(scope) ?? []), describe]);
}

/** Every part described in the stack of `scope`. */
export function describedParts(scope: IConstruct): ClusterPart[] {
  return TerraformStack.of(scope)
    .node.findAll()
    .flatMap((c) => DESCRIBED.get(c) ?? [])
    .map((d) => d());
}

export interface PlanSummaryOptions {
  /**
   * Your own prices, laid over the shipped table: `hourly` by instance or machine type (`'p5.48xlarge': 40`),
   * `perGiBMonth` by storage key (`'aws:ebs-gp3': 0.08`).
   * @default the shipped table (lib/summary/prices.ts), approximate on-demand list prices
   */
  readonly prices?: { readonly hourly?: Record<string, number>; readonly perGiBMonth?: Record<string, number> };
}

/** Prints and writes the summary of `cluster` when the stack of `controller` synthesizes. */
export function attachPlanSummary(controller: IConstruct, cluster: string, options: PlanSummaryOptions = {}): void {
  const prices = withPriceOverrides({ hourly: { ...options.prices?.hourly }, perGiBMonth: { ...options.prices?.perGiBMonth } });
  onStackSynthesized(controller, (dir) => {
    const stack = TerraformStack.of(controller).node.id;
    const plan = clusterPlan(stack, cluster, describedParts(controller));
    if (!plan) return;
    const cost = estimateCost(plan, prices);
    reportAtSynth(controller, renderPlanSummary(plan, cost));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `cluster-${cluster}.md`), renderPlanMarkdown(plan, cost));
    fs.writeFileSync(path.join(dir, `cluster-${cluster}.json`), `${JSON.stringify({ plan, cost }, null, 2)}\n`);
  });
}
