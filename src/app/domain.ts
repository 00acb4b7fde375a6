/** Where the app takes a domain's shape from: the kernel's, as the domains do. */
export type { BenchMix, DemoExample, Domain } from '../kernel/domain.js'
