import { Construct } from 'constructs';
import type { IHostSettings, IMonitorHost } from '../backend';
import { resolveHostSettings } from './host-settings';
import { NodeFile } from '../cloudinit';
import { CidrError, isPubliclyOpen, parseIpv4Cidr } from '../net/cidr';
import { GRAFANA_PORT, grafanaDashboards, renderGrafanaDashboardProvider, renderGrafanaDatasources } from '../monitoring/grafana';
import { PROMETHEUS_PORT, renderAlertRules, renderPrometheusConfig } from '../monitoring/prometheus';
import { describeForPlan } from './plan-summary';
import { ConstructPropError } from '../cdktf-adapter';
import type { ISlurmController } from './cluster-interfaces';

export interface MonitoringStackProps {
  /** The cluster to watch: every host set registered with this controller is scraped. */
  readonly controller: ISlurmController;
  /**
   * Run Prometheus and Grafana on the controller instead of a VM of their own (small clusters; also the way to
   * watch Docker/SSH pools, which only the controller reaches over the mesh).
   * @default false
   */
  readonly onController?: boolean;
  /**
   * The monitoring VM, in its cloud's words: `Ec2Instance.of({ instanceType, amiId, keyName })` or
   * `GceInstance.of({ machineType, image })`; its boot disk is `diskGiB`.
   * @default the backend's: `m6i.large` on AWS, `e2-standard-4` on GCP; Ubuntu 24.04 LTS
   */
  readonly instance?: IHostSettings;
  /** Root disk of the monitoring VM, GiB (Prometheus' TSDB lives there). @default 100 */
  readonly diskGiB?: number;
  /** How long Prometheus keeps samples. @default `'30d'` */
  readonly retention?: string;
  /** @default `'30s'` */
  readonly scrapeInterval?: string;
  /**
   * Private ranges (a VPN, an office over Direct Connect) that may open Grafana (TCP 3000) directly, AWS only.
   * Otherwise Grafana is reached through the bastion (SSH tunnel or SSM port forwarding) or, on GCP, an IAP tunnel.
   * @default none
   */
  readonly grafanaAllowedCidrs?: readonly string[];
  /** Index of the monitoring VM's fixed address in the controller's subnet. @default 30 */
  readonly hostIndex?: number;
}

const STAGING = '/etc/cdktf-slurm/monitoring';

/**
 * Prometheus and Grafana for one cluster, on a VM of its own (AWS or GCP) or on the controller. Scrape jobs come
 * from the cluster's host sets (`SlurmController.scrapeTargets()`) when the stack synthesizes: EC2/GCE service
 * discovery for pools, whatever their size, fixed addresses for the controller and login nodes; nothing is listed
 * by hand. Every host then runs its exporters (node_exporter; DCGM exporter on GPU nodes; the Slurm exporter on
 * the controller), reachable from the monitor only. Grafana's admin password is generated on the monitor into the
 * secret store at first boot (never `admin`, never in Terraform or user-data); Grafana has no public address.
 */
