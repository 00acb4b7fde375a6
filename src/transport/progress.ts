import type { Logger } from '../core/logger.js'
import type { Sql } from '../core/sql.js'
import type { Checkpoint } from '../storage/event-log.js'
import { notifier, type Listener } from './wake.js'

/**
 * What projectors tell the other processes of a deployment: which cache tags a batch touched, how
 * far each projection has got, when a rebuild switched generations, and when caches must be cleared.
 * Query processes invalidate their caches and answer read-your-writes waits from it.
 */
export interface Progress {
  name: string
  generation: number
  checkpoint: Checkpoint
  /** Every transaction below this id has been applied (or was of no interest to the projection). */
  horizon: string
  caughtUp: boolean
}

export type FeedMessage =
  | { kind: 'clear' }
  /** A process started following: projectors send their state again. */
  | { kind: 'hello' }
  | { kind: 'switched'; name: string; generation: number }
  | { kind: 'applied'; name: string; generation: number; tags: string[] }
  | ({ kind: 'progress' } & Progress)

export interface ProgressFeed {
  /** Cache tags a batch touched; always published before the progress that covers the batch. */
  applied(name: string, generation: number, tags: Iterable<string>): void
  progress(progress: Progress): void
  switched(name: string, generation: number): void
  clear(): void
  hello(): void
  /** Messages from other processes; `onGap` when some may have been missed (the listener reconnected). */
  subscribe(handler: (message: FeedMessage) => void, onGap: () => void): () => void
  close(): Promise<void>
}

const channel = 'tandem_progress'
/** PostgreSQL refuses payloads from 8000 bytes; leave room for the sender id. */
const payloadLimit = 7000

/**
 * Past this many tags waiting to go out, the receivers are told to clear their caches instead: a
 * fan-out to 100,000 followers touches 100,000 tags, about 650 NOTIFYs of 7 kB that every listening
 * process must read and parse, while one `clear` costs each of them only its cached answers.
 */
export const tagLimit = 2_000

type Wire =
  | ['c']
  | ['h']
  | ['s', string, number]
  | ['t', string, number, string[]]
  | ['p', string, number, string, string, string, 0 | 1]

function toWire(message: FeedMessage): Wire {
  switch (message.kind) {
    case 'clear':
      return ['c']
    case 'hello':
      return ['h']
    case 'switched':
      return ['s', message.name, message.generation]
    case 'applied':
      return ['t', message.name, message.generation, message.tags]
    case 'progress': {
      const { name, generation, checkpoint, horizon, caughtUp } = message
      return ['p', name, generation, checkpoint.txId, checkpoint.position, horizon, caughtUp ? 1 : 0]
    }
  }
}

const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0
const isDecimal = (v: unknown): v is string => typeof v === 'string' && /^\d{1,20}$/.test(v)

function fromWire(w: unknown): FeedMessage | undefined {
  if (!Array.isArray(w)) return undefined
  const [kind, name, generation, a, b, c, d] = w as unknown[]
  if (kind === 'c') return { kind: 'clear' }
  if (kind === 'h') return { kind: 'hello' }
  if (!isName(name) || !isCount(generation)) return undefined
  if (kind === 's') return { kind: 'switched', name, generation }
  if (kind === 't' && Array.isArray(a) && a.every((t) => typeof t === 'string'))
    return { kind: 'applied', name, generation, tags: a }
  if (kind === 'p' && isDecimal(a) && isDecimal(b) && isDecimal(c) && (d === 0 || d === 1))
    return {
      kind: 'progress',
      name,
      generation,
      checkpoint: { txId: a, position: b },
      horizon: c,
      caughtUp: d === 1,
    }
  return undefined
}

/**
 * Packs messages into as few payloads as fit, in order. A tag list too long for one payload is
 * split over several `applied` messages.
 */
export function encodeFeed(messages: readonly FeedMessage[]): string[] {
  const payloads: string[] = []
  let current: string[] = []
  let size = 2
  const push = (part: string) => {
    // A message that cannot fit (a tag of thousands of characters) becomes `clear`: it covers any tag.
    if (part.length > payloadLimit - 2) part = JSON.stringify(toWire({ kind: 'clear' }))
    if (size + part.length + 1 > payloadLimit && current.length > 0) {
      payloads.push(`[${current.join(',')}]`)
      current = []
      size = 2
    }
    current.push(part)
    size += part.length + 1
  }
  for (const message of messages) {
    if (message.kind !== 'applied') {
      push(JSON.stringify(toWire(message)))
      continue
    }
    let chunk: string[] = []
    let chunkSize = 0
    const flush = () => {
      if (chunk.length > 0) push(JSON.stringify(toWire({ ...message, tags: chunk })))
      chunk = []
      chunkSize = 0
    }
    for (const tag of message.tags) {
      const length = JSON.stringify(tag).length + 1
      if (chunkSize + length > payloadLimit / 2) flush()
      chunk.push(tag)
      chunkSize += length
    }
    flush()
  }
  if (current.length > 0) payloads.push(`[${current.join(',')}]`)
  return payloads
}

