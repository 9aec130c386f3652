/**
 * The one lookup of an integration by a name from outside (CLI arguments, URL parameters, store listings). Own
 * properties only: a bare `integrations[name]` answers "constructor", "toString" or "__proto__" with Object.prototype's
 * members, so `secrets put constructor` got as far as "unknown credential kind" (issue 23, item 8).
 */
import type { IntegrationConfig } from './schema.js'

export function integrationNamed (
  integrations: Readonly<Record<string, IntegrationConfig>>,
  name: string
): IntegrationConfig | undefined {
  return Object.hasOwn(integrations, name) ? integrations[name] : undefined
}
