import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { anyone, defineCommand, defineQuery } from './messages.js'
import { createRegistry } from './registry.js'

const command = (domain: string, name: string) =>
  defineCommand({
    domain,
    name,
    summary: name,
    input: Type.Object({}),
    output: Type.Object({}),
    access: anyone,
    handle: async () => ({}),
  })
const query = (domain: string, name: string) =>
  defineQuery({
    domain,
    name,
    summary: name,
    input: Type.Object({}),
    output: Type.Object({}),
    access: anyone,
    readModels: [],
    handle: async () => ({}),
  })

describe('registry', () => {
  it('indexes commands and queries by address', () => {
    const register = command('events', 'register-participant')
    const details = query('events', 'get-event-details')
    const registry = createRegistry({ commands: [register], queries: [details] })
    expect(registry.commands.get('events/register-participant')).toBe(register)
    expect(registry.queries.get('events/get-event-details')).toBe(details)
    expect(registry.commands.get('events/get-event-details')).toBeUndefined()
  })

  it('lets a command and a query share an address', () => {
    expect(() =>
      createRegistry({ commands: [command('feed', 'post')], queries: [query('feed', 'post')] }),
    ).not.toThrow()
  })

  it('rejects two commands, or two queries, at one address', () => {
    expect(() =>
      createRegistry({
        commands: [command('events', 'create-event'), command('events', 'create-event')],
        queries: [],
      }),
    ).toThrow(/Two command handlers are registered for "events\/create-event"/)
    expect(() =>
      createRegistry({ commands: [], queries: [query('events', 'list'), query('events', 'list')] }),
    ).toThrow(/Two query handlers/)
  })

  it('rejects names that are not kebab case', () => {
    const bad = [
      ['events', 'RegisterParticipant'],
      ['events', 'register_participant'],
      ['events', 'register participant'],
      ['events', '-register'],
      ['events', '1st-thing'],
      ['Events', 'register'],
      ['', 'register'],
      ['events', ''],
    ] as const
    for (const [domain, name] of bad) {
      expect(
        () => createRegistry({ commands: [command(domain, name)], queries: [] }),
        `${domain}/${name}`,
      ).toThrow(/not kebab case/)
      expect(
        () => createRegistry({ commands: [], queries: [query(domain, name)] }),
        `${domain}/${name}`,
      ).toThrow(/not kebab case/)
    }
  })
})
