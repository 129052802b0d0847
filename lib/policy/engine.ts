/**
 * Runs rules over a stack's blocks and applies suppressions. Pure: the cdktf side (security-policy.ts) only
 * collects the blocks and turns the findings into annotations and metadata.
 */
import { DEFAULT_SRUN_PORT_RANGE } from '../slurm/validate';
import { PolicyOptions, PolicyPlan, PolicyResource, PolicyRule } from './rule';

const REFERENCE = /^\$\{((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z0-9_-]+)(?:\.[^}]*)?\}$/;

/** Lookups over the blocks of one stack. */
export class StackPlan implements PolicyPlan {
  readonly options: Required<PolicyOptions>;
  private readonly byAddress = new Map<string, PolicyResource>();

  constructor(
    private readonly all: readonly PolicyResource[],
    options: PolicyOptions = {},
  ) {
    this.options = { srunPortRange: options.srunPortRange ?? DEFAULT_SRUN_PORT_RANGE };
    for (const block of all) this.byAddress.set(block.address, block);
  }

  blocks(...types: string[]): PolicyResource[] {
    if (types.length === 0) return [...this.all];
    return this.all.filter((b) => types.includes(b.kind === 'data' ? `data.${b.type}` : b.type));
  }

  referenced(value: unknown): PolicyResource | undefined {
    if (typeof value !== 'string') return undefined;
    const match = REFERENCE.exec(value);
    return match ? this.byAddress.get(match[1]) : undefined;
  }

  refersTo(value: unknown, target: PolicyResource): boolean {
    const text = typeof value === 'string' ? value : JSON.stringify(value ?? '');
    const at = `${target.address}.`;
    let from = text.indexOf(at);
    while (from >= 0) {
      const before = from === 0 ? '' : text[from - 1];
      if (!/[\w.]/.test(before)) return true;
      from = text.indexOf(at, from + 1);
    }
    return false;
  }
}

/** A written reason to accept a rule's finding on a construct and everything under it. */
export interface PolicySuppression {
  readonly ruleId: string;
  readonly reason: string;
  /** Construct path the suppression was made on. */
  readonly scopePath: string;
}

export interface PolicyFinding {
  readonly rule: PolicyRule;
  readonly block: PolicyResource;
  readonly detail: string;
  /** Set when a suppression accepted this finding. */
  readonly suppression?: PolicySuppression;
}

export interface PolicyResult {
  readonly findings: PolicyFinding[];
  /** Suppressions that matched no finding: stale, or made on the wrong construct. */
  readonly unusedSuppressions: PolicySuppression[];
  readonly blocksChecked: number;
}

function covers(suppression: PolicySuppression, path: string): boolean {
  return path === suppression.scopePath || path.startsWith(`${suppression.scopePath}/`);
}

/** Checks every block a rule applies to; a finding is suppressed by the nearest matching suppression. */
export function evaluatePolicy(
  blocks: readonly PolicyResource[],
  rules: readonly PolicyRule[],
  suppressions: readonly PolicySuppression[] = [],
  options: PolicyOptions = {},
): PolicyResult {
  const plan = new StackPlan(blocks, options);
  const used = new Set<PolicySuppression>();
  const findings: PolicyFinding[] = [];
  let blocksChecked = 0;
  for (const block of blocks) {
    const key = block.kind === 'data' ? `data.${block.type}` : block.type;
    const applicable = rules.filter((r) => r.appliesTo.includes(key));
    if (applicable.length > 0) blocksChecked++;
    for (const rule of applicable) {
      for (const detail of rule.check(block, plan)) {
        const suppression = suppressions
          .filter((s) => s.ruleId === rule.id && covers(s, block.path))
          .sort((a, b) => b.scopePath.length - a.scopePath.length)[0];
        if (suppression) used.add(suppression);
        findings.push({ rule, block, detail, suppression });
      }
    }
  }
  return { findings, unusedSuppressions: suppressions.filter((s) => !used.has(s)), blocksChecked };
}

/** The error text of an unsuppressed finding: rule, block, what is wrong, why it matters, what to do. */
export function findingMessage(finding: PolicyFinding): string {
  const { rule, block, detail } = finding;
  return (
    `[${rule.id}] ${block.address}: ${detail}. ${rule.explanation} Fix: ${rule.fix} ` +
    `(or, where it is intended, suppressPolicyRule(scope, '${rule.id}', 'reason')).`
  );
}

/** The informational text of a suppressed finding. */
export function suppressedMessage(finding: PolicyFinding): string {
  return `[${finding.rule.id}] suppressed on ${finding.block.address} (${finding.detail}): ${finding.suppression?.reason}`;
}
