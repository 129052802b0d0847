/**
 * bootstrap-scripts/aws/efa.sh: the NCCL profile it renders (through its own function, into a temp path),
 * and the checks that run before anything is downloaded. The installer itself needs an EFA instance.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, SCRIPTS_DIR } from './sh';

const EFA = path.join(SCRIPTS_DIR, 'aws/efa.sh');
const PLUGIN = '/opt/amazon/ofi-nccl/lib';
const EFALIB = '/opt/amazon/efa/lib';
let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
});
afterEach(() => sb.cleanup());

function render(rdma: '0' | '1', target = path.join(sb.dir, 'profile.d/nccl-efa.sh')): { status: number; text: string; log: string } {
  const r = sb.bash(`source ${JSON.stringify(EFA)}\nrender_nccl_profile ${JSON.stringify(target)} ${rdma} ${PLUGIN} ${EFALIB}\necho "changed=$INSTALL_CHANGED"`);
  return { status: r.status, text: fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '', log: r.stdout + r.log };
}

/** Source the profile with dash (as /etc/profile does) and print the resulting variables. */
function sourced(profile: string, ldLibraryPath?: string, times = 1): Record<string, string> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  if (ldLibraryPath !== undefined) env.LD_LIBRARY_PATH = ldLibraryPath;
  const dots = Array(times).fill(`. ${profile}`).join('; ');
  const r = spawnSync('sh', ['-c', `${dots}; env`], { env, encoding: 'utf8' });
  expect(r.status).toBe(0);
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => /^(FI_|NCCL_|LD_LIBRARY_PATH=)/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('efa.sh NCCL profile', () => {
  test('p4d/p5 (device RDMA): FI_PROVIDER, FI_EFA_USE_DEVICE_RDMA and the plugin path, nothing else', () => {
    const r = render('1');
    expect(r.status).toBe(0);
    const p = path.join(sb.dir, 'profile.d/nccl-efa.sh');
    expect(sourced(p)).toEqual({ FI_PROVIDER: 'efa', FI_EFA_USE_DEVICE_RDMA: '1', LD_LIBRARY_PATH: `${PLUGIN}:${EFALIB}` });
    // No tuning AWS does not document for current plugins.
    expect(r.text).not.toMatch(/NCCL_PROTO|NCCL_ALGO|FI_EFA_FORK_SAFE/);
    expect(fs.statSync(p).mode & 0o777).toBe(0o644);
  });

  test('other EFA types get no FI_EFA_USE_DEVICE_RDMA', () => {
    render('0');
    const vars = sourced(path.join(sb.dir, 'profile.d/nccl-efa.sh'));
    expect(vars).toEqual({ FI_PROVIDER: 'efa', LD_LIBRARY_PATH: `${PLUGIN}:${EFALIB}` });
  });

  test('keeps an existing LD_LIBRARY_PATH and does not grow it when sourced again', () => {
    render('1');
    const p = path.join(sb.dir, 'profile.d/nccl-efa.sh');
    expect(sourced(p, '/usr/local/cuda/lib64', 3).LD_LIBRARY_PATH).toBe(`${PLUGIN}:${EFALIB}:/usr/local/cuda/lib64`);
    expect(sourced(p, '').LD_LIBRARY_PATH).toBe(`${PLUGIN}:${EFALIB}`);
  });

  test('is POSIX sh that shellcheck accepts', () => {
    render('1');
    const r = spawnSync('shellcheck', ['-s', 'sh', path.join(sb.dir, 'profile.d/nccl-efa.sh')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('re-rendering the same profile changes nothing', () => {
    expect(render('1').log).toMatch(/changed=1/);
    expect(render('1').log).toMatch(/changed=0/);
    expect(render('0').log).toMatch(/changed=1/);
  });

  test('refuses library paths that would break the profile', () => {
    const r = sb.bash(`source ${JSON.stringify(EFA)}\nrender_nccl_profile ${JSON.stringify(path.join(sb.dir, 'p.sh'))} 1 '/opt/x y' ${EFALIB}`);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/library dirs must be absolute paths without spaces/);
  });
});

describe('efa.sh decisions', () => {
  test.each([
    ['p4d.24xlarge', '1'],
    ['p5.48xlarge', '1'],
    ['p5e.48xlarge', '1'],
    ['g5.48xlarge', '0'],
    ['g6.8xlarge', '0'],
    ['c6i.32xlarge', '0'],
  ])('FI_EFA_USE_DEVICE_RDMA for %s: %s', (type, want) => {
    const r = sb.bash(`source ${JSON.stringify(EFA)}\nefa_device_rdma_for ${type}`);
    expect(r.stdout.trim()).toBe(want);
  });

  test('reads the installed version from the installer record', () => {
    sb.file('amazon/efa_installed_packages', '# EFA installer version: 1.42.0\n# Debug packages installed: no\n');
    const r = sb.bash(`source ${JSON.stringify(EFA)}\ninstalled_efa_version`, { EFA_PREFIX: path.join(sb.dir, 'amazon') });
    expect(r.stdout.trim()).toBe('1.42.0');
  });

  test('finds the plugin in the multiarch lib dir too', () => {
    sb.file('amazon/ofi-nccl/lib/x86_64-linux-gnu/libnccl-net-ofi.so', '');
    const r = sb.bash(`source ${JSON.stringify(EFA)}\nfind_plugin_libdir`, { EFA_PREFIX: path.join(sb.dir, 'amazon') });
    expect(r.stdout.trim()).toBe(path.join(sb.dir, 'amazon/ofi-nccl/lib/x86_64-linux-gnu'));
  });

  test('is a no-op on nodes without EFA', () => {
    const r = sb.script('aws/efa.sh', { EFA_ENABLED: '0' });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/EFA_ENABLED=0: not an EFA node, nothing to do/);
  });

  test('another installer version needs its checksum, before anything is downloaded', () => {
    const r = sb.script('aws/efa.sh', { EFA_ENABLED: '1', EFA_INSTALLER_VERSION: '1.43.2', INSTANCE_TYPE: 'p5.48xlarge' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/EFA_INSTALLER_VERSION=1.43.2 needs EFA_INSTALLER_SHA256 .*only knows the checksum of 1.42.0/);
  });

  test('rejects a malformed checksum', () => {
    const r = sb.script('aws/efa.sh', { EFA_ENABLED: '1', EFA_INSTALLER_SHA256: 'abc', INSTANCE_TYPE: 'p5.48xlarge' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/EFA_INSTALLER_SHA256 must be 64 lower-case hex digits, got 'abc'/);
  });

  test('refuses a download whose checksum does not match, and never runs it', () => {
    // A local "installer" whose efa_installer.sh would leave a marker if it ran.
    const src = path.join(sb.dir, 'src');
    sb.file('src/aws-efa-installer/efa_installer.sh', `#!/bin/bash\ntouch ${JSON.stringify(path.join(sb.dir, 'RAN'))}\n`, 0o755);
    fs.mkdirSync(path.join(sb.dir, 'dl'), { recursive: true });
    expect(spawnSync('tar', ['-czf', path.join(sb.dir, 'dl/aws-efa-installer-1.42.0.tar.gz'), '-C', src, 'aws-efa-installer']).status).toBe(0);
    // dpkg-query says the headers are installed, so apt is never called.
    sb.file('fakebin/dpkg-query', '#!/bin/bash\nprintf installed\n', 0o755);
    const r = sb.script('aws/efa.sh', {
      PATH: `${path.join(sb.dir, 'fakebin')}:${process.env.PATH}`,
      EFA_ENABLED: '1',
      INSTANCE_TYPE: 'p5.48xlarge',
      EFA_PREFIX: path.join(sb.dir, 'amazon'),
      EFA_INSTALLER_BASE_URL: `file://${path.join(sb.dir, 'dl')}`,
      NCCL_PROFILE_PATH: path.join(sb.dir, 'nccl-efa.sh'),
    });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/aws-efa-installer-1.42.0.tar.gz does not match SHA256 4114fe61.*refusing to run it/);
    expect(fs.existsSync(path.join(sb.dir, 'RAN'))).toBe(false);
    expect(fs.existsSync(path.join(sb.dir, 'nccl-efa.sh'))).toBe(false);
  });
});
