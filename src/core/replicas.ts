import type { Logger } from './logger.js'
import type { SqlClient } from './sql.js'

/**
 * A read model a domain keeps itself, outside the kernel's stores: an embedded engine (the cards
 * analytics on DuckDB) that follows the event log on its own and keeps its own checkpoint. One is
 * opened in each process that answers queries, after the projections start, and closed before they
 * stop. A query reaches it through `ctx.replica(name)`, and names the replicas its input reads in
 * its definition's `replicas`: the consistency middleware holds it until they have the caller's
 * `X-Min-Position`, as it does for the kernel's read models.
 */
export interface ReplicaDefinition {
  /** Unique in its domain (checkDomains). */
  readonly name: string
  /**
   * Opens it in this process, or answers undefined where the domain's settings leave it out. It
   * catches up in the background: a start does not wait for the log to be read.
   */
  open(context: ReplicaContext): Promise<Replica | undefined>
}

export interface ReplicaContext {
  /** The database holding the event log (PostgreSQL, or PGlite embedded). */
  readonly sql: SqlClient
  readonly log: Logger
  /** Milliseconds between reads of the log when no wake-up comes (the projections' poll). */
  readonly pollMs: number
  /**
   * Calls `listener` after a commit holding one of these event types: in this process, and, in
   * server mode, in any other (through PostgreSQL's notifications). Answers the unsubscribe.
   */
  onCommitted(listener: () => void, types: readonly string[]): () => void
  /**
   * Drops the domain's cached answers with these tags. Call it after applying events, as the
   * projections do: an answer the replica gave before holding them is not served from the cache after.
   */
  invalidate(tags: Iterable<string>): void
  /**
   * The transaction that committed the event at `position` (undefined where none did), remembered
   * once looked up: what a replica compares with its checkpoint in `waitFor`.
   */
  transactionOf(position: string): Promise<string | undefined>
}

export interface Replica {
  /** True once the replica holds the event at `position` and all before it in log order; false at `deadline` (epoch ms). */
  waitFor(position: string, deadline: number): Promise<boolean>
  close(): Promise<void>
}

/** The replicas this process opened, by domain and name. */
export interface Replicas {
  get(domain: string, name: string): Replica | undefined
  close(): Promise<void>
}

export const noReplicas: Replicas = { get: () => undefined, close: async () => undefined }

/** Opens every domain's replicas, one after another; one that fails to open closes those before it. */
export async function openReplicas(
  domains: readonly { name: string; replicas?: readonly ReplicaDefinition[] }[],
  contextFor: (domain: string, replica: string) => ReplicaContext,
): Promise<Replicas> {
  const opened = new Map<string, Replica>()
  const close = async () => {
    for (const replica of [...opened.values()].reverse()) await replica.close()
    opened.clear()
  }
  try {
    for (const domain of domains) {
      for (const definition of domain.replicas ?? []) {
        const replica = await definition.open(contextFor(domain.name, definition.name))
        if (replica) opened.set(`${domain.name}/${definition.name}`, replica)
      }
    }
  } catch (error) {
    await close().catch(() => undefined)
    throw error
  }
  return { get: (domain, name) => opened.get(`${domain}/${name}`), close }
}
