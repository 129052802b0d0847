/**
 * Users install the library from the registry, so the packed tarball must work on its own: compiled JS, type
 * declarations and the bootstrap scripts the cloud-config embeds, found from inside node_modules.
 */
import { execFileSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'fs';
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
  // Dependencies (and the peers a user installs) come from the repo's own install; the registry is not
  // needed for this check.
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies })) {
    mkdirSync(join(work, 'app', 'node_modules', dep, '..'), { recursive: true });
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
  // The job templates the stacks ship (users copy them to the login node).
  expect(files).toContain('templates/gcp-a3mega/run-nccl-tests.sbatch');
  expect(files).toContain('templates/gcp-a3mega/pytorch_ddp.py');
  expect(files.filter((f) => f.startsWith('__tests__/') || f.endsWith('.test.js'))).toEqual([]);
  expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
});

test('an installed copy renders a compute node whose user-data carries the scripts from node_modules', () => {
  // Inline scripts (Compute Engine, 256 KiB of metadata) and fetched ones (EC2's 16 KiB: sums and the fetcher only).
  const script = `
    const lib = require('cdktf-slurm');
    const env = { CLUSTER_NAME: 'c', SLURM_CONTROLLER: 'ctl' };
    const inline = lib.buildNodeCloudConfig({ roles: ['compute'], env });
    const paths = inline.toObject().write_files.map((f) => f.path);
    const gcp = lib.renderNodeUserData(inline, { target: 'gcp', role: 'compute' });
    const fetched = lib.buildNodeCloudConfig({ roles: ['compute'], env, scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' } });
    const aws = lib.renderNodeUserData(fetched, { target: 'aws', role: 'compute' });
    const manifest = fetched.toObject().write_files.find((f) => f.path === '/etc/cdktf-slurm/bootstrap.sha256').content;
    console.log(JSON.stringify({ paths, gcp: { gzipped: gcp.gzipped, size: gcp.size }, aws: { gzipped: aws.gzipped, size: aws.size }, manifest }));
  `;
  const out = JSON.parse(execFileSync('node', ['-e', script], { cwd: join(work, 'app'), encoding: 'utf8' })) as {
    paths: string[];
    gcp: { gzipped: boolean; size: number };
    aws: { gzipped: boolean; size: number };
    manifest: string;
  };
  expect(out.paths).toContain('/opt/cdktf-slurm/bootstrap/slurmd.sh');
  expect(out.paths).toContain('/opt/cdktf-slurm/bootstrap/lib/common.sh');
  expect(out.paths).not.toContain('/opt/cdktf-slurm/bootstrap/slurmctld.sh');
  expect(out.gcp).toEqual({ gzipped: false, size: expect.any(Number) });
  expect(out.gcp.size).toBeLessThanOrEqual(262_144);
  expect(out.aws.gzipped).toBe(true);
  expect(out.aws.size).toBeLessThanOrEqual(16_384);
  expect(out.manifest).toMatch(/^[0-9a-f]{64} {2}slurmd\.sh$/m);
});

