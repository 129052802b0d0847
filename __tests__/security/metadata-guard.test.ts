/**
 * The metadata guard in what ships: on every shipped stack, every EC2 and Compute Engine host where people log in
 * or run jobs (login nodes, compute pools) locks the metadata endpoint to root before anything else runs (the
 * step right after packages, and cloud-init's bootcmd on every boot); the controller and monitor, where no user
 * has a shell, do not. The bastion (an SSH jump host with no cluster credentials) has no user-data of ours. The step itself is tested for real in __tests__/bootstrap/metadata-guard.test.ts.
 */
import { App, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { METADATA_GUARD_BOOTCMD } from '../../lib/cloudinit/node-bootstrap';
import { SHIPPED_STACKS } from '../../stacks/shipped';

type Json = Record<string, any>;
interface Host { where: string; doc: Json; env: string }

/** Every EC2 and Compute Engine host's cloud-config in the plan, with its node.env (services have none). */
function hosts(tf: Json): Host[] {
  const out: Host[] = [];
  const add = (where: string, text: string) => {
    const doc = parse(text) as Json;
    const env = ((doc.write_files ?? []) as Json[]).find((f) => f.path === '/etc/cdktf-slurm/node.env')?.content ?? '';
    out.push({ where, doc, env });
  };
  for (const [type, field] of [['aws_instance', 'user_data_base64'], ['aws_launch_template', 'user_data']] as const) {
    for (const [id, r] of Object.entries((tf.resource[type] ?? {}) as Json)) if (r[field]) add(id, gunzipSync(Buffer.from(r[field], 'base64')).toString('utf8'));
  }
  for (const type of ['google_compute_instance', 'google_compute_instance_template']) {
    for (const [id, r] of Object.entries((tf.resource[type] ?? {}) as Json)) if (r.metadata?.['user-data']) add(id, r.metadata['user-data']);
  }
  return out;
}

const roles = (h: Host): string[] => (/^CDKTF_SLURM_ROLES='([^']*)'$/m.exec(h.env)?.[1] ?? '').split(' ').filter(Boolean);
const steps = (h: Host): string[] => (/^CDKTF_SLURM_STEPS='([^']*)'$/m.exec(h.env)?.[1] ?? '').split(' ').filter(Boolean);
const guarded = (h: Host): boolean => ((h.doc.bootcmd ?? []) as unknown[]).some((c) => JSON.stringify(c) === JSON.stringify(['sh', '-c', METADATA_GUARD_BOOTCMD]));

/** Which kinds of user host the stacks below checked: the guard must have been seen on each. */
const checked = new Set<string>();

describe.each(Object.keys(SHIPPED_STACKS))('%s', (name) => {
  const tf: Json = JSON.parse(Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name)));
  const all = hosts(tf);
  const userHosts = all.filter((h) => roles(h).some((r) => r === 'compute' || r === 'login'));

  test('every login and compute host guards the endpoint first, at every boot', () => {
    for (const h of userHosts) checked.add(`${roles(h).join('+')}@${tf.resource.aws_launch_template?.[h.where] || tf.resource.aws_instance?.[h.where] ? 'ec2' : 'gce'}`);
    for (const h of userHosts) {
      expect([h.where, h.env]).toEqual([h.where, expect.stringContaining("METADATA_GUARD='1'")]);
      expect([h.where, steps(h).slice(0, 2)]).toEqual([h.where, ['packages', 'metadata-guard']]);
      expect([h.where, guarded(h)]).toEqual([h.where, true]);
    }
  });

  test('hosts without user shells (controller, monitor, storage server) do not', () => {
    for (const h of all.filter((x) => !userHosts.includes(x))) {
      expect([h.where, steps(h).includes('metadata-guard'), guarded(h)]).toEqual([h.where, false, false]);
    }
  });
});

test('the stacks above include EC2 and Compute Engine login and compute hosts', () => {
  expect([...checked].sort()).toEqual(expect.arrayContaining(['compute@ec2', 'compute@gce', 'login@ec2', 'login@gce']));
});
