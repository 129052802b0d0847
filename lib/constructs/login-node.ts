import { Token } from 'cdktf';
import { Construct } from 'constructs';
import type { IFixedHost, IHostSettings } from '../backend';
import { resolveHostSettings } from './host-settings';
import {
  ApptainerNodeSetup, ApptainerSettings, apptainerNodeSetup, buildNodeCloudConfig, EnrootNodeSetup, EnrootSettings, enrootNodeSetup, renderNodeUserData,
} from '../cloudinit';
import { renderControllerFiles } from '../slurm';
import { IScrapeTargets, ScrapeTargetGroup } from '../monitoring/scrape-targets';
import { FileSystemClientNetwork, HostMounts, IClusterFileSystem, IFileSystemClient } from './cluster-file-system';
import { describeForPlan } from './plan-summary';
import { ConstructPropError, oncePerSynth, validateAtSynth } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface LoginNodeProps {
  readonly controller: ISlurmController;
  /**
   * The login node's VM, in its cloud's words: `Ec2Instance.of({ instanceType, amiId, keyName, rootVolumeSizeGiB })`
   * or `GceInstance.of({ machineType, image, bootDiskSizeGiB })`.
   * @default the backend's: `t3.large` on AWS, `n2-standard-4` on GCP; a 50 GiB boot disk; Ubuntu 24.04 LTS; no key
   * pair (SSM Session Manager; on GCP, IAP with OS Login)
   */
  readonly instance?: IHostSettings;
  /** Host name; also the `Name` tag (AWS) or the VM name (GCP). @default `slurm-login` on AWS, `<cluster>-login` on GCP */
  readonly hostname?: string;
  /** Index of its fixed address in the controller's subnet. @default 11 (the controller has 10) */
  readonly hostIndex?: number;
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
  /** The login node's host on its cloud (`AwsLoginHost.instance`, `GcpLoginHost.vm`). */
  readonly host: IFixedHost;
  readonly privateIp: string;
  readonly hostname: string;
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  private readonly hostMounts = new HostMounts(this);
  private readonly apptainer?: ApptainerNodeSetup;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: LoginNodeProps) {
    super(scope, id);
    const ctl = props.controller;
    this.clusterName = ctl.clusterName;
    if (ctl.tailscale) {
      throw new ConstructPropError(this, 'controller', ctl.node.path, 'a login node in the VPC cannot reach a controller addressed on the mesh',
        'Use a controller without a mesh, or log in on a mesh host');
    }
    const instance = resolveHostSettings(this, props.instance, ctl.backend, 'login');
    this.hostname = props.hostname ?? ctl.backend.loginHostname(ctl.clusterName);
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(this.hostname) || this.hostname.endsWith('-')) {
      throw new ConstructPropError(this, 'hostname', this.hostname, 'not a host name', "Use lower-case letters, digits and '-', e.g. 'slurm-login'");
    }
    this.privateIp = ctl.fixedHostAddress(this, 'hostIndex', props.hostIndex ?? 11, 11);
    const hostType = instance.hostType;
    describeForPlan(this, () => ({
      kind: 'login',
      cluster: ctl.clusterName,
      name: this.hostname,
      cloud: ctl.backend.name,
      instanceType: hostType,
      mounts: this.hostMounts.mounts.map((m) => m.mountPoint),
    }));
    describeForPlan(this, () => ({
      kind: 'endpoint',
      cluster: ctl.clusterName,
      name: `login ${this.hostname}`,
      reach: this.host.access,
    }));
    this.host = ctl.backend.placeLoginNode(this, {
      controller: ctl,
      clusterName: ctl.clusterName,
      hostname: this.hostname,
      privateIp: this.privateIp,
      ...instance,
      rootVolumeSizeGiB: instance.rootVolumeSizeGiB ?? 50,
      userData: () => render(),
    });
    // Checked now, so a bad setting fails at the prop rather than at synth.
    // Compute Engine user-data is a Terraform string, so checksums may be Terraform variables there; not in EC2's gzip.
    const containers = props.enroot
      ? enrootNodeSetup(props.enroot, `${this.node.path}: enroot`, this.host.userDataTakesReferences ? { isDeferred: Token.isUnresolved } : {})
      : undefined;
    if (containers) ctl.useContainers();
    // Rendered once per synth: validation, the policy pack and the output share it.
    const render = oncePerSynth(this, () => this.renderUserData(ctl, containers));
    this.apptainer = props.apptainer
      ? apptainerNodeSetup(props.apptainer, `${this.node.path}: apptainer`, this.host.userDataTakesReferences ? { isDeferred: Token.isUnresolved } : {})
      : undefined;

    this.fileSystemClientNetwork = this.host.fileSystemClientNetwork;
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
      reach: this.host.scrapeReach,
      labels: { cluster: this.clusterName, role: 'login', node: this.hostname },
    }];
  }

  private renderUserData(ctl: ISlurmController, containers?: EnrootNodeSetup) {
    // Slurm before 23.11 has no sackd: stage the controller's client files (never slurmdbd.conf).
    const staged =
      ctl.slurmVersion === '22.05'
        ? renderControllerFiles(ctl.clusterSpec()).filter((f) => f.name !== 'slurmdbd.conf')
        : [];
    const host = ctl.hostSetup(['node'], this.hostMounts.mounts);
    const config = buildNodeCloudConfig({
      roles: ['login'],
      env: {
        CLUSTER_NAME: ctl.clusterName,
        SLURM_CONTROLLER: `${ctl.privateIp}:6817`,
        MUNGE_KEY_SOURCE: ctl.mungeKeySource,
        ...(this.host.metadataEndpoint ? { METADATA_GUARD: '1' } : {}),
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
      scriptDelivery: this.host.scriptDelivery,
    });
    return renderNodeUserData(config, { target: this.host.userDataTarget, role: 'login', where: this.node.path });
  }
}
