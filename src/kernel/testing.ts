/* eslint-disable tandem/layers -- the kernel's test door: it hands domain specs the test kits. */
/**
 * The kernel's door for tests: what a domain's specs import besides `./index.js`. Production code
 * never imports it (the build leaves it out, with the rest of the test support).
 */
export * from '../testing/kit.js'
export { countingReads, startTestTandem, type TestTandem } from '../testing/harness.js'
export { modes, type Mode } from '../testing/services.js'
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
