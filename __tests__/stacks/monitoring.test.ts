/**
 * Every shipped stack is monitored: one Grafana password secret, a monitor (its own VM, or the controller with
 * MONITOR_ENABLED), and every Slurm host of the stack — EC2 instances and launch templates, Compute Engine VMs and
 * templates, Docker containers — runs its exporters.
 */
import { App, Testing } from 'cdktf';
import { parse } from 'yaml';
import { gunzipSync } from 'zlib';
import { SHIPPED_STACKS } from '../../stacks/shipped';

type Json = Record<string, any>;

/** node.env of every host in the plan, by resource path. */
function nodeEnvs(tf: Json): Map<string, string> {
  const out = new Map<string, string>();
  const fromDoc = (key: string, text: string) => {
    const env = ((parse(text.replace(/\$\$\{/g, '${')) as Json).write_files as Json[]).find((f) => f.path === '/etc/cdktf-slurm/node.env');
    if (env) out.set(key, env.content);
  };
  for (const [type, field] of [['aws_instance', 'user_data_base64'], ['aws_launch_template', 'user_data']] as const) {
    for (const [id, r] of Object.entries((tf.resource[type] ?? {}) as Json)) {
      if ((r as Json)[field]) fromDoc(`${type}.${id}`, gunzipSync(Buffer.from((r as Json)[field], 'base64')).toString('utf8'));
    }
  }
  for (const type of ['google_compute_instance', 'google_compute_instance_template']) {
    for (const [id, r] of Object.entries((tf.resource[type] ?? {}) as Json)) fromDoc(`${type}.${id}`, (r as Json).metadata['user-data']);
  }
  for (const [id, c] of Object.entries((tf.resource.docker_container ?? {}) as Json)) {
    const env = ((c as Json).upload as Json[]).find((u) => u.file === '/etc/cdktf-slurm/node.env');
    if (env) out.set(`docker_container.${id}`, env.content);
  }
  return out;
}

test.each(Object.keys(SHIPPED_STACKS))('%s: a monitor, its Grafana secret, and exporters on every Slurm host', (name) => {
  const tf: Json = JSON.parse(Testing.synth(SHIPPED_STACKS[name](Testing.app() as App, name)));
  const envs = nodeEnvs(tf);
  const slurmHosts = [...envs].filter(([, env]) => /CDKTF_SLURM_ROLES=/.test(env));
  expect(slurmHosts.length).toBeGreaterThanOrEqual(2);
  for (const [host, env] of slurmHosts) expect([host, /^EXPORTERS='node( slurm| dcgm)?'$/m.test(env)]).toEqual([host, true]);
  const controllers = slurmHosts.filter(([, env]) => /CDKTF_SLURM_ROLES='controller/.test(env));
  expect(controllers).toHaveLength(1);
  expect(controllers[0][1]).toMatch(/^EXPORTERS='node slurm'$/m);
  // The monitor: a VM running monitoring-server.sh, or the controller with the monitoring step.
  const monitorVms = [...envs].filter(([, env]) => /GRAFANA_ADMIN_PASSWORD_SOURCE=/.test(env) && !/CDKTF_SLURM_ROLES=/.test(env));
  const onController = /^MONITOR_ENABLED='1'$/m.test(controllers[0][1]);
  expect(monitorVms.length + (onController ? 1 : 0)).toBe(1);
  const passwords = [...envs.values()].map((env) => /GRAFANA_ADMIN_PASSWORD_SOURCE='generate\+([^']+)'/.exec(env)?.[1]).filter(Boolean);
  expect(passwords).toHaveLength(1);
  expect(JSON.stringify(tf)).not.toMatch(/GF_SECURITY_ADMIN_PASSWORD=|admin_password\s*=/);
});
