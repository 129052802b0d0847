import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { AwsControllerHost } from '../aws/controller-host';
import { GcpControllerHost } from '../gcp/controller-host';
import { Construct } from 'constructs';
import { ec2InstanceRole, fixedEc2Host, ubuntuAmi } from '../aws/node-identity';
import { buildServiceCloudConfig, NodeFile, renderNodeUserData, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import {
  gcpAccountId, gcpName, gcpSecret, gcpSecretSource, gcpServiceAccount, gcpStaticInstance, grantLogging, grantSecretAccess, grantSecretVersionAdder,
} from '../gcp/vm';
import { CidrError, isPubliclyOpen, parseIpv4Cidr } from '../net/cidr';
import { grafanaDashboards, renderGrafanaDashboardProvider, renderGrafanaDatasources } from '../monitoring/grafana';
import { AWS_REGION_PLACEHOLDER, PROMETHEUS_PORT, renderAlertRules, renderPrometheusConfig } from '../monitoring/prometheus';
import { EXPORTER_PORTS } from '../monitoring/scrape-targets';
import { describeForPlan } from './plan-summary';
import { ConstructPropError, lazyString, oncePerSynth, terraformLiteral, validateAtSynth } from '../cdktf-adapter';
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
  /** EC2 type of the monitoring VM (AWS). @default `'m6i.large'` */
  readonly instanceType?: string;
  /** Machine type of the monitoring VM (GCP). @default `'e2-standard-4'` */
  readonly machineType?: string;
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

const GRAFANA_PORT = 3000;
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
  /** The monitoring VM, when it has one. */
  readonly instance?: Instance | ComputeInstance;
  /** Where Prometheus and Grafana listen: the VM's (or the controller's) private address. */
  readonly privateIp: string;
  readonly prometheusUrl: string;
  readonly grafanaUrl: string;
  /** Where Grafana's admin password is (`aws-secretsmanager:…` / `gcp-secretmanager:…`), to read with your own identity. */
  readonly grafanaAdminPasswordSecret: string;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id);
    const ctl = props.controller;
    const net = ctl.network;
    const retention = props.retention ?? '30d';
    if (!/^[1-9][0-9]*(h|d|w|y)$/.test(retention)) throw new ConstructPropError(this, 'retention', retention, 'is not a Prometheus retention', "Use e.g. '30d' or '12w'");
    const scrapeInterval = props.scrapeInterval ?? '30s';
    if (!/^[1-9][0-9]*(s|m)$/.test(scrapeInterval)) throw new ConstructPropError(this, 'scrapeInterval', scrapeInterval, 'is not a duration in s or m', "Use e.g. '30s' or '1m'");
    const diskGiB = props.diskGiB ?? 100;
    const hostType = net.cloud === 'aws' ? (props.instanceType ?? 'm6i.large') : (props.machineType ?? 'e2-standard-4');
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
    if (cidrs.length > 0 && net.cloud !== 'aws') {
      throw new ConstructPropError(this, 'grafanaAllowedCidrs', cidrs, 'applies to AWS clusters only', "Reach Grafana through an IAP tunnel: gcloud compute ssh <vm> --tunnel-through-iap -- -L 3000:localhost:3000");
    }
    if (props.onController) {
      for (const [field, v] of Object.entries({ instanceType: props.instanceType, machineType: props.machineType, hostIndex: props.hostIndex, diskGiB: props.diskGiB })) {
        if (v !== undefined) throw new ConstructPropError(this, field, v, 'describes the monitoring VM, and onController puts the monitor on the controller', `Drop ${field}, or onController`);
      }
    }
    ctl.useMonitoring(this.node.path);

    const cluster = ctl.clusterName;
    const files = (): NodeFile[] => {
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
          content: renderPrometheusConfig({ groups, clusterName: cluster, scrapeInterval, awsRegion: net.cloud === 'aws' ? AWS_REGION_PLACEHOLDER : undefined }),
        },
        { path: `${STAGING}/rules.yml`, content: renderAlertRules() },
        // Grafana and Prometheus share the host.
        { path: `${STAGING}/grafana-datasources.yaml`, content: renderGrafanaDatasources({ prometheusUrl: `http://localhost:${PROMETHEUS_PORT}`, scrapeInterval }) },
        { path: `${STAGING}/grafana-dashboards.yaml`, content: renderGrafanaDashboardProvider() },
        ...grafanaDashboards({ clusterName: cluster }).map((d) => ({ path: `${STAGING}/dashboards/${d.fileName}`, content: d.json })),
      ];
    };

    if (net.cloud === 'aws') {
      const aws = AwsControllerHost.of(ctl, 'a MonitoringStack');
      const secretName = `${cluster}/grafana-admin-password`;
      const secret = new SecretsmanagerSecret(this, 'GrafanaAdminPassword', {
        name: secretName,
        description: `Grafana admin password of Slurm cluster ${cluster}; generated on the monitor at first boot, never in Terraform`,
        recoveryWindowInDays: 7,
      });
      this.grafanaAdminPasswordSecret = `aws-secretsmanager:${secretName}`;
      const group = new SecurityGroup(this, 'SecurityGroup', {
        name: `${cluster}-monitor`,
        description: `Prometheus and Grafana of Slurm cluster ${cluster}: Grafana from the bastion${cidrs.length ? ' and the given private ranges' : ''} only`,
        vpcId: aws.network.vpcId,
        ingress: [],
        egress: [],
        tags: { Name: `${cluster}-monitor`, 'slurm:cluster': cluster },
      });
      const bastion = aws.network.bastionSecurityGroupId;
      for (const port of [GRAFANA_PORT, PROMETHEUS_PORT]) {
        if (bastion) {
          new VpcSecurityGroupIngressRule(this, `FromBastion${port}`, {
            securityGroupId: group.id, referencedSecurityGroupId: bastion, ipProtocol: 'tcp', fromPort: port, toPort: port,
            description: `${port === GRAFANA_PORT ? 'Grafana' : 'Prometheus'} from the bastion (SSH tunnels)`,
          });
        }
      }
      cidrs.forEach((c, i) => new VpcSecurityGroupIngressRule(this, `GrafanaFrom${i}`, {
        securityGroupId: group.id, cidrIpv4: c, ipProtocol: 'tcp', fromPort: GRAFANA_PORT, toPort: GRAFANA_PORT, description: `Grafana from ${c}`,
      }));
      // The exporters: into the cluster's group (every EC2 host of the cluster), from the monitor's group only.
      for (const [kind, port] of Object.entries(EXPORTER_PORTS)) {
        new VpcSecurityGroupIngressRule(this, `Scrape${kind}`, {
          securityGroupId: aws.network.clusterSecurityGroupId, referencedSecurityGroupId: group.id, ipProtocol: 'tcp', fromPort: port, toPort: port,
          description: `${kind} exporter (${port}) scraped by the cluster's Prometheus`,
        });
      }
      const discovery = {
        // EC2 service discovery; Describe* calls take no resource-level permissions and reveal no secrets.
        Sid: 'Ec2ServiceDiscovery', Effect: 'Allow', Action: ['ec2:DescribeInstances', 'ec2:DescribeAvailabilityZones'], Resource: ['*'],
      };
      const ownSecret = { Sid: 'GrafanaAdminPassword', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'], Resource: [secret.arn] };

      if (props.onController) {
        new IamRolePolicy(this, 'ControllerPolicy', { role: aws.role.id, name: 'monitoring', policy: JSON.stringify({ Version: '2012-10-17', Statement: [discovery, ownSecret] }) });
        ctl.hostMonitor({
          env: { GRAFANA_ADMIN_PASSWORD_SOURCE: `generate+${this.grafanaAdminPasswordSecret}`, PROMETHEUS_RETENTION: retention },
          files,
          securityGroupId: group.id,
        });
        this.privateIp = ctl.privateIp;
      } else {
        new VpcSecurityGroupEgressRule(this, 'Egress', {
          securityGroupId: group.id, cidrIpv4: '0.0.0.0/0', ipProtocol: '-1',
          description: 'Scrapes inside the VPC; packages (Ubuntu, apt.grafana.com) and AWS APIs through the NAT gateway',
        });
        const ip = ctl.fixedHostAddress(this, 'hostIndex', props.hostIndex ?? 30, 30);
        this.privateIp = ip;
        const { role, profile } = ec2InstanceRole(this, `${cluster}-monitor`, `Prometheus/Grafana of ${cluster}: discovers the cluster's instances, keeps its Grafana password`);
        new IamRolePolicy(this, 'Policy', { role: role.id, name: 'monitoring', policy: JSON.stringify({ Version: '2012-10-17', Statement: [discovery, ownSecret] }) });
        new IamRolePolicyAttachment(this, 'Ssm', { role: role.name, policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' });
        aws.scriptBucket.grantRead(this, 'ScriptsRead', role.id);
        const userData = oncePerSynth(this, () => renderNodeUserData(buildServiceCloudConfig({
          entry: 'monitoring/monitoring-server.sh',
          hostname: `${cluster.replace(/_/g, '-')}-monitor`,
          env: { GRAFANA_ADMIN_PASSWORD_SOURCE: `generate+${this.grafanaAdminPasswordSecret}`, PROMETHEUS_RETENTION: retention },
          files: files(),
          scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
        }), { target: 'aws', role: 'monitor', where: this.node.path }));
        this.instance = fixedEc2Host(this, {
          ami: ubuntuAmi(this),
          instanceType: hostType,
          subnetId: aws.network.privateSubnets[0].id,
          privateIp: ip,
          securityGroupIds: [group.id],
          instanceProfileName: profile.name,
          rootVolumeSizeGiB: diskGiB,
          userDataBase64: lazyString(() => userData().base64),
          tags: { Name: `${cluster}-monitor`, 'slurm:cluster': cluster, 'slurm:role': 'monitor', [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
        });
        validateAtSynth(this, () => {
          userData();
          return [];
        });
      }
    } else {
      const gcp = GcpControllerHost.of(ctl, 'a MonitoringStack');
      const project = gcp.network.project;
      const prefix = gcpName(cluster);
      const secretId = `${prefix}-grafana-admin-password`;
      gcpSecret(this, 'GrafanaAdminPassword', { project, secretId, description: `Grafana admin password of Slurm cluster ${cluster}; generated on the monitor at first boot`, labels: { 'slurm-cluster': cluster } });
      this.grafanaAdminPasswordSecret = gcpSecretSource(project, secretId);
      const env = { GRAFANA_ADMIN_PASSWORD_SOURCE: `generate+${this.grafanaAdminPasswordSecret}`, PROMETHEUS_RETENTION: retention };
      if (props.onController) {
        grantSecretAccess(this, 'ControllerRead', { project, secretId, member: gcp.identity.member });
        grantSecretVersionAdder(this, 'ControllerAdd', { project, secretId, member: gcp.identity.member });
        ctl.hostMonitor({ env, files });
        this.privateIp = ctl.privateIp;
      } else {
        const identity = gcpServiceAccount(this, 'Identity', {
          project, accountId: gcpAccountId(`${prefix}-monitor`), displayName: `Monitor of Slurm cluster ${cluster}`,
          description: 'Prometheus/Grafana: lists the cluster\'s VMs (GCE discovery), keeps its Grafana password',
        });
        grantLogging(this, 'Logging', { project, member: identity.member });
        grantSecretAccess(this, 'SecretRead', { project, secretId, member: identity.member });
        grantSecretVersionAdder(this, 'SecretAdd', { project, secretId, member: identity.member });
        // GCE service discovery lists instances: the narrowest predefined role that can.
        new ProjectIamMember(this, 'ComputeViewer', {
          project, role: 'roles/compute.viewer', member: identity.member,
        });
        const ip = ctl.fixedHostAddress(this, 'hostIndex', props.hostIndex ?? 30, 30);
        this.privateIp = ip;
        const render = oncePerSynth(this, () => renderNodeUserData(buildServiceCloudConfig({
          entry: 'monitoring/monitoring-server.sh', hostname: `${prefix}-monitor`, env, files: files(), scriptDelivery: { kind: 'inline' },
        }), { target: 'gcp', role: 'monitor', where: this.node.path }));
        const vm = gcpStaticInstance(this, 'Vm', {
          network: gcp.network,
          name: `${prefix}-monitor`,
          machineType: hostType,
          isGpu: false,
          gpuNics: 0,
          userData: lazyString(() => terraformLiteral(render().text)),
          serviceAccountEmail: identity.email,
          clusterName: cluster,
          role: 'monitor',
          bootDiskSizeGiB: diskGiB,
          networkIp: ip,
          sshViaIap: true,
        });
        this.instance = vm.instance;
        validateAtSynth(this, () => {
          render();
          return [];
        });
      }
    }
    this.prometheusUrl = `http://${this.privateIp}:${PROMETHEUS_PORT}`;
    this.grafanaUrl = `http://${this.privateIp}:${GRAFANA_PORT}`;
    describeForPlan(this, () => ({
      kind: 'monitoring',
      cluster: ctl.clusterName,
      cloud: net.cloud,
      onController: props.onController === true,
      instanceType: props.onController ? undefined : hostType,
      diskGiB: props.onController ? 0 : diskGiB,
    }));
    const tunnel = net.cloud === 'gcp' ? 'an IAP tunnel' : 'an SSH tunnel through the bastion';
    describeForPlan(this, () => ({
      kind: 'endpoint',
      cluster: ctl.clusterName,
      name: 'Grafana',
      reach: `${this.grafanaUrl} through ${tunnel}${cidrs.length ? ` or from ${cidrs.join(', ')}` : ''} (admin password in the secret store)`,
    }));
  }
}
