import { smokeMode } from './smoke.js'

smokeMode('embedded')
