/**
 * Prometheus and Grafana on AWS: Grafana's admin password in Secrets Manager (generated on the monitor), a group the
 * monitor carries (Grafana and Prometheus from the bastion and the given private ranges only), the exporter ports
 * opened into the cluster's group from that group alone, EC2 service discovery; on a VM of their own or on the
 * controller. Resources are made in the MonitoringStack's scope.
 */
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Construct } from 'constructs';
import type { IMonitorHost, MonitorHostRequest } from '../backend';
import { lazyString, oncePerSynth, validateAtSynth } from '../cdktf-adapter';
import { buildServiceCloudConfig, renderNodeUserData, SCRIPTS_BUCKET_TAG } from '../cloudinit';
import { GRAFANA_PORT } from '../monitoring/grafana';
import { AWS_REGION_PLACEHOLDER, PROMETHEUS_PORT } from '../monitoring/prometheus';
import { EXPORTER_PORTS } from '../monitoring/scrape-targets';
import { AwsControllerHost } from './controller-host';
import { ec2InstanceRole, fixedEc2Host, ubuntuAmi } from './node-identity';

/** The monitor's AWS side. */
export class AwsMonitorHost implements IMonitorHost {
  readonly grafanaAdminPasswordSecret: string;
  readonly hostname?: string;
  readonly tunnel = 'an SSH tunnel through the bastion';
  /** The monitoring VM, when it has one. */
  readonly instance?: Instance;

  constructor(scope: Construct, request: MonitorHostRequest) {
    const aws = AwsControllerHost.of(request.controller, 'a MonitoringStack');
    const cluster = request.clusterName;
    const cidrs = request.grafanaAllowedCidrs;
    const files = () => request.files({ awsRegion: AWS_REGION_PLACEHOLDER });
    const secretName = `${cluster}/grafana-admin-password`;
    const secret = new SecretsmanagerSecret(scope, 'GrafanaAdminPassword', {
      name: secretName,
      description: `Grafana admin password of Slurm cluster ${cluster}; generated on the monitor at first boot, never in Terraform`,
      recoveryWindowInDays: 7,
    });
    this.grafanaAdminPasswordSecret = `aws-secretsmanager:${secretName}`;
    const env = { GRAFANA_ADMIN_PASSWORD_SOURCE: `generate+${this.grafanaAdminPasswordSecret}`, PROMETHEUS_RETENTION: request.retention };
    const group = new SecurityGroup(scope, 'SecurityGroup', {
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
        new VpcSecurityGroupIngressRule(scope, `FromBastion${port}`, {
          securityGroupId: group.id, referencedSecurityGroupId: bastion, ipProtocol: 'tcp', fromPort: port, toPort: port,
          description: `${port === GRAFANA_PORT ? 'Grafana' : 'Prometheus'} from the bastion (SSH tunnels)`,
        });
      }
    }
    cidrs.forEach((c, i) => new VpcSecurityGroupIngressRule(scope, `GrafanaFrom${i}`, {
      securityGroupId: group.id, cidrIpv4: c, ipProtocol: 'tcp', fromPort: GRAFANA_PORT, toPort: GRAFANA_PORT, description: `Grafana from ${c}`,
    }));
    // The exporters: into the cluster's group (every EC2 host of the cluster), from the monitor's group only.
    for (const [kind, port] of Object.entries(EXPORTER_PORTS)) {
      new VpcSecurityGroupIngressRule(scope, `Scrape${kind}`, {
        securityGroupId: aws.network.clusterSecurityGroupId, referencedSecurityGroupId: group.id, ipProtocol: 'tcp', fromPort: port, toPort: port,
        description: `${kind} exporter (${port}) scraped by the cluster's Prometheus`,
      });
    }
    const discovery = {
      // EC2 service discovery; Describe* calls take no resource-level permissions and reveal no secrets.
      Sid: 'Ec2ServiceDiscovery', Effect: 'Allow', Action: ['ec2:DescribeInstances', 'ec2:DescribeAvailabilityZones'], Resource: ['*'],
    };
    const ownSecret = { Sid: 'GrafanaAdminPassword', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue', 'secretsmanager:DescribeSecret'], Resource: [secret.arn] };

    if (request.onController) {
      new IamRolePolicy(scope, 'ControllerPolicy', { role: aws.role.id, name: 'monitoring', policy: JSON.stringify({ Version: '2012-10-17', Statement: [discovery, ownSecret] }) });
      request.hostOnController({ env, files, securityGroupId: group.id });
      return;
    }
    new VpcSecurityGroupEgressRule(scope, 'Egress', {
      securityGroupId: group.id, cidrIpv4: '0.0.0.0/0', ipProtocol: '-1',
      description: 'Scrapes inside the VPC; packages (Ubuntu, apt.grafana.com) and AWS APIs through the NAT gateway',
    });
    const ip = request.privateIp as string;
    const { role, profile } = ec2InstanceRole(scope, `${cluster}-monitor`, `Prometheus/Grafana of ${cluster}: discovers the cluster's instances, keeps its Grafana password`);
    new IamRolePolicy(scope, 'Policy', { role: role.id, name: 'monitoring', policy: JSON.stringify({ Version: '2012-10-17', Statement: [discovery, ownSecret] }) });
    new IamRolePolicyAttachment(scope, 'Ssm', { role: role.name, policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' });
    aws.scriptBucket.grantRead(scope, 'ScriptsRead', role.id);
    this.hostname = `${cluster.replace(/_/g, '-')}-monitor`;
    const hostname = this.hostname;
    const userData = oncePerSynth(scope, () => renderNodeUserData(buildServiceCloudConfig({
      entry: 'monitoring/monitoring-server.sh',
      hostname,
      env,
      files: files(),
      scriptDelivery: { kind: 'fetch', fetcher: 'aws/fetch-bootstrap.sh' },
    }), { target: 'aws', role: 'monitor', where: scope.node.path }));
    this.instance = fixedEc2Host(scope, {
      role: role,
      bootObjects: aws.scriptBucket.objects,
      ami: ubuntuAmi(scope, request.image),
      instanceType: request.hostType,
      keyName: request.keyName,
      subnetId: aws.network.privateSubnets[0].id,
      privateIp: ip,
      securityGroupIds: [group.id],
      instanceProfileName: profile.name,
      rootVolumeSizeGiB: request.diskGiB,
      userDataBase64: lazyString(() => userData().base64),
      tags: { Name: `${cluster}-monitor`, 'slurm:cluster': cluster, 'slurm:role': 'monitor', [SCRIPTS_BUCKET_TAG]: aws.scriptBucket.bucket.bucket },
    });
    validateAtSynth(scope, () => {
      userData();
      return [];
    });
  }
}
