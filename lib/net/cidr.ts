/**
 * IPv4 CIDR arithmetic for network layouts, on ipaddr.js. Pure: no cdktf, so it runs at construct time on the
 * literal CIDRs a user gives (Terraform's own cidrsubnet() would only run at plan, too late to fail clearly).
 *
 * Addresses are handled as unsigned 32-bit integers held in JavaScript numbers (exact up to 2^53), so a /0
 * (2^32 addresses) needs no special case.
 */
import ipaddr from 'ipaddr.js';

/** A CIDR string that cannot be used: `problem` says why (no trailing period), `fix` what to write instead. */
/** The Tailscale (CGNAT) range mesh addresses come from: the only mesh clients an NFS share is exported to. */
export const MESH_CIDR = '100.64.0.0/10';

export class CidrError extends Error {
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(problem);
    this.name = 'CidrError';
  }
}

/** An aligned IPv4 block. */
export interface Ipv4Block {
  /** Canonical text, e.g. `10.0.1.0/24`. */
  readonly cidr: string;
  /** The network (first) address, e.g. `10.0.1.0`. */
  readonly networkAddress: string;
  readonly prefixLength: number;
  /** First address as an unsigned 32-bit integer. */
  readonly first: number;
  /** Number of addresses in the block (2^(32 - prefixLength)). */
  readonly size: number;
}


function toInt(addr: ipaddr.IPv4): number {
  return addr.octets.reduce((acc, o) => acc * 256 + o, 0);
}

function fromInt(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * Parses a strict IPv4 CIDR (four decimal parts, prefix 0–32) whose address is the start of its block.
 * @throws CidrError naming the problem; for a non-aligned block the fix names the aligned one.
 */
export function parseIpv4Cidr(cidr: string): Ipv4Block {
  if (typeof cidr !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr) ||
      !ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) {
    throw new CidrError('not an IPv4 CIDR block',
      "Write four decimal parts and a prefix length from 0 to 32, e.g. '10.0.0.0/16'");
  }
  const [addr, prefixLength] = ipaddr.IPv4.parseCIDR(cidr);
  const size = 2 ** (32 - prefixLength);
  const value = toInt(addr);
  const first = value - (value % size);
  const canonical = `${fromInt(first)}/${prefixLength}`;
  if (first !== value) {
    throw new CidrError(`host bits are set: ${fromInt(value)} is not the first address of its /${prefixLength} block`,
      `Use '${canonical}'`);
  }
  // Leading zeros ('010.0.0.0/8') parse, but some tools read them as octal: insist on the canonical spelling.
  if (canonical !== cidr) {
    throw new CidrError('not written canonically (leading zeros)', `Use '${canonical}'`);
  }
  return { cidr: canonical, networkAddress: fromInt(first), prefixLength, first, size };
}

/** True when `inner` lies wholly inside `outer` (a block contains itself). Both must be valid IPv4 CIDRs. */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseIpv4Cidr(outer);
  const i = parseIpv4Cidr(inner);
  return i.first >= o.first && i.first + i.size <= o.first + o.size;
}

/** True when the two blocks share any address. Both must be valid IPv4 CIDRs. */
export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseIpv4Cidr(a);
  const y = parseIpv4Cidr(b);
  return x.first < y.first + y.size && y.first < x.first + x.size;
}

/** How many `/newPrefix` blocks `cidr` splits into (0 when newPrefix is shorter than the block's own prefix). */
export function subnetCount(cidr: string, newPrefix: number): number {
  const block = parseIpv4Cidr(cidr);
  if (!Number.isInteger(newPrefix) || newPrefix > 32 || newPrefix < block.prefixLength) return 0;
  return 2 ** (newPrefix - block.prefixLength);
}

/**
 * The `index`-th `/newPrefix` block of `cidr`, like Terraform's `cidrsubnet(cidr, newPrefix - prefix, index)`:
 * `subdivide('10.0.0.0/16', 24, 1)` is `10.0.1.0/24`.
 * @throws CidrError when newPrefix is not from the block's prefix to 32, or index is out of range
 */
export function subdivide(cidr: string, newPrefix: number, index: number): string {
  const block = parseIpv4Cidr(cidr);
  if (!Number.isInteger(newPrefix) || newPrefix < block.prefixLength || newPrefix > 32) {
    throw new CidrError(`cannot split ${block.cidr} into /${newPrefix} blocks`,
      `Use a whole prefix length from ${block.prefixLength} to 32`);
  }
  const count = 2 ** (newPrefix - block.prefixLength);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new CidrError(`block ${index} does not exist: ${block.cidr} holds ${count} /${newPrefix} blocks (0 to ${count - 1})`,
      'Use a smaller index, a longer prefix or a larger block');
  }
  const size = 2 ** (32 - newPrefix);
  return `${fromInt(block.first + index * size)}/${newPrefix}`;
}

