/**
 * A pool's nodes on hosts you already have and reach by SSH (GPU clouds such as Lambda, RunPod, Paperspace; a lab
 * box). They are VMs with systemd; ONE counted `terraform_data` uploads each host's files and runs the bootstrap as
 * root over SSH. Each joins the controller's mesh and registers itself with Slurm as a dynamic node `<pool>-<i>`, in
 * host order. Resources are made in the pool's scope (`<Pool>/Bootstrap`).
 *
 * The hosts have no cloud identity, so the secrets travel as file contents that are Terraform references (see
 * `meshNodeFiles`): both live in Terraform state. Provisioner contents and the connection's private key are not
 * written to state, but saved plan files carry them: keep state and plan files encrypted.
 */
import { Token } from 'cdktf';
import type { Construct } from 'constructs';
import { ConstructPropError } from '../cdktf-adapter';
import { BOOTSTRAP_RUNCMD, NODE_ENV_PATH } from '../cloudinit';
import { dynamicPoolSpec, GivenHardware, MeshKind, meshNodeFiles, meshOf, MeshPoolNodes } from '../constructs/mesh-nodes';
import { MESH_CIDR } from '../net/cidr';
import type { INodePlacement, INodePoolHandle, IPlacedNodes, NodePoolRequest, PlannedNodes } from '../node-placement';
import { ResolvedSshHost, SshNodeBootstrap } from './ssh-node-bootstrap';
import {
  DEFAULT_SSH_USER, redactedKey, sshAddressProblem, SshHost, sshHostKeyProblem, sshPrivateKeyProblem, sshUserProblem,
} from './ssh-placement';

/** How Terraform reaches the hosts, and the hardware each may give Slurm. */
export interface SshHostsSettings extends GivenHardware {
  /**
   * The SSH private key (PEM/OpenSSH text) as a Terraform reference: a sensitive `TerraformVariable`'s value, or
   * `Fn.file(...)` of a path outside the repository. A literal is refused. Password authentication is never
   * used. The key goes into the `connection` block only: Terraform does not store connection blocks in state,
   * but saved plan files carry variable values, so treat plan files as secret.
   */
  readonly privateKey: string;
  /** SSH port on every host. @default 22 */
  readonly port?: number;
}

/** A pool's nodes on SSH hosts: `nodes: SshHosts.of([{ address: '203.0.113.7' }], { privateKey, cpus: 30, realMemoryMiB: 200000 })`. */
export class SshHosts implements INodePlacement {
  /** @param hosts the hosts, in node order: `hosts[i]` becomes `<pool>-<i>` */
  static of(hosts: readonly SshHost[], settings: SshHostsSettings): SshHosts {
    return new SshHosts(hosts, settings);
  }

  readonly kind = 'ssh';

  private constructor(readonly hosts: readonly SshHost[], readonly settings: SshHostsSettings) {}

  plan(pool: Construct, request: NodePoolRequest): PlannedNodes {
    const s = this.settings;
    const kind: MeshKind = { kind: 'SSH', unit: 'host', shown: { hosts: Array.isArray(this.hosts) ? this.hosts.length : this.hosts } };
    if (!Array.isArray(this.hosts) || this.hosts.length === 0) {
      throw new ConstructPropError(pool, 'nodes.hosts', this.hosts, 'no hosts given', "List the GPU hosts, e.g. SshHosts.of([{ address: '203.0.113.7' }], …)");
    }
    const { count, maxCount, minCount } = request.counts;
    if (count !== undefined && count !== this.hosts.length) {
      throw new ConstructPropError(pool, 'count', count, `differs from the number of hosts (${this.hosts.length}): an SSH pool has one node per host`,
        'Drop count (it follows the host list) or list exactly count hosts');
    }
    if (maxCount !== undefined || minCount !== undefined) {
      throw new ConstructPropError(pool, maxCount !== undefined ? 'maxCount' : 'minCount', maxCount ?? minCount,
        'SSH hosts are always on: Slurm cannot start or stop hosts it does not create', 'Drop it; the pool has one node per host');
    }
    const spec = dynamicPoolSpec(pool, request, this.hosts.length, s, kind, 'ssh');
    const mesh = meshOf(pool, request, kind);
    const keyProblem = sshPrivateKeyProblem(s.privateKey);
    if (keyProblem) {
      // Never echo the key: only its length.
      throw new ConstructPropError(pool, 'nodes.privateKey', redactedKey(s.privateKey), keyProblem,
        "Pass a sensitive TerraformVariable's value (new TerraformVariable(stack, 'ssh_private_key', { sensitive: true }).stringValue) or Fn.file('~/.ssh/id_ed25519')");
    }
    if (s.port !== undefined && (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535)) {
      throw new ConstructPropError(pool, 'nodes.port', s.port, 'is not a TCP port', 'Use 1–65535 (default 22)');
    }
    const hosts = this.checkedHosts(pool);
    return {
      spec,
      fileSystemClientNetwork: { kind: 'mesh', cidr: MESH_CIDR },
      place: (handle) => this.place(handle, mesh, hosts),
    };
  }

