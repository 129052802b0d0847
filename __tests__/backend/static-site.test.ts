/**
 * A backend that exists only here: "a site", racked hosts you already have at fixed addresses on one routed range,
 * with secrets the site's own provisioning puts in files. It implements the seam (lib/backend.ts,
 * lib/node-placement.ts) in test code and imports only the package root, cdktf and constructs, so it is the proof
 * that a new cloud needs no edit outside its own folder (docs/architecture.md §5): SlurmController, ComputeNodePool,
 * Partition, LoginNode, MonitoringStack and NfsShare run on it unchanged. Each host's cloud-config is published as a
 * Terraform output for the site's own provisioning (PXE, Ansible) to hand over.
 *
 * It also shows what a backend may refuse and how: a mesh (capability), on-demand nodes (no power saving), a share
 * disk (disks are racked, not attached), another cloud's placement on its controller (the placement's own check).
 */
import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from 'cdktf';
import { Construct, IConstruct } from 'constructs';
import * as fs from 'node:fs';
import * as ts from 'typescript';
import { parse } from 'yaml';
import {
  buildNodeCloudConfig, buildServiceCloudConfig, ComputeNodePool, ConstructPropError, ControllerHostRequest, Ec2Nodes, ExporterKind,
  ExistingCephFs, FileSystemClientNetwork, FileSystemSecretExample, FixedHostRole, IClusterBackend, IClusterNetwork, IControllerHost,
  IFileSystemClient, IFileSystemSecret, IFixedHost, IMonitorHost, INodePlacement, INodePoolHandle, IPlacedNodes, LoginHostRequest, LoginNode,
  CephFs, lazyString, MonitorHostRequest, MonitoringStack, NfsShare, NodePoolRequest, oncePerSynth, Partition, PlannedNodes,
  renderNodeUserData, ScrapeTargetGroup, ShareDisk, ShareDiskRequest, SlurmController,
} from '../../lib';

type Json = Record<string, any>;

/** Where the site's provisioning leaves each secret, root-only. */
const SECRETS = '/etc/site-secrets';
const SITE_SECRET = /^file:\/etc\/site-secrets\/[a-z0-9][a-z0-9._-]*$/;

/** The site's one routed range. */
class SiteNetwork extends Construct implements IClusterNetwork {
  readonly backend: IClusterBackend;
  constructor(scope: Construct, id: string, readonly cidr: string) {
    super(scope, id);
    this.backend = siteBackend(this);
  }
}

function siteBackend(network: SiteNetwork): IClusterBackend {
  const backend: IClusterBackend = {
    name: 'site',
    capabilities: { mesh: false, powerSaving: false },
    defaultHostType: (role: FixedHostRole) => `site ${role} host`,
    hostSettingsExample: "a site host (no settings: the host is racked already)",
    secretReference: () => ({ pattern: SITE_SECRET, fix: `Put the secret in a root-only file under ${SECRETS}/ and give file:${SECRETS}/<name>` }),
    fixedHostSubnet: () => ({ cidr: network.cidr, firstUsableIndex: 10, reservedBy: "the site's routers and switches" }),
    controllerHostname: (cluster) => `${cluster}-ctl`,
    loginHostname: (cluster) => `${cluster}-login`,
    placeController: (scope, request) => new SiteControllerHost(backend, network, scope, request),
    placeLoginNode: (scope, request) => new SiteFixedHost(scope, network, request),
    placeMonitor: (scope, request) => new SiteMonitorHost(scope, network, request),
  };
  return backend;
}

/** A host's cloud-config, for the site's provisioning to hand over. */
function publish(scope: Construct, userData: () => { readonly text: string }): void {
  new TerraformOutput(scope, 'CloudConfig', { value: lazyString(() => userData().text), description: `cloud-config of ${scope.node.path}` });
}

const siteClient = (network: SiteNetwork, name: string): FileSystemClientNetwork => ({ kind: 'address-range', cidr: network.cidr, name });

/** The controller: a racked host at its fixed address, secrets in files the site put there. */
class SiteControllerHost implements IControllerHost {
  static of(controller: { readonly host: IControllerHost }): SiteControllerHost | undefined {
    return controller.host instanceof SiteControllerHost ? controller.host : undefined;
  }

