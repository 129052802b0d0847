/**
 * How findings become errors, warnings or recorded suppressions, and that every shipped stack passes the pack
 * with exactly the suppressions it is meant to carry, each with its reason in the synthesized metadata.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { App, TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { Partition } from '../../lib/constructs/partition';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { PolicyRecord, SecurityPolicy, enforceSecurityPolicy, suppressPolicyRule } from '../../lib/policy';
import { SHIPPED_STACKS } from '../../stacks/shipped';
import { GceNodes } from '../../lib/gcp/gce-nodes';

type Json = Record<string, any>;

function notes(stack: TerraformStack, level: string): { path: string; message: string }[] {
  return stack.node.findAll().flatMap((c) =>
    c.node.metadata.filter((m) => m.type === `@cdktf/${level}`).map((m) => ({ path: c.node.path, message: String(m.data) })),
  );
}

/** An unencrypted volume inside a `Storage` construct: one AWS-EBS-ENCRYPTED finding. */
function stackWithPlainVolume(): { app: App; stack: TerraformStack; storage: Construct } {
  const app = Testing.app();
  const stack = new TerraformStack(app, 's');
  const storage = new Construct(stack, 'Storage');
  new EbsVolume(storage, 'Volume', { availabilityZone: 'us-east-1a', size: 10 });
  return { app, stack, storage };
}

/** The stack as written to cdk.tf.json, `//` metadata included (Testing.synth strips it). */
function synthFull(stack: TerraformStack): Json {
  Testing.synth(stack);
  return stack.toTerraform() as Json;
}

const REASON = 'Scratch volume holding only public benchmark data; encryption adds nothing here.';

describe('suppressPolicyRule', () => {
  test('refuses an unknown rule, naming the construct and the rules that exist', () => {
    const { storage } = stackWithPlainVolume();
    expect(() => suppressPolicyRule(storage, 'AWS-EBS-ENCRYPT', REASON)).toThrow(
      /s\/Storage: suppressPolicyRule: rule "AWS-EBS-ENCRYPT" does not exist\. Use one of: .*AWS-EBS-ENCRYPTED/,
    );
  });

  test('refuses a reason too short to tell a reviewer anything', () => {
    const { storage } = stackWithPlainVolume();
    expect(() => suppressPolicyRule(storage, 'AWS-EBS-ENCRYPTED', 'ok')).toThrow(/reason = "ok" is too short.*at least 20 characters/);
    expect(() => suppressPolicyRule(storage, 'AWS-EBS-ENCRYPTED', '   '.repeat(10))).toThrow(/too short/);
  });

  test('on a parent covers the resources under it: info, no error, reason recorded in the stack metadata', () => {
    const { stack, storage } = stackWithPlainVolume();
    suppressPolicyRule(storage, 'AWS-EBS-ENCRYPTED', REASON);
    enforceSecurityPolicy(stack);
    const tf: Json = synthFull(stack);
    expect(notes(stack, 'error')).toEqual([]);
    expect(notes(stack, 'info').map((n) => n.message)).toContainEqual(
      expect.stringMatching(/^\[AWS-EBS-ENCRYPTED\] suppressed on aws_ebs_volume\.Storage_Volume_\w+ \(encrypted is not true\): Scratch volume/),
    );
    const record: PolicyRecord = tf['//'].policy;
    expect(record.violations).toBe(0);
    expect(record.suppressed).toEqual([
      { rule: 'AWS-EBS-ENCRYPTED', block: expect.stringMatching(/^aws_ebs_volume\.Storage_Volume_/), path: 's/Storage/Volume', reason: REASON },
    ]);
  });

  test('for another rule leaves the finding an error and is itself reported as matching nothing', () => {
    const { stack, storage } = stackWithPlainVolume();
    suppressPolicyRule(storage, 'AWS-EC2-IMDSV2', 'There is no instance in this construct at all, so nothing.');
    enforceSecurityPolicy(stack);
    Testing.synth(stack);
    expect(notes(stack, 'error').map((n) => n.path)).toEqual(['s/Storage/Volume']);
    expect(notes(stack, 'warn')).toEqual([
      { path: 's/Storage', message: expect.stringMatching(/^\[AWS-EC2-IMDSV2\] suppression matches no finding under s\/Storage/) },
    ]);
  });

  test('on a sibling does not reach the resource', () => {
    const { stack } = stackWithPlainVolume();
    suppressPolicyRule(new Construct(stack, 'Elsewhere'), 'AWS-EBS-ENCRYPTED', REASON);
    enforceSecurityPolicy(stack);
    Testing.synth(stack);
    expect(notes(stack, 'error')).toHaveLength(1);
  });
});

