/**
 * The users table (pure): what every host's `users` step reads. Rendering, and every problem the library catches
 * before a table can reach a node.
 */
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import {
  ClusterGroup, ClusterUser, renderUsersTable, RESERVED_NAMES, sshKeyProblem, USERS_TABLE_PATH, userProblems,
} from '../../lib/cloudinit/users';

const ED1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBHJsJ+jt2BN1HjPTjUlcUXIgz9ajdNC4XJBiSMEIvxZ alice@laptop';
const ED2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKT59faRqoH315mZkE4U0lUJC3FTjrRN2TsEhdB1YeTS alice@desk';
const ECDSA256 = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHV/OrYX4+4XM/HmwgJ9RBKTOTz1IRgeMXRCZCD5CXXfIyB3q7keUMAIhc8IwoFMh2VlOmIbrMz+jWUyr8izT9Y= bob';
const ECDSA521 = 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAAnGcQ9uNjAbMRAkuhmdTDbtoftO7QbV3bDRrPNRpzQj3GUjA27DEWvtjnOiBnvis+IpOpct4DjCcXE6BlhBvKMbQFSawCaAKVY9Ljv/oAGKDUf7PochA0GsgMu2pkRdUYNWYisszTEeypRmxIABkSwCZKY30ICA2KEvTXNUHX8XJNpwg== e521';
const RSA3072 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDon7mlCrtd7DrZEmbN+4DT0U04RGgoaxuMNhp1n1yAfYgl4qBBrY1BhbB0zPvqDZWa9jQ4sFVtWm47og2j12KfKoeDrcAZLxekbdu0wNVq9Hn7oarq8/U6cU7JnmwmIICgM6HFIyaGsUolSJbvV7OLnVCALHNljmhIIqWVb1ka7bW85RprstGqzf3L9kxw4xJJZfiwt8df1YrW2nj8yLVcOQU4WBq40L3k0nMQdNtS5gUzzV49HtO8XdPaVwqKXb01NgnFjTk3C0z+Vmlb+w/k/X7Pt9di56ovjVmnfO1Yr2VMczIfsJpQU4uJMbXmitoYuIZD1EAocM2OXkQ/fNPePW20Q+JEc3xQrsGlZ9f4jx0uvhApGZaFjt9o0KlEcB7kW3QuZis6vGOEp5nszejGmusY7fl1xl4ikVNOXL3T9J7tkxoZRvDdkKP3Fa9L/wKgq1lI5freGwEcvGU8Ba7rLLPnZSsmG3DNIe2E97bTXbCA2AWN0T9iw618nbV7qns= carol';
const RSA1024 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDEZnVKhmjAPR9PtJqXne4paEk/7CFYfn0c6S0vwMsbVFezlYCw7jEoRZas7UdlPfz0367NDwGBoBws2sN/XqzFq583QupFn/ysz9OJ0hTGEsJB2f/sFQyud78iTp7+eRFm9/xNyaMhU9uiqhDSblFtWm1NwOWXFNC34Jo+LQWYYw== weak';

/** An SSH wire-format blob (uint32 length + bytes per part), base64: for key shapes no tool here generates. */
function blob(...parts: (string | Buffer)[]): string {
  return Buffer.concat(parts.flatMap((p) => {
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return [len, b];
  })).toString('base64');
}
const SK_ED = `sk-ssh-ed25519@openssh.com ${blob('sk-ssh-ed25519@openssh.com', randomBytes(32), 'ssh:')} yubikey`;

/** A private key shaped like ssh-keygen's output; its body is random so a leak in a message would be seen. */
const privateBody = randomBytes(48).toString('base64');
const PRIVATE = ['-----BEGIN OPENSSH ' + 'PRIVATE KEY-----', `b3BlbnNzaC1rZXktdjEAAAAA${privateBody}`, '-----END OPENSSH ' + 'PRIVATE KEY-----'].join('\n');

const groups: ClusterGroup[] = [{ name: 'ml', gid: 3000 }, { name: 'gpu', gid: 3001 }];
const alice: ClusterUser = { name: 'alice', uid: 2001, groups: ['ml', 'gpu'], sshPublicKeys: [ED1, ED2], sudo: true };
const bob: ClusterUser = { name: 'bob', uid: 2002, gid: 3000, shell: '/usr/bin/zsh', sshPublicKeys: [ECDSA256] };
const carol: ClusterUser = { name: 'carol', uid: 2003, gid: 4003 };

test('one tab-separated line per record: declared groups, personal groups, then each user with its keys', () => {
  expect(USERS_TABLE_PATH).toBe('/etc/cdktf-slurm/users.tab');
  expect(renderUsersTable([alice, bob, carol], groups)).toBe([
    'group\tml\t3000',
    'group\tgpu\t3001',
    // alice's gid defaults to her uid; carol's explicit gid is no declared group's, so it is her personal one.
    'group\talice\t2001',
    'group\tcarol\t4003',
    'user\talice\t2001\t2001\tml,gpu\t/bin/bash\tsudo',
    `key\talice\t${ED1}`,
    `key\talice\t${ED2}`,
    // bob's gid is ml's: ml is his primary group, no personal group.
    'user\tbob\t2002\t3000\t-\t/usr/bin/zsh\t-',
    `key\tbob\t${ECDSA256}`,
    'user\tcarol\t2003\t4003\t-\t/bin/bash\t-',
  ].map((l) => `${l}\n`).join(''));
  expect(renderUsersTable([], [])).toBe('');
});

