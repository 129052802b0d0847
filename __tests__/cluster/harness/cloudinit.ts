/**
 * A "mini cloud-init": applies a `#cloud-config` document to a virtual node the way cloud-init would
 * on first boot, for the modules the library emits:
 *
 *   bootcmd → write_files (not deferred) → packages → write_files (defer: true) → runcmd
 *
 * - `packages` are not installed (no network): each must already be installed on the image, which is
 *   checked with dpkg inside the node; a missing one is an error that names it.
 * - `hostname`/`fqdn` must match the node (the harness set it); `manage_etc_hosts`, `timezone`,
 *   `preserve_hostname` and `package_*` flags are accepted and ignored (the harness owns /etc/hosts).
 * - Any other top-level key is an error: the test must not pass over something it did not apply.
 * - write_files: content decoded by `encoding` (b64/base64, gz/gzip, gz+b64 and aliases), parent dirs
 *   created, `append` honoured, then chmod `permissions` and chown `owner` (names resolved in the node).
 * - runcmd: one `/bin/sh` script, a string entry as a line, an array entry shell-quoted, as cloud-init's
 *   runcmd module does; its output is also appended to the node's `/var/log/cloud-init-output.log`.
 */
import * as zlib from 'zlib';
import { parse as parseYaml } from 'yaml';
import { describeResult, ExecResult } from './exec';
import type { VirtualNode } from './namespaces';

type Command = string | readonly string[];

interface WriteFileEntry {
  path: string;
  content?: string;
  owner?: string;
  permissions?: string | number;
  encoding?: string;
  append?: boolean;
  defer?: boolean;
}

const IGNORED_KEYS = new Set(['manage_etc_hosts', 'timezone', 'preserve_hostname', 'package_update', 'package_upgrade',
  'package_reboot_if_required']);
const HANDLED_KEYS = new Set(['bootcmd', 'write_files', 'packages', 'runcmd', 'hostname', 'fqdn']);

/** Parses rendered user-data (`#cloud-config` + YAML 1.1, as cloud-init's PyYAML reads it). */
export function parseCloudConfig(userData: string): Record<string, unknown> {
  if (!userData.startsWith('#cloud-config')) {
    throw new Error(`user-data is not a plain #cloud-config document (starts with ${JSON.stringify(userData.slice(0, 40))})`);
  }
  const doc = parseYaml(userData, { version: '1.1' }) as unknown;
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('cloud-config is not a mapping');
  return doc as Record<string, unknown>;
}

/** Decodes write_files content the way cloud-init's write_files module does. */
export function decodeWriteFileContent(content: string, encoding: string | undefined): Buffer {
  const enc = (encoding ?? 'text/plain').toLowerCase();
  switch (enc) {
    case 'text/plain':
      return Buffer.from(content, 'utf8');
    case 'b64':
    case 'base64':
      return Buffer.from(content, 'base64');
    case 'gz':
    case 'gzip':
      return zlib.gunzipSync(Buffer.from(content, 'latin1'));
    case 'gz+b64':
    case 'gz+base64':
    case 'gzip+b64':
    case 'gzip+base64':
      return zlib.gunzipSync(Buffer.from(content, 'base64'));
    default:
      throw new Error(`write_files: unknown encoding ${JSON.stringify(encoding)}`);
  }
}

