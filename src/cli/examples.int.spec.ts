import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { domains } from '../app/domains.js'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { formatOutcomes, sendExamples } from './examples.js'

describe('every registered message has examples', () => {
  it.each(domains.flatMap((d) => [...d.commands, ...d.queries]).map((m) => [`${m.domain}/${m.name}`, m]))(
    '%s',
    (_address, message) => {
      expect(message.examples?.length ?? 0).toBeGreaterThan(0)
    },
  )
})

describe.each(modes)('test-commands and test-queries (%s)', (mode) => {
  let t: TestTandem
  beforeAll(async () => {
    t = await startTestTandem(mode)
  })
  afterAll(() => t.dispose())

  it('runs every example through the buses, and each succeeds', async () => {
    const outcomes = await sendExamples(t, ['command', 'query'])
    const failed = outcomes.filter((o) => o.outcome === 'failed')
    expect(failed, formatOutcomes(outcomes)).toEqual([])
    const sent = new Set(outcomes.map((o) => o.address))
    for (const domain of t.domains) {
      for (const m of [...domain.commands, ...domain.queries]) expect(sent).toContain(`${m.domain}/${m.name}`)
    }
    expect(formatOutcomes(outcomes)).toMatch(/^ok {2}/)
  })
})
