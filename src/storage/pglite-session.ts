import { PGlite, parse, protocol, types, type PGliteOptions } from '@electric-sql/pglite'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Row, Statement } from '../core/sql.js'

/** One PGlite database and the two ways Tandem talks to it. */
export interface PgliteSession {
  /** Runs the statements in one round trip into WebAssembly; the first error aborts the rest. */
  pipeline(statements: readonly Statement[]): Promise<Row[][]>
  exec(script: string): Promise<void>
  /** A copy of the whole database, checkpointed first, for `openPgliteSession(undefined, …, copy)`. */
  copy(): Promise<Uint8Array>
  close(): Promise<void>
}

/**
 * PGlite's `query` makes four calls into WebAssembly per statement (parse, describe, bind, execute)
 * and plans the statement every time. A session pipelines instead, as pg does over the network:
 * the statements of a step go in one extended-protocol message with one Sync, as named prepared
 * statements, so each text is planned once. Callers take turns: the session has one connection.
 */
export async function openPgliteSession(
  dataDir: string | undefined,
  settings: PgliteSettings = {},
  /** In memory only: start from this copy of a database (`PgliteSession.copy`). */
  copy?: Uint8Array,
): Promise<PgliteSession> {
  const started = { ...defaults, ...startParams(settings) }
  const db =
    dataDir !== undefined
      ? await PGlite.create(dataDir, started)
      : copy
        ? await fromCopy(copy, started)
        : await freshInMemory(started)
  const names = new Map<string, string>()
  let counter = 0

  return {
    async pipeline(statements) {
      const parts: Uint8Array[] = []
      const fresh = new Map<string, string>()
      for (const s of statements) {
        let name = names.get(s.text) ?? fresh.get(s.text)
        if (name === undefined) {
          // A name is never reused: one parsed in a pipeline that failed may or may not exist.
          name = `t${counter++}`
          fresh.set(s.text, name)
          parts.push(protocol.serialize.parse({ name, text: s.text, types: [] }))
        }
        parts.push(
          protocol.serialize.bind({ statement: name, values: (s.params ?? []).map(toText) }),
          describe,
          execute,
        )
      }
      parts.push(sync)
      const { messages } = await db.execProtocol(concat(parts), { syncToFs: false })
      for (const [text, name] of fresh) names.set(text, name)
      return parse.parseResults(messages, db.parsers).map((r) => r.rows as Row[])
    },
    async exec(script) {
      try {
        await db.exec(script)
      } catch (error) {
        // A script that opened a transaction and failed leaves it open on the one connection.
        await db.exec('ROLLBACK').catch(() => undefined)
        throw error
      }
    },
    async copy() {
      await db.exec('CHECKPOINT')
      return dumped(db)
    },
    close: () => db.close(),
  }
}

/** A new in-memory database from a copy of one. */
const fromCopy = (copy: Uint8Array, options: PGliteOptions) =>
  PGlite.create('memory://', { ...options, loadDataDir: new BytesBlob(copy) })

const dumped = async (db: PGlite) => new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer())

const defaults = {
  // As node-postgres does: 64-bit integers and numerics stay exact, as strings.
  parsers: { [types.INT8]: (x: string) => x, [types.NUMERIC]: (x: string) => x },
}

/**
 * PostgreSQL settings a database starts with (`-c name=value`). Tests start theirs with small shared
 * buffers: PostgreSQL zeroes the pool as it starts, and PGlite's default of 128 MB was half of what
 * loading a saved cluster cost (4 loads: 7.5 s of CPU, 4.9 with 16 MB, 300,000 page faults against 170,000).
 */
export type PgliteSettings = Readonly<Record<string, string>>

function startParams(settings: PgliteSettings): { startParams?: string[] } {
  const entries = Object.entries(settings)
  if (entries.length === 0) return {}
  return {
    startParams: [
      ...PGlite.defaultStartParams,
      ...entries.flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
  }
}

/**
 * A new in-memory database. Creating one runs initdb (seconds of CPU); loading a copy of a fresh
 * cluster takes a fraction of that. So the first one made on this machine by this PGlite build is
 * saved to the temporary directory, without the template databases nothing here connects to (a
 * third less to unpack), and later ones (tests, benchmarks, throwaway CLI runs) start from it, read
 * once per process. A copy that cannot be read is removed and the database made afresh.
 */
async function freshInMemory(options: PGliteOptions): Promise<PGlite> {
  const build = await stat(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
  const file = join(tmpdir(), `tandem-pglite-2-${build.size}-${Math.trunc(build.mtimeMs)}.tar`)
  savedCluster ??= readFile(file).catch(() => undefined)
  const saved = await savedCluster
  if (!saved) savedCluster = undefined
  else {
    try {
      return await fromCopy(saved, options)
    } catch {
      savedCluster = undefined
      await rm(file, { force: true })
    }
  }
  const db = await PGlite.create('memory://', options)
  // Written aside, then renamed: a process starting meanwhile sees the whole copy or none.
  const aside = `${file}.${process.pid}.${Date.now()}`
  await slimmed(db)
    .then(async (dump) => {
      await writeFile(aside, dump)
      await rename(aside, file)
      savedCluster = Promise.resolve(dump)
    })
    .catch(() => rm(aside, { force: true }))
  return db
}

let savedCluster: Promise<Uint8Array | undefined> | undefined

/** The fresh cluster without its template databases, checkpointed, as a copy to save. */
async function slimmed(db: PGlite): Promise<Uint8Array> {
  await db.exec(`UPDATE pg_database SET datistemplate = false WHERE datname LIKE 'template_'`)
  // One at a time: DROP DATABASE runs in no transaction, and a script is one.
  for (const statement of ['DROP DATABASE template0', 'DROP DATABASE template1', 'CHECKPOINT'])
    await db.exec(statement)
  return dumped(db)
}

/**
 * The copy as PGlite reads it: PGlite asks its Blob for the bytes whole, and Node's Blob hands them
 * over through a stream of small chunks (a third of a load's time for 25 MB). This one has them.
 */
class BytesBlob extends Blob {
  constructor(private readonly tar: Uint8Array) {
    super([], { type: 'application/x-tar' })
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    const { buffer, byteOffset, byteLength } = this.tar
    const whole = byteOffset === 0 && byteLength === buffer.byteLength && buffer instanceof ArrayBuffer
    return Promise.resolve(whole ? buffer : this.tar.slice().buffer)
  }
}

const describe = protocol.serialize.describe({ type: 'P' })
const execute = protocol.serialize.execute({})
const sync = protocol.serialize.sync()

/** Parameters in PostgreSQL's text format, as the server would read them from node-postgres. */
function toText(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return `{${value.map(arrayElement).join(',')}}`
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  return JSON.stringify(value)
}

function arrayElement(value: unknown): string {
  const text = toText(value)
  return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
