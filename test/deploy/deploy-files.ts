/** Finding and reading the files under deploy/ for the deploy tests. */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'

export const ROOT = path.resolve(import.meta.dirname, '..', '..')
export const DEPLOY = path.join(ROOT, 'deploy')

/** Every file under a folder, recursively, as paths relative to ROOT, sorted. */
export function filesUnder (folder: string): string[] {
  const found: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else found.push(path.relative(ROOT, full))
    }
  }
  walk(folder)
  return found.sort()
}

export const isYaml = (file: string): boolean => /\.ya?ml$/.test(file)
export const isJson = (file: string): boolean => file.endsWith('.json')

/** All documents of a YAML file (`---`-separated); throws with the file name and the parser's message on any error. */
export function readYamlDocuments (file: string): unknown[] {
  const text = readFileSync(path.resolve(ROOT, file), 'utf8')
  return parseYamlDocuments(text, file)
}

export function parseYamlDocuments (text: string, label: string): unknown[] {
  const documents = parseAllDocuments(text, { prettyErrors: true })
  if (!Array.isArray(documents)) throw new Error(`${label}: not a YAML stream`)
  const problems = documents.flatMap((document) =>
    [...document.errors, ...document.warnings].map((error) => error.message)
  )
  if (problems.length > 0) throw new Error(`${label}: ${problems.join('; ')}`)
  return documents
    .map((document) => document.toJS({ maxAliasCount: 50 }) as unknown)
    .filter((value) => value !== null && value !== undefined)
}

/** A Kubernetes API object (has apiVersion and kind), as opposed to a broker config or a Compose file. */
export function isKubernetesObject (
  value: unknown
): value is { apiVersion: string, kind: string, metadata?: { name?: string } } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { apiVersion?: unknown }).apiVersion === 'string' &&
    typeof (value as { kind?: unknown }).kind === 'string'
  )
}

/** Kustomize's own files are not API objects: kustomize reads them, the API server never sees them. */
export function isKustomization (value: { apiVersion: string }): boolean {
  return value.apiVersion.startsWith('kustomize.config.k8s.io/')
}
