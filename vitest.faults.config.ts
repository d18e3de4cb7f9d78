import { defineConfig } from 'vitest/config';

/**
 * The fault-injection suite (`npm run test:faults`): long runs against the real runtime, kept out
 * of `npm test`. Sizes are set by environment variables documented in the README.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
