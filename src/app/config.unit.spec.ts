import { describe, expect, it } from 'vitest'
import { analyticsSetting } from '../domains/cards/analytics/replica.js'
import { anomalySettings } from '../domains/cards/anomaly/settings.js'
import { checkSettings, ConfigError, loadConfig } from './config.js'
import { limitsFromEnv } from '../http/limits.js'
import type { Domain } from './domain.js'

describe('configuration from the environment', () => {
  it('defaults to embedded mode with every role', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      dataDir: './data',
      databaseUrl: undefined,
      redisUrl: undefined,
      logLevel: 'info',
      databasePoolSize: 10,
      streamMemoryStreams: 10_000,
      queryCacheMb: 256,
      roles: ['command', 'query', 'projector'],
    })
  })

  it('reads ROLES as a comma-separated list, each role once', () => {
    expect(loadConfig({ ROLES: 'query' }).roles).toEqual(['query'])
    expect(loadConfig({ ROLES: ' command , projector,command' }).roles).toEqual(['command', 'projector'])
  })

  it.each([
    ['ROLES', 'reader'],
    ['ROLES', 'command,,query'],
    ['PORT', '70000'],
    ['PORT', '3000.5'],
    ['DATABASE_POOL_SIZE', '0'],
    ['LOG_LEVEL', 'loud'],
    ['AUTH_SECRET', 'short'],
    ['PORT', '0x1196'],
    ['PORT', '1e3'],
    ['DATABASE_URL', 'notaurl'],
    ['DATABASE_URL', 'mysql://127.0.0.1/x'],
    ['READ_DATABASE_URL', 'http://127.0.0.1/x'],
    ['REDIS_URL', 'notaurl'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/abc'],
    ['REDIS_URL', 'redis://127.0.0.1:6379/0/1'],
    ['QUERY_CACHE_MB', '-1'],
    ['QUERY_CACHE_MB', '256MB'],
    ['QUERY_CACHE_MB', '1048577'],
    ['LIVE_STREAMS_ANONYMOUS', '-1'],
    ['LIVE_STREAMS_ANONYMOUS', 'many'],
  ])('refuses %s=%s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError)
    expect(() => loadConfig({ [name]: value })).toThrow(name)
  })

  it('reads LIVE_STREAMS_ANONYMOUS, 0 (no live stream without a token) included', () => {
    expect(loadConfig({}).anonymousStreams).toBe(1000)
    expect(loadConfig({ LIVE_STREAMS_ANONYMOUS: '0' }).anonymousStreams).toBe(0)
  })

  it('takes a Redis URL with a database number or none', () => {
    for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'rediss://h:6380/15'])
      expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url)
  })

  it('reads QUERY_CACHE_MB, 0 (nothing cached) included', () => {
    expect(loadConfig({ QUERY_CACHE_MB: '0' }).queryCacheMb).toBe(0)
    expect(loadConfig({ QUERY_CACHE_MB: ' 1024 ' }).queryCacheMb).toBe(1024)
  })

  it('refuses a domain setting set to a value the domain does not take, and takes the others', () => {
    const domain = {
      name: 'study',
      settings: [{ name: 'STUDY_SUMMARIZER', text: 'provider', default: 'local', values: ['local'] }],
    } as unknown as Domain
    expect(() => checkSettings([domain], { STUDY_SUMMARIZER: 'hosted' })).toThrow(ConfigError)
    expect(() => checkSettings([domain], { STUDY_SUMMARIZER: 'hosted' })).toThrow('STUDY_SUMMARIZER')
    expect(() => checkSettings([domain], { STUDY_SUMMARIZER: ' local ' })).not.toThrow()
    expect(() => checkSettings([domain], {})).not.toThrow()
  })

  it("refuses card testing's probe amount at or above the large attempt's, either set or left default", () => {
    const cards = { name: 'cards', settings: anomalySettings } as unknown as Domain
    const small = 'CARDS_ANOMALY_CARD_TESTING_SMALL_MAX'
    const large = 'CARDS_ANOMALY_CARD_TESTING_LARGE_MIN'
    expect(() => checkSettings([cards], { [small]: '200000', [large]: '100' })).toThrow(
      `${small} (200000) must be below ${large} (100)`,
    )
    expect(() => checkSettings([cards], { [small]: '100000' })).toThrow(ConfigError)
    expect(() => checkSettings([cards], { [large]: '1000' })).toThrow(ConfigError)
    expect(() => checkSettings([cards], { [small]: '999', [large]: '1000' })).not.toThrow()
    expect(() => checkSettings([cards], { [small]: ' ' })).not.toThrow()
    expect(() => checkSettings([cards], {})).not.toThrow()
  })

  it('refuses at start a number setting out of its bounds or not whole', () => {
    const domain = {
      name: 'feed',
      settings: [
        { name: 'FEED_PULL_ABOVE', text: 'threshold', default: '10', integer: { min: 0, max: 100 } },
      ],
    } as unknown as Domain
    for (const bad of ['-1', '101', '1.5', '1e2', 'ten']) {
      expect(() => checkSettings([domain], { FEED_PULL_ABOVE: bad })).toThrow('FEED_PULL_ABOVE')
    }
    for (const good of ['0', '100', ' 42 ']) {
      expect(() => checkSettings([domain], { FEED_PULL_ABOVE: good })).not.toThrow()
    }
  })
  it('refuses at start a setting its pattern does not match (CARDS_DUCKDB: memory, off or a .duckdb file)', () => {
    const domain = { name: 'cards', settings: [analyticsSetting] } as unknown as Domain
    for (const bad of ['OFF', 'on', 'facts.db', './data/', 'x.duckdb.bak']) {
      expect(() => checkSettings([domain], { CARDS_DUCKDB: bad })).toThrow('CARDS_DUCKDB must be memory, off')
    }
    for (const good of ['memory', ' off ', '/var/lib/tandem/facts.duckdb', 'a b.duckdb']) {
      expect(() => checkSettings([domain], { CARDS_DUCKDB: good })).not.toThrow()
    }
  })
})

describe('the HTTP timeouts', () => {
  it('take digits only, from 100 to 3600000 ms', () => {
    expect(limitsFromEnv({ HTTP_HEADERS_TIMEOUT_MS: '20000' }).headersTimeoutMs).toBe(20_000)
    for (const value of ['0x2710', '1e4', '99', '3600001', '1.5e4', '10000.0'])
      expect(() => limitsFromEnv({ HTTP_BODY_TIMEOUT_MS: value }), value).toThrow(/HTTP_BODY_TIMEOUT_MS/)
  })
})
