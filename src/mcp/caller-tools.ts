/**
 * The tools one caller sees: a tool is listed when the caller's policy allows every REST call it makes (`needs`) on
 * at least one integration of its product, so an agent never sees what it cannot do (a read-only caller gets no
 * write tool). Each listed tool takes an `integration` among those, defaulting to the first. A call is still checked
 * as it is made (policy reloads, real paths), and a refusal then is a tool error naming the rule that is missing.
 */
import * as z from 'zod'
import type { IntegrationConfig } from '../config/schema.js'
import type { Policy } from '../policy/policy.js'
import { CONFLUENCE_TOOLS } from './confluence-tools.js'
import { JIRA_TOOLS } from './jira-tools.js'
import type { ToolSpec } from './tool-kit.js'

export const ALL_TOOLS: readonly ToolSpec[] = [...JIRA_TOOLS, ...CONFLUENCE_TOOLS]

export interface CallerTool {
  spec: ToolSpec
  /** Integrations of the tool's product where the caller may make every call the tool makes; never empty. */
  integrations: [string, ...string[]]
  input: z.ZodRawShape
}

export function toolsFor (
  caller: string,
  policy: Policy,
  integrations: Readonly<Record<string, IntegrationConfig>>
): CallerTool[] {
  const tools: CallerTool[] = []
  for (const spec of ALL_TOOLS) {
    const allowed = Object.entries(integrations)
      .filter(
        ([name, config]) =>
          config.product === spec.product &&
          spec.needs.every((need) => policy.decide(caller, name, need.method, need.path).allowed)
      )
      .map(([name]) => name)
    const [first, ...rest] = allowed
    if (first === undefined) continue
    const names: [string, ...string[]] = [first, ...rest]
    tools.push({
      spec,
      integrations: names,
      input: {
        ...spec.input,
        integration: z
          .enum(names)
          .optional()
          .describe(`The broker integration (Atlassian site) to use: one of ${names.join(', ')}; default ${first}`)
      }
    })
  }
  return tools
}
