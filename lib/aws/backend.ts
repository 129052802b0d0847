/**
 * The AWS backend: what the cloud-neutral constructs ask of AWS. `BastionVpc` carries it; a network of your own
 * implementing `IAwsClusterNetwork` sets `backend = awsBackend(this)`. It reads the network only when asked, so it
 * may be made in the network's constructor.
 */
import type { Construct, IConstruct } from 'constructs';
import type { ControllerHostRequest, FixedHostRole, FixedHostSubnet, IClusterBackend, IControllerHost, IFixedHost, IMonitorHost, LoginHostRequest, MonitorHostRequest } from '../backend';
import { ConstructPropError } from '../cdktf-adapter';
import { AwsControllerHost } from './controller-host';
import { AwsLoginHost } from './login-host';
import { AwsMonitorHost } from './monitor-host';
import type { IAwsClusterNetwork } from './network';

/** Fixed hosts' EC2 types when their settings name none. */
const AWS_HOST_TYPES: Readonly<Record<FixedHostRole, string>> = { controller: 'm6i.xlarge', login: 't3.large', monitor: 'm6i.large' };

/** The backend of one AWS cluster network. */
export function awsBackend(network: IAwsClusterNetwork): IClusterBackend {
  const backend: IClusterBackend = {
    name: 'aws',
    capabilities: { mesh: true, powerSaving: true },
    defaultHostType: (role) => AWS_HOST_TYPES[role],
    hostSettingsExample: "instance: Ec2Instance.of({ instanceType: 'm6i.xlarge' })",
    secretReference: (clusterName) => ({
      pattern: new RegExp(`^aws-secretsmanager:${clusterName}/[A-Za-z0-9/_+=.@-]+$`),
      fix: `Store the password in Secrets Manager as '${clusterName}/smtp-password' and give 'aws-secretsmanager:${clusterName}/smtp-password'`,
    }),
    fixedHostSubnet(scope: IConstruct): FixedHostSubnet {
      if (network.privateSubnets.length === 0) {
        throw new ConstructPropError(scope, 'network.privateSubnets', [], 'the controller needs a private subnet',
          'Give the network at least one availability zone');
      }
      return { cidr: network.privateSubnets[0].cidr, firstUsableIndex: 4, reservedBy: 'AWS reserves the first four addresses of a subnet' };
    },
    controllerHostname: () => 'slurm-controller',
    placeController(scope: Construct, request: ControllerHostRequest): IControllerHost {
      return new AwsControllerHost(backend, network, scope, request);
    },
    loginHostname: () => 'slurm-login',
    placeLoginNode: (scope: Construct, request: LoginHostRequest): IFixedHost => new AwsLoginHost(scope, request),
    placeMonitor: (scope: Construct, request: MonitorHostRequest): IMonitorHost => new AwsMonitorHost(scope, request),
  };
  return backend;
}
