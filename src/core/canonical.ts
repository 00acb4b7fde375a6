import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { labelled, lowerCased } from './schemas.js'

/** Gives a valid value in its one canonical form; the same value when nothing in it changes. */
export type Canonical = (value: unknown) => unknown

const identity: Canonical = (value) => value
const cache = new WeakMap<TSchema, Canonical>()

/**
 * The canonicalizer of `schema`'s values. A UUID (`format: 'uuid'`) has many spellings that
 * PostgreSQL's `uuid` type takes as one (upper case, lower case, mixed), but a stream id, a cache
 * tag or a read-model key built from the raw text would take them as many. So every UUID in a
 * message is lower-cased as it is accepted, before anything is built from it: nothing downstream
 * ever sees another spelling. A case-insensitive name (`Name()`, marked `x-lower-case`) is too, and
 * a label (`Label()`, marked `x-label`) is taken in NFC, trimmed. Run before validation, which checks
 * the canonical form (core/validation.ts); on a value of another shape it changes nothing: each step
 * changes only strings where its schema expects them.
 */
export function canonicalFor(schema: TSchema): Canonical {
  let canonical = cache.get(schema)
  if (!canonical) {
    canonical = build(schema) ?? identity
    cache.set(schema, canonical)
  }
  return canonical
}

interface Shape {
  format?: unknown
  [lowerCased]?: unknown
  [labelled]?: unknown
  properties?: Record<string, TSchema>
  items?: unknown
  anyOf?: TSchema[]
}

/**
 * ASCII text lower-cased; other text as sent, for the schema's ASCII pattern to refuse: lower-cased,
 * the Kelvin sign (U+212A) became an ASCII `k`, and `\u212Aelvin` was taken as the name `kelvin`.
 */
const lowerAscii: Canonical = (value) =>
  typeof value === 'string' && !nonAscii.test(value) ? value.toLowerCase() : value
const nonAscii = /[\u0080-\uffff]/

/**
 * Blanks at either end, as `trim` takes them but a vertical tab and a form feed: control characters,
 * left for validation to refuse (trimmed, `"\fz"` was taken as `z`).
 */
const blankEnds = /^[^\S\v\f]+|[^\S\v\f]+$/g

/** Undefined where the schema holds no UUID, so most values are passed through untouched. */
function build(schema: TSchema): Canonical | undefined {
  const shape = schema as Shape
  if (shape.format === 'uuid' || shape[lowerCased] === true) return lowerAscii
  if (shape[labelled] === true)
    return (value) => (typeof value === 'string' ? value.normalize('NFC').replace(blankEnds, '') : value)
  if (shape.properties) return objectOf(shape.properties)
  if (shape.items && typeof shape.items === 'object' && !Array.isArray(shape.items)) {
    const item = build(shape.items)
    return item && ((value) => (Array.isArray(value) ? value.map(item) : value))
  }
  if (shape.anyOf) return unionOf(shape.anyOf)
  return undefined
}

function objectOf(properties: Record<string, TSchema>): Canonical | undefined {
  const fields = Object.entries(properties).flatMap(([name, property]) => {
    const field = build(property)
    return field ? [[name, field] as const] : []
  })
  if (fields.length === 0) return undefined
  return (value) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
    const record = value as Record<string, unknown>
    let out: Record<string, unknown> | undefined
    for (const [name, field] of fields) {
      if (!(name in record)) continue
      const next = field(record[name])
      if (next !== record[name]) (out ??= { ...record })[name] = next
    }
    return out ?? value
  }
}

/** A union: the value takes the canonical form of the first member it fits, as validation found it. */
function unionOf(members: readonly TSchema[]): Canonical | undefined {
  const built = members.map((member) => ({ member, canonical: build(member) }))
  if (built.every((b) => !b.canonical)) return undefined
  const checked = built.map(({ member, canonical }) => ({ fits: Compile(member), canonical }))
  return (value) => {
    const first = checked.find(({ fits }) => fits.Check(value))
    return first?.canonical ? first.canonical(value) : value
  }
}
