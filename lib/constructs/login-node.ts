import { Instance } from '@cdktf/provider-aws/lib/instance';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { Token } from 'cdktf';
import { AwsControllerHost } from '../aws/controller-host';
import { GcpControllerHost } from '../gcp/controller-host';
import { Construct } from 'constructs';
import { ec2InstanceRole, fixedEc2Host, grantFileSystemParameterRead, grantMungeKeyRead, ubuntuAmi } from '../aws/node-identity';
import {
  ApptainerNodeSetup, ApptainerSettings, apptainerNodeSetup, buildNodeCloudConfig, EnrootNodeSetup, EnrootSettings, enrootNodeSetup, renderNodeUserData,
  SCRIPTS_BUCKET_TAG,
} from '../cloudinit';
import { gcpAccountId, gcpName, gcpServiceAccount, gcpServiceAccountMember, gcpStaticInstance, grantLogging, grantSecretAccess } from '../gcp/vm';
import { renderControllerFiles } from '../slurm';
import { IScrapeTargets, ScrapeTargetGroup, TargetReach } from '../monitoring/scrape-targets';
import { CLUSTER_GROUP_NAME, FileSystemClientNetwork, HostMounts, IClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError, lazyString, oncePerSynth, terraformLiteral, validateAtSynth } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface LoginNodeProps {
  readonly controller: ISlurmController;
  /** EC2 instance type (AWS only). @default `t3.large` */
  readonly instanceType?: string;
  /** Compute Engine machine type (GCP only). @default `n2-standard-4` */
  readonly machineType?: string;
  /** Host name; also the `Name` tag (AWS) or the VM name (GCP). @default `slurm-login` on AWS, `<cluster>-login` on GCP */
  readonly hostname?: string;
  /** Index of its fixed address in the controller's subnet. @default 11 (the controller has 10) */
  readonly hostIndex?: number;
  /** Boot disk, GiB. @default 50 */
  readonly rootVolumeSizeGiB?: number;
  /** AWS only. @default the latest Ubuntu 24.04 LTS amd64 AMI */
  readonly amiId?: string;
  /** GCP only: boot image or family path. @default Ubuntu 24.04 LTS */
  readonly image?: string;
  /** EC2 key pair for SSH through the bastion (AWS only). @default none (SSM Session Manager; on GCP, IAP with OS Login) */
  readonly keyName?: string;
  /**
   * Cluster file systems users see on the login node (home, shared data), mounted at boot (the same as
   * `fs.mountOn(login)`).
   * @default none
   */
  readonly mounts?: readonly IClusterFileSystem[];
  /**
   * enroot + pyxis on the login node, so `srun --container-image` is a known option where users submit: give
   * the same settings as the compute pools.
   * @default none
   */
  readonly enroot?: EnrootSettings;
  /** Apptainer on the login node (build and test images where users submit): the pools' settings. @default none */
  readonly apptainer?: ApptainerSettings;
}

/**
 * A login/submit node: the Slurm client commands, munge, and the configuration from the controller — through
 * sackd (configless, Slurm 23.11+) or, on older releases, the controller's rendered files staged in its
 * user-data (rendered at synth, so they follow partition changes). An EC2 instance in the cluster security group
 * or a Compute Engine VM with the cluster tag (SSH through IAP), so srun's port range is reachable from compute
 * nodes; no public address either way.
 */
export class LoginNode extends Construct implements IFileSystemClient, IScrapeTargets {
  /** The EC2 instance, on AWS. */
  readonly instance?: Instance;
  /** The Compute Engine VM, on GCP. */
  readonly vm?: ComputeInstance;
  readonly privateIp: string;
  readonly hostname: string;
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  private readonly hostMounts = new HostMounts(this);
  private readonly apptainer?: ApptainerNodeSetup;
  private readonly clusterName: string;
  private readonly reach: TargetReach;

