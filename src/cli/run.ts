import { accessSync, constants, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigError, environment, isUrlOf, loadConfig, parseRoles } from '../app/config.js'
import { existingDataDirSecret, fileInTheWay, makeFolders } from '../app/data-dir.js'
import { call, rebuild, retryProcessor, serverUrl } from './remote.js'

// Each command imports what it runs when it runs: a mistyped option, `token` or `stats` answer
// without loading the application, its store drivers and its server.
const domainsOf = async () => (await import('../app/domains.js')).domains

/** The commands and what each takes, one entry each (continuation lines indented). */
const commands = `  serve [--port N] [--seed] [--role command,query,projector]
                                   Run the API (embedded mode unless DATABASE_URL is set); in
                                   server mode --role (or ROLES) picks what this process does
  migrate                          Apply database migrations and exit
  token --sub ID [--roles a,b] [--dept D] [--ttl SECONDS]
                                   Print a bearer token signed with the server's secret
  stats [--url URL]                Execution statistics of a running server
  handlers                         List the registered commands, queries and projections
  rebuild <projection> [--url URL] Rebuild a projection beside the live one, then switch
  clear-cache [--url URL]          Drop a running server's cached query answers
  processors retry <domain/name> [--url URL]
                                   Handle a processor's parked events (dead letters) again
  seed-demo                        Write the demo data
  bench [N] [--postgres URL] [--concurrency C] [--domain D] [--json]
                                   Run N commands and queries through the in-process buses
                                   (the guide's benchmark; D: one domain's mix, e.g. study;
                                   --json: the figures as JSON)
  test-commands                    Send every command's examples through the buses (a fresh in-memory Tandem)
  test-queries                     The same for every query, after the command examples wrote their data
  export-openapi [--out FILE]      Write the OpenAPI document (default docs/api/openapi.json)`

export async function usage(): Promise<string> {
  const domains = await domainsOf()
  return `Usage: tandem <command> [options]

${commands}

Environment:
${[
  ...environment,
  ...domains.flatMap((d) => (d.settings ?? []).map((s) => [s.name, s.text, s.default] as const)),
]
  .map(([name, text, value]) => `  ${name.padEnd(24)} ${text}${value ? ` (default ${value})` : ''}`)
  .join('\n')}
`
}

/**
 * What a mistake on the command line prints after its one-line reason: the usage of the command
 * given, if it is one, else the list of commands; not the environment (70 lines that buried the reason).
 */
export function usageAfterMistake(command: string | undefined): string {
  const entries = commands.split(/\n(?= {2}\S)/)
  const own = entries.filter((entry) => command !== undefined && entry.trimStart().split(' ')[0] === command)
  return `Usage: tandem <command> [options]\n${own.length > 0 ? own.join('\n') : commands}\n\n\`tandem help\` prints every command and environment variable.`
}

