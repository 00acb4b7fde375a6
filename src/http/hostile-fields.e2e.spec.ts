import { describe, expect, it } from 'vitest'
import { domains } from '../app/domains.js'
import { rolesOf } from '../cli/examples.js'
import type { Caller } from '../core/messages.js'
import { commandUrl, useTestServer } from '../testing/http.js'
import { modes } from '../testing/services.js'

/**
 * Every command and query of every domain, each field of its first example replaced in turn by values
 * an attacker would send (and left out): never a 5xx, and every refusal a problem+json with a code.
 * The caller holds every role the domains name, so input gets past access to validation and rules.
 */

const caller: Caller = { id: 'hostile-caller', roles: rolesOf(domains), dept: 'hostile-dept' }

/** What a JSON field gets instead of its example's value. */
const jsonValues: readonly unknown[] = [
  '',
  ' ',
  'a\u0000b',
  '\ud800',
  '\u200b',
  'x'.repeat(10_000),
  '😀😀😀',
  -1,
  0,
  1.5,
  2 ** 53,
  1e308,
  true,
  null,
  [],
  {},
  ['a'],
  { $ne: null },
]

/** The same, as the text of a query parameter (already encoded where it is not plain). */
const paramValues: readonly string[] = [
  '',
  '%20',
  'a%00b',
  '%ED%A0%80',
  '%FF',
  'x'.repeat(5_000),
  '-1',
  '1e309',
  '%5B%5D',
  '%7B%7D',
]

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Variants of an example: each field replaced by each value, in another case, padded, and left out;
 * within an object, or the first object of a list (a request's items), the same one level down.
 */
function variants(example: Record<string, unknown>, depth = 0): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  for (const [field, value] of Object.entries(example)) {
    for (const hostile of jsonValues) out.push({ ...example, [field]: hostile })
    if (typeof value === 'string') {
      out.push({ ...example, [field]: value.toUpperCase() }, { ...example, [field]: ` ${value} ` })
    }
    const { [field]: _left, ...rest } = example
    out.push(rest)
    if (depth > 0) continue
    if (isRecord(value)) for (const inner of variants(value, 1)) out.push({ ...example, [field]: inner })
    const [first, ...others]: unknown[] = Array.isArray(value) ? (value as unknown[]) : []
    if (isRecord(first)) {
      for (const inner of variants(first, 1)) out.push({ ...example, [field]: [inner, ...others] })
    }
  }
  return out
}

const encode = (params: Record<string, unknown>, raw: Record<string, string> = {}) =>
  [
    ...Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`),
    ...Object.entries(raw).map(([k, v]) => `${encodeURIComponent(k)}=${v}`),
  ].join('&')

describe.each(modes)('hostile fields in every command and query (%s)', (mode) => {
  const server = useTestServer(mode)

  for (const domain of domains) {
    it(`${domain.name}: commands answer each hostile field with a 4xx problem or a success`, async () => {
      const s = server()
      const seen: string[] = []
      for (const command of domain.commands) {
        const example = command.examples?.[0] as Record<string, unknown> | undefined
        if (!example) continue
        for (const body of variants(example)) {
          const answer = await s.post(commandUrl(domain.name, command.name), body, { caller })
          if (answer.statusCode >= 500) seen.push(`${command.name} ${JSON.stringify(body).slice(0, 200)}`)
          else if (answer.statusCode >= 400) {
            expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
            expect(typeof answer.json<{ code?: unknown }>().code).toBe('string')
          }
        }
      }
      expect(seen).toEqual([])
    })

    it(`${domain.name}: queries answer each hostile parameter with a 4xx problem or a success`, async () => {
      const s = server()
      const seen: string[] = []
      for (const query of domain.queries) {
        const example = (query.examples?.[0] ?? {}) as Record<string, unknown>
        const base = `/api/queries/${domain.name}/${query.name}`
        const urls = Object.keys(example).flatMap((field) => {
          const { [field]: _replaced, ...rest } = example
          return [
            ...paramValues.map((value) => `${base}?${encode(rest, { [field]: value })}`),
            `${base}?${encode(rest)}`,
            `${base}?${encode({ ...rest, [field]: String(example[field]).toUpperCase() })}`,
          ]
        })
        for (const url of [...urls, `${base}?${encode(example, { unknown: '1' })}`]) {
          const answer = await s.get(url, { caller })
          if (answer.statusCode >= 500) seen.push(`${answer.statusCode} ${url.slice(0, 200)}`)
          else if (answer.statusCode >= 400) {
            expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
          }
        }
      }
      expect(seen).toEqual([])
    })
  }
})
