export * from './slurm';
export * from './cloudinit';
