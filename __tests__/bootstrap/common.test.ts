import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { COMMON, isRoot, Sandbox } from './sh';

const rootOnly = isRoot ? test : test.skip;
let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
});
afterEach(() => sb.cleanup());

describe('common.sh', () => {
  test('refuses to be executed instead of sourced', () => {
    const r = spawnSync('bash', [COMMON], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/library: source it/);
  });

  test('log writes timestamped lines to stderr and to the log file, creating the dir 0750', () => {
    const r = sb.bash('LOG_TAG=unit; log "hello there"');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[unit\] hello there$/m);
    expect(r.log).toMatch(/\[unit\] hello there/);
    expect(fs.statSync(sb.logDir).mode & 0o777).toBe(0o750);
  });

  test('die logs ERROR and exits 1', () => {
    const r = sb.bash('die "bad thing: value x"; echo unreachable');
    expect(r.status).toBe(1);
    expect(r.stdout).not.toMatch(/unreachable/);
    expect(r.log).toMatch(/ERROR: bad thing: value x/);
  });
});

describe('retry', () => {
  // A command that fails until it has been called N times; the counter file records every call.
  const flaky = (succeedOn: number, rc = 7): string => `
    n=0; c="$TMPDIR/calls"
    flaky() { n=$(( $(cat "$c" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$c"; [ "$n" -ge ${succeedOn} ] || return ${rc}; }`;

  test('retries a failing command until it succeeds', () => {
    const r = sb.bash(`${flaky(3)}\nretry 5 0.01 flaky\necho "status=$? calls=$(cat "$c")"`);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/status=0 calls=3/);
    expect(r.log.match(/failed \(exit 7\) on attempt \d\/5; retrying/g)).toHaveLength(2);
  });

  test('gives up after the given number of attempts and returns the last exit status', () => {
    const r = sb.bash(`${flaky(99, 7)}\nrc=0; retry 3 0.01 flaky || rc=$?\necho "rc=$rc calls=$(cat "$c")"`);
    expect(r.stdout).toMatch(/rc=7 calls=3/);
    expect(r.log).toMatch(/on attempt 3\/3; giving up/);
  });

  test('doubles the delay after each failure', () => {
    const r = sb.bash(`${flaky(4)}\nretry 4 0.01 flaky`);
    const delays = [...r.log.matchAll(/retrying in ([0-9.]+)s/g)].map((m) => Number(m[1]));
    expect(delays).toEqual([0.01, 0.02, 0.04]);
  });

  test('rejects a non-numeric attempt count with the bad value in the message', () => {
    const r = sb.bash('retry three 1 true');
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/attempts must be a positive integer, got 'three'/);
  });
});

