import type { IClusterNetwork } from '../backend';

/** What a cluster needs of an AWS network; `BastionVpc` provides it. */
export interface IAwsClusterNetwork extends IClusterNetwork {
  readonly cloud: 'aws';
  readonly vpcId: string;
  readonly cidr: string;
  readonly privateSubnets: readonly { readonly id: string; readonly cidr: string; readonly availabilityZone: string }[];
  /** The group every cluster member joins; Slurm ports are open only from itself. */
  readonly clusterSecurityGroupId: string;
  /** The bastion's group, when the network has a bastion (monitoring UIs admit SSH tunnels from it). @default none */
  readonly bastionSecurityGroupId?: string;
}
