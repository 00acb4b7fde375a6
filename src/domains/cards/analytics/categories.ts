import { mccRanges } from '../projections/categories.js'

/**
 * The read side's category map (projections/categories.ts: ranges of merchant category codes, first
 * match wins, `other` when none) as a SQL expression over the fact table's `mcc`: the engine maps at
 * read time, so a change to the map needs no re-ingest.
 */
export const categorySql = `CASE ${mccRanges
  .map(
    ([first, last, category]) =>
      `WHEN TRY_CAST(mcc AS INTEGER) BETWEEN ${first} AND ${last} THEN '${category}'`,
  )
  .join(' ')} ELSE 'other' END`
