export * from './budget';
export * from './cloud-config';
export * from './encode';
export * from './mounts';
export * from './node-bootstrap';
export * from './node-env';
export * from './package-root';
export * from './render-user-data';
