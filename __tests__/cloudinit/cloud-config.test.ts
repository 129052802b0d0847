import { gunzipSync } from 'zlib';
import { parse } from 'yaml';
import { CloudConfig, isYamlLiteralSafe } from '../../lib/cloudinit';
import { knownTopLevelKeys, loadYamlWithPyYaml, validateCloudConfig } from './validate-cloud-config';

type WriteFileOut = { path: string; content: string; owner: string; permissions: string; encoding?: string; defer?: boolean };

function sample(): CloudConfig {
  return new CloudConfig()
    .setHostname('ctl-0', 'ctl-0.hpc.internal')
    .set('package_update', true)
    .set('timezone', 'Etc/UTC')
    .addPackages('munge', 'curl', 'munge')
    .addWriteFile({ path: '/etc/demo/a.conf', content: 'Key=Value\nOther=1\n', permissions: '0644' })
    .addWriteFile({ path: '/etc/munge/note', content: 'x\n', owner: 'munge:munge', permissions: '0400', defer: true })
    .addBootcmd('mkdir -p /run/demo')
    .addRuncmd(['bash', '/opt/demo.sh'])
    .addRuncmd('echo done > /tmp/done');
}

describe('CloudConfig', () => {
  it('renders a document cloud-init accepts, with every key where it was put', () => {
    const doc = sample().render();
    expect(doc.startsWith('#cloud-config\n')).toBe(true);
    expect(validateCloudConfig(doc).ran).toContain('ajv');

    const data = parse(doc, { version: '1.1' }) as Record<string, unknown>;
    expect(data.hostname).toBe('ctl-0');
    expect(data.fqdn).toBe('ctl-0.hpc.internal');
    expect(data.package_update).toBe(true);
    expect(data.packages).toEqual(['munge', 'curl']);
    expect(data.bootcmd).toEqual(['mkdir -p /run/demo']);
    expect(data.runcmd).toEqual([['bash', '/opt/demo.sh'], 'echo done > /tmp/done']);
    const files = data.write_files as WriteFileOut[];
    expect(files).toEqual([
      { path: '/etc/demo/a.conf', content: 'Key=Value\nOther=1\n', owner: 'root:root', permissions: '0644' },
      { path: '/etc/munge/note', content: 'x\n', owner: 'munge:munge', permissions: '0400', defer: true },
    ]);
  });

  it('emits permissions as strings PyYAML keeps as strings (0600 is an octal int in YAML 1.1)', () => {
    const doc = new CloudConfig().addWriteFile({ path: '/a', content: 'x', permissions: '0600' }).render();
    const py = loadYamlWithPyYaml(doc) as { write_files: WriteFileOut[] } | undefined;
    if (py) expect(py.write_files[0]?.permissions).toBe('0600');
    expect(doc).toMatch(/permissions: "0600"/);
  });

  it('writes multi-line content as a YAML block literal', () => {
    const doc = new CloudConfig()
      .addWriteFile({ path: '/opt/x.sh', content: '#!/bin/bash\nset -euo pipefail\necho "$HOME"\n', permissions: '0755' })
      .render();
    expect(doc).toContain('    content: |\n      #!/bin/bash\n      set -euo pipefail\n      echo "$HOME"\n');
  });

  it('keeps awkward text and YAML 1.1 look-alikes byte-exact through PyYAML, the parser cloud-init uses', () => {
    const contents = [
      'yes', 'on', 'no', 'y', '0600', '1:20', '~', 'null', '0x1f', '1e3', '=', '<<', '.inf', '2001-12-14',
      'a\n   \nb\n', '\n\nleading blank lines\n', 'trailing blank lines\n\n\n', '\t tab first\n', 'no final newline\nend',
      'unicode é 中 😀\n', '#not a comment\n', '- not a list\n', 'key: not a map\n', " \n", '\n', 'back\\slash\n',
      "it's \"quoted\" $VAR `cmd` %s {a: b} [c]\n", ' leading space', 'trailing space ', '',
      'x\n  \n', 'x\n\t\n', '\t\n x\n', ' \n\nx\n', 'x\n   ', '  \n  indented\n', '\n  \n', '\t\n', '    four\n  two\n', '\n  indented after blank\n', '\n\n\tx\n',
    ];
    const config = new CloudConfig();
    contents.forEach((content, i) => config.addWriteFile({ path: `/t/${i}`, content, permissions: '0644' }));
    config.addRuncmd(['=', '<<', 'yes', 'on']);
    const doc = config.render();
    validateCloudConfig(doc);
    const expected = { write_files: contents.map((content) => ({ content })), runcmd: [['=', '<<', 'yes', 'on']] };
    const pick = (d: { write_files: WriteFileOut[]; runcmd: unknown }) => ({
      write_files: d.write_files.map((f) => ({ content: f.content })),
      runcmd: d.runcmd,
    });
    // The yaml library agrees with PyYAML…
    expect(pick(parse(doc, { version: '1.1' }))).toEqual(expected);
    // …and PyYAML, which cloud-init runs, reads every value back unchanged.
    const py = loadYamlWithPyYaml(doc) as Parameters<typeof pick>[0] | undefined;
    if (py) expect(pick(py)).toEqual(expected);
  });

  it('sends content YAML cannot hold literally as gz+b64, which decodes back to the original', () => {
    const awkward = ['windows\r\nline\r\n', 'bell\x07', 'nel\u0085x', 'ls\u2028ps\u2029', '\ufeffbom', 'nul\0'];
    const config = new CloudConfig();
    awkward.forEach((content, i) => {
      expect(isYamlLiteralSafe(content)).toBe(false);
      config.addWriteFile({ path: `/t/${i}`, content, permissions: '0600' });
    });
    const doc = config.render();
    validateCloudConfig(doc);
    const files = (parse(doc, { version: '1.1' }) as { write_files: WriteFileOut[] }).write_files;
    files.forEach((f, i) => {
      expect(f.encoding).toBe('gz+b64');
      expect(gunzipSync(Buffer.from(f.content, 'base64')).toString('utf8')).toBe(awkward[i]);
    });
  });

  it('passes pre-encoded content through with the encoding given', () => {
    const doc = new CloudConfig()
      .addWriteFile({ path: '/k', content: Buffer.from('bin\0ary').toString('base64'), permissions: '0400', encoding: 'b64' })
      .render();
    validateCloudConfig(doc);
    const f = (parse(doc) as { write_files: WriteFileOut[] }).write_files[0];
    expect(f?.encoding).toBe('b64');
    expect(Buffer.from(f?.content ?? '', 'base64').toString()).toBe('bin\0ary');
  });

  it.each([
    [{ path: 'etc/x', content: '', permissions: '0600' }, /path must be absolute.*"etc\/x"/],
    [{ path: '/etc/../x', content: '', permissions: '0600' }, /no '\.' or '\.\.' segments/],
    [{ path: '/x', content: '', permissions: '600' }, /permissions "600" is not a 4-digit octal string; use e\.g\. '0600'/],
    [{ path: '/x', content: '', permissions: '0800' }, /permissions "0800"/],
    [{ path: '/x', content: '', permissions: '0600', owner: 'root root' }, /owner "root root"/],
    [{ path: '/x', content: '', permissions: '0600', encoding: 'zip' as never }, /encoding "zip" is not one cloud-init accepts/],
  ])('rejects a bad write_files entry %#', (file, message) => {
    expect(() => new CloudConfig().addWriteFile(file)).toThrow(message);
  });

  it('rejects a second file at the same path, naming the path', () => {
    const config = new CloudConfig().addWriteFile({ path: '/etc/a', content: '1', permissions: '0600' });
    expect(() => config.addWriteFile({ path: '/etc/a', content: '2', permissions: '0644' })).toThrow(
      /write_files\["\/etc\/a"\].*already written/,
    );
  });

  it('rejects bad package names, commands and host names with the value', () => {
    expect(() => new CloudConfig().addPackages('munge; rm -rf /')).toThrow(/"munge; rm -rf \/" is not a package name/);
    expect(() => new CloudConfig().addRuncmd([])).toThrow(/runcmd: \[\] is not a command/);
    expect(() => new CloudConfig().setHostname('bad_name')).toThrow(/"bad_name" is not a host name label/);
    expect(() => new CloudConfig().set('runcmd' as never, [] as never)).toThrow(/"runcmd" is not a key set\(\) accepts/);
  });

  it('leaves out empty lists (cloud-init schema requires minItems 1)', () => {
    const doc = new CloudConfig().addRuncmd('true').render();
    expect(Object.keys(parse(doc) as object)).toEqual(['runcmd']);
    validateCloudConfig(doc);
  });

  it('renders the same bytes for the same calls, independent of the order settings were made', () => {
    const a = new CloudConfig().set('timezone', 'Etc/UTC').set('package_update', true).addRuncmd('true');
    const b = new CloudConfig().addRuncmd('true').set('package_update', true).set('timezone', 'Etc/UTC');
    expect(a.render()).toBe(b.render());
    expect(sample().render()).toBe(sample().render());
  });
});

describe('validateCloudConfig', () => {
  it('catches a misspelled top-level key, which cloud-init itself ignores', () => {
    const keys = knownTopLevelKeys();
    if (!keys) return; // warned by the helper
    expect(keys.has('write_files')).toBe(true);
    expect(keys.has('pakages')).toBe(false);
    const doc = new CloudConfig().addPackages('munge').render().replace('packages:', 'pakages:');
    expect(() => validateCloudConfig(doc)).toThrow(/unknown top-level key "pakages"/);
  });

  it('catches a schema violation', () => {
    const doc = '#cloud-config\nwrite_files:\n  - path: /x\n    encoding: zip\n';
    expect(() => validateCloudConfig(doc)).toThrow(/encoding/);
  });
});
