import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestProcesses, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { handled, notices, notified, ordersDomain, place } from './testing/orders.js'

/** Several processes with the projector role on one database (server mode: PGlite is one process). */
describe.runIf(modes.includes('server'))('processors in two processes (server)', () => {
  let a: TestTandem
  let b: TestTandem
  beforeAll(async () => {
    ;[a, b] = (await startTestProcesses('server', [{}, {}], { domains: [ordersDomain], pollMs: 50 })) as [
      TestTandem,
      TestTandem,
    ]
  })
  afterAll(async () => {
    await a.dispose()
    await b.dispose()
  })

  const runsHere = async (p: TestTandem) =>
    (await p.processors.status()).find((s) => s.name === 'orders/notifier')?.runningHere

  async function placeAndCheck(orders: readonly string[], via: readonly TestTandem[]) {
    await Promise.all(orders.map((order, i) => place(via[i % via.length] as TestTandem, order)))
    for (const order of orders) await notified(via[0] as TestTandem, order)
    for (const order of orders) {
      expect(handled.get(order)).toBe(1)
      expect(await notices(via[0] as TestTandem, order)).toEqual({ placed: 1, followup: 1 })
    }
  }

  it('runs a processor in one process at a time; another takes over when that one stops', async () => {
    await placeAndCheck(
      Array.from({ length: 10 }, (_, i) => `two-first-${i}`),
      [a, b],
    )
    const running = [await runsHere(a), await runsHere(b)]
    expect(running.filter(Boolean)).toHaveLength(1)
    const [holder, other] = running[0] ? [a, b] : [b, a]

    await holder.dispose()
    await placeAndCheck(
      Array.from({ length: 5 }, (_, i) => `two-second-${i}`),
      [other],
    )
    expect(await runsHere(other)).toBe(true)
  })
})
