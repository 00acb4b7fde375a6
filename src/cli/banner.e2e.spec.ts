import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startTestTandem, type TestTandem } from '../testing/harness.js'
import { modes } from '../testing/services.js'
import { buildServer } from '../http/server.js'
import { main } from './run.js'
import { banner, seedIfEmpty } from './serve.js'
import { headPosition } from '../storage/event-log.js'
import type { FastifyInstance } from 'fastify'

const run = promisify(execFile)

/** A parameter of the OpenAPI document, as far as the examples go. */
interface Parameter {
  in: string
  name: string
  example?: string | number | boolean
  examples?: Record<string, { value: string | number | boolean }>
}

/** The banner's `Try` commands, each joined from its continued lines, ready for a shell. */
function commandsOf(text: string): string[] {
  // Embedded: "Try (each works as printed)"; server mode: "Examples (on the demo data, …)", seeded here.
  const after = text.slice(text.search(/^ {2}(Try|Examples) \(/m))
  const commands: string[] = []
  let current = ''
  for (const line of after.split('\n').slice(1)) {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    if (trimmed.endsWith('\\')) current += `${trimmed.slice(0, -1)} `
    else {
      commands.push(current + trimmed)
      current = ''
    }
  }
  return commands
}

describe.each(modes)('the start banner (%s)', (mode) => {
  let t: TestTandem
  let app: FastifyInstance
  let url: string
  let dataDir: string
  beforeAll(async () => {
    // As `npm start` runs it: the secret is the data dir's, so the banner prints demo tokens.
    dataDir = await mkdtemp(join(tmpdir(), 'tandem-banner-'))
    t = await startTestTandem(mode, { config: { authSecret: undefined, dataDir } })
    expect(await seedIfEmpty(t)).toBe(true)
    app = await buildServer(t)
    url = await app.listen({ port: 0, host: '127.0.0.1' })
  })
  afterAll(async () => {
    await app.close()
    await t.dispose()
    await rm(dataDir, { recursive: true, force: true })
  })

  it("with the operator's secret, names the demo's people and how to make each one's token", async () => {
    const operated = { ...t, config: { ...t.config, authSecret: 'an-operators-secret-0123' } }
    const text = await banner(operated, url)
    expect(text).not.toContain('Tokens to try it')
    expect(text).toMatch(/npm run -s tandem -- token --sub demo-\S+ --roles \S+ --dept \S+/)
    for (const caller of t.domains.flatMap((d) => d.demoCallers ?? []))
      expect(text).toContain(`token --sub ${caller.id}`)
    // Each command works as printed (the `examples` one, a manager beside admin, was refused for
    // want of --dept): run here, with the operator's secret, each prints a token.
    const printed = [...text.matchAll(/npm run -s tandem -- (token .*)$/gm)].map((m) =>
      (m[1] ?? '').split(' '),
    )
    expect(printed.length).toBeGreaterThan(5)
    vi.stubEnv('AUTH_SECRET', operated.config.authSecret)
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    try {
      for (const args of printed) await expect(main(args), args.join(' ')).resolves.toBeUndefined()
      expect(log).toHaveBeenCalledTimes(printed.length)
    } finally {
      log.mockRestore()
      vi.unstubAllEnvs()
    }
  })

  it('writes the demo once: a log that holds events is left as it is', async () => {
    const head = () => headPosition(t.sql)
    const before = await head()
    expect(before).not.toBe('0')
    expect(await seedIfEmpty(t)).toBe(false)
    expect(await head()).toBe(before)
  })

  it('names a demo whose writing was interrupted, instead of calling its examples good', async () => {
    // As a first start stopped while it wrote the demo leaves it: begun, not finished.
    await t.sql.query('UPDATE tandem.demo SET finished_at = NULL')
    try {
      expect(await seedIfEmpty(t)).toBe(false)
      const text = await banner(t, url)
      expect(text).not.toContain('Try (each works as printed)')
      if (mode === 'embedded') expect(text).toContain('the demo data was interrupted')
      // Nor are the examples of /docs said to run, nor the database said to hold none of the demo.
      expect(text).toContain(
        'the demo data was interrupted at a first start stopped early: some examples there fail',
      )
      expect(text).not.toContain('which this database does not hold')
    } finally {
      await t.sql.query('UPDATE tandem.demo SET finished_at = now()')
    }
    const whole = await banner(t, url)
    expect(whole).toContain(mode === 'embedded' ? 'Try (each works as printed)' : 'Examples (')
    expect(whole).toContain('each example there runs on the demo data')
  })

  it.runIf(mode === 'server')(
    'says what a process of some roles offers in /docs: commands only, or neither commands nor queries',
    async () => {
      for (const [roles, said] of [
        [['command'], "each example there runs on the demo data (this process's commands only)"],
        [['command', 'projector'], "each example there runs on the demo data (this process's commands only)"],
        [['query'], "each example there runs on the demo data (this process's queries only)"],
        [
          ['projector'],
          '/docs (this process neither takes commands nor answers queries: its operations routes only)',
        ],
      ] as const) {
        const one = await startTestTandem('server', { config: { roles: [...roles] } })
        try {
          // Without the demo, what the process offers is said too.
          if (roles[0] === 'query')
            expect(await banner(one, url)).toContain(
              "the examples there name the demo data (this process's queries only)",
            )
          await one.sql.query('INSERT INTO tandem.demo (started_at, finished_at) VALUES (now(), now())')
          const text = await banner(one, url)
          expect(text, roles.join(',')).toContain(said)
          expect(text).not.toContain('Try (each works as printed)')
        } finally {
          await one.dispose()
        }
      }
    },
  )

  it('prints commands that work as printed, twice over: a registration it offers is one still open', async () => {
    for (let round = 0; round < 2; round++) {
      const text = await banner(t, url)
      // As printed only where the process wrote the demo and made the tokens: embedded mode.
      expect(text).toContain(
        mode === 'embedded' ? 'Try (each works as printed)' : 'Examples (on the demo data',
      )
      const commands = commandsOf(text)
      expect(commands.some((c) => c.includes('register-participant'))).toBe(true)
      for (const command of commands) {
        // A request that never answers fails here, naming the command, not at the test's timeout.
        const { stdout } = await run('bash', [
          '-c',
          `${command} --silent --show-error --fail-with-body --max-time 20`,
        ])
        const answer = JSON.parse(stdout) as { status?: string; code?: string }
        expect(answer.code, `${command}\n${stdout}`).toBeUndefined()
      }
      // Bounded below the test's timeout, and saying which read model stayed behind if one does.
      const caughtUp = await t.projections.caughtUp(20_000)
      const status = await t.projections.status()
      const behind = status.filter((p) => !p.caughtUp || p.behind > 0)
      expect(caughtUp, JSON.stringify(behind)).toBe(true)
    }
  })

  it('prints a token with which every query example of /docs answers on the demo data', async () => {
    const token = /^ {4}examples +(\S+)$/m.exec(await banner(t, url))?.[1]
    expect(token).toBeDefined()
    const document = (await app.inject({ url: '/openapi.json' })).json<{
      paths: Record<string, { get?: { parameters?: Parameter[] } }>
    }>()
    const asked: string[] = []
    for (const [path, item] of Object.entries(document.paths)) {
      if (!path.startsWith('/api/queries/') || path.endsWith('/stream') || !item.get) continue
      // As Swagger UI fills the form: each parameter's example, or the first of its examples.
      const query = new URLSearchParams()
      for (const p of item.get.parameters ?? []) {
        const value = p.example ?? Object.values(p.examples ?? {})[0]?.value
        if (p.in === 'query' && value !== undefined) query.set(p.name, String(value))
      }
      const answer = await app.inject({
        url: `${path}?${query.toString()}`,
        headers: { authorization: `Bearer ${token}` },
      })
      expect(answer.statusCode, `${path}?${query.toString()}\n${answer.body}`).toBe(200)
      asked.push(path)
    }
    expect(asked.length).toBe(t.domains.flatMap((d) => d.queries).length)
  })

  it('quotes data as text: a title holding a line break or a direction override prints neither', async () => {
    const create = (title: string) =>
      app.inject({
        method: 'POST',
        url: '/api/commands/quiz/create-quiz',
        headers: { authorization: `Bearer ${t.token({ id: 'banner-teacher', roles: [] })}` },
        payload: {
          title,
          public: true,
          questions: [{ text: 'q', choices: ['a', 'b'], answer: 0, points: 1 }],
        },
      })
    // Escape sequences are refused as they come (a control character); a line break is text.
    expect((await create("Q'\u001b[2J\u001b]0;pwned\u0007")).statusCode).toBe(400)
    const created = await create("Q'\nINJECTED LINE\u202e")
    expect(created.statusCode, created.body).toBe(200)
    expect(await t.projections.caughtUp(20_000)).toBe(true)
    const text = await banner(t, url)
    expect(text).toContain('Q\'\\u000aINJECTED LINE\\u202e" without its answers')
    // No control character but line breaks, and no format character.
    expect(text.replace(/\n/g, '')).not.toMatch(/[\p{Cc}\p{Cf}]/u)
    expect(text.split('\n').filter((line) => line.startsWith('INJECTED'))).toEqual([])
  })
})
