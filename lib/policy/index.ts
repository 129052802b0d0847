export * from './rule';
export * from './engine';
export * from './packs';
export * from './security-policy';
export { SECRET_PATTERNS } from './inspect';
