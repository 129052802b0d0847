/**
 * Running host commands with a bounded time, without ever hanging on a daemon that inherits stdio.
 *
 * Output goes to files, not pipes: a daemon started by a script (slurmd, munged, mariadbd) keeps the
 * script's stdout open long after the script exits. With pipes we would either wait for it forever
 * or close the pipe under it (SIGPIPE). With files we read what was written when the command exits.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ExecResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the command was killed because it ran past its time limit. */
  readonly timedOut: boolean;
  readonly command: string;
}

export interface ExecOptions {
  /** Kill (SIGKILL) the command after this long. @default 30000 */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed. @default stdin is /dev/null */
  readonly input?: string | Buffer;
  /** Directory for the output files. @default the OS temp dir */
  readonly scratchDir?: string;
  /** @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

let seq = 0;

/** Runs `file args…`; never rejects for a non-zero exit (check `code`), rejects only if it cannot start. */
export async function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const dir = opts.scratchDir ?? os.tmpdir();
  const stem = path.join(dir, `exec-${process.pid}-${Date.now()}-${seq++}`);
  const outFd = fs.openSync(`${stem}.out`, 'w+');
  const errFd = fs.openSync(`${stem}.err`, 'w+');
  const command = [file, ...args].join(' ');
  try {
    const child = spawn(file, [...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', outFd, errFd],
      env: opts.env ?? process.env,
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // the command may exit without reading it all
      child.stdin.end(opts.input);
    }
    let timedOut = false;
    const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    return {
      ...result,
      stdout: fs.readFileSync(`${stem}.out`, 'utf8'),
      stderr: fs.readFileSync(`${stem}.err`, 'utf8'),
      timedOut,
      command,
    };
  } finally {
    fs.closeSync(outFd);
    fs.closeSync(errFd);
    fs.rmSync(`${stem}.out`, { force: true });
    fs.rmSync(`${stem}.err`, { force: true });
  }
}

/** A one-line-per-field description of a result, for error messages. */
export function describeResult(r: ExecResult, maxChars = 4000): string {
  const cut = (s: string) => (s.length > maxChars ? `…${s.slice(-maxChars)}` : s);
  return [
    `$ ${r.command.length > 300 ? `${r.command.slice(0, 300)}…` : r.command}`,
    `exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}${r.timedOut ? ' (timed out)' : ''}`,
    `--- stdout ---\n${cut(r.stdout)}`,
    `--- stderr ---\n${cut(r.stderr)}`,
  ].join('\n');
}

/** Like run(), but rejects with the command's output when it does not exit 0. */
export async function runOk(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await run(file, args, opts);
  if (r.code !== 0) throw new Error(`command failed:\n${describeResult(r)}`);
  return r;
}
