/**
 * The first answer Atlassian gives for each integration, read once: a 401 or 404 there usually means the cloudId
 * is not one this credential can reach (an org ID pasted instead of the site's cloudId, or a missing scope), so the
 * log says that, naming the integration and its site, instead of leaving the operator with a bare status.
 */
import type { Logger } from 'pino'
import { integrationNamed } from '../config/integration-lookup.js'
import type { IntegrationConfig } from '../config/schema.js'

export class FirstCallWatch {
  readonly #seen = new Set<string>()
  constructor (
    private readonly integrations: Readonly<Record<string, IntegrationConfig>>,
    private readonly logger: Logger
  ) {}

  observe (integration: string, statusCode: number): void {
    if (this.#seen.has(integration)) return
    this.#seen.add(integration)
    if (statusCode !== 401 && statusCode !== 404) return
    const config = integrationNamed(this.integrations, integration)
    if (config === undefined) return
    this.logger.warn(
      { integration, site: config.site, cloudId: config.cloudId, statusCode },
      firstCallHint(integration, config, statusCode)
    )
  }
}

/** Also used by `init` after its verification read. */
export function firstCallHint (integration: string, config: IntegrationConfig, statusCode: number): string {
  const where = `${config.site === undefined ? '' : `site ${config.site}, `}cloudId ${config.cloudId}`
  const cause = statusCode === 404
    ? 'the cloudId is likely wrong: an organization ID is not a cloudId (set site: <name>.atlassian.net and let the broker look it up)'
    : 'the credential likely lacks a scope for this call, or cannot reach this cloudId (an organization ID is not a cloudId)'
  return `integration ${integration} (${where}): Atlassian answered ${statusCode} to the first call; ${cause}`
}
