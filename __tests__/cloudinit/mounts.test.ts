/**
 * The mount table: its format, the problems it refuses (each naming the origin, the field, the value and the fix),
 * and which scripts a host with mounts carries.
 */
import { buildNodeCloudConfig } from '../../lib/cloudinit/node-bootstrap';
import { ClusterMount, mountProblems, mountScripts, renderMountTable } from '../../lib/cloudinit/mounts';

const nfs = (mountPoint: string, over: Partial<ClusterMount> = {}): ClusterMount => ({
  kind: 'nfs',
  source: 'filer:/export',
  mountPoint,
  origin: `stack/Fs${mountPoint.replace(/\//g, '_')}`,
  ...over,
});

const FSID = '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e';
const ceph = (mountPoint: string, over: Partial<ClusterMount> = {}): ClusterMount => ({
  kind: 'ceph',
  source: `slurm@${FSID}.cephfs=/`,
  mountPoint,
  options: 'mon_addr=10.0.1.10:6789/10.0.1.11:6789',
  secretSource: 'aws-secretsmanager:lab/cephfs-client-key',
  origin: 'stack/Ceph',
  ...over,
});
const lustre = (mountPoint: string, over: Partial<ClusterMount> = {}): ClusterMount => ({
  kind: 'lustre', source: '10.0.0.5@tcp:/lfs', mountPoint, origin: 'stack/Lustre', ...over,
});

test('one tab-separated line per mount, with - for absent options and secret', () => {
  expect(renderMountTable([nfs('/home'), nfs('/data', { options: 'ro,hard' }), ceph('/mnt/shared'), lustre('/lustre', { options: 'flock' })])).toBe(
    'nfs\tfiler:/export\t/home\t-\t-\n' +
      'nfs\tfiler:/export\t/data\tro,hard\t-\n' +
      `ceph\tslurm@${FSID}.cephfs=/\t/mnt/shared\tmon_addr=10.0.1.10:6789/10.0.1.11:6789\taws-secretsmanager:lab/cephfs-client-key\n` +
      'lustre\t10.0.0.5@tcp:/lfs\t/lustre\tflock\t-\n',
  );
  expect(renderMountTable([])).toBe('');
});

test('Lustre sources: NIDs (failover pairs too) and a file system name of at most 8; or an SSM parameter read at boot', () => {
  for (const source of ['10.0.0.5@tcp:/lfs', 'fs-0abc.fsx.us-east-1.amazonaws.com@tcp:/abcdefgh', 'mds1@tcp:mds2@tcp:/scratch', 'aws-ssm:/cdktf-slurm/hpc/filesystems/scratch']) {
    expect(mountProblems([lustre('/lustre', { source })])).toEqual([]);
  }
  expect(mountProblems([lustre('/lustre', { source: '10.0.0.5@tcp:/toolongname' })])[0]).toMatch(/source = "10\.0\.0\.5@tcp:\/toolongname": not a lustre source\. Use e\.g\. '10\.0\.0\.5@tcp:\/lustre'/);
  expect(mountProblems([lustre('/lustre', { source: 'aws-ssm:relative' })])[0]).toMatch(/not an SSM parameter reference/);
  // A reference filled in at plan (Compute Engine user-data) is not shape-checked here.
  expect(mountProblems([lustre('/lustre', { source: '${TfToken[TOKEN.1]}', sourceIsReference: true })])).toEqual([]);
});

