/**
 * GcpControllerHost: an external accounting database's password secret. An ID under the cluster's prefix is read
 * in the network's project; a full path in its own project (the grant names that project and secret, not the path
 * as an ID). Anything else is refused and shown by its length only.
 */
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { GcpControllerHost } from '../../lib/gcp/controller-host';

type Json = Record<string, any>;

function withAccountingSecret(passwordSecret: string) {
  const stack = new TerraformStack(Testing.app(), 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', accounting: { endpoint: '10.1.0.5', passwordSecret } });
  return { stack, controller };
}

/** The controller's grant on the password secret, as Terraform will see it (no synth: the cluster has no pools). */
const grantOf = (stack: TerraformStack): Json => {
  const all = stack.node.findAll().filter((c) => c.node.id === 'DbPasswordRead');
  expect(all).toHaveLength(1);
  return (all[0] as unknown as { toTerraform(): Json }).toTerraform();
};

describe('an external accounting database password', () => {
  test('an ID under the cluster prefix is read in the network\'s project', () => {
    const { stack, controller } = withAccountingSecret('hpc-db-password');
    expect(GcpControllerHost.of(controller, 'test').dbPasswordSource).toBe('gcp-secretmanager:projects/my-hpc-project/secrets/hpc-db-password');
    const grant = grantOf(stack);
    expect(JSON.stringify(grant)).toContain('"secret_id":"hpc-db-password"');
    expect(JSON.stringify(grant)).toContain('"project":"my-hpc-project"');
  });

  test('a full path is granted in its own project, by its ID', () => {
    const { stack, controller } = withAccountingSecret('projects/shared-dbs/secrets/slurm-db');
    expect(GcpControllerHost.of(controller, 'test').dbPasswordSource).toBe('gcp-secretmanager:projects/shared-dbs/secrets/slurm-db');
    const grant = JSON.stringify(grantOf(stack));
    expect(grant).toContain('"secret_id":"slurm-db"');
    expect(grant).toContain('"project":"shared-dbs"');
  });

  test.each([['a pasted password', 'hunter2hunter2'], ['an ID of another cluster', 'prod-db-password']])('%s is refused, shown by its length', (_name, ref) => {
    expect(() => withAccountingSecret(ref)).toThrow(`g/Ctl: accounting.passwordSecret = "<${ref.length} characters>": is not a Secret Manager secret ID starting hpc-`);
  });
});

test('the controller VM and its own secrets refuse deletion unless deletionProtection is off', () => {
  const protectedOf = (deletionProtection?: boolean) => {
    const stack = new TerraformStack(Testing.app(), 'p');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...(deletionProtection === undefined ? {} : { deletionProtection }) });
    const byId = (id: string) => (stack.node.findAll().find((c) => c.node.path.endsWith(id)) as unknown as { toTerraform(): Json }).toTerraform();
    const vm = JSON.stringify(byId('Ctl/Vm/Instance'));
    const munge = JSON.stringify(byId('Ctl/MungeKey'));
    return { vm: /"deletion_protection":true/.test(vm), munge: /"deletion_protection":true/.test(munge) };
  };
  expect(protectedOf()).toEqual({ vm: true, munge: true });
  expect(protectedOf(false)).toEqual({ vm: false, munge: false });
});
