import { spawnSync } from 'child_process';
import { createHash } from 'crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import {
  assertUserDataFits,
  CloudConfig,
  gzipDeterministic,
  measureWithStandIns,
  renderNodeUserData,
  USER_DATA_BUDGET_BYTES,
  UserDataTooLargeError,
  userDataSize,
} from '../../lib/cloudinit';
import { missingTool, readUserDataWithCloudInit, validateCloudConfig } from './validate-cloud-config';

/** Deterministic text that compresses about as badly as text can (base64 of a hash chain). */
function incompressible(chars: number): string {
  let out = '';
  for (let i = 0; out.length < chars; i++) out += createHash('sha256').update(`blob-${i}`).digest('base64');
  return out.slice(0, chars).replace(/(.{76})/g, '$1\n');
}

function configWithBlob(chars: number): CloudConfig {
  return new CloudConfig()
    .addWriteFile({ path: '/opt/big/blob.txt', content: incompressible(chars), permissions: '0644' })
    .addRuncmd(['bash', '/opt/cdktf-slurm/bootstrap/bootstrap.sh']);
}

describe('USER_DATA_BUDGET_BYTES', () => {
  it('holds the documented limits', () => {
    expect(USER_DATA_BUDGET_BYTES.aws).toBe(16 * 1024);
    expect(USER_DATA_BUDGET_BYTES.gcp).toBe(256 * 1024);
    expect(USER_DATA_BUDGET_BYTES.docker).toBeGreaterThan(0);
  });
});

describe('userDataSize', () => {
  it('counts text as UTF-8 bytes, gzip raw on AWS and as base64 on GCP', () => {
    expect(userDataSize('aws', 'é')).toBe(2);
    const gz = gzipDeterministic(incompressible(3000));
    expect(userDataSize('aws', gz)).toBe(gz.length);
    expect(userDataSize('docker', gz)).toBe(gz.length);
    expect(userDataSize('gcp', gz)).toBe(gz.toString('base64').length);
  });
});

describe('assertUserDataFits', () => {
  it('accepts exactly the budget and rejects one byte more', () => {
    expect(() => assertUserDataFits({ role: 'compute', target: 'aws', bytes: USER_DATA_BUDGET_BYTES.aws })).not.toThrow();
    expect(() => assertUserDataFits({ role: 'compute', target: 'aws', bytes: USER_DATA_BUDGET_BYTES.aws + 1 })).toThrow(
      UserDataTooLargeError,
    );
  });

  it('rejects an unknown target and a negative size with the value', () => {
    expect(() => assertUserDataFits({ role: 'x', target: 'azure' as never, bytes: 1 })).toThrow(/target "azure" is unknown/);
    expect(() => assertUserDataFits({ role: 'x', target: 'aws', bytes: -1 })).toThrow(/got -1/);
  });
});

