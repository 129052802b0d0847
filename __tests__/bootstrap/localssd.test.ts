/**
 * bootstrap-scripts/gcp/localssd-raid.sh on real block devices (loop devices over sparse files), with the
 * device glob pointing at symlinks in a temp dir the way /dev/disk/by-id/google-local-nvme-ssd-* point at
 * /dev/nvme*. Mounts happen inside a private mount namespace, so the host's mount table is untouched, and the
 * fstab is a sandbox file.
 *
 * - One SSD: formatted and mounted directly, no mdadm (run for real).
 * - Several SSDs: the RAID0 path for real when the kernel has the md driver; otherwise (as on this project's
 *   container machines) the same path with a stub mdadm whose "array" is a third loop device, so everything
 *   but the md kernel driver is still exercised.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Sandbox, SCRIPTS_DIR } from './sh';

const STEP = 'gcp/localssd-raid.sh';
const have = (cmd: string): boolean => spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
const isRoot = process.getuid?.() === 0;

// Loop-device tests need root, a free loop device, mkfs.ext4 and unshare (private mount namespace).
const loopMissing = [
  !isRoot && 'root',
  !(have('losetup') && spawnSync('losetup', ['--find']).status === 0) && 'a free loop device (losetup --find)',
  !have('mkfs.ext4') && 'mkfs.ext4',
  !have('unshare') && 'unshare',
].filter(Boolean);
const canLoop = loopMissing.length === 0;
if (!canLoop) console.warn(`\n!!! SKIPPING localssd-raid.sh loop-device tests: missing ${loopMissing.join(', ')}\n`);

// A real RAID0 additionally needs mdadm and the kernel's md driver.
const mdMissing = [
  ...loopMissing,
  !have('mdadm') && 'mdadm (apt-get install mdadm)',
  !(fs.existsSync('/proc/mdstat') || spawnSync('modinfo', ['raid0']).status === 0) && 'the kernel md/raid0 driver (/proc/mdstat)',
].filter(Boolean);
const canMd = mdMissing.length === 0;
if (!canMd) console.warn(`\n!!! SKIPPING the real mdadm RAID0 test of localssd-raid.sh: missing ${mdMissing.join(', ')} (the stub-mdadm RAID test still runs)\n`);

let sb: Sandbox;
const loops: string[] = [];
const tag = `t${process.pid}`;
let fstab: string;
let mountPoint: string;

function newLoop(name: string, label?: string): string {
  const img = sb.file(`img/${name}`, Buffer.alloc(0));
  fs.truncateSync(img, 32 * 1024 * 1024);
  if (label) execFileSync('mkfs.ext4', ['-q', '-L', label, img]);
  const dev = execFileSync('losetup', ['--find', '--show', img], { encoding: 'utf8' }).trim();
  loops.push(dev);
  return dev;
}

/** by-id style symlinks to the given devices; returns the glob that matches them. */
function byId(devs: Record<string, string>): string {
  for (const [name, dev] of Object.entries(devs)) {
    fs.mkdirSync(path.join(sb.dir, 'by-id'), { recursive: true });
    fs.symlinkSync(dev, path.join(sb.dir, 'by-id', name));
  }
  return path.join(sb.dir, 'by-id/google-local-nvme-ssd-*');
}

interface Run {
  status: number;
  mounted: string;
  mode: string;
  log: string;
}

/**
 * Runs the step once per entry, all inside one private mount namespace (so a later run sees the earlier
 * mount); `between` is shell run before each run after the first (e.g. a simulated reboot).
 */
function runInNamespace(env: Record<string, string>, runs: number, between = ''): Run[] {
  const script = [
    'for i in $(seq 1 "$RUNS"); do',
    '  if ((i > 1)); then eval "$BETWEEN"; fi',
    '  rc=0; CDKTF_SLURM_LOG_DIR="$LOGS/$i" bash "$STEP" || rc=$?',
    '  echo "run=$i rc=$rc mounted=$(findmnt -rn -o SOURCE --mountpoint "$MP" || true) mode=$(stat -c %a "$MP" 2>/dev/null || true)"',
    'done',
  ].join('\n');
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60000,
    env: sb.env({
      STEP: path.join(SCRIPTS_DIR, STEP),
      LOGS: path.join(sb.dir, 'logs'),
      RUNS: String(runs),
      BETWEEN: between,
      MP: mountPoint,
      LOCALSSD_MOUNT_POINT: mountPoint,
      LOCALSSD_FSTAB: fstab,
      LOCALSSD_LABEL: tag,
      ...env,
    }),
  });
  expect(r.error).toBeUndefined();
  const out: Run[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^run=(\d+) rc=(\d+) mounted=(\S*) mode=(\S*)$/.exec(line);
    if (!m) continue;
    const logFile = path.join(sb.dir, 'logs', m[1], 'bootstrap.log');
    out.push({ status: Number(m[2]), mounted: m[3], mode: m[4], log: fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '' });
  }
  expect(out).toHaveLength(runs);
  return out;
}

