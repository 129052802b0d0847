import { DataResource, DefaultTokenResolver, Fn, FileProvisioner, RemoteExecProvisioner, SSHProvisionerConnection, TerraformCount, StringConcat, TerraformLocal, Token, Tokenization } from 'cdktf';
import { Construct } from 'constructs';
import { createHash } from 'crypto';
import { shellSingleQuote } from '../cloudinit/node-env';
import { lazyString, terraformLiteral } from '../cdktf-adapter';

/** A file installed on every host (as root), uploaded through the SSH user's private staging directory. */
export interface SshUploadFile {
  /** Absolute path on the host. */
  readonly path: string;
  /** Text, or a Terraform reference (secrets must be references, never literals). */
  readonly content: string;
  /** Octal mode, e.g. `0755`; secrets `0400`. */
  readonly mode: string;
  /**
   * The content is a secret: it is left out of the change fingerprint (so no hash of it sits in state) and the
   * file's directory is made root-only (0700).
   * @default false
   */
  readonly secret?: boolean;
}

/** A host as the construct takes it: defaults applied, checked by the caller. */
export interface ResolvedSshHost {
  readonly address: string;
  readonly user: string;
  /** @default none (no host-key pinning) */
  readonly hostKey?: string;
}

export interface SshNodeBootstrapProps {
  /** Node `i` is `hosts[i]`; the resource's `count` is `hosts.length`. */
  readonly hosts: readonly ResolvedSshHost[];
  /** Terraform reference to the private key (see `SshHostsSettings.privateKey`). */
  readonly privateKey: string;
  /** @default 22 */
  readonly port?: number;
  /** Node names are `<nodeNamePrefix>-<i>`; also names the staging directory. */
  readonly nodeNamePrefix: string;
  /**
   * The files each node gets, given the node index as a Terraform expression (`${count.index}`), so a file may
   * carry the node's own name.
   */
  readonly files: (nodeIndex: string) => readonly SshUploadFile[];
  /** Run as root after the files are installed, e.g. `['bash', '/opt/cdktf-slurm/bootstrap/bootstrap.sh']`. */
  readonly command: readonly string[];
}

/** Modes `install` takes here: plain octal. */
const MODE = /^0[0-7]{3}$/;

/**
 * Bootstraps hosts the library does not create: ONE `terraform_data` with `count` = hosts (the plan does not
 * grow a resource per node), connecting over SSH with key authentication only. Provisioners, in order:
 * 1. `remote-exec`: a fresh private (0700, umask 077) staging directory in `/tmp`, owned by the SSH user;
 *    `mkdir` fails rather than reuse a directory someone else created there.
 * 2. one `file` per upload into it (the SSH user cannot write `/opt` or `/etc`; uploads land with its umask).
 * 3. `remote-exec`: `sudo -n install` each file into place, owned by root, with its mode (secret directories
 *    0700), remove the staging copy (also on failure, by trap), then run the command as root.
 *
 * `triggers_replace` holds a fingerprint of every non-secret file, the command and the host's address and
 * user: changing a script, node.env or a host re-runs the provisioners (the bootstrap is idempotent). Secret
 * contents are not fingerprinted; rotating one does not re-run anything by itself.
 */
export class SshNodeBootstrap extends Construct {
  readonly resource: DataResource;
  /** Directory on each host the uploads are staged in before `install` moves them. */
  readonly stagingDir: string;

  constructor(scope: Construct, id: string, props: SshNodeBootstrapProps) {
    super(scope, id);
    if (props.hosts.length === 0) throw new Error(`${this.node.path}: no hosts to bootstrap`);
    const count = TerraformCount.of(props.hosts.length);
    const index = count.index;
    const indexExpr = Token.asString(index);
    this.stagingDir = `/tmp/cdktf-slurm-stage-${props.nodeNamePrefix}`;
    const stage = this.stagingDir;

    const addresses = new TerraformLocal(this, 'Addresses', props.hosts.map((h) => h.address));
    const users = new TerraformLocal(this, 'Users', props.hosts.map((h) => h.user));
    const pinned = props.hosts.filter((h) => h.hostKey !== undefined).length;
    if (pinned !== 0 && pinned !== props.hosts.length) {
      throw new Error(`${this.node.path}: host keys given for ${pinned} of ${props.hosts.length} hosts; pin every host or none`);
    }
    const hostKeys = pinned ? new TerraformLocal(this, 'HostKeys', props.hosts.map((h) => h.hostKey as string)) : undefined;
    const address = Fn.element(addresses.asList, index);
    const user = Fn.element(users.asList, index);

    const connection: SSHProvisionerConnection = {
      type: 'ssh',
      host: address,
      user,
      port: props.port ?? 22,
      privateKey: props.privateKey,
      // Only the given key: never an agent's keys, never a password.
      agent: 'false',
      hostKey: hostKeys ? Fn.element(hostKeys.asList, index) : undefined,
      timeout: '5m',
    };

    const files = props.files(indexExpr);
    for (const f of files) {
      if (!f.path.startsWith('/') || /\s|'/.test(f.path)) throw new Error(`${this.node.path}: upload path '${f.path}' must be absolute, without spaces or quotes`);
      if (!MODE.test(f.mode)) throw new Error(`${this.node.path}: upload ${f.path} has mode '${f.mode}'; use octal such as 0755`);
    }
    const staged = (i: number) => `${stage}/${i}`;
    const secretDirs = [...new Set(files.filter((f) => f.secret).map((f) => f.path.slice(0, f.path.lastIndexOf('/'))))].sort();
    const q = shellSingleQuote;

    const prepare: RemoteExecProvisioner = {
      type: 'remote-exec',
      inline: ['set -eu', 'umask 077', `rm -rf ${q(stage)}`, `mkdir -m 0700 ${q(stage)}`],
    };
    // Scripts are full of `${…}`, which Terraform would read as interpolation.
    const uploads: FileProvisioner[] = files.map((f, i) => ({ type: 'file', content: terraformLiteral(f.content), destination: staged(i) }));
    const install: RemoteExecProvisioner = {
      type: 'remote-exec',
      inline: [
        'set -eu',
        `trap 'rm -rf ${stage}' EXIT`,
        `sudo -n true || { echo "$(id -un) needs passwordless sudo on $(hostname) to install cdktf-slurm" >&2; exit 1; }`,
        ...secretDirs.map((d) => `sudo -n install -d -o root -g root -m 0700 ${q(d)}`),
        ...files.map((f, i) => `sudo -n install -D -o root -g root -m ${f.mode} ${q(staged(i))} ${q(f.path)}`),
        `rm -rf ${q(stage)}`,
        `sudo -n ${props.command.map(q).join(' ')}`,
      ],
    };

    // Fingerprint at synth, when lazy contents (node.env) are complete: non-secret contents, paths, modes, command.
    const fingerprint = lazyString(() => {
      const resolve = (v: unknown): unknown =>
        Tokenization.resolve(v, { scope: this, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
      const h = createHash('sha256');
      for (const f of files) {
        h.update(`${f.path}\0${f.mode}\0`);
        if (!f.secret) h.update(String(resolve(f.content)));
        h.update('\0');
      }
      h.update(JSON.stringify(resolve(install.inline)));
      return h.digest('hex');
    });

    this.resource = new DataResource(this, 'Nodes', {
      count,
      input: { node_name: `${props.nodeNamePrefix}-${indexExpr}`, address },
      triggersReplace: { bootstrap: fingerprint, address, user },
      connection,
      provisioners: [prepare, ...uploads, install],
    });
  }
}