export function decodeFeed(payload: string): FeedMessage[] | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (!Array.isArray(parsed)) return undefined
  const messages = parsed.map(fromWire)
  return messages.every((m) => m !== undefined) ? messages : undefined
}

/**
 * The feed over LISTEN/NOTIFY. What is published in a few milliseconds goes out together: control
 * messages first, then tags, then each projection's latest progress. If a NOTIFY fails, the next one
 * starts with `clear` (receivers cannot know which tags they missed) and repeats the progress.
 */
export function postgresFeed(options: {
  listener: Listener
  sql: Sql
  sender: string
  log: Logger
  coalesceMs?: number
}): ProgressFeed {
  const { log } = options
  const coalesceMs = options.coalesceMs ?? 2
  const own = `${options.sender}:`
  const notify = notifier(options.sql, options.sender, log)
  const handlers = new Set<{ handle: (m: FeedMessage) => void; gap: () => void }>()
  let controls: FeedMessage[] = []
  const tags = new Map<string, { name: string; generation: number; tags: Set<string> }>()
  let tagCount = 0
  let overflow = false
  const latest = new Map<string, Progress>()
  let dirty = new Set<string>()
  let lost = false
  let timer: NodeJS.Timeout | undefined
  let sending = Promise.resolve()

  options.listener.on(channel, (payload) => {
    if (payload.startsWith(own)) return
    const messages = decodeFeed(payload.slice(payload.indexOf(':') + 1))
    if (!messages) return log.warn({ payload: payload.slice(0, 200) }, 'unreadable progress message')
    for (const message of messages) {
      if (message.kind === 'hello') {
        for (const name of latest.keys()) dirty.add(name)
        schedule()
      }
      for (const h of handlers) h.handle(message)
    }
  })
  options.listener.onReconnect(() => {
    for (const h of handlers) h.gap()
  })

  function schedule() {
    timer ??= setTimeout(() => {
      timer = undefined
      sending = sending.then(send)
    }, coalesceMs)
  }

  async function send() {
    const names = [...dirty]
    const messages: FeedMessage[] = [
      ...(lost || overflow ? [{ kind: 'clear' } as const] : []),
      ...controls,
      ...[...tags.values()].map((t) => ({ kind: 'applied' as const, ...t, tags: [...t.tags] })),
      ...names.flatMap((name) => {
        const progress = latest.get(name)
        return progress ? [{ kind: 'progress' as const, ...progress }] : []
      }),
    ]
    controls = []
    tags.clear()
    tagCount = 0
    overflow = false
    dirty = new Set()
    if (messages.length === 0) return
    if (await notify(channel, encodeFeed(messages))) {
      lost = false
    } else {
      lost = true
      for (const name of names) dirty.add(name)
      setTimeout(schedule, 1000).unref()
    }
  }

  return {
    applied(name, generation, touched) {
      if (!overflow) {
        const key = `${name}\u0000${generation}`
        let entry = tags.get(key)
        if (!entry) tags.set(key, (entry = { name, generation, tags: new Set() }))
        for (const tag of touched) {
          if (entry.tags.has(tag)) continue
          entry.tags.add(tag)
          if (++tagCount > tagLimit) {
            overflow = true
            tags.clear()
            tagCount = 0
            break
          }
        }
      }
      schedule()
    },
    progress(progress) {
      latest.set(progress.name, progress)
      dirty.add(progress.name)
      schedule()
    },
    switched(name, generation) {
      controls.push({ kind: 'switched', name, generation })
      schedule()
    },
    clear() {
      controls.push({ kind: 'clear' })
      schedule()
    },
    hello() {
      controls.push({ kind: 'hello' })
      schedule()
    },
    subscribe(handle, gap) {
      const entry = { handle, gap }
      handlers.add(entry)
      return () => handlers.delete(entry)
    },
    async close() {
      if (timer) {
        clearTimeout(timer)
        timer = undefined
        sending = sending.then(send)
      }
      await sending
    },
  }
}
