/** A login node on EC2: a role that reads the munge key, file-system parameters and scripts; the instance at its address. */
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { Construct } from 'constructs';
import type { IFixedHost, LoginHostRequest } from '../backend';
import { lazyString } from '../cdktf-adapter';
import { SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { CLUSTER_GROUP_NAME, FileSystemClientNetwork } from '../constructs/cluster-file-system';
import type { TargetReach } from '../monitoring/scrape-targets';
import { AwsControllerHost } from './controller-host';
import { ec2InstanceRole, fixedEc2Host, grantFileSystemParameterRead, grantMungeKeyRead, ubuntuAmi } from './node-identity';

/** The login node's EC2 side. */
export class AwsLoginHost implements IFixedHost {
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach: TargetReach;
  readonly userDataTarget = 'aws' as const;
  readonly scriptDelivery = { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' } as const;
  // EC2 user-data is gzip made at synth: no Terraform references inside.
  readonly userDataTakesReferences = false;
  readonly metadataEndpoint = true;
  readonly access: string;
  readonly instance: Instance;

  constructor(scope: Construct, request: LoginHostRequest) {
    const ctl = AwsControllerHost.of(request.controller, 'LoginNode');
    const net = ctl.network;
    this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: net.clusterSecurityGroupId, vpcId: net.vpcId, groupName: CLUSTER_GROUP_NAME };
    this.scrapeReach = { kind: 'aws-security-group', securityGroupId: net.clusterSecurityGroupId };
    this.access = `ssh ${request.privateIp} through the bastion (ProxyJump) or Session Manager`;
    const prefix = `${request.clusterName}-${request.hostname}`;
    const { role, profile } = ec2InstanceRole(scope, prefix, `Slurm login node of ${request.clusterName}: reads the munge key`);
    grantMungeKeyRead(scope, role, ctl.mungeKeySecretArn);
    grantFileSystemParameterRead(scope, role, request.clusterName);
    ctl.scriptBucket.grantRead(scope, 'ScriptsRead', role.id);
    this.instance = fixedEc2Host(scope, {
      role: role,
      bootObjects: ctl.scriptBucket.objects,
      ami: ubuntuAmi(scope, request.image),
      instanceType: request.hostType,
      subnetId: net.privateSubnets[0].id,
      privateIp: request.privateIp,
      securityGroupIds: [net.clusterSecurityGroupId],
      instanceProfileName: profile.name,
      keyName: request.keyName,
      rootVolumeSizeGiB: request.rootVolumeSizeGiB,
      userDataBase64: lazyString(() => request.userData().base64),
      tags: { Name: prefix, 'slurm:cluster': request.clusterName, 'slurm:role': 'login', [SCRIPTS_BUCKET_TAG]: ctl.scriptBucket.bucket.bucket },
    });
  }
}
