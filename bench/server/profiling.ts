import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'

/**
 * A CPU profile of one measured window (`BENCH_PHASE_PROF=dir`), taken inside the server through
 * the inspector: `BENCH_CPU_PROF` profiles a process's whole life, where a scenario's loads, its
 * bulk load and its build all mix. Each server program answers the bench's `profile` requests here.
 */
let session: Session | undefined

export async function profile(action: 'start' | 'stop', file?: string): Promise<string | null> {
  if (action === 'start') {
    session?.disconnect()
    session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
    return null
  }
  if (!session || !file) return null
  const { profile: taken } = await session.post('Profiler.stop')
  session.disconnect()
  session = undefined
  const path = `${file}.${process.pid}.cpuprofile`
  await writeFile(path, JSON.stringify(taken))
  return path
}
