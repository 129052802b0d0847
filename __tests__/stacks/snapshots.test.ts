/**
 * Snapshots of the shipped stacks, to catch change; correctness is asserted in the per-stack tests. Large
 * payloads (user-data, uploaded scripts) are replaced by their SHA-256, so a script edit shows as one line.
 */
import { App, Testing } from 'cdktf';
import { createHash } from 'crypto';
import { SHIPPED_STACKS } from '../../stacks/shipped';

const BULKY = new Set(['user_data_base64', 'user_data', 'user-data', 'content_base64', 'content']);

function normalize(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && BULKY.has(key) && value.length > 200) {
    return `sha256:${createHash('sha256').update(value).digest('hex')} (${value.length} chars)`;
  }
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, normalize(v, k)]));
  }
  return value;
}

test.each(Object.keys(SHIPPED_STACKS))('%s synthesizes as before', (name) => {
  const stack = SHIPPED_STACKS[name](Testing.app() as App, name);
  const tf = JSON.parse(Testing.synth(stack)) as Record<string, unknown>;
  // The facts the snapshot must not hide: no resource was dropped by the normalization.
  expect(Object.keys((tf.resource ?? {}) as object).length).toBeGreaterThan(10);
  expect(normalize(tf)).toMatchSnapshot();
});
