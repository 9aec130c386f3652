/** Every metric name the broker exports, with its Prometheus type: what dashboards, alerts and docs may name. */
import { FleetRejections, registerFleetMetrics } from '../../src/fleet/fleet-metrics.js'
import { createLogger } from '../../src/logger.js'
import { systemClock } from '../../src/clock.js'
import { createLabels } from '../../src/usage/labels.js'
import { BrokerMetrics } from '../../src/usage/metrics.js'
import { DEFAULT_EXPIRY_WARNING } from '../../src/config/schema.js'

export async function exportedMetrics (): Promise<Map<string, string>> {
  const metrics = new BrokerMetrics({
    labels: createLabels(['jira-main'], new Set(['report-job'])),
    storeKind: 'vault',
    expiry: { timestamps: async () => new Map(), thresholds: DEFAULT_EXPIRY_WARNING }
  })
  registerFleetMetrics(metrics.registry, () => true, new FleetRejections({ logger: createLogger({ level: 'silent' }), clock: systemClock }))
  const exported = new Map<string, string>()
  for (const metric of await metrics.registry.getMetricsAsJSON()) exported.set(metric.name, String(metric.type))
  return exported
}
