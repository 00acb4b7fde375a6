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
