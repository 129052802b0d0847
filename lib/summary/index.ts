export * from './model';
export * from './prices';
export * from './estimate';
export * from './render';