test('a user project composes its own AWS cluster from the installed package and synthesizes it', () => {
  const app = join(work, 'app');
  writeFileSync(
    join(app, 'main.js'),
    `
    const { App, TerraformStack } = require('cdktf');
    const { AwsProvider } = require('@cdktf/provider-aws/lib/provider');
    const { BastionVpc, SlurmController, ComputeNodePool, Ec2Nodes, GpuPartition } = require('cdktf-slurm');
    const app = new App({ outdir: 'out' });
    const stack = new TerraformStack(app, 'mine');
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.20.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'mine' });
    const pool = new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g6.xlarge' }), maxCount: 3 });
    new GpuPartition(stack, 'Part', { controller, name: 'gpu', pools: [pool], default: true });
    app.synth();
    `,
  );
  execFileSync('node', ['main.js'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const out = join(app, 'out', 'stacks', 'mine', 'cdk.tf.json');
  expect(existsSync(out)).toBe(true);
  const tf = JSON.parse(readFileSync(out, 'utf8')) as { resource: Record<string, Record<string, { instance_type?: string; private_ip?: string }>> };
  expect(Object.values(tf.resource.aws_instance).map((i) => i.private_ip)).toContain('10.20.1.10');
  expect(Object.values(tf.resource.aws_launch_template).map((t) => t.instance_type)).toEqual(['g6.xlarge']);
  // The scripts the nodes download were read from the installed package, not from this repo.
  const keys = Object.values(tf.resource.aws_s3_object as Record<string, { key: string }>).map((o) => o.key);
  expect(keys).toContain('bootstrap/bootstrap.sh');
  expect(keys).toContain('bootstrap/aws/fetch-bootstrap.sh');
});

describe('a user project opts into the security policy pack with one line and runs `cdktf synth`', () => {
  const cli = join(repo, 'node_modules', '.bin', 'cdktf');
  /** The user's program: a small AWS cluster, the one-line opt-in, and optionally their own unencrypted volume. */
  const program = (withPlainVolume: boolean): string => `
    const { App, TerraformStack } = require('cdktf');
    const { AwsProvider } = require('@cdktf/provider-aws/lib/provider');
    const { EbsVolume } = require('@cdktf/provider-aws/lib/ebs-volume');
    const { BastionVpc, SlurmController, ComputeNodePool, Ec2Nodes, GpuPartition, enforceSecurityPolicy } = require('cdktf-slurm');
    const app = new App();
    const stack = new TerraformStack(app, 'mine');
    enforceSecurityPolicy(stack);
    new AwsProvider(stack, 'aws', { region: 'eu-west-1' });
    const network = new BastionVpc(stack, 'Net', { cidr: '10.20.0.0/16' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'mine' });
    const pool = new ComputeNodePool(stack, 'Gpu', { controller, nodes: Ec2Nodes.of({ instanceType: 'g6.xlarge' }), maxCount: 3 });
    new GpuPartition(stack, 'Part', { controller, name: 'gpu', pools: [pool], default: true });
    ${withPlainVolume ? "new EbsVolume(stack, 'Scratch', { availabilityZone: 'eu-west-1a', size: 100 });" : ''}
    app.synth();
  `;
  const synth = (withPlainVolume: boolean): { status: number; output: string } => {
    const dir = join(work, 'app');
    writeFileSync(join(dir, 'policy.js'), program(withPlainVolume));
    writeFileSync(join(dir, 'cdktf.json'), JSON.stringify({ language: 'typescript', app: 'node policy.js', output: 'cdktf.out' }));
    rmSync(join(dir, 'cdktf.out'), { recursive: true, force: true });
    const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: '1', FORCE_COLOR: '0', CI: '1' };
    delete env.CDKTF_CONTINUE_SYNTH_ON_ERROR_ANNOTATIONS;
    try {
      const output = execFileSync(cli, ['synth'], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return { status: 0, output };
    } catch (e) {
      const err = e as { status: number; stdout: string; stderr: string };
      return { status: err.status, output: `${err.stdout}\n${err.stderr}` };
    }
  };

  test('a compliant cluster synthesizes and the synth output lists each accepted finding with its reason', () => {
    const { status, output } = synth(false);
    expect(status).toBe(0);
    expect(output).toMatch(/INFO \[mine\]: security policy \(aws, gcp, docker, common; \d+ rules\) checked \d+ blocks: 0 violation\(s\), 1 suppressed/);
    expect(output).toMatch(/INFO \[mine\/Net\/Bastion\]: \[AWS-EC2-NO-PUBLIC-IP\] suppressed on aws_instance\.Net_Bastion_\w+ \(associate_public_ip_address is true\): The bastion is the one host/);
    expect(output).not.toMatch(/ERROR \[mine/);
    // The plan summary is printed too, and written beside the stack with its diagram.
    expect(output).toMatch(/INFO \[mine\/Ctl\]: plan summary of cluster mine \(stack mine\)/);
    expect(output).toMatch(/gpu\s+aws\s+g6\.xlarge\s+0\/3\s+1× l4/);
    const md = readFileSync(join(work, 'app', 'cdktf.out', 'stacks', 'mine', 'cluster-mine.md'), 'utf8');
    expect(md).toContain('```mermaid\nflowchart LR');
  }, 120_000);

  test("the user's own unencrypted volume fails `cdktf synth` naming the rule, the resource and the fix", () => {
    const { status, output } = synth(true);
    expect(status).not.toBe(0);
    expect(output).toMatch(/ERROR \[mine\/Scratch\]: \[AWS-EBS-ENCRYPTED\] aws_ebs_volume\.Scratch: encrypted is not true\. .* Fix: Set encrypted = true/);
  }, 120_000);
});
