import {
  CidrError,
  cidrContains,
  cidrsOverlap,
  hostAddress,
  isIpv6Cidr,
  isPubliclyOpen,
  parseIpv4Cidr,
  subdivide,
  subnetCount,
  firstOverlap,
  sshSourceIssue,
} from '../../lib/net/cidr';

function errorOf(fn: () => unknown): CidrError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CidrError);
    return e as CidrError;
  }
  throw new Error('expected a CidrError');
}

describe('parseIpv4Cidr', () => {
  it('parses a /16 into its start and size', () => {
    expect(parseIpv4Cidr('10.0.0.0/16')).toEqual({
      cidr: '10.0.0.0/16', networkAddress: '10.0.0.0', prefixLength: 16, first: 10 * 2 ** 24, size: 65536,
    });
  });

  it('handles the extremes /0 and /32', () => {
    expect(parseIpv4Cidr('0.0.0.0/0')).toMatchObject({ first: 0, size: 2 ** 32 });
    expect(parseIpv4Cidr('255.255.255.255/32')).toMatchObject({ first: 2 ** 32 - 1, size: 1 });
  });

  it('names the aligned block when host bits are set', () => {
    const e = errorOf(() => parseIpv4Cidr('10.0.1.5/24'));
    expect(e.problem).toContain('10.0.1.5 is not the first address');
    expect(e.fix).toBe("Use '10.0.1.0/24'");
    expect(errorOf(() => parseIpv4Cidr('10.0.3.0/23')).fix).toBe("Use '10.0.2.0/23'");
    expect(errorOf(() => parseIpv4Cidr('10.1.0.0/0')).fix).toBe("Use '0.0.0.0/0'");
  });

  it.each([
    '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0/8', '256.0.0.0/8', '10.0.0.0/16 ',
    '::/0', 'fd00::/8', '0x0a.0.0.0/8', '010.0.0.0/8', '', 'ten/8',
  ])('rejects %j', (bad) => {
    expect(errorOf(() => parseIpv4Cidr(bad)).problem).toMatch(/not an IPv4 CIDR block|leading zeros/);
  });

  it('rejects a zero-padded prefix and names the canonical form', () => {
    expect(errorOf(() => parseIpv4Cidr('10.0.0.0/08')).fix).toBe("Use '10.0.0.0/8'");
  });

  it('rejects non-strings without crashing', () => {
    expect(() => parseIpv4Cidr(undefined as unknown as string)).toThrow(CidrError);
  });
});

describe('cidrContains / cidrsOverlap', () => {
  it('contains itself and its sub-blocks, not neighbours', () => {
    expect(cidrContains('10.0.0.0/16', '10.0.0.0/16')).toBe(true);
    expect(cidrContains('10.0.0.0/16', '10.0.255.0/24')).toBe(true);
    expect(cidrContains('10.0.0.0/16', '10.1.0.0/24')).toBe(false);
    // The larger block is never inside the smaller.
    expect(cidrContains('10.0.1.0/24', '10.0.0.0/16')).toBe(false);
    expect(cidrContains('0.0.0.0/0', '255.255.255.255/32')).toBe(true);
  });

  it('overlap is symmetric and exact at the edges', () => {
    expect(cidrsOverlap('10.0.0.0/16', '10.0.255.0/24')).toBe(true);
    expect(cidrsOverlap('10.0.255.0/24', '10.0.0.0/16')).toBe(true);
    expect(cidrsOverlap('10.0.1.0/24', '10.0.2.0/24')).toBe(false);
    expect(cidrsOverlap('10.0.0.0/25', '10.0.0.128/25')).toBe(false);
    expect(cidrsOverlap('10.0.0.127/32', '10.0.0.0/25')).toBe(true);
    expect(cidrsOverlap('10.0.0.128/32', '10.0.0.0/25')).toBe(false);
  });

  it('refuses invalid input rather than guessing', () => {
    expect(() => cidrsOverlap('10.0.0.1/16', '10.0.0.0/24')).toThrow(CidrError);
    expect(() => cidrContains('10.0.0.0/16', 'nonsense')).toThrow(CidrError);
  });
});

