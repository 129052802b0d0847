/**
 * The Google Cloud backend: what the cloud-neutral constructs ask of Compute Engine. `GcpClusterNetwork` carries it.
 */
import type { Construct } from 'constructs';
import type { ControllerHostRequest, IClusterBackend, IControllerHost, IFixedHost, IMonitorHost, LoginHostRequest, MonitorHostRequest } from '../backend';
import type { IGcpClusterNetwork } from './network';
import { GcpControllerHost } from './controller-host';
import { GcpLoginHost } from './login-host';
import { GcpMonitorHost } from './monitor-host';
import { gcpName } from './vm';

/** The backend of one Google Cloud cluster network. */
export function gcpBackend(network: IGcpClusterNetwork): IClusterBackend {
  const backend: IClusterBackend = {
    name: 'gcp',
    // Pools are static for now; a mesh controller needs AWS.
    capabilities: { mesh: false, powerSaving: false },
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
