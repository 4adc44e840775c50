import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // The Node.js platform for tests that import src/ modules without src/index.ts.
  setupFiles: ['<rootDir>/test/setup/node_platform.ts'],
  testTimeout: 60_000,
};

export default config;
