/**
 * A builder for `#cloud-config` documents, rendered with the `yaml` library.
 *
 * cloud-init reads user-data with PyYAML, which speaks YAML 1.1: `yes`, `on`, `0600` and `1:20` are not
 * strings there. The document is therefore emitted with the YAML 1.1 schema so such strings are quoted.
 */
import { Document, Scalar, visit, type Tags } from 'yaml';
import { gzipDeterministic } from './encode';

/** write_files encodings cloud-init accepts (its schema's `cc_write_files` enum). */
export type WriteFileEncoding =
  | 'gz'
  | 'gzip'
  | 'gz+base64'
  | 'gzip+base64'
  | 'gz+b64'
  | 'gzip+b64'
  | 'b64'
  | 'base64'
  | 'text/plain';

const WRITE_FILE_ENCODINGS: readonly WriteFileEncoding[] = [
  'gz',
  'gzip',
  'gz+base64',
  'gzip+base64',
  'gz+b64',
  'gzip+b64',
  'b64',
  'base64',
  'text/plain',
];

export interface WriteFile {
  /** Absolute path on the node. */
  readonly path: string;
  /** File content. Plain text unless `encoding` says it is already encoded. */
  readonly content: string;
  /**
   * `user:group` cloud-init chowns the file to.
   * @default 'root:root'
   */
  readonly owner?: string;
  /** Mode as a 4-digit octal string, e.g. `'0600'`. Required: a file's mode is never left to chance. */
  readonly permissions: string;
  /**
   * How `content` is already encoded. When omitted, text YAML can hold literally is written as is and
   * anything else (control characters, CR, characters PyYAML rejects) is sent as `gz+b64`.
   * @default chosen from the content: plain text, or `gz+b64`
   */
  readonly encoding?: WriteFileEncoding;
  /**
   * Write the file in cloud-init's final stage, after packages and users exist (needed when `owner`
   * is a user a package creates, e.g. `munge:munge`).
   * @default false
   */
  readonly defer?: boolean;
  /**
   * Append to an existing file instead of replacing it.
   * @default false
   */
  readonly append?: boolean;
}

/** A command for `runcmd`/`bootcmd`: a string runs through `sh -c`, an array runs without a shell. */
export type CloudConfigCommand = string | readonly string[];

/** Top-level keys settable with {@link CloudConfig.set}, typed as cloud-init's schema types them. */
export interface CloudConfigSettings {
  /** Run `apt-get update` (or the distro's equivalent) before installing packages. */
  readonly package_update?: boolean;
  /** Upgrade all packages before installing. */
  readonly package_upgrade?: boolean;
  /** Reboot after package work if the distro asks for it. */
  readonly package_reboot_if_required?: boolean;
  /** Zone name as under `/usr/share/zoneinfo`, e.g. `Etc/UTC`. */
  readonly timezone?: string;
  /** Short host name. */
  readonly hostname?: string;
  /** Fully qualified domain name. */
  readonly fqdn?: string;
  /** Keep the image's host name. */
  readonly preserve_hostname?: boolean;
  /** Let cloud-init write `/etc/hosts` from the host name. */
  readonly manage_etc_hosts?: boolean | 'localhost';
}

/** Key order of the rendered document: stable, and the order cloud-init acts in. */
const KEY_ORDER = [
  'hostname',
  'fqdn',
  'preserve_hostname',
  'manage_etc_hosts',
  'timezone',
  'bootcmd',
  'package_update',
  'package_upgrade',
  'package_reboot_if_required',
  'packages',
  'write_files',
  'runcmd',
] as const;

const SETTING_KEYS: readonly (keyof CloudConfigSettings)[] = [
  'package_update',
  'package_upgrade',
  'package_reboot_if_required',
  'timezone',
  'hostname',
  'fqdn',
  'preserve_hostname',
  'manage_etc_hosts',
];

const OCTAL_MODE = /^[0-7]{4}$/;
const OWNER = /^[a-z_][a-z0-9_.-]*(:[a-z_][a-z0-9_.-]*)?$/i;
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9.+:~_=-]*$/;

