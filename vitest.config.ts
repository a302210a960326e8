import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Pseudo-terminal, server and browser tests share a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
  },
});
