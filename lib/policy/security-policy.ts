/**
 * The policy pack as a cdktf Aspect: on synth it reads every resource and data source of a stack as written to
 * cdk.tf.json, runs the rules (engine.ts, pure), and turns findings into error annotations (which make
 * `cdktf synth` fail), suppressed ones into info annotations, and records the suppressions in the stack's `//`
 * metadata. This file and cdktf-adapter.ts are the policy's only contact with cdktf.
 */
import { Annotations, App, DefaultTokenResolver, IAspect, StringConcat, TerraformElement, TerraformStack, Tokenization } from 'cdktf';
import { IConstruct } from 'constructs';
import { runAtSynthStart } from '../cdktf-adapter';
import { PolicySuppression, evaluatePolicy, findingMessage, suppressedMessage } from './engine';
import { ALL_POLICY_RULES, POLICY_PACKS, policyRule } from './packs';
import { POLICY_PACK_NAMES, PolicyOptions, PolicyPackName, PolicyResource } from './rule';

const SUPPRESSION_METADATA = 'cdktf-slurm/policy-suppression';
const MIN_REASON_LENGTH = 20;

/**
 * Accepts a rule's findings on `scope` and every construct under it, for the written reason, which is recorded
 * in the synthesized stack and printed by `cdktf synth`. Fails at once on an unknown rule or a token reason.
 */
export function suppressPolicyRule(scope: IConstruct, ruleId: string, reason: string): void {
  if (!policyRule(ruleId)) {
    const near = ALL_POLICY_RULES.filter((r) => r.id.split('-')[0] === ruleId.split('-')[0]).map((r) => r.id);
    throw new Error(
      `${scope.node.path}: suppressPolicyRule: rule ${JSON.stringify(ruleId)} does not exist. ` +
        `Use one of: ${(near.length ? near : ALL_POLICY_RULES.map((r) => r.id)).join(', ')}.`,
    );
  }
  if (typeof reason !== 'string' || reason.trim().length < MIN_REASON_LENGTH) {
    throw new Error(
      `${scope.node.path}: suppressPolicyRule(${ruleId}): reason = ${JSON.stringify(reason)} is too short to tell a ` +
        `reviewer why the finding is accepted. Write at least ${MIN_REASON_LENGTH} characters: what needs it and why it is safe.`,
    );
  }
  scope.node.addMetadata(SUPPRESSION_METADATA, { ruleId, reason: reason.trim() }, { stackTrace: false });
}

export interface SecurityPolicyOptions extends PolicyOptions {
  /**
   * The packs to run. Rules only look at their own resource types, so running every pack on a one-cloud stack
   * costs nothing.
   * @default every pack: aws, gcp, docker, common
   */
  readonly packs?: readonly PolicyPackName[];
  /**
   * `error` makes a finding fail `cdktf synth`; `warning` reports findings without failing, for bringing an
   * existing stack under the pack one finding at a time.
   * @default 'error'
   */
  readonly level?: 'error' | 'warning';
}

/** What the policy left in a stack's `//` metadata (`"//": { "policy": ... }` in cdk.tf.json). */
export interface PolicyRecord {
  readonly packs: PolicyPackName[];
  readonly rules: number;
  readonly blocksChecked: number;
  readonly violations: number;
  readonly suppressed: { rule: string; block: string; path: string; reason: string }[];
}

/** The Aspect: add it to a stack and every synth checks the stack. */
export class SecurityPolicy implements IAspect {
  private readonly packs: PolicyPackName[];
  private readonly checked = new WeakSet<TerraformStack>();

  constructor(private readonly options: SecurityPolicyOptions = {}) {
    const packs = options.packs ?? POLICY_PACK_NAMES;
    const unknown = packs.filter((p) => !POLICY_PACK_NAMES.includes(p));
    if (unknown.length > 0) {
      throw new Error(`SecurityPolicy: packs = ${JSON.stringify(packs)}: unknown ${unknown.join(', ')}. Use ${POLICY_PACK_NAMES.join(', ')}.`);
    }
    this.packs = [...packs];
  }

  /** Checks the whole stack of the first construct it visits (the one it was added to), once. */
  visit(node: IConstruct): void {
    const stack = TerraformStack.of(node);
    if (this.checked.has(stack)) return;
    this.checked.add(stack);
    this.check(stack);
  }

