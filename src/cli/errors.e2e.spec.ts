import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, expect, it, vi } from 'vitest'
import { createScratchDatabase } from '../storage/scratch-database.js'
import { postgresUrl, servicesAvailable } from '../testing/services.js'
import { compiledCli, removeCompiledSources } from '../testing/compiled-sources.js'
import { main, UsageError } from './run.js'

const run = promisify(execFile)
// The compiled copy the child processes load (a worker process is stopped, not exited: no exit hook runs).
afterAll(() => removeCompiledSources())

/** The CLI from the sources, its exit code and what it wrote to stderr. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout } = await run(process.execPath, [await compiledCli(), ...args], {
      timeout: 110_000,
      env: { ...process.env, ...env },
    })
    return { code: 0, stdout, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string }
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr }
  }
}

// A mistake in the command line, found by the CLI's own code (in this process: each run of the CLI
// loads the compiled sources, most of a second per run).
it('refuses each mistake in a command line before it runs anything, in words that name it', async () => {
  const cases: [string[], RegExp][] = [
    [['token', '--sub', 'kim', '--bogus'], /Unknown option '--bogus'/],
    [['no-such-command'], /Unknown command "no-such-command"/],
    // Asked for its usage, a command nothing knows is a mistake still (it printed the usage, exit 0).
    [['no-such-command', '--help'], /Unknown command "no-such-command"/],
    [['help', 'no-such-command'], /Unknown command "no-such-command"/],
    // An object's own names are no commands either (`in` took them, with --help).
    [['toString', '--help'], /Unknown command "toString"/],
    [['constructor', '-h'], /Unknown command "constructor"/],
    [['toString', '--url', 'http://127.0.0.1:1'], /Unknown command "toString"/],
    // A usage mistake, its usage after it: it printed its reason alone, as a setting's.
    [['serve', '--role', 'wizard'], /--role must list roles from command, query, projector, not "wizard"/],
    // Past their bounds, before anything runs: a token that never expires, a run that fills the memory.
    [['token', '--sub', 'kim', '--ttl', '1e30'], /--ttl is a number of seconds, 1 to 315360000/],
    // A role nothing names (a typo): the token would grant nothing.
    [
      ['token', '--sub', 'kim', '--roles', 'organizer,admn'],
      /--roles names admn, which no part of Tandem knows/,
    ],
    [['bench', '10', '--concurrency', '100000000'], /--concurrency must be a whole number from 1 to 1,000/],
    // Digits only: `1e3` ran a thousand operations, where --ttl 1e3 was refused.
    [['bench', '1e3'], /N must be a whole number from 1 to 10,000,000/],
    [['bench', '10', '--concurrency', '0x10'], /--concurrency must be a whole number/],
    // A mistake too, with the usage after it: it printed its reason alone.
    [['bench', '10', '--domain', 'events,bogus'], /^No benchmark mix for bogus \(offered: events, /],
    [['serve', '--port', 'abc'], /--port must be a port number/],
    // What a command does not take is refused, not ignored; a processor's name is checked here.
    [['handlers', '--url', 'http://127.0.0.1:1'], /handlers takes no --url/],
    // Given twice, an option is refused: the last one won, unsaid (a token for b, asked for a).
    [['token', '--sub', 'a', '--sub', 'b'], /--sub is given twice/],
    [['processors', 'retry', 'a/b/c'], /No processor is named "a\/b\/c"/],
    [['processors', 'list'], /processors has no "list": one subcommand, retry NAME/],
    [['export-openapi', '--out', ''], /--out needs a file name/],
    // Useless tokens are not made: a manager of no department, a lifetime read as hex.
    [['token', '--sub', 'm', '--roles', 'manager'], /--roles manager needs --dept/],
    [
      ['token', '--sub', 'm', '--roles', 'manager', '--dept', ' sales'],
      /^--dept is not a department: 1 to 200/,
    ],
    [['token', '--sub', 'kim', '--ttl', '0x10'], /--ttl is a number of seconds/],
    // Checked as DATABASE_URL is: `notaurl` failed as a host named `base`.
    [['bench', '10', '--postgres', 'notaurl'], /--postgres must be a URL/],
    [['stats', '--url', 'notaurl'], /--url must be a URL/],
  ]
  for (const [args, said] of cases) {
    const refused = await main(args).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(refused, args.join(' ')).toBeInstanceOf(Error)
    expect(
      refused instanceof UsageError || (refused as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'),
    ).toBe(true)
    expect((refused as Error).message).toMatch(said)
  }
  // A server that does not answer is named by its option, as DATABASE_URL's is: no usage mistake.
  await expect(main(['bench', '10', '--postgres', 'postgres://postgres@127.0.0.1:1/x'])).rejects.toThrow(
    /^--postgres \(127\.0\.0\.1:1\/x\) does not answer: /,
  )
})

it('refuses a HOST that names no address before anything is made or written', async () => {
  const dataDir = join(tmpdir(), `tandem-host-${process.pid}-${Date.now()}`)
  vi.stubEnv('HOST', 'not a host!')
  vi.stubEnv('DATA_DIR', dataDir)
  try {
    await expect(main(['serve'])).rejects.toThrow('HOST not a host! does not resolve to an address')
    expect(existsSync(dataDir)).toBe(false)
  } finally {
    vi.unstubAllEnvs()
  }
})

it('refuses a PORT taken, or a HOST not of this machine, before anything is made or written', async () => {
  const dataDir = join(tmpdir(), `tandem-port-${process.pid}-${Date.now()}`)
  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  vi.stubEnv('HOST', '127.0.0.1')
  vi.stubEnv('PORT', String((taken.address() as AddressInfo).port))
  vi.stubEnv('DATA_DIR', dataDir)
  try {
    await expect(main(['serve'])).rejects.toThrow(/^Cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE$/)
    // TEST-NET-1: an address no machine here has (unless the kernel lets a process bind any).
    const nonlocal = '/proc/sys/net/ipv4/ip_nonlocal_bind'
    if (!existsSync(nonlocal) || readFileSync(nonlocal, 'utf8').trim() === '0') {
      vi.stubEnv('HOST', '192.0.2.1')
      await expect(main(['serve'])).rejects.toThrow(/^Cannot listen on 192\.0\.2\.1:\d+: EADDRNOTAVAIL$/)
    }
    expect(existsSync(dataDir)).toBe(false)
  } finally {
    vi.unstubAllEnvs()
    await new Promise((resolve) => taken.close(resolve))
  }
})

it('names --out when the document cannot be written there', { timeout: 60_000 }, async () => {
  await expect(main(['export-openapi', '--out', tmpdir()])).rejects.toThrow(
    new UsageError(`--out ${tmpdir()} cannot be written (EISDIR)`),
  )
  // Node's recursive mkdir loops for ever under /proc: this one says so at once.
  if (process.platform === 'linux')
    await expect(main(['export-openapi', '--out', '/proc/tandem-out/x.json'])).rejects.toThrow(
      new UsageError('--out /proc/tandem-out/x.json cannot be written (ENOENT)'),
    )
  // A file where a folder of the path should be is named.
  const file = join(tmpdir(), `tandem-out-file-${process.pid}`)
  writeFileSync(file, '')
  try {
    await expect(main(['export-openapi', '--out', join(file, 'docs', 'x.json')])).rejects.toThrow(
      new UsageError(`--out ${join(file, 'docs', 'x.json')} cannot be written: ${file} is a file`),
    )
  } finally {
    rmSync(file, { force: true })
  }
})

it('refuses seed-demo on a log that holds events, before anything starts', { timeout: 60_000 }, async () => {
  const dataDir = join(tmpdir(), `tandem-seeded-${process.pid}-${Date.now()}`)
  vi.stubEnv('DATA_DIR', dataDir)
  vi.stubEnv('LOG_LEVEL', 'silent')
  try {
    const [{ startTandem }, { loadConfig }, { feedDomain }, { createUser }] = await Promise.all([
      import('../app/tandem.js'),
      import('../app/config.js'),
      import('../domains/feed/index.js'),
      import('../domains/feed/commands.js'),
    ])
    const tandem = await startTandem({ config: loadConfig(), domains: [feedDomain] })
    try {
      const caller = { id: 'kim', roles: [] }
      const done = await tandem.commands.execute(
        createUser,
        { handle: 'kim', displayName: 'Kim' },
        { caller },
      )
      expect(done.status).toBe('succeeded')
    } finally {
      await tandem.close()
    }
    await expect(main(['seed-demo'])).rejects.toThrow('The database already holds events')
  } finally {
    vi.unstubAllEnvs()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

// Each run loads the CLI's compiled sources (a second or two here): with room for a machine three times slower.
it(
  "answers a mistake with one line and its command's usage, no stack, exit 1; a command's --help with the usage",
  { timeout: 120_000 },
  async () => {
    const [help, unknown] = await Promise.all([
      cli(['export-openapi', '--help']),
      cli(['token', '--sub', 'kim', '--bogus']),
    ])
    // A command's --help is the usage, not an unknown option; nothing is written.
    expect(help).toMatchObject({ code: 0, stderr: '' })
    expect(help.stdout).toContain('export-openapi [--out FILE]')
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^Unknown option '--bogus'/)
    // The usage of the command it was made in, not every command and variable burying the reason.
    expect(unknown.stderr).toContain('Usage: tandem <command>')
    expect(unknown.stderr).toContain('token --sub ID')
    expect(unknown.stderr).not.toContain('export-openapi')
    expect(unknown.stderr).not.toContain('Environment:')
    expect(unknown.stderr).toContain('`tandem help` prints every command and environment variable.')
    expect(unknown.stderr).not.toMatch(/^\s+at /m)
  },
)

it('says what is wrong with the secret of a command sent to a server, not that no server answers; writes nothing', async () => {
  const dataDir = join(tmpdir(), `tandem-cli-${process.pid}-${Date.now()}`)
  const url = ['--url', 'http://127.0.0.1:1']
  /** What `main` refused the command line with, in an environment of its own (main.ts prints it, exit 1). */
  const refusal = async (args: string[], env: Record<string, string>) => {
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value)
    try {
      return await main(args).then(
        () => 'not refused',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      )
    } finally {
      vi.unstubAllEnvs()
    }
  }
  expect(await refusal(['clear-cache', ...url], { AUTH_SECRET: 'short' })).toContain(
    'AUTH_SECRET must be at least 16',
  )
  const noSecret = { DATA_DIR: dataDir, AUTH_SECRET: '' }
  expect(await refusal(['clear-cache', ...url], noSecret)).toContain('No secret to sign an admin token')
  // A token signed with a secret made here, in a folder that is no server's, would be refused.
  expect(await refusal(['token', '--sub', 'kim'], noSecret)).toContain(
    'No secret to sign with: set AUTH_SECRET',
  )
  // Stats are public: no token, so no secret is made in a DATA_DIR that is no server's.
  expect(await refusal(['stats', ...url], noSecret)).toContain('No Tandem server answers')
  // An HTTP setting is read with the others: refused before the database is made and seeded.
  expect(await refusal(['serve', '--port', '0'], { DATA_DIR: dataDir, HTTP_MAX_CONNECTIONS: '0' })).toContain(
    'HTTP_MAX_CONNECTIONS must be an integer',
  )
  expect(existsSync(dataDir)).toBe(false)
})

