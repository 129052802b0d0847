/**
 * LustreFs, the construct: its own checks (name, mount point, options, a server given), a server object used with
 * another cloud's controller refused naming `fileSystem`, a mesh host refused by FSx, mount-point clashes, and an
 * existing Lustre mounted by address on any cloud. FSx and Managed Lustre themselves are tested beside their
 * backends (__tests__/aws/fsx-lustre.test.ts, __tests__/gcp/managed-lustre.test.ts).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { ComputeNodePool } from '../../lib/constructs/compute-node-pool';
import { GcpClusterNetwork } from '../../lib/constructs/gcp-cluster-network';
import { LustreFs, LustreFsProps } from '../../lib/constructs/lustre-fs';
import { Partition } from '../../lib/constructs/partition';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import { GceNodes } from '../../lib/gcp/gce-nodes';
import { DockerNodes } from '../../lib/docker/docker-nodes';
import { FsxLustre } from '../../lib/aws/fsx-lustre';
import { ManagedLustre } from '../../lib/gcp/managed-lustre';
import { ExistingLustre } from '../../lib/constructs/existing-lustre';

type Json = Record<string, any>;

function awsCluster(opts: { mesh?: boolean } = {}) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'l');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' });
  const key = opts.mesh ? new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true }).stringValue : undefined;
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc', ...(key ? { mesh: { tailscale: { authKey: key } } } : {}) });
  return { stack, network, controller };
}

const FSX = FsxLustre.of({ storageCapacityGiB: 4800 });

describe('bad input fails with path, field, value and fix', () => {
  test.each<[string, Partial<LustreFsProps>, RegExp]>([
    ['no server', {}, /l\/Fs: fileSystem = undefined: no Lustre server given\. Use FsxLustre\.of/],
    ['a settings object that is not a server', { fileSystem: { storageCapacityGiB: 2400 } as any }, /l\/Fs: fileSystem = "<not a Lustre server>": no Lustre server given/],
    ['an existing source without a file system name', { fileSystem: ExistingLustre.at('10.0.0.5@tcp') }, /fileSystem\.source = "10\.0\.0\.5@tcp": is not a Lustre source/],
    ['a system directory as mount point', { fileSystem: FSX, mountPoint: '/usr/lustre' }, /mountPoint = "\/usr\/lustre": is a system directory/],
  ])('%s', (_name, props, message) => {
    const { stack, controller } = awsCluster();
    expect(() => new LustreFs(stack, 'Fs', { controller, ...props } as LustreFsProps)).toThrow(message);
  });

  test('a mesh host cannot mount FSx, and two file systems cannot share a mount point', () => {
    const { stack, controller } = awsCluster({ mesh: true });
    const box = new ComputeNodePool(stack, 'Box', { controller, name: 'box', nodes: DockerNodes.on('unix:///var/run/docker.sock', { cpus: 4, realMemoryMiB: 8000 }), count: 1 });
    const fs = new LustreFs(stack, 'Fs', { controller, fileSystem: FSX });
    expect(() => fs.mountOn(box)).toThrow(/l\/Box: mounts = "l\/Fs": FSx for Lustre is reachable from its VPC only, and this host is on the mesh/);
    const a = new LustreFs(stack, 'A', { controller, fileSystem: ExistingLustre.at('10.0.0.5@tcp:/lfs'), mountPoint: '/data' });
    const b = new LustreFs(stack, 'B', { controller, fileSystem: ExistingLustre.at('10.0.0.6@tcp:/lfs2'), mountPoint: '/data' });
    a.mountOn(controller);
    expect(() => b.mountOn(controller)).toThrow(/l\/Ctl: l\/B: mount lustre: mountPoint = "\/data": is also the mount point "\/data" of l\/A/);
  });

  test('Managed Lustre on an AWS cluster is refused', () => {
    const { stack, controller } = awsCluster();
    expect(() => new LustreFs(stack, 'Fs', { controller, fileSystem: ManagedLustre.of({ capacityGiB: 9000 }) })).toThrow(
      /l\/Fs: fileSystem = "ManagedLustre\.of\(\{ capacityGiB: 9000 \}\)": Managed Lustre is Google Cloud, and controller l\/Ctl is on AWS\. Use FsxLustre\.of/);
  });

  test('FSx on a GCP cluster is refused; an existing Lustre mounts there by address', () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, 'g');
    new GoogleProvider(stack, 'google', { project: 'my-hpc-project', region: 'us-central1' });
    const network = new GcpClusterNetwork(stack, 'Net', { project: 'my-hpc-project', region: 'us-central1', zone: 'us-central1-a', namePrefix: 'hpc' });
    const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'hpc' });
    expect(() => new LustreFs(stack, 'Fsx', { controller, fileSystem: FSX })).toThrow(/g\/Fsx: fileSystem = "FsxLustre\.of\(.*\)": FSx for Lustre is AWS, and controller g\/Ctl is on GCP\. Use ManagedLustre\.of/);
    const pool = new ComputeNodePool(stack, 'Cpu', { controller, name: 'cpu', nodes: GceNodes.of({ machineType: 'n2-standard-8' }), count: 1 });
    new Partition(stack, 'Part', { controller, name: 'cpu', pools: [pool], default: true });
    new LustreFs(stack, 'Ddn', { controller, fileSystem: ExistingLustre.at('10.20.0.5@tcp:10.20.0.6@tcp:/exa'), mountPoint: '/exa' }).mountOn(pool);
    const tf: Json = JSON.parse(Testing.synth(stack));
    const tpl = Object.values(tf.resource.google_compute_instance_template)[0] as Json;
    expect(tpl.metadata['user-data']).toContain('lustre\t10.20.0.5@tcp:10.20.0.6@tcp:/exa\t/exa\tdefaults,flock\t-');
  });
});

