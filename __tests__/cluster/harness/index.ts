export * from './exec';
export * from './wait';
export * from './namespaces';
export * from './preflight';
export * from './cloudinit';
export * from './slurm-cluster';
