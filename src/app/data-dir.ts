import { randomBytes } from 'node:crypto'
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError } from './config.js'

export class DataDirInUseError extends Error {}

/**
 * Holds DATA_DIR for this process. PGlite has no lock across processes, so two processes on one
 * folder would corrupt it: the second one gets a clear error instead. A lock left by a dead process
 * is taken over, by one process at a time: removed and made again by each that found it stale, it
 * was held by several processes started together (a tester's six, in each of 25 rounds).
 */
export function lockDataDir(dir: string): () => void {
  makeDataDir(dir)
  const file = join(dir, 'tandem.lock')
  const inUse = (pid: number) =>
    new DataDirInUseError(
      `DATA_DIR ${dir} is in use by process ${pid}. Stop it, or set DATA_DIR to another folder.`,
    )
  for (let attempt = 0; attempt < 100; attempt++) {
    if (made(file, dir)) return () => rmSync(file, { force: true })
    const holder = lockHolder(file)
    if (holder !== undefined) throw inUse(holder)
    // Stale: taken over under a guard folder only one process can make. Whoever makes it looks
    // again, and removes the lock only if it is still the stale one; the others wait, and find the
    // new lock. A guard left by a process killed meanwhile is given up after a few seconds.
    const guard = `${file}.takeover`
    try {
      mkdirSync(guard)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(dir, error, 'written')
      if (Date.now() - (statSync(guard, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 5_000)
        rmSync(guard, { recursive: true, force: true })
      sleep(20)
      continue
    }
    try {
      const again = lockHolder(file)
      if (again !== undefined) throw inUse(again)
      rmSync(file, { force: true })
    } finally {
      rmSync(guard, { recursive: true, force: true })
    }
  }
  throw new DataDirInUseError(`Could not lock DATA_DIR ${dir}`)
}

/**
 * Makes the lock whole or not at all: written aside, then linked in place, which fails if a lock
 * is there. Opened and then written, it was empty for a moment, and a starter reading it then took
 * it for a stale one.
 */
function made(file: string, dir: string): boolean {
  const aside = `${file}.${process.pid}`
  try {
    writeFileSync(aside, `${process.pid} ${startOf(process.pid) ?? ''}`.trim(), { mode: 0o644 })
    linkSync(aside, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unwritable(dir, error, 'written')
    return false
  } finally {
    rmSync(aside, { force: true })
  }
}

/** The process holding the lock, if one does (none: the lock is gone, or stale). */
function lockHolder(file: string): number | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const [pid = NaN, start] = text.trim().split(' ').map(Number)
  return Number.isInteger(pid) && pid > 0 && holdsLock(pid, start) ? pid : undefined
}

/** Waits on this thread (a start, before anything else runs). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Whether the process that wrote a lock still runs. Its PID alone is not enough: after a kill -9, a
 * server started again in a container is given the same PID, its own (it refused itself until the
 * lock was removed by hand), and elsewhere another program may have been given it. So the lock also
 * keeps when its process started (Linux), and a process of that PID started at another time is
 * another process.
 */
function holdsLock(pid: number, start: number | undefined): boolean {
  if (pid === process.pid || !isAlive(pid)) return false
  const now = startOf(pid)
  return start === undefined || Number.isNaN(start) || now === undefined || now === start
}

/**
 * When a process started, in clock ticks since the machine booted (field 22 of /proc/PID/stat, after
 * the command's name, which is in parentheses and may hold spaces); undefined without /proc.
 */
function startOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    return Number.isSafeInteger(ticks) ? ticks : undefined
  } catch {
    return undefined
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The token secret a server keeps in DATA_DIR, if it has made one (nothing is written). */
export function existingDataDirSecret(dir: string): string | undefined {
  let secret: string
  try {
    secret = readFileSync(join(dir, 'auth-secret'), 'utf8').trim()
  } catch {
    return undefined
  }
  return checked(secret, dir)
}

/** A secret kept in a file holds to AUTH_SECRET's bound: a short one signed tokens anyone could forge. */
function checked(secret: string, dir: string): string {
  if (secret.length < 16)
    throw new ConfigError(
      `${join(dir, 'auth-secret')} holds a secret of ${secret.length} characters: at least 16 (delete it to have one made, or set AUTH_SECRET)`,
    )
  return secret
}

/** The token secret kept in DATA_DIR when AUTH_SECRET is unset: made once, readable by its owner only. */
export function dataDirSecret(dir: string): string {
  makeDataDir(dir)
  const file = join(dir, 'auth-secret')
  try {
    return checked(readFileSync(file, 'utf8').trim(), dir)
  } catch (error) {
    if (error instanceof ConfigError) throw error
    // There and unreadable (another user's): said so, not as the EEXIST of making it again.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new ConfigError(
        `DATA_DIR ${dir}: its auth-secret cannot be read (${String((error as NodeJS.ErrnoException).code)})`,
      )
    const secret = randomBytes(32).toString('base64url')
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' })
    return readFileSync(file, 'utf8').trim()
  }
}

/**
 * Makes `dir` and the folders above it that are missing, a folder at a time: Node's recursive mkdir
 * loops for ever under /proc (a start that hung at 90% CPU without a word). Throws mkdir's error, or
 * ENOTDIR with the `path` of the file in the way (`dir` itself, or a folder above it, being a file).
 */
export function makeFolders(dir: string): void {
  const missing: string[] = []
  let at = resolve(dir)
  for (; !existsSync(at); at = dirname(at)) {
    missing.unshift(at)
    if (dirname(at) === at) break
  }
  if (existsSync(at) && !statSync(at).isDirectory()) throw new FileInTheWay(at)
  for (const folder of missing) mkdirSync(folder)
}

/** A file where `makeFolders` needed a folder. */
class FileInTheWay extends Error {
  readonly code = 'ENOTDIR'
  constructor(readonly path: string) {
    super(`${path} is a file, not a folder`)
  }
}

/** The file `makeFolders` found in the way, if that is why it failed. */
export const fileInTheWay = (error: unknown): string | undefined =>
  error instanceof FileInTheWay ? error.path : undefined

/**
 * DATA_DIR, made if absent; a file of that name is refused naming it (mkdir's EEXIST named no
 * setting), and so is a folder that cannot be made there, naming the file in the way if one is.
 */
function makeDataDir(dir: string): void {
  try {
    makeFolders(dir)
  } catch (error) {
    const file = fileInTheWay(error)
    if (file === resolve(dir)) throw new ConfigError(`DATA_DIR ${dir} is not a folder`)
    if (file !== undefined) throw new ConfigError(`DATA_DIR ${dir} cannot be made: ${file} is a file`)
    // A symbolic link to nothing (or to itself): there, yet no folder is found through it.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST')
      throw new ConfigError(`DATA_DIR ${dir} cannot be made: it is a symbolic link that leads to no folder`)
    throw unwritable(dir, error, 'made')
  }
}

/** An OS error making or writing DATA_DIR, as the setting's: the OS's message named no setting. */
function unwritable(dir: string, error: unknown, what: 'made' | 'written'): unknown {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? new ConfigError(`DATA_DIR ${dir} cannot be ${what} (${code})`) : error
}
