/**
 * plugstack.conf and the pyxis drop-in: the layout Debian's slurm-wlm-basic-plugins ships (one include of
 * plugstack.conf.d/*.conf), and a pyxis line whose arguments are the ones pyxis's config parser knows.
 */
import {
  PLUGSTACK_CONF_D,
  PYXIS_DEFAULT_VERSION,
  PYXIS_PLUGIN_PATH,
  renderPlugstackConf,
  renderPyxisConf,
  renderPyxisLine,
  type PyxisConfOptions,
} from '../../lib/slurm/render-plugstack-conf';

/** Options pyxis's config.c accepts (0.12 and later; remap_root only before 0.12). */
const PYXIS_ARGS = new Set(['runtime_path', 'execute_entrypoint', 'container_scope', 'sbatch_support', 'use_enroot_load', 'importer', 'use_squashfuse']);

/** Splits a plugstack line the way Slurm does: white-space separated words. */
function parseLine(line: string): { kind: string; plugin: string; args: Record<string, string> } {
  const [kind, plugin, ...rest] = line.trim().split(/\s+/);
  const args: Record<string, string> = {};
  for (const word of rest) {
    const i = word.indexOf('=');
    expect(i).toBeGreaterThan(0);
    args[word.slice(0, i)] = word.slice(i + 1);
  }
  return { kind, plugin, args };
}

const codeLines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));

describe('renderPlugstackConf', () => {
  test('includes the drop-in directory exactly as Debian and Ubuntu ship it', () => {
    const text = renderPlugstackConf();
    expect(codeLines(text)).toEqual([`include ${PLUGSTACK_CONF_D}/*.conf`]);
    expect(PLUGSTACK_CONF_D).toBe('/etc/slurm/plugstack.conf.d');
    expect(text.endsWith('\n')).toBe(true);
  });

  test('another drop-in directory, with or without a trailing slash', () => {
    expect(codeLines(renderPlugstackConf({ includeDir: '/opt/slurm/etc/plugstack.conf.d/' }))).toEqual(['include /opt/slurm/etc/plugstack.conf.d/*.conf']);
  });

  test('refuses a relative or space-holding directory, naming the field', () => {
    expect(() => renderPlugstackConf({ includeDir: 'plugstack.conf.d' })).toThrow(/plugstack.conf: includeDir = "plugstack.conf.d": not an absolute path/);
    expect(() => renderPlugstackConf({ includeDir: '/etc/slurm/my plugins' })).toThrow(/includeDir = "\/etc\/slurm\/my plugins".*splits arguments on spaces/);
  });
});

describe('renderPyxisLine', () => {
  test('defaults: required plugin from make install, every pyxis option written explicitly', () => {
    const { kind, plugin, args } = parseLine(renderPyxisLine());
    expect(kind).toBe('required');
    expect(plugin).toBe('/usr/local/lib/slurm/spank_pyxis.so');
    expect(plugin).toBe(PYXIS_PLUGIN_PATH);
    expect(args).toEqual({ runtime_path: '/run/pyxis', execute_entrypoint: '0', container_scope: 'job', sbatch_support: '1' });
    for (const key of Object.keys(args)) expect(PYXIS_ARGS.has(key)).toBe(true);
  });

  test('maps each option to pyxis words and values', () => {
    const { args } = parseLine(
      renderPyxisLine({ runtimePath: '/mnt/localssd/pyxis', containerScope: 'global', executeEntrypoint: true, sbatchSupport: false }),
    );
    expect(args).toEqual({ runtime_path: '/mnt/localssd/pyxis', execute_entrypoint: '1', container_scope: 'global', sbatch_support: '0' });
  });

  test('remap_root is refused (supported pyxis releases would not load with it), pointing to enroot', () => {
    expect(() => renderPyxisLine({ remapRoot: true })).toThrow(
      new RegExp(`PyxisOptions: pyxis.remapRoot = true: pyxis ${PYXIS_DEFAULT_VERSION.replace(/\./g, '\\.')} has no remap_root option .*Set enroot.remapRoot`),
    );
    expect(() => renderPyxisLine({ remapRoot: false, version: '0.24.0' })).toThrow(/pyxis.remapRoot = false: pyxis 0\.24\.0 has no remap_root/);
  });

  test('pyxis releases older than 0.12.0 are refused: they lack options the line sets', () => {
    expect(() => renderPyxisLine({ version: '0.11.1' }, 'GpuPool')).toThrow(/GpuPool: pyxis.version = "0.11.1": older than 0\.12\.0.*container_scope, sbatch_support/);
    expect(parseLine(renderPyxisLine({ version: '0.12.0' })).args.container_scope).toBe('job');
  });

  test('another plugin path (e.g. a distribution build) is kept', () => {
    expect(parseLine(renderPyxisLine({ pluginPath: '/usr/lib/x86_64-linux-gnu/slurm/spank_pyxis.so' })).plugin).toBe(
      '/usr/lib/x86_64-linux-gnu/slurm/spank_pyxis.so',
    );
  });

  test.each<[string, PyxisConfOptions, RegExp]>([
    ['short version', { version: '0.20' }, /GpuPool: pyxis.version = "0.20": not a release number. Pin a release such as '0\.20\.0'/],
    ['relative runtime path', { runtimePath: 'run/pyxis' }, /GpuPool: pyxis.runtimePath = "run\/pyxis": not an absolute path.*'\/run\/pyxis'/],
    ['runtime path with a comment sign', { runtimePath: '/run/pyxis#x' }, /runtimePath = "\/run\/pyxis#x"/],
    ['runtime path climbing out', { runtimePath: '/run/../etc' }, /runtimePath = "\/run\/\.\.\/etc"/],
    ['unknown scope', { containerScope: 'node' as 'job' }, /GpuPool: pyxis.containerScope = "node": pyxis knows 'job' and 'global'/],
    ['non-boolean flag', { executeEntrypoint: 'yes' as unknown as boolean }, /GpuPool: pyxis.executeEntrypoint = "yes": not a boolean/],
  ])('refuses %s', (_name, options, message) => {
    expect(() => renderPyxisLine(options, 'GpuPool')).toThrow(message);
  });
});

describe('renderPyxisConf', () => {
  test('a comment naming the release, then the pyxis line, newline-terminated', () => {
    const text = renderPyxisConf({ containerScope: 'global' });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^# pyxis ${PYXIS_DEFAULT_VERSION.replace(/\./g, '\\.')} `));
    expect(codeLines(text)).toEqual([renderPyxisLine({ containerScope: 'global' })]);
    expect(text.endsWith('\n')).toBe(true);
  });
});
