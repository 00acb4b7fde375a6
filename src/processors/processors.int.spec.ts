import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import Type from 'typebox'
import { silentLogger } from '../core/logger.js'
import { defineEvent } from '../core/messages.js'
import { appendStatement } from '../storage/event-log.js'
import { createMetrics } from '../core/metrics.js'
import { localWake } from '../transport/wake.js'
import { logSettled, startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { localClaims } from '../storage/claims.js'
import { createProcessorManager } from './manager.js'
import { defineProcessor, type Processor } from './processor.js'
import {
  handled,
  notices,
  notified,
  OrderPlaced,
  ordersDomain,
  place,
  plans,
  sendNotice,
  until,
} from './testing/orders.js'

describe.each(modes)('processors (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [ordersDomain], pollMs: 50 })
  })
  afterAll(async () => t.dispose())

  const id = (name: string) => `${mode}-${name}`
  const status = async () => {
    const found = (await t.processors.status()).find((p) => p.name === 'orders/notifier')
    if (!found) throw new Error('orders/notifier is not reported')
    return found
  }

  /** A manager of its own (a process of its own, as far as the processors know), polling every 20 ms. */
  async function startManager(processors: readonly Processor[], persistAfter?: number) {
    const manager = createProcessorManager({
      ...(persistAfter === undefined ? {} : { persistAfter }),
      processors,
      sql: t.sql,
      commands: t.commands,
      wake: localWake(),
      claims: localClaims(),
      metrics: createMetrics(),
      log: silentLogger,
      run: true,
      pollMs: 20,
    })
    await manager.start()
    return manager
  }

  it('reacts once to each event, as its own caller, in the event’s correlation', async () => {
    const orders = [id('a1'), id('a2'), id('a3')]
    for (const order of orders) await place(t, order)
    for (const order of orders) await notified(t, order)
    for (const order of orders) {
      expect(await notices(t, order)).toEqual({ placed: 1, followup: 1 })
      expect(handled.get(order)).toBe(1)
    }
    const [placed] = await t.sql.query<{ correlation: string }>(
      `SELECT metadata->>'correlationId' AS correlation FROM tandem.event_log
       WHERE type = 'OrderPlaced' AND data->>'orderId' = $1`,
      [orders[0]],
    )
    const sent = await t.sql.query<{ user_id: string; correlation: string }>(
      `SELECT metadata->>'userId' AS user_id, metadata->>'correlationId' AS correlation
       FROM tandem.event_log WHERE type = 'NoticeSent' AND data->>'orderId' = $1`,
      [orders[0]],
    )
    expect(sent).toEqual([
      { user_id: 'processor:orders/notifier', correlation: placed?.correlation },
      { user_id: 'processor:orders/notifier', correlation: placed?.correlation },
    ])
  })

  it('acts no more when a batch is delivered again (its checkpoint reset)', async () => {
    const orders = [id('b1'), id('b2')]
    for (const order of orders) await place(t, order)
    for (const order of orders) await notified(t, order)
    await t.processors.stop()
    await t.sql.query(
      `UPDATE tandem.processor_checkpoints SET tx_id = '0', position = 0 WHERE processor = 'orders/notifier'`,
    )
    const [placed] = await t.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM tandem.event_log WHERE type = 'OrderPlaced'`,
    )
    expect((await status()).behind).toBe(placed?.n)
    await t.processors.start()
    await until(() => orders.every((order) => handled.get(order) === 2))
    await until(async () => (await status()).behind === 0)
    for (const order of orders) expect(await notices(t, order)).toEqual({ placed: 1, followup: 1 })
  })

  it('acts once in effect when the process stops mid-event and starts again', async () => {
    const order = id('crash')
    let sentFirst: () => void = () => undefined
    const first = new Promise<void>((resolve) => (sentFirst = resolve))
    plans.set(order, { crash: () => sentFirst() })
    await place(t, order)
    await first
    expect(await notices(t, order)).toEqual({ placed: 1 })
    // The handling in progress is cut short: its checkpoint is not stored.
    await t.processors.stop()
    await t.processors.start()
    await notified(t, order)
    expect(handled.get(order)).toBe(2)
    expect(await notices(t, order)).toEqual({ placed: 1, followup: 1 })
  })

  it('acts once in effect when two runners without claims handle the same events at once', async () => {
    const orders = Array.from({ length: 12 }, (_, i) => id(`race-${i}`))
    for (const order of orders) await place(t, order)
    let handlings = 0
    const racer = defineProcessor({
      domain: 'orders',
      name: 'racer',
      version: 1,
      events: [OrderPlaced],
      startFrom: 'beginning',
      retry: { attempts: 10, backoffMs: 5 },
      async handle(event, ctx) {
        if (!orders.includes(event.data.orderId)) return
        handlings++
        await ctx.send(sendNotice, { orderId: event.data.orderId, kind: 'raced' })
      },
    })
    const managers = await Promise.all([startManager([racer]), startManager([racer])])
    try {
      await until(async () => (await Promise.all(orders.map((o) => notices(t, o)))).every((n) => n.raced))
      await until(() => handlings >= 2 * orders.length)
    } finally {
      await Promise.all(managers.map((m) => m.stop()))
    }
    for (const order of orders) expect((await notices(t, order)).raced).toBe(1)
  })

  it('waits for a store that cannot be reached, however many attempts that takes, and parks nothing', async () => {
    const order = id('outage')
    await place(t, order)
    let refusals = 0
    const patient = defineProcessor({
      domain: 'orders',
      name: 'patient',
      version: 1,
      events: [OrderPlaced],
      startFrom: 'beginning',
      // Two attempts for a failure of its own: the database restarting refuses more times than that.
      retry: { attempts: 2, backoffMs: 5 },
      async handle(event, ctx) {
        if (event.data.orderId !== order) return
        if (refusals < 3) {
          refusals++
          throw Object.assign(new Error('the database system is starting up'), { code: '57P03' })
        }
        await ctx.send(sendNotice, { orderId: order, kind: 'patient' })
      },
    })
    const manager = await startManager([patient])
    try {
      await until(async () => (await notices(t, order)).patient === 1)
      expect(refusals).toBe(3)
      expect((await manager.status()).find((p) => p.name === 'orders/patient')?.deadLetters).toBe(0)
    } finally {
      await manager.stop()
    }
  })

  it('hands each batch to prefetch before its events are handled, and handles them without it when it fails', async () => {
    const orders = Array.from({ length: 6 }, (_, i) => id(`prefetch-${i}`))
    for (const order of orders) await place(t, order)
    const ready = new Set<string>()
    const seen: { orderId: string; ready: boolean }[] = []
    let failing = false
    const reader = (name: string) =>
      defineProcessor({
        domain: 'orders',
        name,
        version: 1,
        events: [OrderPlaced],
        startFrom: 'beginning',
        async prefetch(events, read) {
          if (failing) throw new Error('prefetch failed (injected)')
          await read.query('SELECT 1')
          for (const event of events) ready.add(event.data.orderId)
        },
        handle(event) {
          const { orderId } = event.data
          if (orders.includes(orderId)) seen.push({ orderId, ready: ready.has(orderId) })
          return Promise.resolve()
        },
      })
    /** Runs a fresh processor of that name over the orders: what each handling found prefetched. */
    const handleAll = async (name: string) => {
      seen.length = 0
      ready.clear()
      const manager = await startManager([reader(name)])
      try {
        await until(() => Promise.resolve(seen.length >= orders.length))
      } finally {
        await manager.stop()
      }
      return [...seen]
    }
    expect(await handleAll('prefetching')).toEqual(orders.map((orderId) => ({ orderId, ready: true })))
    failing = true
    expect(await handleAll('prefetch-failing')).toEqual(orders.map((orderId) => ({ orderId, ready: false })))
  })

  it('handles `concurrency` events of a batch at once, and moves its checkpoint past them all', async () => {
    const orders = Array.from({ length: 4 }, (_, i) => id(`together-${i}`))
    // Pairs are taken in log order from its start: after an odd number of earlier orders (the other
    // specs'), the first of these would be paired with another order and wait alone.
    const [earlier] = await t.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tandem.event_log WHERE type = 'OrderPlaced'",
    )
    if ((earlier?.n ?? 0) % 2 === 1) await place(t, id('together-even'))
    for (const order of orders) await place(t, order)
    // All four read in one batch: a transaction of another file running meanwhile held the reader
    // below the second, and the first waited for a second that could not begin until it ended.
    await logSettled(t.sql)
    // Each handling of these orders waits until a second one has begun: one at a time, none ends.
    let begun = 0
    let second!: () => void
    const both = new Promise<void>((resolve) => (second = resolve))
    const done: string[] = []
    const together = defineProcessor({
      domain: 'orders',
      name: 'together',
      version: 1,
      events: [OrderPlaced],
      startFrom: 'beginning',
      concurrency: 2,
      async handle(event) {
        const { orderId } = event.data
        if (!orders.includes(orderId)) return
        if (++begun === 2) second()
        // Bounded, so that a handling left alone fails the spec instead of holding the manager's stop.
        const alone = await Promise.race([
          both.then(() => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20_000).unref()),
        ])
        done.push(alone ? `${orderId} alone` : orderId)
      },
    })
    const manager = await startManager([together])
    try {
      await until(() => Promise.resolve(done.length === orders.length))
      const checkpoint = async () =>
        (await manager.status()).find((p) => p.name === 'orders/together')?.position
      const [last] = await t.sql.query<{ position: string }>(
        "SELECT max(position)::text AS position FROM tandem.event_log WHERE type = 'OrderPlaced'",
      )
      await until(async () => (await checkpoint()) === last?.position)
    } finally {
      await manager.stop()
    }
    expect(done.toSorted()).toEqual(orders.toSorted())
  })

  it('moves the checkpoint of a processor whose events do not come once the log is far past it, and still handles them when they do', async () => {
    const Audited = defineEvent('OrderAudited', Type.Object({ orderId: Type.String() }))
    const seen: string[] = []
    const auditor = defineProcessor({
      domain: 'orders',
      name: `auditor-${mode}`,
      version: 1,
      events: [Audited],
      startFrom: 'beginning',
      async handle(event) {
        seen.push(event.data.orderId)
      },
    })
    const checkpoint = async () => {
      const [row] = await t.sql.query<{ position: string }>(
        'SELECT position::text FROM tandem.processor_checkpoints WHERE processor = $1',
        [`orders/auditor-${mode}`],
      )
      return row?.position
    }
    for (let i = 0; i < 6; i++) await place(t, id(`quiet-${i}`))
    // Nearer than its bound, the checkpoint stays at the log's start.
    let manager = await startManager([auditor], 1_000_000)
    await until(async () => (await checkpoint()) !== undefined)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await checkpoint()).toBe('0')
    await manager.stop()
    // Past it, the checkpoint moves on to the log's last event below the horizon.
    manager = await startManager([auditor], 5)
    await until(async () => BigInt((await checkpoint()) ?? '0') > 0n)
    await manager.stop()
    expect(seen).toEqual([])
    const orderId = id('audited')
    await t.sql.transaction(async (tx) => {
      await tx.commit([
        appendStatement(
          { id: `audit-${orderId}`, expectedVersion: 0 },
          [{ type: Audited.type, data: { orderId } }],
          {
            commandId: randomUUID(),
            correlationId: randomUUID(),
            command: 'test/audit',
          },
        ),
      ])
    })
    manager = await startManager([auditor], 5)
    await until(() => seen.length > 0)
    await manager.stop()
    expect(seen).toEqual([orderId])
  })

  it('starts from now when it says so, and from its checkpoint once it has one', async () => {
    const before = id('history')
    await place(t, before)
    // `now` is bounded by the oldest transaction still running (processor.ts): history is what
    // committed before every transaction then running had ended (projections here, other files).
    await logSettled(t.sql)
    const seen = { now: [] as string[], beginning: [] as string[] }
    const watcher = (startFrom: 'now' | 'beginning') =>
      defineProcessor({
        domain: 'orders',
        name: `watch-${startFrom}`,
        version: 1,
        events: [OrderPlaced],
        startFrom,
        async handle(event) {
          seen[startFrom].push(event.data.orderId)
        },
      })
    const processors = [watcher('now'), watcher('beginning')]
    let manager = await startManager(processors)
    const after = id('fresh')
    await place(t, after)
    await until(() => seen.now.includes(after) && seen.beginning.includes(after))
    expect(seen.now).toEqual([after])
    expect(seen.beginning).toContain(before)

    await manager.stop()
    const whileStopped = id('while-stopped')
    await place(t, whileStopped)
    manager = await startManager(processors)
    await until(() => seen.now.includes(whileStopped))
    await manager.stop()
    expect(seen.now).toEqual([after, whileStopped])
  })
})