  readonly mungeKeySource = `file:${SECRETS}/munge.key`;
  readonly jwtKeySource?: string;
  readonly dbPasswordSource?: string;
  readonly stateDevice = '/dev/disk/by-label/slurm-state';
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach;
  // Plain text, like Compute Engine's: the closest budget the library has (UserDataTarget is a closed union).
  readonly userDataTarget = 'gcp' as const;
  readonly scriptDelivery = { kind: 'inline' } as const;
  readonly shareClientCidrs: readonly string[];

  constructor(readonly backend: IClusterBackend, private readonly network: SiteNetwork, scope: Construct, request: ControllerHostRequest) {
    this.fileSystemClientNetwork = siteClient(network, 'SiteRange');
    this.scrapeReach = { kind: 'address-range', cidr: network.cidr } as const;
    this.shareClientCidrs = [network.cidr];
    if (request.restApi) this.jwtKeySource = `file:${SECRETS}/slurm-jwt.key`;
    if (request.accounting === 'local') this.dbPasswordSource = `file:${SECRETS}/slurmdbd-db-password`;
    else if (request.accounting) {
      const ref = request.accounting.passwordSecret;
      if (!SITE_SECRET.test(ref)) {
        throw new ConstructPropError(scope, 'accounting.passwordSecret', `<${ref.length} characters>`, `is not a file under ${SECRETS}/`, `Give file:${SECRETS}/<name>`);
      }
      this.dbPasswordSource = ref;
    }
    publish(scope, request.userData);
  }

  controllerMungeKeySource(): string {
    return this.mungeKeySource;
  }

  attachShareDisk(scope: Construct, disk: ShareDiskRequest): ShareDisk {
    throw new ConstructPropError(scope, 'diskGiB', disk.sizeGiB, "a site controller's disks are racked, not attached by Terraform",
      'Use diskGiB: 0 and mount the disk at the share path on the controller first');
  }

  admitShareClient(client: IFileSystemClient, share: IConstruct): void {
    const net = client.fileSystemClientNetwork;
    if (net.kind !== 'address-range' || net.cidr !== this.network.cidr) {
      throw new ConstructPropError(client, 'mounts', share.node.path, `the share is exported to ${this.network.cidr} only`, 'Mount it from hosts of the site');
    }
    // The site's own firewall lets its range reach NFS: nothing to make.
  }

  fileSystemSecret(scope: Construct, field: string, ref: string, example: FileSystemSecretExample): IFileSystemSecret {
    if (typeof ref !== 'string' || !SITE_SECRET.test(ref)) {
      throw new ConstructPropError(scope, field, typeof ref === 'string' ? `<${ref.length} characters>` : ref, `is not a file under ${SECRETS}/`,
        `Put it on every host as file:${SECRETS}/${example.name} (${example.valueCommand} > ${SECRETS}/${example.name}; chmod 0600)`);
    }
    return {
      source: ref,
      grant: (client: IFileSystemClient, fileSystem: IConstruct) => {
        if (client.fileSystemClientNetwork.kind !== 'address-range') {
          throw new ConstructPropError(client, 'mounts', fileSystem.node.path, 'the key is a file on the site\'s hosts', 'Mount it from hosts of the site');
        }
      },
    };
  }
}

/** A login node: a racked host. */
class SiteFixedHost implements IFixedHost {
  readonly fileSystemClientNetwork: FileSystemClientNetwork;
  readonly scrapeReach;
  readonly userDataTarget = 'gcp' as const;
  readonly scriptDelivery = { kind: 'inline' } as const;
  readonly userDataTakesReferences = false;
  // Racked hosts: no cloud metadata endpoint to guard.
  readonly metadataEndpoint = false;
  readonly access: string;
  constructor(scope: Construct, network: SiteNetwork, request: LoginHostRequest) {
    this.fileSystemClientNetwork = siteClient(network, 'SiteRange');
    this.scrapeReach = { kind: 'address-range', cidr: network.cidr } as const;
    this.access = `ssh ${request.privateIp} from the site`;
    publish(scope, request.userData);
  }
}

