import type { AnyQuery, Projection } from '../../../kernel/index.js'

/** The read side of cards: its read models, and the queries that read them. */
export const cardProjections: readonly Projection[] = []
export const cardQueries: readonly AnyQuery[] = []
