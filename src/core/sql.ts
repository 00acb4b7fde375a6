/**
 * The SQL port. The core speaks PostgreSQL through this interface only; storage/ implements it over
 * `pg` (server) and PGlite (embedded). Both are PostgreSQL, so one dialect serves both.
 */
export type Row = Record<string, unknown>

export interface Statement {
  text: string
  params?: readonly unknown[]
}

export interface SqlClient {
  query<R extends object = Row>(text: string, params?: readonly unknown[]): Promise<R[]>
}

/** How a transaction that read nothing may be committed together with others (group commit). */
export interface CommitOptions {
  /** What the statements lock (a stream): transactions committed together go in that order. */
  order?: string
  /** Whether other transactions are being decided now and may join (default true). */
  company?: boolean
}

export interface SqlTx extends SqlClient {
  /**
   * Sends the statements and COMMIT together (one round trip where the driver pipelines) and
   * returns each statement's rows. The transaction is over afterwards, whatever the outcome.
   */
  commit(statements: readonly Statement[], options?: CommitOptions): Promise<Row[][]>
}

export interface Sql extends SqlClient {
  readonly kind: 'postgres' | 'pglite'
  /** Runs `fn` in one transaction: committed when it returns (unless it committed itself), rolled back when it throws. */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>
  close(): Promise<void>
}

/** The SQLSTATE of a driver error, if it has one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    return typeof error.code === 'string' ? error.code : undefined
  }
  return undefined
}

/**
 * SQLSTATEs of a database that cannot be used now, whatever the statement: a connection lost or
 * refused (08), the server shutting down or starting (57P01, 57P03), too many connections (53300),
 * the credentials or pg_hba refused at connect time (28000, 28P01: the operator's to mend, nothing
 * in the request).
 */
const unusable = new Set(['57P01', '57P03', '53300', '28000', '28P01'])

/** A store that cannot be reached, or is shutting down: the client may retry. */
export function isUnavailable(error: unknown): boolean {
  const state = sqlState(error)
  if (state && (state.startsWith('08') || unusable.has(state))) return true
  const message = error instanceof Error ? error.message : ''
  // 55000 is many things; at connect time, a database closed to connections (ALLOW_CONNECTIONS false).
  if (state === '55000' && /not currently accepting connections/i.test(message)) return true
  return /ECONNREFUSED|ECONNRESET|EPIPE|timeout exceeded when trying to connect|Connection terminated|not queryable|The client is closed|The client is offline|Socket closed unexpectedly/i.test(
    message,
  )
}