describe('subdivide / subnetCount', () => {
  it('matches Terraform cidrsubnet for the seed layout', () => {
    expect(subdivide('10.0.0.0/16', 24, 0)).toBe('10.0.0.0/24');
    expect(subdivide('10.0.0.0/16', 24, 1)).toBe('10.0.1.0/24');
    expect(subdivide('10.0.0.0/16', 24, 2)).toBe('10.0.2.0/24');
    expect(subdivide('10.0.0.0/16', 24, 255)).toBe('10.0.255.0/24');
    expect(subdivide('10.0.0.0/16', 20, 3)).toBe('10.0.48.0/20');
  });

  it('covers the extremes', () => {
    expect(subdivide('0.0.0.0/0', 0, 0)).toBe('0.0.0.0/0');
    expect(subdivide('0.0.0.0/0', 32, 2 ** 32 - 1)).toBe('255.255.255.255/32');
    expect(subdivide('10.0.0.7/32', 32, 0)).toBe('10.0.0.7/32');
    expect(subnetCount('10.0.0.0/16', 24)).toBe(256);
    expect(subnetCount('10.0.0.0/24', 16)).toBe(0);
    expect(subnetCount('10.0.0.0/24', 24)).toBe(1);
  });

  it('bounds-checks index and prefix', () => {
    expect(errorOf(() => subdivide('10.0.0.0/16', 24, 256)).problem).toContain('holds 256 /24 blocks (0 to 255)');
    expect(() => subdivide('10.0.0.0/16', 24, -1)).toThrow(CidrError);
    expect(() => subdivide('10.0.0.0/16', 24, 1.5)).toThrow(CidrError);
    expect(errorOf(() => subdivide('10.0.0.0/24', 16, 0)).problem).toContain('cannot split 10.0.0.0/24 into /16');
    expect(() => subdivide('10.0.0.0/24', 33, 0)).toThrow(CidrError);
  });
});

describe('hostAddress', () => {
  it('counts from the network address', () => {
    expect(hostAddress('10.0.1.0/24', 0)).toBe('10.0.1.0');
    expect(hostAddress('10.0.1.0/24', 10)).toBe('10.0.1.10');
    expect(hostAddress('10.0.1.0/24', 255)).toBe('10.0.1.255');
    expect(hostAddress('10.0.0.0/16', 256)).toBe('10.0.1.0');
    expect(hostAddress('192.168.7.9/32', 0)).toBe('192.168.7.9');
    expect(hostAddress('0.0.0.0/0', 2 ** 32 - 1)).toBe('255.255.255.255');
  });

  it('rejects addresses outside the block', () => {
    expect(errorOf(() => hostAddress('10.0.1.0/24', 256)).problem)
      .toBe('address 256 is outside 10.0.1.0/24, which holds 256 addresses (0 to 255)');
    expect(() => hostAddress('192.168.7.9/32', 1)).toThrow(CidrError);
    expect(() => hostAddress('10.0.1.0/24', -1)).toThrow(CidrError);
    expect(() => hostAddress('10.0.1.0/24', 2.5)).toThrow(CidrError);
    expect(() => hostAddress('10.0.1.0/24', Number.NaN)).toThrow(CidrError);
  });
});

describe('isPubliclyOpen', () => {
  it.each(['0.0.0.0/0', '::/0', '0:0:0:0:0:0:0:0/0', '::0/0', ' 0.0.0.0/0 ', '10.0.0.0/0'])('%j is open to all', (c) => {
    expect(isPubliclyOpen(c)).toBe(true);
  });

  it.each(['0.0.0.0/1', '0.0.0.0/32', '203.0.113.0/24', '::/1', 'nonsense', '0.0.0.0'])('%j is not', (c) => {
    expect(isPubliclyOpen(c)).toBe(false);
  });

  it('tells IPv6 apart', () => {
    expect(isIpv6Cidr('2001:db8::/32')).toBe(true);
    expect(isIpv6Cidr('10.0.0.0/8')).toBe(false);
  });
});

describe('sshSourceIssue and firstOverlap (shared by the AWS and GCP networks)', () => {
  const issue = (ranges: string[]) => sshSourceIssue(ranges, 'ranges', 'Use your VPN range', 'is IPv6 here');
  test.each([
    [['0.0.0.0/0'], 0, /opens SSH to the whole internet/, /Use your VPN range/],
    [['203.0.113.0/24', '::/0'], 1, /whole internet/, /VPN/],
    [['2001:db8::/32'], 0, /is IPv6 here/, /IPv4 range/],
    [['0.0.0.0/1'], 0, /a \/1 admits 2147483648 addresses/, /Use a \/8 or narrower range\. Use your VPN range/],
    [['10.0.0.1/24'], 0, /./, /10\.0\.0\.0\/24/],
    [['203.0.113.0/24', '198.51.100.0/24', '203.0.113.0/24'], 2, /repeats ranges\[0\]/, /List each range once/],
  ])('%p: entry %p is refused', (ranges, index, problem, fix) => {
    const r = issue(ranges)!;
    expect(r.index).toBe(index);
    expect(r.cidr).toBe(ranges[index]);
    expect(r.problem).toMatch(problem);
    expect(r.fix).toMatch(fix);
  });
  test('narrow, distinct IPv4 ranges pass', () => {
    expect(issue(['203.0.113.0/24', '10.0.0.0/8'])).toBeUndefined();
  });
  test('the first block that overlaps an earlier one is named with it', () => {
    const blocks = [{ field: 'a', cidr: '10.0.0.0/16' }, { field: 'b', cidr: '10.1.0.0/16' }, { field: 'c', cidr: '10.0.4.0/24' }];
    expect(firstOverlap(blocks)).toEqual({ block: blocks[2], clash: blocks[0] });
    expect(firstOverlap(blocks.slice(0, 2))).toBeUndefined();
  });
});
