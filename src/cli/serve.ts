import { lookup } from 'node:dns/promises'
import { createServer, isIP } from 'node:net'
import { ConfigError, loadConfig, type Role } from '../app/config.js'
import type { DemoExample } from '../app/domain.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import { limitsFromEnv } from '../http/limits.js'
import { buildServer } from '../http/server.js'
import { headPosition } from '../storage/event-log.js'
import { examplesCaller, sendExamples } from './examples.js'
import { stopOnSignal, stopWithinMs } from './shutdown.js'

/** HOST names an address: one that does not resolve failed at listen, after the demo was written. */
async function resolvable(host: string): Promise<void> {
  if (isIP(host) !== 0) return
  await lookup(host).catch(() => {
    throw new ConfigError(`HOST ${host} does not resolve to an address`)
  })
}

/**
 * HOST and PORT can be listened on: an address not this machine's (EADDRNOTAVAIL) or a port taken
 * (EADDRINUSE) failed at listen, after the migrations and the demo were written. Tried and let go at
 * once; another process may still take the port in between, and listen then says so.
 */
async function listenable(host: string, port: number): Promise<void> {
  if (port === 0) return
  const probe = createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ConfigError(`Cannot listen on ${host}:${port}: ${error.code ?? error.message}`)),
    )
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/**
 * `tandem serve`: the stores, projections and HTTP API. The demo data goes into an empty log only,
 * in embedded mode always (a first start stopped before it wrote anything writes it at the next),
 * elsewhere with `--seed`: its people and examples have fixed ids, and a second set would stop
 * halfway (a profile exists), leaving some domains doubled.
 */
export async function serve(options: { port?: number; seed?: boolean; roles?: Role[] }): Promise<void> {
  const config = { ...loadConfig(), ...(options.roles ? { roles: options.roles } : {}) }
  // Read with the rest of the settings: a wrong one stops the process before anything is written.
  const limits = limitsFromEnv()
  if (options.seed && config.roles && !config.roles.includes('command'))
    throw new ConfigError('--seed needs the command role')
  await resolvable(config.host)
  await listenable(config.host, options.port ?? config.port)
  const tandem = await startTandem({ config })
  if (options.seed || tandem.mode === 'embedded') await seedIfEmpty(tandem)
  const app = await buildServer(tandem, { limits })
  const address = await app.listen({ port: options.port ?? config.port, host: config.host })
  const stop = stopOnSignal({
    async close() {
      // A read waiting for a position (up to 10 s) held the close up, past the bound on shutdown.
      tandem.projections.endWaits()
      await app.close()
      await tandem.close()
    },
    exit: (code) => process.exit(code),
    log: tandem.log,
    withinMs: tandem.mode === 'server' ? stopWithinMs : undefined,
  })
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  console.log(await banner(tandem, address.replace('127.0.0.1', 'localhost')))
}

/** Writes the demo into an empty log; true if it did. A log with events is left as it is. */
export async function seedIfEmpty(tandem: Tandem): Promise<boolean> {
  if ((await headPosition(tandem.sql)) !== '0') {
    if ((await demoState(tandem)).interrupted) {
      tandem.log.warn(
        'the demo data was interrupted while it was written (a first start stopped early): some examples will fail; start on an empty DATA_DIR (or database) to have it whole',
      )
    } else tandem.log.info('the log holds events: the demo data is not written again')
    return false
  }
  await seedDemo(tandem)
  return true
}

/** Whether the demo was written whole, and whether a writing of it was begun and not finished. */
async function demoState(tandem: Tandem): Promise<{ written: boolean; interrupted: boolean }> {
  const rows = await tandem.sql.query<{ finished: boolean }>(
    'SELECT finished_at IS NOT NULL AS finished FROM tandem.demo',
  )
  return { written: rows.some((row) => row.finished), interrupted: rows.some((row) => !row.finished) }
}

/**
 * Every command example of the OpenAPI document (as `test-commands` runs them), so the query examples
 * in /docs answer for the examples' caller, whose token the banner prints; then each domain's demo,
 * whose settings (a department's budget, say) stand where an example set the same.
 */
export async function seedDemo(tandem: Tandem): Promise<void> {
  await tandem.sql.query('INSERT INTO tandem.demo (started_at) VALUES (now())')
  for (const example of await sendExamples(tandem, ['command'])) {
    if (example.outcome === 'failed') tandem.log.warn({ example }, 'an example did not run')
  }
  for (const domain of tandem.domains) await domain.seedDemo?.(tandem.commands)
  await tandem.projections.caughtUp()
  await tandem.sql.query('UPDATE tandem.demo SET finished_at = now() WHERE finished_at IS NULL')
  tandem.log.info('demo data seeded')
}