/**
 * The `n`-th address of `cidr` (0 is the network address), like Terraform's `cidrhost()` for n ≥ 0:
 * `hostAddress('10.0.1.0/24', 10)` is `10.0.1.10`.
 * @throws CidrError when n is not a whole number from 0 to the block's size − 1
 */
export function hostAddress(cidr: string, n: number): string {
  const block = parseIpv4Cidr(cidr);
  if (!Number.isInteger(n) || n < 0 || n >= block.size) {
    throw new CidrError(`address ${n} is outside ${block.cidr}, which holds ${block.size} addresses (0 to ${block.size - 1})`,
      'Use an index inside the block');
  }
  return fromInt(block.first + n);
}

/**
 * True for a block that admits every address: prefix length 0 in IPv4 or IPv6 (`0.0.0.0/0`, `::/0`, and
 * spellings such as `0:0:0:0:0:0:0:0/0`). Anything that does not parse as a CIDR is false; validate it separately.
 */
export function isPubliclyOpen(cidr: string): boolean {
  if (typeof cidr !== 'string') return false;
  const text = cidr.trim();
  if (!ipaddr.isValidCIDR(text)) return false;
  return ipaddr.parseCIDR(text)[1] === 0;
}

/** True when the text parses as an IPv6 CIDR (used to give IPv6 input its own message). */
export function isIpv6Cidr(cidr: string): boolean {
  return typeof cidr === 'string' && ipaddr.IPv6.isValidCIDR(cidr.trim());
}

/** Wider than this, an SSH source range is as good as the whole internet (0.0.0.0/1 + 128.0.0.0/1 is a classic). */
export const SSH_MIN_PREFIX = 8;

/** What is wrong with one entry of a list of ranges. */
export interface CidrListIssue {
  readonly index: number;
  readonly cidr: string;
  readonly problem: string;
  readonly fix: string;
}

/**
 * The first problem of a list of SSH source ranges, or undefined: the whole internet (IPv4 or IPv6), IPv6 at all,
 * malformed, wider than /{@link SSH_MIN_PREFIX}, or repeated.
 * @param listName the prop, for "repeats <listName>[i]"
 * @param openFix the network's advice for a range that is too open
 * @param ipv6Problem why this network refuses IPv6
 */
export function sshSourceIssue(ranges: readonly string[], listName: string, openFix: string, ipv6Problem: string): CidrListIssue | undefined {
  for (const [index, cidr] of ranges.entries()) {
    const issue = (problem: string, fix: string): CidrListIssue => ({ index, cidr, problem, fix });
    if (isPubliclyOpen(cidr)) return issue('opens SSH to the whole internet', openFix);
    if (isIpv6Cidr(cidr)) return issue(ipv6Problem, 'Give the IPv4 range you connect from');
    let block: Ipv4Block;
    try {
      block = parseIpv4Cidr(cidr);
    } catch (e) {
      if (e instanceof CidrError) return issue(e.problem, e.fix);
      throw e;
    }
    if (block.prefixLength < SSH_MIN_PREFIX) {
      return issue(`a /${block.prefixLength} admits ${block.size} addresses, as good as the whole internet`,
        `Use a /${SSH_MIN_PREFIX} or narrower range. ${openFix}`);
    }
    if (ranges.indexOf(cidr) !== index) return issue(`repeats ${listName}[${ranges.indexOf(cidr)}]`, 'List each range once');
  }
  return undefined;
}

/** A block that overlaps an earlier one of the list, with the earlier one; undefined when all are disjoint. */
export function firstOverlap<B extends { readonly field: string; readonly cidr: string }>(blocks: readonly B[]): { block: B; clash: B } | undefined {
  for (const [j, block] of blocks.entries()) {
    const clash = blocks.slice(0, j).find((a) => cidrsOverlap(a.cidr, block.cidr));
    if (clash) return { block, clash };
  }
  return undefined;
}

function parseAnyCidr(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try {
    return ipaddr.parseCIDR(cidr);
  } catch {
    return undefined;
  }
}

/**
 * True when `inner` lies wholly inside `outer`, IPv4 or IPv6; false for different families or anything that does
 * not parse. For reading plans (the policy pack), where CIDRs are not ours to validate; `cidrContains` is the
 * strict IPv4 check for props.
 */
export function cidrWithin(inner: string, outer: string): boolean {
  const a = parseAnyCidr(inner);
  const b = parseAnyCidr(outer);
  if (!a || !b || a[0].kind() !== b[0].kind() || a[1] < b[1]) return false;
  return a[0].match(b);
}

const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', MESH_CIDR, 'fc00::/7'];

/** Inside RFC 1918, the shared range meshes use (100.64.0.0/10) or IPv6 unique-local space. */
export function isPrivateCidr(cidr: string): boolean {
  return PRIVATE_RANGES.some((range) => cidrWithin(cidr, range));
}
