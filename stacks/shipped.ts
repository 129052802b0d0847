import { TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { AwsGpuStack } from './aws-gpu';
import { CephLabStack } from './ceph-lab';
import { GcpA3MegaStack } from './gcp-a3mega';
import { HybridGpuStack } from './hybrid-gpu';

/** Every stack `cdktf synth` writes, by stack name; `main.ts` and the whole-stack tests read this one list. */
export const SHIPPED_STACKS: Readonly<Record<string, (scope: Construct, id: string) => TerraformStack>> = {
  'aws-gpu': (scope, id) => new AwsGpuStack(scope, id),
  'hybrid-gpu': (scope, id) => new HybridGpuStack(scope, id),
  'gcp-a3mega': (scope, id) => new GcpA3MegaStack(scope, id),
  'ceph-lab': (scope, id) => new CephLabStack(scope, id),
};
