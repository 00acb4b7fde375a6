import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)

/** The CLI from the sources, its exit code and what it wrote to stderr. */
async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 110_000 })
    return { code: 0, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stderr: string }
    return { code: failed.code, stderr: failed.stderr }
  }
}

// Each run loads the CLI's sources through tsx (about 8 s here): the two run side by side, with room
// for a machine three times slower.
it(
  'answers an unknown option or command with one line and the usage, no stack, exit 1',
  { timeout: 120_000 },
  async () => {
    const cases = [['token', '--sub', 'kim', '--bogus'], ['no-such-command']]
    const answers = await Promise.all(cases.map((args) => cli(...args)))
    for (const [i, { code, stderr }] of answers.entries()) {
      expect(code, cases[i]?.join(' ')).toBe(1)
      expect(stderr).toMatch(/Unknown (option '--bogus'|command "no-such-command")/)
      expect(stderr).toContain('Usage: tandem <command>')
      expect(stderr).not.toMatch(/^\s+at /m)
    }
  },
)
