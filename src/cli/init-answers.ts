/**
 * What `init` needs to know (integration, site, product, credential kind, caller) and the one check of each answer,
 * whether it came as a flag or was typed at a prompt: flags are checked together (every problem at once), a typed
 * answer is checked as soon as it is given, so a bad one is asked again instead of failing at the end.
 */
import { normalizeSiteInput, siteNameProblem } from '../config/site-name.js'
import type { InitEntry } from './init-config-file.js'
import { UsageError } from './io.js'

export interface InitFlags {
  config?: string
  integration?: string
  site?: string
  product?: string
  credential?: string
  caller?: string
  /** false: store the credential without asking Atlassian (`--no-verify`). */
  verify?: boolean
  /** Why (`--reason`): kept with version 1 and in its audit record. */
  reason?: string
}

/** Why each answer would be refused, in words that fit both a flag and a prompt; undefined when it is fine. */
export const ANSWER_PROBLEMS = {
  integration: (value: string) => /^[a-z0-9][a-z0-9._-]{0,62}$/i.test(value) ? undefined : 'letters, digits, ".", "_" or "-" (e.g. jira-main)',
  site: (value: string) => {
    const site = normalizeSiteInput(value)
    return site === '' ? 'give the site, e.g. acme.atlassian.net' : siteNameProblem(site)
  },
  product: (value: string) => value === 'jira' || value === 'confluence' ? undefined : 'jira or confluence',
  credential: (value: string) => value === 'oauth' || value === 'api-token' ? undefined : 'oauth or api-token',
  caller: (value: string) => value.trim() !== '' ? undefined : 'give the caller\'s JWT sub, e.g. report-job'
} as const

/** The flags as an entry for the config, or a UsageError naming every flag to fix. */
export function validateFlags (flags: InitFlags): InitEntry {
  const problems: string[] = []
  const integration = flags.integration ?? ''
  const check = (flag: string, problem: string | undefined): void => { if (problem !== undefined) problems.push(`${flag}: ${problem}`) }
  check('--integration NAME', ANSWER_PROBLEMS.integration(integration))
  check('--site', ANSWER_PROBLEMS.site(flags.site ?? ''))
  check('--product', ANSWER_PROBLEMS.product(flags.product ?? ''))
  const credential = flags.credential ?? 'oauth'
  check('--credential', ANSWER_PROBLEMS.credential(credential))
  if (flags.caller !== undefined) check('--caller', ANSWER_PROBLEMS.caller(flags.caller))
  if (problems.length > 0) throw new UsageError(`init needs:\n  ${problems.join('\n  ')}`)
  return {
    integration,
    site: normalizeSiteInput(flags.site ?? ''),
    product: flags.product as InitEntry['product'],
    credential: credential as InitEntry['credential'],
    caller: flags.caller ?? `${integration}-reader`
  }
}