/** Prometheus and Grafana on a racked host of their own. */
class SiteMonitorHost implements IMonitorHost {
  readonly grafanaAdminPasswordSecret = `file:${SECRETS}/grafana-admin-password`;
  readonly hostname: string;
  readonly tunnel = 'an SSH tunnel from the site';
  constructor(scope: Construct, _network: SiteNetwork, request: MonitorHostRequest) {
    if (request.onController) {
      throw new ConstructPropError(scope, 'onController', true, 'the site runs its monitor on a host of its own', 'Drop onController');
    }
    this.hostname = `${request.clusterName}-monitor`;
    const env = { GRAFANA_ADMIN_PASSWORD_SOURCE: this.grafanaAdminPasswordSecret, PROMETHEUS_RETENTION: request.retention };
    const render = oncePerSynth(scope, () => renderNodeUserData(buildServiceCloudConfig({
      entry: 'monitoring/monitoring-server.sh', hostname: this.hostname, env, files: request.files({}), scriptDelivery: { kind: 'inline' },
    }), { target: 'gcp', role: 'monitor', where: scope.node.path }));
    publish(scope, render);
  }
}

/** A pool's nodes on racked hosts: `nodes: SiteHosts.at(['10.40.0.31', '10.40.0.32'], { cpus: 64, realMemoryMiB: 500000 })`. */
class SiteHosts implements INodePlacement {
  static at(addresses: readonly string[], hardware: { cpus: number; realMemoryMiB: number }): SiteHosts {
    return new SiteHosts(addresses, hardware);
  }
  readonly kind = 'site';
  private constructor(readonly addresses: readonly string[], readonly hardware: { cpus: number; realMemoryMiB: number }) {}

  plan(pool: Construct, request: NodePoolRequest): PlannedNodes {
    const site = SiteControllerHost.of(request.controller);
    if (!site) {
      throw new ConstructPropError(pool, 'nodes', `SiteHosts.at(${JSON.stringify(this.addresses)})`, `site hosts need a controller on the site, and ${request.controller.node.path} is on ${request.controller.backend.name.toUpperCase()}`,
        "Place the pool where the controller is, e.g. Ec2Nodes.of({ instanceType: 'g5.xlarge' })");
    }
    const { count, maxCount } = request.counts;
    if (maxCount !== undefined) {
      throw new ConstructPropError(pool, 'maxCount', maxCount, 'racked hosts are always on: Slurm cannot start or stop them', 'Drop maxCount; the pool has one node per address');
    }
    if (count !== undefined && count !== this.addresses.length) {
      throw new ConstructPropError(pool, 'count', count, `differs from the ${this.addresses.length} addresses`, 'Drop count');
    }
    const gpus = request.gpus?.count ? { type: request.gpus.type ?? 'gpu', count: request.gpus.count } : undefined;
    return {
      spec: { name: request.poolName, count: this.addresses.length, hardware: this.hardware, gpus, features: request.features ?? ['site'], weight: request.weight },
      fileSystemClientNetwork: siteClient((request.controller.network as SiteNetwork), 'SiteRange'),
      place: (handle) => this.place(handle, site),
    };
  }

  private place(pool: INodePoolHandle, site: SiteControllerHost): IPlacedNodes {
    const ctl = pool.controller;
    this.addresses.forEach((address, i) => {
      const node = new Construct(pool, `Host-${address.replace(/\./g, '-')}`);
      const render = oncePerSynth(node, () => {
        const host = ctl.hostSetup(pool.exporterKinds(), pool.mounts);
        return renderNodeUserData(buildNodeCloudConfig({
          roles: ['compute'],
          hostname: `${pool.poolName}-${i}`,
          env: {
            CLUSTER_NAME: ctl.clusterName, SLURM_CONTROLLER: ctl.privateIp, MUNGE_KEY_SOURCE: site.mungeKeySource, SLURMD_NODENAME: `${pool.poolName}-${i}`,
            GPU_COUNT: String(pool.spec.gpus?.count ?? 0), GPU_TYPE: pool.spec.gpus?.type ?? '', ...host.env,
          },
          usersTable: host.usersTable,
          mounts: pool.mounts,
          extraScripts: [...host.scripts],
          scriptDelivery: { kind: 'inline' },
        }), { target: 'gcp', role: `compute node ${pool.poolName}-${i}`, where: node.node.path });
      });
      publish(node, render);
    });
    const addresses = this.addresses;
    return {
      hostType: `site hosts (${pool.spec.hardware.cpus} CPUs)`,
      spot: false,
      scrapeTargets: (exporters: readonly ExporterKind[], labels: Readonly<Record<string, string>>): ScrapeTargetGroup[] => exporters.map((exporter) => ({
        exporter, discovery: { kind: 'static', hosts: [...addresses] }, reach: site.scrapeReach, labels,
      })),
    };
  }
}

