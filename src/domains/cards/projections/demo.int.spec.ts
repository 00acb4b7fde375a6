import { describe, expect, it } from 'vitest'
import { modes, useTestServer } from '../../../kernel/testing.js'
import { defineCardCommands } from '../commands.js'
import { demoCallers, demoCardId, demoExamples } from '../demo.js'
import { createCardsDomain } from '../index.js'
import type { CardPolicy } from '../rules.js'
import { cardsWithDuckDb, testPolicy } from '../testing/cards.js'

/** The banner's read examples over the demo data: each answers 200 as printed, twice over. */
describe.each(modes)('cards demo read examples (%s)', (mode) => {
  const server = useTestServer(mode, { domains: [cardsWithDuckDb] })

  it('answers every GET example with data, as its demo caller', async () => {
    const t = server().tandem
    await cardsWithDuckDb.seedDemo?.(t.commands)
    await server().settle(await server().head())
    const gets = (await demoExamples(testPolicy)).filter(
      (e) => e.method === 'GET' && !e.path.includes('anomaly'),
    )
    expect(gets.length).toBeGreaterThanOrEqual(7)
    for (let round = 0; round < 2; round++) {
      for (const example of gets) {
        const caller = demoCallers.find((c) => c.label === example.as)
        const answer = await server().get(example.path, caller ? { caller } : {})
        expect(answer.statusCode, `${example.path}: ${answer.body}`).toBe(200)
      }
    }
    const customer = demoCallers[0] ?? { id: '', roles: [] }
    const recent = gets.find((e) => e.path.includes('get-recent-transactions'))
    const answer = await server().get(recent?.path ?? '', { caller: customer })
    expect(
      answer
        .json<{ data: { status: string }[] }>()
        .data.map((t) => t.status)
        .toSorted(),
    ).toEqual(['authorized', 'captured', 'captured', 'captured'])
    // The customer's cards: the demo card, its holds and postings those of the payments above.
    const cards = gets.find((e) => e.path.includes('get-cards'))
    const listed = await server().get(cards?.path ?? '', { caller: customer })
    expect(listed.json<{ data: unknown[] }>().data).toEqual([
      expect.objectContaining({ cardId: demoCardId, customerId: customer.id, status: 'active' }),
    ])
  })
})

/** Limits an operator set below the demo's amounts (CARDS_AMOUNT_LIMIT_*): the demo still seeds. */
describe('cards demo under small amount limits', () => {
  const tiny: CardPolicy = { holdExpiryHours: 1, amountLimits: { classic: 5, gold: 7, platinum: 9 } }
  const domain = createCardsDomain(defineCardCommands(tiny), { store: 'off' }, tiny)
  const server = useTestServer('embedded', { domains: [domain] })

  it('seeds, and every command example answers 200 as printed', async () => {
    await domain.seedDemo?.(server().tandem.commands)
    const posts =
      (await domain.demoExamples?.(server().tandem.queries))?.filter((e) => e.method === 'POST') ?? []
    expect(posts.length).toBeGreaterThanOrEqual(3)
    for (const example of posts) {
      const caller = demoCallers.find((c) => c.label === example.as)
      const answer = await server().post(example.path, example.body, caller ? { caller } : {})
      expect(answer.statusCode, `${example.path}: ${answer.body}`).toBe(200)
    }
  })
})
