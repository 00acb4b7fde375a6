import Type from 'typebox'
import { describe, expect, it } from 'vitest'
import { coerce, validInput, validatorFor } from './validation.js'
import { ValidationError } from './errors.js'
import { Label } from './schemas.js'

const Input = Type.Object(
  {
    title: Type.String({ minLength: 1 }),
    capacity: Type.Integer({ minimum: 1 }),
    venue: Type.Optional(Type.Union([Type.String({ maxLength: 5 }), Type.Null()])),
    status: Type.Optional(Type.Enum(['confirmed', 'waitlisted'])),
    waitlist: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
const check = validatorFor(Input)

describe('validation error mapping', () => {
  it('accepts a value that fits', () => {
    expect(check({ title: 'T', capacity: 3, venue: null, status: 'confirmed' })).toBeUndefined()
  })

  it('names each missing required field', () => {
    expect(check({})).toEqual([
      { path: '/title', message: 'is required' },
      { path: '/capacity', message: 'is required' },
    ])
  })

  it('names an unknown field once', () => {
    expect(check({ title: 'T', capacity: 3, colour: 'red' })).toEqual([
      { path: '/colour', message: 'is not a known field' },
    ])
  })

  it('names each field of the wrong type or out of range', () => {
    expect(check({ title: 5, capacity: 0, waitlist: 'yes' })).toEqual([
      { path: '/title', message: 'must be string' },
      { path: '/capacity', message: 'must be >= 1' },
      { path: '/waitlist', message: 'must be boolean' },
    ])
  })

  it('reports a nullable field by the form its value has: the text too long, or the types it takes', () => {
    expect(check({ title: 'T', capacity: 3, venue: 'far too long' })).toEqual([
      { path: '/venue', message: 'must not have more than 5 characters' },
    ])
    expect(check({ title: 'T', capacity: 3, venue: 5 })).toEqual([
      { path: '/venue', message: 'must be string or null' },
    ])
  })

  it('reports a union whose value could be of several branches once, not each of its branches', () => {
    const Either = Type.Object({
      size: Type.Union([Type.Literal('small'), Type.Literal('large')]),
      at: Type.Optional(Type.Union([Type.Object({ x: Type.String({ maxLength: 2 }) }), Type.Null()])),
    })
    expect(validatorFor(Either)({ size: 'medium' })).toEqual([
      { path: '/size', message: 'does not match any allowed form' },
    ])
    // A nullable object: the error within it.
    expect(validatorFor(Either)({ size: 'small', at: { x: 'abc' } })).toEqual([
      { path: '/at/x', message: 'must not have more than 2 characters' },
    ])
  })

  it('reports a value outside an enum', () => {
    expect(check({ title: 'T', capacity: 3, status: 'cancelled' })).toEqual([
      { path: '/status', message: 'must be equal to one of the allowed values' },
    ])
  })

  it('reports a value that is not an object at the root', () => {
    expect(check('text')).toEqual([{ path: '', message: 'must be object' }])
  })

  it('throws 400 VALIDATION_FAILED with the field errors', () => {
    expect(() => validInput(Input, { title: 'T' })).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'VALIDATION_FAILED',
        errors: [{ path: '/capacity', message: 'is required' }],
      }),
    )
    expect(() => validInput(Input, { title: 'T', capacity: 1 })).not.toThrow()
  })

  it('turns query-string text into the types the schema asks for', () => {
    expect(coerce(Input, { title: 'T', capacity: '20', waitlist: 'true' })).toEqual({
      title: 'T',
      capacity: 20,
      waitlist: true,
    })
  })

  it('refuses a parameter given more than once saying so, with the other fields’ problems', () => {
    const coerced = coerce(Input, { title: ['T', 'U'], capacity: 'x' })
    expect(() => validInput(Input, coerced)).toThrow(
      expect.objectContaining({
        status: 400,
        errors: [
          { path: '/title', message: 'is given more than once' },
          { path: '/capacity', message: 'must be integer' },
        ],
      }),
    )
    // A list sent as a body's field is the wrong type, as any other value would be.
    expect(() => validInput(Input, { title: ['T', 'U'], capacity: 1 })).toThrow(
      expect.objectContaining({ errors: [{ path: '/title', message: 'must be string' }] }),
    )
  })

  it('keeps a `__proto__` parameter, so that it is refused as any unknown one (assigned, it vanished)', () => {
    // As the query-string parser makes it: an object without a prototype, where `__proto__` is a key.
    const query = Object.create(null) as Record<string, unknown>
    Object.assign(query, { title: 'T', capacity: '2' })
    query['__proto__'] = 'x'
    const coerced = coerce(Input, query) as Record<string, unknown>
    expect(Object.keys(coerced)).toEqual(['title', 'capacity', '__proto__'])
    expect(Object.getPrototypeOf(coerced)).toBe(Object.prototype)
    expect(() => validInput(Input, coerced)).toThrow(expect.objectContaining({ status: 400 }))
  })

  it.each([
    ['a lone high surrogate', 'bad \ud800 x'],
    ['a lone low surrogate', 'bad \udc00 x'],
    ['a low surrogate before a high one', '\udc00\ud800'],
    ['U+0000', 'bad \u0000 x'],
  ])('refuses text PostgreSQL cannot store: %s', (_name, text) => {
    const errors = check({ title: text, capacity: 1 })
    expect(errors?.map((e) => e.path)).toEqual(['/title'])
    expect(errors?.[0]?.message).toMatch(/^must not contain/)
    expect(check({ title: 'T', capacity: 1, venue: text.slice(0, 5) })?.[0]?.path).toBe('/venue')
  })

  it.each([
    ['BEL', 'a\u0007b'],
    ['an escape sequence', '\u001b[2J'],
    ['a form feed', 'a\u000cb'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u009bb'],
  ])('refuses a control character: %s', (_name, text) => {
    expect(check({ title: `T${text}`, capacity: 1 })).toEqual([
      { path: '/title', message: 'must not contain a control character (tabs and line breaks may be)' },
    ])
  })

  it('takes tabs, line breaks and format characters as text', () => {
    expect(check({ title: 'a\tb\nc\r\nd\u2028e\u202ef\u00a0g', capacity: 1 })).toBeUndefined()
  })

  it('refuses a lone surrogate in a key, and accepts characters beyond the BMP', () => {
    const Any = Type.Object({ tags: Type.Record(Type.String(), Type.String()) })
    expect(validatorFor(Any)({ tags: { 'k\ud800': 'v' } })).toEqual([
      { path: '/tags/k\ud800', message: 'must not contain a lone UTF-16 surrogate' },
    ])
    expect(check({ title: '모임 😀 𝄞', capacity: 1 })).toBeUndefined()
  })

  it('gives the input back with its ids lower-cased', () => {
    const WithId = Type.Object({ eventId: Type.String({ format: 'uuid' }) })
    expect(validInput(WithId, { eventId: 'ABCDEF00-0000-4000-8000-00000000000A' })).toEqual({
      eventId: 'abcdef00-0000-4000-8000-00000000000a',
    })
  })

  it('checks a label in the form it is kept in: its length in NFC, trimmed', () => {
    const WithLabel = Type.Object({ category: Label(5) })
    // Five characters once composed and trimmed: ten code units typed with combining accents.
    const typed = ` ${'e\u0301'.repeat(5)} `
    expect(validInput(WithLabel, { category: typed })).toEqual({ category: '\u00e9'.repeat(5) })
    expect(() => validInput(WithLabel, { category: 'e\u0301'.repeat(6) })).toThrow(ValidationError)
    expect(() => validInput(WithLabel, { category: '   ' })).toThrow(ValidationError)
    // Once: blank, not also shorter than one character (the spaces were three).
    expect(validatorFor(Type.Object({ topics: Type.Array(Label(5)) }))({ topics: [''] })).toEqual([
      { path: '/topics/0', message: 'must not be blank' },
    ])
    // Blanks trimmed are spaces, tabs and line breaks: a vertical tab or a form feed is refused.
    expect(validInput(WithLabel, { category: '\t\u00a0ab\n' })).toEqual({ category: 'ab' })
    for (const category of ['\fz', 'a\u000b'])
      expect(() => validInput(WithLabel, { category }), JSON.stringify(category)).toThrow(ValidationError)
  })
})
