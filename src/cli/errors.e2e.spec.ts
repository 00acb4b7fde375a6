import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)

/** The CLI from the sources, its exit code and what it wrote to stderr. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      timeout: 110_000,
      env: { ...process.env, ...env },
    })
    return { code: 0, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stderr: string }
    return { code: failed.code, stderr: failed.stderr }
  }
}

// Each run loads the CLI's sources through tsx (about 8 s here): those of a test run side by side,
// with room for a machine three times slower.
it(
  'answers an unknown option or command with one line and the usage, no stack, exit 1',
  { timeout: 120_000 },
  async () => {
    const cases: [string[], RegExp][] = [
      [['token', '--sub', 'kim', '--bogus'], /Unknown option '--bogus'/],
      [['no-such-command'], /Unknown command "no-such-command"/],
      // Past their bounds, before anything runs: a token that never expires, a run that fills the memory.
      [['token', '--sub', 'kim', '--ttl', '1e30'], /--ttl is a number of seconds, 1 to 315360000/],
      // A role nothing names (a typo): the token would grant nothing.
      [
        ['token', '--sub', 'kim', '--roles', 'organizer,admn'],
        /--roles names admn, which no part of Tandem knows/,
      ],
      [['bench', '10', '--concurrency', '100000000'], /--concurrency must be a whole number from 1 to 1,000/],
      [['serve', '--port', 'abc'], /--port must be a port number/],
      // What a command does not take is refused, not ignored; a processor's name is checked here.
      [['handlers', '--url', 'http://127.0.0.1:1'], /handlers takes no --url/],
      // Given twice, an option is refused: the last one won, unsaid (a token for b, asked for a).
      [['token', '--sub', 'a', '--sub', 'b'], /--sub is given twice/],
      [['processors', 'retry', 'a/b/c'], /No processor is named "a\/b\/c"/],
      [['processors', 'list'], /processors has no "list": one subcommand, retry NAME/],
      // Useless tokens are not made: a manager of no department, a lifetime read as hex.
      [['token', '--sub', 'm', '--roles', 'manager'], /--roles manager needs --dept/],
      [['token', '--sub', 'kim', '--ttl', '0x10'], /--ttl is a number of seconds/],
    ]
    const answers = await Promise.all(cases.map(([args]) => cli(args)))
    for (const [i, { code, stderr }] of answers.entries()) {
      const [args, said] = cases[i] ?? [[], /$^/]
      expect(code, args.join(' ')).toBe(1)
      expect(stderr).toMatch(said)
      expect(stderr).toContain('Usage: tandem <command>')
      expect(stderr).not.toMatch(/^\s+at /m)
    }
  },
)

it(
  'says what is wrong with the secret of a command sent to a server, not that no server answers; writes nothing',
  { timeout: 120_000 },
  async () => {
    const dataDir = join(tmpdir(), `tandem-cli-${process.pid}-${Date.now()}`)
    const url = ['--url', 'http://127.0.0.1:1']
    const [short, none, token, stats, limit] = await Promise.all([
      cli(['clear-cache', ...url], { AUTH_SECRET: 'short' }),
      cli(['clear-cache', ...url], { DATA_DIR: dataDir, AUTH_SECRET: '' }),
      // A token signed with a secret made here, in a folder that is no server's, would be refused.
      cli(['token', '--sub', 'kim'], { DATA_DIR: dataDir, AUTH_SECRET: '' }),
      cli(['stats', ...url], { DATA_DIR: dataDir, AUTH_SECRET: '' }),
      // An HTTP setting is read with the others: refused before the database is made and seeded.
      cli(['serve', '--port', '0'], { DATA_DIR: dataDir, HTTP_MAX_CONNECTIONS: '0' }),
    ])
    expect([short.code, none.code, token.code, stats.code, limit.code]).toEqual([1, 1, 1, 1, 1])
    expect(token.stderr).toContain('No secret to sign with: set AUTH_SECRET')
    expect(limit.stderr).toContain('HTTP_MAX_CONNECTIONS must be an integer')
    expect(short.stderr).toContain('AUTH_SECRET must be at least 16')
    expect(none.stderr).toContain('No secret to sign an admin token')
    // Stats are public: no token, so no secret is made in a DATA_DIR that is no server's.
    expect(stats.stderr).toContain('No Tandem server answers')
    expect(existsSync(dataDir)).toBe(false)
  },
)