describe('load_node_env', () => {
  test('file values load, but variables already in the environment win', () => {
    fs.writeFileSync(sb.envFile, "CLUSTER_NAME='from-file'\nCDKTF_SLURM_ROLES='controller dbd'\nGPU_TYPE='h100'\n# comment\n");
    const r = sb.bash('load_node_env; echo "$CLUSTER_NAME|$CDKTF_SLURM_ROLES|$GPU_TYPE"', { CLUSTER_NAME: 'from-env' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('from-env|controller dbd|h100');
  });

  test('an empty environment variable still beats the file (it is set)', () => {
    fs.writeFileSync(sb.envFile, "GPU_TYPE='h100'\n");
    const r = sb.bash('load_node_env; echo "[$GPU_TYPE]"', { GPU_TYPE: '' });
    expect(r.stdout.trim()).toBe('[]');
  });

  test('exports file values to child processes (the step scripts)', () => {
    fs.writeFileSync(sb.envFile, "CLUSTER_NAME='hpc'\n");
    const r = sb.bash('load_node_env; bash -c \'echo "child sees $CLUSTER_NAME"\'');
    expect(r.stdout.trim()).toBe('child sees hpc');
  });

  test('a missing file is not fatal (the environment alone may configure a step)', () => {
    const r = sb.bash('load_node_env; echo ok');
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/no node env file/);
  });
});

describe('install_if_changed', () => {
  rootOnly('reports a change, then no change on re-run, and sets owner and mode', () => {
    const src = sb.file('src.conf', 'A=1\n');
    const dest = path.join(sb.dir, 'out/dest.conf');
    const r = sb.bash(`
      install_if_changed "${src}" "${dest}" nobody 0640; echo "first=$INSTALL_CHANGED"
      install_if_changed "${src}" "${dest}" nobody 0640; echo "second=$INSTALL_CHANGED"
      chmod 0666 "${dest}"
      install_if_changed "${src}" "${dest}" nobody 0640; echo "mode-fix=$INSTALL_CHANGED"
      echo "A=2" > "${src}"
      install_if_changed "${src}" "${dest}" nobody 0640; echo "content=$INSTALL_CHANGED"
      install_if_changed "${src}" "${dest}" root:root 0640; echo "owner=$INSTALL_CHANGED"`);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/first=1\nsecond=0\nmode-fix=1\ncontent=1\nowner=1/);
    const st = fs.statSync(dest);
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.uid).toBe(0);
    expect(fs.readFileSync(dest, 'utf8')).toBe('A=2\n');
  });

  rootOnly('sets the named non-root owner', () => {
    const src = sb.file('src.conf', 'x\n');
    const dest = path.join(sb.dir, 'dest.conf');
    const r = sb.bash(`install_if_changed "${src}" "${dest}" nobody 0600; stat -c '%U %a' "${dest}"`);
    expect(r.stdout.trim()).toBe('nobody 600');
  });

  test('fails clearly for a missing source or a bad mode', () => {
    const missing = sb.bash(`install_if_changed "${sb.dir}/nope" "${sb.dir}/d" root 0644`);
    expect(missing.status).toBe(1);
    expect(missing.log).toMatch(/source file .*nope does not exist/);
    const src = sb.file('s', 'x');
    const badMode = sb.bash(`install_if_changed "${src}" "${sb.dir}/d" root rw-r--r--`);
    expect(badMode.status).toBe(1);
    expect(badMode.log).toMatch(/mode must be octal like 0644, got 'rw-r--r--'/);
  });
});

describe('fetch_secret', () => {
  const SECRET = 'Zq8-very-secret-value-4711';

  rootOnly('file: writes the value with the asked mode and owner, and never prints it', () => {
    const src = sb.file('secret.txt', SECRET, 0o600);
    const dest = path.join(sb.dir, 'out/secret');
    const r = sb.bash(`fetch_secret "file:${src}" "${dest}" nobody 0400; stat -c '%U %a' "${dest}"`);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('nobody 400');
    expect(fs.readFileSync(dest, 'utf8')).toBe(SECRET);
    for (const text of [r.stdout, r.stderr, r.log]) expect(text).not.toContain(SECRET);
  });

  test('keeps binary content byte for byte', () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const src = sb.file('bin.key', bytes, 0o600);
    const dest = path.join(sb.dir, 'bin.out');
    const r = sb.bash(`fetch_secret "file:${src}" "${dest}" root 0600`);
    expect(r.status).toBe(0);
    expect(fs.readFileSync(dest).equals(bytes)).toBe(true);
  });

  test('leaves no temp copy of the secret behind', () => {
    const src = sb.file('secret.txt', SECRET, 0o600);
    sb.bash(`fetch_secret "file:${src}" "${sb.dir}/dest" root 0600`);
    const leftovers = fs.readdirSync(sb.dir).filter((n) => n.startsWith('cdktf-slurm.'));
    expect(leftovers).toEqual([]);
  });

  test.each([
    ['file:relative/path', /must use an absolute path/],
    ['file:/nonexistent/secret', /does not exist or is unreadable/],
    ['vault:kv/x', /unknown secret source scheme 'vault'/],
    ['just-a-name', /has no scheme/],
    ['gcp-secretmanager:mysecret', /not of the form projects\/PROJECT\/secrets\/NAME/],
  ])('rejects %s with a clear message', (source, message) => {
    const r = sb.bash(`fetch_secret "${source}" "${sb.dir}/dest" root 0600`);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(fs.existsSync(path.join(sb.dir, 'dest'))).toBe(false);
  });
});

