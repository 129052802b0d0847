/**
 * A pool's nodes as containers on a Docker host (on-prem GPU boxes): ONE image and ONE counted container. They join
 * the controller's mesh and register themselves with Slurm (dynamic nodes, `slurmd -Z`) as `<pool>-<i>`. They have no
 * cloud identity, so their secrets arrive as uploaded files (see `meshNodeFiles`). Resources are made in the pool's
 * scope (`<Pool>/Containers`).
 */
import type { Construct } from 'constructs';
import { ConstructPropError } from '../cdktf-adapter';
import { BOOTSTRAP_DIR } from '../cloudinit';
import { dynamicPoolSpec, GivenHardware, MeshKind, meshNodeFiles, meshOf, MeshPoolNodes } from '../constructs/mesh-nodes';
import { MESH_CIDR } from '../net/cidr';
import type { INodePlacement, INodePoolHandle, IPlacedNodes, NodePoolRequest, PlannedNodes } from '../node-placement';
import { DEFAULT_DOCKER_HOST, dockerHostProblem, dockerProviderFor } from './docker-hosts';
import { DockerNodeContainers } from './docker-node-containers';
import { DEFAULT_NODE_IMAGE, imagePinProblem } from './image';

const DOCKER_ENTRYPOINT = `${BOOTSTRAP_DIR}/container-entrypoint.sh`;

/** The Docker settings of a pool: the hardware each container may use, and its image and GPUs. */
export interface DockerNodesSettings extends GivenHardware {
  /**
   * Pinned node image (explicit tag or digest, never `latest`); Debian/Ubuntu with Slurm ≥ 22.05 in apt.
   * @default `'ubuntu:noble-20250619'` (Ubuntu 24.04, Slurm 23.11)
   */
  readonly image?: string;
  /**
   * GPUs handed to each container: a number gives node `i` the host's GPUs `i*n`…`i*n+n-1` (the host needs
   * count × n of them); `'all'` gives every container all of the host's GPUs (one node per host).
   * @default the pool's `gpus.count`
   */
  readonly gpus?: 'all' | number;
}

/** A pool's nodes as Docker containers: `nodes: DockerNodes.on('ssh://me@gpu-box', { cpus: 8, realMemoryMiB: 30000 })`. */
export class DockerNodes implements INodePlacement {
  /**
   * @param host the Docker daemon the containers run on, as the Docker provider takes it: `ssh://user@host` reaches
   * a remote box over SSH with your own key (nothing is installed there but the containers);
   * `unix:///var/run/docker.sock` when Terraform runs on the GPU host
   */
  static on(host: string, settings: DockerNodesSettings): DockerNodes {
    return new DockerNodes(host, settings);
  }

  /** Containers on the Docker daemon of the machine Terraform runs on (`unix:///var/run/docker.sock`). */
  static local(settings: DockerNodesSettings): DockerNodes {
    return new DockerNodes(DEFAULT_DOCKER_HOST, settings);
  }

  readonly kind = 'docker';

  private constructor(readonly host: string, readonly settings: DockerNodesSettings) {}

  plan(pool: Construct, request: NodePoolRequest): PlannedNodes {
    const s = this.settings;
    const kind: MeshKind = { kind: 'Docker', unit: 'container', shown: { host: this.host, image: s?.image } };
    const mesh = meshOf(pool, request, kind);
    const hostProblem = dockerHostProblem(this.host);
    if (hostProblem) {
      throw new ConstructPropError(pool, 'nodes.host', this.host, hostProblem,
        "Give the GPU box's Docker daemon, e.g. DockerNodes.on('ssh://me@gpu-box', …), or DockerNodes.local(…) for this machine's");
    }
    const image = s.image ?? DEFAULT_NODE_IMAGE;
    const imageProblem = imagePinProblem(image);
    if (imageProblem) throw new ConstructPropError(pool, 'nodes.image', image, imageProblem, `Pin a dated tag or a digest, e.g. '${DEFAULT_NODE_IMAGE}'`);
    const { count, maxCount, minCount } = request.counts;
    if (maxCount !== undefined || minCount !== undefined) {
      throw new ConstructPropError(pool, maxCount !== undefined ? 'maxCount' : 'minCount', maxCount ?? minCount,
        'Docker nodes are always on: Slurm cannot start or stop containers', 'Use count (the number of containers)');
    }
    if (count === undefined) {
      throw new ConstructPropError(pool, 'count', undefined, 'a Docker pool needs its number of containers', 'Set count, e.g. 2');
    }
    const spec = dynamicPoolSpec(pool, request, count, s, kind, 'docker');
    if (s.gpus !== undefined) {
      if (!spec.gpus) {
        throw new ConstructPropError(pool, 'nodes.gpus', s.gpus, 'the pool has no gpus, so Slurm would not schedule them', 'Add gpus: { type, count } or drop nodes.gpus');
      }
      if (s.gpus !== 'all' && (!Number.isInteger(s.gpus) || s.gpus !== spec.gpus.count)) {
        throw new ConstructPropError(pool, 'nodes.gpus', s.gpus, `must be 'all' or equal gpus.count (${spec.gpus.count})`,
          'Slurm is told gpus.count GPUs per node; hand each container exactly those');
      }
    }
    return {
      spec,
      runsWithoutSystemd: true,
      fileSystemClientNetwork: { kind: 'mesh', cidr: MESH_CIDR },
      place: (handle) => this.place(handle, mesh, image),
    };
  }

  private place(pool: INodePoolHandle, mesh: ReturnType<typeof meshOf>, image: string): IPlacedNodes {
    const ctl = pool.controller;
    const gpuCount = pool.spec.gpus?.count;
    const files = meshNodeFiles(pool, mesh, ['container-entrypoint.sh']);
    new DockerNodeContainers(pool, 'Containers', {
      provider: dockerProviderFor(pool, this.host),
      image,
      count: pool.spec.count as number,
      containerNamePrefix: `${ctl.clusterName.replace(/_/g, '-')}-${pool.poolName}`,
      nodeNamePrefix: pool.poolName,
      gpus: gpuCount === undefined ? undefined : (this.settings.gpus ?? gpuCount),
      entrypoint: ['bash', DOCKER_ENTRYPOINT],
      files: files.map((f) => ({ path: f.path, content: f.content, permissions: f.mode })),
      labels: { 'slurm.cluster': ctl.clusterName, 'slurm.pool': pool.poolName, 'managed-by': 'cdktf-slurm' },
    });
    return new MeshPoolNodes(`Docker containers (${pool.spec.hardware.cpus} CPUs)`, pool.poolName, pool.spec.count ?? 0);
  }
}
