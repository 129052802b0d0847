/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  // Transpile only: type-checking is its own `tsc --noEmit` step, which keeps jest fast. ts-jest is pure
  // JavaScript, so `npm ci` needs no platform binaries the registry may lack (as @swc/core's do).
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'],
  // The real-cluster tests boot daemons; give them room without slowing the unit tests.
  testTimeout: 30000,
};
