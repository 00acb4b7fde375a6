import { describe, expect, it } from 'vitest'
import { localWake } from './wake.js'

describe('localWake', () => {
  it('wakes a listener for commits of the types it reads, of unknown types, and an untyped listener for all', () => {
    const wake = localWake()
    const heard: string[] = []
    wake.subscribe(() => heard.push('cards'), ['TransactionAuthorized', 'TransactionDeclined'])
    wake.subscribe(() => heard.push('all'))
    wake.committed('1', new Set(['PostCreated']))
    expect(heard).toEqual(['all'])
    heard.length = 0
    wake.committed('2', ['PostCreated', 'TransactionDeclined'])
    expect(heard).toEqual(['cards', 'all'])
    heard.length = 0
    wake.committed('3')
    expect(heard).toEqual(['cards', 'all'])
  })

  it('wakes no typed listener for a commit that wrote no event', () => {
    const wake = localWake()
    let woken = 0
    const off = wake.subscribe(() => woken++, ['TransactionAuthorized'])
    wake.committed('4', [])
    expect(woken).toBe(0)
    off()
    wake.committed('5')
    expect(woken).toBe(0)
  })
})