it.runIf(servicesAvailable)(
  'says which migration PostgreSQL refused and why, in one line, and exits 1',
  async () => {
    const scratch = await createScratchDatabase(postgresUrl, 'migration')
    const admin = new pg.Client({ connectionString: scratch.url })
    try {
      const env = { DATABASE_URL: scratch.url }
      // Migrated in this process (a run of the CLI loads its sources, seconds): then by the CLI.
      vi.stubEnv('DATABASE_URL', scratch.url)
      try {
        await main(['migrate'])
      } finally {
        vi.unstubAllEnvs()
      }
      // Its record gone, the first migration of the cards runs again over what it made.
      await admin.connect()
      await admin.query(`DELETE FROM tandem.migrations WHERE id = 'cards/001-write-model'`)
      const failed = await cli(['migrate'], env)
      expect(failed.code).toBe(1)
      expect(failed.stderr).toMatch(
        /^Migration cards\/001-write-model failed: schema "cards" already exists \(SQLSTATE 42P06\)\n$/,
      )
    } finally {
      await admin.end()
      await scratch.drop()
    }
  },
  120_000,
)

it.runIf(servicesAvailable)(
  'drops the scratch database of `bench --postgres` when stopped with Ctrl-C',
  { timeout: 120_000 },
  async () => {
    const admin = new pg.Client({ connectionString: postgresUrl })
    await admin.connect()
    const benchDatabases = async () =>
      (
        await admin.query<{ name: string }>(
          `SELECT datname AS name FROM pg_database WHERE datname LIKE 'tandem\\_bench\\_%'`,
        )
      ).rows.map((r) => r.name)
    try {
      const child = spawn(
        process.execPath,
        [await compiledCli(), 'bench', '10000000', '--postgres', postgresUrl],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      )
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
      // Its own database, which it names: another file's may be made meanwhile (the server smoke run's).
      let said = ''
      const named = new Promise<string | undefined>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
          said += chunk
          const name = /scratch database (tandem_bench_\w+)/.exec(said)?.[1]
          if (name) resolve(name)
        })
        void exited.then(() => resolve(undefined))
      })
      const made = await named
      expect(made, said).toBeDefined()
      expect(await benchDatabases()).toContain(made)
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      expect(await benchDatabases()).not.toContain(made)
    } finally {
      await admin.end()
    }
  },
)