  private check(stack: TerraformStack): void {
    const blocks: PolicyResource[] = [];
    const constructs = new Map<string, IConstruct>();
    const suppressions: PolicySuppression[] = [];
    const suppressionScopes = new Map<PolicySuppression, IConstruct>();
    for (const construct of stack.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== SUPPRESSION_METADATA) continue;
        const s = { ...(entry.data as { ruleId: string; reason: string }), scopePath: construct.node.path };
        suppressions.push(s);
        suppressionScopes.set(s, construct);
      }
      if (!TerraformElement.isTerraformElement(construct) || TerraformStack.of(construct) !== stack) continue;
      for (const block of blocksOf(stack, construct)) {
        blocks.push(block);
        constructs.set(block.address, construct);
      }
    }
    const rules = this.packs.flatMap((p) => POLICY_PACKS[p]);
    const result = evaluatePolicy(blocks, rules, suppressions, this.options);
    const level = this.options.level ?? 'error';
    for (const finding of result.findings) {
      const at = Annotations.of(constructs.get(finding.block.address) ?? stack);
      if (finding.suppression) at.addInfo(suppressedMessage(finding));
      else if (level === 'error') at.addError(findingMessage(finding));
      else at.addWarning(findingMessage(finding));
    }
    for (const s of result.unusedSuppressions) {
      if (!rules.some((r) => r.id === s.ruleId)) continue;
      Annotations.of(suppressionScopes.get(s) ?? stack).addWarning(
        `[${s.ruleId}] suppression matches no finding under ${s.scopePath}: remove it, or move it to the construct that owns the resource.`,
      );
    }
    const suppressed = result.findings.filter((f) => f.suppression);
    const record: PolicyRecord = {
      packs: this.packs,
      rules: rules.length,
      blocksChecked: result.blocksChecked,
      violations: result.findings.length - suppressed.length,
      suppressed: suppressed.map((f) => ({
        rule: f.rule.id,
        block: f.block.address,
        path: f.block.path,
        reason: f.suppression?.reason ?? '',
      })),
    };
    stack.addOverride('//.policy', record);
    Annotations.of(stack).addInfo(
      `security policy (${this.packs.join(', ')}; ${rules.length} rules) checked ${result.blocksChecked} blocks: ` +
        `${record.violations} violation(s), ${suppressed.length} suppressed with a reason`,
    );
  }
}

/**
 * The blocks an element contributes, attributes resolved as they will be written. An element that cannot be
 * resolved yet (a construct whose own validation will fail synth with a clearer message) is skipped.
 */
function blocksOf(stack: TerraformStack, element: TerraformElement): PolicyResource[] {
  let json: Record<string, Record<string, Record<string, Record<string, unknown>>>>;
  try {
    json = Tokenization.resolve(element.toTerraform(), {
      scope: stack,
      preparing: false,
      resolver: new DefaultTokenResolver(new StringConcat()),
    });
  } catch {
    return [];
  }
  const out: PolicyResource[] = [];
  for (const kind of ['resource', 'data'] as const) {
    for (const [type, byName] of Object.entries(json?.[kind] ?? {})) {
      for (const [name, raw] of Object.entries(byName ?? {})) {
        const { '//': _meta, ...attributes } = raw ?? {};
        out.push({
          kind,
          type,
          name,
          address: kind === 'data' ? `data.${type}.${name}` : `${type}.${name}`,
          path: element.node.path,
          attributes,
        });
      }
    }
  }
  return out;
}

/**
 * Puts the security policy on a stack (given any construct, on the whole stack it belongs to): one line in a
 * user's stack.
 * Findings are errors that fail `cdktf synth` unless `level: 'warning'` is given.
 */
export function enforceSecurityPolicy(scope: IConstruct, options: SecurityPolicyOptions = {}): SecurityPolicy {
  if (App.isApp(scope)) {
    // cdktf invokes Aspects from each stack down, so one added to the app would never run.
    throw new Error('enforceSecurityPolicy: given the app; cdktf runs Aspects per stack. Call enforceSecurityPolicy(stack) for each stack.');
  }
  const policy = new SecurityPolicy(options);
  // Run by the stack's synth-pass Aspect, so the renders it resolves are the ones the stack then writes.
  runAtSynthStart(scope, policy);
  return policy;
}
