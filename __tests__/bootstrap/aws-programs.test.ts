/**
 * The AWS power-saving programs (slurm-resume.sh, slurm-suspend.sh) and node-name.sh, run for real against
 * a fake `aws` and a fake `scontrol update` on PATH (hostlists are expanded by the real `scontrol show
 * hostnames`) and a stub IMDSv2 server on 127.0.0.1. Each test asserts the exact AWS calls made.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Sandbox, SCRIPTS_DIR } from './sh';

const realScontrol = spawnSync('bash', ['-c', 'command -v scontrol'], { encoding: 'utf8' }).stdout.trim();
const haveScontrol = realScontrol !== '';
const SUBNET_A = 'subnet-0aaaaaaaaaaaaaaa1';
const SUBNET_B = 'subnet-0bbbbbbbbbbbbbbb2';
const LT = 'lt-0123456789abcdef0';

let sb: Sandbox;
beforeEach(() => {
  sb = new Sandbox();
  // aws: logs its argv (one line, %q-quoted), answers from canned state in the sandbox.
  sb.file(
    'fakebin/aws',
    `#!/bin/bash
# One write per call: parallel launches must not interleave their lines.
line=$(printf '%q ' "$@"); printf '%s\\n' "$line" >>"$FAKE_DIR/aws.calls"
args=" $* "
arg() { local want=$1; shift; while (($#)); do [[ "$1" == "$want" ]] && { printf '%s' "$2"; return; }; shift; done; }
case "$args" in
  *" describe-instances "*)
    names=""; cluster=""
    for a in "$@"; do
      case "$a" in
        Name=tag:slurm:node-name,Values=*) names=",\${a#*Values=}," ;;
        Name=tag:slurm:cluster,Values=*) cluster=\${a#*Values=} ;;
      esac
    done
    [[ -f "$FAKE_DIR/instances" ]] || exit 0
    while read -r id name cl; do
      [[ "$names" == *",$name,"* && "$cl" == "$cluster" ]] && printf '%s\\t%s\\n' "$id" "$name"
    done <"$FAKE_DIR/instances"
    exit 0 ;;
  *" run-instances "*)
    subnet=$(arg --subnet-id "$@")
    node=$(printf '%s' "$*" | sed -n 's/.*"Key":"slurm:node-name","Value":"\\([^"]*\\)".*/\\1/p')
    if [[ -n "\${FAKE_THROTTLE_ONCE:-}" && ! -e "$FAKE_DIR/throttled-$node" ]]; then
      : >"$FAKE_DIR/throttled-$node"
      echo "An error occurred (RequestLimitExceeded) when calling the RunInstances operation: Request limit exceeded." >&2; exit 254
    fi
    if [[ -n "$subnet" && " \${FAKE_NO_CAPACITY:-} " == *" $subnet "* ]]; then
      echo "An error occurred (InsufficientInstanceCapacity) when calling the RunInstances operation: We currently do not have sufficient capacity in the Availability Zone you requested." >&2; exit 254
    fi
    if [[ -n "\${FAKE_RUN_ERROR:-}" ]]; then
      echo "An error occurred ($FAKE_RUN_ERROR) when calling the RunInstances operation: denied" >&2; exit 254
    fi
    echo "i-0$(printf '%s' "$node" | md5sum | cut -c1-16)"; exit 0 ;;
  *" terminate-instances "*) exit 0 ;;
esac
echo "fake aws: unexpected call: $*" >&2; exit 99
`,
    0o755,
  );
  // scontrol: real hostlist expansion, logged updates.
  sb.file(
    'fakebin/scontrol',
    `#!/bin/bash