export class MonitoringStack extends Construct {
  /** Prometheus and Grafana on the cluster's cloud (`AwsMonitorHost.instance`, `GcpMonitorHost.vm`). */
  readonly host: IMonitorHost;
  /** The monitoring VM's name. @default none (on the controller) */
  readonly hostname?: string;
  /** Where Prometheus and Grafana listen: the VM's (or the controller's) private address. */
  readonly privateIp: string;
  readonly prometheusUrl: string;
  readonly grafanaUrl: string;
  /** Where Grafana's admin password is (`aws-secretsmanager:…` / `gcp-secretmanager:…`), to read with your own identity. */
  readonly grafanaAdminPasswordSecret: string;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id);
    const ctl = props.controller;
    const retention = props.retention ?? '30d';
    if (!/^[1-9][0-9]*(h|d|w|y)$/.test(retention)) throw new ConstructPropError(this, 'retention', retention, 'is not a Prometheus retention', "Use e.g. '30d' or '12w'");
    const scrapeInterval = props.scrapeInterval ?? '30s';
    if (!/^[1-9][0-9]*(s|m)$/.test(scrapeInterval)) throw new ConstructPropError(this, 'scrapeInterval', scrapeInterval, 'is not a duration in s or m', "Use e.g. '30s' or '1m'");
    const diskGiB = props.diskGiB ?? 100;
    const instance = resolveHostSettings(this, props.instance, ctl.backend, 'monitor');
    if (props.instance?.rootVolumeSizeGiB !== undefined) {
      throw new ConstructPropError(this, `instance.${props.instance.diskField}`, props.instance.rootVolumeSizeGiB, "is the monitor's diskGiB",
        'Give diskGiB instead (Prometheus keeps its samples there)');
    }
    if (!Number.isInteger(diskGiB) || diskGiB < 20 || diskGiB > 16384) throw new ConstructPropError(this, 'diskGiB', diskGiB, 'must be a whole number of GiB from 20 to 16384', 'Use e.g. 100');
    const cidrs = props.grafanaAllowedCidrs ?? [];
    for (const [i, c] of cidrs.entries()) {
      try {
        parseIpv4Cidr(c);
      } catch (e) {
        if (!(e instanceof CidrError)) throw e;
        throw new ConstructPropError(this, `grafanaAllowedCidrs[${i}]`, c, e.problem, e.fix);
      }
      if (isPubliclyOpen(c) || !/^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.)/.test(c)) {
        throw new ConstructPropError(this, `grafanaAllowedCidrs[${i}]`, c, 'is not a private range; Grafana is never opened to the internet',
          'Give your VPN or office range (10/8, 172.16/12, 192.168/16), or reach Grafana through the bastion');
      }
    }
    if (props.onController) {
      for (const [field, v] of Object.entries({ instance: props.instance?.shown, hostIndex: props.hostIndex, diskGiB: props.diskGiB })) {
        if (v !== undefined) throw new ConstructPropError(this, field, v, 'describes the monitoring VM, and onController puts the monitor on the controller', `Drop ${field}, or onController`);
      }
    }
    ctl.useMonitoring(this.node.path);

    const cluster = ctl.clusterName;
    const files = (cloud: { readonly awsRegion?: string }): NodeFile[] => {
      const groups = ctl.scrapeTargets();
      if (!props.onController) {
        const mesh = groups.find((g) => g.reach.kind === 'mesh');
        if (mesh) {
          throw new ConstructPropError(this, 'onController', false, `pool ${mesh.labels.pool ?? '?'} is on the mesh, which only the controller reaches`,
            'Use onController: true to watch mesh pools');
        }
      }
      return [
        // The region is filled in on the monitor (from IMDS): no apply-time value in user-data.
        {
          path: `${STAGING}/prometheus.yml`,
          content: renderPrometheusConfig({ groups, clusterName: cluster, scrapeInterval, awsRegion: cloud.awsRegion }),
        },
        { path: `${STAGING}/rules.yml`, content: renderAlertRules() },
        // Grafana and Prometheus share the host.
        { path: `${STAGING}/grafana-datasources.yaml`, content: renderGrafanaDatasources({ prometheusUrl: `http://localhost:${PROMETHEUS_PORT}`, scrapeInterval }) },
        { path: `${STAGING}/grafana-dashboards.yaml`, content: renderGrafanaDashboardProvider() },
        ...grafanaDashboards({ clusterName: cluster }).map((d) => ({ path: `${STAGING}/dashboards/${d.fileName}`, content: d.json })),
      ];
    };

    this.privateIp = props.onController ? ctl.privateIp : ctl.fixedHostAddress(this, 'hostIndex', props.hostIndex ?? 30, 30);
    this.host = ctl.backend.placeMonitor(this, {
      controller: ctl,
      clusterName: cluster,
      onController: props.onController === true,
      privateIp: props.onController ? undefined : this.privateIp,
      hostType: instance.hostType,
      image: instance.image,
      keyName: instance.keyName,
      diskGiB,
      grafanaAllowedCidrs: cidrs,
      retention,
      files,
      hostOnController: (monitor) => ctl.hostMonitor(monitor),
    });
    this.grafanaAdminPasswordSecret = this.host.grafanaAdminPasswordSecret;
    this.hostname = this.host.hostname;
    this.prometheusUrl = `http://${this.privateIp}:${PROMETHEUS_PORT}`;
    this.grafanaUrl = `http://${this.privateIp}:${GRAFANA_PORT}`;
    describeForPlan(this, () => ({
      kind: 'monitoring',
      cluster: ctl.clusterName,
      cloud: ctl.backend.name,
      onController: props.onController === true,
      instanceType: props.onController ? undefined : instance.hostType,
      diskGiB: props.onController ? 0 : diskGiB,
    }));
    const tunnel = this.host.tunnel;
    describeForPlan(this, () => ({
      kind: 'endpoint',
      cluster: ctl.clusterName,
      name: 'Grafana',
      reach: `${this.grafanaUrl} through ${tunnel}${cidrs.length ? ` or from ${cidrs.join(', ')}` : ''} (admin password in the secret store)`,
    }));
  }
}
