/**
 * What a policy rule is and what it sees. Pure: rules read the synthesized Terraform of a stack (snake_case
 * attributes, references as `${type.name.attr}` strings), never cdktf objects, so each one is a plain function
 * over data and the pack outlives a switch from cdktf to its fork.
 */

/** The packs a rule belongs to: one per cloud, plus checks that hold on any cloud. */
export type PolicyPackName = 'aws' | 'gcp' | 'docker' | 'common';

export const POLICY_PACK_NAMES: readonly PolicyPackName[] = ['aws', 'gcp', 'docker', 'common'];

/** One block of the synthesized stack: a resource or a data source, its attributes resolved. */
export interface PolicyResource {
  /** `resource` or `data`. */
  readonly kind: 'resource' | 'data';
  /** Terraform type, e.g. `aws_instance`. */
  readonly type: string;
  /** Terraform name (cdktf's logical id). */
  readonly name: string;
  /** `aws_instance.Controller_Instance_44BE1037` (`data.` prefixed for data sources): what references use. */
  readonly address: string;
  /** The construct path, e.g. `aws-gpu/Controller/Instance`. */
  readonly path: string;
  /** The block's attributes as written to cdk.tf.json (the `//` metadata removed). */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** Options the rules read; the defaults fit the clusters this library builds. */
export interface PolicyOptions {
  /**
   * srun's listening ports (slurm.conf SrunPortRange), which like the daemon ports must only be open to the
   * cluster.
   * @default [60001, 63000]
   */
  readonly srunPortRange?: readonly [number, number];
}

/** The whole stack, for rules that need more than one block (a VPC and its flow log, a rule and its group). */
export interface PolicyPlan {
  readonly options: Required<PolicyOptions>;
  /** Every block of the given Terraform types (all blocks when none given). */
  blocks(...types: string[]): PolicyResource[];
  /** The block a `${type.name.attr}` reference points at, if the value is exactly one reference. */
  referenced(value: unknown): PolicyResource | undefined;
  /** Whether `value` is (or contains) a reference to `target`. */
  refersTo(value: unknown, target: PolicyResource): boolean;
}

/** A security rule: an ID, what it protects against, how to fix it, and the check. */
export interface PolicyRule {
  /** Stable ID used in messages and suppressions, e.g. `AWS-EC2-IMDSV2`. */
  readonly id: string;
  readonly pack: PolicyPackName;
  /** One line: what must hold and why. */
  readonly explanation: string;
  /** One line: what to change. */
  readonly fix: string;
  /** The Terraform types the rule inspects (data sources as `data.<type>`). */
  readonly appliesTo: readonly string[];
  /** What is wrong with this block, one entry per problem; empty when it complies. */
  check(block: PolicyResource, plan: PolicyPlan): string[];
}

const RULE_ID = /^(AWS|GCP|DOCKER|COMMON)-[A-Z0-9]+(-[A-Z0-9]+)*$/;

/** Declares a rule, checking the ID is well formed and the texts are present (a typo fails at import, not later). */
export function defineRule(rule: PolicyRule): PolicyRule {
  if (!RULE_ID.test(rule.id) || !rule.id.startsWith(`${rule.pack.toUpperCase()}-`)) {
    throw new Error(`policy rule id ${JSON.stringify(rule.id)} must look like ${rule.pack.toUpperCase()}-SERVICE-THING`);
  }
  if (!rule.explanation.trim() || !rule.fix.trim() || rule.appliesTo.length === 0) {
    throw new Error(`policy rule ${rule.id} needs an explanation, a fix and the types it applies to`);
  }
  return Object.freeze(rule);
}