if [[ "$1" == show ]]; then exec ${JSON.stringify(realScontrol)} "$@"; fi
line=$(printf '%q ' "$@"); printf '%s\\n' "$line" >>"$FAKE_DIR/scontrol.calls"
`,
    0o755,
  );
});
afterEach(() => sb.cleanup());

interface PoolFile {
  subnets?: string[];
  capacity?: 'on-demand' | 'spot';
  placementGroup?: string;
  cluster?: string;
  interfacesInTemplate?: boolean;
}
function pool(name: string, p: PoolFile = {}): void {
  const lines = [
    `LAUNCH_TEMPLATE_ID='${LT}'`,
    `LAUNCH_TEMPLATE_VERSION='3'`,
    `SUBNET_IDS='${(p.subnets ?? [SUBNET_A, SUBNET_B]).join(' ')}'`,
    `CAPACITY_TYPE='${p.capacity ?? 'on-demand'}'`,
    `AWS_REGION='eu-west-1'`,
    `CLUSTER_NAME='${p.cluster ?? 'hpc'}'`,
  ];
  if (p.placementGroup) lines.push(`PLACEMENT_GROUP='${p.placementGroup}'`);
  if (p.interfacesInTemplate) lines.push(`NETWORK_INTERFACES_IN_TEMPLATE='1'`);
  sb.file(`pools/${name}.env`, lines.join('\n') + '\n', 0o640);
}

function run(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', [path.join(SCRIPTS_DIR, 'aws', script), ...args], {
    env: sb.env({
      PATH: `${path.join(sb.dir, 'fakebin')}:${process.env.PATH}`,
      FAKE_DIR: sb.dir,
      CDKTF_SLURM_POOLS_DIR: path.join(sb.dir, 'pools'),
      AWS_RETRY_DELAY: '0',
      // Hostlist expansion reads a slurm.conf, as it does on the controller.
      SLURM_CONF: sb.file('slurm.conf', 'ClusterName=hpc\nSlurmctldHost=localhost\n'),
      ...env,
    }),
    encoding: 'utf8',
    timeout: 30000,
    cwd: sb.dir,
  });
  if (r.error) throw r.error;
  const read = (f: string): string[] => {
    const p = path.join(sb.dir, f);
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '') : [];
  };
  const log = (f: string): string => {
    const p = path.join(sb.logDir, f);
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : '';
  };
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, aws: read('aws.calls'), scontrol: read('scontrol.calls'), log, };
}

/** argv of a logged call, unquoted by bash itself. */
function argv(line: string): string[] {
  const r = spawnSync('bash', ['-c', `for a in ${line}; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
  return r.stdout.split('\0').slice(0, -1);
}
const calls = (lines: string[], sub: string): string[][] => lines.map(argv).filter((a) => a.includes(sub));
const opt = (a: string[], name: string): string | undefined => (a.includes(name) ? a[a.indexOf(name) + 1] : undefined);
const nodeOf = (a: string[]): string => {
  const tags = JSON.parse(opt(a, '--tag-specifications') as string) as { ResourceType: string; Tags: { Key: string; Value: string }[] }[];
  return tags[0].Tags.find((t) => t.Key === 'slurm:node-name')?.Value as string;
};

const d = haveScontrol ? describe : describe.skip;

