/**
 * Spending categories by merchant category code (ISO 18245 ranges), as the analytics name them. The
 * engine maps at read time (a CASE over the code), so a change here needs no re-ingest.
 */
export const categoryRanges: readonly { category: string; from: string; to: string }[] = [
  { category: 'travel', from: '3000', to: '3999' },
  { category: 'transport', from: '4000', to: '4799' },
  { category: 'utilities', from: '4800', to: '4999' },
  { category: 'groceries', from: '5411', to: '5499' },
  { category: 'fuel', from: '5541', to: '5542' },
  { category: 'dining', from: '5811', to: '5814' },
  { category: 'shopping', from: '5000', to: '5999' },
  { category: 'travel', from: '7011', to: '7011' },
  { category: 'entertainment', from: '7800', to: '7999' },
  { category: 'health', from: '8000', to: '8099' },
  { category: 'services', from: '7000', to: '8999' },
]

/** The category of a code: the first range that holds it, else `other`. */
export function categoryOf(mcc: string): string {
  return categoryRanges.find((r) => mcc >= r.from && mcc <= r.to)?.category ?? 'other'
}

/** The same mapping as a SQL expression over column `mcc` (codes are 4 digits: text order is numeric). */
export const categorySql = `CASE ${categoryRanges
  .map((r) => `WHEN mcc BETWEEN '${r.from}' AND '${r.to}' THEN '${r.category}'`)
  .join(' ')} ELSE 'other' END`
