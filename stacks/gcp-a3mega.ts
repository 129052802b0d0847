import { GoogleProvider } from '@cdktf/provider-google/lib/provider';
import { TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import { Construct } from 'constructs';
import { EnrootSettings } from '../lib/cloudinit';
import { ComputeNodePool } from '../lib/constructs/compute-node-pool';
import { GceNodes } from '../lib/gcp/gce-nodes';
import { GcpClusterNetwork } from '../lib/constructs/gcp-cluster-network';
import { GpuPartition } from '../lib/constructs/gpu-partition';
import { LoginNode } from '../lib/constructs/login-node';
import { LustreFs } from '../lib/constructs/lustre-fs';
import { ManagedLustre } from '../lib/gcp/managed-lustre';
import { MonitoringStack } from '../lib/constructs/monitoring-stack';
import { Partition } from '../lib/constructs/partition';
import { SlurmController } from '../lib/constructs/slurm-controller';
import { GCP_ZONES_BY_MACHINE_TYPE } from '../lib/gcp/machine-types';
import { enforceSecurityPolicy } from '../lib/policy/security-policy';

/** Stack knobs a test (or another entry point) may set; the shipped `main.ts` uses the defaults. */
export interface GcpA3MegaStackProps {
  /** A3 Mega nodes (8 × H100 each): Terraform creates them, Slurm never stops them. @default 2 */
  readonly a3megaNodeCount?: number;
  /** Nodes of the small CPU `debug` partition. @default 1 */
  readonly debugNodeCount?: number;
  /** Capacity of the Managed Lustre `/home`, GiB (1000 MB/s/TiB tier: multiples of 9000). @default 9000 */
  readonly homeCapacityGiB?: number;
}

const A3_MEGA = 'a3-megagpu-8g';
const SHA256 = '^[0-9a-f]{64}$';

/**
 * Google Cloud A3 Mega cluster, as Cluster Toolkit's A3 Mega Slurm blueprint builds it by hand: a system VPC and
 * 8 GPU VPCs (MTU 8244), a controller (slurmctld + slurmdbd/MariaDB) and a login node with no public address (SSH
 * through IAP with OS Login), an exclusive `a3mega` partition of `a3-megagpu-8g` nodes consuming a reservation,
 * with GPUDirect-TCPXO (RxDM per multi-node job from the Slurm prolog, NCCL profile at
 * /etc/profile.d/nccl-tcpxo.sh), the 16 local NVMe SSDs as a RAID0 at /mnt/localssd, and enroot + pyxis for
 * `srun --container-image`; a small `debug` partition of one CPU VM for smoke tests; and `/home` on Managed Lustre
 * (9 TiB at 1000 MB/s/TiB) on the login node and every compute node.
 *
 * Terraform variables: `project`, `region`, `zone` (checked at plan against the zones that offer a3-megagpu-8g),
 * `reservation`, and the SHA-256 sums of the enroot .debs and the pyxis source archive, which NVIDIA does not
 * publish: give them from a machine you trust (`sha256sum` on the downloads) or the nodes refuse to install.
 * Every secret (munge key, database password) is generated on the controller at first boot into Secret Manager:
 * none is in Terraform state.
 */
export class GcpA3MegaStack extends TerraformStack {
  constructor(scope: Construct, id: string, props: GcpA3MegaStackProps = {}) {
    super(scope, id);
    // Every finding of the security policy pack fails synth; accepted ones carry their reason (see README).
    enforceSecurityPolicy(this);
    const zones = GCP_ZONES_BY_MACHINE_TYPE[A3_MEGA];
    const project = new TerraformVariable(this, 'project', {
      type: 'string',
      default: 'my-a3mega-project',
      description: 'Google Cloud project ID the cluster is created in',
    });
    const region = new TerraformVariable(this, 'region', { type: 'string', default: 'us-central1', description: 'Region of the subnets and Cloud NAT' });
    const zone = new TerraformVariable(this, 'zone', {
      type: 'string',
      default: 'us-central1-a',
      description: `Zone of every VM; it must offer ${A3_MEGA} and lie in the region`,
      validation: [{
        condition: `\${contains(${JSON.stringify(zones)}, var.zone)}`,
        errorMessage: `The zone does not offer ${A3_MEGA} (library table of 2026-11): use one of ${zones.join(', ')}.`,
      }],
    });
    const reservation = new TerraformVariable(this, 'reservation', {
      type: 'string',
      default: 'a3mega-reservation',
      description: `Name of the ${A3_MEGA} reservation the a3mega nodes consume (specific reservation affinity)`,
    });
    const sha = (name: string, what: string) => new TerraformVariable(this, name, {
      type: 'string',
      nullable: false,
      description: `SHA-256 of ${what} (NVIDIA publishes none: run sha256sum on a download you trust)`,
      validation: [{ condition: `\${can(regex("${SHA256}", var.${name}))}`, errorMessage: `${name} must be 64 lower-case hex digits (sha256sum output).` }],
    }).stringValue;
    const enroot: EnrootSettings = {
      checksums: {
        enrootAmd64: sha('enroot_deb_sha256', 'enroot_3.5.0-1_amd64.deb'),
        enrootCapsAmd64: sha('enroot_caps_deb_sha256', 'enroot+caps_3.5.0-1_amd64.deb'),
        pyxisSource: sha('pyxis_source_sha256', "pyxis's v0.20.0.tar.gz source archive"),
      },
    };

    new GoogleProvider(this, 'google', {
      project: project.stringValue,
      region: region.stringValue,
      zone: zone.stringValue,
      defaultLabels: { 'managed-by': 'cdktf-slurm', stack: id },
    });

    const network = new GcpClusterNetwork(this, 'Network', {
      project: project.stringValue,
      region: region.stringValue,
      zone: zone.stringValue,
      namePrefix: 'a3mega',
      gpuNetworkCount: 8,
    });
    const controller = new SlurmController(this, 'Controller', {
      network,
      clusterName: 'a3mega',
      accounting: 'local',
    });
    const login = new LoginNode(this, 'Login', { controller, enroot });
    const a3mega = new ComputeNodePool(this, 'A3Mega', {
      controller,
      name: 'a3mega',
      nodes: GceNodes.of({ machineType: A3_MEGA, reservationName: reservation.stringValue, bootDiskSizeGiB: 200 }),
      count: props.a3megaNodeCount ?? 2,
      enroot,
    });
    const debug = new ComputeNodePool(this, 'Debug', {
      controller,
      name: 'debug',
      nodes: GceNodes.of({ machineType: 'n2-standard-8' }),
      count: props.debugNodeCount ?? 1,
    });
    // Home directories on Managed Lustre (OS Login creates users' homes there at first login), on the login node and
    // every compute node.
    const home = new LustreFs(this, 'Home', {
      controller,
      name: 'home',
      mountPoint: '/home',
      fileSystem: ManagedLustre.of({ capacityGiB: props.homeCapacityGiB ?? 9000, perUnitStorageThroughput: 1000 }),
    });
    home.mountOn(login, a3mega, debug);
    new GpuPartition(this, 'A3MegaPartition', { controller, name: 'a3mega', pools: [a3mega], default: true, exclusive: true, maxTime: '2-00:00:00' });
    new Partition(this, 'DebugPartition', { controller, name: 'debug', pools: [debug], maxTime: '30:00', priorityTier: 10 });
    // Prometheus + Grafana on their own VM: DCGM GPU health (XID, temperature) of the A3 Mega nodes, Slurm state.
    const monitor = new MonitoringStack(this, 'Monitoring', { controller });

    new TerraformOutput(this, 'controller_internal_ip', { value: controller.privateIp });
    new TerraformOutput(this, 'login_ssh', {
      value: `gcloud compute ssh ${login.hostname} --tunnel-through-iap --zone \${var.zone} --project \${var.project}`,
      description: 'SSH to the login node through IAP (OS Login decides who may)',
    });
    new TerraformOutput(this, 'grafana_tunnel', {
      value: `gcloud compute ssh ${monitor.hostname} --tunnel-through-iap --zone \${var.zone} --project \${var.project} -- -L 3000:localhost:3000`,
      description: 'Grafana at http://localhost:3000 through an IAP tunnel to the monitoring VM',
    });
  }
}
