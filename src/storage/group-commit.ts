import type { CommitOptions, Row, Statement } from '../core/sql.js'

interface Waiting {
  statements: readonly Statement[]
  order: string
  resolve: (rows: Row[][]) => void
  reject: (error: unknown) => void
}

/**
 * Group commit. A transaction that reads nothing (every statement known at COMMIT, as for a command
 * deciding on what the stream memory kept) is sent at once if no other is being decided (`company`
 * false). Otherwise it waits for the end of the event loop's turn, and those that met there are sent
 * as one: one BEGIN, their statements, one COMMIT, one write and one WAL flush for all of them
 * instead of one each. PostgreSQL runs them one after the other, as it could have anyway. They are
 * ordered by `order` (the stream), so that groups from several processes lock rows in one order.
 * If one statement fails, the group is rolled back and each transaction is sent again alone: its
 * own failure comes back to it, and the others commit. A group whose outcome is unknown (the
 * connection was lost) fails every transaction in it, as one transaction would.
 */
export function groupCommits(options: {
  /** Sends one transaction: BEGIN, the statements, COMMIT; each statement's rows. */
  commit: (statements: readonly Statement[]) => Promise<Row[][]>
  /** Whether `commit` failed with the server answering that nothing was written. */
  rolledBack: (error: unknown) => boolean
  maxGroup: number
  /** Told the size of each group sent (1: a transaction sent alone). */
  onSent?: (size: number) => void
}): (statements: readonly Statement[], options?: CommitOptions) => Promise<Row[][]> {
  const { commit, rolledBack, maxGroup, onSent } = options
  let waiting: Waiting[] = []

  async function send(group: Waiting[]) {
    onSent?.(group.length)
    if (group.length === 1) {
      const [only] = group as [Waiting]
      return commit(only.statements).then(only.resolve, only.reject)
    }
    // Stable: within one key, the order of arrival.
    group.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0))
    try {
      const rows = await commit(group.flatMap((w) => w.statements))
      let at = 0
      for (const w of group) w.resolve(rows.slice(at, (at += w.statements.length)))
    } catch (error) {
      if (!rolledBack(error)) for (const w of group) w.reject(error)
      else await Promise.all(group.map((w) => commit(w.statements).then(w.resolve, w.reject)))
    }
  }

  function flush() {
    const all = waiting
    waiting = []
    for (let i = 0; i < all.length; i += maxGroup) void send(all.slice(i, i + maxGroup))
  }

  return (statements, { order = '', company = true } = {}) =>
    new Promise((resolve, reject) => {
      const one = { statements, order, resolve, reject }
      // With no other transaction being decided, waiting for the turn's end would only add latency.
      if (maxGroup <= 1 || (!company && waiting.length === 0)) return void send([one])
      if (waiting.length === 0) setImmediate(flush)
      waiting.push(one)
    })
}
