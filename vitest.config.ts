import { defineConfig } from 'vitest/config';
import { swiftshaderEnv } from './bin/webgpu-env.js';

// The forked test workers inherit this environment: Dawn finds SwiftShader's Vulkan on a GPU-less machine.
Object.assign(process.env, swiftshaderEnv() ?? {});

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    pool: 'forks',
    // The scheduler's heap test calls gc() to measure what stays reachable.
    execArgv: ['--expose-gc'],
  },
});
