import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const run = promisify(execFile)

/** The CLI from the sources, its exit code and what it wrote to stderr. */
async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { timeout: 60_000 })
    return { code: 0, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stderr: string }
    return { code: failed.code, stderr: failed.stderr }
  }
}

it('answers an unknown option or command with one line and the usage, no stack, exit 1', async () => {
  for (const args of [['token', '--sub', 'kim', '--bogus'], ['no-such-command']]) {
    const { code, stderr } = await cli(...args)
    expect(code, args.join(' ')).toBe(1)
    expect(stderr).toMatch(/Unknown (option '--bogus'|command "no-such-command")/)
    expect(stderr).toContain('Usage: tandem <command>')
    expect(stderr).not.toMatch(/^\s+at /m)
  }
})
