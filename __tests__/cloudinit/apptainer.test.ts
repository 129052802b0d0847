/**
 * lib/cloudinit/apptainer.ts: the node.env entries and the registries.conf drop-in apptainer.sh reads, and every
 * refusal naming where, the field, the bad value and the fix. The drop-in is parsed as TOML (Python's tomllib, as
 * containers/image parses it with a TOML library) so its structure is checked, not only its text.
 */
import { spawnSync } from 'child_process';
import {
  APPTAINER_REGISTRIES_CONF_PATH,
  STAGED_APPTAINER_REGISTRIES_CONF_PATH,
  apptainerDebUrl,
  apptainerNodeSetup,
  registryMirrorFiles,
  renderApptainerRegistriesConf,
  type ApptainerSettings,
} from '../../lib/cloudinit/apptainer';
import { NO_HOST_TABLES } from '../../lib/cloudinit/boot-steps';
import { renderNodeEnv } from '../../lib/cloudinit/node-env';

const SUM = 'ab'.repeat(32);
const haveTomllib = spawnSync('python3', ['-c', 'import tomllib']).status === 0;

function parseToml(text: string): unknown {
  const r = spawnSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], { input: text, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
}

describe('apptainerNodeSetup', () => {
  test('version and checksum only: two node.env entries, no files', () => {
    expect(apptainerNodeSetup({ version: '1.3.6', sha256: SUM })).toEqual({
      env: { APPTAINER_VERSION: '1.3.6', APPTAINER_SHA256: SUM },
      files: [],
    });
  });

  test('an HTTPS registry: its host in node.env and the staged drop-in with insecure = false', () => {
    const setup = apptainerNodeSetup({ version: '1.3.6', sha256: SUM, registry: { host: 'registry.cluster.internal:5000' } }, 'GpuPool');
    expect(setup.env).toEqual({
      APPTAINER_VERSION: '1.3.6',
      APPTAINER_SHA256: SUM,
      APPTAINER_REGISTRY: 'registry.cluster.internal:5000',
      APPTAINER_REGISTRY_INSECURE: 'no',
    });
    expect(setup.files).toEqual([
      {
        path: '/etc/cdktf-slurm/apptainer-registries.conf',
        permissions: '0644',
        content: [
          '# Written by cdktf-slurm (lib/cloudinit/apptainer.ts); do not edit, it is replaced at boot.',
          '# Apptainer resolves docker:// through containers/image, which reads this drop-in.',
          '[[registry]]',
          'prefix = "docker.io"',
          'location = "docker.io"',
          '',
          '[[registry.mirror]]',
          'location = "registry.cluster.internal:5000"',
          'insecure = false',
          '',
        ].join('\n'),
      },
    ]);
    expect(STAGED_APPTAINER_REGISTRIES_CONF_PATH).toBe('/etc/cdktf-slurm/apptainer-registries.conf');
    expect(APPTAINER_REGISTRIES_CONF_PATH).toBe('/etc/containers/registries.conf.d/60-cdktf-slurm-registry.conf');
  });

  test('a plain-HTTP registry inside the cluster: HTTP for the mirror and for its own name, nothing else', () => {
    const setup = apptainerNodeSetup({ version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.5:5000', insecure: true } });
    expect(setup.env.APPTAINER_REGISTRY).toBe('10.0.0.5:5000');
    expect(setup.env.APPTAINER_REGISTRY_INSECURE).toBe('yes');
    expect(setup.files.map((f) => f.content)).toEqual([
      [
        '# Written by cdktf-slurm (lib/cloudinit/apptainer.ts); do not edit, it is replaced at boot.',
        '# Apptainer resolves docker:// through containers/image, which reads this drop-in.',
        '[[registry]]',
        'prefix = "docker.io"',
        'location = "docker.io"',
        '',
        '[[registry.mirror]]',
        'location = "10.0.0.5:5000"',
        'insecure = true',
        '',
        '[[registry]]',
        'location = "10.0.0.5:5000"',
        'insecure = true',
        '',
      ].join('\n'),
    ]);
  });

  (haveTomllib ? test : test.skip)('the drop-in is TOML in containers-registries.conf v2 shape', () => {
    expect(parseToml(renderApptainerRegistriesConf({ host: '[fd00::5]:5000', insecure: true }))).toEqual({
      registry: [
        { prefix: 'docker.io', location: 'docker.io', mirror: [{ location: '[fd00::5]:5000', insecure: true }] },
        { location: '[fd00::5]:5000', insecure: true },
      ],
    });
    expect(parseToml(renderApptainerRegistriesConf({ host: 'mirror.gcr.io' }))).toEqual({
      registry: [{ prefix: 'docker.io', location: 'docker.io', mirror: [{ location: 'mirror.gcr.io', insecure: false }] }],
    });
  });

  test('registryMirrorFiles is the staged file apptainerNodeSetup returns', () => {
    const mirror = { host: 'registry', insecure: true };
    expect(registryMirrorFiles(mirror)).toEqual(apptainerNodeSetup({ version: '1.3.6', sha256: SUM, registry: mirror }).files);
  });

  test('a deferred checksum (Terraform variable) is written as given; node.env accepts every entry', () => {
    const ref = '${var.apptainer_deb_sha256}';
    const setup = apptainerNodeSetup({ version: '1.3.6', sha256: ref, registry: { host: '[fd00::5]:5000' } }, 'Login', {
      isDeferred: (v) => v.startsWith('${var.'),
    });
    expect(setup.env.APPTAINER_SHA256).toBe(ref);
    const rendered = renderNodeEnv({ tables: NO_HOST_TABLES, roles: ['login'], env: setup.env });
    expect(rendered).toContain(`APPTAINER_SHA256='${ref}'`);
    expect(rendered).toContain(`APPTAINER_REGISTRY='[fd00::5]:5000'`);
  });

  test('1.4.5 and later, and 1.3.x, may use a registry', () => {
    for (const version of ['1.3.4', '1.3.6', '1.4.5', '1.5.0']) {
      expect(apptainerNodeSetup({ version, sha256: SUM, registry: { host: '10.1.2.3' } }).env.APPTAINER_VERSION).toBe(version);
    }
  });

  test('private, mesh, loopback and internal names may be insecure', () => {
    for (const host of ['10.0.0.5', '172.31.255.1:5000', '192.168.1.2', '100.100.1.1:5000', '127.0.0.1:5000', 'localhost:5000', 'registry', 'reg.c.my-project.internal', 'reg.cluster.local', '[fd12:3456::1]:5000', '[::1]']) {
      expect(apptainerNodeSetup({ version: '1.3.6', sha256: SUM, registry: { host, insecure: true } }).env.APPTAINER_REGISTRY_INSECURE).toBe('yes');
    }
  });

  test('the download URL is the GitHub release asset', () => {
    expect(apptainerDebUrl('1.3.6')).toBe('https://github.com/apptainer/apptainer/releases/download/v1.3.6/apptainer_1.3.6_amd64.deb');
  });

  // Each message: where (GpuPool), the field, the bad value, and the fix.
  test.each<[string, unknown, RegExp]>([
    ['a version that is not a release', { version: '1.3', sha256: SUM }, /^GpuPool: apptainer\.version = "1\.3": not a release number\. Pin a release such as '1\.3\.6'\.$/],
    ['a "v" prefix', { version: 'v1.3.6', sha256: SUM }, /^GpuPool: apptainer\.version = "v1\.3\.6": not a release number\. Pin a release such as '1\.3\.6'\./],
    ['no version', { sha256: SUM }, /^GpuPool: apptainer\.version = undefined: not a release number\. Pin/],
    ['a release before the working AppArmor profile', { version: '1.3.3', sha256: SUM }, /^GpuPool: apptainer\.version = "1\.3\.3": older than 1\.3\.4, .*AppArmor profile.*Ubuntu 24\.04.*Pin 1\.3\.6\.$/],
    ['no checksum', { version: '1.3.6' }, /^GpuPool: apptainer\.sha256 is not set: .*apptainer_1\.3\.6_amd64\.deb.*https:\/\/github\.com\/apptainer\/apptainer\/releases\/download\/v1\.3\.6\/sha256sums.*sha256sum/],
    ['a short checksum', { version: '1.3.6', sha256: 'abc123' }, /^GpuPool: apptainer\.sha256 = "abc123": not a SHA-256 sum\. Give the 64 lower-case hex digits sha256sum prints for apptainer_1\.3\.6_amd64\.deb\.$/],
    ['an upper-case checksum', { version: '1.3.6', sha256: 'AB'.repeat(32) }, /^GpuPool: apptainer\.sha256 = "(AB){32}": not a SHA-256 sum\. Give the 64 lower-case/],
    ['a registry URL with a scheme', { version: '1.3.6', sha256: SUM, registry: { host: 'https://10.0.0.5:5000' } }, /^GpuPool: apptainer\.registry\.host = "https:\/\/10\.0\.0\.5:5000": has a scheme; .*Give host\[:port\] only, e\.g\. '10\.0\.0\.5:5000'/],
    ['a registry with a path', { version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.5:5000/library' } }, /^GpuPool: apptainer\.registry\.host = "10\.0\.0\.5:5000\/library": has a path; .*Give host\[:port\] only/],
    ['a registry with whitespace', { version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.5 :5000' } }, /^GpuPool: apptainer\.registry\.host = "10\.0\.0\.5 :5000": contains whitespace\. Give host\[:port\] only/],
    ['a registry with user info', { version: '1.3.6', sha256: SUM, registry: { host: 'bob@10.0.0.5' } }, /^GpuPool: apptainer\.registry\.host = "bob@10\.0\.0\.5": has user info; log in with `apptainer registry login` instead\. Give/],
    ['a registry port out of range', { version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.5:70000' } }, /^GpuPool: apptainer\.registry\.host = "10\.0\.0\.5:70000": has a port outside 1-65535\. Give host\[:port\] only/],
    ['a bad IPv4 address', { version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.256' } }, /^GpuPool: apptainer\.registry\.host = "10\.0\.0\.256": is not a valid IPv4 address\./],
    ['an IPv6 address without brackets', { version: '1.3.6', sha256: SUM, registry: { host: 'fd00::5:5000' } }, /^GpuPool: apptainer\.registry\.host = "fd00::5:5000": looks like an IPv6 address; write it in brackets, e\.g\. \[fd00::5\]:5000\./],
    ['a host name with an underscore', { version: '1.3.6', sha256: SUM, registry: { host: 'my_registry:5000' } }, /^GpuPool: apptainer\.registry\.host = "my_registry:5000": is not a valid DNS name/],
    ['an empty host', { version: '1.3.6', sha256: SUM, registry: { host: '' } }, /^GpuPool: apptainer\.registry\.host = "": not a host name\. Give host\[:port\] only/],
    ['Docker Hub as its own mirror', { version: '1.3.6', sha256: SUM, registry: { host: 'registry-1.docker.io' } }, /^GpuPool: apptainer\.registry\.host = "registry-1\.docker\.io": that is Docker Hub itself, .*Give the cluster's own registry or pull-through cache, e\.g\. '10\.0\.0\.5:5000'\.$/],
    ['a public registry marked insecure', { version: '1.3.6', sha256: SUM, registry: { host: 'nvcr.io', insecure: true } }, /^GpuPool: apptainer\.registry = \{ host: "nvcr\.io", insecure: true \}: a public registry, and plain HTTP .*Drop insecure \(HTTPS\), or use a registry inside the cluster/],
    ['a public IP marked insecure', { version: '1.3.6', sha256: SUM, registry: { host: '203.0.113.7:5000', insecure: true } }, /^GpuPool: apptainer\.registry = \{ host: "203\.0\.113\.7:5000", insecure: true \}: not a private address, .*10\/8, 172\.16\/12, 192\.168\/16, 100\.64\/10, fc00::\/7/],
    ['a public DNS name marked insecure', { version: '1.3.6', sha256: SUM, registry: { host: 'registry.example.com', insecure: true } }, /^GpuPool: apptainer\.registry = \{ host: "registry\.example\.com", insecure: true \}: not a private address, .*\.internal, \.local/],
    ['insecure that is not a boolean', { version: '1.3.6', sha256: SUM, registry: { host: '10.0.0.5', insecure: 'yes' } }, /^GpuPool: apptainer\.registry\.insecure = "yes": not a boolean\. Use true \(plain HTTP\) or false \(HTTPS\)\.$/],
    ['a registry given as a string', { version: '1.3.6', sha256: SUM, registry: '10.0.0.5:5000' }, /^GpuPool: apptainer\.registry = "10\.0\.0\.5:5000": not an object\. Give \{ host: '10\.0\.0\.5:5000' \}/],
    ['a registry with a 1.4 release that ignores mirrors', { version: '1.4.1', sha256: SUM, registry: { host: '10.0.0.5:5000' } }, /^GpuPool: apptainer\.version = "1\.4\.1" with apptainer\.registry: Apptainer 1\.4\.0 stopped reading registry mirrors .*issue #2919.*bypass 10\.0\.0\.5:5000\. Pin 1\.3\.6, or 1\.4\.5 or later\.$/],
    ['settings that are not an object', null, /^GpuPool: apptainer = null: not an object\. Give \{ version, sha256 \}/],
  ])('refuses %s', (_name, settings, message) => {
    expect(() => apptainerNodeSetup(settings as ApptainerSettings, 'GpuPool')).toThrow(message);
  });

  test('the 1.4 limit does not apply without a registry', () => {
    expect(apptainerNodeSetup({ version: '1.4.1', sha256: SUM }).env).toEqual({ APPTAINER_VERSION: '1.4.1', APPTAINER_SHA256: SUM });
  });
});
