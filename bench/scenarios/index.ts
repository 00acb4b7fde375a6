import type { ScenarioName } from '../lib/results.js'
import { appendScenario } from './append.js'
import { busScenario } from './bus.js'
import { cardsScenario } from './cards.js'
import { detailsScenario } from './details.js'
import { feedScenario } from './feed.js'
import { lagScenario } from './lag.js'
import { mixedScenario } from './mixed.js'
import { procurementScenario } from './procurement.js'
import { registerScenario } from './register.js'
import { studyScenario } from './study.js'
import type { Scenario } from './scenario.js'

/** Every scenario, in the order they run and are reported. */
export const scenarios: readonly Scenario[] = [
  busScenario,
  detailsScenario,
  registerScenario,
  appendScenario,
  lagScenario,
  mixedScenario,
  studyScenario,
  feedScenario,
  procurementScenario,
  cardsScenario,
]

export const scenarioNames = scenarios.map((s) => s.name) as readonly ScenarioName[]
