import { gunzipSync } from 'zlib';
import { CloudConfig, encodeUserData, gzipDeterministic, isGzip, mimeMultipart, type MimePart } from '../../lib/cloudinit';
import { readUserDataWithCloudInit, splitUserData, validateCloudConfig } from './validate-cloud-config';

const cloudConfig = new CloudConfig()
  .addPackages('munge')
  .addWriteFile({ path: '/etc/demo.conf', content: 'A=1\nB=2\n', permissions: '0644' })
  .addRuncmd(['bash', '/opt/demo.sh'])
  .render();
const script = '#!/bin/bash\nset -eu\necho "hello from part two" >/tmp/p2\n';

const parts: MimePart[] = [
  { contentType: 'text/cloud-config', content: cloudConfig, filename: 'cloud-config.yaml' },
  { contentType: 'text/x-shellscript', content: script, filename: 'late.sh' },
];

describe('gzipDeterministic', () => {
  it('gives identical bytes for identical input, with mtime 0 and a fixed OS byte, and inflates back', () => {
    const a = gzipDeterministic(cloudConfig);
    const b = gzipDeterministic(Buffer.from(cloudConfig, 'utf8'));
    expect(a.equals(b)).toBe(true);
    expect(isGzip(a)).toBe(true);
    expect(a.readUInt32LE(4)).toBe(0); // MTIME
    expect(a[3]).toBe(0); // FLG: no FNAME, no FCOMMENT, no FHCRC
    expect(a[9]).toBe(3); // OS: Unix
    expect(gunzipSync(a).toString('utf8')).toBe(cloudConfig);
  });

  it('differs when the input differs', () => {
    expect(gzipDeterministic('a').equals(gzipDeterministic('b'))).toBe(false);
  });
});

describe('encodeUserData', () => {
  it('gzips on request and gives base64 of exactly the bytes', () => {
    const zipped = encodeUserData(cloudConfig, { gzip: true });
    expect(gunzipSync(zipped.bytes).toString()).toBe(cloudConfig);
    expect(Buffer.from(zipped.base64, 'base64').equals(zipped.bytes)).toBe(true);
    const plain = encodeUserData(cloudConfig, { gzip: false });
    expect(plain.bytes.toString('utf8')).toBe(cloudConfig);
    expect(zipped.bytes.length).toBeLessThan(plain.bytes.length);
  });
});

describe('mimeMultipart', () => {
  it('splits back into the same parts in TypeScript, each cloud-config part valid', () => {
    const mime = mimeMultipart(parts);
    const split = splitUserData(Buffer.from(mime));
    expect(split).toEqual(parts.map((p) => ({ type: p.contentType, filename: p.filename, content: p.content })));
    for (const p of split.filter((s) => s.type === 'text/cloud-config')) validateCloudConfig(p.content);
  });

  it("is read by cloud-init's own UserDataProcessor, plain and gzipped", () => {
    const mime = mimeMultipart(parts);
    for (const bytes of [Buffer.from(mime), gzipDeterministic(mime)]) {
      const read = readUserDataWithCloudInit(bytes);
      if (!read) return; // warned by the helper
      expect(read).toEqual(parts.map((p) => ({ type: p.contentType, filename: p.filename, content: p.content })));
    }
  });

  it('carries non-ASCII and long lines base64-encoded, and cloud-init decodes them', () => {
    const odd: MimePart[] = [
      { contentType: 'text/x-shellscript', content: '#!/bin/sh\necho "héllo 中文"\n', filename: 'utf8.sh' },
      { contentType: 'text/x-shellscript', content: `#!/bin/sh\n: ${'x'.repeat(1200)}\n`, filename: 'long.sh' },
      { contentType: 'text/x-shellscript', content: '#!/bin/sh\necho no-final-newline', filename: 'nonl.sh' },
    ];
    const mime = mimeMultipart(odd);
    expect(mime).toContain('Content-Transfer-Encoding: base64');
    expect(mime.split('\n').every((l) => l.length <= 998)).toBe(true);
    const expected = odd.map((p) => ({ type: p.contentType, filename: p.filename, content: p.content }));
    expect(splitUserData(Buffer.from(mime))).toEqual(expected);
    const read = readUserDataWithCloudInit(Buffer.from(mime));
    if (read) expect(read).toEqual(expected);
  });

  it('derives a stable boundary from the content, absent from every part', () => {
    const a = mimeMultipart(parts);
    expect(mimeMultipart(parts)).toBe(a);
    const boundaryOf = (m: string) => /boundary="([^"]+)"/.exec(m)?.[1];
    const changed = mimeMultipart([parts[0] as MimePart, { ...(parts[1] as MimePart), content: script + '# more\n' }]);
    expect(boundaryOf(changed)).not.toBe(boundaryOf(a));
    // A part that contains the boundary the hash would give forces a different one.
    const sneaky: MimePart = { contentType: 'text/x-shellscript', content: '', filename: 'sneaky.sh' };
    const natural = boundaryOf(mimeMultipart([sneaky]));
    const withIt = mimeMultipart([{ ...sneaky, content: `#!/bin/sh\n# --${natural}\n` }]);
    expect(boundaryOf(withIt)).not.toBe(natural);
    expect(splitUserData(Buffer.from(withIt))[0]?.content).toBe(`#!/bin/sh\n# --${natural}\n`);
  });

  it('rejects an empty list, bad file names and duplicate file names', () => {
    expect(() => mimeMultipart([])).toThrow(/no parts given/);
    expect(() => mimeMultipart([{ ...(parts[0] as MimePart), filename: 'a"b' }])).toThrow(/filename: "a\\"b" must be a plain file name/);
    expect(() => mimeMultipart([parts[0] as MimePart, parts[0] as MimePart])).toThrow(/"cloud-config.yaml" is used twice/);
  });
});
