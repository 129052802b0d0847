/** The AWS script bucket carries what AWS hosts may run, and no other cloud's scripts. */
import { awsBootstrapScripts } from '../../lib/aws/script-bucket';
import { loadBootstrapScripts } from '../../lib/cloudinit/node-bootstrap';

test('top-level steps, lib/ and aws/ go to the bucket; other folders (gcp/) stay out', () => {
  const kept = awsBootstrapScripts([
    { relativePath: 'bootstrap.sh', content: '' },
    { relativePath: 'lib/common.sh', content: '' },
    { relativePath: 'aws/slurm-resume.sh', content: '' },
    { relativePath: 'gcp/tcpxo.sh', content: '' },
    { relativePath: 'awsome/x.sh', content: '' },
  ]).map((s) => s.relativePath);
  expect(kept).toEqual(['bootstrap.sh', 'lib/common.sh', 'aws/slurm-resume.sh']);
});

test('every script an AWS role or AWS program names is in the bucket', () => {
  const kept = new Set(awsBootstrapScripts(loadBootstrapScripts()).map((s) => s.relativePath));
  for (const p of ['bootstrap.sh', 'lib/common.sh', 'mounts.sh', 'nfs-client.sh', 'slurmd.sh', 'aws/fetch-bootstrap.sh', 'aws/efa.sh', 'aws/node-name.sh']) {
    expect(kept).toContain(p);
  }
});
