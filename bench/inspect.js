'use strict';
// Reading a synthesized cdk.tf.json: user-data per node role, where slurm.conf ended up, and which provider
// submodules the stack's resources come from (for the floor process).
const zlib = require('zlib');

// The library gzips user-data at level 9 (lib/cloudinit/encode.ts); measure text we gzip ourselves the same way.
const gzipSize = (buf) => zlib.gzipSync(buf, { level: 9 }).length;
const isGzip = (buf) => buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
// A Terraform template expression; `$${` is an escaped literal `${`, not an expression.
const hasTerraformExpr = (text) => /(^|[^$])\$\{/.test(text);
const BASE64 = /^[A-Za-z0-9+/=\s]+$/;

function entries(obj) {
  return Object.entries(obj || {});
}

/** The construct path without the stack name: a role name of last resort. */
function constructPath(resource) {
  const p = resource['//'] && resource['//'].metadata && resource['//'].metadata.path;
  return p ? p.split('/').slice(1).join('/') : undefined;
}

/** Role from AWS tags, GCE labels or Docker labels: `controller`, `login`, `compute:<pool>`, … */
function roleOf(resource) {
  const tagSets = [resource.tags, resource.labels, ...(resource.tag_specifications || []).map((t) => t.tags)];
  if (Array.isArray(resource.labels)) tagSets.push(Object.fromEntries(resource.labels.map((l) => [l.label, l.value])));
  for (const tags of tagSets) {
    if (!tags || Array.isArray(tags)) continue;
    const pool = tags['slurm:pool'] || tags['slurm-pool'] || tags['slurm.pool'];
    if (pool) return `compute:${pool}`;
    const role = tags['slurm:role'] || tags['slurm-role'] || tags['slurm.role'];
    if (role) return role;
  }
  return constructPath(resource) || 'unknown';
}

/**
 * Sizes of one user-data value. `base64` values are decoded (gzip recognised by its magic: raw is then the
 * inflated size, gz the bytes sent); text is gzipped here for the gz number. A value holding a Terraform expression
 * (`${base64gzip(…)}`, `${var.x}`) cannot be decoded at synth, so it is measured as literal text and flagged.
 */
function measureValue(value, encoding) {
  const expr = hasTerraformExpr(value);
  if (encoding === 'base64' && !expr && BASE64.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    if (isGzip(bytes)) {
      const text = zlib.gunzipSync(bytes);
      return { rawBytes: text.length, gzBytes: bytes.length, sentAs: 'gzip+base64', expr, text: text.toString('utf8') };
    }
    return { rawBytes: bytes.length, gzBytes: gzipSize(bytes), sentAs: 'base64', expr, text: bytes.toString('utf8') };
  }
  const buf = Buffer.from(value, 'utf8');
  return { rawBytes: buf.length, gzBytes: gzipSize(buf), sentAs: encoding === 'base64' ? 'literal (expr)' : 'text', expr, text: value };
}

/** Every user-data-like value in the stack: [resource address, field, value, encoding]. */
function userDataValues(tf) {
  const res = tf.resource || {};
  const out = [];
  for (const [name, r] of entries(res.aws_instance)) {
    if (r.user_data_base64) out.push([`aws_instance.${name}`, 'user_data_base64', r, r.user_data_base64, 'base64']);
    if (r.user_data) out.push([`aws_instance.${name}`, 'user_data', r, r.user_data, 'text']);
  }
  for (const [name, r] of entries(res.aws_launch_template)) {
    if (r.user_data) out.push([`aws_launch_template.${name}`, 'user_data', r, r.user_data, 'base64']);
  }
  for (const type of ['google_compute_instance', 'google_compute_instance_template']) {
    for (const [name, r] of entries(res[type])) {
      const md = r.metadata || {};
      const enc = md['user-data-encoding'] === 'base64' ? 'base64' : 'text';
      if (md['user-data']) out.push([`${type}.${name}`, 'metadata.user-data', r, md['user-data'], enc]);
    }
  }
  for (const [name, r] of entries(res.docker_container)) {
    // A container's boot files travel as uploads; together they play the part of its user-data.
    const uploads = (r.upload || []).map((u) => (u.content_base64 ? Buffer.from(u.content_base64, 'base64').toString('utf8') : u.content || ''));
    if (uploads.length > 0) out.push([`docker_container.${name}`, `upload[${uploads.length}].content`, r, uploads.join(''), 'text']);
  }
  return out;
}

/** User-data per role, largest first by gzip size; `text` is kept for the slurm.conf search, not reported. */
function userDataByRole(tf) {
  const rows = userDataValues(tf).map(([address, field, resource, value, encoding]) => ({
    role: roleOf(resource),
    address,
    field,
    ...measureValue(value, encoding),
  }));
  // Two resources of one role (e.g. two pools with one name) must stay distinguishable.
  const seen = new Map();
  for (const row of rows) seen.set(row.role, (seen.get(row.role) || 0) + 1);
  for (const row of rows) if (seen.get(row.role) > 1) row.role = `${row.role} (${row.address.split('.')[1]})`;
  return rows;
}

/** The content of a cloud-config write_files entry whose path ends in `/<fileName>`, decoded; undefined if absent. */
function writeFileContent(text, fileName) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\s*- path: \\S*/${fileName.replace('.', '\\.')}\\s*$`).test(l));
  if (start < 0) return undefined;
  const itemIndent = lines[start].indexOf('-');
  let end = start + 1;
  while (end < lines.length && (lines[end].trim() === '' || lines[end].search(/\S/) > itemIndent)) end++;
  const entry = lines.slice(start + 1, end);
  const at = entry.findIndex((l) => /^\s*content:/.test(l));
  if (at < 0) return undefined;
  const encoding = (entry.map((l) => /^\s*encoding:\s*(\S+)/.exec(l)).find(Boolean) || [])[1];
  const keyIndent = entry[at].search(/\S/);
  const inline = entry[at].replace(/^\s*content:\s*/, '');
  let content;
  if (/^[|>]/.test(inline)) {
    const block = [];
    for (const l of entry.slice(at + 1)) {
      if (l.trim() !== '' && l.search(/\S/) <= keyIndent) break;
      block.push(l);
    }
    const indent = Math.min(...block.filter((l) => l.trim() !== '').map((l) => l.search(/\S/)));
    content = block.map((l) => l.slice(indent)).join('\n').replace(/\n+$/, '') + '\n';
  } else {
    content = inline.replace(/^["']|["']$/g, '');
  }
  if (encoding && /b64|base64/.test(encoding)) {
    const bytes = Buffer.from(content, 'base64');
    content = (isGzip(bytes) ? zlib.gunzipSync(bytes) : bytes).toString('utf8');
  }
  return content;
}

/**
 * Where the controller's slurm.conf is in the synthesized output, and its size. Searched in every user-data
 * value (decoded) and every S3 object, by the text `SlurmctldHost=`.
 */
function findSlurmConf(tf, userData) {
  const texts = userData.map((u) => [`${u.address} (${u.role})`, u.text]);
  for (const [name, o] of entries((tf.resource || {}).aws_s3_object)) {
    const body = o.content_base64 ? Buffer.from(o.content_base64, 'base64').toString('utf8') : o.content;
    if (body) texts.push([`aws_s3_object.${name}`, body]);
  }
  for (const [where, text] of texts) {
    if (!text || !text.includes('SlurmctldHost=')) continue;
    const content = writeFileContent(text, 'slurm.conf') || (/^SlurmctldHost=/m.test(text) ? text : undefined);
    if (!content) continue;
    const lines = content.replace(/\n$/, '').split('\n');
    return {
      where,
      lines: lines.length,
      bytes: Buffer.byteLength(content),
      nodeNameLines: lines.filter((l) => l.startsWith('NodeName=')).length,
    };
  }
  return undefined;
}

/**
 * The modules a floor process loads for this stack: each provider's `lib/provider` plus the submodule of every
 * resource and data type (`aws_instance` → `@cdktf/provider-aws/lib/instance`, `data.aws_ssm_parameter` →
 * `…/lib/data-aws-ssm-parameter`). Types with no provider package or no such submodule are listed as unmapped.
 */
function providerModules(tf, resolveFrom) {
  const resolvable = (m) => {
    try {
      require.resolve(m, { paths: [resolveFrom] });
      return true;
    } catch {
      return false;
    }
  };
  const providers = Object.keys((tf.terraform && tf.terraform.required_providers) || tf.provider || {});
  const modules = new Set();
  const unmapped = [];
  for (const p of providers) {
    const m = `@cdktf/provider-${p}/lib/provider`;
    if (resolvable(m)) modules.add(m);
    else unmapped.push({ type: `provider.${p}`, tried: m });
  }
  const types = [
    ...Object.keys(tf.resource || {}).map((t) => ['resource', t]),
    ...Object.keys(tf.data || {}).map((t) => ['data', t]),
  ];
  for (const [kind, type] of types) {
    const provider = providers.filter((p) => type.startsWith(`${p}_`)).sort((a, b) => b.length - a.length)[0];
    if (!provider) {
      unmapped.push({ type: kind === 'data' ? `data.${type}` : type, tried: '(no provider package for its prefix)' });
      continue;
    }
    const sub = kind === 'data' ? `data-${type}` : type.slice(provider.length + 1);
    const m = `@cdktf/provider-${provider}/lib/${sub.replace(/_/g, '-')}`;
    if (resolvable(m)) modules.add(m);
    else unmapped.push({ type: kind === 'data' ? `data.${type}` : type, tried: m });
  }
  return { modules: [...modules].sort(), unmapped };
}

module.exports = { userDataByRole, findSlurmConf, providerModules, writeFileContent, roleOf };
