/**
 * `init`'s edit of the config file: adds one integration (by site) and, when no rule names it for the caller, one
 * read-only policy rule, through the yaml Document API so the user's comments, order and formatting stay as written.
 */
import { Document, isMap, isSeq, parseDocument } from 'yaml'
import { UsageError } from './io.js'

export interface InitEntry {
  integration: string
  site: string
  product: 'jira' | 'confluence'
  credential: 'oauth' | 'api-token'
  caller: string
}

const HEADER = ' atlassian-broker configuration (README: "Configuration"). Written by `atlassian-broker init`; edit freely.'

/** The new file text, or the old one unchanged when it already holds this integration and a rule for the caller. */
export function extendConfigText (existing: string | undefined, entry: InitEntry): { text: string, changes: string[] } {
  const document: Document = existing === undefined || existing.trim() === '' ? new Document({}) : parseDocument(existing)
  if (document.errors.length > 0) throw new UsageError(`the config file is not valid YAML: ${document.errors[0]?.message.split('\n')[0] ?? ''}; fix it first`)
  if (existing === undefined || existing.trim() === '') document.commentBefore = HEADER
  const changes: string[] = []
  const integrations = document.get('integrations')
  if (integrations !== undefined && integrations !== null && !isMap(integrations)) throw new UsageError('integrations: in the config file is not a map; fix it first')
  // An empty `{}` or `[]` written as a placeholder becomes block style once it holds something.
  if (isMap(integrations) && integrations.items.length === 0) integrations.flow = false
  const current = document.getIn(['integrations', entry.integration]) as unknown
  if (current === undefined) {
    document.setIn(['integrations', entry.integration], document.createNode({ product: entry.product, site: entry.site, credential: entry.credential }))
    changes.push(`added integration ${entry.integration} (${entry.product}, site ${entry.site})`)
  } else {
    const existingEntry =
      (document.toJS() as { integrations: Record<string, Record<string, unknown>> }).integrations[entry.integration] ??
      {}
    const clash = (['product', 'site', 'credential'] as const).filter((key) => existingEntry[key] !== undefined && existingEntry[key] !== entry[key])
    if (clash.length > 0) {
      throw new UsageError(`integration ${entry.integration} is already configured with a different ${clash.join(', ')}; choose another --integration name or edit the file`)
    }
    if (existingEntry.site === undefined) document.setIn(['integrations', entry.integration, 'site'], entry.site)
  }
  const policy = document.get('policy')
  if (policy !== undefined && policy !== null && !isSeq(policy)) throw new UsageError('policy: in the config file is not a list; fix it first')
  const rules = ((document.toJS() as { policy?: Array<{ caller?: unknown, integration?: unknown }> }).policy ?? [])
  if (!rules.some((rule) => rule.caller === entry.caller && rule.integration === entry.integration)) {
    const rule = document.createNode({ caller: entry.caller, integration: entry.integration, methods: ['GET'], paths: ['/**'] })
    for (const list of ['methods', 'paths']) {
      const node = rule.get(list, true)
      if (isSeq(node)) node.flow = true
    }
    rule.commentBefore = ` added by init: read-only; widen methods/paths as ${entry.caller} needs`
    if (isSeq(policy)) {
      if (policy.items.length === 0) policy.flow = false
      policy.add(rule)
    } else document.set('policy', document.createNode([rule]))
    changes.push(`added a read-only policy rule for caller ${entry.caller} on ${entry.integration}`)
  }
  return { text: changes.length === 0 && existing !== undefined ? existing : document.toString(), changes }
}
