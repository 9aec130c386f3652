/** The fleet limit scenarios (fleet-limit-scenarios.ts) on one real redis-server per test. */
import t from 'tap'
import { findRedisServer, singleNode } from '../helpers/redis-server.js'
import { fleetLimitScenarios } from './fleet-limit-scenarios.js'

const skip = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
t.test('fleet limits', { skip }, async (t) => { await fleetLimitScenarios(t, singleNode) })
