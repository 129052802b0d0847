/**
 * User-data size budgets per target, measured at synth so an oversized node fails here, with a fix,
 * rather than at apply time with a provider error.
 */
import { createHash } from 'crypto';
import { gzipDeterministic, isGzip } from './encode';

/** Where a node's user-data is delivered. */
export type UserDataTarget = 'aws' | 'gcp' | 'docker';

/**
 * Largest user-data each target accepts, in bytes, counted as {@link userDataSize} counts.
 *
 * - `aws`: 16384. EC2: "User data is limited to 16 KB, in raw form, before it is base64-encoded"
 *   (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html); the API then
 *   takes the base64 form (at most ceil(16384/3)*4 = 21848 characters). So the gzipped bytes count, not
 *   their base64.
 * - `gcp`: 262144. Compute Engine metadata: a value "must be less than or equal to 262144 bytes (256 KiB)"
 *   (compute v1 `Metadata.items[].value`); all keys and values together must stay under 512 KB.
 * - `docker`: 262144, our choice. The Docker provider has no user-data limit (the text is uploaded into
 *   the container as a file), but it is stored in Terraform state and shown in every plan diff; holding
 *   it to GCP's limit keeps state small and means a node description that fits Docker also fits GCP.
 */
export const USER_DATA_BUDGET_BYTES: Readonly<Record<UserDataTarget, number>> = {
  aws: 16384,
  gcp: 262144,
  docker: 262144,
};

/**
 * The size a target counts against its budget.
 *
 * Text is counted as UTF-8 bytes everywhere. Binary (gzip) is counted raw on AWS and Docker, but as its
 * base64 length on GCP: a metadata value is a string, so gzipped user-data must travel base64-encoded
 * there (with `user-data-encoding: base64`).
 */
export function userDataSize(target: UserDataTarget, payload: string | Buffer): number {
  if (typeof payload === 'string') return Buffer.byteLength(payload, 'utf8');
  if (target === 'gcp' && isGzip(payload)) return Math.ceil(payload.length / 3) * 4;
  return payload.length;
}

export interface UserDataFitCheck {
  /** Node role(s) the user-data is for, e.g. `controller` or `compute`. */
  readonly role: string;
  readonly target: UserDataTarget;
  /** Measured size, as {@link userDataSize} counts it. */
  readonly bytes: number;
  /**
   * Construct path (or other locator) of the node, for the error message.
   * @default the role alone
   */
  readonly where?: string;
  /**
   * Whether the measured user-data is already gzipped (changes the advice in the error).
   * @default false
   */
  readonly gzipped?: boolean;
}

/** Thrown when a node's user-data exceeds its target's budget. */
export class UserDataTooLargeError extends Error {
  public readonly role: string;
  public readonly target: UserDataTarget;
  public readonly bytes: number;
  public readonly budgetBytes: number;
  public readonly where?: string;

  constructor(check: UserDataFitCheck, budgetBytes: number) {
    const who = check.where ? `${check.where} (role ${check.role})` : `role ${check.role}`;
    const fixes = [
      ...(check.gzipped ? [] : ['gzip it (renderNodeUserData({ gzip: true }))']),
      'move big scripts or files to object storage (S3/GCS) and fetch them at boot',
      'drop optional components from this node',
    ];
    super(
      `User-data for ${who} is ${check.bytes} bytes${check.gzipped ? ' gzipped' : ''}, over the ${check.target} ` +
        `budget of ${budgetBytes} bytes by ${check.bytes - budgetBytes}. Fix: ${fixes.join('; or ')}.`,
    );
    this.name = 'UserDataTooLargeError';
    this.role = check.role;
    this.target = check.target;
    this.bytes = check.bytes;
    this.budgetBytes = budgetBytes;
    if (check.where !== undefined) this.where = check.where;
  }
}

/** Throws {@link UserDataTooLargeError} when `bytes` is over the target's budget. */
export function assertUserDataFits(check: UserDataFitCheck): void {
  const budget = USER_DATA_BUDGET_BYTES[check.target];
  if (budget === undefined) {
    throw new Error(
      `assertUserDataFits: target ${JSON.stringify(check.target)} is unknown; use one of ${Object.keys(USER_DATA_BUDGET_BYTES).join(', ')}.`,
    );
  }
  if (!Number.isInteger(check.bytes) || check.bytes < 0) {
    throw new Error(`assertUserDataFits: bytes must be a non-negative integer; got ${check.bytes}.`);
  }
  if (check.bytes > budget) throw new UserDataTooLargeError(check, budget);
}

export interface StandInMeasure {
  /** `text` with every match replaced by its stand-in. */
  readonly text: string;
  /** How many placeholders were replaced. */
  readonly replaced: number;
  /** UTF-8 size of the stood-in text. */
  readonly bytes: number;
  /** gzip size of the stood-in text. */
  readonly gzipBytes: number;
}

/**
 * Size of `text` once each match of `unresolved` (a value known only at apply time, e.g. a token for an IP
 * address) is replaced by a stand-in `worstCaseLength` characters long.
 *
 * Stand-ins are distinct pseudo-random strings (from a hash, so the result is deterministic): they compress
 * about as badly as real values can, so `gzipBytes` estimates Terraform's `base64gzip()` from above rather
 * than below. Terraform's gzip (Go) is not zlib, so leave a little headroom under a budget.
 */
export function measureWithStandIns(text: string, unresolved: RegExp, worstCaseLength: number): StandInMeasure {
  if (!Number.isInteger(worstCaseLength) || worstCaseLength < 0) {
    throw new Error(`measureWithStandIns: worstCaseLength must be a non-negative integer; got ${worstCaseLength}.`);
  }
  const global = new RegExp(unresolved.source, unresolved.flags.includes('g') ? unresolved.flags : unresolved.flags + 'g');
  let replaced = 0;
  const stood = text.replace(global, (match) => {
    if (match.length === 0) {
      throw new Error(`measureWithStandIns: pattern ${String(unresolved)} matched an empty string; make it match the placeholder itself.`);
    }
    return standIn(replaced++, worstCaseLength);
  });
  return { text: stood, replaced, bytes: Buffer.byteLength(stood, 'utf8'), gzipBytes: gzipDeterministic(stood).length };
}

/** The `index`-th stand-in: `length` characters from [A-Za-z0-9], ASCII so characters equal bytes. */
function standIn(index: number, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  for (let block = 0; out.length < length; block++) {
    const digest = createHash('sha256').update(`stand-in:${index}:${block}`).digest();
    for (const byte of digest) {
      if (out.length === length) break;
      out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}
