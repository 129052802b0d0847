/**
 * Nothing renders twice: within one synth, cdktf's preparing resolve, the policy pack, validation and the written
 * output share each host's user-data and the controller's slurm.conf; a later synth sees constructs added since.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import * as userData from '../../lib/cloudinit/render-user-data';
import * as slurmConf from '../../lib/slurm/render-slurm-conf';
import { oncePerSynth } from '../../lib/cdktf-adapter';
import { SHIPPED_STACKS } from '../../stacks/shipped';

afterEach(() => jest.restoreAllMocks());

test.each(['aws-gpu', 'gcp-a3mega', 'hybrid-gpu'])('%s: app.synth() renders each host and slurm.conf once', (name) => {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'render-once-'));
  try {
    const app = new App({ outdir, stackTraces: false });
    SHIPPED_STACKS[name](app, name);
    const renders = jest.spyOn(userData, 'renderNodeUserData');
    const confs = jest.spyOn(slurmConf, 'renderSlurmConf');
    app.synth();
    const roles = renders.mock.calls.map(([, options]) => `${options.where}`);
    expect(roles.length).toBeGreaterThan(0);
    expect(roles).toEqual([...new Set(roles)]);
    expect(confs).toHaveBeenCalledTimes(1);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
});

describe('oncePerSynth', () => {
  test('computes on every call before any synth, once per synth after, and again at the next synth', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 's');
    let calls = 0;
    let members = 0;
    const count = oncePerSynth(stack, () => {
      calls++;
      return stack.node.findAll().length;
    });
    count();
    count();
    expect(calls).toBe(2);
    Testing.synth(stack);
    members = count();
    count();
    expect(calls).toBe(3);
    new Construct(stack, 'Later');
    Testing.synth(stack);
    expect(count()).toBe(members + 1);
    expect(calls).toBe(4);
  });
});
