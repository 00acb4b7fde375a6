import { afterAll, describe, expect, it } from 'vitest'
import { migrationsOf } from '../app/tandem.js'
import { postgresUrl, servicesAvailable } from '../testing/services.js'
import type { Migration } from './migrations.js'
import { createScratchDatabase, templateName, withClient } from './scratch-database.js'

describe.skipIf(!servicesAvailable)('scratch databases copied from a migrated template', () => {
  const dropped: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const drop of dropped) await drop()
  })

  it('start with every migration applied, each with an event log identity and data of its own', async () => {
    const { write, read } = migrationsOf()
    const migrations = [...write, ...read]
    const copies = await Promise.all(
      [1, 2, 3].map(() => createScratchDatabase(postgresUrl, 'tpl', { migrations })),
    )
    dropped.push(...copies.map((c) => () => c.drop()))
    const seen = await Promise.all(
      copies.map((copy, n) =>
        withClient(copy.url, async (client) => {
          const applied = await client.query<{ id: string }>('SELECT id FROM tandem.migrations ORDER BY id')
          const [identity] = (await client.query<{ id: string }>('SELECT id::text FROM tandem.log_identity'))
            .rows
          await client.query(
            `INSERT INTO tandem.event_log (stream_id, stream_version, type, data, metadata)
             VALUES ($1, 1, 'Probed', '{}', '{}')`,
            [`probe-${n}`],
          )
          return { applied: applied.rows.map((r) => r.id), identity: identity?.id }
        }),
      ),
    )
    for (const s of seen) expect(s.applied).toEqual(migrations.map((m) => m.id).sort())
    expect(new Set(seen.map((s) => s.identity)).size).toBe(3)
    const streams = await Promise.all(
      copies.map((copy) =>
        withClient(
          copy.url,
          async (c) => (await c.query<{ stream_id: string }>('SELECT stream_id FROM tandem.event_log')).rows,
        ),
      ),
    )
    expect(streams).toEqual([
      [{ stream_id: 'probe-0' }],
      [{ stream_id: 'probe-1' }],
      [{ stream_id: 'probe-2' }],
    ])
  })

  it('is made once when many copies of a new set of migrations are asked for at once, and again after it is dropped', async () => {
    // A set no other test uses, slow to apply: the copies race for the template while it is made.
    const migrations: Migration[] = [
      { id: `probe/${Date.now()}-${process.pid}`, sql: 'CREATE TABLE probe (n int); SELECT pg_sleep(0.3)' },
    ]
    const template = templateName(migrations)
    const dropTemplate = () =>
      withClient(postgresUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${template}`).then(() => undefined))
    dropped.push(dropTemplate)
    const round = async () => {
      const copies = await Promise.all(
        Array.from({ length: 6 }, () => createScratchDatabase(postgresUrl, 'tpl', { migrations })),
      )
      dropped.push(...copies.map((c) => () => c.drop()))
      return Promise.all(
        copies.map((copy) =>
          withClient(copy.url, async (c) => ({
            applied: (await c.query('SELECT id FROM tandem.migrations')).rows,
            probe: (await c.query("SELECT to_regclass('probe')::text AS t")).rows,
          })),
        ),
      )
    }
    const whole = { applied: [{ id: migrations[0]?.id }], probe: [{ t: 'probe' }] }
    expect(await round()).toEqual(Array(6).fill(whole))
    const builds = await withClient(
      postgresUrl,
      async (c) =>
        (
          await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
            `${template}%`,
          ])
        ).rows,
    )
    expect(builds).toEqual([{ datname: template }])
    await dropTemplate()
    expect(await round()).toEqual(Array(6).fill(whole))
  })
})
