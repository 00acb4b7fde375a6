/* eslint-disable tandem/layers -- the kernel's test door: it hands domain specs the test kits. */
/**
 * The kernel's door for tests: what a domain's specs import besides `./index.js`. Production code
 * never imports it (the build leaves it out, with the rest of the test support).
 */
export * from '../testing/kit.js'
export {
  commandProcess,
  countingReads,
  logSettled,
  startTestProcesses,
  startTestTandem,
  type TestTandem,
} from '../testing/harness.js'
export type { StreamMemory } from '../core/stream-memory.js'
export type { Recall } from '../core/metrics.js'
/** Whether an error is a 503 a client should retry (the database or Redis away). */
export { isUnavailable } from '../core/sql.js'
/** The event log's identity: the prefix of the Redis keys its read models use (`tandem:<first 13>`). */
export { logIdentity } from '../storage/schema.js'
export { modes, redisUrl, servicesAvailable, type Mode } from '../testing/services.js'
export {
  admin,
  alice,
  bob,
  commandUrl,
  expectInvalid,
  expectProblem,
  expectSucceeded,
  queryUrl,
  startTestServer,
  useTestServer,
  type CommandAnswer,
  type ProblemJson,
  type RequestOptions,
  type TestServer,
  type TestServerOptions,
} from '../testing/http.js'
export { openStream, type SseEvent, type Stream } from '../testing/sse.js'
