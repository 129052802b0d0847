/**
 * Byte-level encodings of user-data: deterministic gzip, MIME multipart, base64.
 *
 * Deterministic output matters: user-data is a Terraform argument, and a byte that changes between two
 * synths replaces the instance (or rolls the pool).
 */
import { createHash } from 'crypto';
import { constants, gzipSync } from 'zlib';

/** gzip header OS byte for Unix (RFC 1952), fixed so output does not depend on the build machine. */
const GZIP_OS_UNIX = 3;

/**
 * gzip with fixed level 9, mtime 0 and no file name, so the same input gives the same bytes.
 * cloud-init recognises gzip by its magic bytes and inflates it before reading the user-data.
 */
export function gzipDeterministic(input: string | Buffer): Buffer {
  const out = gzipSync(typeof input === 'string' ? Buffer.from(input, 'utf8') : input, {
    level: constants.Z_BEST_COMPRESSION,
    memLevel: 9,
    strategy: constants.Z_DEFAULT_STRATEGY,
  });
  // zlib already writes mtime 0 and no FNAME; the OS byte is the build's OS_CODE, so pin it.
  out[9] = GZIP_OS_UNIX;
  return out;
}

/** Whether `bytes` start with the gzip magic number. */
export function isGzip(bytes: Buffer): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** MIME types cloud-init's user-data processor handles. */
export type UserDataContentType =
  | 'text/cloud-config'
  | 'text/x-shellscript'
  | 'text/cloud-boothook'
  | 'text/x-include-url'
  | 'text/jinja2'
  | 'text/part-handler'
  | 'text/cloud-config-archive'
  | 'text/x-shellscript-per-boot'
  | 'text/x-shellscript-per-instance'
  | 'text/x-shellscript-per-once';

export interface MimePart {
  readonly contentType: UserDataContentType;
  readonly content: string;
  /** Name cloud-init gives the part (shell parts are saved under it). Unique within the message. */
  readonly filename: string;
}

/** RFC 5322 caps a line at 998 octets; longer lines (and non-ASCII) go base64 instead of 7bit. */
const SEVEN_BIT_SAFE = /^(?:[\t\x20-\x7e]{0,998}\n)*[\t\x20-\x7e]{0,998}$/;

/**
 * A `multipart/mixed` message in the shape cloud-init's `make-mime` writes: LF line endings (Python's
 * email parser, which cloud-init uses, accepts them), one attachment per part, and a boundary derived from
 * a hash of the parts so it is stable across synths and never occurs in the content.
 */
export function mimeMultipart(parts: readonly MimePart[]): string {
  if (parts.length === 0) {
    throw new Error('mimeMultipart: no parts given; pass at least one { contentType, content, filename }.');
  }
  const seen = new Set<string>();
  for (const [i, p] of parts.entries()) {
    if (!/^[A-Za-z0-9._-]+$/.test(p.filename)) {
      throw new Error(
        `mimeMultipart parts[${i}].filename: ${JSON.stringify(p.filename)} must be a plain file name ` +
          `(letters, digits, '.', '_', '-'); e.g. 'cloud-config.yaml'.`,
      );
    }
    if (seen.has(p.filename)) {
      throw new Error(`mimeMultipart parts[${i}].filename: ${JSON.stringify(p.filename)} is used twice; give each part its own name.`);
    }
    seen.add(p.filename);
  }

  const hash = createHash('sha256');
  for (const p of parts) hash.update(`${p.contentType}\0${p.filename}\0${p.content}\0`);
  let boundary = `==cdktf-slurm-${hash.digest('hex').slice(0, 32)}==`;
  while (parts.some((p) => p.content.includes(boundary))) {
    boundary = `==cdktf-slurm-${createHash('sha256').update(boundary).digest('hex').slice(0, 32)}==`;
  }

  const lines: string[] = [
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    'MIME-Version: 1.0',
    '',
  ];
  for (const p of parts) {
    const sevenBit = SEVEN_BIT_SAFE.test(p.content);
    lines.push(
      `--${boundary}`,
      `Content-Type: ${p.contentType}; charset="${sevenBit ? 'us-ascii' : 'utf-8'}"`,
      'MIME-Version: 1.0',
      `Content-Transfer-Encoding: ${sevenBit ? '7bit' : 'base64'}`,
      `Content-Disposition: attachment; filename="${p.filename}"`,
      '',
      // The line break before the next boundary belongs to the boundary, so content keeps its own.
      sevenBit ? p.content : wrapBase64(Buffer.from(p.content, 'utf8').toString('base64')),
    );
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\n');
}

function wrapBase64(b64: string): string {
  return b64.match(/.{1,76}/g)?.join('\n') ?? '';
}

export interface EncodedUserData {
  /** What the instance receives (and what AWS's 16 KiB limit counts). */
  readonly bytes: Buffer;
  /** `bytes` in base64, as AWS `user_data_base64` and GCP base64 metadata take it. */
  readonly base64: string;
}

/** user-data bytes, gzipped (deterministically) or as UTF-8 text, plus their base64. */
export function encodeUserData(text: string, options: { readonly gzip: boolean }): EncodedUserData {
  const bytes = options.gzip ? gzipDeterministic(text) : Buffer.from(text, 'utf8');
  return { bytes, base64: bytes.toString('base64') };
}
