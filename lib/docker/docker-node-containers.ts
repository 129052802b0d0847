import { Container } from '@cdktf/provider-docker/lib/container';
import { Image } from '@cdktf/provider-docker/lib/image';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider';
import { Fn, Op, TerraformCount, Token } from 'cdktf';
import { Construct } from 'constructs';
import { terraformLiteral } from '../cdktf-adapter';
import { suppressPolicyRule } from '../policy/security-policy';

/** A file the provider writes into each container before it starts (`upload` block). */
export interface ContainerFile {
  /** Absolute path in the container. */
  readonly path: string;
  /** Text, or a Terraform reference (secrets must be references, never literals). */
  readonly content: string;
  /** Octal mode, e.g. `0755`. */
  readonly permissions: string;
}

export interface DockerNodeContainersProps {
  readonly provider: DockerProvider;
  /** Pinned image reference (see `imagePinProblem`). */
  readonly image: string;
  /** Containers: `<nodeNamePrefix>-0` … `<nodeNamePrefix>-<count-1>`. */
  readonly count: number;
  /** Docker container names are `<containerNamePrefix>-<i>` (unique per Docker host). */
  readonly containerNamePrefix: string;
  /** Slurm node names and host names are `<nodeNamePrefix>-<i>`. */
  readonly nodeNamePrefix: string;
  /**
   * GPUs per container: a number hands node `i` the host's GPUs `i*n` … `i*n+n-1` (so nodes on one host
   * never share a GPU); `'all'` hands every container all of the host's GPUs.
   * @default no GPUs
   */
  readonly gpus?: number | 'all';
  /** Files uploaded into every container (scripts, node.env, secret files by reference). */
  readonly files: readonly ContainerFile[];
  /** The container's command (run under Docker's init). */
  readonly entrypoint: readonly string[];
  /** Docker labels. @default none */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * The containers of one Docker node pool: one `docker_image` and ONE `docker_container` with Terraform
 * `count`, whose name, host name and `SLURMD_NODENAME` come from `count.index`: the plan does not grow a
 * resource per node.
 *
 * What the container gets, and why (nothing else: no published ports, no sshd, no password, not privileged):
 * - `/dev/net/tun` + `NET_ADMIN`: tailscaled in kernel mode (a real interface slurmd and srun can use).
 * - GPUs through a device request (driver nvidia, capabilities `[["gpu"]]`: what `docker run --gpus` sends);
 *   the NVIDIA container runtime adds the device nodes and their cgroup rules.
 * - `cgroupns_mode = private` + `SYS_ADMIN` + `apparmor=unconfined`: slurmd's cgroup plugins create job cgroups
 *   (and, for ConstrainDevices on cgroup v2, attach eBPF device filters) below the container's own cgroup. Docker
 *   mounts that namespace read-only for unprivileged containers; the entrypoint remounts it read-write, which
 *   needs SYS_ADMIN and an AppArmor profile that allows mount (docker-default denies it). The private
 *   namespace keeps the host's cgroup tree out of reach; seccomp stays on.
 * - `init`: Docker's init reaps the zombies daemons and job steps leave behind.
 */
export class DockerNodeContainers extends Construct {
  readonly image: Image;
  readonly container: Container;

  constructor(scope: Construct, id: string, props: DockerNodeContainersProps) {
    super(scope, id);
    this.image = new Image(this, 'Image', { provider: props.provider, name: props.image, keepLocally: true });
    const count = TerraformCount.of(props.count);
    const index = Token.asString(count.index);
    const nodeName = `${props.nodeNamePrefix}-${index}`;
    this.container = new Container(this, 'Nodes', {
      provider: props.provider,
      count,
      name: `${props.containerNamePrefix}-${index}`,
      hostname: nodeName,
      image: this.image.imageId,
      entrypoint: [...props.entrypoint],
      env: [`SLURMD_NODENAME=${nodeName}`],
      init: true,
      restart: 'unless-stopped',
      mustRun: true,
      privileged: false,
      publishAllPorts: false,
      networkMode: 'bridge',
      gpus: gpuRequest(props.gpus, count),
      devices: [{ hostPath: '/dev/net/tun', containerPath: '/dev/net/tun', permissions: 'rwm' }],
      capabilities: { add: ['NET_ADMIN', 'SYS_ADMIN'] },
      cgroupnsMode: 'private',
      securityOpts: ['apparmor=unconfined'],
      // Scripts are full of `${…}`, which Terraform would read as interpolation.
      upload: props.files.map((f) => ({ file: f.path, content: terraformLiteral(f.content), permissions: f.permissions })),
      labels: Object.entries(props.labels ?? {}).map(([label, value]) => ({ label, value })),
    });
    suppressPolicyRule(
      this.container,
      'DOCKER-CONFINEMENT',
      'slurmd runs as the node: NET_ADMIN (with /dev/net/tun only) lets tailscaled create the mesh interface; ' +
        'SYS_ADMIN and apparmor=unconfined let the entrypoint remount its own private cgroup namespace read-write ' +
        'for job cgroups. Not privileged, no host namespaces, seccomp stays on.',
    );
  }
}

/**
 * The provider's `gpus` string, parsed like `docker run --gpus` (docker/cli GpuOpts): without `capabilities`
 * the request asks for `[["gpu"]]`.
 */
function gpuRequest(gpus: number | 'all' | undefined, count: TerraformCount): string | undefined {
  if (gpus === undefined) return undefined;
  if (gpus === 'all') return 'driver=nvidia,count=all';
  if (gpus === 1) return `driver=nvidia,device=${Token.asString(count.index)}`;
  const first = Op.mul(count.index, gpus);
  const devices = Fn.join(',', Fn.range(first, Op.add(first, gpus)));
  // A CSV field: the device list's commas must be quoted.
  return `driver=nvidia,"device=${devices}"`;
}