describe('start_service without systemd', () => {
  // A daemon that forks into the background, writes its pidfile, and counts its starts.
  function dummyDaemon(): { bin: string; pidfile: string; starts: string } {
    const pidfile = path.join(sb.dir, 'dummyd.pid');
    const starts = path.join(sb.dir, 'starts');
    const bin = sb.file(
      'bin/dummyd',
      // #!/bin/bash, not env: through env the process would be called "bash", not "dummyd".
      `#!/bin/bash
if [ "\${1:-}" != --child ]; then setsid "$0" --child </dev/null >/dev/null 2>&1 & exit 0; fi
echo started >> "${starts}"
echo $$ > "${pidfile}"
while :; do sleep 1; done
`,
      0o755,
    );
    return { bin, pidfile, starts };
  }
  const pids: number[] = [];
  afterEach(() => {
    // Kill what this test started: pids from pidfiles, plus any process running from the sandbox.
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(sb.dir)) pids.push(Number(entry));
      } catch {
        /* gone */
      }
    }
    for (const pid of pids.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
  const track = (pidfile: string): void => {
    if (fs.existsSync(pidfile)) pids.push(Number(fs.readFileSync(pidfile, 'utf8').trim()));
  };

  (fs.existsSync('/run/systemd/system') ? test.skip : test)('starts the daemon once and not again on re-run', () => {
    const d = dummyDaemon();
    const first = sb.bash(`SERVICE_START_TIMEOUT=5; start_service dummy "${d.pidfile}" "${d.bin}"; echo "started=$SERVICE_STARTED"`);
    track(d.pidfile);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/started=1/);
    const pid1 = fs.readFileSync(d.pidfile, 'utf8').trim();
    expect(fs.readFileSync(`/proc/${pid1}/comm`, 'utf8').trim()).toBe('dummyd');

    const second = sb.bash(`SERVICE_START_TIMEOUT=5; start_service dummy "${d.pidfile}" "${d.bin}"; echo "started=$SERVICE_STARTED"`);
    expect(second.status).toBe(0);
    expect(second.stdout).toMatch(/started=0/);
    expect(second.log).toMatch(/dummy already running \(pid \d+\)/);
    expect(fs.readFileSync(d.starts, 'utf8')).toBe('started\n');
    expect(fs.readFileSync(d.pidfile, 'utf8').trim()).toBe(pid1);
  });

  (fs.existsSync('/run/systemd/system') ? test.skip : test)('starts again when the pidfile is stale or names another program', () => {
    const d = dummyDaemon();
    fs.writeFileSync(d.pidfile, `${process.pid}\n`); // alive, but it is node, not dummyd
    const r = sb.bash(`SERVICE_START_TIMEOUT=5; start_service dummy "${d.pidfile}" "${d.bin}"; echo "started=$SERVICE_STARTED"`);
    track(d.pidfile);
    expect(r.stdout).toMatch(/started=1/);
    expect(fs.readFileSync(d.pidfile, 'utf8').trim()).not.toBe(String(process.pid));
  });

  (fs.existsSync('/run/systemd/system') ? test.skip : test)('restart_service replaces the running process', () => {
    const d = dummyDaemon();
    sb.bash(`SERVICE_START_TIMEOUT=5; start_service dummy "${d.pidfile}" "${d.bin}"`);
    const pid1 = fs.readFileSync(d.pidfile, 'utf8').trim();
    track(d.pidfile);
    const r = sb.bash(`SERVICE_START_TIMEOUT=5; restart_service dummy "${d.pidfile}" "${d.bin}"`);
    track(d.pidfile);
    expect(r.status).toBe(0);
    const pid2 = fs.readFileSync(d.pidfile, 'utf8').trim();
    expect(pid2).not.toBe(pid1);
    expect(fs.existsSync(`/proc/${pid1}`)).toBe(false);
    expect(fs.readFileSync(d.starts, 'utf8')).toBe('started\nstarted\n');
  });

  (fs.existsSync('/run/systemd/system') ? test.skip : test)('fails with the pidfile in the message when the daemon never comes up', () => {
    const bin = sb.file('bin/deadd', '#!/usr/bin/env bash\nexit 0\n', 0o755);
    const r = sb.bash(`SERVICE_START_TIMEOUT=1 start_service dead "${sb.dir}/dead.pid" "${bin}"`);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/dead did not come up: .*dead\.pid does not name a running deadd/);
  });
});

