/**
 * nfs-server.sh with a real data disk: loop devices, real mkfs.ext4, blkid and mount, in a private mount
 * namespace with the sandbox's fstab (DATA_DISK_FSTAB). The NFS daemon side (nfs-kernel-server, exportfs) is faked:
 * this kernel has no nfsd. What is real: finding the disk the cloud attached (directly, and on Nitro through the
 * NVMe controller's attachment name), formatting only a blank disk, carrying the directory's existing contents
 * (the image's default user in /home) onto the new disk with owners and modes, mounting by label, and re-runs
 * that change nothing.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { FAKE_DPKG_QUERY, installFakes, LoopDevices, Sandbox, SCRIPTS_DIR } from './sh';

const canRun = LoopDevices.available();
if (!canRun) console.warn('\n!!! SKIPPING nfs-server.sh disk tests: need root and a free loop device (losetup --find)\n');
const maybe = canRun ? describe : describe.skip;

/** A fake `nvme id-ctrl --raw-binary DEV`: 4096 bytes, the attachment name of DEV (from $FAKE/nvme-names) at 3072. */
const FAKE_NVME = `#!/bin/bash
dev=\${@: -1}
name=$(awk -v d="$(basename "$dev")" '$1 == d { print $2 }' "$FAKE/nvme-names")
head -c 3072 /dev/zero
printf '%-32s' "$name" | tr ' ' '\\0'
head -c 992 /dev/zero
`;

const FAKES = {
  'dpkg-query': FAKE_DPKG_QUERY,
  nvme: FAKE_NVME,
  exportfs: `#!/bin/bash\nif [[ "$1" == -s ]]; then grep -v '^#' "$NFS_EXPORTS_FILE" | awk '{ print $1 "\\t" $2 }'; fi\n`,
  service: `#!/bin/bash\ncase "$2" in status) [[ -f "$FAKE/nfsd-running" ]] ;; start) : >"$FAKE/nfsd-running" ;; esac\n`,
};

