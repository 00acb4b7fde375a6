import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Two files at a time on any machine: vitest's default (CPUs - 1) is one on a 2-core machine,
    // where the integration files mostly wait on PostgreSQL, Redis and their servers (356 s serial,
    // 227 s with two, same tests, here). No test depends on speed.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.unit.spec.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['src/**/*.int.spec.ts', 'src/**/*.e2e.spec.ts', 'bench/**/*.spec.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