/** What `serve` prints at start: where things are, demo tokens, and requests that work as printed. */
export async function banner(tandem: Tandem, url: string): Promise<string> {
  const { written, interrupted } = await demoState(tandem)
  // The examples in /docs name the demo's ids: they run only where the demo was written whole, and a
  // process offers the routes of its roles only.
  const own = (['command', 'query'] as const).filter((role) => tandem.roles.has(role))
  const offered =
    own.length === 2 ? '' : ` (this process's ${own[0] === 'command' ? 'commands' : 'queries'} only)`
  const demo = written
    ? `each example there runs on the demo data${offered}`
    : interrupted
      ? `the demo data was interrupted at a first start stopped early: some examples there fail${offered}; start on an empty DATA_DIR (or database) to have it whole`
      : `the examples there name the demo data${offered}, which this database does not hold: \`serve --seed\` writes it into an empty one`
  const docs =
    own.length === 0
      ? `${url}/docs (this process neither takes commands nor answers queries: its operations routes only)`
      : `${url}/docs (authorize with the examples token: ${demo})`
  const lines = [
    '',
    `  Tandem is running (${tandem.mode} mode${tandem.mode === 'embedded' ? `, data in ${tandem.config.dataDir}` : `, roles: ${[...tandem.roles].join(', ')}`})`,
    `  API       ${url}`,
    `  Docs      ${docs}`,
    `  OpenAPI   ${url}/openapi.json`,
    `  Stats     ${url}/api/cqrs/stats`,
  ]
  // Demo tokens only where this process made the secret: with AUTH_SECRET set, the operator issues them.
  const tokens = new Map<string, string>()
  const people = [
    ...tandem.domains.flatMap((d) => d.demoCallers ?? []),
    { ...examplesCaller(tandem.domains), label: 'examples' },
  ]
  if (!tandem.config.authSecret) {
    for (const caller of people) {
      const claims = { sub: caller.id, roles: caller.roles, ...(caller.dept ? { dept: caller.dept } : {}) }
      tokens.set(caller.label, tandem.auth.sign(claims, { expiresInSeconds: 7 * 24 * 3600 }))
    }
    lines.push('', '  Tokens to try it (valid 7 days):')
    const width = Math.max(0, ...[...tokens.keys()].map((label) => label.length))
    for (const [label, token] of tokens) lines.push(`    ${label.padEnd(width)} ${token}`)
  } else {
    // The operator's secret: the demo's people, and how to make a token for each with it.
    // By label, as the tokens above are: study and quiz share their learner.
    const byLabel = new Map(people.map((c) => [c.label, c]))
    const callers = [...byLabel.values()]
    if (callers.length > 0) lines.push('', "  The demo's people (make a token with AUTH_SECRET set as here):")
    const width = Math.max(0, ...callers.map((caller) => caller.label.length))
    for (const caller of callers) {
      const roles = caller.roles.length > 0 ? ` --roles ${caller.roles.join(',')}` : ''
      const dept = caller.dept ? ` --dept ${caller.dept}` : ''
      lines.push(
        `    ${caller.label.padEnd(width)} npm run -s tandem -- token --sub ${caller.id}${roles}${dept}`,
      )
    }
  }
  if (tandem.roles.has('query') && tandem.roles.has('command')) {
    const examples: DemoExample[] = []
    for (const domain of tandem.domains)
      examples.push(...((await domain.demoExamples?.(tandem.queries)) ?? []))
    // As printed only where this process made the tokens and the demo data (embedded mode): elsewhere
    // the operator issues tokens, and a database has the demo only if `seed-demo` wrote it there.
    const asPrinted = tokens.size > 0 && tandem.mode === 'embedded'
    const heading = !asPrinted
      ? '  Examples (on the demo data, which `tandem seed-demo` writes into an empty database; tokens from `tandem token`):'
      : interrupted
        ? '  Examples (the demo data was interrupted at a first start stopped early: some fail; start on an empty DATA_DIR to have it whole):'
        : '  Try (each works as printed):'
    if (examples.length > 0) lines.push('', heading)
    for (const example of examples)
      lines.push(`    # ${printable(example.title)}`, ...curl(url, example, tokens).map((l) => `    ${l}`))
  }
  return `${lines.join('\n')}\n`
}

/** What a terminal does not show as written: control and format characters, line separators. */
const unseen = '\\p{Cc}\\p{Cf}\\u2028\\u2029'

/** `\uXXXX` for each UTF-16 unit of `c` (two for a character past U+FFFF), as JSON writes them. */
const escaped = (c: string) =>
  Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')

/**
 * What a terminal shows as written: control and format characters (an escape sequence, a line break,
 * a right-to-left override) and line separators as `\u` escapes. The examples' titles quote data
 * anyone may have written (an event's or a quiz's title): one holding ESC cleared the operator's
 * screen, one holding a line break printed a line of its own in the block of commands to copy.
 */
export function printable(text: string): string {
  return text.replace(new RegExp(`[${unseen}]`, 'gu'), escaped)
}

/**
 * A JSON body for a shell's single quotes: what can only stand in its strings (a quote that would end
 * the shell's, characters `printable` escapes) as JSON's own `\u` escapes, so it is the same JSON.
 */
function shellJson(value: unknown): string {
  // JSON escapes C0 controls itself, but not DEL or the C1 ones (U+009B starts a terminal's sequence).
  return JSON.stringify(value).replace(new RegExp(`['${unseen}]`, 'gu'), escaped)
}

/** A curl command line for `example`, split where a shell continues it. */
function curl(url: string, example: DemoExample, tokens: ReadonlyMap<string, string>): string[] {
  // A quote or a control character in a path is sent %-encoded, as curl would send it anyway.
  const path = example.path.replace(new RegExp(`['${unseen}]`, 'gu'), (c) => encodeURIComponent(c))
  const target = `'${url}${path}'`
  const auth =
    example.as === undefined
      ? undefined
      : `-H "Authorization: Bearer ${tokens.get(example.as) ?? `<${example.as} token>`}"`
  if (example.method === 'GET') return [auth ? `curl ${auth} ${target}` : `curl ${target}`]
  return [
    `curl -X POST ${target} \\`,
    `  ${auth ? `${auth} ` : ''}-H "Content-Type: application/json" \\`,
    `  -d '${shellJson(example.body ?? {})}'`,
  ]
}