/** Runs one `tandem` command line; a mistake in it is a `UsageError` (or parseArgs' `ERR_PARSE_ARGS_…`). */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  // `tandem <command> --help` (or `help <command>`) as `tandem help`: the usage says what each command
  // takes. A command it does not know is a mistake, asked about or not (`in` saw `toString`).
  const helps = ['help', '--help', '-h']
  const asked = command !== undefined && helps.includes(command) ? rest[0] : command
  if (command === undefined || helps.includes(command) || rest.some((word) => helps.includes(word))) {
    if (asked !== undefined && !helps.includes(asked) && !Object.hasOwn(takes, asked))
      throw new UsageError(`Unknown command "${asked}"`)
    console.log(await usage())
    return
  }
  const { values, positionals, tokens } = parseArgs({
    args: rest,
    allowPositionals: true,
    tokens: true,
    options: {
      port: { type: 'string' },
      seed: { type: 'boolean' },
      sub: { type: 'string' },
      roles: { type: 'string' },
      dept: { type: 'string' },
      ttl: { type: 'string' },
      url: { type: 'string' },
      out: { type: 'string' },
      postgres: { type: 'string' },
      concurrency: { type: 'string' },
      role: { type: 'string' },
      domain: { type: 'string' },
      json: { type: 'boolean' },
    },
  })
  // parseArgs keeps the last of an option given twice: `--sub a --sub b` made b's token, unsaid.
  const named = new Set<string>()
  for (const token of tokens)
    if (token.kind === 'option') {
      if (named.has(token.name)) throw new UsageError(`--${token.name} is given twice`)
      named.add(token.name)
    }
  const allowed = Object.hasOwn(takes, command) ? takes[command] : undefined
  if (allowed) {
    for (const name of Object.keys(values))
      if (!allowed.options.includes(name)) throw new UsageError(`${command} takes no --${name}`)
    const extra = positionals[allowed.words]
    if (extra !== undefined) throw new UsageError(`${command}: "${extra}" is one argument too many`)
  }
  // URLs are checked as DATABASE_URL is: `--postgres notaurl` failed as a host named `base`, and
  // `--url notaurl` was called a server that does not answer.
  if (values.postgres !== undefined && !isUrlOf(values.postgres))
    throw new UsageError('--postgres must be a URL (postgres://…)')
  if (values.url !== undefined && !isUrlOf(values.url, ['http', 'https']))
    throw new UsageError('--url must be a URL (http://… or https://…)')
  switch (command) {
    case 'serve': {
      const { serve } = await import('./serve.js')
      return serve({
        port: values.port === undefined ? undefined : portOf(values.port),
        seed: values.seed,
        roles: values.role === undefined ? undefined : rolesOption(values.role),
      })
    }
    case 'migrate': {
      const { migrateOnly } = await import('../app/tandem.js')
      await migrateOnly({ config: loadConfig() })
      console.log('Migrations applied.')
      return
    }
    case 'token': {
      if (!values.sub) throw new UsageError('token needs --sub')
      const { isUserId, userIdForm } = await import('../core/schemas.js')
      const { createAuth, maxTokenSeconds } = await import('../app/auth.js')
      // Claims the server would refuse (401) are refused here, in the server's words.
      for (const [flag, value, what] of [
        ['--sub', values.sub, 'a user id'],
        ['--dept', values.dept, 'a department'],
      ] as const)
        if (value !== undefined && !isUserId(value))
          throw new UsageError(`${flag} is not ${what}: ${userIdForm}`)
      const roles = values.roles
        ? values.roles
            .split(',')
            .map((r) => r.trim())
            .filter(Boolean)
        : []
      // A role no part of Tandem names is a typo (`admn`): the token would grant nothing, unsaid.
      const { rolesOf } = await import('./examples.js')
      const domains = await domainsOf()
      const known = new Set([
        ...rolesOf(domains),
        ...domains.flatMap((d) => (d.demoCallers ?? []).flatMap((c) => c.roles)),
        'system',
      ])
      const unknown = roles.filter((role) => !known.has(role))
      if (unknown.length > 0)
        throw new UsageError(
          `--roles names ${unknown.join(', ')}, which no part of Tandem knows; its roles: ${[...known].sort().join(', ')}`,
        )
      // A manager manages a department (procurement): without one, every department query was 403.
      // Beside admin (who reads every department), as the banner's `examples` caller is, it needs none.
      if (roles.includes('manager') && !roles.includes('admin') && values.dept === undefined)
        throw new UsageError('--roles manager needs --dept, the department the manager manages')
      // Digits only: `0x10`, `1e3` and ` 60` were taken as 16, 1000 and 60; `1e30` never expired.
      const ttl =
        values.ttl === undefined ? 24 * 3600 : /^\d{1,9}$/.test(values.ttl) ? Number(values.ttl) : NaN
      if (!Number.isInteger(ttl) || ttl <= 0 || ttl > maxTokenSeconds)
        throw new UsageError(`--ttl is a number of seconds, 1 to ${maxTokenSeconds} (ten years)`)
      // Signed with the server's secret, never a new one: a token signed with a secret made here, in
      // another folder than the server's, was refused by the server (401) with nothing said.
      const config = loadConfig()
      const secret = config.authSecret ?? existingDataDirSecret(config.dataDir)
      if (secret === undefined)
        throw new UsageError(
          `No secret to sign with: set AUTH_SECRET as the server has it, or run this where the server keeps its DATA_DIR (${resolve(config.dataDir)} holds no auth-secret; the server makes one when it first starts)`,
        )
      const auth = createAuth(secret)
      console.log(
        auth.sign(
          { sub: values.sub, roles, ...(values.dept ? { dept: values.dept } : {}) },
          { expiresInSeconds: ttl },
        ),
      )
      return
    }
    case 'stats':
      console.log(JSON.stringify(await call(serverUrl(values.url), '/api/cqrs/stats'), null, 2))
      return
    case 'handlers':
      for (const d of await domainsOf()) {
        console.log(d.name)
        for (const c of d.commands)
          console.log(`  command  POST /api/commands/${c.domain}/${c.name}  ${c.summary}`)
        for (const q of d.queries)
          console.log(`  query    GET  /api/queries/${q.domain}/${q.name}  ${q.summary}`)
        for (const p of d.projections) console.log(`  projection  ${p.name} v${p.version} (${p.store})`)
        for (const p of d.processors ?? [])
          console.log(`  processor   ${p.domain}/${p.name} v${p.version} on ${p.events.join(', ')}`)
      }
      return
    case 'rebuild':
      if (!positionals[0]) throw new UsageError('rebuild needs a projection name (see "tandem handlers")')
      return rebuild(serverUrl(values.url), positionals[0])
    case 'processors': {
      const name = positionals[1]
      if (positionals[0] !== 'retry')
        throw new UsageError(
          `processors ${positionals[0] === undefined ? 'needs' : `has no "${positionals[0]}":`} one subcommand, retry NAME`,
        )
      if (!name)
        throw new UsageError('processors retry needs a processor name, domain/name (see "tandem handlers")')
      const known = (await domainsOf()).flatMap((d) =>
        (d.processors ?? []).map((p) => `${p.domain}/${p.name}`),
      )
      if (!known.includes(name))
        throw new UsageError(`No processor is named "${name}": ${known.join(', ')} (see "tandem handlers")`)
      return retryProcessor(serverUrl(values.url), name)
    }
    case 'clear-cache':
      console.log(JSON.stringify(await call(serverUrl(values.url), '/api/cqrs/cache/clear', 'POST')))
      return
    case 'seed-demo': {
      const [{ migrateOnly, startTandem }, { headPosition }, { seedDemo }] = await Promise.all([
        import('../app/tandem.js'),
        import('../storage/event-log.js'),
        import('./serve.js'),
      ])
      // The demo's people and examples have fixed ids: written twice, the second set would stop
      // halfway (a profile exists), leaving some domains doubled. Refused before anything is written,
      // and before anything starts (a processor started would go on with the log's work meanwhile).
      const written = new ConfigError(
        'The database already holds events: seed-demo writes the demo into an empty one (a new DATA_DIR or database)',
      )
      const config = { ...loadConfig(), roles: undefined }
      if ((await migrateOnly({ config })) !== '0') throw written
      const tandem = await startTandem({ config })
      try {
        // Another process may have written since.
        if ((await headPosition(tandem.sql)) !== '0') throw written
        await seedDemo(tandem)
        console.log('Demo data written.')
      } finally {
        await tandem.close()
      }
      return
    }
    case 'bench':
      {
        const { benchBus, mixRefusal } = await import('./bench.js')
        const domains = values.domain?.split(',')
        const refused = mixRefusal(domains)
        if (refused !== undefined) throw new UsageError(refused)
        const result = await benchBus({
          operations: count('N', positionals[0], 1000, 10_000_000),
          postgresUrl: values.postgres,
          // One worker each: `--concurrency 100000000` filled the memory before the first command.
          concurrency: count('--concurrency', values.concurrency, 8, 1000),
          domains,
          quiet: values.json,
          exitOnSignal: true,
        })
        if (values.json) console.log(JSON.stringify(result))
      }
      return
    case 'test-commands':
    case 'test-queries': {
      const { formatOutcomes, runExamples } = await import('./examples.js')
      const outcomes = await runExamples([command === 'test-commands' ? 'command' : 'query'])
      console.log(formatOutcomes(outcomes))
      if (outcomes.some((o) => o.outcome === 'failed')) process.exitCode = 1
      return
    }
    case 'export-openapi': {
      const out = values.out ?? 'docs/api/openapi.json'
      if (out.trim() === '') throw new UsageError('--out needs a file name')
      const cannotWrite = (error: unknown) => {
        const code = (error as { code?: unknown }).code
        const file = fileInTheWay(error)
        const why =
          file !== undefined ? `: ${file} is a file` : ` (${typeof code === 'string' ? code : String(error)})`
        return new UsageError(`--out ${out} cannot be written${why}`)
      }
      // Where it goes is checked first: a mistyped path is told at once, not after a Tandem has started.
      try {
        makeFolders(dirname(out))
        if (statSync(out, { throwIfNoEntry: false })?.isDirectory())
          throw Object.assign(new Error('a folder'), { code: 'EISDIR' })
        accessSync(dirname(out), constants.W_OK)
      } catch (error) {
        throw cannotWrite(error)
      }
      const [{ startThrowawayTandem }, { buildServer, openapiDocument }] = await Promise.all([
        import('./examples.js'),
        import('../http/server.js'),
      ])
      const tandem = await startThrowawayTandem()
      const app = await buildServer(tandem)
      const document = await openapiDocument(app)
      await app.close()
      await tandem.close()
      await writeFile(out, `${JSON.stringify(document, null, 2)}\n`).catch((error: unknown) => {
        throw cannotWrite(error)
      })
      console.log(`Wrote ${out}`)
      return
    }
    default:
      throw new UsageError(`Unknown command "${command}"`)
  }
}

