import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildServer } from '../http/server.js'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { handled, notices, notified, ordersDomain, outcomes, place, plans, until } from './testing/orders.js'

const admin = { id: 'admin', roles: ['admin'] }

describe.each(modes)('processor failures (%s)', (mode) => {
  let t: TestTandem
  let app: FastifyInstance
  beforeAll(async () => {
    t = await startTestTandem(mode, { domains: [ordersDomain], pollMs: 50 })
    app = await buildServer(t)
  })
  afterAll(async () => {
    await app.close()
    await t.dispose()
  })

  const id = (name: string) => `${mode}-${name}`
  const notifier = async () => (await t.processors.status()).find((p) => p.name === 'orders/notifier')
  const stats = async () => {
    const response = await app.inject({ method: 'GET', url: '/api/cqrs/stats' })
    const body = response.json<{
      processors: { name: string; deadLetters: number; runningHere: boolean }[]
    }>()
    return body.processors.find((p) => p.name === 'orders/notifier')
  }
  const deadLetterGauge = async () =>
    /tandem_processor_dead_letters\{processor="orders\/notifier"\} (\d+)/.exec(
      await t.metrics.registry.metrics(),
    )?.[1]
  const retry = (caller = admin) =>
    app.inject({
      method: 'POST',
      url: '/api/cqrs/processors/orders/notifier/retry',
      headers: { authorization: `Bearer ${t.token(caller)}` },
    })

  it('tries a failing event again, with backoff, and acts once when it gets through', async () => {
    const order = id('flaky')
    plans.set(order, { failures: 2 })
    await place(t, order)
    await notified(t, order)
    expect(handled.get(order)).toBe(3)
    expect(await notices(t, order)).toEqual({ placed: 1, followup: 1 })
    expect((await notifier())?.deadLetters).toBe(0)
  })

  it('takes a refusal as the answer: no retry, no dead letter', async () => {
    const order = id('blocked')
    const next = id('after-blocked')
    await place(t, `blocked-${order}`)
    await place(t, next)
    await notified(t, next)
    expect(outcomes.get(`blocked-${order}`)).toBe('ORDER_BLOCKED')
    expect(handled.get(`blocked-${order}`)).toBe(1)
    expect(await notices(t, `blocked-${order}`)).toEqual({})
    expect((await notifier())?.deadLetters).toBe(0)
  })

  it('parks an event that keeps failing, moves on, shows it, and handles it again on retry', async () => {
    const poison = id('poison')
    const next = id('after-poison')
    plans.set(poison, { failures: Infinity })
    await place(t, poison)
    await place(t, next)
    await notified(t, next)
    expect(handled.get(poison)).toBe(3)
    // Parked, not lost: its first notice went out once, the rest waits for a retry.
    expect(await notices(t, poison)).toEqual({ placed: 1 })
    expect(await stats()).toMatchObject({ deadLetters: 1, runningHere: true })
    await until(async () => (await deadLetterGauge()) === '1')
    const [letter] = await t.sql.query<{ event_type: string; error: string; attempts: number }>(
      `SELECT event_type, error, attempts FROM tandem.processor_dead_letters WHERE processor = 'orders/notifier'`,
    )
    expect(letter).toEqual({
      event_type: 'OrderPlaced',
      error: `injected failure for ${poison}`,
      attempts: 3,
    })

    // Only an admin may retry; a retry that fails again keeps the letter.
    expect((await retry({ id: 'someone', roles: [] })).statusCode).toBe(403)
    const again = await retry()
    expect(again.json()).toEqual({ processor: 'orders/notifier', retried: 1, handled: 0, parked: 1 })
    expect((await notifier())?.deadLetters).toBe(1)

    plans.set(poison, { failures: 0 })
    const fixed = await retry()
    expect(fixed.statusCode).toBe(200)
    expect(fixed.json()).toEqual({ processor: 'orders/notifier', retried: 1, handled: 1, parked: 0 })
    expect(await notices(t, poison)).toEqual({ placed: 1, followup: 1 })
    expect(await stats()).toMatchObject({ deadLetters: 0 })
    expect(await deadLetterGauge()).toBe('0')
    expect((await retry()).json()).toMatchObject({ retried: 0 })
  })

  it('answers 404 for a processor it does not know', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/cqrs/processors/orders/nobody/retry',
      headers: { authorization: `Bearer ${t.token(admin)}` },
    })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toMatchObject({ code: 'PROCESSOR_NOT_FOUND' })
  })

  it('reports its lag in /metrics', async () => {
    const text = await t.metrics.registry.metrics()
    expect(text).toMatch(/tandem_processor_lag_seconds_count\{processor="orders\/notifier"\} [1-9]/)
    await until(async () =>
      /tandem_processor_lag_events\{processor="orders\/notifier"\} \d+/.test(
        await t.metrics.registry.metrics(),
      ),
    )
  })
})
