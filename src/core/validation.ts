import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { canonicalFor } from './canonical.js'
import { ValidationError, type FieldError } from './errors.js'
import { userIdPattern, userIdRule, visiblePattern } from './schemas.js'

type Check = (value: unknown) => readonly FieldError[] | undefined

const compiled = new WeakMap<TSchema, Check>()

/** A compiled validator for `schema`: undefined when the value fits, else each field's problem. */
export function validatorFor(schema: TSchema): Check {
  let check = compiled.get(schema)
  if (!check) {
    const validator = Compile(schema)
    check = (value) => (validator.Check(value) ? unstorable(value, '') : describe(validator.Errors(value)))
    compiled.set(schema, check)
  }
  return check
}

/**
 * Throws a 400 unless `value` fits `schema`; else gives it in canonical form (core/canonical.ts):
 * every id lower-cased, so that two spellings of one id are never two things, and every label in
 * NFC, trimmed. The form is checked, not the text sent: a label's length is its length in NFC once
 * trimmed (`é` typed with a combining accent is one character, as stored), whatever was typed.
 */
export function validInput(schema: TSchema, value: unknown): unknown {
  const canonical = canonicalFor(schema)(value)
  const errors = validatorFor(schema)(canonical)
  if (errors) throw new ValidationError(saidOfRepeated(errors, value))
  return canonical
}

/** A query string's parameter given more than once is refused saying so, not as a list of the wrong type. */
function saidOfRepeated(errors: readonly FieldError[], value: unknown): FieldError[] {
  const repeated = typeof value === 'object' && value !== null ? givenTwice.get(value) : undefined
  if (!repeated) return [...errors]
  const others = errors.filter((e) => !repeated.has(e.path))
  return [...[...repeated].map((path) => ({ path, message: 'is given more than once' })), ...others]
}

/** The parameters of a coerced query string given more than once, by the object `coerce` made. */
const givenTwice = new WeakMap<object, ReadonlySet<string>>()

/**
 * Turns query-string text into the types an object schema's properties ask for: "20" to 20, "true"
 * to true. Only exact spellings convert ("1.5" is not an integer, "1e1" not a number); anything else
 * stays text for validation to refuse. A parameter given more than once where one value is taken is a
 * 400 saying so (the parser makes it a list, which validation called "must be string").
 */
export function coerce(schema: TSchema, value: unknown): unknown {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties
  if (!properties || value === null || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  const repeated = Object.entries(value).flatMap(([key, raw]) =>
    Array.isArray(raw) && properties[key] && !typesOf(properties[key]).has('array') ? [`/${key}`] : [],
  )
  if (repeated.length > 0) givenTwice.set(out, new Set(repeated))
  for (const [key, raw] of Object.entries(value)) {
    const property = properties[key]
    const coerced: unknown = typeof raw === 'string' && property ? scalar(property, raw) : raw
    // Assigned, `__proto__` would set the prototype and vanish: kept as a parameter, it is refused
    // as any unknown one is.
    if (key === '__proto__')
      Object.defineProperty(out, key, {
        value: coerced,
        enumerable: true,
        writable: true,
        configurable: true,
      })
    else out[key] = coerced
  }
  return out
}

function typesOf(schema: TSchema): Set<unknown> {
  const s = schema as { type?: unknown; anyOf?: TSchema[] }
  return new Set([s.type, ...(s.anyOf ?? []).map((member) => (member as { type?: unknown }).type)])
}

function scalar(schema: TSchema, text: string): unknown {
  const types = typesOf(schema)
  if (types.has('integer') && /^-?(0|[1-9][0-9]{0,15})$/.test(text)) return Number(text)
  if (types.has('number') && /^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,15})?$/.test(text)) return Number(text)
  if (types.has('boolean') && (text === 'true' || text === 'false')) return text === 'true'
  return text
}

/** A lone UTF-16 surrogate: half a character, which no UTF-8 text (nor PostgreSQL) can hold. */
const loneSurrogate = /\p{Cs}/u

/**
 * A control character other than a tab or a line break (C0, DEL, C1): no text anyone types holds
 * one, and shown as sent, `ESC [2J` or a BEL in a merchant's name acted on the terminal it was shown in.
 */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const control = new RegExp('[\\u0001-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]')

/**
 * PostgreSQL text cannot hold U+0000 nor a lone surrogate: refuse them here, in values and in
 * keys, rather than fail in the database; and control characters but tabs and line breaks.
 */