d('slurm-resume.sh', () => {
  test('expands the hostlist and launches one tagged on-demand instance per node from its pool', () => {
    pool('gpu');
    pool('cpu', { subnets: [SUBNET_B] });
    const r = run('slurm-resume.sh', ['gpu-[0-1],cpu-7']);
    expect(r.status).toBe(0);
    const runs = calls(r.aws, 'run-instances');
    expect(runs.map(nodeOf).sort()).toEqual(['cpu-7', 'gpu-0', 'gpu-1']);
    for (const a of runs) {
      const node = nodeOf(a);
      expect(a.slice(0, 4)).toEqual(['--region', 'eu-west-1', 'ec2', 'run-instances']);
      expect(opt(a, '--launch-template')).toBe(`LaunchTemplateId=${LT},Version=3`);
      expect(opt(a, '--subnet-id')).toBe(node === 'cpu-7' ? SUBNET_B : SUBNET_A);
      expect(opt(a, '--count')).toBe('1');
      expect(opt(a, '--client-token')).toMatch(/^[0-9a-f]{64}$/);
      expect(a).not.toContain('--instance-market-options');
      expect(a).not.toContain('--placement');
      const tags = [
        { Key: 'Name', Value: node },
        { Key: 'slurm:node-name', Value: node },
        { Key: 'slurm:cluster', Value: 'hpc' },
      ];
      expect(JSON.parse(opt(a, '--tag-specifications') as string)).toEqual([
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ]);
    }
    // Before launching, each pool is checked for instances that already exist (live states only).
    const describes = calls(r.aws, 'describe-instances');
    expect(describes).toHaveLength(2);
    const gpuDescribe = describes.find((a) => a.some((x) => x.includes('Values=gpu-0,gpu-1'))) as string[];
    expect(gpuDescribe).toEqual(
      expect.arrayContaining(['Name=tag:slurm:cluster,Values=hpc', 'Name=tag:slurm:node-name,Values=gpu-0,gpu-1', 'Name=instance-state-name,Values=pending,running']),
    );
    expect(r.scontrol).toEqual([]);
    expect(r.log('resume.log')).toMatch(/gpu-0: launched i-0[0-9a-f]{16} in subnet-0aaaaaaaaaaaaaaa1 \(on-demand, template lt-0123456789abcdef0 v3\)/);
  });

  test('spot pools ask for spot capacity and their placement group; on-demand pools do not', () => {
    pool('spot', { capacity: 'spot', placementGroup: 'hpc-pg' });
    pool('od');
    const r = run('slurm-resume.sh', ['spot-0,od-0']);
    expect(r.status).toBe(0);
    const [spot] = calls(r.aws, 'run-instances').filter((a) => nodeOf(a) === 'spot-0');
    const [od] = calls(r.aws, 'run-instances').filter((a) => nodeOf(a) === 'od-0');
    expect(JSON.parse(opt(spot, '--instance-market-options') as string)).toEqual({
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
    });
    expect(JSON.parse(opt(spot, '--placement') as string)).toEqual({ GroupName: 'hpc-pg' });
    expect(od).not.toContain('--instance-market-options');
  });

  test('EFA pools (interfaces in the template) launch without --subnet-id, which EC2 would refuse', () => {
    pool('p5', { subnets: [SUBNET_A], interfacesInTemplate: true });
    const r = run('slurm-resume.sh', ['p5-0']);
    expect(r.log('resume.log')).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    const [launch] = calls(r.aws, 'run-instances');
    expect(launch).not.toContain('--subnet-id');
    expect(opt(launch, '--launch-template')).toBe(`LaunchTemplateId=${LT},Version=3`);
  });

  test('an EFA pool with several subnets is refused: the template has exactly one', () => {
    pool('p5', { subnets: [SUBNET_A, SUBNET_B], interfacesInTemplate: true });
    const r = run('slurm-resume.sh', ['p5-0']);
    expect(r.aws).toEqual([]);
    expect(r.log('resume.log')).toMatch(/NETWORK_INTERFACES_IN_TEMPLATE=1 needs exactly one subnet/);
  });

  test('falls back to the next subnet on InsufficientInstanceCapacity', () => {
    pool('gpu');
    const r = run('slurm-resume.sh', ['gpu-[2-3]'], { FAKE_NO_CAPACITY: SUBNET_A });
    expect(r.status).toBe(0);
    const runs = calls(r.aws, 'run-instances');
    for (const node of ['gpu-2', 'gpu-3']) {
      expect(runs.filter((a) => nodeOf(a) === node).map((a) => opt(a, '--subnet-id'))).toEqual([SUBNET_A, SUBNET_B]);
    }
    expect(r.scontrol).toEqual([]);
    expect(r.log('resume.log')).toMatch(/gpu-2: InsufficientInstanceCapacity in subnet-0aaaaaaaaaaaaaaa1; trying the next subnet/);
  });

  test('sets the nodes DOWN with a reason when every subnet is out of capacity', () => {
    pool('gpu');
    const r = run('slurm-resume.sh', ['gpu-[0-1]'], { FAKE_NO_CAPACITY: `${SUBNET_A} ${SUBNET_B}` });
    expect(r.status).toBe(1);
    expect(calls(r.aws, 'run-instances')).toHaveLength(4);
    expect(r.scontrol.map(argv)).toEqual([
      ['update', 'nodename=gpu-0,gpu-1', 'state=down', `reason=resume failed: no capacity in ${SUBNET_A} ${SUBNET_B}`],
    ]);
    expect(r.log('resume.log')).toMatch(/2 node\(s\) failed and were set DOWN: gpu-[01],gpu-[01]/);
  });

  test('a non-capacity error is final: no other subnet is tried, the code is in the reason', () => {
    pool('gpu');
    const r = run('slurm-resume.sh', ['gpu-0'], { FAKE_RUN_ERROR: 'UnauthorizedOperation' });
    expect(r.status).toBe(1);
    expect(calls(r.aws, 'run-instances').map((a) => opt(a, '--subnet-id'))).toEqual([SUBNET_A]);
    const [update] = r.scontrol.map(argv);
    expect(update.slice(0, 3)).toEqual(['update', 'nodename=gpu-0', 'state=down']);
    expect(update[3]).toMatch(/^reason=resume failed: UnauthorizedOperation in subnet-0aaaaaaaaaaaaaaa1: /);
  });

  test('retries a throttled call on the same subnet with a new client token', () => {
    pool('gpu');
    const r = run('slurm-resume.sh', ['gpu-0'], { FAKE_THROTTLE_ONCE: '1' });
    expect(r.status).toBe(0);
    const runs = calls(r.aws, 'run-instances');
    expect(runs.map((a) => opt(a, '--subnet-id'))).toEqual([SUBNET_A, SUBNET_A]);
    expect(opt(runs[0], '--client-token')).not.toBe(opt(runs[1], '--client-token'));
    expect(r.scontrol).toEqual([]);
  });

  test('does not launch a second instance for a node that already has one', () => {
    pool('gpu');
    sb.file('instances', 'i-0000000000000000a gpu-0 hpc\ni-0000000000000000b gpu-1 other-cluster\n');
    const r = run('slurm-resume.sh', ['gpu-[0-1]']);
    expect(r.status).toBe(0);
    expect(calls(r.aws, 'run-instances').map(nodeOf)).toEqual(['gpu-1']);
    expect(r.log('resume.log')).toMatch(/gpu-0: already has instance i-0000000000000000a; not launching another/);
  });

  test('a pool without a settings file fails its nodes only', () => {
    pool('gpu');
    const r = run('slurm-resume.sh', ['gpu-0,ghost-[0-1]']);
    expect(r.status).toBe(1);
    expect(calls(r.aws, 'run-instances').map(nodeOf)).toEqual(['gpu-0']);
    const [update] = r.scontrol.map(argv);
    expect(update.slice(0, 3)).toEqual(['update', 'nodename=ghost-0,ghost-1', 'state=down']);
    expect(update[3]).toMatch(/^reason=resume failed: pool 'ghost' settings unreadable or invalid/);
    expect(r.log('resume.log')).toMatch(/cannot read .*pools\/ghost\.env/);
  });

  test('an invalid pool setting is named with its value', () => {
    sb.file('pools/gpu.env', `LAUNCH_TEMPLATE_ID='${LT}'\nLAUNCH_TEMPLATE_VERSION='3'\nSUBNET_IDS='${SUBNET_A}'\nCAPACITY_TYPE='reserved'\nAWS_REGION='eu-west-1'\nCLUSTER_NAME='hpc'\n`);
    const r = spawnSync('bash', [path.join(SCRIPTS_DIR, 'aws/pool-env.sh'), 'gpu'], {
      env: sb.env({ CDKTF_SLURM_POOLS_DIR: path.join(sb.dir, 'pools') }),
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/pool 'gpu': CAPACITY_TYPE='reserved' in .*gpu\.env must be on-demand or spot/);
  });

  test('needs exactly one hostlist argument', () => {
    const r = run('slurm-resume.sh', []);
    expect(r.status).toBe(1);
    expect(r.log('resume.log')).toMatch(/usage: slurm-resume.sh HOSTLIST/);
  });
});

d('slurm-suspend.sh', () => {
  test('terminates exactly the instances tagged with the nodes and this cluster, in any live or stopped state', () => {
    pool('gpu');
    sb.file(
      'instances',
      [
        'i-00000000000000001 gpu-0 hpc',
        'i-00000000000000002 gpu-1 hpc',
        'i-00000000000000003 gpu-2 hpc',
        'i-00000000000000004 gpu-0 other-cluster',
      ].join('\n') + '\n',
    );
    const r = run('slurm-suspend.sh', ['gpu-[0-1]']);
    expect(r.status).toBe(0);
    const [describe] = calls(r.aws, 'describe-instances');
    expect(describe).toEqual(
      expect.arrayContaining([
        'Name=tag:slurm:cluster,Values=hpc',
        'Name=tag:slurm:node-name,Values=gpu-0,gpu-1',
        'Name=instance-state-name,Values=pending,running,stopping,stopped',
      ]),
    );
    const terminates = calls(r.aws, 'terminate-instances');
    expect(terminates).toHaveLength(1);
    expect(terminates[0]).toEqual(['--region', 'eu-west-1', 'ec2', 'terminate-instances', '--instance-ids', 'i-00000000000000001', 'i-00000000000000002', '--output', 'text']);
    expect(r.log('suspend.log')).toMatch(/gpu-0: terminating i-00000000000000001/);
  });

  test('is a no-op when no instance carries the names', () => {
    pool('gpu');
    sb.file('instances', 'i-00000000000000009 gpu-9 hpc\n');
    const r = run('slurm-suspend.sh', ['gpu-[0-3]']);
    expect(r.status).toBe(0);
    expect(calls(r.aws, 'terminate-instances')).toEqual([]);
    expect(r.log('suspend.log')).toMatch(/no instances for gpu-0 gpu-1 gpu-2 gpu-3; nothing to do/);
  });
});

describe('node-name.sh (IMDSv2 stub)', () => {
  let server: ChildProcess;
  let endpoint = '';
  let requestLog = '';
  let nameFile = '';
  const stubDir = fs.mkdtempSync(path.join(os.tmpdir(), 'imds-stub-'));

  beforeAll(async () => {
    requestLog = path.join(stubDir, 'requests.log');
    nameFile = path.join(stubDir, 'name');
    fs.writeFileSync(
      path.join(stubDir, 'imds.py'),
      `import http.server, sys, os
TOKEN = "tok-123"
NAME_FILE = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _log(self):
        with open(sys.argv[1], "a") as f:
            f.write("%s %s token=%s ttl=%s\\n" % (self.command, self.path, self.headers.get("X-aws-ec2-metadata-token"), self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
    def _send(self, code, body=b""):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_PUT(self):
        self._log()
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self._send(200, TOKEN.encode())
        self._send(400)
    def do_GET(self):
        self._log()
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self._send(401)
        prefix = "/latest/meta-data/tags/instance/"
        key = self.path[len(prefix):] if self.path.startswith(prefix) else None
        name = open(NAME_FILE).read() if os.path.exists(NAME_FILE) else ""
        if key == "slurm:node-name" and name:
            return self._send(200, name.encode())
        self._send(404)
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`,
    );
    server = spawn('python3', [path.join(stubDir, 'imds.py'), requestLog, nameFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve, reject) => {
      server.once('error', reject);
      server.stdout?.once('data', (b: Buffer) => resolve(b.toString().trim()));
    });
    endpoint = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    server?.kill();
    fs.rmSync(stubDir, { recursive: true, force: true });
  });
  beforeEach(() => fs.rmSync(requestLog, { force: true }));
  const nodeName = (extra: Record<string, string> = {}) =>
    spawnSync('bash', [path.join(SCRIPTS_DIR, 'aws/node-name.sh')], {
      env: sb.env({ AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint, ...extra }),
      encoding: 'utf8',
      timeout: 20000,
    });

  test('prints the slurm:node-name tag, fetched with an IMDSv2 session token', () => {
    fs.writeFileSync(nameFile, 'gpu-12');
    const r = nodeName();
    expect(r.stdout).toBe('gpu-12\n');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(requestLog, 'utf8').split('\n').filter(Boolean)).toEqual([
      'PUT /latest/api/token token=None ttl=300',
      'GET /latest/meta-data/tags/instance/slurm:node-name token=tok-123 ttl=None',
    ]);
  });

  test('fails with the fix when the tag is not in metadata (tags not enabled, or not our instance)', () => {
    fs.rmSync(nameFile, { force: true });
    const r = nodeName({ IMDS_ATTEMPTS: '2' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(sb.readLog()).toMatch(/no slurm:node-name tag in instance metadata .*enable instance_metadata_tags in the launch template/);
    // Every GET carried the session token: the 404 is about the tag, not about IMDSv1.
    const gets = fs.readFileSync(requestLog, 'utf8').split('\n').filter((l) => l.startsWith('GET'));
    expect(gets).toHaveLength(2);
    for (const g of gets) expect(g).toMatch(/token=tok-123/);
  });

  test('rejects a tag value that is not a node name', () => {
    fs.writeFileSync(nameFile, 'Gpu 1; rm -rf /');
    const r = nodeName();
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(sb.readLog()).toMatch(/not a node name of the form <pool>-<index>/);
  });
});
