export * from './docker-hosts';
export * from './docker-node-containers';
export * from './image';
export * from './docker-nodes';