const fstabLines = (): string[] => fs.readFileSync(fstab, 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
const blkid = (dev: string, tagName: string): string =>
  spawnSync('blkid', ['-c', '/dev/null', '-o', 'value', '-s', tagName, dev], { encoding: 'utf8' }).stdout.trim();

beforeEach(() => {
  sb = new Sandbox();
  fstab = sb.file('fstab', '# test fstab\nUUID=1234 / ext4 defaults 0 1\n');
  mountPoint = path.join(sb.dir, 'mnt/localssd');
  fs.writeFileSync(sb.envFile, '');
});
afterEach(() => {
  for (const dev of loops.splice(0)) spawnSync('losetup', ['-d', dev]);
  sb.cleanup();
});

describe('localssd-raid.sh without local SSDs', () => {
  test('logs that there are none and exits 0', () => {
    const r = sb.script(STEP, { LOCALSSD_DEVICE_GLOB: path.join(sb.dir, 'by-id/google-local-nvme-ssd-*'), LOCALSSD_FSTAB: fstab });
    expect(r.status).toBe(0);
    expect(r.log).toMatch(/no local SSD matches .*google-local-nvme-ssd-\*; nothing to do/);
    expect(fs.readFileSync(fstab, 'utf8')).toBe('# test fstab\nUUID=1234 / ext4 defaults 0 1\n');
  });

  test('fails with LOCALSSD_REQUIRED=1', () => {
    const r = sb.script(STEP, { LOCALSSD_DEVICE_GLOB: path.join(sb.dir, 'none-*'), LOCALSSD_REQUIRED: '1', LOCALSSD_FSTAB: fstab });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(/LOCALSSD_REQUIRED=1 but no local SSD matches .*none-\*; give the instance local NVMe SSDs/);
  });

  test.each([
    [{ LOCALSSD_LABEL: 'a-label-longer-than-16' }, /LOCALSSD_LABEL='a-label-longer-than-16' must be 1-16 letters/],
    [{ LOCALSSD_MOUNT_POINT: 'mnt/localssd' }, /LOCALSSD_MOUNT_POINT='mnt\/localssd' must be an absolute path/],
    [{ LOCALSSD_MD_NAME: 'bad name' }, /LOCALSSD_MD_NAME='bad name' must be 1-32 letters/],
  ])('refuses %j', (env, message) => {
    const r = sb.script(STEP, { LOCALSSD_DEVICE_GLOB: path.join(sb.dir, 'none-*'), LOCALSSD_FSTAB: fstab, ...env });
    expect(r.status).toBe(1);
    expect(r.log).toMatch(message);
  });
});

(canLoop ? describe : describe.skip)('localssd-raid.sh on loop devices', () => {
  /** mdadm that must not run (one-SSD case), or a stand-in whose "array" is $STUB_ARRAY_DEV. */
  function stubMdadm(): string {
    sb.file(
      'bin/mdadm',
      `#!/bin/bash
echo "mdadm $*" >>"$STUB_LOG"
[[ -n "\${STUB_ARRAY_DEV:-}" ]] || { echo "mdadm must not run here" >&2; exit 99; }
sb="$STUB_STATE/superblock"
case "$1" in
  --examine)
    [[ -f "$sb" ]] || { echo "mdadm: No md superblock detected on $3." >&2; exit 1; }
    echo "ARRAY /dev/md/$(cat "$sb")  metadata=1.2 UUID=6b8a4b2c:00000000:00000000:00000000 name=any:$(cat "$sb")" ;;
  --create)
    for a in "$@"; do [[ "$a" == --name=* ]] && echo "\${a#--name=}" >"$sb"; done
    ln -sfn "$STUB_ARRAY_DEV" "$2" ;;
  --assemble) ln -sfn "$STUB_ARRAY_DEV" "$2" ;;
  *) exit 1 ;;
esac
`,
      0o755,
    );
    fs.mkdirSync(path.join(sb.dir, 'stub-state'), { recursive: true });
    return path.join(sb.dir, 'bin');
  }

  test('one SSD: formatted and mounted directly (no mdadm), fstab by label, partitions ignored; a re-run changes nothing', () => {
    const ssd = newLoop('ssd0.img');
    const other = newLoop('part.img');
    const glob = byId({ 'google-local-nvme-ssd-0': ssd, 'google-local-nvme-ssd-0-part1': other });
    const bin = stubMdadm();
    const calls = path.join(sb.dir, 'mdadm.calls');
    const [first, second] = runInNamespace({ LOCALSSD_DEVICE_GLOB: glob, PATH: `${bin}:${process.env.PATH}`, STUB_LOG: calls }, 2);

    expect(first.status).toBe(0);
    expect(first.log).toMatch(new RegExp(`formatting ${ssd} \\(ext4, label ${tag}\\)`));
    expect(first.mounted).toBe(ssd);
    expect(first.mode).toBe('755');
    expect(blkid(ssd, 'TYPE')).toBe('ext4');
    expect(blkid(ssd, 'LABEL')).toBe(tag);
    expect(blkid(other, 'TYPE')).toBe('');
    expect(fs.existsSync(calls)).toBe(false);
    const line = `LABEL=${tag} ${mountPoint} ext4 discard,defaults,nofail 0 0`;
    expect(fstabLines()).toEqual(['UUID=1234 / ext4 defaults 0 1', line]);

    expect(second.status).toBe(0);
    expect(second.log).not.toMatch(/formatting/);
    expect(second.log).toMatch(/already holds the ext4 file system .*keeping its data/);
    expect(second.log).toMatch(/already mounted at/);
    expect(second.mounted).toBe(ssd);
    expect(fstabLines()).toEqual(['UUID=1234 / ext4 defaults 0 1', line]);
  });

  test('replaces a stale fstab line for the mount point instead of adding a second one', () => {
    const ssd = newLoop('ssd0.img');
    fs.appendFileSync(fstab, `/dev/sdb ${mountPoint} xfs defaults 0 2\n`);
    const [r] = runInNamespace({ LOCALSSD_DEVICE_GLOB: byId({ 'google-local-nvme-ssd-0': ssd }) }, 1);
    expect(r.status).toBe(0);
    expect(fstabLines()).toEqual(['UUID=1234 / ext4 defaults 0 1', `LABEL=${tag} ${mountPoint} ext4 discard,defaults,nofail 0 0`]);
  });

  test('refuses a disk that holds another file system, and leaves it alone', () => {
    const ssd = newLoop('ssd0.img', 'userdata');
    const [r] = runInNamespace({ LOCALSSD_DEVICE_GLOB: byId({ 'google-local-nvme-ssd-0': ssd }) }, 1);
    expect(r.status).toBe(1);
    expect(r.log).toMatch(new RegExp(`${ssd} holds a ext4 file system labelled 'userdata', not the ext4 '${tag}'.*refusing to format it`));
    expect(blkid(ssd, 'LABEL')).toBe('userdata');
    expect(r.mounted).toBe('');
  });

  test('several SSDs (stub mdadm): created once, reused, re-assembled after a "reboot", never re-formatted', () => {
    const a = newLoop('ssd0.img');
    const b = newLoop('ssd1.img');
    const array = newLoop('array.img');
    const glob = byId({ 'google-local-nvme-ssd-0': a, 'google-local-nvme-ssd-1': b });
    const bin = stubMdadm();
    const calls = path.join(sb.dir, 'mdadm.calls');
    fs.mkdirSync(path.join(sb.dir, 'dev-md'));
    const mdDevice = path.join(sb.dir, 'dev-md', tag);
    // The "reboot": unmount and stop the array (its device link disappears), keeping the superblocks.
    const reboot = `[[ "$i" == 3 ]] && { umount "$MP"; rm -f "${mdDevice}"; echo "--- reboot" >>"$STUB_LOG"; }; true`;
    const runs = runInNamespace(
      {
        LOCALSSD_DEVICE_GLOB: glob,
        LOCALSSD_MD_NAME: tag,
        LOCALSSD_MD_DEVICE: mdDevice,
        PATH: `${bin}:${process.env.PATH}`,
        STUB_LOG: calls,
        STUB_STATE: path.join(sb.dir, 'stub-state'),
        STUB_ARRAY_DEV: array,
      },
      3,
      reboot,
    );
    for (const r of runs) {
      expect(r.status).toBe(0);
      expect(r.mounted).toBe(array);
    }
    const log = fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    const creates = log.filter((l) => l.startsWith('mdadm --create'));
    expect(creates).toEqual([`mdadm --create ${mdDevice} --name=${tag} --homehost=any --level=0 --raid-devices=2 --run ${a} ${b}`]);
    // Run 2 finds the running array and asks mdadm nothing; run 3 assembles exactly our members.
    expect(log.slice(log.indexOf('--- reboot') + 1).filter((l) => !l.startsWith('mdadm --examine'))).toEqual([
      `mdadm --assemble ${mdDevice} ${a} ${b}`,
    ]);
    expect(runs[0].log).toMatch(new RegExp(`formatting ${mdDevice} \\(ext4, label ${tag}\\)`));
    expect(runs[1].log).toMatch(/already running; reusing it/);
    expect(runs[2].log).toMatch(/re-assembling RAID0/);
    for (const r of runs.slice(1)) expect(r.log).not.toMatch(/formatting|creating RAID0/);
    expect(blkid(array, 'LABEL')).toBe(tag);
    expect(fstabLines().filter((l) => l.startsWith('LABEL='))).toEqual([`LABEL=${tag} ${mountPoint} ext4 discard,defaults,nofail 0 0`]);
  });

  test('several SSDs (stub mdadm): a member holding a file system is refused before mdadm --create', () => {
    const a = newLoop('ssd0.img');
    const b = newLoop('ssd1.img', 'precious');
    const bin = stubMdadm();
    const calls = path.join(sb.dir, 'mdadm.calls');
    const [r] = runInNamespace(
      {
        LOCALSSD_DEVICE_GLOB: byId({ 'google-local-nvme-ssd-0': a, 'google-local-nvme-ssd-1': b }),
        LOCALSSD_MD_DEVICE: path.join(sb.dir, 'md-never'),
        PATH: `${bin}:${process.env.PATH}`,
        STUB_LOG: calls,
        STUB_STATE: path.join(sb.dir, 'stub-state'),
        STUB_ARRAY_DEV: '/nonexistent',
      },
      1,
    );
    expect(r.status).toBe(1);
    expect(r.log).toMatch(new RegExp(`${b} holds a ext4 file system, not an empty local SSD; refusing to overwrite it`));
    expect(fs.readFileSync(calls, 'utf8')).not.toMatch(/--create/);
    expect(blkid(b, 'LABEL')).toBe('precious');
  });
});

(canMd ? describe : describe.skip)('localssd-raid.sh with real mdadm RAID0', () => {
  const name = `cdktf${process.pid}`;
  afterAll(() => {
    spawnSync('mdadm', ['--stop', `/dev/md/${name}`]);
    fs.rmSync(`/dev/md/${name}`, { force: true });
  });

  test('two loop devices become one RAID0, formatted once, re-assembled after being stopped', () => {
    const a = newLoop('ssd0.img');
    const b = newLoop('ssd1.img');
    const glob = byId({ 'google-local-nvme-ssd-0': a, 'google-local-nvme-ssd-1': b });
    const stop = `[[ "$i" == 3 ]] && { umount "$MP"; mdadm --stop /dev/md/${name}; }; true`;
    const runs = runInNamespace({ LOCALSSD_DEVICE_GLOB: glob, LOCALSSD_MD_NAME: name }, 3, stop);
    const md = fs.realpathSync(`/dev/md/${name}`);
    for (const r of runs) {
      expect(r.status).toBe(0);
      expect(fs.realpathSync(r.mounted)).toBe(md);
    }
    const detail = execFileSync('mdadm', ['--detail', `/dev/md/${name}`], { encoding: 'utf8' });
    expect(detail).toMatch(/Raid Level : raid0/);
    expect(detail).toMatch(/Raid Devices : 2/);
    expect(runs[0].log).toMatch(/creating RAID0/);
    expect(runs[1].log).toMatch(/already running; reusing it/);
    expect(runs[2].log).toMatch(/re-assembling RAID0/);
    for (const r of runs.slice(1)) expect(r.log).not.toMatch(/formatting/);
    expect(fstabLines().filter((l) => l.startsWith('LABEL='))).toEqual([`LABEL=${tag} ${mountPoint} ext4 discard,defaults,nofail 0 0`]);
  });
});
