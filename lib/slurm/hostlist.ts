/**
 * Slurm's hostlist syntax: `gpu-[0-127]`, `n[001-010]`, `n[1-3,7,9-10]`, `a[1-2],b3`.
 *
 * Compression follows Slurm: a name is split into a prefix and its trailing digits, and only that
 * last digit run is ranged (`rack1-n1,rack1-n2` -> `rack1-n[1-2]`). Zero padding is kept: a range's
 * width is the width of its lower bound, as in Slurm (`n[01-10]` -> n01 … n10).
 */

/** Expansion refuses to build more names than this, so a typo like `n[0-999999999]` fails fast. */
export const MAX_HOSTLIST_NAMES = 1_000_000;

/** Digit runs longer than this cannot be represented exactly as numbers here (nor usefully in Slurm). */
const MAX_DIGITS = 15;

const FORBIDDEN_IN_NAME = /[\s,[\]]/;

interface SplitName {
  readonly name: string;
  readonly prefix: string;
  /** Trailing digits, or '' when the name does not end in a digit. */
  readonly digits: string;
  readonly value: number;
}

function split(name: string): SplitName {
  const m = /^(.*?)(\d+)$/.exec(name);
  if (!m) return { name, prefix: name, digits: '', value: -1 };
  let digits = m[2];
  let prefix = m[1];
  if (digits.length > MAX_DIGITS) {
    // Keep only the last MAX_DIGITS digits ranged; the rest belongs to the prefix.
    prefix += digits.slice(0, digits.length - MAX_DIGITS);
    digits = digits.slice(-MAX_DIGITS);
  }
  return { name, prefix, digits, value: Number(digits) };
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** Canonical order: by prefix, names without a number first, then numerically, then narrower first. */
function compare(a: SplitName, b: SplitName): number {
  if (a.prefix !== b.prefix) return a.prefix < b.prefix ? -1 : 1;
  if (a.value !== b.value) return a.value - b.value;
  return a.digits.length - b.digits.length;
}

/** Sorts and de-duplicates names in the order `compressHostlist` lists them (numeric, so n2 before n10). */
export function sortHostnames(names: readonly string[]): string[] {
  return [...new Set(names)].map(split).sort(compare).map((s) => s.name);
}

/**
 * Compresses host names into one hostlist expression; duplicates are dropped and the result is
 * sorted (numerically), so the same set of names always gives the same string.
 * @throws Error if a name is empty or contains whitespace, `,`, `[` or `]`.
 */
export function compressHostlist(names: readonly string[]): string {
  for (const name of names) {
    if (name === '' || FORBIDDEN_IN_NAME.test(name)) {
      throw new Error(
        `Invalid host name ${JSON.stringify(name)}: host names must be non-empty and contain no whitespace, ',', '[' or ']'.`,
      );
    }
  }
  const sorted = [...new Set(names)].map(split).sort(compare);
  const groups: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const prefix = sorted[i].prefix;
    const members: SplitName[] = [];
    while (i < sorted.length && sorted[i].prefix === prefix) members.push(sorted[i++]);

    const plain = members.filter((m) => m.digits === '');
    const numbered = members.filter((m) => m.digits !== '');
    groups.push(...plain.map((m) => m.name));
    if (numbered.length === 1) {
      groups.push(numbered[0].name);
    } else if (numbered.length > 1) {
      groups.push(`${prefix}[${ranges(numbered).join(',')}]`);
    }
  }
  return groups.join(',');
}

/** Consecutive numbers that print the same at the run's width become one `lo-hi` range. */
function ranges(members: readonly SplitName[]): string[] {
  const out: string[] = [];
  let start = members[0];
  let prev = members[0];
  const flush = (): void => {
    out.push(start === prev ? start.digits : `${start.digits}-${pad(prev.value, start.digits.length)}`);
  };
  for (const m of members.slice(1)) {
    if (m.value === prev.value + 1 && pad(m.value, start.digits.length) === m.digits) {
      prev = m;
    } else {
      flush();
      start = m;
      prev = m;
    }
  }
  flush();
  return out;
}

/**
 * Expands a hostlist expression into host names, in the order Slurm lists them (left bracket
 * varies slowest: `r[1-2]-n[1-2]` -> r1-n1, r1-n2, r2-n1, r2-n2). Duplicates are kept, as in Slurm.
 * @throws Error naming the expression and the reason when it is malformed.
 */
export function expandHostlist(expr: string): string[] {
  const fail = (why: string): never => {
    throw new Error(`Invalid hostlist ${JSON.stringify(expr)}: ${why}.`);
  };
  if (expr === '') fail('it is empty; give at least one host name, e.g. "gpu-[0-3]"');
  if (/\s/.test(expr)) fail('it contains whitespace; separate host names with "," only');

  const out: string[] = [];
  for (const group of splitTopLevel(expr, fail)) {
    if (group === '') fail('it has an empty item (two commas in a row, or a leading/trailing comma)');
    // Parts alternate: literal text, then the choices of one bracket, …
    let names: string[] = [''];
    let rest = group;
    while (rest !== '') {
      const open = rest.indexOf('[');
      const literal = open === -1 ? rest : rest.slice(0, open);
      if (literal.includes(']')) fail(`"]" without a matching "[" in "${group}"`);
      names = names.map((n) => n + literal);
      if (open === -1) break;
      const close = rest.indexOf(']', open);
      if (close === -1) fail(`"[" without a matching "]" in "${group}"`);
      const body = rest.slice(open + 1, close);
      if (body.includes('[')) fail(`nested brackets in "${group}"`);
      const choices = expandBracket(body, fail);
      if (names.length * choices.length > MAX_HOSTLIST_NAMES) {
        fail(`it expands to more than ${MAX_HOSTLIST_NAMES} names`);
      }
      names = names.flatMap((n) => choices.map((c) => n + c));
      rest = rest.slice(close + 1);
    }
    out.push(...names);
    if (out.length > MAX_HOSTLIST_NAMES) fail(`it expands to more than ${MAX_HOSTLIST_NAMES} names`);
  }
  return out;
}

/** Splits on commas that are not inside brackets. */
function splitTopLevel(expr: string, fail: (why: string) => never): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of expr) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0) fail('"]" without a matching "["');
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) fail('"[" without a matching "]"');
  parts.push(current);
  return parts;
}

function expandBracket(body: string, fail: (why: string) => never): string[] {
  if (body === '') fail('empty brackets "[]"');
  const out: string[] = [];
  for (const item of body.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) fail(`"${item}" inside brackets is not a number or a range like "0-7"`);
    const [, loText, hiText] = m as RegExpExecArray;
    if (loText.length > MAX_DIGITS || (hiText ?? '').length > MAX_DIGITS) {
      fail(`"${item}" has more than ${MAX_DIGITS} digits`);
    }
    const lo = Number(loText);
    const hi = hiText === undefined ? lo : Number(hiText);
    if (hi < lo) fail(`range "${item}" runs backwards; write the lower bound first`);
    if (hi - lo + 1 > MAX_HOSTLIST_NAMES) fail(`range "${item}" has more than ${MAX_HOSTLIST_NAMES} names`);
    for (let v = lo; v <= hi; v++) out.push(pad(v, loText.length));
  }
  return out;
}
