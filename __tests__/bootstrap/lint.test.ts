import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { listScripts, SCRIPTS_DIR } from './sh';

const scripts = listScripts();
const rel = (p: string): string => path.relative(SCRIPTS_DIR, p);
const haveShellcheck = spawnSync('shellcheck', ['--version']).status === 0;
// The node contract names these step scripts; cloud-init copies the tree and runs bootstrap.sh.
const REQUIRED = ['bootstrap.sh', 'packages.sh', 'munge.sh', 'slurmdbd.sh', 'slurmctld.sh', 'gpu.sh', 'slurmd.sh', 'lib/common.sh'];

describe('bootstrap-scripts tree', () => {
  test('holds every script the node contract names', () => {
    const present = scripts.map(rel);
    for (const name of REQUIRED) expect(present).toContain(name);
  });

  test('shellcheck is installed (otherwise the lint tests below prove nothing)', () => {
    expect(haveShellcheck).toBe(true);
  });
});

describe.each(scripts.map((s) => [rel(s), s]))('%s', (_name, file) => {
  const text = fs.readFileSync(file, 'utf8');
  const isLib = rel(file).startsWith('lib/');

  (haveShellcheck ? test : test.skip)('passes shellcheck -x', () => {
    // Run from the repo root, as `npm run lint` does: source-path directives must not depend on cwd.
    const r = spawnSync('shellcheck', ['-x', file], { encoding: 'utf8', cwd: path.resolve(SCRIPTS_DIR, '..') });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('starts with #!/usr/bin/env bash', () => {
    expect(text.split('\n')[0]).toBe('#!/usr/bin/env bash');
  });

  if (!isLib) {
    test('is executable and runs under set -euo pipefail before doing anything', () => {
      expect(fs.statSync(file).mode & 0o111).not.toBe(0);
      const firstCode = text.split('\n').find((l) => l.trim() !== '' && !l.startsWith('#'));
      expect(firstCode).toBe('set -euo pipefail');
    });

    // The fetcher runs before the rest of the tree is on the node (it downloads it), so it stands alone.
    if (rel(file) === 'aws/fetch-bootstrap.sh') {
      test('stands alone: sources nothing from the tree', () => {
        expect(text).not.toMatch(/^\s*(source|\.) "\$here/m);
      });
    } else {
      test('sources lib/common.sh relative to its own location', () => {
        expect(text).toMatch(/source "\$\(dirname "\$\(readlink -f "\$\{BASH_SOURCE\[0\]\}"\)"\)\/lib\/common\.sh"|source "\$here\/lib\/common\.sh"/);
      });
    }
  }
});
