/** Renders slurmdbd.conf. The database password is never written here. */
import type { ClusterSpec } from './model';
import { DEFAULTS, file, header, jwtKey, kv } from './render-common';
import { assertValidCluster, DEFAULT_SLURMDBD_PORT } from './validate';

/**
 * @throws Error when the model has no accounting; SlurmConfigError when it is invalid.
 */
export function renderSlurmdbdConf(spec: ClusterSpec): string {
  assertValidCluster(spec);
  const a = spec.accounting;
  if (!a) {
    throw new Error(
      `cluster '${spec.clusterName}': accounting = undefined: slurmdbd.conf needs accounting settings. Set accounting.dbdHost, or do not render slurmdbd.conf.`,
    );
  }
  const paths = spec.paths ?? {};
  return file([
    header('slurmdbd.conf', spec),
    '# StoragePass is not written here: the bootstrap script appends it from the secret store on the dbd host.',
    ...kv([
      ['AuthType', 'auth/munge'],
      ['AuthInfo', paths.mungeSocket ? `socket=${paths.mungeSocket}` : undefined],
      ['AuthAltTypes', spec.jwtAuth ? 'auth/jwt' : undefined],
      ['AuthAltParameters', spec.jwtAuth ? jwtKey(spec) : undefined],
      ['DbdHost', a.dbdHost],
      ['DbdPort', a.dbdPort ?? DEFAULT_SLURMDBD_PORT],
      ['SlurmUser', spec.slurmUser ?? DEFAULTS.slurmUser],
      ['StorageType', 'accounting_storage/mysql'],
      ['StorageHost', a.storageHost ?? DEFAULTS.storageHost],
      ['StoragePort', a.storagePort ?? DEFAULTS.storagePort],
      ['StorageUser', a.storageUser ?? DEFAULTS.storageUser],
      ['StorageLoc', a.storageLoc ?? DEFAULTS.storageLoc],
      ['LogFile', paths.slurmdbdLogFile ?? DEFAULTS.slurmdbdLogFile],
      ['PidFile', paths.slurmdbdPidFile ?? DEFAULTS.slurmdbdPidFile],
    ]),
  ]);
}