export class UsageError extends Error {}

/** `--role` as ROLES is read, its mistake a usage one (the command's usage follows its reason). */
function rolesOption(text: string) {
  try {
    return parseRoles(text, '--role')
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message)
    throw error
  }
}

/** What each command takes: its options, and how many words may follow it. */
const takes: Readonly<Record<string, { options: readonly string[]; words: number }>> = {
  serve: { options: ['port', 'seed', 'role'], words: 0 },
  migrate: { options: [], words: 0 },
  token: { options: ['sub', 'roles', 'dept', 'ttl'], words: 0 },
  stats: { options: ['url'], words: 0 },
  handlers: { options: [], words: 0 },
  rebuild: { options: ['url'], words: 1 },
  processors: { options: ['url'], words: 2 },
  'clear-cache': { options: ['url'], words: 0 },
  'seed-demo': { options: [], words: 0 },
  bench: { options: ['postgres', 'concurrency', 'domain', 'json'], words: 1 },
  'test-commands': { options: [], words: 0 },
  'test-queries': { options: [], words: 0 },
  'export-openapi': { options: ['out'], words: 0 },
}

/** A whole number from 1 to `max` given on the command line, or `fallback` when none is given. */
function count(name: string, text: string | undefined, fallback: number, max: number): number {
  if (text === undefined) return fallback
  // Digits only, as --ttl and PORT are: Number() also read `1e3` and `0x10`.
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    throw new UsageError(`${name} must be a whole number from 1 to ${max.toLocaleString('en-US')}`)
  return n
}

/** `--port`: a port number, as PORT is (`abc` reached Node's listen as NaN). */
function portOf(text: string): number {
  const port = Number(text)
  if (!/^\d{1,5}$/.test(text) || port > 65535)
    throw new UsageError('--port must be a port number, 0 to 65535')
  return port
}