test('surrounding whitespace of a key is dropped, so a pasted newline does not end the line early', () => {
  expect(renderUsersTable([{ name: 'dave', uid: 2004, sshPublicKeys: [`  ${ED1}\n`] }], [])).toContain(`key\tdave\t${ED1}\n`);
});

test.each([ED1, ECDSA256, ECDSA521, RSA3072, SK_ED])('accepts the public key %#', (key) => {
  expect(sshKeyProblem(key)).toBeUndefined();
  expect(userProblems([{ ...carol, sshPublicKeys: [key] }], groups, 'c/Users')).toEqual([]);
});

const longTail = 'x'.repeat(8);
test.each<[string, ClusterUser[], ClusterGroup[], RegExp]>([
  ['a UID below 1000', [{ ...carol, uid: 500 }], groups, /^c\/Users: users\[0\]\.uid = 500: is below 1000, the distribution's range .*\. Use a UID in 1000–59999$/],
  ['a UID of 60000 or more', [{ ...carol, uid: 65534 }], groups, /users\[0\]\.uid = 65534: is above 59999: .*nobody.*\. Use a UID in 1000–59999$/],
  ['a fractional UID', [{ ...carol, uid: 2000.5 }], groups, /users\[0\]\.uid = 2000\.5: is not a whole number\. Use a UID/],
  ['an upper-case name', [{ ...carol, name: 'Carol' }], groups, /users\[0\]\.name = "Carol": must be 1-32 lower-case letters.*useradd and Slurm.*\. Use a name such as 'alice'$/],
  ['a 33-character name', [{ ...carol, name: 'a'.repeat(33) }], groups, /users\[0\]\.name = "a{33}": must be 1-32/],
  ['a system name', [{ ...carol, name: 'slurm' }], groups, /users\[0\]\.name = "slurm": is a system or image account name that exists with its own ID\. Use a name/],
  ["the image's default user", [{ ...carol, name: 'ubuntu' }], groups, /users\[0\]\.name = "ubuntu": is a system or image account name/],
  ['a duplicate user name', [carol, { ...carol, uid: 2009 }], groups, /users\[1\]\.name = "carol": also users\[0\]\. Declare each user once$/],
  ['a duplicate UID', [carol, { ...bob, uid: 2003 }], groups, /users\[1\]\.uid = 2003: also the UID of users\[0\] \(carol\)\. Give each user its own UID$/],
  ['an undeclared supplementary group', [{ ...carol, groups: ['physics'] }], groups, /users\[0\]\.groups\[0\] = "physics": not a declared group, so it has no fixed GID\. Add \{ name: "physics", gid: … \} to groups$/],
  ['a group listed twice', [{ ...carol, groups: ['ml', 'ml'] }], groups, /users\[0\]\.groups\[1\] = "ml": listed twice\. Drop the duplicate$/],
  ['a relative shell', [{ ...carol, shell: 'bash' }], groups, /users\[0\]\.shell = "bash": not an absolute path\. Use e\.g\. '\/bin\/bash'/],
  ['a group GID below 1000', [carol], [{ name: 'ml', gid: 27 }], /^c\/Users: groups\[0\]\.gid = 27: is below 1000.*\. Use a GID in 1000–59999$/],
  ['a system group', [carol], [{ name: 'docker', gid: 3000 }], /groups\[0\]\.name = "docker": is a system or image account name.*\. Use a name such as 'ml-team'$/],
  ['a duplicate GID', [carol], [{ name: 'ml', gid: 3000 }, { name: 'cv', gid: 3000 }], /groups\[1\]\.gid = 3000: also the GID of groups\[0\] \(ml\)\. Give each group its own GID$/],
  ['a personal group taking a declared GID', [{ name: 'carol', uid: 3001 }], groups,
    /users\[0\]\.gid \(default: uid 3001\): the personal group would take the GID of groups\[1\] \(gpu\)\. Set gid explicitly .*, or choose a free GID$/],
  ['a personal group named like a declared group', [{ name: 'ml', uid: 2010 }], groups, /users\[0\]\.gid \(default: uid 2010\): the personal group "ml" would clash with groups\[0\] of the same name\. Set gid/],
  ['two personal groups with one GID', [carol, { name: 'erin', uid: 2005, gid: 4003 }], groups,
    /users\[1\]\.gid = 4003: the personal group would take the GID of the personal group of users\[0\] \(carol\)\. Share a group by declaring it/],
  ['a DSA key', [{ ...carol, sshPublicKeys: ['ssh-dss AAAAB3NzaC1kc3MAAACBAP' + longTail] }], groups,
    /users\[0\]\.sshPublicKeys\[0\] = "ssh-dss AAAAB3NzaC1kc3MAAACBAPxxxxxxxx": is a DSA key, which OpenSSH 7\.0\+ refuses.*\. Give the one-line public key/],
  ['an unknown key type', [{ ...carol, sshPublicKeys: ['ssh-foo AAAA'] }], groups, /sshPublicKeys\[0\] = "ssh-foo AAAA": starts with "ssh-foo", not a key type/],
  ['a key type named like an object property', [{ ...carol, sshPublicKeys: ['constructor AAAA'] }], groups, /sshPublicKeys\[0\] = "constructor AAAA": starts with "constructor", not a key type/],
  ['authorized_keys options', [{ ...carol, sshPublicKeys: [`from="10.0.0.0/8" ${ED1}`] }], groups, /sshPublicKeys\[0\] = "from=\\"10\.0\.0\.0\/8\\" ssh-ed25519 AA…" \(\d+ characters\): starts with .*options are not supported/],
  ['a key with no body', [{ ...carol, sshPublicKeys: ['ssh-ed25519'] }], groups, /sshPublicKeys\[0\] = "ssh-ed25519": has no base64 key body after ssh-ed25519/],
  ['a key whose body is another type', [{ ...carol, sshPublicKeys: [`ssh-rsa ${ED1.split(' ')[1]}`] }], groups, /says ssh-rsa but its body holds "ssh-ed25519"; it was cut or mixed up/],
  ['a truncated key', [{ ...carol, sshPublicKeys: [ED1.slice(0, 60)] }], groups, /sshPublicKeys\[0\] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5…" \(60 characters\): the ed25519 key is not 32 bytes\. Give/],
  ['a 1024-bit RSA key', [{ ...carol, sshPublicKeys: [RSA1024] }], groups, /the RSA modulus is 1024 bits; OpenSSH and this library want at least 2048/],
  ['a key on two lines', [{ ...carol, sshPublicKeys: [`${ED1}\n${ED2}`] }], groups, /spans several lines; an authorized_keys entry is one line\. Give the one-line public key/],
])('%s is a problem naming origin, field, value and fix', (_name, users, gs, message) => {
  const problems = userProblems(users, gs, 'c/Users');
  expect(problems).toHaveLength(1);
  expect(problems[0]).toMatch(message);
  expect(problems[0].startsWith('c/Users: ')).toBe(true);
  expect(() => renderUsersTable(users, gs, 'c/Users')).toThrow(message);
});

test('every problem at once, in one error', () => {
  const users: ClusterUser[] = [{ ...carol, uid: 10 }, { ...bob, name: 'root', shell: 'zsh' }];
  expect(userProblems(users, groups, 'c/Users')).toHaveLength(3);
  expect(() => renderUsersTable(users, groups, 'c/Users')).toThrow(/uid = 10[\s\S]*name = "root"[\s\S]*shell = "zsh"/);
});

test.each([
  ['an OpenSSH private key', PRIVATE],
  ['its body without the armour', `b3BlbnNzaC1rZXktdjEAAAAA${privateBody}`],
  ['a PEM RSA private key', `${'-----BEGIN RSA ' + 'PRIVATE KEY-----'}\n${privateBody}\n-----END RSA PRIVATE KEY-----`],
  ['a PuTTY key file', `PuTTY-User-Key-File-3: ssh-ed25519\nPrivate-Lines: 1\n${privateBody}`],
])('%s is refused as a private key and never echoed', (_name, key) => {
  expect(sshKeyProblem(key)).toBe('is a PRIVATE key');
  const problems = userProblems([{ ...alice, sshPublicKeys: [ED1, key] }], groups, 'c/Users');
  expect(problems).toEqual([expect.stringMatching(
    /^c\/Users: users\[0\]\.sshPublicKeys\[1\] = <private key, not shown>: this is a PRIVATE key\. Give its public half \(ssh-keygen -y -f <file>.*replace it$/,
  )]);
  let thrown = '';
  try {
    renderUsersTable([{ ...alice, sshPublicKeys: [key] }], groups);
  } catch (e) {
    thrown = (e as Error).message;
  }
  expect(thrown).toMatch(/PRIVATE key/);
  for (const text of [problems[0], thrown]) {
    expect(text).not.toContain(privateBody.slice(0, 16));
    expect(text).not.toContain('b3BlbnNzaC1rZXktdjE');
  }
});

test('a user whose gid is a declared group has no personal group, so a group named like the user is no clash', () => {
  expect(userProblems([{ name: 'ml', uid: 2010, gid: 3000 }], groups, 'c/Users')).toEqual([]);
  expect(renderUsersTable([{ name: 'ml', uid: 2010, gid: 3000 }], groups)).not.toMatch(/^group\tml\t2010$/m);
});

test('the node step refuses the same reserved names as the library', () => {
  const text = fs.readFileSync(path.resolve(__dirname, '../../bootstrap-scripts/users.sh'), 'utf8');
  const line = /^reserved=" (.*) "$/m.exec(text);
  expect(line).not.toBeNull();
  expect(line![1].split(' ').sort()).toEqual([...RESERVED_NAMES].sort());
});
