/**
 * aws/fetch-bootstrap.sh against a stub that plays IMDSv2 and S3 on 127.0.0.1: the scripts arrive, are checked
 * against the manifest's SHA-256, are signed for with the instance role's credentials (SigV4 by curl), and the
 * secret key never shows in output or log.
 */
import { spawn, spawnSync, type ChildProcess } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SCRIPTS_DIR } from './sh';

const FETCHER = path.join(SCRIPTS_DIR, 'aws/fetch-bootstrap.sh');
const SECRET_KEY = 'wJalrXUtnFEMI-K7MDENG-SENTINEL-SECRET';
const SESSION_TOKEN = 'SESSION-TOKEN-SENTINEL';

const STUB = `
import http.server, json, os, sys
objects, reqlog, tagfile = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, body):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code); self.send_header('Content-Length', str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_PUT(self):
        self.reply(200, 'imds-token') if self.path == '/latest/api/token' else self.reply(404, '')
    def do_GET(self):
        with open(reqlog, 'a') as f:
            f.write(json.dumps({'path': self.path, 'auth': self.headers.get('Authorization', ''),
                                'token': self.headers.get('x-amz-security-token', ''),
                                'imds': self.headers.get('X-aws-ec2-metadata-token', '')}) + '\\n')
        p = self.path
        if p.startswith('/latest/'):
            if self.headers.get('X-aws-ec2-metadata-token') != 'imds-token': return self.reply(401, '')
            if p == '/latest/meta-data/placement/region': return self.reply(200, 'eu-west-1')
            if p == '/latest/meta-data/tags/instance/slurm:scripts-bucket':
                return self.reply(200, open(tagfile).read()) if os.path.exists(tagfile) else self.reply(404, '')
            if p == '/latest/meta-data/iam/security-credentials/': return self.reply(200, 'node-role')
            if p == '/latest/meta-data/iam/security-credentials/node-role':
                return self.reply(200, json.dumps({'AccessKeyId': 'AKIDSTUB', 'SecretAccessKey': '${SECRET_KEY}', 'Token': '${SESSION_TOKEN}'}))
            return self.reply(404, '')
        f = os.path.join(objects, p.lstrip('/'))
        if os.path.isfile(f): return self.reply(200, open(f, 'rb').read())
        self.reply(404, '')
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`;

