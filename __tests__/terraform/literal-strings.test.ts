/**
 * Scripts and node files reach Docker and SSH nodes as Terraform string arguments, where `${…}` and `%{…}` are
 * template syntax. Proven with Terraform itself: every uploaded file is fed to a `terraform_data` resource and
 * applied (builtin provider, local state, nothing leaves the machine); what Terraform hands back must be the file
 * byte for byte. And in every shipped stack, every live interpolation is a Terraform reference, never shell.
 */
import { spawnSync } from 'child_process';
import { App, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { loadBootstrapScripts } from '../../lib/cloudinit';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GpuPartition } from '../../lib/constructs/gpu-partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { terraformLiteral } from '../../lib/cdktf-adapter';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { directives, interpolations, stringsOf, terraformLiteralValue } from './template-strings';
import { DockerNodes } from '../../lib/docker/docker-nodes';
import { SshHosts } from '../../lib/ssh/ssh-hosts';

type Json = Record<string, any>;

function synthStack(build: (app: App) => TerraformStack): Json {
  const app = new App({ outdir: Testing.app().outdir });
  const stack = build(app);
  const outdir = Testing.fullSynth(stack);
  return JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', stack.node.id, 'cdk.tf.json'), 'utf8'));
}

/** A meshed cluster with one Docker and one SSH pool: every way a file becomes a Terraform string. */
function meshCluster(app: App): TerraformStack {
  const stack = new TerraformStack(app, 'mesh');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const tsKey = new TerraformVariable(stack, 'tailscale_auth_key', { type: 'string', sensitive: true });
  const sshKey = new TerraformVariable(stack, 'ssh_private_key', { type: 'string', sensitive: true });
  const controller = new SlurmController(stack, 'Ctl', {
    network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }),
    clusterName: 'lab',
    mesh: { tailscale: { authKey: tsKey.stringValue } },
    sharedDirectory: {},
  });
  const box = new ComputeNodePool(stack, 'Box', {
    controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1, gpus: { type: 'rtx3070', count: 1 },
  });
  const rented = new ComputeNodePool(stack, 'Rented', {
    controller, name: 'rented', nodes: SshHosts.of([{ address: '203.0.113.7' }], { privateKey: sshKey.stringValue, cpus: 8, realMemoryMiB: 30000 }),
    gpus: { type: 'a100', count: 1 },
  });
  new GpuPartition(stack, 'Gpu', { controller, pools: [box, rented], default: true });
  return stack;
}

/** Every file content handed to Docker (`upload`) or SSH (`file` provisioners), with where it goes. */
function uploadedFiles(tf: Json): { dest: string; content: string }[] {
  const out: { dest: string; content: string }[] = [];
  for (const c of Object.values<Json>(tf.resource?.docker_container ?? {})) {
    for (const u of c.upload ?? []) out.push({ dest: u.file, content: u.content });
  }
  for (const d of Object.values<Json>(tf.resource?.terraform_data ?? {})) {
    const staged = new Map<string, string>();
    for (const p of d.provisioner ?? []) if (p.file) staged.set(p.file.destination, p.file.content);
    for (const p of d.provisioner ?? []) {
      for (const line of p['remote-exec']?.inline ?? []) {
        const m = /install -D .* '([^']+)' '([^']+)'$/.exec(line);
        if (m && staged.has(m[1])) out.push({ dest: m[2], content: staged.get(m[1])! });
      }
    }
  }
  return out;
}

const terraform = process.env.TERRAFORM_BIN ?? 'terraform';
const haveTerraform = spawnSync(terraform, ['version'], { encoding: 'utf8' }).status === 0;

describe('terraformLiteral', () => {
  test('doubles the template openers of literal text and leaves cdktf token markers', () => {
    expect(terraformLiteral('a ${X:-} %{http_code} $HOME ${TfToken[TOKEN.3]}')).toBe('a $${X:-} %%{http_code} $HOME ${TfToken[TOKEN.3]}');
    expect(terraformLiteralValue(terraformLiteral('"${BASH_SOURCE[0]}" -w \'%{http_code}\''))).toBe('"${BASH_SOURCE[0]}" -w \'%{http_code}\'');
  });
});

describe('files uploaded to Docker and SSH nodes', () => {
  const tf = synthStack(meshCluster);
  const files = uploadedFiles(tf);
  const scripts = new Map(loadBootstrapScripts().map((s) => [`/opt/cdktf-slurm/bootstrap/${s.relativePath}`, s.content]));
  const literal = files.filter((f) => interpolations(f.content).length === 0);

  test('both placements upload scripts, node.env and the mount table; secrets are references', () => {
    const dests = new Set(files.map((f) => f.dest));
    for (const p of ['/opt/cdktf-slurm/bootstrap/lib/common.sh', '/etc/cdktf-slurm/node.env', '/etc/cdktf-slurm/mounts.tab']) {
      expect(files.filter((f) => f.dest === p)).toHaveLength(2);
    }
    expect(dests.has('/etc/cdktf-slurm/secrets/munge.key')).toBe(true);
    for (const f of files.filter((x) => x.dest.includes('/secrets/'))) expect(interpolations(f.content)).toHaveLength(1);
    // Every script is a literal for Terraform, and they really hold what it would misread: the test is not vacuous.
    const shipped = files.filter((f) => scripts.has(f.dest));
    expect(shipped.length).toBeGreaterThan(10);
    expect(literal.filter((f) => scripts.has(f.dest))).toHaveLength(shipped.length);
    expect(literal.some((f) => /(^|[^$])\$\$\{/.test(f.content))).toBe(true);
    expect(literal.some((f) => f.content.includes('%%{'))).toBe(true);
  });

  (haveTerraform ? test : test.skip)('terraform hands every literal file over byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-literal-'));
    try {
      const config = {
        resource: { terraform_data: Object.fromEntries(literal.map((f, i) => [`f${i}`, { input: f.content }])) },
        output: Object.fromEntries(literal.map((_, i) => [`f${i}`, { value: `\${terraform_data.f${i}.output}` }])),
      };
      fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify(config));
      const run = (...args: string[]) => {
        const r = spawnSync(terraform, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } });
        if (r.status !== 0) throw new Error(`terraform ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
        return r.stdout;
      };
      run('init', '-input=false', '-backend=false');
      run('apply', '-input=false', '-auto-approve', '-no-color');
      const out = JSON.parse(run('output', '-json'));
      literal.forEach((f, i) => {
        const got: string = out[`f${i}`].value;
        expect({ dest: f.dest, got }).toEqual({ dest: f.dest, got: terraformLiteralValue(f.content) });
        if (scripts.has(f.dest)) expect(got).toBe(scripts.get(f.dest));
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.each(Object.keys(SHIPPED_STACKS))('stack %s', (name) => {
  const tf = synthStack((app) => SHIPPED_STACKS[name](app, name));
  test('every live ${…} is a Terraform reference or function call, and no string holds a %{ directive', () => {
    const bad: string[] = [];
    for (const { path: at, value } of stringsOf(tf)) {
      for (const expr of interpolations(value)) {
        if (!/^\(*[a-z][a-z0-9_]*(\.[A-Za-z_]|\()/.test(expr)) bad.push(`${at}: \${${expr.slice(0, 40)}}`);
      }
      if (directives(value).length > 0) bad.push(`${at}: %{`);
    }
    expect(bad).toEqual([]);
  });
});
