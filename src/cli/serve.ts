import { ConfigError, loadConfig, type Role } from '../app/config.js'
import { isFreshDataDir } from '../app/data-dir.js'
import type { DemoExample } from '../app/domain.js'
import { startTandem, type Tandem } from '../app/tandem.js'
import { buildServer } from '../http/server.js'

/** `tandem serve`: the stores, projections and HTTP API. Embedded mode seeds demo data into a new DATA_DIR. */
export async function serve(options: { port?: number; seed?: boolean; roles?: Role[] }): Promise<void> {
  const config = { ...loadConfig(), ...(options.roles ? { roles: options.roles } : {}) }
  const fresh = !config.databaseUrl && isFreshDataDir(config.dataDir)
  if (options.seed && config.roles && !config.roles.includes('command'))
    throw new ConfigError('--seed needs the command role')
  const tandem = await startTandem({ config })
  if (options.seed ?? fresh) await seedDemo(tandem)
  const app = await buildServer(tandem)
  const address = await app.listen({ port: options.port ?? config.port, host: config.host })
  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    tandem.log.info({ signal }, 'shutting down')
    await app.close()
    await tandem.close()
    process.exit(0)
  }
  process.on('SIGINT', () => void stop('SIGINT'))
  process.on('SIGTERM', () => void stop('SIGTERM'))
  console.log(await banner(tandem, address.replace('127.0.0.1', 'localhost')))
}

export async function seedDemo(tandem: Tandem): Promise<void> {
  for (const domain of tandem.domains) await domain.seedDemo?.(tandem.commands)
  await tandem.projections.caughtUp()
  tandem.log.info('demo data seeded')
}

/** What `serve` prints at start: where things are, demo tokens, and requests that work as printed. */
export async function banner(tandem: Tandem, url: string): Promise<string> {
  const lines = [
    '',
    `  Tandem is running (${tandem.mode} mode${tandem.mode === 'embedded' ? `, data in ${tandem.config.dataDir}` : `, roles: ${[...tandem.roles].join(', ')}`})`,
    `  API       ${url}`,
    `  Docs      ${url}/docs`,
    `  OpenAPI   ${url}/openapi.json`,
    `  Stats     ${url}/api/cqrs/stats`,
  ]
  // Demo tokens only where this process made the secret: with AUTH_SECRET set, the operator issues them.
  const tokens = new Map<string, string>()
  if (!tandem.config.authSecret) {
    for (const domain of tandem.domains) {
      for (const caller of domain.demoCallers ?? []) {
        const claims = { sub: caller.id, roles: caller.roles, ...(caller.dept ? { dept: caller.dept } : {}) }
        tokens.set(caller.label, tandem.auth.sign(claims, { expiresInSeconds: 7 * 24 * 3600 }))
      }
    }
    lines.push('', '  Tokens to try it (valid 7 days):')
    const width = Math.max(0, ...[...tokens.keys()].map((label) => label.length))
    for (const [label, token] of tokens) lines.push(`    ${label.padEnd(width)} ${token}`)
  }
  if (tandem.roles.has('query') && tandem.roles.has('command')) {
    const examples: DemoExample[] = []
    for (const domain of tandem.domains)
      examples.push(...((await domain.demoExamples?.(tandem.queries)) ?? []))
    // As printed only where this process made the tokens and the demo data (embedded mode): elsewhere
    // the operator issues tokens, and a database has the demo only if `seed-demo` wrote it there.
    const asPrinted = tokens.size > 0 && tandem.mode === 'embedded'
    if (examples.length > 0)
      lines.push(
        '',
        asPrinted
          ? '  Try (each works as printed):'
          : '  Examples (on the demo data, which `tandem seed-demo` writes into an empty database; tokens from `tandem token`):',
      )
    for (const example of examples)
      lines.push(`    # ${example.title}`, ...curl(url, example, tokens).map((l) => `    ${l}`))
  }
  return `${lines.join('\n')}\n`
}

/** A curl command line for `example`, split where a shell continues it. */
function curl(url: string, example: DemoExample, tokens: ReadonlyMap<string, string>): string[] {
  const target = `'${url}${example.path}'`
  const auth =
    example.as === undefined
      ? undefined
      : `-H "Authorization: Bearer ${tokens.get(example.as) ?? `<${example.as} token>`}"`
  if (example.method === 'GET') return [auth ? `curl ${auth} ${target}` : `curl ${target}`]
  return [
    `curl -X POST ${target} \\`,
    `  ${auth ? `${auth} ` : ''}-H "Content-Type: application/json" \\`,
    `  -d '${JSON.stringify(example.body ?? {})}'`,
  ]
}
