import { describe, expect, it } from 'vitest'
import { isUnavailable } from './sql.js'

/** An error as node-postgres gives a server's refusal: its SQLSTATE in `code`. */
const refusal = (code: string, message: string) => Object.assign(new Error(message), { code })

describe('isUnavailable', () => {
  it('takes a database that refuses connections or credentials for one that cannot be used now (503)', () => {
    for (const error of [
      refusal('55000', 'database "shop" is not currently accepting connections'),
      refusal('28000', 'no pg_hba.conf entry for host "10.0.0.9", user "app", database "shop"'),
      refusal('28P01', 'password authentication failed for user "app"'),
      refusal('57P03', 'the database system is starting up'),
      refusal('53300', 'sorry, too many clients already'),
      refusal('08006', 'connection failure'),
      new Error('Socket closed unexpectedly'),
    ])
      expect(isUnavailable(error), error.message).toBe(true)
  })

  it('leaves a statement’s own failure a bug (500)', () => {
    for (const error of [
      refusal('55000', 'cannot refresh materialized view "v" concurrently'),
      refusal('42P01', 'relation "nowhere" does not exist'),
      refusal('23505', 'duplicate key value violates unique constraint "pk"'),
      new Error('Cannot read properties of undefined'),
    ])
      expect(isUnavailable(error), error.message).toBe(false)
  })
})
