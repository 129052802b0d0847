/**
 * The export table (pure): what the controller's nfs-server step reads. Rendering, and every problem the
 * library catches before a table can reach a node.
 */
import { EXPORT_TABLE_PATH, exportProblems, NfsExport, renderExportTable } from '../../lib/cloudinit/exports';
import { parse } from 'yaml';
import { buildNodeCloudConfig } from '../../lib/cloudinit/node-bootstrap';

const filesOf = (doc: string) => (parse(doc, { version: '1.1' }) as { write_files: { path: string; content: string }[] }).write_files;

const home: NfsExport = { path: '/home', clients: ['10.0.1.0/24', '10.0.3.0/24'], mode: '0755', disk: { device: '/dev/sdg', label: 'nfs-home' }, origin: 'c/Home' };
const scratch: NfsExport = { path: '/shared', clients: ['100.64.0.0/10'], mode: '1777', origin: 'c/Shared' };

test('one tab-separated line per export; "-" for a share on the root disk', () => {
  expect(renderExportTable([home, scratch])).toBe('/home\t10.0.1.0/24,10.0.3.0/24\t0755\t/dev/sdg\tnfs-home\n/shared\t100.64.0.0/10\t1777\t-\t-\n');
  expect(renderExportTable([])).toBe('');
});

test('a node with exports carries the table and nfs-server.sh; one without carries neither', () => {
  const withExports = filesOf(buildNodeCloudConfig({ roles: ['controller'], env: {}, exports: [home] }).render());
  expect(withExports.find((f) => f.path === EXPORT_TABLE_PATH)?.content).toBe(renderExportTable([home]));
  expect(withExports.map((f) => f.path)).toContain('/opt/cdktf-slurm/bootstrap/nfs-server.sh');
  const without = filesOf(buildNodeCloudConfig({ roles: ['controller'], env: {} }).render());
  expect(without.some((f) => f.path === EXPORT_TABLE_PATH)).toBe(false);
  expect(without.map((f) => f.path)).not.toContain('/opt/cdktf-slurm/bootstrap/nfs-server.sh');
});

test.each<[string, Partial<NfsExport>, RegExp]>([
  ['a wildcard client', { clients: ['*'] }, /c\/Home: NFS export: clients = "\*": not an IPv4 CIDR/],
  ['the whole internet', { clients: ['0.0.0.0/0'] }, /clients = "0\.0\.0\.0\/0": wider than \/8/],
  ['a host-bits range', { clients: ['10.0.1.5/24'] }, /clients = "10\.0\.1\.5\/24": not an IPv4 CIDR \(host bits are set.*Use '10\.0\.1\.0\/24'\)/],
  ['no clients', { clients: [] }, /clients = \[\]: no client range/],
  ['a system directory', { path: '/var/home' }, /path = "\/var\/home": is a system directory/],
  ['a bad mode', { mode: '888' }, /mode = "888": not an octal mode/],
  ['a device that is not a data disk', { disk: { device: '/dev/sda', label: 'nfs-home' } }, /disk\.device = "\/dev\/sda": not a data disk name/],
  ['a label over 16 bytes', { disk: { device: '/dev/sdg', label: 'nfs-homedirectory' } }, /disk\.label = "nfs-homedirectory": an ext4 label/],
])('%s is a problem naming origin, field, value and fix', (_name, change, message) => {
  const problems = exportProblems([{ ...home, ...change }]);
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(message);
  expect(() => renderExportTable([{ ...home, ...change }])).toThrow(message);
});

test('duplicates: the same path, a nested path, the same disk or label', () => {
  expect(exportProblems([home, { ...scratch, path: '/home' }])).toEqual([expect.stringMatching(/c\/Shared: NFS export: path = "\/home": is also the export "\/home" of c\/Home/)]);
  expect(exportProblems([home, { ...scratch, path: '/home/x' }])).toEqual([expect.stringMatching(/overlaps the export "\/home"/)]);
  expect(exportProblems([home, { ...scratch, disk: { device: '/dev/sdg', label: 'nfs-shared' } }])).toEqual([expect.stringMatching(/disk\.device = "\/dev\/sdg": also the disk of c\/Home/)]);
  expect(exportProblems([home, { ...scratch, disk: { device: '/dev/sdh', label: 'nfs-home' } }])).toEqual([expect.stringMatching(/disk\.label = "nfs-home": also the label of c\/Home's disk/)]);
  expect(exportProblems([home, scratch])).toEqual([]);
});
