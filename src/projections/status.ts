import type { Metrics } from '../core/metrics.js'
import type { Sql } from '../core/sql.js'
import { logHead } from '../storage/event-log.js'
import type { Progressing } from './follower.js'
import type { Placements } from './placements.js'
import { rebuildBegun } from './rebuild.js'

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

type Head = Awaited<ReturnType<typeof logHead>>

/**
 * How many positions each projection is behind the log's head: none once it has applied the log's
 * last event or read past its transaction; else the positions after the last it is known to have passed, its
 * checkpoint or the last event below its horizon, whichever is further. A projection of rare types
 * keeps its checkpoint at the last event it applied, however many events of other types follow, and
 * its horizon says how far it has read past them (with its projector stopped: up to its last report).
 */
function lags(source: Sql, head: Head): (progress: Progressing) => Promise<number> {
  // Projections read together share a horizon: one lookup each.
  const passed = new Map<string, Promise<bigint>>()
  return async (progress) => {
    // Past the last event in the order the log is read (not the highest position): every event.
    if (!head.last || progress.hasApplied(head.last.position, head.last.txId)) return 0
    let below = passed.get(progress.horizon)
    if (below === undefined)
      passed.set(progress.horizon, (below = lastPositionBelow(source, progress.horizon)))
    const known = BigInt(progress.checkpoint.position)
    const from = (await below) > known ? await below : known
    return Math.max(0, Number(BigInt(head.position) - from))
  }
}

/** The position of the last event, in log order, of the transactions below `horizon` (0: none). */
async function lastPositionBelow(source: Sql, horizon: string): Promise<bigint> {
  if (horizon === '0') return 0n
  const [row] = await source.query<{ position: string }>(
    `SELECT position::text AS position FROM tandem.event_log WHERE tx_id < $1::xid8
     ORDER BY tx_id DESC, position DESC LIMIT 1`,
    [horizon],
  )
  return BigInt(row?.position ?? '0')
}

/** Where each placed projection stands against the log's head. */
export async function projectionStatus(source: Sql, placements: Placements): Promise<ProjectionStatus[]> {
  const behind = lags(source, await logHead(source))
  return Promise.all(
    placements.all().map(async (entry) => {
      const { projection, progress, runner, rebuilding } = entry
      return {
        name: projection.name,
        store: projection.store,
        version: projection.version,
        generation: progress.generation,
        position: progress.checkpoint.position,
        caughtUp: progress.caughtUp,
        behind: await behind(progress),
        appliedHere: runner !== undefined,
        // Begun, its new generation's store still being emptied and set up: at the log's start.
        ...(rebuilding
          ? { rebuilding: { generation: rebuilding.generation, position: rebuilding.checkpoint.position } }
          : rebuildBegun(entry)
            ? { rebuilding: { generation: progress.generation + 1, position: '0' } }
            : {}),
      }
    }),
  )
}

/** Sets each placed projection's lag gauge (`behind`, above) once a second, until stopped. */
export function measureLag(source: Sql, placements: Placements, metrics: Metrics): { stop(): void } {
  const timer = setInterval(() => {
    logHead(source)
      .then(async (head) => {
        const behind = lags(source, head)
        for (const { projection, progress } of placements.all())
          metrics.projectionBehind(projection.name, await behind(progress))
      })
      // The database is away; the runners report it.
      .catch(() => undefined)
  }, 1000)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
