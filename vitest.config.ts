import { relative } from 'node:path'
import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { defineConfig } from 'vitest/config'

/**
 * The files that took longest (`npm test` with a clean cache, three workers, 2026-12-07: 59, 38,
 * 29, 24, 22, 22, 16, 14, 13 and 10 s), started first so that the workers finish together. Vitest
 * orders files by the durations it cached on an earlier run, and a clean clone has none: by size,
 * these small files came last, and the server smoke run went on alone for 19 s at the end.
 */
const longest = [
  'bench/server.smoke.spec.ts',
  'src/app/roles.int.spec.ts',
  'bench/embedded.smoke.spec.ts',
  'src/http/live.e2e.spec.ts',
  'src/http/hostile-fields.e2e.spec.ts',
  'src/domains/feed/feed.property.int.spec.ts',
  'src/http/connection.e2e.spec.ts',
  'src/cli/banner.e2e.spec.ts',
  'src/domains/cards/anomaly/latency.int.spec.ts',
  'src/cli/errors.e2e.spec.ts',
]

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const at = longest.indexOf(relative(file.project.config.root, file.moduleId))
      return at < 0 ? longest.length : at
    }
    // Within each project, in the order Vitest gives the projects; Array.prototype.sort is stable.
    const sorted = await super.sort(files)
    const projects = [...new Set(sorted.map((f) => f.project.name))]
    return projects.flatMap((name) =>
      sorted.filter((f) => f.project.name === name).sort((a, b) => rank(a) - rank(b)),
    )
  }
}

export default defineConfig({
  test: {
    // Three files at a time on two cores: many specs wait (on PostgreSQL, on timers, on a child
    // process), and with two a core stood idle a quarter of the time (`npm test` with a clean cache,
    // 2026-12-07: 216 s with two, 166 and 191 s with three, 176 s with four). Each worker process is reused from file to file:
    // importing the application afresh for each of ~100 files cost more than a third of the suite's
    // time. No spec keeps state in a module: each builds its own Tandem, stores and servers, and
    // closes them.
    maxWorkers: 3,
    isolate: false,
    sequence: { sequencer: LongestFirst },
    projects: [
      // Vitest's 5 s by default: the slowest unit tests (a property run, a long summary) take a
      // second or more beside two other files, too near it on a machine three times slower.
      { extends: true, test: { name: 'unit', include: ['src/**/*.unit.spec.ts'], testTimeout: 20_000 } },
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
