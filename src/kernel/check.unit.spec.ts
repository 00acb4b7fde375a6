import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { eventsDomain } from '../domains/events/index.js'
import { checkDomains } from './check.js'
import type { Domain } from './domain.js'
import { defineCommand, defineEvent, defineKvProjection, signedIn } from './index.js'

const Thing = Type.Object({ id: Type.String() })
const ThingMade = defineEvent('ThingMade', Thing)
const makeThing = defineCommand({
  domain: 'things',
  name: 'make-thing',
  summary: 'Make a thing',
  input: Thing,
  output: Thing,
  access: signedIn(),
  handle: async (input) => input,
})
const things = defineKvProjection({
  domain: 'things',
  name: 'things',
  version: 1,
  events: [ThingMade],
  tags: (e) => [`thing:${e.data.id}`],
  apply: async (e, kv) => kv.set(e.data.id, '1'),
})
const thingsDomain: Domain = {
  name: 'things',
  events: [ThingMade],
  commands: [makeThing],
  queries: [],
  projections: [things],
  migrations: [{ id: 'things/001-tables', sql: 'CREATE SCHEMA things' }],
}

const refusal = (domains: Domain[]) => {
  try {
    checkDomains(domains)
    return ''
  } catch (error) {
    return (error as Error).message
  }
}

describe('checkDomains: what a domain registers is its own', () => {
  it('takes domains that keep to themselves', () => {
    expect(refusal([eventsDomain, thingsDomain])).toBe('')
  })

  it('refuses an event type two domains declare', () => {
    const clash: Domain = {
      ...thingsDomain,
      name: 'stuff',
      commands: [],
      projections: [],
      migrations: [],
      events: [ThingMade],
    }
    expect(refusal([thingsDomain, clash])).toMatch(/event type ThingMade is registered by things and stuff/)
  })

  it('refuses a projection name two domains use, and a projection listed by another domain', () => {
    const other: Domain = { ...thingsDomain, name: 'stuff', events: [], commands: [], migrations: [] }
    const message = refusal([thingsDomain, other])
    expect(message).toMatch(/projection things is registered by things and stuff/)
    expect(message).toMatch(/projection things says it is of things, listed by stuff/)
  })

  it('refuses a projection that reads events its domain does not declare', () => {
    expect(refusal([{ ...thingsDomain, events: [] }])).toMatch(
      /reads events things does not declare: ThingMade/,
    )
  })

  it("refuses a message of another domain's name, a migration outside the domain, a name not in kebab case", () => {
    expect(refusal([{ ...thingsDomain, name: 'stuff', projections: [], events: [] }])).toMatch(
      /command things\/make-thing is listed by domain stuff/,
    )
    expect(refusal([{ ...thingsDomain, migrations: [{ id: 'events/002-more', sql: '' }] }])).toMatch(
      /migration events\/002-more of things does not start with "things\/"/,
    )
    expect(
      refusal([{ ...thingsDomain, name: 'Things', commands: [], projections: [], migrations: [] }]),
    ).toMatch(/domain "Things" is not kebab case/)
  })

  it('refuses two replicas of one name in a domain', () => {
    const replica = { name: 'facts', open: () => Promise.resolve(undefined) }
    expect(refusal([{ ...thingsDomain, replicas: [replica, replica] }])).toMatch(
      /replica things\/facts is registered by things and things/,
    )
    expect(refusal([{ ...thingsDomain, replicas: [replica] }])).toBe('')
  })

  it('refuses a domain registered twice', () => {
    expect(refusal([thingsDomain, thingsDomain])).toMatch(/domain things is registered by things and things/)
  })
})
