export * from './bastion-vpc';
export * from './compute-node-pool';
export * from './gpu-partition';
export * from './login-node';
export * from './partition';
export * from './seam';
export * from './slurm-controller';