function siteCluster() {
  const stack = new TerraformStack(Testing.app(), 'site');
  const network = new SiteNetwork(stack, 'Site', '10.40.0.0/24');
  const controller = new SlurmController(stack, 'Ctl', { network, clusterName: 'lab', restApi: true });
  return { stack, network, controller };
}

describe('a cluster on a backend written in test code', () => {
  const { stack, controller } = siteCluster();
  const gpu = new ComputeNodePool(stack, 'Gpu', {
    controller, name: 'gpu', nodes: SiteHosts.at(['10.40.0.31', '10.40.0.32'], { cpus: 64, realMemoryMiB: 500_000 }), gpus: { type: 'a100', count: 4 },
  });
  new Partition(stack, 'Part', { controller, name: 'gpu', pools: [gpu], default: true });
  const login = new LoginNode(stack, 'Login', { controller });
  const home = new NfsShare(stack, 'Home', { controller, diskGiB: 0 });
  home.mountOn(gpu, login);
  const ceph = new CephFs(stack, 'Data', {
    controller, fileSystem: ExistingCephFs.of({ monitors: ['10.40.0.5'], fsid: '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e', clientName: 'slurm', keySecret: `file:${SECRETS}/ceph-slurm.key` }),
  });
  ceph.mountOn(gpu, login);
  new MonitoringStack(stack, 'Mon', { controller });
  const text = Testing.synth(stack);
  const tf: Json = JSON.parse(text);
  const outputs = Object.values(tf.output as Json) as Json[];
  const configOf = (where: string): Json => {
    const out = outputs.filter((o) => o.description === `cloud-config of ${where}`);
    expect(out).toHaveLength(1);
    return parse(out[0].value as string);
  };
  const fileOf = (doc: Json, p: string): string => {
    const f = (doc.write_files as { path: string; content: string }[]).find((w) => w.path === p);
    expect(f).toBeDefined();
    return f!.content;
  };
  const controllerDoc = configOf('site/Ctl');

  test('slurm.conf names the site hosts as static nodes with their hardware, and no power saving', () => {
    const conf = fileOf(controllerDoc, '/etc/cdktf-slurm/slurm/slurm.conf');
    expect(conf).toMatch(/^NodeName=gpu-\[0-1\] .*CPUs=64 .*RealMemory=500000/m);
    expect(conf).toMatch(/^NodeName=gpu-\[0-1\] .*Gres=gpu:a100:4/m);
    expect(conf).toMatch(/^PartitionName=gpu Nodes=gpu-\[0-1\] .*Default=YES/m);
    expect(conf).not.toMatch(/State=CLOUD|ResumeProgram|SuspendProgram/);
    expect(conf).toMatch(/^SlurmctldHost=lab-ctl\(10\.40\.0\.10\)/m);
  });

  test('the controller exports the share to the site range, and every mounting host carries its mount lines', () => {
    // path, client ranges, mode, device, label: the site range only, on the root disk (diskGiB: 0).
    expect(fileOf(controllerDoc, '/etc/cdktf-slurm/exports.tab').trim().split('\t')).toEqual(['/home', '10.40.0.0/24', '0755', '-', '-']);
    for (const where of ['site/Gpu/Host-10-40-0-31', 'site/Gpu/Host-10-40-0-32', 'site/Login']) {
      const mounts = fileOf(configOf(where), '/etc/cdktf-slurm/mounts.tab');
      expect(mounts).toContain('nfs\t10.40.0.10:/home\t/home\t');
      expect(mounts).toContain(`ceph\tslurm@6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e.cephfs=/\t/mnt/shared\tmon_addr=10.40.0.5,noatime\tfile:${SECRETS}/ceph-slurm.key`);
    }
  });

  test('each node gets its own name and the site\'s secret files, by reference only', () => {
    const env = fileOf(configOf('site/Gpu/Host-10-40-0-32'), '/etc/cdktf-slurm/node.env');
    expect(env).toContain("SLURMD_NODENAME='gpu-1'");
    expect(env).toContain(`MUNGE_KEY_SOURCE='file:${SECRETS}/munge.key'`);
    expect(fileOf(controllerDoc, '/etc/cdktf-slurm/node.env')).toContain(`file:${SECRETS}/slurm-jwt.key`);
    // No secret value anywhere: the synthesized JSON names files, never their contents, and makes no resource.
    expect(tf.resource).toBeUndefined();
    expect(text).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY|AQD[A-Za-z0-9+/]{20}/);
  });

  test('the monitor scrapes every host by its fixed address', () => {
    const prometheus = fileOf(configOf('site/Mon'), '/etc/cdktf-slurm/monitoring/prometheus.yml');
    for (const target of ['10.40.0.10:9100', '10.40.0.31:9100', '10.40.0.32:9100', '10.40.0.31:9400']) expect(prometheus).toContain(target);
    expect(prometheus).toContain(login.privateIp);
  });
});

