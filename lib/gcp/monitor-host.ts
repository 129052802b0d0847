/**
 * Prometheus and Grafana on Compute Engine: Grafana's admin password in Secret Manager (generated on the monitor), on
 * a VM of their own with a service account that may list the project's VMs (GCE discovery), or on the controller.
 * Grafana is reached through an IAP tunnel only. Resources are made in the MonitoringStack's scope.
 */
import { ComputeInstance } from '@cdktf/provider-google/lib/compute-instance';
import { ProjectIamMember } from '@cdktf/provider-google/lib/project-iam-member';
import { Construct } from 'constructs';
import type { IMonitorHost, MonitorHostRequest } from '../backend';
import { ConstructPropError, lazyString, oncePerSynth, terraformLiteral, validateAtSynth } from '../cdktf-adapter';
import { buildServiceCloudConfig, renderNodeUserData } from '../cloudinit';
import { GcpControllerHost } from './controller-host';
import {
  gcpAccountId, gcpName, gcpSecret, gcpSecretSource, gcpServiceAccount, gcpStaticInstance, grantLogging, grantSecretAccess, grantSecretVersionAdder,
} from './vm';

/** The monitor's Compute Engine side. */
export class GcpMonitorHost implements IMonitorHost {
  readonly grafanaAdminPasswordSecret: string;
  readonly hostname?: string;
  readonly tunnel = 'an IAP tunnel';
  /** The monitoring VM, when it has one. */
  readonly vm?: ComputeInstance;

  constructor(scope: Construct, request: MonitorHostRequest) {
    if (request.grafanaAllowedCidrs.length > 0) {
      throw new ConstructPropError(scope, 'grafanaAllowedCidrs', request.grafanaAllowedCidrs, 'applies to AWS clusters only',
        'Reach Grafana through an IAP tunnel: gcloud compute ssh <vm> --tunnel-through-iap -- -L 3000:localhost:3000');
    }
    const gcp = GcpControllerHost.of(request.controller, 'a MonitoringStack');
    const cluster = request.clusterName;
    const files = () => request.files({});
    const project = gcp.network.project;
    const prefix = gcpName(cluster);
    const secretId = `${prefix}-grafana-admin-password`;
    const secret = gcpSecret(scope, 'GrafanaAdminPassword', { project, secretId, description: `Grafana admin password of Slurm cluster ${cluster}; generated on the monitor at first boot`, labels: { 'slurm-cluster': cluster } });
    this.grafanaAdminPasswordSecret = gcpSecretSource(project, secretId);
    const env = { GRAFANA_ADMIN_PASSWORD_SOURCE: `generate+${this.grafanaAdminPasswordSecret}`, PROMETHEUS_RETENTION: request.retention };
    if (request.onController) {
      grantSecretAccess(scope, 'ControllerRead', { project, secretId, member: gcp.identity.member, secret });
      grantSecretVersionAdder(scope, 'ControllerAdd', { project, secretId, member: gcp.identity.member, secret });
      request.hostOnController({ env, files });
      return;
    }
    const identity = gcpServiceAccount(scope, 'Identity', {
      project, accountId: gcpAccountId(`${prefix}-monitor`), displayName: `Monitor of Slurm cluster ${cluster}`,
      description: 'Prometheus/Grafana: lists the cluster\'s VMs (GCE discovery), keeps its Grafana password',
    });
    grantLogging(scope, 'Logging', { project, member: identity.member });
    grantSecretAccess(scope, 'SecretRead', { project, secretId, member: identity.member, secret });
    grantSecretVersionAdder(scope, 'SecretAdd', { project, secretId, member: identity.member, secret });
    // GCE service discovery lists instances: the narrowest predefined role that can.
    new ProjectIamMember(scope, 'ComputeViewer', {
      project, role: 'roles/compute.viewer', member: identity.member,
    });
    this.hostname = `${prefix}-monitor`;
    const hostname = this.hostname;
    const render = oncePerSynth(scope, () => renderNodeUserData(buildServiceCloudConfig({
      entry: 'monitoring/monitoring-server.sh', hostname, env, files: files(), scriptDelivery: { kind: 'inline' },
    }), { target: 'gcp', role: 'monitor', where: scope.node.path }));
    this.vm = gcpStaticInstance(scope, 'Vm', {
      network: gcp.network,
      name: hostname,
      machineType: request.hostType,
      isGpu: false,
      gpuNics: 0,
      userData: lazyString(() => terraformLiteral(render().text)),
      serviceAccountEmail: identity.email,
      clusterName: cluster,
      role: 'monitor',
      bootDiskSizeGiB: request.diskGiB,
      image: request.image,
      networkIp: request.privateIp as string,
      sshViaIap: true,
    }).instance;
    validateAtSynth(scope, () => {
      render();
      return [];
    });
  }
}
