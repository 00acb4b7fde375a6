import { compareDecimal } from '../../../kernel/index.js'
import { lastDayOf, monthNumber, monthOf } from './access.js'
import {
  bucketsOf,
  byProductOf,
  monthlySummaryOf,
  type DayRow,
  type MonthRow,
  type ProductMonthRow,
  type SpendingEngine,
} from './engine.js'
import { spendingModel, type Named } from './spending.js'

/**
 * The analytics answered from the SQL rollups (spending.ts): every statement is one primary-key range
 * of rollup rows (a customer's months, a merchant's days, the days of a range), a few hundred rows
 * at most whatever the number of transactions; the rows are shaped into answers by engine.ts.
 */

const sums = `currency, posted::float8 AS posted, pending::float8 AS pending, count, declined`
const summed = `currency, sum(posted)::float8 AS posted, sum(pending)::float8 AS pending,
  sum(count)::int AS count, sum(declined)::int AS declined`

/** The name on the day rows that the newest event gave: the greatest day, then the greatest position. */
function newestName(rows: readonly (Named & { day: string })[]): string | null {
  let best: (Named & { day: string }) | undefined
  for (const row of rows) {
    if (
      best === undefined ||
      row.day > best.day ||
      (row.day === best.day && compareDecimal(row.name_position, best.name_position) > 0)
    )
      best = row
  }
  return best?.merchant_name ?? null
}

export const rollupEngine: SpendingEngine = {
  async monthlySummary(q, stores) {
    const { sql, table } = stores.sql(spendingModel)
    const rows = await sql.query<MonthRow>(
      `SELECT month, card_id::text AS "cardId", product, category, ${sums} FROM ${table('customer_month')}
       WHERE customer_id = $1 AND month >= $2::text AND month <= $3::text`,
      [q.customerId, monthOf(monthNumber(q.month) - q.months), q.month],
    )
    return monthlySummaryOf(q, rows)
  },

  async merchantSummary(q, stores) {
    const { sql, table } = stores.sql(spendingModel)
    const rows = await sql.query<DayRow & Named>(
      `SELECT day, merchant_name, name_position::text AS name_position, ${sums} FROM ${table('merchant_day')}
       WHERE merchant_id = $1 AND day >= $2::text AND day <= $3::text ORDER BY day`,
      [q.merchantId, q.from, q.to],
    )
    // The name the newest payment of the newest day in the range gave, else of the newest day at all.
    let merchantName = newestName(rows)
    if (merchantName === null) {
      const newest = await sql.query<Named & { day: string }>(
        `SELECT day, merchant_name, name_position::text AS name_position FROM ${table('merchant_day')}
         WHERE merchant_id = $1 ORDER BY day DESC, name_position DESC LIMIT 1`,
        [q.merchantId],
      )
      merchantName = newestName(newest)
    }
    return {
      merchantId: q.merchantId,
      merchantName,
      from: q.from,
      to: q.to,
      bucket: q.bucket,
      ...bucketsOf(rows, q.bucket),
    }
  },

  async spendingByDate(q, stores) {
    const { sql, table } = stores.sql(spendingModel)
    const rows =
      q.customerId === null
        ? await sql.query<DayRow>(
            `SELECT day, ${summed} FROM ${table('product_day')} WHERE day >= $1::text AND day <= $2::text
             GROUP BY day, currency ORDER BY day`,
            [q.from, q.to],
          )
        : await sql.query<DayRow>(
            `SELECT day, ${sums} FROM ${table('customer_day')}
             WHERE customer_id = $1 AND day >= $2::text AND day <= $3::text ORDER BY day`,
            [q.customerId, q.from, q.to],
          )
    return {
      customerId: q.customerId,
      from: q.from,
      to: q.to,
      bucket: q.bucket,
      ...bucketsOf(rows, q.bucket),
    }
  },

  async spendingByProduct(q, stores) {
    const { sql, table } = stores.sql(spendingModel)
    const rows =
      q.customerId === null
        ? await sql.query<ProductMonthRow>(
            `SELECT substr(day, 1, 7) AS month, product, ${summed} FROM ${table('product_day')}
             WHERE day >= $1::text AND day <= $2::text GROUP BY 1, product, currency`,
            [`${q.from}-01`, lastDayOf(q.to)],
          )
        : await sql.query<ProductMonthRow>(
            `SELECT month, product, ${summed} FROM ${table('customer_month')}
             WHERE customer_id = $1 AND month >= $2::text AND month <= $3::text GROUP BY month, product, currency`,
            [q.customerId, q.from, q.to],
          )
    return byProductOf(q, rows)
  },
}
