import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { canonicalFor } from './canonical.js'
import { ValidationError } from './errors.js'
import { Name } from './schemas.js'
import { validInput } from './validation.js'

const Id = Type.String({ format: 'uuid' })
const id = '0190a6e4-7b1c-7d2e-8f3a-4b5c6d7e8f90'
const upper = id.toUpperCase()

describe('canonical ids', () => {
  it('lower-cases every UUID of an object, optional or not, and leaves other text as sent', () => {
    const schema = Type.Object({ eventId: Id, ownerId: Type.Optional(Id), title: Type.String() })
    expect(
      canonicalFor(schema)({
        eventId: upper,
        ownerId: 'ABCDEF00-0000-4000-8000-00000000000A',
        title: 'Hi ABC',
      }),
    ).toEqual({
      eventId: id,
      ownerId: 'abcdef00-0000-4000-8000-00000000000a',
      title: 'Hi ABC',
    })
  })

  it('gives the same object back when it is canonical already, and does not change what it was given', () => {
    const schema = Type.Object({ eventId: Id })
    const canonical = { eventId: id }
    expect(canonicalFor(schema)(canonical)).toBe(canonical)
    const sent = { eventId: upper }
    expect(canonicalFor(schema)(sent)).toEqual({ eventId: id })
    expect(sent.eventId).toBe(upper)
  })

  it('reaches into arrays, nested objects and unions with null', () => {
    const schema = Type.Object({
      ids: Type.Array(Id),
      owner: Type.Object({ id: Type.Union([Id, Type.Null()]) }),
      parent: Type.Union([Id, Type.Null()]),
    })
    expect(canonicalFor(schema)({ ids: [upper, id], owner: { id: upper }, parent: null })).toEqual({
      ids: [id, id],
      owner: { id },
      parent: null,
    })
  })

  it('in a union, takes the form of the member the value fits: a free-text member keeps its case', () => {
    const schema = Type.Union([
      Type.Object({ kind: Type.Literal('id'), ref: Id }),
      Type.Object({ kind: Type.Literal('name'), ref: Type.String() }),
    ])
    expect(canonicalFor(schema)({ kind: 'id', ref: upper })).toEqual({ kind: 'id', ref: id })
    expect(canonicalFor(schema)({ kind: 'name', ref: upper })).toEqual({ kind: 'name', ref: upper })
  })

  it('is the identity for a schema without ids', () => {
    const value = { title: 'ABC' }
    expect(canonicalFor(Type.Object({ title: Type.String() }))(value)).toBe(value)
  })
})

describe('case-insensitive names', () => {
  it('lower-cases a Name() as it is accepted, in objects and arrays, and refuses other characters', () => {
    const schema = Type.Object({ department: Name(40), others: Type.Array(Name(40)) })
    expect(validInput(schema, { department: 'Sales', others: ['R-AND-D', 'ops'] })).toEqual({
      department: 'sales',
      others: ['r-and-d', 'ops'],
    })
    // Letters that lower-case to ASCII (the Kelvin sign to `k`, U+0130 to `i` and a dot) are refused, not
    // taken as the ASCII they would become: the pattern is checked on what was sent, but for its case.
    const lowersToAscii = ['\u212Aelvin', 'sale\u212A', '\u0130stanbul']
    for (const bad of [
      '',
      ' sales',
      'sales ',
      'sa les',
      '-sales',
      'sales-',
      'sälés',
      'x'.repeat(41),
      ...lowersToAscii,
    ]) {
      expect(() => validInput(schema, { department: bad, others: [] }), bad).toThrow(ValidationError)
    }
  })
})
