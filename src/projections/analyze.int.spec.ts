import { afterAll, describe, expect, it } from 'vitest'
import type { EventMetadata, StoredEvent } from '../core/envelope.js'
import { allEvents } from '../domains/events/messages.js'
import type { Checkpoint } from '../storage/event-log.js'
import { origin } from '../storage/event-log.js'
import { specStores } from '../testing/kit/stores.js'
import { modes } from '../testing/services.js'
import { defineSqlProjection } from './projection.js'
import { sqlTableName, sqlTarget } from './targets.js'

/** One row per event. */
const notes = defineSqlProjection({
  domain: 'events',
  name: 'notes',
  version: 1,
  events: allEvents,
  tables: ['notes'],
  setup: (t) => `CREATE TABLE IF NOT EXISTS ${t('notes')} (position bigint PRIMARY KEY)`,
  tags: () => [],
  async apply(event, tx, t) {
    tx.write({ text: `INSERT INTO ${t('notes')} (position) VALUES ($1::bigint)`, params: [event.position] })
  },
})

describe.each(modes)('a SQL read model’s statistics (%s)', (mode) => {
  const stores = specStores(mode)
  afterAll(() => stores.close())

  it('are gathered as it grows: once it has the first events, then each time it has doubled', async () => {
    const sql = await stores.sql()
    const target = sqlTarget(sql, notes, 1, 3)
    await target.setup()
    // What PostgreSQL believes the table holds: -1 until it is first analyzed (or vacuumed).
    const believed = async () => {
      const [row] = await sql.query<{ n: number }>(
        'SELECT reltuples::float8 AS n FROM pg_class WHERE oid = $1::regclass',
        [sqlTableName('notes', 1, 'notes')],
      )
      return row?.n
    }
    let at: Checkpoint = origin
    let position = 0
    const apply = async (count: number) => {
      const events = Array.from({ length: count }, (): StoredEvent => ({
        position: String(++position),
        txId: String(position),
        streamId: 'note',
        version: position,
        type: 'EventCreated',
        data: {},
        metadata: {} as EventMetadata,
        recordedAt: new Date(),
      }))
      const to = { txId: String(position), position: String(position) }
      expect(await target.apply(events, at, to)).toBeDefined()
      at = to
      return believed()
    }
    expect(await apply(2)).toBe(-1)
    expect(await apply(1)).toBe(3)
    expect(await apply(2)).toBe(3)
    expect(await apply(1)).toBe(6)
    expect(await apply(5)).toBe(6)
    expect(await apply(1)).toBe(12)
  })
})
