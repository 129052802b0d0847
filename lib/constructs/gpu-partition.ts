import { Construct } from 'constructs';
import { PartitionSpec } from '../slurm';
import { PartitionProps, partitionSpec } from './partition';
import { ConstructPropError } from '../cdktf-adapter';

export interface GpuPartitionProps extends PartitionProps {
  /**
   * Memory a job gets per GPU it asks for (`DefMemPerGPU`), MiB.
   * @default the smallest pool's memory divided by its GPU count
   */
  readonly defMemPerGpuMiB?: number;
  /**
   * CPUs a job gets per GPU (`DefCpuPerGPU`).
   * @default the smallest pool's CPUs divided by its GPU count
   */
  readonly defCpuPerGpu?: number;
}

/**
 * A partition of GPU pools: like `Partition`, plus per-GPU defaults so `--gres=gpu:N` alone gets a fair share
 * of the node's CPUs and memory. Every pool must have GPUs.
 */
export class GpuPartition extends Construct {
  readonly spec: PartitionSpec;

  constructor(scope: Construct, id: string, props: GpuPartitionProps) {
    super(scope, id);
    const withoutGpus = props.pools.filter((p) => !p.spec.gpus);
    if (withoutGpus.length > 0) {
      throw new ConstructPropError(this, 'pools', withoutGpus.map((p) => p.node.path), 'these pools have no GPUs',
        'Put CPU pools in a Partition, or give the pool a GPU instance type');
    }
    const share = (per: (p: (typeof props.pools)[number]) => number) =>
      props.pools.length > 0 ? Math.min(...props.pools.map(per)) : undefined;
    const defMem = props.defMemPerGpuMiB ?? share((p) => Math.floor(p.spec.hardware.realMemoryMiB / p.spec.gpus!.count));
    const defCpu = props.defCpuPerGpu ?? share((p) => Math.floor(p.spec.hardware.cpus / p.spec.gpus!.count));
    this.spec = partitionSpec(this, props, { defMemPerGpuMiB: defMem, defCpuPerGpu: defCpu });
    props.controller.addPartition(this.spec);
  }
}
