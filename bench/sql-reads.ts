/**
 * Statements outside a transaction, one connection each against a few shared (pipelined) ones
 * (src/storage/postgres.ts, `shared`): callers that each send a one-row SELECT by primary key and the
 * next when it is answered, for 5 s per case, each case twice, alternated. Prints statements per
 * second and the CPU per statement of this process and of PostgreSQL. Not part of `npm run bench`:
 * `npx tsx bench/sql-reads.ts` (PostgreSQL at TEST_DATABASE_URL or 127.0.0.1:5432).
 */
import { cpuSplit, sampleCpu } from './lib/cpu.js'
import { createPostgres } from '../src/storage/postgres.js'
import { createScratchDatabase } from '../src/storage/scratch-database.js'
import { postgresUrl } from '../src/testing/services.js'

const seconds = 5
const scratch = await createScratchDatabase(postgresUrl, 'sqlreads')
try {
  const setup = createPostgres({ url: scratch.url, max: 1 })
  await setup.exec(
    `CREATE TABLE row_by_key (id int PRIMARY KEY, v text);
     INSERT INTO row_by_key SELECT g, repeat('x', 200) FROM generate_series(1, 10000) g; ANALYZE row_by_key`,
  )
  await setup.close()
  console.log('pool 10 | callers | shared | statements/s | µs per statement: node, PostgreSQL')
  for (const callers of [10, 50, 200]) {
    for (const shared of [0, undefined, 0, undefined]) {
      const sql = createPostgres({ url: scratch.url, max: 10, shared })
      await Promise.all(Array.from({ length: 10 }, () => sql.query('SELECT 1')))
      const from = sampleCpu()
      const end = Date.now() + seconds * 1000
      let n = 0
      await Promise.all(
        Array.from({ length: callers }, async () => {
          while (Date.now() < end) {
            const id = 1 + Math.floor(Math.random() * 10_000)
            await sql.query('SELECT id, v FROM row_by_key WHERE id = $1', [id])
            n++
          }
        }),
      )
      const cpu = cpuSplit(from, sampleCpu())
      const micros = (cores: number) => Math.round((cores * seconds * 1e6) / n)
      console.log(
        `${callers} | ${shared ?? 'default'} | ${Math.round(n / seconds)} | ${micros(cpu.benchProcess)}, ${micros(cpu.postgres)}`,
      )
      await sql.close()
    }
  }
} finally {
  await scratch.drop()
}
