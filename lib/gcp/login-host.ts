/** A login node on Compute Engine: a service account that reads the munge key and writes logs; the VM, SSH through IAP. */
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { Construct } from 'constructs';
import type { IFixedHost, LoginHostRequest } from '../backend';
import { lazyString, terraformLiteral } from '../cdktf-adapter';
import type { FileSystemClientNetwork } from '../constructs/cluster-file-system';
import type { TargetReach } from '../monitoring/scrape-targets';
import { GcpControllerHost } from './controller-host';
import { gcpAccountId, gcpServiceAccount, gcpServiceAccountMember, gcpStaticInstance, grantLogging, grantSecretAccess } from './vm';

/** The login node's Compute Engine side. */
export class GcpLoginHost implements IFixedHost {
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach: TargetReach;
  readonly userDataTarget = 'gcp' as const;
  readonly scriptDelivery = { kind: 'inline' } as const;
  // Compute Engine user-data is a Terraform string: checksums may be Terraform variables.
  readonly userDataTakesReferences = true;
  readonly metadataEndpoint = true;
  readonly access: string;
  readonly vm: ComputeInstance;

  constructor(scope: Construct, request: LoginHostRequest) {
    const ctl = GcpControllerHost.of(request.controller, 'LoginNode');
    const net = ctl.network;
    const accountId = gcpAccountId(request.hostname);
    this.fileSystemClientNetwork = {
      kind: 'gcp-network-tag', tag: net.clusterTag, networkSelfLink: net.system.networkSelfLink, project: net.project,
      serviceAccountMember: gcpServiceAccountMember(net.project, accountId),
      serviceAccountId: accountId,
    };
    this.scrapeReach = { kind: 'gcp-network-tag', tag: net.clusterTag };
    this.access = `ssh ${request.privateIp} through IAP: gcloud compute ssh ${request.hostname} --tunnel-through-iap`;
    const identity = gcpServiceAccount(scope, 'Identity', {
      project: net.project,
      accountId,
      displayName: `Slurm login node ${request.hostname} of ${request.clusterName}`,
      description: 'Reads the munge key; writes logs and metrics',
    });
    grantSecretAccess(scope, 'MungeKeyRead', { project: net.project, secretId: ctl.mungeKeySecretId, member: identity.member, secret: ctl.mungeKeySecret });
    grantLogging(scope, 'Logging', { project: net.project, member: identity.member });
    this.vm = gcpStaticInstance(scope, 'Vm', {
      network: net,
      name: request.hostname,
      machineType: request.hostType,
      isGpu: false,
      gpuNics: 0,
      userData: lazyString(() => terraformLiteral(request.userData().text)),
      serviceAccountEmail: identity.email,
      clusterName: request.clusterName,
      role: 'login',
      image: request.image,
      bootDiskSizeGiB: request.rootVolumeSizeGiB,
      networkIp: request.privateIp,
      sshViaIap: true,
    }).instance;
  }
}
