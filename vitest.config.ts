import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault-injection suite runs on its own: npm run test:faults (vitest.faults.config.ts).
    exclude: ['dist/**', 'node_modules/**', 'test/faults/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // End-to-end files each run a real daemon and central system; two workers fit the 2-core board.
    pool: 'forks',
    maxWorkers: 2,
  },
});
