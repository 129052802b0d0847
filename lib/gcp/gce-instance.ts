/**
 * The Compute Engine settings of a fixed host (controller, login node, monitor):
 * `instance: GceInstance.of({ machineType })`. Every field has the backend's default for the host's role. SSH goes
 * through IAP with OS Login, so there is no key pair.
 */
import type { IHostSettings } from '../backend';

export interface GceInstanceSettings {
  /** Machine type. @default controller `n2-standard-8`, login node `n2-standard-4`, monitor `e2-standard-4` */
  readonly machineType?: string;
  /** Boot image or family path. @default Ubuntu 24.04 LTS (`DEFAULT_GCP_NODE_IMAGE`) */
  readonly image?: string;
  /** Boot disk, GiB. @default controller and login node 50; a monitor's is its `diskGiB` */
  readonly bootDiskSizeGiB?: number;
}

/** A fixed host on Compute Engine. */
export class GceInstance implements IHostSettings {
  static of(settings: GceInstanceSettings = {}): GceInstance {
    return new GceInstance(settings);
  }

  readonly backend = 'gcp';
  readonly diskField = 'bootDiskSizeGiB';
  readonly hostType?: string;
  readonly image?: string;
  readonly rootVolumeSizeGiB?: number;

  private constructor(readonly settings: GceInstanceSettings) {
    this.hostType = settings.machineType;
    this.image = settings.image;
    this.rootVolumeSizeGiB = settings.bootDiskSizeGiB;
  }

  get shown(): string {
    return `GceInstance.of(${JSON.stringify(this.settings)})`;
  }
}