const scripts: Record<string, string> = {
  'bootstrap.sh': '#!/usr/bin/env bash\necho boot\n',
  'lib/common.sh': '# helpers\nlog() { :; }\n',
  'aws/node-name.sh': '#!/usr/bin/env bash\necho gpu-0\n',
};
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let dir: string;
let server: ChildProcess;
let endpoint: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdktf-slurm-fetch-'));
  for (const [rel, content] of Object.entries(scripts)) {
    fs.mkdirSync(path.join(dir, 'objects/bootstrap', path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'objects/bootstrap', rel), content);
  }
  fs.writeFileSync(path.join(dir, 'stub.py'), STUB);
  fs.writeFileSync(path.join(dir, 'tag'), 'cluster-bootstrap-abc');
  fs.writeFileSync(path.join(dir, 'node.env'), "CLUSTER_NAME='hpc'\n");
  fs.writeFileSync(path.join(dir, 'manifest'), Object.entries(scripts).map(([r, c]) => `${sha(c)}  ${r}\n`).join(''));
  server = spawn('python3', [path.join(dir, 'stub.py'), path.join(dir, 'objects'), path.join(dir, 'requests'), path.join(dir, 'tag')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve) => server.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(() => {
  server?.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

function fetch(extra: Record<string, string> = {}) {
  const r = spawnSync('bash', [FETCHER], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      CDKTF_SLURM_ENV_FILE: path.join(dir, 'node.env'),
      CDKTF_SLURM_MANIFEST: path.join(dir, 'manifest'),
      CDKTF_SLURM_BOOTSTRAP_DIR: path.join(dir, 'installed'),
      CDKTF_SLURM_LOG_DIR: path.join(dir, 'log'),
      AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint,
      SCRIPTS_ENDPOINT: endpoint,
      ...extra,
    },
  });
  const log = fs.existsSync(path.join(dir, 'log/bootstrap.log')) ? fs.readFileSync(path.join(dir, 'log/bootstrap.log'), 'utf8') : '';
  return { ...r, log };
}
const requests = () =>
  fs.readFileSync(path.join(dir, 'requests'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);

test('downloads every manifest entry with SigV4 and the role session token, installs it 0755', () => {
  const r = fetch();
  expect(r.status).toBe(0);
  for (const [rel, content] of Object.entries(scripts)) {
    const p = path.join(dir, 'installed', rel);
    expect(fs.readFileSync(p, 'utf8')).toBe(content);
    expect(fs.statSync(p).mode & 0o777).toBe(0o755);
  }
  const s3 = requests().filter((q) => q.path.startsWith('/bootstrap/'));
  expect(s3.map((q) => q.path).sort()).toEqual(Object.keys(scripts).map((r) => `/bootstrap/${r}`).sort());
  for (const q of s3) {
    expect(q.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDSTUB\/\d{8}\/eu-west-1\/s3\/aws4_request/);
    expect(q.token).toBe(SESSION_TOKEN);
  }
  // Every metadata read used an IMDSv2 session token.
  expect(requests().filter((q) => q.path.startsWith('/latest/')).every((q) => q.imds === 'imds-token')).toBe(true);
  expect(r.log).toMatch(/3 fetched, 0 already in place, from s3:\/\/cluster-bootstrap-abc\/bootstrap/);
  for (const out of [r.stdout, r.stderr, r.log]) {
    expect(out).not.toContain(SECRET_KEY);
    expect(out).not.toContain(SESSION_TOKEN);
  }
});

test('a second run keeps what matches and downloads nothing', () => {
  const before = requests().length;
  const r = fetch();
  expect(r.status).toBe(0);
  expect(r.log).toMatch(/0 fetched, 3 already in place/);
  expect(requests().slice(before).filter((q) => q.path.startsWith('/bootstrap/'))).toEqual([]);
});

test('an object whose SHA-256 differs from the manifest is refused and not installed', () => {
  fs.writeFileSync(path.join(dir, 'objects/bootstrap/aws/node-name.sh'), '#!/usr/bin/env bash\necho tampered\n');
  fs.rmSync(path.join(dir, 'installed/aws/node-name.sh'));
  const r = fetch();
  expect(r.status).not.toBe(0);
  expect(r.log).toMatch(/aws\/node-name\.sh has SHA-256 [0-9a-f]{64}, the manifest wants [0-9a-f]{64}/);
  expect(fs.existsSync(path.join(dir, 'installed/aws/node-name.sh'))).toBe(false);
  fs.writeFileSync(path.join(dir, 'objects/bootstrap/aws/node-name.sh'), scripts['aws/node-name.sh']);
});

test('without the bucket tag it says how to fix the launch template', () => {
  fs.renameSync(path.join(dir, 'tag'), path.join(dir, 'tag.off'));
  try {
    const r = fetch({ FETCH_ATTEMPTS: '1' });
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(/no slurm:scripts-bucket instance tag .* enable instance_metadata_tags/);
  } finally {
    fs.renameSync(path.join(dir, 'tag.off'), path.join(dir, 'tag'));
  }
});

test('a manifest path that climbs out of the bootstrap dir is refused', () => {
  const manifest = path.join(dir, 'manifest');
  const good = fs.readFileSync(manifest, 'utf8');
  fs.writeFileSync(manifest, `${'0'.repeat(64)}  ../../etc/passwd\n`);
  try {
    const r = fetch();
    expect(r.status).not.toBe(0);
    expect(r.log).toMatch(/manifest entry '\.\.\/\.\.\/etc\/passwd' is not a plain relative path/);
  } finally {
    fs.writeFileSync(manifest, good);
  }
});
