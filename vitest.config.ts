import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (main) and ESM (module) builds. Node loads the CJS one for
    // graphql-yoga; Vite would hand our sources the ESM one, and a GraphQLError from one
    // copy is not an instance of the other (so typed errors got masked). One copy for all.
    alias: { graphql: require.resolve('graphql/index.js') },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: a test's waits end as soon as their condition holds (test/helpers/wait.ts
    // PATIENCE); the ceiling only matters on a loaded machine, where 30 s failed correct runs.
    testTimeout: 90_000,
    hookTimeout: 90_000,
    // Pseudo-terminal, server and browser tests share a 2-core machine: keep parallelism modest.
    maxWorkers: 2,
  },
});