function unstorable(value: unknown, path: string): FieldError[] | undefined {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return [{ path, message: 'must not contain the character U+0000' }]
    if (loneSurrogate.test(value)) return [{ path, message: 'must not contain a lone UTF-16 surrogate' }]
    if (control.test(value))
      return [{ path, message: 'must not contain a control character (tabs and line breaks may be)' }]
    return undefined
  }
  if (value === null || typeof value !== 'object') return undefined
  const record = value as Record<string, unknown>
  for (const key in record) {
    const item = record[key]
    const at = `${path}/${key}`
    const found =
      unstorable(key, at) ??
      (typeof item === 'string' || (typeof item === 'object' && item !== null)
        ? unstorable(item, at)
        : undefined)
    if (found) return found
  }
  return undefined
}

interface RawError {
  keyword: string
  instancePath: string
  schemaPath: string
  message: string
  params: Record<string, unknown>
}

/**
 * A union's errors narrowed to what the value could have been: a branch whose only error is the
 * value's type at the union's own path is not it. One branch left: its errors stand for the union's
 * (a nullable field's text too long says so, not "does not match any allowed form"). None left: the
 * types the union takes. Several: the union's own message.
 */
function narrowUnions(all: readonly RawError[]): { errors: RawError[]; unions: Set<string> } {
  const dropped = new Set<RawError>()
  const unions = new Set<string>()
  const replaced = new Map<RawError, RawError>()
  for (const union of all) {
    if (union.keyword !== 'anyOf') continue
    const prefix = `${union.schemaPath}/anyOf/`
    const branches = new Map<string, RawError[]>()
    for (const e of all) {
      if (!e.schemaPath.startsWith(prefix)) continue
      const index = e.schemaPath.slice(prefix.length).split('/')[0] ?? ''
      const branch = branches.get(index)
      if (branch) branch.push(e)
      else branches.set(index, [e])
    }
    const otherType = (errors: RawError[]) =>
      errors.length === 1 && errors[0]?.keyword === 'type' && errors[0].instancePath === union.instancePath
    const left = [...branches.values()].filter((errors) => !otherType(errors))
    if (left.length === 1) {
      dropped.add(union)
      for (const errors of branches.values()) if (errors !== left[0]) for (const e of errors) dropped.add(e)
    } else if (left.length === 0 && branches.size > 0) {
      const types = [...branches.values()].map((errors) => String(errors[0]?.params.type))
      replaced.set(union, { ...union, keyword: 'types', message: `must be ${types.join(' or ')}` })
      for (const errors of branches.values()) for (const e of errors) dropped.add(e)
    } else {
      unions.add(union.instancePath)
    }
  }
  const errors = all.filter((e) => !dropped.has(e)).map((e) => replaced.get(e) ?? e)
  return { errors, unions }
}

function describe(raw: Iterable<RawError>): FieldError[] {
  const errors: FieldError[] = []
  const { errors: all, unions } = narrowUnions([...raw])
  // A blank label, trimmed, is also shorter than its least length: "must not be blank" says it.
  const blank = new Set(
    all
      .filter((e) => e.keyword === 'pattern' && e.params.pattern === visiblePattern)
      .map((e) => e.instancePath),
  )
  for (const e of all) {
    const path = e.instancePath
    if (e.keyword === 'minLength' && blank.has(path)) {
      continue
    } else if (e.keyword === 'required') {
      const names = (e.params.requiredProperties as string[] | undefined) ?? []
      for (const name of names) errors.push({ path: `${path}/${name}`, message: 'is required' })
    } else if (e.keyword === 'boolean') {
      errors.push({ path, message: 'is not a known field' })
    } else if (e.keyword === 'additionalProperties') {
      continue
    } else if (e.keyword === 'pattern' && e.params.pattern === visiblePattern) {
      errors.push({ path, message: 'must not be blank' })
    } else if (e.keyword === 'pattern' && e.params.pattern === userIdPattern) {
      errors.push({ path, message: userIdRule })
    } else if (e.keyword === 'anyOf' || !unions.has(path)) {
      errors.push({ path, message: e.keyword === 'anyOf' ? 'does not match any allowed form' : e.message })
    }
  }
  return errors.length > 0 ? errors : [{ path: '', message: 'is not valid' }]
}