describe('enforcement', () => {
  test("level 'warning' reports without failing synth", () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'policy-warn-'));
    try {
      const app = new App({ outdir, stackTraces: false });
      const stack = new TerraformStack(app, 'w');
      new AwsProvider(stack, 'aws', { region: 'us-east-1' });
      new EbsVolume(stack, 'Volume', { availabilityZone: 'us-east-1a', size: 10 });
      enforceSecurityPolicy(stack, { level: 'warning' });
      app.synth();
      expect(notes(stack, 'warn').map((n) => n.message)).toEqual([expect.stringMatching(/^\[AWS-EBS-ENCRYPTED\]/)]);
      const written = JSON.parse(fs.readFileSync(path.join(outdir, 'stacks', 'w', 'cdk.tf.json'), 'utf8'));
      expect(written['//'].policy.violations).toBe(1);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });

  test('only the packs asked for run', () => {
    const { stack } = stackWithPlainVolume();
    enforceSecurityPolicy(stack, { packs: ['gcp', 'docker'] });
    Testing.synth(stack);
    expect(notes(stack, 'error')).toEqual([]);
    expect(() => new SecurityPolicy({ packs: ['azure' as never] })).toThrow(/unknown azure\. Use aws, gcp, docker, common/);
  });

  test('added to a construct, checks its whole stack once however often it synthesizes; refused on the app', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'a');
    const inner = new Construct(stack, 'Inner');
    new EbsVolume(stack, 'Volume', { availabilityZone: 'us-east-1a', size: 10 });
    enforceSecurityPolicy(inner);
    Testing.synth(stack);
    Testing.synth(stack);
    expect(notes(stack, 'error').map((n) => n.path)).toEqual(['a/Volume']);
    expect(() => enforceSecurityPolicy(app)).toThrow(/given the app.*Call enforceSecurityPolicy\(stack\) for each stack/);
  });

  test('a Secure Boot the user turned off is a finding; only the TCPXO default is suppressed by the pool', () => {
    const build = (secureBoot: boolean | undefined) => {
      const app = Testing.app();
      const stack = new TerraformStack(app, 'g');
      new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
      const network = new GcpClusterNetwork(stack, 'Net', {
        project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc', gpuNetworkCount: 8,
      });
      const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
      const a3 = new ComputeNodePool(stack, 'Pool', { controller, name: 'a3', nodes: GceNodes.of({ machineType: 'a3-megagpu-8g', tcpxo: {}, secureBoot }), count: 2 });
      const cpu = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8', secureBoot }), count: 1 });
      new Partition(stack, 'Batch', { controller, name: 'batch', pools: [cpu, a3], default: true });
      enforceSecurityPolicy(stack);
      Testing.synth(stack);
      return stack;
    };
    expect(notes(build(undefined), 'error')).toEqual([]);
    const off = notes(build(false), 'error').filter((n) => n.message.startsWith('[GCP-VM-SHIELDED]'));
    expect(off.map((n) => n.path).sort()).toEqual(['g/Cpu/Template/Template', 'g/Pool/Template/Template']);
  });
});

/** What each shipped stack is meant to accept, and nothing more. */
const EXPECTED_SUPPRESSIONS: Record<string, Record<string, number>> = {
  'aws-gpu': { 'AWS-EC2-NO-PUBLIC-IP': 1 },
  'hybrid-gpu': { 'AWS-EC2-NO-PUBLIC-IP': 1, 'DOCKER-CONFINEMENT': 3 },
  'gcp-a3mega': { 'GCP-VPC-FLOW-LOGS': 8, 'GCP-VM-SHIELDED': 1 },
  'ceph-lab': { 'AWS-EC2-NO-PUBLIC-IP': 1 },
};

describe.each(Object.keys(SHIPPED_STACKS))('shipped stack %s', (name) => {
  const app = Testing.app();
  const stack = SHIPPED_STACKS[name](app, name);
  const tf: Json = synthFull(stack);
  const record: PolicyRecord = tf['//'].policy;

  test('runs every pack and passes it: no error, no warning', () => {
    expect(record.packs).toEqual(['aws', 'gcp', 'docker', 'common']);
    expect(record.rules).toBeGreaterThanOrEqual(25);
    expect(record.blocksChecked).toBeGreaterThan(20);
    expect(record.violations).toBe(0);
    expect(notes(stack, 'error')).toEqual([]);
    expect(notes(stack, 'warn')).toEqual([]);
  });

  test('carries exactly its intended suppressions, each with a reason, printed as info', () => {
    const counts: Record<string, number> = {};
    for (const s of record.suppressed) counts[s.rule] = (counts[s.rule] ?? 0) + 1;
    expect(counts).toEqual(EXPECTED_SUPPRESSIONS[name]);
    for (const s of record.suppressed) {
      expect(s.reason.length).toBeGreaterThanOrEqual(20);
      expect(notes(stack, 'info').map((n) => n.message)).toContainEqual(expect.stringContaining(`[${s.rule}] suppressed on ${s.block}`));
    }
  });
});
