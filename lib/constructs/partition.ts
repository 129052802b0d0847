import { Construct } from 'constructs';
import { OverSubscribe, PartitionSpec } from '../slurm';
import { ConstructPropError } from '../cdktf-adapter';
import type { IComputeNodePool, ISlurmController } from './cluster-interfaces';

export interface PartitionProps {
  readonly controller: ISlurmController;
  /** Pools whose nodes belong to the partition (at least one). */
  readonly pools: readonly IComputeNodePool[];
  /** `PartitionName`. @default the construct id, lower-cased */
  readonly name?: string;
  /** The partition jobs land in without `-p`. @default false */
  readonly default?: boolean;
  /** `MaxTime` in Slurm's format (`60`, `4:00:00`, `1-00:00:00`, `UNLIMITED`). @default `UNLIMITED` */
  readonly maxTime?: string;
  /** `DefaultTime`. @default MaxTime */
  readonly defaultTime?: string;
  /** Whole nodes per job (`OverSubscribe=EXCLUSIVE`). @default false */
  readonly exclusive?: boolean;
  /** @default `NO` (or `EXCLUSIVE` with `exclusive`) */
  readonly overSubscribe?: OverSubscribe;
  /** `MaxNodes` per job. @default no limit */
  readonly maxNodes?: number;
  /** `PriorityTier`. @default Slurm's default */
  readonly priorityTier?: number;
}

/** Builds the partition's model entry; shared by `Partition` and `GpuPartition`. */
export function partitionSpec(scope: Construct, props: PartitionProps, extra: Partial<PartitionSpec> = {}): PartitionSpec {
  if (props.pools.length === 0) {
    throw new ConstructPropError(scope, 'pools', [], 'a partition needs at least one node pool',
      'Pass the ComputeNodePool(s) whose nodes should run its jobs');
  }
  for (const pool of props.pools) {
    if (pool.controller !== props.controller) {
      throw new ConstructPropError(scope, 'pools', pool.node.path, 'this pool belongs to another controller',
        'Use pools created with the same controller as the partition');
    }
  }
  return {
    name: props.name ?? scope.node.id.toLowerCase(),
    pools: props.pools.map((p) => p.poolName),
    default: props.default,
    maxTime: props.maxTime,
    defaultTime: props.defaultTime,
    exclusive: props.exclusive,
    overSubscribe: props.overSubscribe,
    maxNodes: props.maxNodes,
    priorityTier: props.priorityTier,
    ...extra,
  };
}

/** A Slurm partition of CPU (or mixed) pools: one `PartitionName=` line. */
export class Partition extends Construct {
  readonly spec: PartitionSpec;

  constructor(scope: Construct, id: string, props: PartitionProps) {
    super(scope, id);
    this.spec = partitionSpec(this, props);
    props.controller.addPartition(this.spec);
  }
}
