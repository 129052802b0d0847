/**
 * Users install the library from the registry, so the packed tarball must work on its own: compiled JS, type
 * declarations and the bootstrap scripts the cloud-config embeds, found from inside node_modules.
 */
import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join, resolve } from 'path';

const repo = resolve(__dirname, '..', '..');
let work: string;
let files: string[];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cdktf-slurm-pack-'));
  // `npm pack` runs the prepack build (tsc) first, as a publish would.
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', work], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  files = info.files.map((f) => f.path);
  const installed = join(work, 'app', 'node_modules', 'cdktf-slurm');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, info.filename), '-C', installed, '--strip-components=1']);
  // Dependencies come from the repo's own install; the registry is not needed for this check.
  for (const dep of ['cdktf', 'constructs', 'yaml', 'ipaddr.js']) {
    symlinkSync(join(repo, 'node_modules', dep), join(work, 'app', 'node_modules', dep));
  }
  writeFileSync(join(work, 'app', 'package.json'), JSON.stringify({ name: 'users-iac', private: true }));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

test('the tarball holds compiled JS, declarations and every bootstrap script, and no tests or sources', () => {
  expect(files).toContain('dist/lib/index.js');
  expect(files).toContain('dist/lib/index.d.ts');
  expect(files).toContain('bootstrap-scripts/bootstrap.sh');
  expect(files).toContain('bootstrap-scripts/lib/common.sh');
  expect(files.filter((f) => f.startsWith('__tests__/') || f.endsWith('.test.js'))).toEqual([]);
  expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
});

test('an installed copy renders a compute node whose user-data carries the scripts from node_modules', () => {
  const script = `
    const lib = require('cdktf-slurm');
    const doc = lib.buildNodeCloudConfig({ roles: ['compute'], env: { CLUSTER_NAME: 'c', SLURM_CONTROLLER: 'ctl' } });
    const paths = doc.toObject().write_files.map((f) => f.path);
    const ud = lib.renderNodeUserData(doc, { target: 'aws', role: 'compute' });
    console.log(JSON.stringify({ paths, gzipped: ud.gzipped, size: ud.size, conf: lib.renderSlurmConf.name }));
  `;
  const out = JSON.parse(execFileSync('node', ['-e', script], { cwd: join(work, 'app'), encoding: 'utf8' })) as {
    paths: string[];
    gzipped: boolean;
    size: number;
  };
  expect(out.paths).toContain('/opt/cdktf-slurm/bootstrap/slurmd.sh');
  expect(out.paths).toContain('/opt/cdktf-slurm/bootstrap/lib/common.sh');
  expect(out.paths).not.toContain('/opt/cdktf-slurm/bootstrap/slurmctld.sh');
  expect(out.gzipped).toBe(true);
  expect(out.size).toBeLessThanOrEqual(16_384);
});
