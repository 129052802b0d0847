/**
 * `/etc/cdktf-slurm/node.env`: the settings the bootstrap scripts read, as shell `KEY='value'` lines.
 *
 * It is sourced by bash, so every value is single-quoted; and it is user-data, so it must hold references
 * to secrets (`aws-secretsmanager:<arn>`, `file:/path`), never their values.
 */
import { bootSteps, NODE_ROLES, STEPS_VARIABLE, type HostTables, type NodeRole } from './boot-steps';

/** The variable node.env fills from `roles`; callers do not set it themselves. */
export const ROLES_VARIABLE = 'CDKTF_SLURM_ROLES';

const ENV_KEY = /^[A-Z_][A-Z0-9_]*$/;
/** Control characters bash cannot keep in a one-line assignment (tab is fine). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Keys whose values are the kind of thing that must not be inlined. */
const SECRET_KEY = /(KEY|PASS|PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL)/;
const PEM = /-----BEGIN [A-Z0-9 ]+-----/;
const BLOB = /[A-Za-z0-9+/_-]{32,}={0,2}/g;
/** Secret references the bootstrap scripts resolve (node contract: MUNGE_KEY_SOURCE, DB_PASSWORD_SOURCE). */
const SECRET_REFERENCE = /^(generate\+)?(aws-secretsmanager|gcp-secretmanager):[^\s]+$|^file:\/[^\s]*$/;

/** bash single-quoting: the only character to escape inside '…' is the quote itself. */
export function shellSingleQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Why `value` under `key` looks like secret material, or undefined if it does not.
 *
 * A PEM block is refused under any key. Under secret-ish keys (…KEY…, …PASSWORD…, …SECRET…, …TOKEN…),
 * a value that is not a secret reference (`file:/…`, `aws-secretsmanager:…`, `gcp-secretmanager:…`) is
 * refused when it holds a run of 32+ base64/hex characters that looks random: hex only, or upper- and
 * lower-case and digits mixed, or `=` padding.
 */
export function secretMaterialReason(key: string, value: string): string | undefined {
  if (PEM.test(value)) return 'it contains a PEM block';
  if (!SECRET_KEY.test(key) || SECRET_REFERENCE.test(value)) return undefined;
  for (const token of value.match(BLOB) ?? []) {
    const body = token.replace(/=+$/, '');
    const hex = /^[0-9a-fA-F]+$/.test(body);
    const mixed = /[A-Z]/.test(body) && /[a-z]/.test(body) && /[0-9]/.test(body);
    if (hex || mixed || token.endsWith('=')) {
      return `it contains a ${token.length}-character ${hex ? 'hex' : 'base64'} string`;
    }
  }
  return undefined;
}

/** A short prefix and the length: an error message must not leak the secret it refuses. */
function redact(value: string): string {
  return value.length <= 8 ? '…' : `${value.slice(0, 4)}…(${value.length} characters)`;
}

export interface NodeEnvOptions {
  readonly roles: readonly NodeRole[];
  /** Further variables, e.g. `CLUSTER_NAME`, `SLURM_CONTROLLER`, `MUNGE_KEY_SOURCE`. */
  readonly env: Readonly<Record<string, string>>;
  /** The tables the host receives beside node.env; with roles and env they decide its steps (`bootSteps`). */
  readonly tables: HostTables;
}

/**
 * Checks roles and variables and renders node.env: roles first, then the host's ordered steps (`bootSteps` of
 * roles, env and tables, as `CDKTF_SLURM_STEPS`), then the rest sorted by name.
 */
export function renderNodeEnv(options: NodeEnvOptions): string {
  const { roles, env, tables } = options;
  if (!Array.isArray(roles) || roles.length === 0) {
    throw new Error(`node.env roles: got ${JSON.stringify(roles)}; give at least one of ${NODE_ROLES.join(', ')}.`);
  }
  for (const [i, role] of roles.entries()) {
    if (!NODE_ROLES.includes(role)) {
      throw new Error(`node.env roles[${i}]: ${JSON.stringify(role)} is not a role; use one of ${NODE_ROLES.join(', ')}.`);
    }
    if (roles.indexOf(role) !== i) {
      throw new Error(`node.env roles[${i}]: ${JSON.stringify(role)} is listed twice; list each role once.`);
    }
  }

  const steps = bootSteps({ roles, env, tables });
  return renderEnvLines(
    env,
    [`${ROLES_VARIABLE}=${shellSingleQuote(roles.join(' '))}`, `${STEPS_VARIABLE}=${shellSingleQuote(steps.join(' '))}`],
    `pass roles: [${roles.map((r) => `'${r}'`).join(', ')}] instead`,
  );
}

/**
 * node.env of a host that serves the cluster without being a Slurm node (a storage server): no roles, the same
 * checks on every variable (references only, never secret material).
 */
export function renderServiceEnv(env: Readonly<Record<string, string>>): string {
  return renderEnvLines(env, [], 'service hosts have no Slurm roles');
}

function renderEnvLines(env: Readonly<Record<string, string>>, head: readonly string[], rolesFix: string): string {
  const lines = ['# Written by cdktf-slurm (cloud-init). References to secrets only, never secret values.', ...head];
  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    const where = `node.env ${key}`;
    if (!ENV_KEY.test(key)) {
      throw new Error(
        `node.env: key ${JSON.stringify(key)} is not a shell variable name matching ${ENV_KEY}; ` +
          `use upper-case letters, digits and '_', e.g. 'CLUSTER_NAME'.`,
      );
    }
    if (key === ROLES_VARIABLE) {
      throw new Error(`${where}: set by cdktf-slurm from roles; ${rolesFix}.`);
    }
    if (key === STEPS_VARIABLE) {
      throw new Error(`${where}: set by cdktf-slurm from roles, env and tables (bootSteps); drop it and set the variables that turn the steps on.`);
    }
    if (typeof value !== 'string') {
      throw new Error(`${where}: value must be a string; got ${typeof value} ${JSON.stringify(value)}. Convert it with String().`);
    }
    if (CONTROL.test(value)) {
      throw new Error(
        `${where}: value ${JSON.stringify(value)} contains a line break or control character; ` +
          `node.env holds one line per variable, so pass a single-line value.`,
      );
    }
    const reason = secretMaterialReason(key, value);
    if (reason !== undefined) {
      throw new Error(
        `${where}: value ${JSON.stringify(redact(value))} looks like secret material (${reason}). node.env is ` +
          `user-data and must hold references only: store the secret in AWS Secrets Manager / GCP Secret Manager ` +
          `or a file, and pass a reference, e.g. MUNGE_KEY_SOURCE='aws-secretsmanager:<arn>' or 'file:/abs/path'.`,
      );
    }
    lines.push(`${key}=${shellSingleQuote(value)}`);
  }
  return lines.join('\n') + '\n';
}
