/** Bounded polling with an error that says what was last seen and what the daemons logged. */

export interface WaitOptions {
  /** Poll interval. @default 250 */
  readonly intervalMs?: number;
  /** Called once on timeout; its text (e.g. log tails) is appended to the error. */
  readonly diagnostics?: () => Promise<string> | string;
}

export class WaitTimeoutError extends Error {}

/**
 * Calls `fn` until it returns a value other than `undefined`/`false`/`null`, or until `timeoutMs`.
 * `fn` may throw: the error counts as "not yet" and is shown if time runs out. `fn` may call
 * `note(text)` to record what it saw; the last note is shown in the timeout error.
 */
export async function waitFor<T>(
  fn: (note: (text: string) => void) => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs: number,
  what: string,
  opts: WaitOptions = {},
): Promise<T> {
  const start = Date.now();
  const interval = opts.intervalMs ?? 250;
  let last = '(nothing observed yet)';
  const note = (text: string) => {
    last = text;
  };
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const v = await fn(note);
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (err) {
      last = `threw: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() - start >= timeoutMs) break;
    await sleep(Math.min(interval, Math.max(0, timeoutMs - (Date.now() - start))));
  }
  let diag = '';
  if (opts.diagnostics) {
    try {
      diag = await opts.diagnostics();
    } catch (err) {
      diag = `(diagnostics failed: ${String(err)})`;
    }
  }
  throw new WaitTimeoutError(
    `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for: ${what}\n` +
      `--- last observation ---\n${last}\n` +
      (diag ? `--- diagnostics ---\n${diag}\n` : ''),
  );
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
