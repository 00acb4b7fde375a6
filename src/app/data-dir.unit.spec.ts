import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError } from './config.js'
import { dataDirSecret, existingDataDirSecret, lockDataDir } from './data-dir.js'

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