describe('what the site refuses, each naming the construct, the field and the fix', () => {
  test('a mesh, by the backend\'s capabilities', () => {
    const stack = new TerraformStack(Testing.app(), 'site');
    const network = new SiteNetwork(stack, 'Site', '10.40.0.0/24');
    const authKey = new TerraformVariable(stack, 'ts', { type: 'string', sensitive: true }).stringValue;
    expect(() => new SlurmController(stack, 'Ctl', { network, clusterName: 'lab', mesh: { tailscale: { authKey } } })).toThrow(/site\/Ctl: mesh = "<mesh>": the SITE backend cannot put its controller on a mesh\. Drop mesh/);
  });

  test('on-demand nodes, by its placement', () => {
    const { stack, controller } = siteCluster();
    expect(() => new ComputeNodePool(stack, 'Gpu', { controller, name: 'gpu', nodes: SiteHosts.at(['10.40.0.31'], { cpus: 8, realMemoryMiB: 30_000 }), maxCount: 4 }))
      .toThrow(/site\/Gpu: maxCount = 4: racked hosts are always on.*Drop maxCount/);
  });

  test('a share disk, by its controller host', () => {
    const { stack, controller } = siteCluster();
    expect(() => new NfsShare(stack, 'Home', { controller, diskGiB: 100 })).toThrow(/site\/Home: diskGiB = 100: a site controller's disks are racked.*Use diskGiB: 0/);
  });

  test('a key that is no site file, without echoing it', () => {
    const { stack, controller } = siteCluster();
    const key = 'AQD9k2VmAAAAABAAq1w2e3r4t5y6u7i8o9p0==';
    let message = '';
    try {
      new CephFs(stack, 'Data', { controller, fileSystem: ExistingCephFs.of({ monitors: ['10.40.0.5'], fsid: '6d1f3b9e-2f0c-4b0a-9c5e-1f2a3b4c5d6e', clientName: 'slurm', keySecret: key }) });
    } catch (e) { message = (e as Error).message; }
    expect(message).toMatch(/site\/Data: fileSystem\.keySecret = "<38 characters>": is not a file under \/etc\/site-secrets\/.*ceph auth print-key client\.slurm/);
    expect(message).not.toContain(key);
  });

  test('EC2 nodes on a site controller, by the AWS placement', () => {
    const { stack, controller } = siteCluster();
    expect(() => new ComputeNodePool(stack, 'Cloud', { controller, name: 'cloud', nodes: Ec2Nodes.of({ instanceType: 'g5.xlarge' }), maxCount: 2 }))
      .toThrow(/site\/Cloud: nodes = .*EC2 nodes need a controller on an AWS network, and controller site\/Ctl is on SITE/);
  });
});

test('the backend above imports only the package root, cdktf and constructs (and the test tools)', () => {
  const source = fs.readFileSync(__filename, 'utf8');
  const specifiers = ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
  const allowed = new Set(['../../lib', 'cdktf', 'constructs', 'node:fs', 'typescript', 'yaml']);
  expect(specifiers.filter((s) => !allowed.has(s))).toEqual([]);
  expect(specifiers).toContain('../../lib');
});
