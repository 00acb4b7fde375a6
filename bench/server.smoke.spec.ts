import { smokeMode } from './smoke.js'

smokeMode('server')
