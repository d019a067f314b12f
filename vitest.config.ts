import { defineConfig } from 'vitest/config';

// End-to-end tests start real daemons and real workers; on a busy 2-core machine they need
// room, so files run in parallel only up to two at a time and every wait inside is bounded.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
