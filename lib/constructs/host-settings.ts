/**
 * A fixed host's cloud settings (`instance: Ec2Instance.of(…)` or `GceInstance.of(…)`), checked against the cluster's
 * backend and completed with its defaults. Shared by the controller, the login node and the monitor.
 */
import type { IConstruct } from 'constructs';
import type { FixedHostRole, IClusterBackend, IHostSettings } from '../backend';
import { ConstructPropError } from '../cdktf-adapter';

/** What the backend gets: the type always, the rest where given. */
export interface ResolvedHostSettings {
  readonly hostType: string;
  /** @default the backend's */
  readonly image?: string;
  /** @default none */
  readonly keyName?: string;
  /** @default the backend's for the role */
  readonly rootVolumeSizeGiB?: number;
}

/**
 * @throws ConstructPropError naming `scope` and `instance` when the settings are another cloud's, or the boot disk
 * is not a whole number of GiB from 8 to 16384
 */
export function resolveHostSettings(scope: IConstruct, settings: IHostSettings | undefined, backend: IClusterBackend, role: FixedHostRole): ResolvedHostSettings {
  if (settings === undefined) return { hostType: backend.defaultHostType(role) };
  if (settings.backend !== backend.name) {
    throw new ConstructPropError(scope, 'instance', settings.shown,
      `are ${settings.backend.toUpperCase()} settings, and the cluster network is ${backend.name.toUpperCase()}`, `Use ${backend.hostSettingsExample}`);
  }
  const disk = settings.rootVolumeSizeGiB;
  if (disk !== undefined && (!Number.isInteger(disk) || disk < 8 || disk > 16384)) {
    throw new ConstructPropError(scope, `instance.${settings.diskField}`, disk, 'must be a whole number of GiB from 8 to 16384', 'Use e.g. 50');
  }
  return { hostType: settings.hostType ?? backend.defaultHostType(role), image: settings.image, keyName: settings.keyName, rootVolumeSizeGiB: disk };
}
