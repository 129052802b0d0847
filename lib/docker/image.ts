/**
 * Container images for Docker node pools. Images are pinned: a moving tag (`latest`, or none) would let a
 * restart pull a different OS under a running cluster.
 */
import { Token } from 'cdktf';

/**
 * Ubuntu 24.04 (Slurm 23.11 from the distribution, `slurmd -Z` capable), by dated tag. Ubuntu's plain
 * `24.04`/`noble` tags are rebuilt in place; the dated ones are not.
 */
export const DEFAULT_NODE_IMAGE = 'ubuntu:noble-20250619';

/** Why `image` is not pinned, or undefined when it is (a digest, or an explicit tag other than `latest`). */
export function imagePinProblem(image: string): string | undefined {
  // A Terraform reference is the user's to pin; nothing to check at synth.
  if (Token.isUnresolved(image)) return undefined;
  if (!/^[a-z0-9]([a-z0-9._\/:-]*[a-z0-9])?(@sha256:[0-9a-f]{64})?$/i.test(image)) {
    return 'is not an image reference such as ubuntu:noble-20250619 or repo/name@sha256:<digest>';
  }
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  if (colon < 0) return 'has no tag, so Docker pulls the moving `latest`';
  if (lastSegment.slice(colon + 1) === 'latest') return 'uses the moving `latest` tag';
  return undefined;
}