test('CephFS needs its key reference and its monitors; other kinds take no secret', () => {
  expect(mountProblems([ceph('/mnt/shared')])).toEqual([]);
  expect(mountProblems([ceph('/mnt/shared', { secretSource: undefined })])[0]).toMatch(/secretSource = undefined: CephFS needs the client's key/);
  expect(mountProblems([ceph('/mnt/shared', { options: 'noatime' })])[0]).toMatch(/options = "noatime": CephFS needs mon_addr=/);
  expect(mountProblems([ceph('/mnt/shared', { source: 'slurm@not-a-uuid.cephfs=/' })])[0]).toMatch(/not a ceph source/);
  expect(mountProblems([nfs('/x', { secretSource: 'aws-secretsmanager:c/key' })])[0]).toMatch(/secretSource is set, but nfs mounts take no secret/);
});

test.each([
  ['a duplicate mount point', [nfs('/shared'), nfs('/shared', { origin: 'stack/Other' })], /stack\/Other: mount nfs: mountPoint = "\/shared": is also the mount point "\/shared" of stack\/Fs_shared/],
  ['a nested mount point', [nfs('/shared'), nfs('/shared/data', { origin: 'stack/Inner' })], /stack\/Inner: .*"\/shared\/data": overlaps the mount point "\/shared" of stack\/Fs_shared/],
  ['a parent of an earlier mount point', [nfs('/a/b'), nfs('/a', { origin: 'stack/Outer' })], /stack\/Outer: .*"\/a": overlaps/],
  ['a system directory', [nfs('/usr/local')], /mountPoint = "\/usr\/local": is a system directory/],
  ['a relative path', [nfs('shared')], /mountPoint = "shared": must be an absolute path/],
  ['a path with ..', [nfs('/home/../etc')], /must be an absolute path/],
  ['a source without a path', [nfs('/x', { source: 'filer' })], /source = "filer": not a nfs source\. Use e\.g\. 'slurm-controller:\/shared'/],
  ['options with a space', [nfs('/x', { options: 'ro, hard' })], /options = "ro, hard": must be comma-separated/],
])('refuses %s', (_name, mounts, message) => {
  const problems = mountProblems(mounts);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(message);
  expect(() => renderMountTable(mounts)).toThrow(message);
});

test('siblings that share a prefix are not nested', () => {
  expect(mountProblems([nfs('/data'), nfs('/data2'), nfs('/home'), nfs('/homes')])).toEqual([]);
});

test('a secret value is refused without being echoed', () => {
  const value = 'AQD9k2Vm3sbXJhAAd1Xj6yqLqK7c0X8y3h2R1g==';
  const problems = mountProblems([ceph('/x', { secretSource: value })]);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(/secretSource = <40 characters>: not a secret reference/);
  expect(problems[0]).not.toContain(value.slice(0, 12));
});

test('a host carries mounts.sh and the clients of its kinds only when it has mounts', () => {
  expect(mountScripts([])).toEqual([]);
  expect(mountScripts([nfs('/a'), nfs('/b')])).toEqual(['mounts.sh', 'nfs-client.sh']);
  expect(mountScripts([nfs('/a'), ceph('/c')])).toEqual(['mounts.sh', 'nfs-client.sh', 'ceph-client.sh']);
  expect(mountScripts('all')).toEqual(['mounts.sh', 'nfs-client.sh', 'lustre-client.sh', 'ceph-client.sh']);
  const paths = (mounts: ClusterMount[]) =>
    (buildNodeCloudConfig({ roles: ['compute'], env: { CLUSTER_NAME: 'c' }, mounts }).toObject().write_files as { path: string; content: string }[]);
  const without = paths([]).map((f) => f.path);
  expect(without).not.toContain('/opt/cdktf-slurm/bootstrap/mounts.sh');
  expect(without).not.toContain('/etc/cdktf-slurm/mounts.tab');
  const withMounts = paths([nfs('/home')]);
  expect(withMounts.map((f) => f.path)).toEqual(expect.arrayContaining([
    '/opt/cdktf-slurm/bootstrap/mounts.sh',
    '/opt/cdktf-slurm/bootstrap/nfs-client.sh',
    '/etc/cdktf-slurm/mounts.tab',
  ]));
  expect(withMounts.find((f) => f.path === '/etc/cdktf-slurm/mounts.tab')!.content).toBe('nfs\tfiler:/export\t/home\t-\t-\n');
});
