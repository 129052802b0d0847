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

/** Thrown when a cluster model cannot become a working Slurm configuration; lists every issue at once. */
export class SlurmConfigError extends Error {
  readonly issues: ConfigIssue[];

  /**
   * @param issues every problem found (at least one)
   * @param where prefix of each line, e.g. a construct path; `assertValidCluster` passes
   *   `cluster '<clusterName>'` (see `clusterWhere`). @default `cluster model`
   */
  constructor(issues: readonly ConfigIssue[], where = 'cluster model') {
    super(
      `${issues.length} problem${issues.length === 1 ? '' : 's'} in the Slurm cluster model:\n` +
        issues.map((i) => formatIssue(i, where)).join('\n'),
    );
    this.name = 'SlurmConfigError';
    this.issues = [...issues];
  }
}

/** `<where>: <field> = <JSON value>: <problem>. <fix>` */
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
