import type { SqlClient } from '../core/sql.js'
import { readAfter, type Batch, type Checkpoint } from '../storage/event-log.js'

/**
 * A runner's read of the log: the events of its types after `from`, at most `limit` read. `since`:
 * when the runner's step began (`performance.now()`), after whatever woke it.
 */
export type LogRead = (from: Checkpoint, limit: number, since: number) => Promise<Batch>

interface Entry {
  /** Where it reads from (`positionOf`). */
  at: number
  /** The types the read asked for. */
  types: ReadonlySet<string>
  /** When it was sent (`performance.now()`). */
  sentAt: number
  batch: Promise<Batch>
  settled?: Batch
}

/** Full batches kept per group for the runners behind the one that read them. */
const keptBatches = 64
/** The longest a runner waits, a read, for the slowest of its group. */
const paceMs = 50
/** How long a runner that asks nothing still holds the others. */
const activeMs = 2000

/**
 * How far along the log a read starts, by position: a read from a horizon (`readFrom`) starts past
 * every position of its transactions, so it counts as at the start of the log's next transaction: 0.
 */
const positionOf = (from: Checkpoint) => (from.position.length > 15 ? 0 : Number(from.position))

interface Member {
  /** Where its last read started (`positionOf`). */
  at: number
  askedAt: number
  /** Its last batch was full: it is catching up. */
  catching: boolean
  /** It has had a batch. */
  read: boolean
}

/**
 * Reads of the log shared by the runners of one group (a domain's projections, in this process).
 * Each reads after its own checkpoint, and all read the same events: while the cards' read models
 * were built from a bulk-loaded log, its reads by each of four runners were half of PostgreSQL's
 * time, and parsing their rows a fifth of the process's (docs/benchmarks/analysis.md, 2026-12-05,
 * sixth). So a group reads the events of all its runners' types, and each runner takes its own from
 * the batch and moves its checkpoint to the batch's end (`Batch.through`).
 *
 * A runner asking after a checkpoint that another read after takes that read's batch: a full one
 * always (the first N events past a point, below the horizon, are the same for every later reader;
 * events that commit later sort after them), one that stopped short of its limit only if it was sent
 * after the asker's step began: sent before, it may not hold the commit that woke the asker. The
 * last full batches are kept for the runners behind, until none is catching up; a runner catching
 * up further ahead of the slowest other one catching up than they reach waits for it, up to
 * `paceMs` a read, so that the batches it reads are still kept when the slowest comes. A runner
 * that asked nothing for `activeMs` (failing, stopped) holds nobody. The events are the same
 * objects for every runner of the group: a projection never changes the events it is given.
 */
export function sharedReads(source: SqlClient) {
  const groups = new Map<string, { types: Set<string>; entries: Map<string, Entry>; members: Set<Member> }>()

  /** The read of a runner of `group` that applies events of `types`. */
  return function reader(group: string, types: readonly string[]): LogRead {
    let shared = groups.get(group)
    if (!shared) groups.set(group, (shared = { types: new Set(), entries: new Map(), members: new Set() }))
    const { entries, members } = shared
    const me: Member = { at: 0, askedAt: 0, catching: false, read: false }
    for (const type of types) shared.types.add(type)
    const mine = new Set(types)
    const only = (batch: Batch): Batch => {
      const events = batch.events.filter((e) => mine.has(e.type))
      return events.length === batch.events.length ? batch : { ...batch, events }
    }
    const covers = (entry: Entry) => types.every((type) => entry.types.has(type))

    const kept = async (key: string, since: number) => {
      const found = entries.get(key)
      if (!found || !covers(found)) return undefined
      const usable = (batch: Batch | undefined) => (batch?.full || found.sentAt >= since ? batch : undefined)
      if (found.settled) return usable(found.settled)
      // Caught up, a read sent before this step is most likely short, and then of no use: not waited for.
      if (found.sentAt < since && !me.catching && me.read) return undefined
      return usable(await found.batch.catch(() => undefined))
    }
    /** The group's runners that asked within `activeMs`; the others are forgotten. */
    const active = () => {
      const now = performance.now()
      for (const m of members) if (now - m.askedAt >= activeMs) members.delete(m)
      return members
    }
    /** Whether another runner catching up is further behind this one than the kept batches reach. */
    const lagging = (limit: number) => {
      let slowest: number | undefined
      for (const m of active())
        if (m !== me && m.catching && (slowest === undefined || m.at < slowest)) slowest = m.at
      return slowest !== undefined && me.at - slowest > (keptBatches / 2) * limit
    }

    /** This runner's batch, as it goes on: once no runner of the group catches up, none is kept. */
    const took = (batch: Batch): Batch => {
      me.catching = batch.full
      me.read = true
      if (!batch.full && ![...active()].some((m) => m.catching))
        for (const [key, entry] of entries) if (entry.settled?.full) entries.delete(key)
      return only(batch)
    }

    return async (from, limit, since) => {
      const key = `${limit}/${from.txId}/${from.position}`
      me.at = positionOf(from)
      me.askedAt = performance.now()
      members.add(me)
      // Checked before any await: runners asking in one turn join the read the first one sends.
      const hit = entries.has(key) ? await kept(key, since) : undefined
      if (hit) return took(hit)
      if (me.catching) {
        const until = performance.now() + paceMs
        while (performance.now() < until && lagging(limit)) {
          await new Promise((resolve) => setTimeout(resolve, 2))
          const later = entries.has(key) ? await kept(key, since) : undefined
          if (later) return took(later)
        }
      }
      const asked = [...shared.types]
      const entry: Entry = {
        at: me.at,
        types: new Set(asked),
        sentAt: performance.now(),
        batch: readAfter(source, from, { limit, types: asked }),
      }
      entries.delete(key)
      entries.set(key, entry)
      // Only a full batch stays true for later readers; a short one is given to those asking while it is read.
      const forget = () => {
        if (entries.get(key) === entry) entries.delete(key)
      }
      entry.batch.then((batch) => {
        entry.settled = batch
        if (!batch.full) forget()
      }, forget)
      // The batch furthest behind goes first: the runners have read past it.
      if (entries.size > keptBatches) {
        let oldest: [string, Entry] | undefined
        for (const kept of entries) if (!oldest || kept[1].at < oldest[1].at) oldest = kept
        if (oldest) entries.delete(oldest[0])
      }
      return took(await entry.batch)
    }
  }
}