maybe('nfs-server.sh on a real data disk', () => {
  let sb: Sandbox;
  let fake: string;
  let bin: string;
  let home: string;
  let fstab: string;

  const loopDevices = new LoopDevices(() => sb);
  const newLoop = (name: string, label?: string): string => loopDevices.add(name, label);
  // blkid -p probes the device itself (no cache, no udev links); a blank device has no label.
  const labelOf = (dev: string) => spawnSync('blkid', ['-p', '-o', 'value', '-s', 'LABEL', dev], { encoding: 'utf8' }).stdout.trim();

  /**
   * Runs the step for one export of `home` on `device` in a fresh private mount namespace, then reports where
   * home is mounted from and what the disk holds (listed while still mounted, inside the namespace).
   */
  const run = (device: string, extra: Record<string, string> = {}) => {
    const table = sb.file('exports.tab', `${home}\t10.0.0.0/16,100.64.0.0/10\t0755\t${device}\tnfs-home\n`);
    const script = [
      'rc=0 && bash "$STEP" || rc=$?',
      'echo "mounted=$(findmnt -rno SOURCE --mountpoint "$HOME_DIR" || true)"',
      'if mountpoint -q "$HOME_DIR"; then find "$HOME_DIR" -mindepth 1 -printf "entry=%P %U %m\\n" | sort; fi',
      'exit $rc',
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], {
      encoding: 'utf8',
      env: sb.env({
        PATH: `${bin}:${process.env.PATH}`,
        FAKE: fake,
        STEP: path.join(SCRIPTS_DIR, 'nfs-server.sh'),
        HOME_DIR: home,
        CDKTF_SLURM_EXPORT_TABLE: table,
        NFS_EXPORTS_FILE: path.join(sb.dir, 'exports'),
        DATA_DISK_FSTAB: fstab,
        ...extra,
      }),
    });
    return { status: r.status, out: r.stdout, log: sb.readLog() };
  };

  beforeEach(() => {
    sb = new Sandbox();
    ({ fake, bin } = installFakes(sb, FAKES));
    fs.writeFileSync(path.join(fake, 'dpkg'), 'nfs-kernel-server 1:2.6.2-4\nnvme-cli 2.4\n');
    home = path.join(sb.dir, 'home');
    fstab = sb.file('fstab', '# test fstab\nUUID=1234 / ext4 defaults 0 1\n');
    fs.writeFileSync(sb.envFile, '');
    // What an image's /home holds before the disk arrives: the default user's home with an SSH key.
    fs.mkdirSync(path.join(home, 'ubuntu', '.ssh'), { recursive: true });
    fs.writeFileSync(path.join(home, 'ubuntu', '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA test\n', { mode: 0o600 });
    fs.chmodSync(path.join(home, 'ubuntu'), 0o750);
    fs.chmodSync(path.join(home, 'ubuntu', '.ssh'), 0o700);
    execFileSync('chown', ['-R', '1000:1000', path.join(home, 'ubuntu')]);
  });
  afterEach(() => {
    loopDevices.detach();
    sb.cleanup();
  });

  test('formats a blank disk once, carries /home\'s existing users onto it, mounts it by label, exports it; a re-run changes nothing', () => {
    const dev = newLoop('home.img');
    const first = run(dev);
    expect(first.status).toBe(0);
    expect(first.out).toContain(`mounted=${dev}\n`);
    expect(labelOf(dev)).toBe('nfs-home');
    // The default user's files are on the disk with their owner and modes, so SSH still finds the key.
    expect(first.out).toContain('entry=ubuntu 1000 750\n');
    expect(first.out).toContain('entry=ubuntu/.ssh 1000 700\n');
    expect(first.out).toContain('entry=ubuntu/.ssh/authorized_keys 1000 600\n');
    expect(first.log).toMatch(new RegExp(`formatting ${dev} \\(ext4, label nfs-home\\) for ${home}`));
    expect(first.log).toMatch(/copying the contents of .*\/home onto/);
    const line = `LABEL=nfs-home ${home} ext4 defaults,nofail,x-systemd.device-timeout=60 0 2`;
    expect(fs.readFileSync(fstab, 'utf8').split('\n')).toEqual(['# test fstab', 'UUID=1234 / ext4 defaults 0 1', line, '']);
    expect(fs.readFileSync(path.join(sb.dir, 'exports'), 'utf8')).toContain(
      `${home} 10.0.0.0/16(rw,sync,no_subtree_check,root_squash) 100.64.0.0/10(rw,sync,no_subtree_check,root_squash)\n`);

    // A user's file written on the disk outlives the run; the second run neither formats nor copies over it.
    const marker = `echo 'job output' >"$HOME_DIR/ubuntu/result.txt"`;
    const touch = spawnSync('bash', ['-c', `d=$(mktemp -d) && mount ${dev} "$d" && HOME_DIR="$d" && ${marker} && umount "$d"`], { encoding: 'utf8' });
    expect(touch.status).toBe(0);
    fs.writeFileSync(path.join(sb.logDir, 'bootstrap.log'), '');
    const second = run(dev);
    expect(second.status).toBe(0);
    expect(second.out).toContain(`mounted=${dev}\n`);
    expect(second.out).toContain('entry=ubuntu/result.txt 0 644\n');
    expect(second.log).not.toMatch(/formatting|copying/);
    expect(fs.readFileSync(fstab, 'utf8').split('\n').filter((l) => l.startsWith('LABEL='))).toEqual([line]);
  });

  test('on Nitro, finds the EBS volume attached as /dev/sdg through the NVMe controller, not the other data disk', () => {
    const state = newLoop('state.img');
    const homeDisk = newLoop('home.img');
    // /dev/nvme1n1 is the state volume (sdf), /dev/nvme2n1 the home volume (sdg); neither is named /dev/sdg.
    const nvmeDir = path.join(sb.dir, 'dev');
    fs.mkdirSync(nvmeDir);
    fs.symlinkSync(state, path.join(nvmeDir, 'nvme1n1'));
    fs.symlinkSync(homeDisk, path.join(nvmeDir, 'nvme2n1'));
    fs.writeFileSync(path.join(fake, 'nvme-names'), 'nvme1n1 sdf\nnvme2n1 /dev/sdg\n');
    const r = run('/dev/sdg', { BLOCK_DEVICE_NVME_GLOB: path.join(nvmeDir, 'nvme*n1') });
    expect(r.status).toBe(0);
    expect(r.out).toContain(`mounted=${homeDisk}\n`);
    expect(labelOf(homeDisk)).toBe('nfs-home');
    expect(labelOf(state)).toBe('');
  });

  test('a disk that never appears fails after the wait, naming it; nothing is exported', () => {
    const nvmeDir = path.join(sb.dir, 'dev');
    fs.mkdirSync(nvmeDir);
    const r = run('/dev/sdg', { BLOCK_DEVICE_NVME_GLOB: path.join(nvmeDir, 'nvme*n1'), DATA_DISK_WAIT_SECONDS: '0' });
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(/disk \/dev\/sdg \(for .*\/home\) did not appear within 0s; check that the volume is attached/);
    expect(fs.existsSync(path.join(sb.dir, 'exports'))).toBe(false);
  });

  test('refuses to format a disk that holds another filesystem, and leaves /home as it was', () => {
    const dev = newLoop('foreign.img', 'userdata');
    const r = run(dev);
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(new RegExp(`${dev} already holds a filesystem not labelled 'nfs-home'; refusing to format it`));
    expect(labelOf(dev)).toBe('userdata');
    expect(r.out).toContain('mounted=\n');
    expect(fs.readFileSync(fstab, 'utf8')).not.toMatch(/^LABEL=/m);
    expect(fs.existsSync(path.join(home, 'ubuntu', '.ssh', 'authorized_keys'))).toBe(true);
  });
});
