/**
 * storage/cephfs-server.sh against fakes on PATH: `snap`, `microceph` and `microceph.ceph` share a small state
 * machine in the sandbox (bootstrapped flag, OSD list, pools with size/min_size, file systems, cephx entries,
 * fsid, health, MDS state), `aws` keeps the Secrets Manager value and the SSM parameters in files, `ip` lists
 * this host's addresses, and `sleep` is capped at 50 ms (common.sh's fixed retry delays would otherwise cost
 * seconds). Every fake records its calls, so the tests assert which creating commands ran, and that a re-run
 * issues none of them. The script is sourced with have_systemd stubbed, as the other step tests do.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, SCRIPTS_DIR } from './sh';

const SCRIPT = path.join(SCRIPTS_DIR, 'storage/cephfs-server.sh');
const KEY = 'AQBxy2RlAAAAABAAk3h1Jw8Xq0pVZk8t3l1mQw==';
const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const PARAM = '/cdktf-slurm/hpc/filesystems/cephfs';
const SOURCE = `slurm@${FSID}.cephfs=/`;
const REAL_SLEEP = spawnSync('bash', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim();

const FAKES: Record<string, string> = {
  snap: `#!/bin/bash
printf 'snap %s\\n' "$*" >>"$FAKE/calls"
case "$1" in
  list)
    [[ -f "$FAKE/snap-channel" ]] || { echo 'error: no matching snaps installed' >&2; exit 1; }
    notes=-; [[ -f "$FAKE/snap-held" ]] && notes=held
    printf 'Name       Version      Rev   Tracking      Publisher    Notes\\n'
    printf 'microceph  19.2.1+snap  1393  %s  canonical**  %s\\n' "$(cat "$FAKE/snap-channel")" "$notes" ;;
  wait) ;;
  install)
    for a in "$@"; do [[ "$a" == --channel=* ]] && echo "\${a#--channel=}" >"$FAKE/snap-channel"; done
    echo 'microceph 19.2.1+snap from Canonical** installed' ;;
  refresh) [[ " $* " == *" --hold "* ]] && touch "$FAKE/snap-held" ;;
  *) echo "unexpected: snap $*" >&2; exit 99 ;;
esac
`,
  microceph: `#!/bin/bash
printf 'microceph %s\\n' "$*" >>"$FAKE/calls"
[[ -f "$FAKE/snap-channel" ]] || { echo 'microceph: command not found' >&2; exit 127; }
case "$1" in
  status)
    [[ -f "$FAKE/bootstrapped" ]] || { echo 'Error: Daemon not yet initialized' >&2; exit 1; }
    printf 'MicroCeph deployment summary:\\n- cephfs-1 (10.0.0.5)\\n  Services: mds, mgr, mon, osd\\n  Disks: %s\\n' "$(wc -l <"$FAKE/osds")" ;;
  cluster)
    [[ "$2 $3" == "bootstrap --mon-ip" ]] || { echo "unexpected: microceph $*" >&2; exit 99; }
    [[ ! -f "$FAKE/bootstrapped" ]] || { echo 'Error: already initialized' >&2; exit 1; }
    touch "$FAKE/bootstrapped" ;;
  disk)
    [[ "$2" == add && "$3" =~ ^loop,[0-9]+G,([0-9]+)$ ]] || { echo "unexpected: microceph $*" >&2; exit 99; }
    n=$(wc -l <"$FAKE/osds")
    for ((i = 0; i < BASH_REMATCH[1]; i++)); do echo $((n + i)) >>"$FAKE/osds"; done ;;
  *) echo "unexpected: microceph $*" >&2; exit 99 ;;
esac
`,
  'microceph.ceph': `#!/bin/bash
printf 'microceph.ceph %s\\n' "$*" >>"$FAKE/calls"
[[ -f "$FAKE/bootstrapped" ]] || { echo 'Error initializing cluster client: ObjectNotFound' >&2; exit 1; }
case "$*" in
  "osd ls") cat "$FAKE/osds" ;;
  "osd stat -f json")
    n=$(wc -l <"$FAKE/osds"); u=\${FAKE_OSDS_UP:-$n}
    printf '{"epoch":12,"num_osds":%s,"num_up_osds":%s,"osd_up_since":1700000000,"num_in_osds":%s,"osd_in_since":1700000000,"num_remapped_pgs":0}\\n' "$n" "$u" "$n" ;;
  "health -f json")
    h=\${FAKE_HEALTH:-HEALTH_OK}
    if [[ "$h" == HEALTH_OK ]]; then echo '{"status":"HEALTH_OK","checks":{},"mutes":[]}'
    else printf '{"status":"%s","checks":{"OSD_DOWN":{"severity":"%s","summary":{"message":"1 osds down","count":1},"muted":false}},"mutes":[]}\\n' "$h" "$h"; fi ;;
  "osd pool ls") awk '{ print $1 }' "$FAKE/pools" ;;
  "osd pool create "*) echo "$4 3 2" >>"$FAKE/pools"; echo "pool '$4' created" >&2 ;;
  "osd pool get "*)
    grep -q "^$4 " "$FAKE/pools" || { echo "Error ENOENT: unrecognized pool '$4'" >&2; exit 2; }
    awk -v p="$4" -v k="$5" '$1 == p { print k ": " (k == "size" ? $2 : $3) }' "$FAKE/pools" ;;
  "osd pool set "*)
    if [[ "$5 $6" == "size 1" ]]; then
      grep -qx 'mon_allow_pool_size_one true' "$FAKE/config" 2>/dev/null || { echo 'Error EPERM: configuring pool size as 1 is disabled by default.' >&2; exit 1; }
      [[ "\${7:-}" == --yes-i-really-mean-it ]] || { echo 'Error EPERM: WARNING: setting pool size 1 could lead to data loss without recovery.' >&2; exit 1; }
    fi
    awk -v p="$4" -v k="$5" -v v="$6" '$1 == p { if (k == "size") { $2 = v; if ($3 > v) $3 = v } else $3 = v } { print }' "$FAKE/pools" >"$FAKE/pools.new"
    mv "$FAKE/pools.new" "$FAKE/pools"; echo "set pool $4 $5 to $6" >&2 ;;
  "config set global "*) echo "$4 $5" >>"$FAKE/config" ;;
  "fs ls -f json")
    out=""; while read -r n m d; do out+="\${out:+,}{\\"name\\":\\"$n\\",\\"metadata_pool\\":\\"$m\\",\\"metadata_pool_id\\":2,\\"data_pool_ids\\":[1],\\"data_pools\\":[\\"$d\\"]}"; done <"$FAKE/fs"
    echo "[$out]" ;;
  "fs new "*)
    grep -q "^$4 " "$FAKE/pools" && grep -q "^$5 " "$FAKE/pools" || { echo 'Error ENOENT: pool does not exist' >&2; exit 2; }
    echo "$3 $4 $5" >>"$FAKE/fs"; echo "  Pool '$5' (id '1') has pg autoscale mode 'on'" >&2 ;;
  "auth get client."*)
    [[ -f "$FAKE/auth/$3" ]] || { echo "Error ENOENT: failed to find $3 in keyring" >&2; exit 2; }
    printf '[%s]\\n\\tkey = %s\\n\\tcaps mds = "allow rw fsname=cephfs"\\n' "$3" "$(cat "$FAKE/auth/$3")" ;;
  "fs authorize "*)
    [[ -f "$FAKE/auth/$4" ]] || printf '%s' "$FAKE_KEY" >"$FAKE/auth/$4"
    printf '[%s]\\n\\tkey = %s\\n' "$4" "$(cat "$FAKE/auth/$4")" ;;
  "auth print-key client."*)
    [[ -f "$FAKE/auth/$3" ]] || { echo "Error ENOENT: failed to find $3 in keyring" >&2; exit 2; }
    cat "$FAKE/auth/$3" ;;
  fsid) echo "$FAKE_FSID" ;;
  "fs status "*" -f json")
    grep -q "^$3 " "$FAKE/fs" || { echo "Error ENOENT: filesystem '$3' not found" >&2; exit 2; }
    printf '{"clients":[{"clients":0,"fs":"%s"}],"mds_version":[{"daemon":["cephfs-1"],"version":"ceph version 19.2.1"}],"mdsmap":[{"caps":0,"dirs":12,"dns":10,"inos":13,"name":"cephfs-1","rank":0,"rate":0,"state":"%s"}],"pools":[]}\\n' "$3" "\${FAKE_MDS_STATE:-active}" ;;
  *) echo "unexpected: microceph.ceph $*" >&2; exit 99 ;;
esac
`,
  aws: `#!/bin/bash
printf 'aws %s\\n' "$*" >>"$FAKE/calls"
name="" value="" src="" prev=""
for a in "$@"; do
  case "$prev" in --name) name=$a ;; --value) value=$a ;; --secret-binary) src=\${a#fileb://} ;; esac
  prev=$a
done
store="$FAKE/secret.bin" param="$FAKE/ssm/\${name//\\//%}"
case " $* " in
  *" get-secret-value "*)
    if [[ ! -s "$store" ]]; then
      echo "An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" >&2
      exit 254
    fi
    if [[ " $* " == *" SecretBinary "* ]]; then base64 -w0 <"$store"; echo; else echo None; fi ;;
  *" put-secret-value "*) cp "$src" "$store"; echo '{}' ;;
  *" ssm get-parameter "*)
    [[ -f "$param" ]] || { echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: " >&2; exit 254; }
    cat "$param"; echo ;;
  *" ssm put-parameter "*) mkdir -p "$FAKE/ssm"; printf '%s' "$value" >"$param"; echo '{"Version": 1, "Tier": "Standard"}' ;;
  *) echo "unexpected: aws $*" >&2; exit 99 ;;
esac
`,
  ip: `#!/bin/bash
printf '1: lo    inet 127.0.0.1/8 scope host lo\\n2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\n'
`,
  sleep: `#!/bin/bash
exec ${REAL_SLEEP} "$(awk -v d="\${1:-0}" 'BEGIN { print (d > 0.05 ? 0.05 : d) }')"
`,
};

let sb: Sandbox;
let fake: string;

beforeEach(() => {
  sb = new Sandbox();
  fake = path.join(sb.dir, 'fake');
  fs.mkdirSync(path.join(fake, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(fake, 'auth'));
  for (const [name, text] of Object.entries(FAKES)) fs.writeFileSync(path.join(fake, 'bin', name), text, { mode: 0o755 });
  for (const f of ['osds', 'pools', 'fs']) fs.writeFileSync(path.join(fake, f), '');
});
afterEach(() => sb.cleanup());

function env(over: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${path.join(fake, 'bin')}:${process.env.PATH}`,
    FAKE: fake,
    FAKE_KEY: KEY,
    FAKE_FSID: FSID,
    AWS_REGION: 'eu-west-1',
    CEPHFS_MON_IP: '10.0.0.5',
    CEPHFS_KEY_SOURCE: 'generate+aws-secretsmanager:hpc/cephfs-slurm-key',
    CEPHFS_SOURCE_PARAMETER: PARAM,
    CEPHFS_OSD_SIZE_GIB: '4',
    CEPHFS_WAIT_SECONDS: '5',
    CEPHFS_WAIT_POLL: '0.05',
    CEPHFS_RETRY_DELAY: '0',
    SSM_RETRY_DELAY: '0',
    ...over,
  };
}

/** Source the script on a host with or without systemd and run its main. */
const run = (over: Record<string, string> = {}, systemd = true) =>
  sb.bash(`source ${JSON.stringify(SCRIPT)}\nhave_systemd() { return ${systemd ? 0 : 1}; }\nmain`, env(over), 30000);

