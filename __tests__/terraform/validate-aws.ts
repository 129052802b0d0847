/**
 * Offline `terraform validate` of the AWS part of a synthesized stack, against the real AWS provider schema from
 * a local filesystem mirror (DESIGN.md §5). Only the AWS provider is in the mirror, so everything else — other
 * providers, their resources and data sources, and whatever references them (outputs, locals, AWS resources
 * too) — is dropped from a copy first; `dropped` says what went.
 *
 * Where terraform or the mirror is absent, `validateAws` returns `{ skipped: true }` and warns loudly; use
 * `awsValidationAvailability()` to turn tests into `it.skip`.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** One diagnostic from `terraform validate -json`. */
export interface TerraformDiagnostic {
  readonly severity: 'error' | 'warning';
  readonly summary: string;
  readonly detail?: string;
  /** Resource address, when terraform names one. */
  readonly address?: string;
  readonly range?: { filename: string; start: { line: number; column: number } };
}

export type ValidateAwsResult =
  | { readonly skipped: true; readonly reason: string }
  | {
      readonly skipped: false;
      /** terraform's own verdict: no error diagnostics. */
      readonly valid: boolean;
      readonly errors: TerraformDiagnostic[];
      readonly warnings: TerraformDiagnostic[];
      /** What was removed before validating, one line each (e.g. `resource docker_container.node: not an AWS type`). */
      readonly dropped: string[];
      /** The configuration that was validated. */
      readonly config: TfJson;
    };

