/**
 * What every part of the cluster checks (validate.ts, validate-pools.ts) shares: the issue collector and
 * the number, path, one-line and known-key checks. Kept apart so those parts can share them without
 * importing each other; this module imports none of them.
 */
import { ConfigIssue, shownForField } from './errors';
import type { SlurmVersion } from './model';

/** Collects issues with the field path already prefixed. */
export class Issues {
  readonly list: ConfigIssue[] = [];
  add(field: string, value: unknown, problem: string, fix: string): void {
    // A secret-like field's value is kept by its length only: issues are returned and logged as they are.
    this.list.push({ field, value: shownForField(field, value), problem, fix });
  }
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function checkInt(issues: Issues, field: string, value: unknown, min: number, max: number, fix: string): boolean {
  if (!isInt(value) || value < min || value > max) {
    issues.add(field, value, `must be a whole number from ${min} to ${max}`, fix);
    return false;
  }
  return true;
}

export function checkPath(issues: Issues, field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || !value.startsWith('/') || /\s/.test(value)) {
    issues.add(
      field,
      value,
      'must be an absolute path without whitespace',
      'Give the full path, e.g. "/usr/local/sbin/script.sh"; Slurm resolves relative paths differently per daemon.',
    );
  }
}

export function checkOneLine(issues: Issues, field: string, value: unknown, allowSpaces: boolean): void {
  if (typeof value !== 'string') {
    issues.add(field, value, 'must be a string', 'Give the value as a string, e.g. "1024".');
  } else if (/[\r\n]/.test(value)) {
    issues.add(field, value, 'contains a line break, which would start a new slurm.conf line', 'Put the value on one line.');
  } else if (!allowSpaces && /\s/.test(value)) {
    issues.add(
      field,
      value,
      'contains whitespace, which would split this node or partition line',
      'Remove the spaces; use "," between list items.',
    );
  }
}

export function checkKnownKey(
  issues: Issues,
  field: string,
  key: string,
  value: unknown,
  keys: { find(k: string): string | undefined; note(k: string): string | undefined },
  version: SlurmVersion,
  where: string,
): void {
  if (keys.find(key) !== undefined) return;
  const note = keys.note(key);
  issues.add(
    field,
    value,
    `${key} is not a ${where} key in Slurm ${version}${note ? ` (${note})` : ''}`,
    note
      ? `Remove it, or set slurmVersion to a release that has it.`
      : `Check the spelling against slurm.conf(5) for Slurm ${version}.`,
  );
}
