/**
 * `init`'s edit of the config file: adds one integration (by site) and, when no rule names it for the caller, one
 * read-only policy rule, through the yaml Document API so the user's comments, order and formatting stay as written.
 * The file is read and written through a symlink (the link stays, its target changes and keeps its mode), and the write
 * happens under the same cross-process lock as the store's, on the file as it is then: a parallel `init` that wrote
 * first keeps its entry.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { Document, isMap, isSeq, parseDocument } from 'yaml'
import { writeFileAtomic } from '../secrets/file/atomic-write.js'
import { withFileLock } from '../secrets/file/file-lock.js'
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

/** The config file's text (through a symlink), or undefined when there is no file yet. */
export function readConfigText (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

/**
 * Writes `entry` into the config file: `text` (checked by the caller) when the file still holds what was read, else
 * the entry applied again to what another writer left there. The symlink's target is replaced, with its mode.
 */
export async function writeConfigEntry (
  file: string,
  read: string | undefined,
  text: string,
  entry: InitEntry
): Promise<void> {
  const target = realTarget(file)
  await withFileLock(target, async () => {
    const now = readConfigText(target)
    const next = now === read ? text : extendConfigText(now, entry).text
    if (next === now) return
    const mode = now === undefined ? 0o600 : statSync(target).mode & 0o777
    await writeFileAtomic(target, next, { mode })
  })
}

/** Where a (possibly dangling or chained) symlink points, or the path itself. */
function realTarget (file: string): string {
  try {
    return realpathSync(file)
  } catch {
    return file
  }
}
