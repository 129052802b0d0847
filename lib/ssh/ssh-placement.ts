/**
 * GPU hosts the library does not create but reaches over SSH (Lambda, RunPod, Paperspace, a lab box):
 * what one host is, and the checks an SSH pool's input gets at synth (`SshHosts` in ssh-hosts.ts).
 */
import { Token } from 'cdktf';

/** One host of an SSH pool; node `i` of the pool is `hosts[i]`. */
export interface SshHost {
  /** Public address Terraform connects to: a DNS name, an IPv4 or an IPv6 address (or a Terraform reference). */
  readonly address: string;
  /**
   * Login user; it needs passwordless `sudo` (the bootstrap runs as root through `sudo -n`).
   * @default `'ubuntu'`
   */
  readonly user?: string;
  /**
   * The host's SSH public host key (`ssh-ed25519 AAAA…`, as in `/etc/ssh/ssh_host_ed25519_key.pub`), pinned so
   * Terraform refuses a host that answers with another key. Give it on every host of the pool or on none.
   *
   * Trade-off: without it Terraform trusts whatever key the address presents on first contact (no
   * known_hosts is consulted), so a spoofed address or a recycled IP would receive the munge key and the mesh
   * auth key. With it, a reinstalled host (new host keys) fails to connect until the key is updated here.
   * Providers that recycle addresses between customers (most GPU clouds) make pinning worth the chore.
   * @default none (no host-key check)
   */
  readonly hostKey?: string;
}

/** The user a host gets when it names none (Ubuntu cloud images' login user). */
export const DEFAULT_SSH_USER = 'ubuntu';

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*$/;
const POSIX_USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const HOST_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+={0,3}( \S.*)?$/;

/** Why `address` is not something to SSH to, or undefined when it is (references pass: checked by Terraform). */
export function sshAddressProblem(address: unknown): string | undefined {
  if (typeof address !== 'string' || address.trim() === '') return 'is empty: no address given';
  if (Token.isUnresolved(address)) return undefined;
  if (/:\/\/|@|\s/.test(address)) return 'holds a scheme, user@ or spaces: give the host alone (user and port are separate fields)';
  if (/^\d+(\.\d+)*$/.test(address)) return IPV4.test(address) ? undefined : 'is not a valid IPv4 address';
  if (address.includes(':')) {
    return IPV6.test(address) && (address.match(/::/g) ?? []).length <= 1 ? undefined : 'is not a valid IPv6 address (give it without brackets or port)';
  }
  if (!HOSTNAME.test(address)) return 'is not a DNS name or IP address (no scheme, user@ or :port: those are separate fields)';
  return undefined;
}

/** Why `user` is not a login name, or undefined. */
export function sshUserProblem(user: string): string | undefined {
  if (Token.isUnresolved(user)) return undefined;
  return POSIX_USER.test(user) ? undefined : 'is not a login name (lower-case letters, digits, _ and -, starting with a letter or _)';
}

/** Why `key` is not an OpenSSH public host key line, or undefined. */
export function sshHostKeyProblem(key: string): string | undefined {
  if (Token.isUnresolved(key)) return undefined;
  return HOST_KEY.test(key.trim()) ? undefined : "is not an SSH public host key ('ssh-ed25519 AAAA…')";
}

/**
 * Why `privateKey` may not be used, or undefined when it is a Terraform reference. Never includes the value.
 */
export function sshPrivateKeyProblem(privateKey: unknown): string | undefined {
  if (typeof privateKey !== 'string' || privateKey === '') return 'no private key given';
  if (!Token.isUnresolved(privateKey)) return 'a literal private key would be written into the synthesized plan';
  // A reference pasted into key text (`-----BEGIN …${var}…`) still carries key material as a literal.
  if (/PRIVATE KEY|BEGIN OPENSSH|ssh-(rsa|ed25519)\s|[A-Za-z0-9+/]{40,}/.test(privateKey)) {
    return 'holds key material as a literal around a reference';
  }
  return undefined;
}

/** A private key for error messages: never the value, only its kind and length. */
export function redactedKey(privateKey: unknown): string {
  if (typeof privateKey !== 'string') return String(privateKey);
  return `<literal, ${privateKey.length} characters>`;
}
