import { defineConfig } from 'vitest/config';

/**
 * Three projects: `unit` (no I/O beyond loopback simulators), and the integration suite twice —
 * once on the embedded database (always) and once on the PostgreSQL server (skipped, and said so,
 * when none answers at ROSTER_TEST_DATABASE_URL / 127.0.0.1:5432).
 */
export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'connectors/**/*.test.ts'] },
      },
      {
        extends: true,
        test: { name: 'embedded', include: ['test/integration/**/*.test.ts'], env: { ROSTER_TEST_DB: 'embedded' } },
      },
      {
        extends: true,
        test: { name: 'server', include: ['test/integration/**/*.test.ts'], env: { ROSTER_TEST_DB: 'server' } },
      },
    ],
  },
});
