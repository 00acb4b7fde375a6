import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TObject } from 'typebox'
import { ConflictError, isAppError, ValidationError } from '../core/errors.js'
import type { AnyQuery, LiveItems } from '../core/messages.js'
import { coerce } from '../core/validation.js'
import type { Tandem } from '../app/tandem.js'
import { firstRead, follow, openEventStream, problemText, refusedWhileApplying } from './event-stream.js'
import { callerOf, consistencyOf, tokenLeftMs } from './handlers.js'

/**
 * A live query that streams items (`live: { itemKey }`): each item of its newest-first pages is sent
 * once, oldest first (`sendNew`), as `event: item` with an `id:` naming the greatest key sent so far
 * (the item's own key, unless it committed late, below one sent already). A client that reconnects with
 * `Last-Event-ID` gets the items with a greater key; then every item not sent yet, as projections
 * touch the answer. An id that were the late item's own key would have had the newer items sent
 * again on reconnecting.
 *
 * An item can commit late while the client is away too, below the key it had. Where items know the
 * log position of the event that made them (`itemPosition`), the id is `[key, position, floor]`: a
 * position up to which the client has every item above the floor, and the floor below
 * which keys are settled (`sentKeys`). A reconnect then also sends the items above that floor made
 * past that position. Without `itemPosition`, the id is the key alone, and such an item is lost.
 */

/**
 * How many pages a resume (or a refresh after a burst) reads at most, of `readPageSize` items each
 * when the query takes a `limit` (the client's `limit` sizes only the first page): past them, older
 * items are skipped, and a resume or refresh that skipped some (the page below them holds items not
 * sent) says so with a `problem` event (ITEMS_SKIPPED).
 */
export const maxItemPages = 10
/** The page size of a resume's and a refresh's reads, where the query takes `limit` (its largest). */
export const readPageSize = 100
/** How many keys a stream remembers sending; older ones are covered by a floor key. */
const rememberedKeys = 5000
/**
 * How long after a key is sent an item below it may still commit (its command's transaction,
 * decided at an earlier time, committing after the newer one, and the projection applying it):
 * past that the key joins the floor, and refreshes read no deeper than the floor.
 */
export const settleMs = 10_000
/** A Last-Event-ID worth comparing: 1 to 400 characters, none a control character. */
const usableId = /^[^\p{Cc}]{1,400}$/u
/** A log position as ids and items carry it. */
const decimal = /^\d{1,19}$/

interface Keyed {
  key: string
  item: unknown
  /** The log position of the event that made it, where the stream knows it. */
  position: bigint | undefined
}

/**
 * Where a reconnecting client stands: the greatest key it had, and, where items carry positions,
 * the position up to which it had every item above `floor`.
 */
interface Resume {
  key: string
  position?: bigint
  floor?: string
}

/** The id a client gave back, as the stream sent it; one of another form counts as none (documented). */
function resumeOf(given: string | undefined, live: LiveItems<never>): Resume | undefined {
  if (given === undefined) return undefined
  const formed = (key: unknown): key is string =>
    typeof key === 'string' && key.length > 0 && live.keyPattern?.test(key) !== false
  if (live.itemPosition === undefined || !given.startsWith('['))
    return formed(given) ? { key: given } : undefined
  let parts: unknown
  try {
    parts = JSON.parse(given)
  } catch {
    return undefined
  }
  if (!Array.isArray(parts) || parts.length !== 3) return undefined
  const [key, position, floor] = parts as unknown[]
  if (!formed(key) || typeof position !== 'string' || !decimal.test(position)) return undefined
  if (typeof floor !== 'string' || (floor !== '' && !formed(floor)) || floor > key) return undefined
  return { key, position: BigInt(position), floor }
}

/** A UUID, in any case. */
const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi

/**
 * The id a client gives back (header, else parameter); an unusable one counts as none (documented).
 * Ids are lower case in every answer (core/canonical.ts), so keys hold them so: one the client sends
 * in capitals is the same item, and compares as it.
 */
function usable(given: unknown): string | undefined {
  if (typeof given !== 'string' || !usableId.test(given)) return undefined
  return given.replace(uuid, (id) => id.toLowerCase())
}

/**
 * The keys a stream counts as sent, or as the client's already: every key up to `floor`, and the last
 * `remembered` added above it. Items can commit out of key order, so "greater than the last
 * sent" would lose one that commits late; forgetting a key raises the floor to it instead, and so
 * does a key sent `settleMs` ago (`settle`): by then nothing below it is still to commit.
 */
