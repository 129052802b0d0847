/**
 * A Lustre file system made elsewhere (on-prem, DDN EXAScaler, one made by another stack) as a `LustreFs` server:
 * `fileSystem: ExistingLustre.at('10.20.0.5@tcp:/lfs')`. Clients only; nothing is made, and whatever network path
 * and firewall reach it are the owner's. Works with any backend.
 */
import type { IConstruct } from 'constructs';
import { ConstructPropError } from '../cdktf-adapter';
import type { FileSystemServerPlan, FileSystemServerRequest, ILustreServer, IMadeLustre } from '../file-system-server';
import type { IFileSystemClient } from './cluster-file-system';

const LUSTRE_SOURCE = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*(:[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?@tcp[0-9]*)*:\/[A-Za-z0-9_]{1,8}$/;

/** An existing Lustre file system, by its mount source. */
export class ExistingLustre implements ILustreServer {
  /** @param source `<mgs-nid>[:<failover-nid>]:/<fsname>`, e.g. `10.20.0.5@tcp:/lfs` */
  static at(source: string): ExistingLustre {
    return new ExistingLustre(source);
  }

  readonly shown: string;

  private constructor(readonly source: string) {
    this.shown = `ExistingLustre.at(${JSON.stringify(source)})`;
  }

  make(scope: IConstruct, request: FileSystemServerRequest): IMadeLustre {
    const source = this.source;
    if (typeof source !== 'string' || !LUSTRE_SOURCE.test(source)) {
      throw new ConstructPropError(scope, `${request.field}.source`, source, 'is not a Lustre source <mgs-nid>[:<failover-nid>]:/<fsname> (file system name at most 8 characters)',
        "Use e.g. ExistingLustre.at('10.20.0.5@tcp:/lfs')");
    }
    const plan: FileSystemServerPlan = { type: 'Lustre', server: `existing ${source}` };
    return {
      source,
      plan,
      // Nothing to open: the file system's owner decides who reaches it.
      admit: (_client: IFileSystemClient, _fileSystem: IConstruct): void => undefined,
    };
  }
}
