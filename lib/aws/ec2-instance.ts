/**
 * The EC2 settings of a fixed host (controller, login node, monitor): `instance: Ec2Instance.of({ instanceType })`.
 * Every field has the backend's default for the host's role.
 */
import type { IHostSettings } from '../backend';

export interface Ec2InstanceSettings {
  /** EC2 instance type. @default controller `m6i.xlarge`, login node `t3.large`, monitor `m6i.large` */
  readonly instanceType?: string;
  /** @default the latest Ubuntu 24.04 LTS amd64 AMI, from Canonical's public SSM parameter */
  readonly amiId?: string;
  /** EC2 key pair for SSH through the bastion. @default none (SSM Session Manager) */
  readonly keyName?: string;
  /** Root volume, GiB (encrypted gp3). @default controller 40, login node 50; a monitor's is its `diskGiB` */
  readonly rootVolumeSizeGiB?: number;
}

/** A fixed host on EC2. */
export class Ec2Instance implements IHostSettings {
  static of(settings: Ec2InstanceSettings = {}): Ec2Instance {
    return new Ec2Instance(settings);
  }

  readonly backend = 'aws';
  readonly diskField = 'rootVolumeSizeGiB';
  readonly hostType?: string;
  readonly image?: string;
  readonly keyName?: string;
  readonly rootVolumeSizeGiB?: number;

  private constructor(readonly settings: Ec2InstanceSettings) {
    this.hostType = settings.instanceType;
    this.image = settings.amiId;
    this.keyName = settings.keyName;
    this.rootVolumeSizeGiB = settings.rootVolumeSizeGiB;
  }

  get shown(): string {
    return `Ec2Instance.of(${JSON.stringify(this.settings)})`;
  }
}
