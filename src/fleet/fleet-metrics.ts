/** The fleet's Prometheus gauge, in the broker's own registry (kept apart from ioredis so tests can list it). */
import { Gauge, type Registry } from '../usage/prom-parts.js'

export function registerFleetMetrics (registry: Registry, connected: () => boolean): void {
  registry.registerMetric(new Gauge({
    name: 'atlassian_broker_fleet_connected',
    help: 'Whether this sidecar currently coordinates through Redis (1) or runs on local state (0); fleet mode only.',
    registers: [],
    collect () { this.set(connected() ? 1 : 0) }
  }))
}
