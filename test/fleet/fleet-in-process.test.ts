/** The fleet scenarios (fleet-scenarios.ts) on one real redis-server per test. */
import t from 'tap'
import { findRedisServer, singleNode } from '../helpers/redis-server.js'
import { fleetScenarios } from './fleet-scenarios.js'

// Without the binary the test is skipped (counted as such), never passed.
const noRedis = findRedisServer() === undefined ? 'redis-server is not installed (.ci/run installs it)' : false
t.test('fleet', { skip: noRedis }, async (t) => { await fleetScenarios(t, singleNode) })
