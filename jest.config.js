/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  setupFilesAfterEnv: ['<rootDir>/__tests__/setup.ts'],
  // The real-cluster tests boot daemons; give them room without slowing the unit tests.
  testTimeout: 30000,
};
