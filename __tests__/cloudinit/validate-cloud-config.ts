/**
 * Test helpers: validate rendered cloud-config with cloud-init's own schema and tools, and read
 * user-data the way cloud-init does.
 *
 * Tool missing: warn loudly and skip that check, or fail when CI=true (CI must run every check).
 */
import { execFileSync, spawnSync } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { gunzipSync } from 'zlib';
import Ajv from 'ajv-draft-04';
import { parse } from 'yaml';

export const CLOUD_CONFIG_SCHEMA = '/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json';
/** Debian's python, which has the cloudinit module; the `python3` first on PATH may not. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Warns (or, under CI, throws) that a check could not run. */
export function missingTool(what: string): void {
  const message = `cloud-init validation SKIPPED: ${what}. Install cloud-init (scripts/setup-debian.sh) to run it.`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: every check must run)`);
  console.warn(`\n!!!!!!!!!!\n!! ${message}\n!!!!!!!!!!\n`);
}

type Schema = { $defs: Record<string, { properties?: Record<string, unknown> }>; allOf: { $ref: string }[] };
let cached: { schema: Schema; validate: ReturnType<Ajv['compile']>; keys: Set<string> } | undefined;

function loadSchema(): typeof cached {
  if (cached) return cached;
  if (!existsSync(CLOUD_CONFIG_SCHEMA)) return undefined;
  const schema = JSON.parse(readFileSync(CLOUD_CONFIG_SCHEMA, 'utf8')) as Schema;
  // The schema uses keywords ajv does not know (deprecated, changed, …): not strict.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  // The schema allows any top-level key; the keys it describes are the union of its allOf parts' properties.
  const keys = new Set<string>();
  for (const ref of schema.allOf) {
    const def = schema.$defs[ref.$ref.replace('#/$defs/', '')];
    for (const key of Object.keys(def?.properties ?? {})) keys.add(key);
  }
  cached = { schema, validate, keys };
  return cached;
}

/** Top-level keys cloud-init's schema describes, or undefined when the schema file is absent. */
export function knownTopLevelKeys(): ReadonlySet<string> | undefined {
  return loadSchema()?.keys;
}

export interface ValidationReport {
  /** Checks that ran. */
  readonly ran: string[];
}

/**
 * Validates a rendered `#cloud-config` document; throws listing every problem. Checks: header; YAML 1.1
 * parse to a mapping; ajv (draft-04) against cloud-init's JSON schema; no top-level key the schema does not
 * describe (cloud-init itself ignores misspelled keys); `cloud-init schema -c`.
 */
export function validateCloudConfig(doc: string): ValidationReport {
  const ran: string[] = [];
  const problems: string[] = [];
  if (!doc.startsWith('#cloud-config\n')) problems.push('document does not start with "#cloud-config\\n"');
  const data: unknown = parse(doc, { version: '1.1' });
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error(`cloud-config is not a YAML mapping: ${JSON.stringify(data)}`);
  }

  const schema = loadSchema();
  if (!schema) {
    missingTool(`${CLOUD_CONFIG_SCHEMA} not found, so no ajv schema or known-keys check`);
  } else {
    if (!schema.validate(data)) {
      for (const e of schema.validate.errors ?? []) problems.push(`ajv: ${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
    }
    ran.push('ajv');
    for (const key of Object.keys(data)) {
      if (!schema.keys.has(key)) problems.push(`unknown top-level key ${JSON.stringify(key)} (not in cloud-init's schema)`);
    }
    ran.push('known-keys');
  }

  if (!commandExists('cloud-init')) {
    missingTool('`cloud-init` not on PATH, so no `cloud-init schema -c` check');
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'cloud-config-'));
    try {
      const file = join(dir, 'user-data.yaml');
      writeFileSync(file, doc);
      const result = spawnSync('cloud-init', ['schema', '-c', file], { encoding: 'utf8' });
      if (result.status !== 0) problems.push(`cloud-init schema: ${(result.stdout + result.stderr).trim()}`);
      ran.push('cloud-init schema');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  if (problems.length > 0) throw new Error(`invalid cloud-config:\n  ${problems.join('\n  ')}`);
  return { ran };
}

function commandExists(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

export interface UserDataPart {
  readonly type: string;
  readonly filename: string | null;
  readonly content: string;
}

/** Splits user-data in TypeScript: gunzip if gzip, then MIME parts (7bit or base64) or a single document. */
export function splitUserData(bytes: Buffer): UserDataPart[] {
  const raw = (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
  const header = /^Content-Type: multipart\/mixed; boundary="([^"]+)"\n/.exec(raw);
  if (!header) {
    return [{ type: raw.startsWith('#cloud-config') ? 'text/cloud-config' : 'text/plain', filename: null, content: raw }];
  }
  const boundary = header[1] as string;
  const sections = raw.split(`\n--${boundary}`);
  const parts: UserDataPart[] = [];
  for (const section of sections.slice(1)) {
    if (section.startsWith('--')) break;
    const [head, ...bodyParts] = section.replace(/^\n/, '').split('\n\n');
    const body = bodyParts.join('\n\n');
    const headers = new Map((head ?? '').split('\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    const type = (headers.get('content-type') ?? '').split(';')[0] as string;
    const filename = /filename="([^"]*)"/.exec(headers.get('content-disposition') ?? '')?.[1] ?? null;
    const content = headers.get('content-transfer-encoding') === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
    parts.push({ type, filename, content });
  }
  return parts;
}

let pythonChecked: boolean | undefined;
function systemPythonHasCloudInit(): boolean {
  if (pythonChecked === undefined) {
    pythonChecked =
      existsSync(SYSTEM_PYTHON) && spawnSync(SYSTEM_PYTHON, ['-c', 'import cloudinit.user_data'], { encoding: 'utf8' }).status === 0;
  }
  return pythonChecked;
}

/**
 * Reads user-data with cloud-init's own UserDataProcessor (what a booting node runs): gzip, MIME and
 * per-part transfer encodings are all cloud-init's doing here. Undefined when it cannot run (warned).
 */
export function readUserDataWithCloudInit(bytes: Buffer): UserDataPart[] | undefined {
  if (!systemPythonHasCloudInit()) {
    missingTool(`${SYSTEM_PYTHON} with the cloudinit module not found, so user-data was not parsed by cloud-init`);
    return undefined;
  }
  const script = [
    'import json, sys, tempfile',
    'from cloudinit import helpers',
    'from cloudinit.user_data import UserDataProcessor',
    'msg = UserDataProcessor(helpers.Paths({"cloud_dir": tempfile.mkdtemp()})).process(sys.stdin.buffer.read())',
    'parts = [{"type": p.get_content_type(), "filename": p.get_filename(), "content": p.get_payload(decode=True).decode()}',
    '         for p in msg.walk() if p.get_content_maintype() != "multipart"]',
    'print(json.dumps(parts))',
  ].join('\n');
  const out = execFileSync(SYSTEM_PYTHON, ['-c', script], { input: bytes, encoding: 'utf8' });
  return JSON.parse(out) as UserDataPart[];
}

/** Parses YAML with PyYAML's safe_load (what cloud-init uses) and returns it as JSON. */
export function loadYamlWithPyYaml(doc: string): unknown {
  if (!systemPythonHasCloudInit()) {
    missingTool(`${SYSTEM_PYTHON} with PyYAML/cloudinit not found, so YAML was not read by PyYAML`);
    return undefined;
  }
  const out = execFileSync(SYSTEM_PYTHON, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], {
    input: doc,
    encoding: 'utf8',
  });
  return JSON.parse(out);
}
