/**
 * slurmdbd.sh with DB_PASSWORD_SOURCE=generate+aws-secretsmanager:…, against a fake `aws` that keeps the
 * secret in a sandbox file. The run stops at starting slurmdbd (a fake that exits 1), after slurmdbd.conf
 * has been written into the sandbox's SLURM_CONF_DIR: nothing on the host is touched.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox } from './sh';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:hpc/db-password-AbC123';
let sb: Sandbox;
let env: Record<string, string>;

beforeEach(() => {
  sb = new Sandbox();
  sb.file(
    'fakebin/aws',
    `#!/bin/bash
line=$(printf '%q ' "$@"); printf '%s\\n' "$line" >>"$FAKE_DIR/aws.calls"
store="$FAKE_DIR/secret.bin"
case " $* " in
  *" get-secret-value "*)
    if [[ ! -s "$store" ]]; then
      echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" >&2
      exit 254
    fi
    if [[ " $* " == *" SecretBinary "* ]]; then base64 -w0 <"$store"; echo; else echo None; fi ;;
  *" put-secret-value "*)
    src=""; prev=""
    for a in "$@"; do [[ "$prev" == --secret-binary ]] && src=\${a#fileb://}; prev=$a; done
    cp "$src" "$store"; echo '{}' ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
`,
    0o755,
  );
  sb.file('fakebin/slurmdbd', '#!/bin/bash\necho "fake slurmdbd: not starting" >&2\nexit 1\n', 0o755);
  sb.file('staging/slurmdbd.conf', 'DbdHost=localhost\nSlurmUser=root\nStorageType=accounting_storage/mysql\n', 0o600);
  env = {
    PATH: `${path.join(sb.dir, 'fakebin')}:${process.env.PATH}`,
    FAKE_DIR: sb.dir,
    CLUSTER_NAME: 'hpc',
    DB_LOCAL: '0',
    CDKTF_SLURM_ROLES: 'dbd',
    DB_PASSWORD_SOURCE: `generate+aws-secretsmanager:${ARN}`,
  };
});
afterEach(() => sb.cleanup());

const calls = (): string[] => {
  const p = path.join(sb.dir, 'aws.calls');
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
};
const storagePass = (): string => {
  const conf = fs.readFileSync(path.join(sb.dir, 'etc-slurm/slurmdbd.conf'), 'utf8');
  const m = /^StoragePass=(.*)$/m.exec(conf);
  return m ? m[1] : '';
};

describe('slurmdbd.sh DB_PASSWORD_SOURCE=generate+aws-secretsmanager', () => {
  // fetch_secret retries a missing value with back-off (~14 s) before calling it missing: allow for it.
  test('first boot: generates a 32-character [A-Za-z0-9] password, stores it, reads it back and uses it', () => {
    const r = sb.script('slurmdbd.sh', env, 45000);
    // Stops at the fake slurmdbd, after slurmdbd.conf is in place.
    expect(r.log).toMatch(/slurmdbd failed to start/);
    const stored = fs.readFileSync(path.join(sb.dir, 'secret.bin'), 'utf8');
    expect(stored).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(storagePass()).toBe(stored);
    expect(fs.statSync(path.join(sb.dir, 'etc-slurm/slurmdbd.conf')).mode & 0o777).toBe(0o600);

    const ops = calls().map((c) => (/(get-secret-value|put-secret-value)/.exec(c) ?? ['?'])[0]);
    // get (missing; common.sh's fetch_secret retries it) -> one put -> get again: the value used is the one
    // the store holds.
    const putAt = ops.indexOf('put-secret-value');
    expect(putAt).toBeGreaterThan(0);
    expect(ops.filter((o) => o === 'put-secret-value')).toHaveLength(1);
    expect(new Set(ops.slice(0, putAt))).toEqual(new Set(['get-secret-value']));
    expect(ops.slice(putAt + 1)).toEqual(['get-secret-value']);
    const put = calls()[putAt];
    expect(put).toContain('--region eu-west-1');
    expect(put).toContain(`--secret-id ${ARN}`);
    expect(put).toMatch(/--secret-binary fileb:\/\/\S+/);
    // The value never travels on a command line or into the log.
    for (const text of [...calls(), r.log, r.stdout, r.stderr]) expect(text).not.toContain(stored);
    expect(r.log).toMatch(/generating a 32-character DB password and storing it/);
  }, 60000);

  test('later boots: reuse the stored password, store nothing', () => {
    sb.file('secret.bin', 'Existing0Password1From2The3Store', 0o600);
    const r = sb.script('slurmdbd.sh', env);
    expect(r.log).toMatch(/slurmdbd failed to start/);
    expect(storagePass()).toBe('Existing0Password1From2The3Store');
    expect(calls().some((c) => c.includes('put-secret-value'))).toBe(false);
    expect(r.log).not.toMatch(/generating/);
  });

  test('only the dbd host may generate', () => {
    const r = sb.script('slurmdbd.sh', { ...env, CDKTF_SLURM_ROLES: 'controller' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/uses generate\+ but this host's roles are 'controller'; only the dbd host may create the DB password/);
    expect(calls()).toEqual([]);
  });

  test('generate+ needs a secret store, not a file', () => {
    const r = sb.script('slurmdbd.sh', { ...env, DB_PASSWORD_SOURCE: 'generate+file:/etc/pw' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/generate\+ works with aws-secretsmanager: or gcp-secretmanager: only/);
  });

  test('the generator pipeline yields 32 [A-Za-z0-9] characters, different on every draw', () => {
    // 200 draws of the same pipeline the script uses.
    const r = spawnSync(
      'bash',
      ['-c', `set -euo pipefail; d=$(mktemp -d); for i in $(seq 200); do head -c 4096 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9' >"$d/c"; head -c 32 "$d/c"; echo; done; rm -rf "$d"`],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(200);
    for (const l of lines) expect(l).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(new Set(lines).size).toBe(200);
  });
});