describe('renderNodeUserData', () => {
  it('fails a document over 16 KiB gzipped on AWS, naming role, place, size, budget and fixes', () => {
    const config = configWithBlob(24000);
    const gzipped = gzipDeterministic(config.render()).length;
    expect(gzipped).toBeGreaterThan(USER_DATA_BUDGET_BYTES.aws);
    let error: unknown;
    try {
      renderNodeUserData(config, { target: 'aws', role: 'controller dbd', where: 'hpc/Controller' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserDataTooLargeError);
    const err = error as UserDataTooLargeError;
    expect(err.bytes).toBe(gzipped);
    expect(err.budgetBytes).toBe(16384);
    expect(err.message).toContain('hpc/Controller');
    expect(err.message).toContain('role controller dbd');
    expect(err.message).toContain(`${gzipped} bytes gzipped`);
    expect(err.message).toContain('aws budget of 16384 bytes');
    expect(err.message).toMatch(/object storage/);
    expect(err.message).not.toMatch(/gzip it/); // already gzipped: that advice would be useless
  });

  it('advises gzip when the over-budget user-data was not gzipped', () => {
    expect(() => renderNodeUserData(configWithBlob(24000), { target: 'aws', role: 'compute', gzip: false })).toThrow(/gzip it/);
  });

  it('lets the same document through on GCP, as plain text cloud-init reads', () => {
    const config = configWithBlob(24000);
    const out = renderNodeUserData(config, { target: 'gcp', role: 'controller dbd' });
    expect(out.gzipped).toBe(false);
    expect(out.size).toBe(Buffer.byteLength(out.text));
    expect(out.size).toBeGreaterThan(USER_DATA_BUDGET_BYTES.aws);
    expect(out.bytes.toString('utf8')).toBe(config.render());
    validateCloudConfig(out.text);
  });

  it('gzips by default on AWS; the result fits, is deterministic and is read by cloud-init', () => {
    const config = configWithBlob(2000);
    const a = renderNodeUserData(config, { target: 'aws', role: 'compute' });
    const b = renderNodeUserData(configWithBlob(2000), { target: 'aws', role: 'compute' });
    expect(a.gzipped).toBe(true);
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.base64).toBe(b.base64);
    expect(a.size).toBe(a.bytes.length);
    const read = readUserDataWithCloudInit(a.bytes);
    if (read) expect(read.map((p) => p.content)).toEqual([a.text]);
  });
});

describe('measureWithStandIns', () => {
  const token = (n: number) => `\${TfToken[TOKEN.${n}]}`;
  const text = `SLURM_CONTROLLER='${token(1)}:6817'\nDB='${token(22)}'\nAGAIN='${token(1)}'\n`;

  it('replaces each placeholder by a stand-in of the worst-case length', () => {
    const m = measureWithStandIns(text, /\$\{TfToken\[TOKEN\.\d+\]\}/, 39);
    const placeholderChars = token(1).length * 2 + token(22).length;
    expect(m.replaced).toBe(3);
    expect(m.bytes).toBe(Buffer.byteLength(text) - placeholderChars + 3 * 39);
    expect(m.text).not.toContain('TfToken');
    expect(m.gzipBytes).toBe(gzipDeterministic(m.text).length);
    const standIns = /SLURM_CONTROLLER='(.*):6817'\nDB='(.*)'\nAGAIN='(.*)'/.exec(m.text)?.slice(1) ?? [];
    expect(standIns.map((s) => s.length)).toEqual([39, 39, 39]);
    expect(new Set(standIns).size).toBe(3); // distinct, so gzip cannot fold them into one
    expect(measureWithStandIns(text, /\$\{TfToken\[TOKEN\.\d+\]\}/g, 39)).toEqual(m); // global flag or not
  });

  it('counts nothing extra when there is no placeholder, and rejects patterns that match empty', () => {
    expect(measureWithStandIns('plain', /\$\{TfToken[^}]*\}/, 100).bytes).toBe(5);
    expect(() => measureWithStandIns('abc', /x*/, 5)).toThrow(/matched an empty string/);
    expect(() => measureWithStandIns('abc', /x/, -1)).toThrow(/worstCaseLength must be a non-negative integer; got -1/);
  });

  it("estimates gzip size from above: real values, and Terraform's own base64gzip, come out no larger", () => {
    const lines = Array.from({ length: 40 }, (_, i) => `host-${i} addr=${token(i)} port=6818\n`).join('');
    const doc = new CloudConfig().addWriteFile({ path: '/etc/hosts.d/x', content: lines, permissions: '0644' }).render();
    const m = measureWithStandIns(doc, /\$\{TfToken\[TOKEN\.\d+\]\}/, 15); // an IPv4 address is at most 15 characters
    let n = 0;
    const real = doc.replace(/\$\{TfToken\[TOKEN\.\d+\]\}/g, () => `10.${(n * 37) % 256}.${(n * 101) % 256}.${(n++ * 211) % 256}`);
    expect(gzipDeterministic(real).length).toBeLessThanOrEqual(m.gzipBytes);

    // Terraform (Go's gzip) compresses the real text; it must not beat our estimate's bound.
    const dir = mkdtempSync(join(tmpdir(), 'tf-gzip-'));
    try {
      writeFileSync(join(dir, 'user-data'), real);
      const tf = spawnSync('terraform', ['console'], {
        cwd: dir,
        input: 'length(replace(base64gzip(file("user-data")), "=", ""))\n',
        encoding: 'utf8',
        env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      });
      if (tf.error || tf.status !== 0) {
        missingTool(`terraform console did not run (${tf.error?.message ?? tf.stderr}), so Go's gzip size was not compared`);
        return;
      }
      const goGzipBytes = Math.floor((Number(tf.stdout.trim()) * 3) / 4);
      expect(goGzipBytes).toBeGreaterThan(0);
      expect(goGzipBytes).toBeLessThanOrEqual(m.gzipBytes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
