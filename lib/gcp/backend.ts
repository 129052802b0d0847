/**
 * The Google Cloud backend: what the cloud-neutral constructs ask of Compute Engine. `GcpClusterNetwork` carries it.
 */
import type { Construct } from 'constructs';
import type { ControllerHostRequest, FixedHostRole, IClusterBackend, IControllerHost, IFixedHost, IMonitorHost, LoginHostRequest, MonitorHostRequest } from '../backend';
import type { IGcpClusterNetwork } from './network';
import { GcpControllerHost } from './controller-host';
import { GcpLoginHost } from './login-host';
import { GcpMonitorHost } from './monitor-host';
import { gcpName } from './vm';

/** Fixed hosts' machine types when their settings name none. */
const GCP_HOST_TYPES: Readonly<Record<FixedHostRole, string>> = { controller: 'n2-standard-8', login: 'n2-standard-4', monitor: 'e2-standard-4' };

/** The backend of one Google Cloud cluster network. */
export function gcpBackend(network: IGcpClusterNetwork): IClusterBackend {
  const backend: IClusterBackend = {
    name: 'gcp',
    // Pools are static for now; a mesh controller needs AWS.
    capabilities: { mesh: false, powerSaving: false },
    defaultHostType: (role) => GCP_HOST_TYPES[role],
    hostSettingsExample: "instance: GceInstance.of({ machineType: 'n2-standard-8' })",
    secretReference: () => ({
      pattern: /^gcp-secretmanager:projects\/[^/\s]+\/secrets\/[A-Za-z0-9_-]+$/,
      fix: "Give 'gcp-secretmanager:projects/<project>/secrets/<id>' and grant the controller's service account access",
    }),
    fixedHostSubnet: () => ({ cidr: network.system.cidr, firstUsableIndex: 2, reservedBy: 'Google reserves the first two addresses of a subnet' }),
    controllerHostname: (clusterName) => `${gcpName(clusterName)}-controller`,
    placeController(scope: Construct, request: ControllerHostRequest): IControllerHost {
      return new GcpControllerHost(backend, network, scope, request);
    },
    loginHostname: (clusterName) => `${gcpName(clusterName)}-login`,
    placeLoginNode: (scope: Construct, request: LoginHostRequest): IFixedHost => new GcpLoginHost(scope, request),
    placeMonitor: (scope: Construct, request: MonitorHostRequest): IMonitorHost => new GcpMonitorHost(scope, request),
  };
  return backend;
}