  constructor(scope: Construct, id: string, props: LoginNodeProps) {
    super(scope, id);
    const ctl = props.controller;
    const net = ctl.network;
    this.clusterName = ctl.clusterName;
    if (ctl.tailscale) {
      throw new ConstructPropError(this, 'controller', ctl.node.path, 'a login node in the VPC cannot reach a controller addressed on the mesh',
        'Use a controller without a mesh, or log in on a mesh host');
    }
    const [wrong, fix] = net.cloud === 'gcp'
      ? [{ instanceType: props.instanceType, amiId: props.amiId, keyName: props.keyName }, 'Use machineType and image on GCP (SSH through IAP with OS Login)']
      : [{ machineType: props.machineType, image: props.image }, 'Use instanceType and amiId on AWS'];
    for (const [field, value] of Object.entries(wrong)) {
      if (value !== undefined) throw new ConstructPropError(this, field, value, `does not apply on ${net.cloud.toUpperCase()}`, fix);
    }
    this.hostname = props.hostname ?? (net.cloud === 'gcp' ? `${gcpName(ctl.clusterName)}-login` : 'slurm-login');
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(this.hostname) || this.hostname.endsWith('-')) {
      throw new ConstructPropError(this, 'hostname', this.hostname, 'not a host name', "Use lower-case letters, digits and '-', e.g. 'slurm-login'");
    }
    this.privateIp = ctl.fixedHostAddress(this, 'hostIndex', props.hostIndex ?? 11, 11);
    const hostType = net.cloud === 'gcp' ? (props.machineType ?? 'n2-standard-4') : (props.instanceType ?? 't3.large');
    describeForPlan(this, () => ({
      kind: 'login',
      cluster: ctl.clusterName,
      name: this.hostname,
      cloud: net.cloud,
      instanceType: hostType,
      mounts: this.hostMounts.mounts.map((m) => m.mountPoint),
    }));
    describeForPlan(this, () => ({
      kind: 'endpoint',
      cluster: ctl.clusterName,
      name: `login ${this.hostname}`,
      reach: net.cloud === 'gcp'
        ? `ssh ${this.privateIp} through IAP: gcloud compute ssh ${this.hostname} --tunnel-through-iap`
        : `ssh ${this.privateIp} through the bastion (ProxyJump) or Session Manager`,
    }));
    // Checked now, so a bad setting fails at the prop rather than at synth.
    // Compute Engine user-data is a Terraform string, so checksums may be Terraform variables there; not in EC2's gzip.
    const containers = props.enroot
      ? enrootNodeSetup(props.enroot, `${this.node.path}: enroot`, net.cloud === 'gcp' ? { isDeferred: Token.isUnresolved } : {})
      : undefined;
    if (containers) ctl.useContainers();
    // Rendered once per synth: validation, the policy pack and the output share it.
    const render = oncePerSynth(this, () => this.renderUserData(ctl, containers));
    this.apptainer = props.apptainer
      ? apptainerNodeSetup(props.apptainer, `${this.node.path}: apptainer`, net.cloud === 'gcp' ? { isDeferred: Token.isUnresolved } : {})
      : undefined;