describe('versions and config parsing', () => {
  test.each([
    ['1:22.05.8-4+deb12u3', '22.05.8'],
    ['21.08.5-2ubuntu1', '21.08.5'],
    ['23.11.4-1.2ubuntu5', '23.11.4'],
    ['24.11.5-1', '24.11.5'],
  ])('_upstream_version %s -> %s', (deb, upstream) => {
    expect(sb.bash(`_upstream_version "${deb}"`).stdout.trim()).toBe(upstream);
  });

  test.each([
    ['22.05.8', '22.05', true],
    ['21.08.5', '22.05', false],
    ['23.11.4', '23.11', true],
    ['23.2.1', '23.11', false],
    ['24.11.0', '23.11', true],
  ])('version_ge %s %s is %s', (a, b, expected) => {
    expect(sb.bash(`version_ge ${a} ${b}`).status === 0).toBe(expected);
  });

  test('distro_slurm_version matches what dpkg says is installed', () => {
    const dq = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'slurm-client'], { encoding: 'utf8' });
    if (dq.status !== 0) {
      console.warn('SKIPPED: slurm-client is not installed here');
      return;
    }
    const expected = dq.stdout.replace(/^\d+:/, '').replace(/[-+~].*$/, '');
    expect(sb.bash('distro_slurm_version').stdout.trim()).toBe(expected);
  });

  test('os_id reads os-release', () => {
    const osr = fs.readFileSync('/etc/os-release', 'utf8');
    const id = /^ID=("?)([^"\n]*)\1$/m.exec(osr)?.[2];
    expect(sb.bash('os_id').stdout.trim().split(' ')[0]).toBe(id);
  });

  test('conf_get is case-insensitive, ignores comments, last value wins, falls back to the default', () => {
    const conf = sb.file(
      'slurm.conf',
      '# SlurmUser=commented\nslurmuser=first\nSlurmUser = slurm   # trailing comment\nStateSaveLocation=/var/spool/x\n',
    );
    const r = sb.bash(`conf_get "${conf}" SlurmUser root; conf_get "${conf}" statesavelocation; conf_get "${conf}" SlurmctldPidFile /run/slurmctld.pid`);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual(['slurm', '/var/spool/x', '/run/slurmctld.pid']);
  });

  describe('resolve_mount_source', () => {
    /** A fake aws CLI that answers one parameter, logging its arguments. */
    function fakeAws(value: string, status = 0): Record<string, string> {
      const bin = path.join(sb.dir, 'bin');
      fs.mkdirSync(bin, { recursive: true });
      sb.file('bin/aws', `#!/bin/bash\necho "$*" >>${sb.dir}/aws.calls\n[ ${status} = 0 ] || { echo "AccessDenied" >&2; exit ${status}; }\nprintf '%s\\n' ${JSON.stringify(value)}\n`, 0o755);
      return { PATH: `${bin}:${process.env.PATH}`, AWS_REGION: 'eu-west-1', SSM_RETRY_DELAY: '0' };
    }

    test('a literal source is printed as it is, without calling AWS', () => {
      const env = fakeAws('unused');
      const r = sb.bash('resolve_mount_source 10.0.0.5@tcp:/lfs', env);
      expect(r.stdout).toBe('10.0.0.5@tcp:/lfs\n');
      expect(fs.existsSync(path.join(sb.dir, 'aws.calls'))).toBe(false);
    });

    test('aws-ssm: reads the parameter in the instance region', () => {
      const env = fakeAws('fs-0abc.fsx.eu-west-1.amazonaws.com@tcp:/abcdefgh');
      const r = sb.bash('resolve_mount_source aws-ssm:/cdktf-slurm/hpc/filesystems/scratch', env);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('fs-0abc.fsx.eu-west-1.amazonaws.com@tcp:/abcdefgh\n');
      expect(fs.readFileSync(path.join(sb.dir, 'aws.calls'), 'utf8')).toBe(
        'ssm get-parameter --region eu-west-1 --name /cdktf-slurm/hpc/filesystems/scratch --query Parameter.Value --output text\n',
      );
    });

    test('a denied or empty parameter fails naming it and the permission', () => {
      const denied = sb.bash('resolve_mount_source aws-ssm:/cdktf-slurm/hpc/filesystems/scratch', fakeAws('x', 3));
      expect(denied.status).not.toBe(0);
      expect(denied.stderr).toMatch(/could not read SSM parameter \/cdktf-slurm\/hpc\/filesystems\/scratch in eu-west-1; the instance role needs ssm:GetParameter/);
      const empty = sb.bash('resolve_mount_source aws-ssm:/cdktf-slurm/hpc/filesystems/scratch', fakeAws('None'));
      expect(empty.status).not.toBe(0);
      expect(empty.stderr).toMatch(/is empty; was the file system created/);
      const bad = sb.bash('resolve_mount_source "aws-ssm:no slash"', fakeAws('x'));
      expect(bad.stderr).toMatch(/is not a path like/);
    });
  });
});

