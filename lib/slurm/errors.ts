/** One problem found in a cluster model: where it is, what it holds, what is wrong, how to fix it. */
export interface ConfigIssue {
  /** Path of the offending field in the model, e.g. `nodePools[1].gpus.count`. */
  readonly field: string;
  /** The value found there (shown as JSON). */
  readonly value: unknown;
  /** What is wrong, without a trailing period. */
  readonly problem: string;
  /** What to do instead. */
  readonly fix: string;
}

/**
 * Fields whose value is, or may be, a secret (`extraSlurmConf.AccountingStoragePass`, `mail.passwordSecret`,
 * `nodes.privateKey`, `mesh.tailscale.authKey`): judged by the field's last name, so every message about one
 * redacts it, whoever wrote the check.
 */
const SECRET_FIELD = /(pass|passwd|password|secret|token|authkey|privatekey|apikey)$/i;
/** A value already shown as a placeholder (`<24 characters>`, `<literal, 24 characters>`, `<mesh>`). */
const REDACTED = /^<[^<>]*>$/;

/**
 * How a message shows `value` of `field`: as given, or by its length where the field holds a secret (a user may have
 * pasted the secret where its reference belongs).
 */
export function shownForField(field: string, value: unknown): unknown {
  const last = field.replace(/\[\d*\]/g, '').split('.').pop() ?? field;
  if (value === undefined || !SECRET_FIELD.test(last)) return value;
  if (typeof value === 'string') return REDACTED.test(value) ? value : `<${value.length} characters>`;
  return '<redacted>';
}

/** Thrown when a cluster model cannot become a working Slurm configuration; lists every issue at once. */
export class SlurmConfigError extends Error {
  readonly issues: ConfigIssue[];

  /**
   * @param issues every problem found (at least one)
   * @param where prefix of each line, e.g. a construct path; `assertValidCluster` passes
   *   `cluster '<clusterName>'` (see `clusterWhere`). @default `cluster model`
   */
  constructor(issues: readonly ConfigIssue[], where = 'cluster model') {
    // Redacted once here, so neither the message nor `issues` carries a secret a user pasted.
    const shown = issues.map((i) => ({ ...i, value: shownForField(i.field, i.value) }));
    super(
      `${shown.length} problem${shown.length === 1 ? '' : 's'} in the Slurm cluster model:\n` +
        shown.map((i) => formatIssue(i, where)).join('\n'),
    );
    this.name = 'SlurmConfigError';
    this.issues = shown;
  }
}

/** `<where>: <field> = <JSON value>: <problem>. <fix>`; the value as given (SlurmConfigError redacts secret fields first). */
export function formatIssue(issue: ConfigIssue, where: string): string {
  return `${where}: ${issue.field} = ${showValue(issue.value)}: ${issue.problem}. ${issue.fix}`;
}

function showValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    const json = JSON.stringify(value);
    // Long values (whole pools) would drown the message; the field path already says where to look.
    return json.length > 200 ? `${json.slice(0, 197)}...` : json;
  } catch {
    return String(value);
  }
}

/** The default `where` prefix for a cluster. */
export function clusterWhere(clusterName: unknown): string {
  return `cluster '${String(clusterName)}'`;
}