export interface ValidateAwsOptions {
  /** @default `/opt/tf-plugins` (or `$TF_AWS_MIRROR_DIR`) */
  readonly mirrorDir?: string;
  /** @default `terraform` on PATH (or `$TERRAFORM_BIN`) */
  readonly terraformBin?: string;
  /** Keep the working directory for inspection (its path is printed). @default false */
  readonly keepDir?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TfJson = Record<string, any>;

const DEFAULT_MIRROR = process.env.TF_AWS_MIRROR_DIR ?? '/opt/tf-plugins';
const DEFAULT_TERRAFORM = process.env.TERRAFORM_BIN ?? 'terraform';
/** Source addresses that mean the hashicorp/aws provider. */
const AWS_SOURCES = new Set(['aws', 'hashicorp/aws', 'registry.terraform.io/hashicorp/aws']);

/** Whether terraform and the AWS provider mirror are here; `reason` says what is missing. */
export function awsValidationAvailability(options: ValidateAwsOptions = {}): { ok: boolean; reason: string } {
  const mirror = options.mirrorDir ?? DEFAULT_MIRROR;
  const bin = options.terraformBin ?? DEFAULT_TERRAFORM;
  const version = spawnSync(bin, ['version'], { encoding: 'utf8', env: terraformEnv(undefined) });
  if (version.error || version.status !== 0) {
    return { ok: false, reason: `terraform not runnable as '${bin}': ${version.error?.message ?? version.stderr}` };
  }
  const awsDir = path.join(mirror, 'registry.terraform.io', 'hashicorp', 'aws');
  if (!fs.existsSync(awsDir) || fs.readdirSync(awsDir).length === 0) {
    return { ok: false, reason: `no AWS provider in the filesystem mirror (looked for ${awsDir})` };
  }
  return { ok: true, reason: `terraform and ${awsDir} (${fs.readdirSync(awsDir).join(', ')}) present` };
}

/**
 * A copy of `synthesized` holding only the AWS provider and `aws_*` resources and data sources, plus the
 * variables, locals and outputs that reference nothing dropped. The backend is removed (`init -backend=false`
 * ignores it anyway, and a copy must never touch real state).
 */
export function awsOnly(synthesized: string | TfJson): { config: TfJson; dropped: string[] } {
  const config: TfJson = JSON.parse(typeof synthesized === 'string' ? synthesized : JSON.stringify(synthesized));
  const dropped: string[] = [];

  // terraform block: only aws in required_providers, no backend or cloud block.
  const keptProviderNames = new Set<string>(['aws']);
  if (config.terraform) {
    for (const key of ['backend', 'cloud']) {
      if (config.terraform[key] !== undefined) {
        dropped.push(`terraform.${key} ${Object.keys(config.terraform[key]).join(', ')}: validating needs no state`);
        delete config.terraform[key];
      }
    }
    const required = config.terraform.required_providers ?? {};
    for (const [name, spec] of Object.entries(required)) {
      const source = typeof spec === 'string' ? name : String((spec as TfJson).source ?? name);
      if (AWS_SOURCES.has(source.toLowerCase())) {
        keptProviderNames.add(name);
      } else {
        dropped.push(`terraform.required_providers.${name} (${source}): not in the offline mirror`);
        delete required[name];
      }
    }
  }
  for (const name of Object.keys(config.provider ?? {})) {
    if (!keptProviderNames.has(name)) {
      dropped.push(`provider ${name}: not in the offline mirror`);
      delete config.provider[name];
    }
  }
  if (config.provider && Object.keys(config.provider).length === 0) delete config.provider;

  // Every addressable block, so references can be followed.
  interface Item { label: string; address: string; section: string; keys: string[] }
  const items: Item[] = [];
  const nested = (section: string, prefix: string, label: string) => {
    for (const [type, byName] of Object.entries(config[section] ?? {})) {
      for (const name of Object.keys(byName as TfJson)) {
        items.push({ label: `${label} ${type}.${name}`, address: `${prefix}${type}.${name}`, section, keys: [type, name] });
      }
    }
  };
  nested('resource', '', 'resource');
  nested('data', 'data.', 'data');
  const flat = (section: string, prefix: string, label: string) => {
    for (const name of Object.keys(config[section] ?? {})) {
      items.push({ label: `${label} ${name}`, address: `${prefix}${name}`, section, keys: [name] });
    }
  };
  flat('locals', 'local.', 'local');
  flat('output', 'output.', 'output');
  flat('module', 'module.', 'module');
  flat('variable', 'var.', 'variable');

  const get = (item: Item) => item.keys.reduce((node: TfJson, k) => node?.[k], config[item.section]);
  const remove = (item: Item) => {
    if (item.keys.length === 2) {
      delete config[item.section][item.keys[0]][item.keys[1]];
      if (Object.keys(config[item.section][item.keys[0]]).length === 0) delete config[item.section][item.keys[0]];
    } else {
      delete config[item.section][item.keys[0]];
    }
    if (Object.keys(config[item.section]).length === 0) delete config[item.section];
  };

  const gone = new Set<string>();
  const live = new Set(items);
  for (const item of items) {
    const type = item.keys[0];
    const foreign = (item.section === 'resource' || item.section === 'data') && !type.startsWith('aws_');
    const providerMeta = (item.section === 'resource' || item.section === 'data') ? get(item)?.provider : undefined;
    const foreignAlias = typeof providerMeta === 'string' && !keptProviderNames.has(providerMeta.split('.')[0]);
    if (foreign || foreignAlias || item.section === 'module') {
      dropped.push(`${item.label}: ${item.section === 'module' ? 'modules are not validated' : 'not an AWS type'}`);
      gone.add(item.address);
      live.delete(item);
      remove(item);
    }
  }
  // Follow references to a fixed point: anything naming a dropped address goes too.
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (let changed = true; changed;) {
    changed = false;
    if (gone.size === 0) break;
    const pattern = new RegExp(`(?<![\\w.-])(${[...gone].map(escape).join('|')})(?![\\w-])`);
    for (const item of [...live]) {
      const match = JSON.stringify(get(item)).match(pattern);
      if (match) {
        dropped.push(`${item.label}: references dropped ${match[1]}`);
        gone.add(item.address);
        live.delete(item);
        remove(item);
        changed = true;
      }
    }
  }
  return { config, dropped };
}

/** The environment terraform runs in: offline, no prompts, no phone-home, our CLI config only. */
function terraformEnv(cliConfig: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1', TF_INPUT: '0' };
  delete env.TF_CLI_CONFIG_FILE;
  delete env.TF_LOG;
  if (cliConfig) env.TF_CLI_CONFIG_FILE = cliConfig;
  return env;
}

/**
 * Runs `terraform init -backend=false` and `terraform validate -json` on the AWS part of `synthesized` (a
 * `cdk.tf.json` object or its text). A failed init is returned as one error diagnostic, not thrown.
 */
export function validateAws(synthesized: string | TfJson, options: ValidateAwsOptions = {}): ValidateAwsResult {
  const availability = awsValidationAvailability(options);
  if (!availability.ok) {
    // eslint-disable-next-line no-console
    console.warn(`\n!!! terraform validate SKIPPED: ${availability.reason}\n!!! The AWS configuration was NOT checked against the provider schema.\n`);
    return { skipped: true, reason: availability.reason };
  }
  const mirror = path.resolve(options.mirrorDir ?? DEFAULT_MIRROR);
  const bin = options.terraformBin ?? DEFAULT_TERRAFORM;
  const { config, dropped } = awsOnly(synthesized);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-validate-aws-'));
  try {
    const cliConfig = path.join(dir, 'offline.tfrc');
    fs.writeFileSync(cliConfig, [
      'provider_installation {',
      '  filesystem_mirror {',
      `    path    = ${JSON.stringify(mirror)}`,
      '    include = ["registry.terraform.io/*/*"]',
      '  }',
      '  direct {',
      '    exclude = ["registry.terraform.io/*/*"]',
      '  }',
      '}',
      '',
    ].join('\n'));
    const work = path.join(dir, 'config');
    fs.mkdirSync(work);
    fs.writeFileSync(path.join(work, 'main.tf.json'), JSON.stringify(config, null, 2));
    const run = (args: string[]) => spawnSync(bin, args, {
      cwd: work, encoding: 'utf8', env: terraformEnv(cliConfig), timeout: 180_000, maxBuffer: 64 * 1024 * 1024,
    });

    const init = run(['init', '-backend=false', '-input=false', '-no-color']);
    if (init.error || init.status !== 0) {
      const errors: TerraformDiagnostic[] = [{
        severity: 'error',
        summary: 'terraform init failed',
        detail: `${init.error?.message ?? ''}${init.stdout ?? ''}${init.stderr ?? ''}`.trim(),
      }];
      return { skipped: false, valid: false, errors, warnings: [], dropped, config };
    }
    const validate = run(['validate', '-json', '-no-color']);
    let report: { valid?: boolean; diagnostics?: TerraformDiagnostic[] };
    try {
      report = JSON.parse(validate.stdout);
    } catch {
      throw new Error(`terraform validate printed no JSON (exit ${validate.status}): ${validate.stderr}${validate.stdout}`);
    }
    const diagnostics = report.diagnostics ?? [];
    const errors = diagnostics.filter((d) => d.severity === 'error');
    return {
      skipped: false,
      valid: report.valid === true && errors.length === 0,
      errors,
      warnings: diagnostics.filter((d) => d.severity === 'warning'),
      dropped,
      config,
    };
  } finally {
    if (options.keepDir) {
      // eslint-disable-next-line no-console
      console.log(`terraform validate working directory kept: ${dir}`);
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Diagnostics as readable lines, for assertion messages. */
export function formatDiagnostics(diagnostics: readonly TerraformDiagnostic[]): string {
  return diagnostics
    .map((d) => `${d.severity}: ${d.summary}${d.address ? ` [${d.address}]` : ''}${d.detail ? ` — ${d.detail}` : ''}`)
    .join('\n');
}
