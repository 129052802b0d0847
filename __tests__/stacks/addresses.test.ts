/**
 * Resource addresses are users' Terraform state: every address a shipped stack had at the last baseline must still
 * be there, or be the `from` of a `moved` block whose `to` exists. (`bash scripts/synth-diff.sh <ref>` compares
 * whole plans between two commits.)
 */
import { App, Testing } from 'cdktf';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import baseline from './baseline/addresses.json';

interface Plan {
  resource?: Record<string, Record<string, unknown>>;
  data?: Record<string, Record<string, unknown>>;
  moved?: { from: string; to: string }[];
}

function addressesOf(tf: Plan): Set<string> {
  const out = new Set<string>();
  for (const [type, blocks] of Object.entries(tf.resource ?? {})) for (const name of Object.keys(blocks)) out.add(`${type}.${name}`);
  for (const [type, blocks] of Object.entries(tf.data ?? {})) for (const name of Object.keys(blocks)) out.add(`data.${type}.${name}`);
  return out;
}

const stacks = Object.keys(SHIPPED_STACKS);

test('the baseline covers every shipped stack', () => {
  expect(Object.keys(baseline).filter((k) => k !== '//').sort()).toEqual([...stacks].sort());
});

test.each(stacks)('%s keeps every baseline address or moves it', (name) => {
  const tf = JSON.parse(Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name))) as Plan;
  const now = addressesOf(tf);
  const moved = new Map((tf.moved ?? []).map((m) => [m.from, m.to]));
  const before = (baseline as unknown as Record<string, string[]>)[name];
  expect(before.length).toBeGreaterThan(10);
  const lost = before.filter((a) => !now.has(a) && !moved.has(a));
  expect(lost).toEqual([]);
  for (const [from, to] of moved) {
    // A move lands on a resource of the same type that exists now, from one that no longer does.
    expect(now.has(to)).toBe(true);
    expect(now.has(from)).toBe(false);
    expect(to.split('.')[0]).toBe(from.split('.')[0]);
  }
});
