/**
 * The cdktf adapter: the one place the library touches cdktf beyond resource classes (lazy values, tokens, Aspects,
 * synth-time validation, files written beside the stack). cdktf is archived upstream (its community fork is
 * `cdktn`); switching means changing this file.
 */
import * as path from 'node:path';
import { Annotations, Aspects, DefaultTokenResolver, IAspect, ISynthesisSession, Lazy, StringConcat, TerraformResource, TerraformStack, Tokenization } from 'cdktf';
// How cdktf turns a construct path into a logical ID; internal, hence only here.
import { makeUniqueId } from 'cdktf/lib/private/unique';
// cdktf's hook for work after validation, before the stack is written; marked internal, hence only here.
import { addCustomSynthesis } from 'cdktf/lib/synthesize/synthesizer';
import { IConstruct } from 'constructs';
import { shownForField } from './slurm/errors';

/** A string Terraform value computed when the stack synthesizes, after every construct has been added. */
export function lazyString(produce: () => string): string {
  return Lazy.stringValue({ produce: (context) => duringResolve(context.preparing, produce) });
}

/** A list of Terraform strings computed when the stack synthesizes (e.g. security groups others add to). */
export function lazyList(produce: () => string[]): string[] {
  return Lazy.listValue({ produce: (context) => duringResolve(context.preparing, produce) });
}

/** True while cdktf's preparing resolve (`app.synth()` looking for cross-stack references) runs a lazy value. */
let preparing = false;

function duringResolve<T>(isPreparing: boolean, produce: () => T): T {
  const outer = preparing;
  preparing = isPreparing;
  try {
    return produce();
  } finally {
    preparing = outer;
  }
}

/**
 * Literal text (a script, node.env) as a Terraform string value. Terraform reads `${` and `%{` in any string as
 * the start of a template expression (`"${BASH_SOURCE[0]}"` fails validation, `-w '%{http_code}'` is a directive),
 * so literal ones are doubled; the markers of cdktf tokens inside the text are left for cdktf to resolve. Apply
 * it exactly once, where literal text becomes a resource argument: for a lazy value, inside its producer.
 */
export function terraformLiteral(text: string): string {
  return text.replace(/\$\{(?!TfToken\[)/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/**
 * Runs `check` when the stack synthesizes, before anything is written; each returned message (or a thrown
 * error's message) fails synth, prefixed by cdktf with the construct path.
 */
export function validateAtSynth(scope: IConstruct, check: () => string[]): void {
  scope.node.addValidation({
    validate: () => {
      try {
        return check();
      } catch (e) {
        return [e instanceof Error ? e.message : String(e)];
      }
    },
  });
}

/**
 * A bad prop: the message names the construct path, the field, the value and the fix, in the same shape as the
 * pure core's ConfigIssue lines.
 */
export class ConstructPropError extends Error {
  constructor(scope: IConstruct, field: string, value: unknown, problem: string, fix: string) {
    // A field that holds a secret is shown by its length, whatever the caller passed (lib/slurm/errors.ts).
    super(`${scope.node.path}: ${field} = ${JSON.stringify(shownForField(field, value))}: ${problem}. ${fix}`);
    this.name = 'ConstructPropError';
  }
}

/**
 * The Terraform expression a token stands for (`${var.docker_host}`), stable across synths, unlike the token's
 * own string, whose number depends on how many tokens were made before it. For names derived from references.
 */
export function terraformExpressionOf(scope: IConstruct, value: string): string {
  const resolved: unknown = Tokenization.resolve(value, {
    scope: TerraformStack.of(scope),
    preparing: false,
    resolver: new DefaultTokenResolver(new StringConcat()),
  });
  return typeof resolved === 'string' ? resolved : JSON.stringify(resolved);
}

/**
 * Runs `write(dir)` when the stack synthesizes, after validation, with the stack's output directory
 * (`cdktf.out/stacks/<name>`), for files written beside cdk.tf.json. Not run by `Testing.synth`, which writes
 * nothing.
 */
export function onStackSynthesized(scope: IConstruct, write: (stackDir: string) => void): void {
  addCustomSynthesis(scope, {
    onSynthesize: (session: ISynthesisSession) => {
      const stack = TerraformStack.of(scope);
      write(path.join(session.outdir, session.manifest.forStack(stack).workingDirectory));
    },
  });
}

/** A line cdktf prints with `cdktf synth` (an info annotation on `scope`). */
export function reportAtSynth(scope: IConstruct, text: string): void {
  Annotations.of(scope).addInfo(text);
}

/**
 * One Aspect per stack that opens each synth pass: it counts passes (so renders can be shared within one) and
 * then runs the hooks given to `runAtSynthStart`, in order. cdktf invokes a stack's Aspects at the start of
 * every synth (`app.synth()`, `Testing.synth`), before validation and before anything is resolved for output.
 */
class SynthPass implements IAspect {
  generation = 0;
  readonly hooks: IAspect[] = [];

  visit(node: IConstruct): void {
    if (!TerraformStack.isStack(node)) return;
    this.generation++;
    for (const hook of this.hooks) hook.visit(node);
  }
}

const PASSES = new WeakMap<TerraformStack, SynthPass>();

function synthPassOf(scope: IConstruct): SynthPass {
  const stack = TerraformStack.of(scope);
  let pass = PASSES.get(stack);
  if (!pass) {
    pass = new SynthPass();
    PASSES.set(stack, pass);
    Aspects.of(stack).add(pass);
  }
  return pass;
}

/** Runs `aspect` on the stack of `scope` at the start of each synth, once the pass is open. */
export function runAtSynthStart(scope: IConstruct, aspect: IAspect): void {
  synthPassOf(scope).hooks.push(aspect);
}

/**
 * `produce` computed at most once per synth of the stack: cdktf's preparing resolve, the policy pack, validation
 * and the written output all read the same rendering. Before the first synth every call computes; values made during a synth are kept
 * until the next one (constructs added after a synth are seen by the next synth, as everywhere in cdktf).
 */
export function oncePerSynth<T>(scope: IConstruct, produce: () => T): () => T {
  const pass = synthPassOf(scope);
  let cached: { generation: number; value: T } | undefined;
  return () => {
    // `app.synth()` resolves everything once before the stack's Aspects run, with the tree complete: what it
    // renders then belongs to the pass about to open.
    const generation = preparing ? pass.generation + 1 : pass.generation;
    if (generation === 0) return produce();
    if (cached?.generation !== generation) cached = { generation, value: produce() };
    return cached.value;
  };
}

/**
 * Keeps the state of a resource whose construct id changed: a Terraform `moved` block from the address the resource had
 * as `formerId` under the same parent (the logical ID cdktf allocated then) to its address now. Terraform ignores the
 * block when nothing is in state at the old address, so it is safe for new deployments too.
 */
export function renamedFrom(resource: TerraformResource, formerId: string): void {
  const stack = TerraformStack.of(resource);
  const scopes = resource.node.scopes;
  const components = scopes.slice(scopes.indexOf(stack) + 1).map((c) => c.node.id);
  components[components.length - 1] = formerId;
  resource.moveFromId(`${resource.terraformResourceType}.${makeUniqueId(components)}`);
}
