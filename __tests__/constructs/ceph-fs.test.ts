/**
 * CephFs, the construct: its own checks (name, mount point, file system name, mount options, a server given), and
 * the seam to its server: a server of one's own (here a small one written in the test, as a user's NetApp-style
 * backend would be) is asked to make itself in the CephFs's scope with the file system's name, its monitors become
 * `mon_addr=`, its plan line reaches the summary, and it admits each client that mounts. MicroCeph and existing
 * clusters are tested beside them (__tests__/aws/microceph-server.test.ts, existing-ceph-fs.test.ts).
 */
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import type { Construct, IConstruct } from 'constructs';
import { BastionVpc } from '../../lib/constructs/bastion-vpc';
import { CephFs, CephFsProps } from '../../lib/constructs/ceph-fs';
import type { IFileSystemClient } from '../../lib/constructs/cluster-file-system';
import { SlurmController } from '../../lib/constructs/slurm-controller';
import type { FileSystemServerRequest, ICephFsServer, IMadeCephFs } from '../../lib/file-system-server';

function awsCluster() {
  const stack = new TerraformStack(Testing.app(), 'c');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const controller = new SlurmController(stack, 'Ctl', { network: new BastionVpc(stack, 'Net', { cidr: '10.0.0.0/16' }), clusterName: 'hpc' });
  return { stack, controller };
}

/** A server of one's own: records what it was asked, and whom it admitted. */
class OwnCephServer implements ICephFsServer {
  readonly shown = 'OwnCephServer()';
  readonly requests: { scope: string; name: string; field: string; fsName: string }[] = [];
  readonly admitted: string[] = [];
  make(scope: Construct, request: FileSystemServerRequest & { readonly fsName: string }): IMadeCephFs {
    this.requests.push({ scope: scope.node.path, name: request.name, field: request.field, fsName: request.fsName });
    return {
      source: `slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.${request.fsName}=/`,
      monitors: ['10.9.0.1:6789', '10.9.0.2:6789'],
      keySource: 'file:/etc/ceph/slurm.key',
      plan: { type: 'CephFS', server: 'our own Ceph' },
      admit: (client: IFileSystemClient, fileSystem: IConstruct) => { this.admitted.push(`${client.node.path} -> ${fileSystem.node.path}`); },
    };
  }
}

describe('CephFs', () => {
  test('asks its server to make itself in its scope, and builds the mount line from what the server says', () => {
    const { stack, controller } = awsCluster();
    const own = new OwnCephServer();
    const fs = new CephFs(stack, 'Data', { controller, fileSystem: own, fsName: 'data', mountPoint: '/data', mountOptions: 'noatime,rbytes' });
    expect(own.requests).toEqual([{ scope: 'c/Data', name: 'data', field: 'fileSystem', fsName: 'data' }]);
    expect(fs.connectClient(controller)).toEqual({
      kind: 'ceph',
      source: 'slurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.data=/',
      mountPoint: '/data',
      options: 'mon_addr=10.9.0.1:6789/10.9.0.2:6789,noatime,rbytes',
      secretSource: 'file:/etc/ceph/slurm.key',
      origin: 'c/Data',
    });
    expect(own.admitted).toEqual(['c/Ctl -> c/Data']);
  });

  test.each<[string, Partial<CephFsProps>, RegExp]>([
    ['no server', { fileSystem: undefined }, /c\/Fs: fileSystem = undefined: no CephFS server given\. Use MicroCephServer\.onEc2\(\{ osdCount: 3 \}\) .*or ExistingCephFs\.of/],
    ['settings where a server belongs', { fileSystem: { osdCount: 3 } as never }, /c\/Fs: fileSystem = "<not a CephFS server>": no CephFS server given/],
    ['a secret in the mount options', { mountOptions: 'secret=AQD9k2Vm' }, /c\/Fs: mountOptions = .*without mon_addr, secret or secretfile \(the library sets those\)/],
    ['a mount point over /usr', { mountPoint: '/usr/shared' }, /c\/Fs: mountPoint = "\/usr\/shared"/],
    ['a file system name with a space', { fsName: 'my fs' }, /c\/Fs: fsName = "my fs": is not a CephFS name/],
    ['an upper-case name', { name: 'Shared' }, /c\/Fs: name = "Shared": must be lower-case letters/],
  ])('refuses %s before asking the server', (_name, change, message) => {
    const { stack, controller } = awsCluster();
    const own = new OwnCephServer();
    expect(() => new CephFs(stack, 'Fs', { controller, fileSystem: own, ...change } as CephFsProps)).toThrow(message);
    expect(own.requests).toEqual([]);
  });
});
