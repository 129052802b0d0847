/**
 * mail-relay.sh with the packages faked as installed: the msmtp configuration it writes (relay, TLS mode, the
 * password only through passwordeval of a root:slurm 0640 file fetched by reference), re-runs that change
 * nothing, and refusals before anything is written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { FAKE_DPKG_QUERY, installFakes, Sandbox } from './sh';

let sb: Sandbox;
let bin: string;
beforeEach(() => {
  sb = new Sandbox();
  const fakes = installFakes(sb, { 'dpkg-query': FAKE_DPKG_QUERY });
  bin = fakes.bin;
  fs.writeFileSync(path.join(fakes.fake, 'dpkg'), 'msmtp 1.8\nmsmtp-mta 1.8\nbsd-mailx 8.1\n');
  fs.writeFileSync(sb.envFile, '');
});
afterEach(() => sb.cleanup());

const run = (env: Record<string, string>) => sb.script('mail-relay.sh', {
  PATH: `${bin}:${process.env.PATH}`, FAKE: path.join(sb.dir, 'fake'),
  MSMTPRC: path.join(sb.dir, 'msmtprc'), MAIL_PASSWORD_FILE: path.join(sb.dir, 'mail-password'), ...env,
});

test('STARTTLS relay with a login: msmtprc names the password file, never the password; both root:slurm 0640; a re-run changes nothing', () => {
  const secret = sb.file('smtp.secret', 'S3cr3t-relay-pass\n', 0o600);
  const r = run({ MAIL_RELAY: 'smtp.example.org:587', MAIL_FROM: 'slurm@example.org', MAIL_USER: 'relayuser', MAIL_PASSWORD_SOURCE: `file:${secret}` });
  expect(r.status).toBe(0);
  const rc = fs.readFileSync(path.join(sb.dir, 'msmtprc'), 'utf8');
  expect(rc.split('\n').filter((l) => l && !l.startsWith('#'))).toEqual([
    'defaults', 'syslog LOG_MAIL', 'tls on', 'tls_trust_file /etc/ssl/certs/ca-certificates.crt',
    'account relay', 'host smtp.example.org', 'port 587', 'from slurm@example.org',
    'auth on', 'user relayuser', `passwordeval cat ${path.join(sb.dir, 'mail-password')}`,
    'account default : relay',
  ]);
  expect(rc).not.toContain('S3cr3t');
  expect(r.log).not.toContain('S3cr3t');
  for (const f of ['msmtprc', 'mail-password']) {
    const st = fs.statSync(path.join(sb.dir, f));
    expect((st.mode & 0o777).toString(8)).toBe('640');
    expect(st.uid).toBe(0);
  }
  expect(fs.readFileSync(path.join(sb.dir, 'mail-password'), 'utf8')).toBe('S3cr3t-relay-pass\n');
  const before = fs.statSync(path.join(sb.dir, 'msmtprc')).mtimeMs;
  expect(run({ MAIL_RELAY: 'smtp.example.org:587', MAIL_FROM: 'slurm@example.org', MAIL_USER: 'relayuser', MAIL_PASSWORD_SOURCE: `file:${secret}` }).status).toBe(0);
  expect(fs.statSync(path.join(sb.dir, 'msmtprc')).mtimeMs).toBe(before);
});

test('implicit TLS on 465 turns STARTTLS off; a relay without login has auth off', () => {
  expect(run({ MAIL_RELAY: 'smtp.example.org:465', MAIL_FROM: 'slurm@example.org', MAIL_TLS: 'tls' }).status).toBe(0);
  const rc = fs.readFileSync(path.join(sb.dir, 'msmtprc'), 'utf8');
  expect(rc).toMatch(/^tls_starttls off$/m);
  expect(rc).toMatch(/^auth off$/m);
  expect(fs.existsSync(path.join(sb.dir, 'mail-password'))).toBe(false);
});

test.each([
  ['a relay without a port', { MAIL_RELAY: 'smtp.example.org', MAIL_FROM: 'a@example.org' }, /MAIL_RELAY='smtp\.example\.org' is not host:port/],
  ['a password in clear', { MAIL_RELAY: 'smtp.example.org:25', MAIL_FROM: 'a@example.org', MAIL_USER: 'u', MAIL_PASSWORD_SOURCE: 'file:/x', MAIL_TLS: 'off' }, /refusing to send the relay password without TLS/],
  ['a password without a user', { MAIL_RELAY: 'smtp.example.org:587', MAIL_FROM: 'a@example.org', MAIL_PASSWORD_SOURCE: 'file:/x' }, /MAIL_USER is not/],
])('refuses %s before writing anything', (_n, env, message) => {
  const r = run(env);
  expect(r.status).toBe(1);
  expect(r.log).toMatch(message);
  expect(fs.existsSync(path.join(sb.dir, 'msmtprc'))).toBe(false);
});