  private checkedHosts(pool: Construct): ResolvedSshHost[] {
    const seen = new Map<string, number>();
    const hosts = this.hosts.map((h, i) => {
      const field = `nodes.hosts[${i}]`;
      const addressProblem = sshAddressProblem(h?.address);
      if (addressProblem) {
        throw new ConstructPropError(pool, `${field}.address`, h?.address, addressProblem, "Give the host's public DNS name or IP, e.g. '203.0.113.7'");
      }
      const user = h.user ?? DEFAULT_SSH_USER;
      const userProblem = sshUserProblem(user);
      if (userProblem) {
        throw new ConstructPropError(pool, `${field}.user`, user, userProblem, `Give the login user with passwordless sudo, e.g. '${DEFAULT_SSH_USER}'`);
      }
      if (h.hostKey !== undefined) {
        const hostKeyProblem = sshHostKeyProblem(h.hostKey);
        if (hostKeyProblem) {
          throw new ConstructPropError(pool, `${field}.hostKey`, h.hostKey, hostKeyProblem, 'Copy the line from /etc/ssh/ssh_host_ed25519_key.pub on the host (or ssh-keyscan it over a trusted path)');
        }
      }
      const before = seen.get(h.address.toLowerCase());
      if (before !== undefined && !Token.isUnresolved(h.address)) {
        throw new ConstructPropError(pool, `${field}.address`, h.address, `is also nodes.hosts[${before}]: one node per host`,
          'List each host once (several GPUs on one host are one node with gpus.count > 1)');
      }
      seen.set(h.address.toLowerCase(), i);
      return { address: h.address, user, hostKey: h.hostKey };
    });
    const pinned = hosts.filter((h) => h.hostKey !== undefined).length;
    if (pinned !== 0 && pinned !== hosts.length) {
      throw new ConstructPropError(pool, 'nodes.hosts[].hostKey', `${pinned} of ${hosts.length} hosts`, 'host keys are pinned on some hosts only',
        'Pin every host of the pool or none (see SshHost.hostKey for the trade-off)');
    }
    return hosts;
  }

  private place(pool: INodePoolHandle, mesh: ReturnType<typeof meshOf>, hosts: readonly ResolvedSshHost[]): IPlacedNodes {
    const files = meshNodeFiles(pool, mesh, []);
    new SshNodeBootstrap(pool, 'Bootstrap', {
      hosts,
      privateKey: this.settings.privateKey,
      port: this.settings.port,
      nodeNamePrefix: pool.poolName,
      // node.env is the pool's; each host's own node name is appended (the last assignment wins when sourced).
      files: (index) => files.map((f) => ({
        path: f.path,
        content: f.path === NODE_ENV_PATH ? `${f.content}SLURMD_NODENAME='${pool.poolName}-${index}'\n` : f.content,
        mode: f.mode,
        ...(f.secret ? { secret: true } : {}),
      })),
      command: [...BOOTSTRAP_RUNCMD],
    });
    return new MeshPoolNodes(`SSH hosts (${pool.spec.hardware.cpus} CPUs)`, pool.poolName, hosts.length);
  }
}
