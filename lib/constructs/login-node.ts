import { Instance } from '@cdktf/provider-aws/lib/instance';
import { Construct } from 'constructs';
import { ec2InstanceRole, grantMungeKeyRead, ubuntuAmi } from '../aws/node-identity';
import { buildNodeCloudConfig, renderNodeUserData, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { hostAddress } from '../net/cidr';
import { renderControllerFiles } from '../slurm';
import { IScrapeTargets, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import { FileSystemClientNetwork, HostMounts, IClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { ConstructPropError, lazyString, validateAtSynth } from './seam';
import { SlurmController } from './slurm-controller';

export interface LoginNodeProps {
  readonly controller: SlurmController;
  /** @default `t3.large` */
  readonly instanceType?: string;
  /** Host name; also the `Name` tag. @default `slurm-login` */
  readonly hostname?: string;
  /** Index of its fixed address in the first private subnet. @default 11 (the controller has 10) */
  readonly hostIndex?: number;
  /** @default 50 */
  readonly rootVolumeSizeGiB?: number;
  /** @default the latest Ubuntu 24.04 LTS amd64 AMI */
  readonly amiId?: string;
  /** EC2 key pair for SSH through the bastion. @default none (SSM Session Manager) */
  readonly keyName?: string;
  /**
   * Cluster file systems users see on the login node (home, shared data), mounted at boot (the same as
   * `fs.mountOn(login)`).
   * @default none
   */
  readonly mounts?: readonly IClusterFileSystem[];
}

/**
 * A login/submit node on AWS: the Slurm client commands, munge, and the configuration from the controller —
 * through sackd (configless, Slurm 23.11+) or, on older releases, the controller's rendered files staged in its
 * user-data (rendered at synth, so they follow partition changes). In the cluster security group, so srun's
 * port range is reachable from compute nodes; no public address.
 */
export class LoginNode extends Construct implements IFileSystemClient, IScrapeTargets {
  readonly instance: Instance;
  readonly privateIp: string;
  readonly hostname: string;
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  private readonly hostMounts = new HostMounts(this);
  private readonly clusterName: string;
  private readonly securityGroupId: string;

  constructor(scope: Construct, id: string, props: LoginNodeProps) {
    super(scope, id);
    const ctl = props.controller;
    this.clusterName = ctl.clusterName;
    this.securityGroupId = ctl.network.clusterSecurityGroupId;
    this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: this.securityGroupId, vpcId: ctl.network.vpcId };
    if (ctl.tailscale) {
      throw new ConstructPropError(this, 'controller', ctl.node.path, 'a login node in the VPC cannot reach a controller addressed on the mesh',
        'Use a controller without a mesh, or log in on a mesh host');
    }
    this.hostname = props.hostname ?? 'slurm-login';
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(this.hostname)) {
      throw new ConstructPropError(this, 'hostname', this.hostname, 'not a host name', "Use lower-case letters, digits and '-', e.g. 'slurm-login'");
    }
    const hostIndex = props.hostIndex ?? 11;
    const subnet = ctl.network.privateSubnets[0];
    if (!Number.isInteger(hostIndex) || hostIndex < 4) {
      throw new ConstructPropError(this, 'hostIndex', hostIndex, 'AWS reserves the first four addresses of a subnet', 'Use 4 or more (default 11)');
    }
    try {
      this.privateIp = hostAddress(subnet.cidr, hostIndex);
    } catch (e) {
      throw new ConstructPropError(this, 'hostIndex', hostIndex, (e as Error).message, `Pick an index inside ${subnet.cidr}`);
    }
    if (this.privateIp === ctl.privateIp) {
      throw new ConstructPropError(this, 'hostIndex', hostIndex, `${this.privateIp} is the controller's address`, 'Use another index');
    }

    const prefix = `${ctl.clusterName}-${this.hostname}`;
    const { role, profile } = ec2InstanceRole(this, prefix, `Slurm login node of ${ctl.clusterName}: reads the munge key`);
    grantMungeKeyRead(this, role, ctl.mungeKeySecretArn);
    ctl.scriptBucket.grantRead(this, 'ScriptsRead', role.id);

    const ami = ubuntuAmi(this, props.amiId);
    this.instance = new Instance(this, 'Instance', {
      ami,
      instanceType: props.instanceType ?? 't3.large',
      subnetId: subnet.id,
      privateIp: this.privateIp,
      associatePublicIpAddress: false,
      vpcSecurityGroupIds: [ctl.network.clusterSecurityGroupId],
      iamInstanceProfile: profile.name,
      keyName: props.keyName,
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 1, httpEndpoint: 'enabled', instanceMetadataTags: 'enabled' },
      rootBlockDevice: { encrypted: true, volumeType: 'gp3', volumeSize: props.rootVolumeSizeGiB ?? 50 },
      userDataBase64: lazyString(() => this.renderUserData(ctl).base64),
      tags: { Name: prefix, 'slurm:cluster': ctl.clusterName, 'slurm:role': 'login', [SCRIPTS_BUCKET_TAG]: ctl.scriptBucket.bucket.bucket },
    });
    for (const fs of props.mounts ?? []) this.addMount(fs);
    ctl.addScrapeTargets(this);
    validateAtSynth(this, () => {
      this.renderUserData(ctl);
      return [];
    });
  }

  /** Mounts `fs` on the login node at boot. */
  addMount(fs: IClusterFileSystem): void {
    this.hostMounts.add(fs);
  }

  /** node_exporter on the login node, at its fixed address. */
  scrapeTargets(): ScrapeTargetGroup[] {
    return [{
      exporter: 'node',
      discovery: { kind: 'static', hosts: [this.privateIp] },
      reach: { kind: 'aws-security-group', securityGroupId: this.securityGroupId },
      labels: { cluster: this.clusterName, role: 'login', node: this.hostname },
    }];
  }

  private renderUserData(ctl: SlurmController) {
    // Slurm before 23.11 has no sackd: stage the controller's client files (never slurmdbd.conf).
    const staged =
      ctl.slurmVersion === '22.05'
        ? renderControllerFiles(ctl.clusterSpec()).filter((f) => f.name !== 'slurmdbd.conf')
        : [];
    const config = buildNodeCloudConfig({
      roles: ['login'],
      env: {
        CLUSTER_NAME: ctl.clusterName,
        SLURM_CONTROLLER: `${ctl.privateIp}:6817`,
        MUNGE_KEY_SOURCE: `aws-secretsmanager:${ctl.mungeKeySecretName}`,
      },
      hostname: this.hostname,
      slurmFiles: staged,
      mounts: this.hostMounts.mounts,
      scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    });
    return renderNodeUserData(config, { target: 'aws', role: 'login', where: this.node.path });
  }
}
