export * from './slurm';
export * from './cloudinit';
export * from './net/cidr';
export * from './aws/instance-types';
export * from './aws/efa';
export * from './aws/script-bucket';
export * from './constructs';
export * from './docker';
