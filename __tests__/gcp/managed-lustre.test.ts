/**
 * ManagedLustre: a Managed Lustre instance made for a Google Cloud cluster's LustreFs, in the network's zone behind
 * its private services peering, the LNet firewall rule, the mount point as a Terraform reference in the hosts'
 * mount tables, and the tier's capacity rules.
 */
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LustreFs } from '../../lib/constructs/lustre-fs';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { ManagedLustre } from '../../lib/gcp/managed-lustre';

type Json = Record<string, any>;

function gcpCluster() {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'g');
  new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
  const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
  return { stack, network, controller };
}

describe('Managed Lustre on a GCP cluster', () => {
  const { stack, controller } = gcpCluster();
  const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
  new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
  const home = new LustreFs(stack, 'Home', { controller, fileSystem: ManagedLustre.of({ capacityGiB: 18_000 }), mountPoint: '/home' });
  home.mountOn(pool, controller);
  // A second service on the same network shares its one private services peering.
  new LustreFs(stack, 'Scratch', { controller, fileSystem: ManagedLustre.of({ capacityGiB: 36_000, perUnitStorageThroughput: 500 }), mountPoint: '/scratch' }).mountOn(pool);
  const tf: Json = JSON.parse(Testing.synth(stack));
  const instance = (Object.values(tf.resource.google_lustre_instance) as Json[]).find((i) => i.instance_id === 'hpc-home')!;
  const psaName = Object.keys(tf.resource.google_compute_global_address)[0];

  test('in the network zone, on the system VPC, at the 1000 MB/s/TiB tier, after the private services peering', () => {
    expect(instance).toMatchObject({
      instance_id: 'hpc-home',
      location: 'us-central1-a',
      filesystem: 'home',
      capacity_gib: '18000',
      per_unit_storage_throughput: '1000',
    });
    expect(instance.network).toMatch(/^\$\{google_compute_network\.[^.]+\.id\}$/);
    expect(instance.depends_on).toEqual([expect.stringMatching(/^google_service_networking_connection\./)]);
    expect(tf.resource.google_compute_global_address[psaName]).toMatchObject({ purpose: 'VPC_PEERING', address_type: 'INTERNAL', prefix_length: 20 });
    const conn = Object.values(tf.resource.google_service_networking_connection) as Json[];
    expect(conn).toHaveLength(1);
    expect(Object.keys(tf.resource.google_compute_global_address)).toHaveLength(1);
    expect(Object.keys(tf.resource.google_lustre_instance)).toHaveLength(2);
    expect(conn[0]).toMatchObject({ service: 'servicenetworking.googleapis.com', reserved_peering_ranges: [`\${google_compute_global_address.${psaName}.name}`] });
  });

  test('LNet 988 is let in from the peered range to the cluster tag only', () => {
    const rule = (Object.values(tf.resource.google_compute_firewall) as Json[]).find((f) => f.name === 'hpc-home-lustre-lnet')!;
    expect(rule).toMatchObject({ direction: 'INGRESS', target_tags: ['hpc-cluster'], allow: [{ protocol: 'tcp', ports: ['988'] }] });
    expect(rule.source_ranges).toEqual([`\${google_compute_global_address.${psaName}.address}/20`]);
  });

  test("hosts' mount tables carry the instance's mount point, filled in by Terraform", () => {
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    const ref = Object.entries(tf.resource.google_lustre_instance).find(([, i]: [string, any]) => i.instance_id === 'hpc-home')![0];
    expect(tpl.metadata['user-data']).toContain(`lustre\t\${google_lustre_instance.${ref}.mount_point}\t/home\tdefaults,flock\t-`);
  });

  test.each<[number, number | undefined, RegExp]>([
    [10_000, undefined, /fileSystem\.capacityGiB = 10000: the 1000 MB\/s\/TiB tier takes multiples of 9000 GiB at this size\. Use e\.g\. 18000/],
    [9000, 250, /fileSystem\.capacityGiB = 9000: the 250 MB\/s\/TiB tier takes 36000 to 40032000 GiB\. Use e\.g\. 36000/],
    [36_000, 300, /fileSystem\.perUnitStorageThroughput = 300: is not a Managed Lustre tier/],
  ])('capacity %d at tier %s is refused', (capacityGiB, tier, message) => {
    const c = gcpCluster();
    expect(() => new LustreFs(c.stack, 'Bad', { controller: c.controller, fileSystem: ManagedLustre.of({ capacityGiB, perUnitStorageThroughput: tier as any }) })).toThrow(message);
  });
});
