import type { Metrics } from '../core/metrics.js'
import type { Sql } from '../core/sql.js'
import { logHead } from '../storage/event-log.js'
import type { Progressing } from './follower.js'
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

/**
 * How many positions a projection is behind the log's head: none once it has applied the head or
 * read past its transaction (a projection of rare types keeps its checkpoint at the last event it
 * applied, however many events of other types follow); else the positions after its checkpoint.
 */
function behind(progress: Progressing, head: { position: string; txId: string | undefined }): number {
  if (progress.hasApplied(head.position, head.txId)) return 0
  return Math.max(0, Number(head.position) - Number(progress.checkpoint.position))
}

/** Where each placed projection stands against the log's head. */
export async function projectionStatus(source: Sql, placements: Placements): Promise<ProjectionStatus[]> {
  const head = await logHead(source)
  return placements.all().map(({ projection, progress, runner, rebuilding }) => ({
    name: projection.name,
    store: projection.store,
    version: projection.version,
    generation: progress.generation,
    position: progress.checkpoint.position,
    caughtUp: progress.caughtUp,
    behind: behind(progress, head),
    appliedHere: runner !== undefined,
    ...(rebuilding
      ? { rebuilding: { generation: rebuilding.generation, position: rebuilding.checkpoint.position } }
      : {}),
  }))
}

/** Sets each placed projection's lag gauge (`behind`, above) once a second, until stopped. */
export function measureLag(source: Sql, placements: Placements, metrics: Metrics): { stop(): void } {
  const timer = setInterval(() => {
    logHead(source).then(
      (head) => {
        for (const { projection, progress } of placements.all()) {
          metrics.projectionBehind(projection.name, behind(progress, head))
        }
      },
      // The database is away; the runners report it.
      () => undefined,
    )
  }, 1000)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
