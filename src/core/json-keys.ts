/**
 * What a JSON text that `JSON.parse` accepted says that its value would not, in text order, at most
 * `max` of them:
 * - a key named twice in one object. `JSON.parse` keeps the last value, another parser may keep the
 *   first, so a proxy or a log that reads such a body can see another command than the one that runs
 *   (RFC 8259 leaves it open). Escaped spellings are one key (`"a"` and `"\u0061"`).
 * - a number that is not a whole number but that JavaScript reads as one (`1.0000000000000001` is
 *   read as 1, `1e-400` as 0): an amount or a count checked as an integer would take the rounded
 *   value. Whole numbers written with a fraction or an exponent (`100.0`, `1E2`) are whole numbers,
 *   as JSON Schema counts them.
 * It only walks the structure, and decodes a key only if it escapes. About 2 µs for an
 * authorization's 213 bytes, 60 µs for a purchase request of 100 items (7.4 KB), in a node loop over
 * `dist/`.
 */
export function bodyProblems(text: string, max = 20): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = []
  /** Each open object (its keys, the key whose value is read) or array (the index being read). */
  const open: { keys?: Set<string>; at: string; expectKey: boolean; index: number }[] = []
  const here = () => pointer(open.map((frame) => frame.at))
  for (let i = 0; i < text.length && problems.length < max; i++) {
    const c = text.charCodeAt(i)
    const top = open.at(-1)
    if (c === 0x7b /* { */) open.push({ keys: new Set(), at: '', expectKey: true, index: 0 })
    else if (c === 0x5b /* [ */) open.push({ at: '0', expectKey: false, index: 0 })
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) open.pop()
    else if (c === 0x2c /* , */ && top) {
      if (top.keys) top.expectKey = true
      else top.at = String(++top.index)
    } else if (c === 0x22 /* " */) {
      const start = i
      let escaped = false
      for (i++; text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c /* \ */) {
          escaped = true
          i++
        }
      }
      if (top?.keys && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i)
        top.at = key
        top.expectKey = false
        if (top.keys.has(key)) problems.push({ path: here(), message: 'is named twice in its object' })
        top.keys.add(key)
      }
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39) /* 0-9 */) {
      // A number: only one with a fraction or an exponent can be read as another value.
      const start = i
      let plain = true
      for (let d = text.charCodeAt(i + 1); ; d = text.charCodeAt(i + 1)) {
        if (d >= 0x30 && d <= 0x39) i++
        else if (d === 0x2e /* . */ || d === 0x65 /* e */ || d === 0x45 /* E */ || d === 0x2b || d === 0x2d) {
          plain = false
          i++
        } else break
      }
      const literal = plain ? '' : text.slice(start, i + 1)
      if (!plain && roundedToWhole(literal))
        problems.push({
          path: here(),
          message: `is not a whole number, but would be read as ${Number(literal)}`,
        })
    }
  }
  return problems
}

/**
 * Whether a JSON number that is not a whole number is read by JavaScript as one. For a literal that
 * `JSON.parse` accepted; one pass over it, whatever its length (a regex trimming its zeros took
 * quadratic time: a body of a million zeros held the process for minutes).
 */
export function roundedToWhole(literal: string): boolean {
  let e = literal.indexOf('e')
  if (e < 0) e = literal.indexOf('E')
  const end = e < 0 ? literal.length : e
  const dot = literal.indexOf('.')
  if (dot < 0 && e < 0) return false
  // The literal's value is its digits × 10^(exponent − digits after the point): whole when its
  // digits end in at least that many zeros, or are all zeros.
  const after = dot < 0 ? 0 : end - dot - 1
  const shift = after - (e < 0 ? 0 : Number(literal.slice(e + 1)))
  let zeros = 0
  let i = end - 1
  for (; i >= 0; i--) {
    const c = literal.charCodeAt(i)
    if (c === 0x30 /* 0 */) zeros++
    else if (c !== 0x2e /* . */) break
  }
  const allZeros = i < 0 || literal.charCodeAt(i) === 0x2d /* - */
  if (allZeros || zeros >= shift) return false
  return Number.isInteger(Number(literal))
}

/** The deepest a JSON body may nest: no command takes more than a few levels. */
export const maxDepth = 64
/** The most values a JSON body may hold: the largest command (a quiz of 100 questions) holds ~1,500. */
export const maxValues = 10_000

/**
 * What makes a JSON text too dear to parse, read before it is parsed, from anyone, token or not:
 * nesting deeper than `maxDepth` (524,000 nested arrays, under the 1 MiB limit, took `JSON.parse`
 * 103-146 ms of the event loop), or more than `maxValues` values (110,000 keys: 55 ms to parse, then
 * 215-282 ms in the schema's check). Node 20, a node script timing each three times over `dist/`;
 * a tester's four clients sending the nested body held `/health` up to 0.9 s. One pass; what is
 * inside strings does not count.
 */
export function tooComplex(text: string, depthLimit = maxDepth, valueLimit = maxValues): string | undefined {
  let depth = 0
  let values = 1
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > depthLimit) return `nests deeper than ${depthLimit} levels`
      values++
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--
    else if (c === 0x2c /* , */ && ++values > valueLimit) return `holds more than ${valueLimit} values`
  }
  return undefined
}

/**
 * Whether a JSON text holds a `__proto__` key, or a `constructor` key whose object holds
 * `prototype`: what Fastify's body parser refuses (secure-json-parse), for texts it does not read.
 */
export function holdsPrototypeKey(text: string): boolean {
  let found = false
  JSON.parse(text, (key, value: unknown) => {
    if (
      key === '__proto__' ||
      (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
    )
      found = true
    return value
  })
  return found
}

function pointer(path: readonly string[]): string {
  return path.map((part) => `/${part.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')
}