/**
 * Characters PyYAML keeps literally in a block scalar: its printable set minus CR and the YAML 1.1 line
 * breaks (NEL, LS, PS) that it would turn into `\n`, and minus the BOM.
 */
const LITERAL_SAFE = /^[\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u;

/** Whether `text` survives a trip through a YAML block literal and PyYAML unchanged. */
export function isYamlLiteralSafe(text: string): boolean {
  return LITERAL_SAFE.test(text);
}

/** Strings YAML 1.1 types as something else and that the `yaml` library would leave unquoted. */
function yaml11Only(tag: string, test: RegExp) {
  return { tag, default: true, test, identify: () => false, resolve: (s: string) => s };
}
const customTags = (tags: Tags): Tags => [
  ...tags.filter((t) => typeof t === 'string' || t.tag !== 'tag:yaml.org,2002:merge'),
  yaml11Only('tag:yaml.org,2002:merge', /^<<$/),
  yaml11Only('tag:yaml.org,2002:value', /^=$/),
];

interface StoredWriteFile {
  path: string;
  content: string;
  owner: string;
  permissions: string;
  encoding?: WriteFileEncoding;
  defer?: boolean;
  append?: boolean;
}

export class CloudConfig {
  private readonly packages: string[] = [];
  private readonly writeFiles: StoredWriteFile[] = [];
  private readonly runcmd: CloudConfigCommand[] = [];
  private readonly bootcmd: CloudConfigCommand[] = [];
  private readonly settings: { -readonly [K in keyof CloudConfigSettings]?: CloudConfigSettings[K] } = {};

  /** Packages to install; a name already added is kept once, at its first position. */
  public addPackages(...names: string[]): this {
    for (const name of names) {
      if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) {
        throw new Error(
          `cloud-config packages: ${JSON.stringify(name)} is not a package name; ` +
            `use a distribution package name such as 'munge' (letters, digits and . + - _ : ~ =, no spaces).`,
        );
      }
      if (!this.packages.includes(name)) this.packages.push(name);
    }
    return this;
  }

  public addWriteFile(file: WriteFile): this {
    const where = `cloud-config write_files[${JSON.stringify(file.path)}]`;
    if (typeof file.path !== 'string' || !file.path.startsWith('/') || /(^|\/)\.\.?(\/|$)/.test(file.path)) {
      throw new Error(
        `${where}: path must be absolute and normalized (no '.' or '..' segments); ` +
          `got ${JSON.stringify(file.path)}. Use e.g. '/etc/cdktf-slurm/node.env'.`,
      );
    }
    if (/[\0\n\r]/.test(file.path)) {
      throw new Error(`${where}: path contains a NUL or line break; remove it.`);
    }
    if (this.writeFiles.some((f) => f.path === file.path)) {
      throw new Error(
        `${where}: path is already written by this cloud-config; each path may appear once ` +
          `(merge the contents, or use a different path).`,
      );
    }
    if (typeof file.permissions !== 'string' || !OCTAL_MODE.test(file.permissions)) {
      throw new Error(
        `${where}: permissions ${JSON.stringify(file.permissions)} is not a 4-digit octal string; ` +
          `use e.g. '0600' or '0755' (quoted, so YAML keeps it a string).`,
      );
    }
    const owner = file.owner ?? 'root:root';
    if (!OWNER.test(owner)) {
      throw new Error(`${where}: owner ${JSON.stringify(owner)} is not 'user' or 'user:group'; use e.g. 'root:root'.`);
    }
    if (file.encoding !== undefined && !WRITE_FILE_ENCODINGS.includes(file.encoding)) {
      throw new Error(
        `${where}: encoding ${JSON.stringify(file.encoding)} is not one cloud-init accepts; ` +
          `use one of ${WRITE_FILE_ENCODINGS.join(', ')} or omit it for plain text.`,
      );
    }
    if (typeof file.content !== 'string') {
      throw new Error(`${where}: content must be a string; got ${typeof file.content}.`);
    }

    let content = file.content;
    let encoding = file.encoding;
    if (encoding === undefined && !isYamlLiteralSafe(content)) {
      content = gzipDeterministic(content).toString('base64');
      encoding = 'gz+b64';
    }
    this.writeFiles.push({
      path: file.path,
      content,
      owner,
      permissions: file.permissions,
      ...(encoding !== undefined && encoding !== 'text/plain' ? { encoding } : {}),
      ...(file.defer ? { defer: true } : {}),
      ...(file.append ? { append: true } : {}),
    });
    return this;
  }

  /** Paths added with {@link addWriteFile}, in order. */
  public get writeFilePaths(): readonly string[] {
    return this.writeFiles.map((f) => f.path);
  }

  /** A command for the final boot stage (`runcmd`), run once per instance. */
  public addRuncmd(cmd: CloudConfigCommand): this {
    this.runcmd.push(checkCommand('runcmd', cmd));
    return this;
  }

  /** A command run early on every boot (`bootcmd`), before write_files and packages. */
  public addBootcmd(cmd: CloudConfigCommand): this {
    this.bootcmd.push(checkCommand('bootcmd', cmd));
    return this;
  }

  public setHostname(hostname: string, fqdn?: string): this {
    if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(hostname)) {
      throw new Error(
        `cloud-config hostname: ${JSON.stringify(hostname)} is not a host name label; ` +
          `use letters, digits and '-', at most 63 characters, e.g. 'ctl-0'.`,
      );
    }
    this.set('hostname', hostname);
    if (fqdn !== undefined) this.set('fqdn', fqdn);
    return this;
  }

  public set<K extends keyof CloudConfigSettings>(key: K, value: NonNullable<CloudConfigSettings[K]>): this {
    if (!SETTING_KEYS.includes(key)) {
      throw new Error(
        `cloud-config: ${JSON.stringify(key)} is not a key set() accepts; use one of ${SETTING_KEYS.join(', ')} ` +
          `(packages, write_files, runcmd and bootcmd have their own add… methods).`,
      );
    }
    this.settings[key] = value;
    return this;
  }

  /** The document as a plain object, keys in a fixed order; empty lists are left out. */
  public toObject(): Record<string, unknown> {
    const all: Record<string, unknown> = {
      ...this.settings,
      bootcmd: this.bootcmd.map(copyCommand),
      packages: [...this.packages],
      write_files: this.writeFiles.map((f) => ({ ...f })),
      runcmd: this.runcmd.map(copyCommand),
    };
    const out: Record<string, unknown> = {};
    for (const key of KEY_ORDER) {
      const value = all[key];
      if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
      out[key] = value;
    }
    return out;
  }

  /** `#cloud-config` header plus YAML; the same calls give the same bytes. */
  public render(): string {
    const doc = new Document(this.toObject(), { version: '1.1', customTags });
    visit(doc, {
      Scalar(_key, node) {
        // Multi-line text reads best, and diffs cleanly, as a block literal; where that would lose
        // blanks, double quotes (the library would pick a block style and lose them).
        if (typeof node.value === 'string' && node.value.includes('\n')) {
          node.type = blockLiteralFits(node.value) ? Scalar.BLOCK_LITERAL : Scalar.QUOTE_DOUBLE;
        }
      },
    });
    return '#cloud-config\n' + doc.toString({ lineWidth: 0, indentSeq: true });
  }
}

/**
 * Whether a block literal reproduces `text`. Lines of only blanks before the first real line would be read
 * as indentation and lost, so such text (and blank-only text) needs a quoted style.
 */
function blockLiteralFits(text: string): boolean {
  return /^\n*[^\s]|^\n*[ \t]+[^\s]/.test(text);
}

function checkCommand(key: string, cmd: CloudConfigCommand): CloudConfigCommand {
  const parts = typeof cmd === 'string' ? [cmd] : cmd;
  if (parts.length === 0 || parts.some((p) => typeof p !== 'string') || (typeof cmd !== 'string' && cmd[0] === '')) {
    throw new Error(
      `cloud-config ${key}: ${JSON.stringify(cmd)} is not a command; give a shell string or a non-empty argv array of strings.`,
    );
  }
  return copyCommand(cmd);
}

function copyCommand(cmd: CloudConfigCommand): CloudConfigCommand {
  return typeof cmd === 'string' ? cmd : [...cmd];
}
