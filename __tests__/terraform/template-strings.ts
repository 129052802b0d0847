/**
 * How Terraform reads a string argument: `${…}` is an interpolation, `%{…}` a directive, `$${` and `%%{` stand for
 * the literal `${` and `%{`. Tests use these to see a synthesized string as Terraform will, never as JSON alone.
 */

/** The literal text of a string that holds no interpolation: what Terraform hands the provider. */
export function terraformLiteralValue(value: string): string {
  const live = interpolations(value);
  if (live.length > 0) throw new Error(`not a literal: it interpolates ${live.join(', ')}`);
  if (directives(value).length > 0) throw new Error('not a literal: it holds a %{…} directive');
  return value.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{');
}

/** The expressions of the live (unescaped) `${…}` sequences in `value`, e.g. `['var.region']`. */
export function interpolations(value: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value.startsWith('$${', i)) {
      i += 2;
      continue;
    }
    if (value.startsWith('${', i)) {
      const end = closingBrace(value, i + 2);
      found.push(value.slice(i + 2, end));
      i = end;
    }
  }
  return found;
}

/** Live `%{` directives (unescaped). */
export function directives(value: string): number[] {
  const at: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value.startsWith('%%{', i)) {
      i += 2;
      continue;
    }
    if (value.startsWith('%{', i)) at.push(i);
  }
  return at;
}

function closingBrace(value: string, from: number): number {
  let depth = 1;
  for (let j = from; j < value.length; j++) {
    if (value[j] === '{') depth++;
    else if (value[j] === '}' && --depth === 0) return j;
  }
  return value.length;
}

/** Every string in a synthesized JSON document, with its JSON path. */
export function stringsOf(doc: unknown, at = '$'): { path: string; value: string }[] {
  if (typeof doc === 'string') return [{ path: at, value: doc }];
  if (Array.isArray(doc)) return doc.flatMap((v, i) => stringsOf(v, `${at}[${i}]`));
  if (doc && typeof doc === 'object') return Object.entries(doc).flatMap(([k, v]) => stringsOf(v, `${at}.${k}`));
  return [];
}
