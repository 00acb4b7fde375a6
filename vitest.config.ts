import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Two files at a time (the machines this runs on have two cores), each worker process reused
    // from file to file: importing the application afresh for each of ~100 files cost more than a
    // third of the suite's time. No spec keeps state in a module: each builds its own Tandem, stores
    // and servers, and closes them.
    maxWorkers: 2,
    isolate: false,
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
