import { asList } from '../../inspect';
import { defineRule } from '../../rule';

/** Subnets for proxies and Private Service Connect cannot log; every ordinary subnet must. */
const LOGGABLE = [undefined, 'PRIVATE', 'PRIVATE_RFC_1918'];

export const SubnetFlowLogs = defineRule({
  id: 'GCP-VPC-FLOW-LOGS',
  pack: 'gcp',
  explanation: 'Every subnet needs VPC flow logs, the only record of who talked to which node.',
  fix: 'Add log_config { aggregation_interval, flow_sampling, metadata } to the subnetwork (or enable_flow_logs = true).',
  appliesTo: ['google_compute_subnetwork'],
  check: (subnet) => {
    const a = subnet.attributes;
    if (!LOGGABLE.includes(a.purpose as string | undefined)) return [];
    // enable_flow_logs (provider 6) wins when given; otherwise a log_config block is what turns logs on.
    if (a.enable_flow_logs === false) return ['enable_flow_logs is false'];
    return a.enable_flow_logs === true || asList(a.log_config).length > 0 ? [] : ['no log_config: flow logs are off'];
  },
});
