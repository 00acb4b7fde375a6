import { describe, expect, it } from 'vitest'
import { origin } from '../storage/event-log.js'
import { createFollower } from './follower.js'

describe('a projection followed from its projector’s reports', () => {
  it('stays caught up while a projector started again reports itself behind, until the store loses what was applied', () => {
    const follower = createFollower(1, origin)
    expect(follower.caughtUp).toBe(false)
    follower.advance({ checkpoint: { txId: '10', position: '5' }, horizon: '11', caughtUp: true })
    expect(follower.caughtUp).toBe(true)
    // The projector killed and started again: it is behind the log written meanwhile, not the store.
    follower.advance({ checkpoint: { txId: '10', position: '5' }, horizon: '11', caughtUp: false })
    expect(follower.caughtUp).toBe(true)
    follower.advance({ checkpoint: { txId: '40', position: '30' }, horizon: '41', caughtUp: false })
    expect(follower.caughtUp).toBe(true)
    expect(follower.checkpoint).toEqual({ txId: '40', position: '30' })
    // Redis restarted empty: nothing counts as applied until a report says the projection caught up.
    follower.restart(origin)
    expect(follower.caughtUp).toBe(false)
    expect(follower.restarted).toBe(true)
    follower.advance({ checkpoint: { txId: '40', position: '30' }, horizon: '41', caughtUp: false })
    expect(follower.caughtUp).toBe(false)
    follower.advance({ checkpoint: { txId: '50', position: '31' }, horizon: '51', caughtUp: true })
    expect(follower.caughtUp).toBe(true)
    expect(follower.restarted).toBe(false)
  })
})
