/**
 * Turns a node's cloud-config into the user-data a target takes, measured against its budget.
 */
import { assertUserDataFits, userDataSize, type UserDataTarget } from './budget';
import type { CloudConfig } from './cloud-config';
import { encodeUserData } from './encode';

export interface RenderNodeUserDataOptions {
  readonly target: UserDataTarget;
  /** Role(s) of the node, for the over-budget error, e.g. `controller dbd`. */
  readonly role: string;
  /**
   * Construct path of the node, for the over-budget error.
   * @default the role alone
   */
  readonly where?: string;
  /**
   * gzip the document. On GCP gzipped user-data must be set as base64 with `user-data-encoding: base64`.
   * @default true for `aws` (16 KiB budget), false otherwise
   */
  readonly gzip?: boolean;
}

export interface NodeUserData {
  /** The rendered `#cloud-config` document. */
  readonly text: string;
  /** What the instance receives: gzip of `text`, or `text` as UTF-8. */
  readonly bytes: Buffer;
  readonly base64: string;
  readonly gzipped: boolean;
  /** Size counted against the target's budget. */
  readonly size: number;
}

/** Renders, encodes and measures; throws UserDataTooLargeError when over the target's budget. */
export function renderNodeUserData(config: CloudConfig, options: RenderNodeUserDataOptions): NodeUserData {
  const gzipped = options.gzip ?? options.target === 'aws';
  const text = config.render();
  const { bytes, base64 } = encodeUserData(text, { gzip: gzipped });
  const size = userDataSize(options.target, gzipped ? bytes : text);
  assertUserDataFits({
    role: options.role,
    target: options.target,
    bytes: size,
    gzipped,
    ...(options.where !== undefined ? { where: options.where } : {}),
  });
  return { text, bytes, base64, gzipped, size };
}
