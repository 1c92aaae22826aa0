import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // The scheduler's heap test calls gc() to measure what stays reachable.
    execArgv: ['--expose-gc'],
  },
});