describe('read_ssm_parameter waits for a parameter its server has not published yet; write_ssm_parameter', () => {
  const NAME = '/cdktf-slurm/hpc/filesystems/cephfs';
  const VALUE = 'slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/';
  /**
   * A fake aws keeping one parameter in a file. get-parameter answers ParameterNotFound while the file is absent,
   * or until its FAKE_FOUND_ON-th call; FAKE_DENY=1 answers AccessDenied to everything; FAKE_PUT_FAILS=1 to
   * put-parameter only. Every call is recorded.
   */
  function fakeAws(extra: Record<string, string> = {}): Record<string, string> {
    const bin = path.join(sb.dir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    sb.file(
      'bin/aws',
      `#!/bin/bash
calls="${sb.dir}/aws.calls" param="${sb.dir}/param"
echo "$*" >>"$calls"
[[ -z "\${FAKE_DENY:-}" ]] || { echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2; exit 254; }
value="" prev=""
for a in "$@"; do [[ "$prev" == --value ]] && value=$a; prev=$a; done
case " $* " in
  *" get-parameter "*)
    n=$(grep -c ' get-parameter ' "$calls")
    if [[ -n "\${FAKE_FOUND_ON:-}" ]] && (( n >= FAKE_FOUND_ON )); then printf '%s\\n' "$FAKE_VALUE"; exit 0; fi
    [[ -f "$param" ]] || { echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: " >&2; exit 254; }
    cat "$param"; echo ;;
  *" put-parameter "*)
    [[ -z "\${FAKE_PUT_FAILS:-}" ]] || { echo "An error occurred (AccessDeniedException) when calling the PutParameter operation" >&2; exit 254; }
    printf '%s' "$value" >"$param"; echo '{"Version": 1}' ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
`,
      0o755,
    );
    return { PATH: `${bin}:${process.env.PATH}`, AWS_REGION: 'eu-west-1', SSM_RETRY_DELAY: '0', FAKE_VALUE: VALUE, ...extra };
  }
  const awsCalls = (): string[] => {
    const p = path.join(sb.dir, 'aws.calls');
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
  };
  const GET = `ssm get-parameter --region eu-west-1 --name ${NAME} --query Parameter.Value --output text`;
  const put = (value: string): string => `ssm put-parameter --region eu-west-1 --name ${NAME} --type String --overwrite --value ${value}`;

  test('a parameter that does not exist yet is polled until it appears (here on the third read)', () => {
    const r = sb.bash(`read_ssm_parameter ${NAME}`, fakeAws({ FAKE_FOUND_ON: '3', SSM_WAIT_POLL: '0.05', SSM_WAIT_SECONDS: '60' }));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${VALUE}\n`);
    expect(awsCalls()).toEqual([GET, GET, GET]);
    expect(r.log.match(/SSM parameter \/cdktf-slurm\/hpc\/filesystems\/cephfs does not exist yet .*checking again in 0\.05s/g)).toHaveLength(2);
    // Not-found is an answer, not a failure: no retry noise.
    expect(r.log).not.toMatch(/retry:/);
  });

  test('a parameter that never appears fails after SSM_WAIT_SECONDS, asking whether its server finished booting', () => {
    const t0 = Date.now();
    const r = sb.bash(`read_ssm_parameter ${NAME}`, fakeAws({ SSM_WAIT_POLL: '0.2', SSM_WAIT_SECONDS: '3' }), 30000);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/ERROR: SSM parameter \/cdktf-slurm\/hpc\/filesystems\/cephfs does not exist after [34]s in eu-west-1: has its server finished booting\?/);
    // Polled every 0.2 s for at most 4 s (SECONDS counts whole seconds): more than twice, not in a busy loop.
    expect(awsCalls().length).toBeGreaterThan(2);
    expect(awsCalls().length).toBeLessThanOrEqual(22);
    expect(Date.now() - t0).toBeLessThan(20000);
  });

  test('other errors keep the bounded retry and do not wait', () => {
    const r = sb.bash(`read_ssm_parameter ${NAME}`, fakeAws({ FAKE_DENY: '1', SSM_WAIT_POLL: '0.05', SSM_WAIT_SECONDS: '60' }));
    expect(r.status).toBe(1);
    expect(awsCalls()).toEqual([GET, GET, GET, GET, GET]);
    expect(r.stderr).toMatch(/could not read SSM parameter .* the instance role needs ssm:GetParameter.*AccessDeniedException/);
    expect(r.log).not.toMatch(/does not exist yet/);
  });

  test('leaves no temp dir behind when used inside $(…)', () => {
    const r = sb.bash(`v=$(read_ssm_parameter ${NAME}); echo "got $v"`, fakeAws({ FAKE_FOUND_ON: '1' }));
    expect(r.stdout).toBe(`got ${VALUE}\n`);
    expect(fs.readdirSync(sb.dir).filter((n) => n.startsWith('cdktf-slurm.'))).toEqual([]);
  });

  test('write_ssm_parameter writes a missing parameter, skips an equal one, rewrites a different one', () => {
    const env = fakeAws();
    const first = sb.bash(`write_ssm_parameter ${NAME} '${VALUE}'`, env);
    expect(first.status).toBe(0);
    expect(awsCalls()).toEqual([GET, put(VALUE)]);
    expect(fs.readFileSync(path.join(sb.dir, 'param'), 'utf8')).toBe(VALUE);
    expect(first.log).toMatch(/published slurm@.* in SSM parameter \/cdktf-slurm\/hpc\/filesystems\/cephfs \(eu-west-1\)/);

    const same = sb.bash(`write_ssm_parameter ${NAME} '${VALUE}'`, env);
    expect(same.status).toBe(0);
    expect(awsCalls()).toEqual([GET, put(VALUE), GET]);
    expect(same.log).toMatch(/already holds slurm@/);

    const other = VALUE.replace('slurm@', 'hpc@');
    const changed = sb.bash(`write_ssm_parameter ${NAME} '${other}'`, env);
    expect(changed.status).toBe(0);
    expect(awsCalls()).toEqual([GET, put(VALUE), GET, GET, put(other)]);
    expect(fs.readFileSync(path.join(sb.dir, 'param'), 'utf8')).toBe(other);
  });

  test('write_ssm_parameter dies naming ssm:PutParameter when the write is refused', () => {
    const r = sb.bash(`write_ssm_parameter ${NAME} '${VALUE}'`, fakeAws({ FAKE_PUT_FAILS: '1' }));
    expect(r.status).toBe(1);
    expect(awsCalls().filter((c) => c.includes('put-parameter'))).toHaveLength(5);
    expect(r.stderr).toMatch(/could not write SSM parameter \/cdktf-slurm\/hpc\/filesystems\/cephfs in eu-west-1; this host's role needs ssm:PutParameter on it/);
  });

  test('write_ssm_parameter refuses a name that is not a parameter path, calling nothing', () => {
    const r = sb.bash(`write_ssm_parameter cephfs '${VALUE}'`, fakeAws());
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SSM parameter name 'cephfs' is not a path/);
    expect(awsCalls()).toEqual([]);
  });
});
