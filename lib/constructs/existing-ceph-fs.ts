/**
 * A Ceph cluster made elsewhere (Juju's cephfs-server-proxy takes the same facts) as a `CephFs` server:
 * `fileSystem: ExistingCephFs.of({ monitors, fsid, clientName, keySecret })`. Clients only: nothing is made. The
 * client key stays in the cloud's secret store, named by `keySecret`; the controller's host checks that name and
 * grants each host set that mounts the file system read access to it (AWS: a name under `<cluster>/filesystems/`,
 * which every host role may read; Google Cloud: a per-service-account grant on that one secret). Works with any
 * backend whose controller host keeps file-system secrets.
 */
import type { Construct, IConstruct } from 'constructs';
import { ConstructPropError } from '../cdktf-adapter';
import type { FileSystemServerRequest, ICephFsServer, IMadeCephFs } from '../file-system-server';
import { shownSettings } from '../file-system-server';
import type { IFileSystemClient } from './cluster-file-system';

/** An existing CephFS's facts. */
export interface ExistingCephFsSettings {
  /** Monitor addresses, `ip` or `ip:port`. */
  readonly monitors: readonly string[];
  /** The cluster's fsid (`ceph fsid`). */
  readonly fsid: string;
  /** The cephx client, without `client.` (made with `ceph fs authorize <fs> client.<name> / rw`). */
  readonly clientName: string;
  /**
   * The secret holding the client's key (`ceph auth print-key client.<name>`), never the key. AWS: a Secrets Manager
   * name under `<cluster>/filesystems/`. Google Cloud: a Secret Manager secret ID in the network's project (or
   * `projects/P/secrets/S`).
   */
  readonly keySecret: string;
}

const FSID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MONITOR = /^(\d{1,3}\.){3}\d{1,3}(:\d{1,5})?$/;

/** An existing CephFS, by its monitors, fsid and client. */
export class ExistingCephFs implements ICephFsServer {
  static of(settings: ExistingCephFsSettings): ExistingCephFs {
    return new ExistingCephFs(settings);
  }

  readonly shown: string;

  private constructor(readonly settings: ExistingCephFsSettings) {
    // The key's secret name is shown by its length: a user may have pasted the key itself there.
    const keySecret = typeof settings.keySecret === 'string' ? `<${settings.keySecret.length} characters>` : settings.keySecret;
    this.shown = shownSettings('ExistingCephFs.of', { ...settings, keySecret });
  }

  make(scope: Construct, request: FileSystemServerRequest & { readonly fsName: string }): IMadeCephFs {
    const { controller: ctl, field, name, fsName } = request;
    const x = this.settings;
    if (!Array.isArray(x.monitors) || x.monitors.length === 0 || x.monitors.some((m) => typeof m !== 'string' || !MONITOR.test(m))) {
      throw new ConstructPropError(scope, `${field}.monitors`, x.monitors, 'must list monitor addresses as ip or ip:port', "Use e.g. ['10.0.1.10', '10.0.1.11:6789']");
    }
    if (typeof x.fsid !== 'string' || !FSID.test(x.fsid)) {
      throw new ConstructPropError(scope, `${field}.fsid`, x.fsid, 'is not a Ceph fsid (a UUID)', "Copy it from 'ceph fsid' on the cluster");
    }
    if (typeof x.clientName !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(x.clientName) || x.clientName.startsWith('client.')) {
      throw new ConstructPropError(scope, `${field}.clientName`, x.clientName, 'is not a cephx client name without the client. prefix', "Use e.g. 'fs-client'");
    }
    const secret = ctl.host.fileSystemSecret(scope, `${field}.keySecret`, x.keySecret, {
      name: `${name}-client-key`,
      valueCommand: `ceph auth print-key client.${x.clientName}`,
    });
    return {
      source: `${x.clientName}@${x.fsid}.${fsName}=/`,
      monitors: x.monitors,
      keySource: secret.source,
      plan: { type: 'CephFS', server: `existing cluster (${x.monitors.join(', ')})` },
      // The network path to the monitors and OSDs is the cluster owner's; the key is what the hosts need.
      admit: (client: IFileSystemClient, fileSystem: IConstruct): void => secret.grant(client, fileSystem),
    };
  }
}