/** POSIX shell quoting, for array runcmd entries. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function commandLine(cmd: Command): string {
  return typeof cmd === 'string' ? cmd : cmd.map(shQuote).join(' ');
}

function modeOf(p: string | number | undefined): string {
  if (p === undefined) return '0644';
  if (typeof p === 'number') return p.toString(8).padStart(4, '0'); // YAML 1.1 reads 0600 as octal
  if (!/^0?[0-7]{3,4}$/.test(p)) throw new Error(`write_files: bad permissions ${JSON.stringify(p)}`);
  return p;
}

async function writeFile(node: VirtualNode, f: WriteFileEntry): Promise<void> {
  if (typeof f.path !== 'string' || !f.path.startsWith('/')) throw new Error(`write_files: bad path ${JSON.stringify(f.path)}`);
  const data = decodeWriteFileContent(f.content ?? '', f.encoding);
  const owner = f.owner ?? 'root:root';
  const p = shQuote(f.path);
  const script = [
    'set -e',
    `mkdir -p "$(dirname ${p})"`,
    `cat ${f.append ? '>>' : '>'} ${p}`,
    `chmod ${modeOf(f.permissions)} ${p}`,
    `chown ${shQuote(owner)} ${p}`,
  ].join('\n');
  const r = await node.sh(script, { input: data, timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`write_files ${f.path} on ${node.name} failed:\n${describeResult(r)}`);
}

async function runCommands(node: VirtualNode, what: string, cmds: readonly Command[], timeoutMs: number): Promise<ExecResult> {
  const script = ['#!/bin/sh', ...cmds.map(commandLine), ''].join('\n');
  const r = await node.exec(['/bin/sh', '-c', script, what], { timeoutMs });
  const log = `--- mini cloud-init ${what} ---\n${r.stdout}${r.stderr}`;
  await node.sh('mkdir -p /var/log && cat >> /var/log/cloud-init-output.log', { input: log });
  return r;
}

export interface ProvisionResult {
  readonly bootcmd?: ExecResult;
  readonly runcmd?: ExecResult;
  readonly filesWritten: readonly string[];
  readonly packagesChecked: readonly string[];
}

export interface ProvisionOptions {
  /** Time limit for runcmd (the bootstrap). @default 120000 */
  readonly runcmdTimeoutMs?: number;
  /**
   * Files to place before runcmd, standing in for what the platform delivers out of band (a secret
   * "uploaded by reference" for a `file:` source). Not part of the cloud-config.
   */
  readonly outOfBandFiles?: readonly { path: string; content: Buffer | string; mode: string; owner?: string }[];
}

/** Provisions `node` from `userData` (a rendered `#cloud-config` string or the equivalent object). */
export async function provisionNode(
  node: VirtualNode,
  userData: string | Record<string, unknown>,
  opts: ProvisionOptions = {},
): Promise<ProvisionResult> {
  const doc = typeof userData === 'string' ? parseCloudConfig(userData) : userData;
  for (const key of Object.keys(doc)) {
    if (!HANDLED_KEYS.has(key) && !IGNORED_KEYS.has(key)) {
      throw new Error(`mini cloud-init: top-level key ${JSON.stringify(key)} is not emulated; extend harness/cloudinit.ts`);
    }
  }
  for (const key of ['hostname', 'fqdn'] as const) {
    const v = doc[key];
    if (v !== undefined && String(v).split('.')[0] !== node.name) {
      throw new Error(`cloud-config ${key}=${String(v)} does not match node ${node.name}`);
    }
  }
  const list = <T>(key: string): T[] => {
    const v = doc[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new Error(`cloud-config ${key} is not a list`);
    return v as T[];
  };

  let bootcmd: ExecResult | undefined;
  const boot = list<Command>('bootcmd');
  if (boot.length) {
    bootcmd = await runCommands(node, 'bootcmd', boot, 60_000);
    if (bootcmd.code !== 0) throw new Error(`bootcmd failed on ${node.name}:\n${describeResult(bootcmd)}`);
  }

  for (const f of opts.outOfBandFiles ?? []) {
    await writeFile(node, {
      path: f.path,
      content: Buffer.from(f.content).toString('base64'),
      encoding: 'b64',
      permissions: f.mode,
      owner: f.owner,
    });
  }

  const files = list<WriteFileEntry>('write_files');
  const written: string[] = [];
  for (const f of files.filter((x) => !x.defer)) {
    await writeFile(node, f);
    written.push(f.path);
  }

  const packages = list<string | string[]>('packages').map((p) => (Array.isArray(p) ? p[0] : p));
  if (packages.length) {
    const r = await node.sh(
      `for p in ${packages.map(shQuote).join(' ')}; do dpkg-query -W -f='\${Status}\\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done`,
    );
    const missing = r.stdout.split('\n').filter(Boolean);
    if (missing.length) {
      throw new Error(
        `cloud-config on ${node.name} asks for packages this image lacks (the harness cannot install them): ` +
          `${missing.join(' ')} — add them to scripts/setup-debian.sh`,
      );
    }
  }

  for (const f of files.filter((x) => x.defer)) {
    await writeFile(node, f);
    written.push(f.path);
  }

  let runcmd: ExecResult | undefined;
  const cmds = list<Command>('runcmd');
  if (cmds.length) runcmd = await runCommands(node, 'runcmd', cmds, opts.runcmdTimeoutMs ?? 120_000);
  return { bootcmd, runcmd, filesWritten: written, packagesChecked: packages };
}
