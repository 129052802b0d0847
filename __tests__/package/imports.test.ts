/**
 * Import hygiene the load time depends on: provider classes come from their submodules (the package roots load
 * every resource of the provider: seconds and hundreds of MB), cdktf's internals are reached in one adapter only,
 * and the pure core does not import cdktf at all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.join(__dirname, '..', '..');

function sources(dir: string, ext = /\.(ts|js)$/): string[] {
  const full = path.join(repo, dir);
  if (!fs.existsSync(full)) return [];
  return fs.readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => ext.test(f) && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

const SHIPPED = [...sources('lib'), ...sources('stacks'), 'main.ts', ...sources('bench')];
const importsOf = (file: string): string[] =>
  [...fs.readFileSync(path.join(repo, file), 'utf8').matchAll(/(?:from\s+|require\()\s*'([^']+)'/g)].map((m) => m[1]);

test('provider classes are imported from their submodules, never from a package root', () => {
  const roots = SHIPPED.flatMap((f) => importsOf(f).filter((i) => /^@cdktf\/provider-[a-z]+$/.test(i)).map((i) => `${f}: ${i}`));
  expect(roots).toEqual([]);
  // The check sees real imports.
  expect(SHIPPED.flatMap(importsOf)).toContain('@cdktf/provider-aws/lib/instance');
});

test("cdktf's internal modules are reached only through the cdktf adapter", () => {
  const internal = SHIPPED.flatMap((f) => importsOf(f).filter((i) => i.startsWith('cdktf/')).map((i) => `${f}: ${i}`));
  expect(internal.sort()).toEqual([
    path.join('lib', 'cdktf-adapter.ts') + ': cdktf/lib/private/unique',
    path.join('lib', 'cdktf-adapter.ts') + ': cdktf/lib/synthesize/synthesizer',
  ]);
});

test('the pure core (Slurm model, cloud-init, monitoring, summary, policy rules) does not import cdktf', () => {
  const pure = [...sources('lib/slurm'), ...sources('lib/cloudinit'), ...sources('lib/monitoring'), ...sources('lib/summary'), ...sources('lib/policy/rules')];
  pure.push(path.join('lib', 'policy', 'engine.ts'), path.join('lib', 'policy', 'inspect.ts'), path.join('lib', 'policy', 'rule.ts'));
  expect(pure.length).toBeGreaterThan(40);
  const offenders = pure.flatMap((f) => importsOf(f).filter((i) => i === 'cdktf' || i.startsWith('cdktf/') || i.startsWith('@cdktf/')).map((i) => `${f}: ${i}`));
  expect(offenders).toEqual([]);
});