const calls = (): string[] => {
  const p = path.join(fake, 'calls');
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter(Boolean) : [];
};
const resetCalls = (): void => fs.rmSync(path.join(fake, 'calls'), { force: true });
const read = (name: string): string => fs.readFileSync(path.join(fake, name), 'utf8');
const paramValue = (): string | undefined => {
  const p = path.join(fake, 'ssm', PARAM.replace(/\//g, '%'));
  return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined;
};
const CREATING = /^microceph cluster bootstrap|^microceph disk add|^microceph\.ceph (osd pool create|osd pool set|config set|fs new|fs authorize)|^aws .*(put-secret-value|put-parameter)|^snap (install|refresh)/;
const expectNoKey = (r: { stdout: string; stderr: string; log: string }): void => {
  for (const t of [r.stdout, r.stderr, r.log, ...calls()]) expect(t).not.toContain(KEY.slice(0, 16));
};

/** A host where MicroCeph is installed, held and bootstrapped, with OSDs 0..n-1. */
function bootstrapped(osds: number): void {
  fs.writeFileSync(path.join(fake, 'snap-channel'), 'squid/stable\n');
  fs.writeFileSync(path.join(fake, 'snap-held'), '');
  fs.writeFileSync(path.join(fake, 'bootstrapped'), '');
  fs.writeFileSync(path.join(fake, 'osds'), Array.from({ length: osds }, (_, i) => `${i}\n`).join(''));
}

describe('storage/cephfs-server.sh', () => {
  test('first run: installs and holds the snap, bootstraps, adds 3 loop OSDs, creates pools, fs and client, stores the key, publishes the source', () => {
    const r = run();
    expect(r.log).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    const c = calls();
    expect(c.filter((l) => CREATING.test(l))).toEqual([
      'snap install microceph --channel=squid/stable',
      'snap refresh --hold microceph',
      'microceph cluster bootstrap --mon-ip 10.0.0.5',
      'microceph disk add loop,4G,3',
      'microceph.ceph osd pool create cephfs_metadata',
      'microceph.ceph osd pool create cephfs_data',
      'microceph.ceph fs new cephfs cephfs_metadata cephfs_data',
      'microceph.ceph fs authorize cephfs client.slurm / rw',
      expect.stringMatching(/^aws --region eu-west-1 secretsmanager put-secret-value --secret-id hpc\/cephfs-slurm-key --secret-binary fileb:\/\//),
      `aws ssm put-parameter --region eu-west-1 --name ${PARAM} --type String --overwrite --value ${SOURCE}`,
    ]);
    // 3 OSDs: the pools keep Ceph's default replication.
    expect(read('pools')).toBe('cephfs_metadata 3 2\ncephfs_data 3 2\n');
    expect(read('osds')).toBe('0\n1\n2\n');
    expect(read('secret.bin')).toBe(KEY);
    expect(paramValue()).toBe(SOURCE);
    expect(r.log).toMatch(/an MDS is active for cephfs/);
    expect(r.log).toMatch(/CephFS cephfs is ready/);
    expectNoKey(r);
  });

  test('a second run issues no creating command and rewrites neither the secret nor the parameter', () => {
    expect(run().status).toBe(0);
    const secretMtime = fs.statSync(path.join(fake, 'secret.bin')).mtimeMs;
    resetCalls();
    const r = run();
    expect(r.status).toBe(0);
    expect(calls().filter((l) => CREATING.test(l))).toEqual([]);
    // It did look: the checks ran against the same state.
    expect(calls()).toEqual(expect.arrayContaining(['microceph status', 'microceph.ceph osd ls', 'microceph.ceph auth get client.slurm']));
    expect(calls().filter((l) => / get-secret-value | ssm get-parameter /.test(l)).length).toBeGreaterThan(0);
    expect(fs.statSync(path.join(fake, 'secret.bin')).mtimeMs).toBe(secretMtime);
    expect(r.log).toMatch(/the key of client\.slurm is already in aws-secretsmanager:hpc\/cephfs-slurm-key/);
    expect(r.log).toMatch(/already holds slurm@/);
    expectNoKey(r);
  });

  test('with 2 OSDs present only 1 is added, and the cluster is not bootstrapped again', () => {
    bootstrapped(2);
    const r = run();
    expect(r.status).toBe(0);
    expect(calls().filter((l) => /^microceph (cluster|disk)/.test(l))).toEqual(['microceph disk add loop,4G,1']);
    expect(calls().filter((l) => /^snap (install|refresh)/.test(l))).toEqual([]);
    expect(read('osds')).toBe('0\n1\n2\n');
  });

  test('CEPHFS_OSD_COUNT=1: pool size 1 (allowed first, then insisted on), min_size 1', () => {
    const r = run({ CEPHFS_OSD_COUNT: '1' });
    expect(r.log).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(calls()).toContain('microceph disk add loop,4G,1');
    expect(calls().filter((l) => /^microceph\.ceph (config set|osd pool set)/.test(l))).toEqual([
      'microceph.ceph config set global mon_allow_pool_size_one true',
      'microceph.ceph osd pool set cephfs_metadata size 1 --yes-i-really-mean-it',
      'microceph.ceph config set global mon_allow_pool_size_one true',
      'microceph.ceph osd pool set cephfs_data size 1 --yes-i-really-mean-it',
    ]);
    expect(read('pools')).toBe('cephfs_metadata 1 1\ncephfs_data 1 1\n');
    resetCalls();
    expect(run({ CEPHFS_OSD_COUNT: '1' }).status).toBe(0);
    expect(calls().filter((l) => CREATING.test(l))).toEqual([]);
  });

  test('CEPHFS_OSD_COUNT=2: pool size 2 and min_size 1', () => {
    const r = run({ CEPHFS_OSD_COUNT: '2' });
    expect(r.status).toBe(0);
    expect(calls().filter((l) => /^microceph\.ceph (config set|osd pool set)/.test(l))).toEqual([
      'microceph.ceph osd pool set cephfs_metadata size 2',
      'microceph.ceph osd pool set cephfs_metadata min_size 1',
      'microceph.ceph osd pool set cephfs_data size 2',
      'microceph.ceph osd pool set cephfs_data min_size 1',
    ]);
    expect(read('pools')).toBe('cephfs_metadata 2 1\ncephfs_data 2 1\n');
  });

  test('a store holding another value gets the current key; nothing else is recreated', () => {
    bootstrapped(3);
    expect(run().status).toBe(0);
    fs.writeFileSync(path.join(fake, 'secret.bin'), 'AQDstaleAAAAABAAzzzzzzzzzzzzzzzzzzzzzz==');
    resetCalls();
    const r = run();
    expect(r.status).toBe(0);
    expect(calls().filter((l) => CREATING.test(l))).toEqual([expect.stringMatching(/ put-secret-value /)]);
    expect(read('secret.bin')).toBe(KEY);
    expectNoKey(r);
  });

  test('another file system and client name shape the pools, the authorization and the source', () => {
    const r = run({ CEPHFS_NAME: 'scratch', CEPHFS_CLIENT: 'hpc' });
    expect(r.status).toBe(0);
    expect(calls()).toEqual(
      expect.arrayContaining(['microceph.ceph fs new scratch scratch_metadata scratch_data', 'microceph.ceph fs authorize scratch client.hpc / rw']),
    );
    expect(paramValue()).toBe(`hpc@${FSID}.scratch=/`);
  });

  test('without CEPHFS_SOURCE_PARAMETER the source is only logged, and SSM is not called', () => {
    const r = run({ CEPHFS_SOURCE_PARAMETER: '' });
    expect(r.status).toBe(0);
    expect(r.log).toContain(`mount source for the clients: ${SOURCE}`);
    expect(calls().filter((l) => / ssm /.test(l))).toEqual([]);
  });

  test('a missing CEPHFS_MON_IP fails naming it, before anything is installed', () => {
    const r = run({ CEPHFS_MON_IP: '' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/CEPHFS_MON_IP is not set/);
    expect(calls()).toEqual([]);
  });

  test.each([
    [{ CEPHFS_KEY_SOURCE: 'file:/etc/ceph/key' }, /CEPHFS_KEY_SOURCE='file:\/etc\/ceph\/key' must be generate\+aws-secretsmanager/],
    [{ CEPHFS_KEY_SOURCE: '' }, /CEPHFS_KEY_SOURCE is not set/],
    [{ CEPHFS_MON_IP: '10.0.0.300' }, /CEPHFS_MON_IP='10\.0\.0\.300' is not an IPv4 or IPv6 address/],
    [{ CEPHFS_CLIENT: 'client.slurm' }, /CEPHFS_CLIENT='client\.slurm' must be the name without 'client\.'/],
    [{ CEPHFS_OSD_COUNT: '0' }, /CEPHFS_OSD_COUNT='0' must be 1-99/],
    [{ CEPHFS_SOURCE_PARAMETER: 'cephfs' }, /CEPHFS_SOURCE_PARAMETER='cephfs' is not an SSM parameter path/],
  ])('rejects %o before doing anything', (over, message) => {
    const r = run(over);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(calls()).toEqual([]);
  });

  test('without systemd it dies explaining that snapd needs it', () => {
    const r = run({}, false);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/snapd needs systemd/);
    expect(calls()).toEqual([]);
  });

  test('a monitor address that is not this host\'s is refused before the bootstrap', () => {
    const r = run({ CEPHFS_MON_IP: '10.9.9.9' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/CEPHFS_MON_IP=10\.9\.9\.9 is not an address of this host \(it has: 127\.0\.0\.1 10\.0\.0\.5 \)/);
    expect(calls().filter((l) => /cluster bootstrap/.test(l))).toEqual([]);
  });

  test.each([
    [{ FAKE_HEALTH: 'HEALTH_ERR' }, /Ceph is not usable after 3s: health HEALTH_ERR \(OSD_DOWN\), 3 of 3 OSD\(s\) up \(want 3\)/],
    [{ FAKE_HEALTH: 'HEALTH_WARN', FAKE_OSDS_UP: '2' }, /Ceph is not usable after 3s: health HEALTH_WARN \(OSD_DOWN\), 2 of 3 OSD\(s\) up/],
  ])('health that never gets usable (%o) fails after the bound, naming the state, before any pool', (over, message) => {
    const t0 = Date.now();
    // A 3 s bound with the fakes' 50 ms sleeps: several polls even on a loaded machine.
    const r = run({ ...over, CEPHFS_WAIT_SECONDS: '3' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
    expect(Date.now() - t0).toBeLessThan(20000);
    expect(calls().filter((l) => / osd pool create | fs new /.test(l))).toEqual([]);
    expect(calls().filter((l) => l === 'microceph.ceph health -f json').length).toBeGreaterThan(1);
  });

  test('an MDS that never becomes active fails after the bound, naming the states seen', () => {
    const r = run({ FAKE_MDS_STATE: 'standby', CEPHFS_WAIT_SECONDS: '1' });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/no MDS is active for file system cephfs after 1s \(MDS states seen: standby\)/);
    expectNoKey(r);
  });
});
