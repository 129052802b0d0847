/**
 * Every rule of the pack, run through the Aspect on real provider classes: its compliant fixture passes, its
 * non-compliant one fails with an error annotation on the offending resource that names the rule, the problem
 * and the fix, and a plain `app.synth()` of that stack throws.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, TerraformStack, Testing } from 'cdktf';
import { ALL_POLICY_RULES, enforceSecurityPolicy } from '../../lib/policy';
import { AWS_FIXTURES } from './fixtures/aws';
import { RuleFixture } from './fixtures/fixture';
import { OTHER_FIXTURES } from './fixtures/gcp-docker-common';

const FIXTURES: Record<string, RuleFixture> = { ...AWS_FIXTURES, ...OTHER_FIXTURES };

interface Note {
  level: string;
  path: string;
  message: string;
}

function notesOf(stack: TerraformStack): Note[] {
  return stack.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type.startsWith('@cdktf/'))
      .map((m) => ({ level: m.type.slice('@cdktf/'.length), path: c.node.path, message: String(m.data) })),
  );
}

function checked(build: (s: TerraformStack) => void): Note[] {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'fixture');
  build(stack);
  enforceSecurityPolicy(stack);
  Testing.synth(stack);
  return notesOf(stack);
}

test('every rule has a fixture and every fixture a rule', () => {
  expect(Object.keys(FIXTURES).sort()).toEqual(ALL_POLICY_RULES.map((r) => r.id).sort());
  expect(ALL_POLICY_RULES.length).toBeGreaterThanOrEqual(25);
});

describe.each(ALL_POLICY_RULES.map((r) => [r.id, r] as const))('%s', (id, rule) => {
  const fixture = FIXTURES[id];

  test('passes its compliant fixture', () => {
    const own = checked(fixture.compliant).filter((n) => n.message.startsWith(`[${id}]`));
    expect(own).toEqual([]);
  });

  test('fails its non-compliant fixture with an error naming the rule, the problem and the fix', () => {
    const errors = checked(fixture.nonCompliant).filter((n) => n.level === 'error' && n.message.startsWith(`[${id}]`));
    expect(errors.length).toBeGreaterThan(0);
    const [first] = errors;
    expect(first.message).toMatch(fixture.expect);
    expect(first.message).toContain(rule.explanation);
    expect(first.message).toContain(`Fix: ${rule.fix}`);
    // On the resource itself, not the stack.
    expect(first.path).toMatch(/^fixture\/.+/);
  });
});

test('a finding makes app.synth() fail and writes no stack file', () => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-synth-'));
  try {
    const app = new App({ outdir, stackTraces: false });
    const stack = new TerraformStack(app, 'bad');
    new AwsProvider(stack, 'aws', { region: 'us-east-1' });
    AWS_FIXTURES['AWS-EBS-ENCRYPTED'].nonCompliant(stack);
    enforceSecurityPolicy(stack);
    expect(() => app.synth()).toThrow(/\[AWS-EBS-ENCRYPTED\] aws_ebs_volume\.State: encrypted is not true/);
    expect(fs.existsSync(path.join(outdir, 'stacks', 'bad', 'cdk.tf.json'))).toBe(false);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});

test("the README's rule table lists every rule with its pack and explanation, and the count is right", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const rows = readme.split('\n').filter((l) => /^\| `[A-Z]+-[A-Z0-9-]+` \|/.test(l));
  expect(rows.map((r) => r.split('`')[1]).sort()).toEqual(ALL_POLICY_RULES.map((r) => r.id).sort());
  for (const rule of ALL_POLICY_RULES) {
    expect(rows).toContain(`| \`${rule.id}\` | ${rule.pack} | ${rule.explanation.replace(/\|/g, '\\|')} |`);
  }
  expect(readme).toContain(`${ALL_POLICY_RULES.length} rules in four packs`);
});
