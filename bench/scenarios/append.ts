import { randomUUID } from 'node:crypto'
import { createCommandBus } from '../../src/core/command-bus.js'
import type { Caller } from '../../src/core/messages.js'
import { createMetrics } from '../../src/core/metrics.js'
import { authorize, logCalls, measure, validate } from '../../src/core/middleware.js'
import { createRegistry } from '../../src/core/registry.js'
import { idempotency } from '../../src/storage/idempotency.js'
import { migrate } from '../../src/storage/migrations.js'
import { writeMigrations } from '../../src/storage/schema.js'
import { createUnitOfWork } from '../../src/storage/unit-of-work.js'
import {
  appendCommand,
  appendOne,
  callOf,
  countByKind,
  eventData,
  openBare,
  openTandemSql,
} from '../lib/append-sides.js'
import { withCpu } from '../lib/cpu.js'
import type { Check, Measurement } from '../lib/results.js'
import { runWriters, stints } from '../lib/writers.js'
import { describeMeasurement, inPercent, noErrors, ratio, type Scenario } from './scenario.js'

/**
 * Scenario 4: appending one event, 64 concurrent writers, each append its own transaction.
 * Bare: a single-row INSERT with pg into a table made from the event log's own DDL (same columns,
 * defaults and indexes), in a database of its own. Tandem: the same event through createUnitOfWork
 * (the target), then through the command bus with all its middleware (for information).
 */
export const appendScenario: Scenario = {
  name: 'append',
  title: 'Event append alone: Tandem vs a bare INSERT',
  async run(ctx, mode) {
    const writers = ctx.scale(64, 4)
    const versions = {
      bare: new Array<number>(writers).fill(0),
      uow: new Array<number>(writers).fill(0),
      bus: new Array<number>(writers).fill(0),
    }
    const { warm, measured } = stints(ctx.span)
    const timed = async (label: string, kind: Measurement['kind'], op: (writer: number) => Promise<void>) => {
      const load = { label, kind, writers, op }
      await runWriters({ ...load, stint: warm })
      const [m, cpu] = await withCpu(undefined, () => runWriters({ ...load, stint: measured }))
      ctx.log(describeMeasurement({ ...m, cpu }))
      return { ...m, cpu }
    }

    const bareDb = await openBare(ctx.postgresUrl, mode, writers)
    let bare: Measurement
    let bareRows: number
    try {
      const driver = mode === 'server' ? 'pg' : 'PGlite'
      bare = await timed(`bare INSERT (${driver}, autocommit)`, 'baseline', (w) => {
        const v = next(versions.bare, w)
        const commandId = randomUUID()
        const meta = { commandId, correlationId: commandId, command: 'bench/append', userId: `writer-${w}` }
        return bareDb.insert([
          `bare-${w}`,
          v,
          'BenchAppended',
          JSON.stringify(eventData(w)),
          JSON.stringify(meta),
        ])
      })
      bareRows = await bareDb.count()
    } finally {
      await bareDb.close()
    }

    const { sql, drop } = await openTandemSql(ctx.postgresUrl, mode, writers)
    try {
      await migrate(sql, writeMigrations)
      const uow = createUnitOfWork({ sql })
      const unitOfWork = await timed('Tandem unit of work (createUnitOfWork)', 'tandem', async (w) => {
        const v = next(versions.uow, w)
        const executed = await uow.run(callOf(w), (tx) => appendOne(tx, `uow-${w}`, v, w))
        if (!executed.position) throw new Error('The unit of work returned no position')
      })
      const bus = createCommandBus({
        registry: createRegistry({ commands: [appendCommand], queries: [] }),
        unitOfWork: uow,
        middleware: [logCalls(), measure(createMetrics()), authorize(), validate()],
        transactional: [idempotency()],
      })
      const viaBus = await timed('Tandem command bus (trivial command)', 'tandem', async (w) => {
        const v = next(versions.bus, w)
        const caller: Caller = { id: `writer-${w}`, roles: [] }
        const done = await bus.execute(appendCommand, { stream: `bus-${w}`, version: v }, { caller })
        if (done.status === 'failed') throw done.error
      })
      const share = ratio(unitOfWork.throughput, bare.throughput)
      const counts = await countByKind(sql)
      const measurements = [bare, unitOfWork, viaBus]
      return {
        stores:
          mode === 'server'
            ? 'PostgreSQL (two scratch databases), no Redis'
            : 'in-memory PGlite (two instances)',
        measurements,
        targets: [
          {
            name: 'unit of work vs bare INSERT (same run)',
            reference: 60,
            unit: '%',
            better: 'higher',
            relative: true,
            actual: inPercent(share),
            detail: `${unitOfWork.throughput} vs ${bare.throughput} appends/s`,
            applies: mode === 'server',
          },
        ],
        checks: [
          noErrors(measurements),
          rowsMatch('bare rows = appends', bareRows, sum(versions.bare)),
          rowsMatch('unit-of-work events = appends', counts.uow, sum(versions.uow)),
          rowsMatch('command-bus events = appends', counts.bus, sum(versions.bus)),
        ],
        figures: {
          writers,
          uowShareOfBare: share,
          busShareOfBare: ratio(viaBus.throughput, bare.throughput),
        },
        notes: [
          `${writers} writers, each appending one event per transaction to its own stream (next version), ` +
            "warm-up first. Same payload (a registration-sized event, Tandem's metadata shape) on both sides.",
          mode === 'server'
            ? `Bare: pg.Pool (max ${writers}) query with the INSERT ... RETURNING position, unnamed statement, autocommit, ` +
              `in its own scratch database. Tandem: createPostgres (pipelined, named statements, pool ${writers}) + ` +
              'createUnitOfWork: BEGIN, the INSERT and COMMIT; no projections running.'
            : 'Embedded: bare INSERT on its own in-memory PGlite; Tandem on another (createPglite + createUnitOfWork). ' +
              'Recorded only: the target is set for PostgreSQL.',
          "Command bus row: the same append as a trivial command through createCommandBus with Tandem's middleware " +
            '(logging, metrics, auth, validation, idempotency): information only, not the target.',
        ],
      }
    } finally {
      await sql.close()
      await drop()
    }
  },
}

const sum = (list: readonly number[]) => list.reduce((a, b) => a + b, 0)

/** The next version of writer `w`'s stream. */
function next(versions: number[], w: number): number {
  const v = (versions[w] ?? 0) + 1
  versions[w] = v
  return v
}

function rowsMatch(name: string, rows: number, attempted: number): Check {
  return { name, pass: rows === attempted, detail: `${rows} rows, ${attempted} appends attempted` }
}
