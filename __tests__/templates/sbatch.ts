/** Reading job templates as sbatch does: the `#SBATCH` header, and the request it makes. */
import { slurmMinutes } from './stack-facts';

/** The `#SBATCH` options sbatch knows and these templates may use. A typo (`--gpus-per-nodes`) is not among them. */
export const KNOWN_OPTIONS = new Set([
  'job-name',
  'partition',
  'nodes',
  'ntasks-per-node',
  'gpus-per-node',
  'gres',
  'cpus-per-task',
  'mem',
  'exclusive',
  'time',
  'requeue',
  'open-mode',
  'output',
]);

export interface SbatchHeader {
  /** Options in order, `--name[=value]` without the dashes; `true` for flags. */
  readonly options: readonly [string, string | true][];
  /** `#SBATCH` lines after the first command, which sbatch ignores. */
  readonly ignored: readonly string[];
}

/** sbatch reads `#SBATCH` lines until the first line that is neither blank nor a comment. */
export function sbatchHeader(text: string): SbatchHeader {
  const options: [string, string | true][] = [];
  const ignored: string[] = [];
  let inHeader = true;
  for (const line of text.split('\n').slice(1)) {
    const t = line.trim();
    if (inHeader && t !== '' && !t.startsWith('#')) inHeader = false;
    if (!t.startsWith('#SBATCH')) continue;
    if (!inHeader) {
      ignored.push(t);
      continue;
    }
    const m = /^#SBATCH\s+--([a-z-]+)(?:=(\S+))?\s*$/.exec(t);
    if (!m) throw new Error(`unparsable #SBATCH line: ${t}`);
    options.push([m[1], m[2] ?? true]);
  }
  return { options, ignored };
}

/** Memory in MiB from sbatch's `--mem` (default unit M); 0 means all of the node's memory. */
export function memMiB(value: string): number {
  const m = /^(\d+)([KMGT]?)$/i.exec(value);
  if (!m) throw new Error(`not an sbatch memory size: ${value}`);
  const unit = { '': 1, K: 1 / 1024, M: 1, G: 1024, T: 1024 ** 2 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * unit;
}

export interface JobRequest {
  readonly jobName: string;
  readonly partition: string;
  readonly nodes: number;
  readonly ntasksPerNode: number;
  /** GPUs per node, from `--gpus-per-node=N` or `--gres=gpu[:type]:N`; 0 when none is asked for. */
  readonly gpusPerNode: number;
  readonly cpusPerTask: number;
  /** MiB per node, or 'node' for `--mem=0` (all of it). */
  readonly mem: number | 'node';
  readonly exclusive: boolean;
  readonly minutes: number;
  readonly requeue: boolean;
  readonly openMode?: string;
  readonly output: string;
}

/** The request a header makes; every field a template must state is required here. */
export function jobRequest(header: SbatchHeader): JobRequest {
  const o = new Map(header.options);
  const need = (name: string): string => {
    const v = o.get(name);
    if (typeof v !== 'string') throw new Error(`#SBATCH --${name}=... is missing`);
    return v;
  };
  const int = (name: string): number => {
    const v = need(name);
    if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${name}=${v} is not a positive whole number`);
    return Number(v);
  };
  let gpusPerNode = 0;
  const gres = o.get('gres');
  if (o.has('gpus-per-node') && gres !== undefined) throw new Error('both --gpus-per-node and --gres: say it once');
  if (o.has('gpus-per-node')) gpusPerNode = int('gpus-per-node');
  else if (typeof gres === 'string') {
    const m = /^gpu(?::[a-z0-9_-]+)?:(\d+)$/.exec(gres);
    if (!m) throw new Error(`--gres=${gres} is not gpu[:type]:N`);
    gpusPerNode = Number(m[1]);
  }
  const mem = memMiB(need('mem'));
  return {
    jobName: need('job-name'),
    partition: need('partition'),
    nodes: int('nodes'),
    ntasksPerNode: int('ntasks-per-node'),
    gpusPerNode,
    cpusPerTask: int('cpus-per-task'),
    mem: mem === 0 ? 'node' : mem,
    exclusive: o.get('exclusive') === true,
    minutes: slurmMinutes(need('time')),
    requeue: o.get('requeue') === true,
    openMode: o.get('open-mode') as string | undefined,
    output: need('output'),
  };
}

/** A shell script's lines that are code, not comments. */
export function codeLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

/** The default of `name=${ENV:-default}` (first occurrence, at the start of a line). */
export function defaultOf(text: string, name: string, env: string): string | undefined {
  const m = new RegExp(`^${name}=\\$\\{${env}:-(.*)\\}$`, 'm').exec(text);
  return m?.[1];
}

/** `readonly NAME=value` at the start of a line. */
export function readonlyValue(text: string, name: string): string | undefined {
  return new RegExp(`^readonly ${name}=(\\S+)$`, 'm').exec(text)?.[1]?.replace(/^'(.*)'$/, '$1');
}