    if (net.cloud === 'gcp') {
      this.fileSystemClientNetwork = {
        kind: 'gcp-network-tag', tag: net.clusterTag, networkSelfLink: net.system.networkSelfLink, project: net.project,
        serviceAccountMember: gcpServiceAccountMember(net.project, gcpAccountId(this.hostname)),
        serviceAccountId: gcpAccountId(this.hostname),
      };
      this.reach = { kind: 'gcp-network-tag', tag: net.clusterTag };
      const gcp = GcpControllerHost.of(ctl, 'LoginNode');
      const identity = gcpServiceAccount(this, 'Identity', {
        project: net.project,
        accountId: gcpAccountId(this.hostname),
        displayName: `Slurm login node ${this.hostname} of ${ctl.clusterName}`,
        description: 'Reads the munge key; writes logs and metrics',
      });
      grantSecretAccess(this, 'MungeKeyRead', { project: net.project, secretId: gcp.mungeKeySecretId, member: identity.member });
      grantLogging(this, 'Logging', { project: net.project, member: identity.member });
      this.vm = gcpStaticInstance(this, 'Vm', {
        network: net,
        name: this.hostname,
        machineType: hostType,
        isGpu: false,
        gpuNics: 0,
        userData: lazyString(() => terraformLiteral(render().text)),
        serviceAccountEmail: identity.email,
        clusterName: ctl.clusterName,
        role: 'login',
        image: props.image,
        bootDiskSizeGiB: props.rootVolumeSizeGiB ?? 50,
        networkIp: this.privateIp,
        sshViaIap: true,
      }).instance;
    } else {
      const aws = AwsControllerHost.of(ctl, 'LoginNode');
      this.fileSystemClientNetwork = { kind: 'aws-security-group', securityGroupId: net.clusterSecurityGroupId, vpcId: net.vpcId, groupName: CLUSTER_GROUP_NAME };
      this.reach = { kind: 'aws-security-group', securityGroupId: net.clusterSecurityGroupId };
      const prefix = `${ctl.clusterName}-${this.hostname}`;
      const { role, profile } = ec2InstanceRole(this, prefix, `Slurm login node of ${ctl.clusterName}: reads the munge key`);
      grantMungeKeyRead(this, role, aws.mungeKeySecretArn);
      grantFileSystemParameterRead(this, role, ctl.clusterName);
      aws.scriptBucket.grantRead(this, 'ScriptsRead', role.id);
      this.instance = fixedEc2Host(this, {
        ami: ubuntuAmi(this, props.amiId),
        instanceType: hostType,
        subnetId: net.privateSubnets[0].id,
        privateIp: this.privateIp,
        securityGroupIds: [net.clusterSecurityGroupId],
        instanceProfileName: profile.name,
        keyName: props.keyName,
        rootVolumeSizeGiB: props.rootVolumeSizeGiB ?? 50,
        userDataBase64: lazyString(() => render().base64),
        tags: { Name: prefix, 'slurm:cluster': ctl.clusterName, 'slurm:role': 'login', [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
      });
    }
    for (const fs of props.mounts ?? []) this.addMount(fs);
    ctl.addScrapeTargets(this);
    validateAtSynth(this, () => {
      render();
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
      reach: this.reach,
      labels: { cluster: this.clusterName, role: 'login', node: this.hostname },
    }];
  }

  private renderUserData(ctl: ISlurmController, containers?: EnrootNodeSetup) {
    // Slurm before 23.11 has no sackd: stage the controller's client files (never slurmdbd.conf).
    const staged =
      ctl.slurmVersion === '22.05'
        ? renderControllerFiles(ctl.clusterSpec()).filter((f) => f.name !== 'slurmdbd.conf')
        : [];
    const onGcp = ctl.network.cloud === 'gcp';
    const host = ctl.hostSetup(['node'], this.hostMounts.mounts);
    const config = buildNodeCloudConfig({
      roles: ['login'],
      env: {
        CLUSTER_NAME: ctl.clusterName,
        SLURM_CONTROLLER: `${ctl.privateIp}:6817`,
        MUNGE_KEY_SOURCE: ctl.mungeKeySource,
        ...(containers?.env ?? {}),
        ...(this.apptainer?.env ?? {}),
        ...host.env,
      },
      usersTable: host.usersTable,
      hostname: this.hostname,
      slurmFiles: [...staged, ...(containers?.slurmFiles ?? [])],
      files: [...(containers?.files ?? []), ...(this.apptainer?.files ?? [])],
      mounts: this.hostMounts.mounts,
      extraScripts: [
        ...(containers ? ['containers/enroot-pyxis.sh'] : []), ...(this.apptainer ? ['containers/apptainer.sh'] : []),
        ...host.scripts,
      ],
      scriptDelivery: onGcp ? { kind: 'inline' } : { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    });
    return renderNodeUserData(config, { target: onGcp ? 'gcp' : 'aws', role: 'login', where: this.node.path });
  }
}
