import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // End-to-end files each run a real daemon and central system; two workers fit the 2-core board.
    pool: 'forks',
    maxWorkers: 2,
  },
});