export function sentKeys(
  initialFloor: string,
  remembered = rememberedKeys,
  settleAfterMs = settleMs,
  now: () => number = Date.now,
) {
  let floor = initialFloor
  /** Keys above the floor, with when they were added, oldest added first. */
  const recent = new Map<string, number>()
  const raise = (key: string) => {
    recent.delete(key)
    if (key > floor) floor = key
  }
  return {
    has: (key: string) => key <= floor || recent.has(key),
    add(key: string) {
      if (key <= floor || recent.has(key)) return
      recent.set(key, now())
      if (recent.size <= remembered) return
      const [oldest = ''] = recent.keys()
      raise(oldest)
    },
    /** Raises the floor past every key added `settleAfterMs` ago or more. */
    settle() {
      const before = now() - settleAfterMs
      for (const [key, at] of recent) {
        if (at > before) break
        raise(key)
      }
    },
    floor: () => floor,
    /** Counts every key up to `key` as sent: the items below it will not be. */
    skipTo(key: string) {
      for (const each of [...recent.keys()]) if (each <= key) recent.delete(each)
      if (key > floor) floor = key
    },
  }
}

/** A refresh that read `maxItemPages` pages and found items still unsent at their bottom. */
const itemsSkipped = () =>
  new ConflictError(
    'ITEMS_SKIPPED',
    'Items skipped',
    `More items arrived at once than a refresh reads (${maxItemPages} pages): older ones among them were not sent; read the query's pages to find them`,
  )

