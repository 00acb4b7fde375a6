import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { ConfigError } from './config.js'
import { dataDirSecret, existingDataDirSecret, lockDataDir } from './data-dir.js'
import { compiledSources, removeCompiledSources } from '../testing/compiled-sources.js'

const run = promisify(execFile)
// The compiled copy the child processes load (a worker process is stopped, not exited: no exit hook runs).
afterAll(() => removeCompiledSources())

describe('the token secret kept in DATA_DIR', () => {
  const dirs: string[] = []
  const dir = () => {
    const made = mkdtempSync(join(tmpdir(), 'tandem-secret-'))
    dirs.push(made)
    return made
  }
  afterEach(() => {
    for (const made of dirs.splice(0)) rmSync(made, { recursive: true, force: true })
  })

  it('refuses a DATA_DIR that is a file, naming it', () => {
    const file = join(dir(), 'a-file')
    writeFileSync(file, '')
    expect(() => lockDataDir(file)).toThrow(new ConfigError(`DATA_DIR ${file} is not a folder`))
    // A file above it is named, not the folder that could not be made below it.
    expect(() => dataDirSecret(join(file, 'below', 'deeper'))).toThrow(
      new ConfigError(`DATA_DIR ${join(file, 'below', 'deeper')} cannot be made: ${file} is a file`),
    )
  })

  it('refuses a DATA_DIR that cannot be written, naming the setting', () => {
    // sysfs: a folder even root cannot make a file in.
    if (process.platform === 'linux')
      expect(() => lockDataDir('/sys')).toThrow(new ConfigError('DATA_DIR /sys cannot be written (EACCES)'))
  })

  it('makes the folders of a new DATA_DIR, and refuses one that cannot be made, naming it', () => {
    const deep = join(dir(), 'a', 'b', 'c')
    expect(dataDirSecret(deep).length).toBeGreaterThanOrEqual(16)
    // Node's recursive mkdir loops for ever under /proc: this one says so at once.
    if (process.platform === 'linux')
      expect(() => lockDataDir('/proc/tandem-data/below')).toThrow(
        new ConfigError('DATA_DIR /proc/tandem-data/below cannot be made (ENOENT)'),
      )
  })

  it('is locked by one process: a lock of a process that runs refuses, one left by an earlier process is taken over', () => {
    const d = dir()
    const lock = join(d, 'tandem.lock')
    const parentStart = () => {
      const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
    }
    const taken = (content: string) => {
      writeFileSync(lock, content)
      try {
        lockDataDir(d)()
        return true
      } catch (error) {
        expect(String(error)).toContain(`is in use by process ${content.split(' ')[0]}`)
        return false
      }
    }
    // Another process that runs (the parent), as an earlier version wrote its lock: the PID alone.
    expect(taken(String(process.ppid))).toBe(false)
    // This process's PID, as a server started again in a container after a kill -9 is given.
    expect(taken(String(process.pid))).toBe(true)
    if (process.platform === 'linux') {
      expect(taken(`${process.ppid} ${parentStart()}`)).toBe(false)
      // The PID given to another process since: it started at another time.
      expect(taken(`${process.ppid} ${Number(parentStart()) + 1}`)).toBe(true)
    }
  })

  it('is taken over by one of several processes that find a stale lock at once', async () => {
    const d = dir()
    // A lock of a process that ended (no process is 999999's age: the start time is of none).
    writeFileSync(join(d, 'tandem.lock'), '999999 1')
    const at = Date.now() + 2_500
    const module = join(await compiledSources(), 'src', 'app', 'data-dir.js')
    const script = `
      import { lockDataDir } from ${JSON.stringify(module)}
      // Asleep, not spinning: four processes spinning took the machine's two cores from other files.
      const sleepUntil = (t) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, t - Date.now()))
      sleepUntil(${at})
      let said = 'GOT'
      try { lockDataDir(${JSON.stringify(d)}) } catch (error) { said = String(error) }
      console.log(said)
      // Held a while, so that a late starter finds it held.
      sleepUntil(${at + 1_500})`
    const said = await Promise.all(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ['--input-type=module', '-e', script]).then((r) => r.stdout.trim()),
      ),
    )
    expect(said.filter((line) => line === 'GOT')).toHaveLength(1)
    for (const line of said.filter((l) => l !== 'GOT')) expect(line).toMatch(/is in use by process \d+/)
  }, 60_000)

  it('refuses a DATA_DIR that is a symbolic link to nothing, saying so', () => {
    const link = join(dir(), 'dangling')
    symlinkSync(join(dir(), 'nowhere'), link)
    expect(() => lockDataDir(link)).toThrow(
      new ConfigError(`DATA_DIR ${link} cannot be made: it is a symbolic link that leads to no folder`),
    )
  })

  it('refuses an auth-secret that cannot be read, saying so', () => {
    const d = dir()
    mkdirSync(join(d, 'auth-secret'))
    expect(() => dataDirSecret(d)).toThrow(
      new ConfigError(`DATA_DIR ${d}: its auth-secret cannot be read (EISDIR)`),
    )
  })

  it('is made once, and read as it was made', () => {
    const d = dir()
    expect(existingDataDirSecret(d)).toBeUndefined()
    const secret = dataDirSecret(d)
    expect(secret.length).toBeGreaterThanOrEqual(16)
    expect(dataDirSecret(d)).toBe(secret)
    expect(existingDataDirSecret(d)).toBe(secret)
  })

  it('holds to AUTH_SECRET’s bound: a short or empty one is refused, naming the file, and left as it is', () => {
    for (const kept of ['short', '', '  \n']) {
      const d = dir()
      writeFileSync(join(d, 'auth-secret'), kept)
      expect(() => existingDataDirSecret(d)).toThrow(ConfigError)
      expect(() => dataDirSecret(d)).toThrow(/auth-secret holds a secret of \d+ characters: at least 16/)
      expect(readFileSync(join(d, 'auth-secret'), 'utf8')).toBe(kept)
    }
  })
})
