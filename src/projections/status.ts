import type { Metrics } from '../core/metrics.js'
import type { Sql } from '../core/sql.js'
import { headPosition } from '../storage/event-log.js'
import type { Placements } from './placements.js'

export interface ProjectionStatus {
  name: string
  store: 'kv' | 'sql'
  version: number
  generation: number
  position: string
  caughtUp: boolean
  behind: number
  /** Applied by this process (false: applied by a projector process this one follows). */
  appliedHere: boolean
  rebuilding?: { generation: number; position: string }
}

/** Where each placed projection stands against the log's head. */
export async function projectionStatus(source: Sql, placements: Placements): Promise<ProjectionStatus[]> {
  const head = await headPosition(source)
  return placements.all().map(({ projection, progress, runner, rebuilding }) => ({
    name: projection.name,
    store: projection.store,
    version: projection.version,
    generation: progress.generation,
    position: progress.checkpoint.position,
    caughtUp: progress.caughtUp,
    behind: Math.max(0, Number(head) - Number(progress.checkpoint.position)),
    appliedHere: runner !== undefined,
    ...(rebuilding
      ? { rebuilding: { generation: rebuilding.generation, position: rebuilding.checkpoint.position } }
      : {}),
  }))
}

/** Sets each placed projection's lag gauge (events behind the head) once a second, until stopped. */
export function measureLag(source: Sql, placements: Placements, metrics: Metrics): { stop(): void } {
  const timer = setInterval(() => {
    headPosition(source).then(
      (text) => {
        const head = Number(text)
        for (const { projection, progress } of placements.all()) {
          metrics.projectionBehind(projection.name, Math.max(0, head - Number(progress.checkpoint.position)))
        }
      },
      // The database is away; the runners report it.
      () => undefined,
    )
  }, 1000)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