export function itemStreamHandler(tandem: Tandem, definition: AnyQuery, live: LiveItems<never>) {
  if (!definition.paged) {
    throw new Error(`${definition.name} streams items (live: { itemKey }) but its answer is not a page`)
  }
  // The definition's types tie `itemKey` to the page's items; here they are the bus's unknowns.
  const itemKey = live.itemKey as (item: unknown) => string
  const itemPosition = live.itemPosition as ((item: unknown) => string) | undefined
  const keyed = (item: unknown): Keyed => {
    const key = itemKey(item)
    if (key.length === 0 || /[\r\n\0]/.test(key)) {
      throw new Error(`${definition.name}: an item key must be one line of text, not ${JSON.stringify(key)}`)
    }
    const at = itemPosition?.(item)
    return { key, item, position: at !== undefined && decimal.test(at) ? BigInt(at) : undefined }
  }
  /** The id of an item event: the greatest key sent, and where positions are known, what `Resume` reads. */
  const idOf = (key: string, position: bigint, floor: string) =>
    itemPosition === undefined ? key : JSON.stringify([key, position.toString(), floor])
  // Pages past the first are read at the largest size the query takes (`readPageSize` for `Limit`).
  const limit: { maximum?: number } | undefined = (definition.input as Partial<TObject>).properties?.limit
  const pageSize = limit ? (limit.maximum ?? readPageSize) : undefined
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(tandem, request)
    // `lastEventId` is how EventSource polyfills that cannot set headers send it: not the query's input.
    const { lastEventId, ...query } = (request.query ?? {}) as Record<string, unknown>
    const after = resumeOf(usable(request.headers['last-event-id'] ?? lastEventId), live)
    if (query.cursor !== undefined) {
      // Refreshes read from the newest items down: below a cursor, no new item ever comes.
      throw new ValidationError([
        { path: '/cursor', message: 'a stream starts at the newest items: resume one with Last-Event-ID' },
      ])
    }
    const input = coerce(definition.input, query) as Record<string, unknown>
    const wide = pageSize === undefined ? input : { ...input, limit: pageSize }
    // X-Min-Position holds the first read until the read models reached it, as for the query.
    const consistency = consistencyOf(request)

    /**
     * Pages on from the first page while `more` says a page may have more to send below it, `pages`
     * at most: the items read (newest first), the first page's tags, whether the reads reached the
     * end of the list, and the position the read models had reached for all of them (`readAt`). A
     * refresh reads answers begun after the invalidation it follows (`freshAfter`).
     */
    const read = async (pages: number, more: (page: readonly Keyed[]) => boolean, freshAfter?: number) => {
      const seen: Keyed[] = []
      let tags: readonly string[] = []
      let cursor: string | undefined
      let readAt: bigint | undefined
      const page = async () => {
        // The first page as the client sized it (and as its input is validated), the next ones wide.
        const pageInput = cursor === undefined ? input : { ...wide, cursor }
        const answer = await tandem.queries.ask(definition, pageInput, {
          caller,
          log: request.log,
          ...(freshAfter === undefined ? consistency : { freshAfter }),
        })
        if (answer.status === 'failed') throw answer.error
        const { items, nextCursor } = answer.data as { items: unknown[]; nextCursor: string | null }
        const at = BigInt(answer.readPosition)
        if (readAt === undefined || at < readAt) readAt = at
        if (cursor === undefined) tags = answer.tags
        cursor = nextCursor ?? undefined
        return { onPage: items.map(keyed), last: nextCursor === null }
      }
      const done = (ended: boolean, beyond: Keyed[] = []) => ({
        seen,
        tags,
        ended,
        beyond,
        readAt: readAt ?? 0n,
      })
      for (let n = 0; n < pages; n++) {
        const { onPage, last } = await page()
        seen.push(...onPage)
        if (last) return done(true)
        if (!more(onPage)) return done(false)
      }
      // Every page read, the last still reaching down: the next one, not sent from, tells whether
      // items were left unread below them (a first page alone is what the client asked for).
      return done(false, pages > 1 ? (await page()).onPage : [])
    }

    const follower = follow(tandem, (freshAfter) => refresh(freshAfter), request.log, caller?.id)
    /** Whether the client lacks an item: above its key, or above its floor and made past its position. */
    const fresh = ({ key, position }: Keyed) =>
      after === undefined ||
      key > after.key ||
      (after.position !== undefined &&
        position !== undefined &&
        key > (after.floor ?? '') &&
        position > after.position)
    // A resume pages down past the client's key to its floor, where items that committed late lie.
    const resumeMore = (page: readonly Keyed[]) =>
      page.every(fresh) || (after?.position !== undefined && (page.at(-1)?.key ?? '') > (after.floor ?? ''))
    const first = await firstRead(tandem, definition.readModels, consistency.maxWaitMs, () =>
      read(after === undefined ? 1 : maxItemPages, resumeMore),
    ).catch((error: unknown) => {
      follower.stop()
      throw error
    })
    // Older than what was read is not this stream's to send, unless the reads reached the end.
    const sent = sentKeys(first.ended ? '' : (first.seen.at(-1)?.key ?? ''))
    const stream = openEventStream(request, reply, follower.stop, tokenLeftMs(tandem, request))
    /** The greatest key the client has: each event's id, so that a reconnect resumes past it. */
    let highest = after?.key ?? ''
    /** The position up to which the client has every item above the floor (`Resume`). */
    let had = after?.position ?? 0n
    /**
     * Sends what is new of a read, oldest first: in the order their events were written where every
     * item knows its position, else by key. The last event's id names the read's position; an
     * earlier one, where items are in the order of their positions, the position just below the next
     * item's (the client cut off after it has every item written before that one: each such item is
     * in the read, sent now or before), and otherwise the position the client had before the read.
     * Naming that one for every earlier item, a client cut off in a burst was sent again on resuming
     * every item of the burst it had.
     */
    const sendNew = (seen: readonly Keyed[], isNew: (item: Keyed) => boolean, readAt: bigint) => {
      const keys = new Set<string>()
      const news = [...seen]
        .reverse()
        .filter((item) => isNew(item) && !keys.has(item.key) && keys.add(item.key))
      const inWritingOrder = news.every(({ position }) => position !== undefined)
      if (inWritingOrder) news.sort((a, b) => Number((a.position ?? 0n) - (b.position ?? 0n)))
      news.forEach(({ key, item }, i) => {
        if (key > highest) highest = key
        sent.add(key)
        const next = news[i + 1]
        let upTo = had
        if (next === undefined) upTo = readAt
        else if (inWritingOrder && next.position !== undefined)
          upTo = next.position - 1n < readAt ? next.position - 1n : readAt
        stream.send('item', idOf(highest, upTo > had ? upTo : had, sent.floor()), JSON.stringify(item))
      })
      if (readAt > had) had = readAt
    }
    /**
     * Whether a refresh pages on: while the page reaches above the floor. An item that committed late
     * (its key below ones sent already) may lie on any page above it, under items sent: a walk that
     * stopped at a page whose new items were all on top lost it for the life of the stream. Keys
     * settle into the floor `settleMs` after they are sent, so a walk reads the items of those
     * seconds, at most `maxItemPages` pages.
     */
    const mayHaveMore = (page: readonly Keyed[]) => (page.at(-1)?.key ?? '') > sent.floor()
    const refresh = async (freshAfter: number) => {
      sent.settle()
      try {
        const next = await read(maxItemPages, mayHaveMore, freshAfter)
        follower.retag(next.tags)
        // The pages ran out with a page below them holding items not sent: those are skipped. (One of
        // items sent already is the settling window's, read again: nothing is.)
        const skipped = next.beyond.some(({ key }) => !sent.has(key))
        sendNew(next.seen, ({ key }) => !sent.has(key), next.readAt)
        if (skipped) {
          // The client is told, once: the floor rises past them, so the next refresh does not walk
          // the same pages to the same end.
          sent.skipTo(next.seen.at(-1)?.key ?? '')
          stream.send('problem', undefined, problemText(itemsSkipped()))
        }
      } catch (error) {
        if (!isAppError(error)) throw error
        if (await refusedWhileApplying(tandem, definition.readModels, error)) return
        // No id: a problem must not move the client's Last-Event-ID.
        stream.send('problem', undefined, problemText(error))
      }
    }

    // What the reads found but the client had (at or before its Last-Event-ID) counts as sent.
    for (const item of [...first.seen].reverse()) if (!fresh(item)) sent.add(item.key)
    // Resumed from further back than the pages reach: the client is told, as a refresh tells it, and
    // before the items: each of their ids names a floor above the items skipped, so a client cut off
    // after any of them and resuming from it is never sent those, nor told again.
    if (first.beyond.some(fresh)) stream.send('problem', undefined, problemText(itemsSkipped()))
    sendNew(first.seen, fresh, first.readAt)
    follower.start(first.tags)
  }
}
