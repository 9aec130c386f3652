/**
 * Validates Kubernetes objects twice, with the `kubernetes-models` package (generated from the Kubernetes 1.30+
 * OpenAPI spec):
 * - against the JSON schema it ships (compiled ajv validators): types, enums, required fields;
 * - against its TypeScript interfaces, by type-checking each object as an object literal: the API's schemas allow
 *   unknown properties (the API server drops them), so only this excess-property check catches a misspelt field,
 *   as `kubectl apply --validate=strict` would.
 */
import path from 'node:path'
import ts from 'typescript'

export interface KubernetesObject { apiVersion?: unknown, kind?: unknown, metadata?: { name?: unknown } }

interface ModelClass { new (data: unknown): { validate(): void } }

/** `apps/v1` + `Deployment` -> `kubernetes-models/apps/v1/Deployment`; the core group is `v1`. */
export function modelModule (apiVersion: string, kind: string): string {
  return `kubernetes-models/${apiVersion}/${kind}`
}

export function describeObject (object: KubernetesObject): string {
  return `${String(object.kind)}/${String(object.metadata?.name ?? '?')} (${String(object.apiVersion)})`
}

/** Schema problems of one object, as `path: message` lines; [] when valid. Throws for a kind the package lacks. */
export async function schemaProblems (object: KubernetesObject): Promise<string[]> {
  if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') return ['apiVersion and kind must be strings']
  const loaded = await import(modelModule(object.apiVersion, object.kind)) as Record<string, unknown>
  const Model = loaded[object.kind] as ModelClass | undefined
  if (Model === undefined) throw new Error(`kubernetes-models has no ${object.kind} in ${object.apiVersion}`)
  try {
    new Model(object).validate()
    return []
  } catch (error) {
    return String((error as Error).message).split('\n').filter((line) => line.trim() !== '')
  }
}

/**
 * Type-checks every object against the package's `I<Kind>` interface in one in-memory program; returns one line per
 * diagnostic, naming the object it is about.
 */
export function typeProblems (objects: Array<{ label: string, object: KubernetesObject }>): string[] {
  const root = path.resolve(import.meta.dirname, '..', '..')
  const virtualFile = path.join(root, 'test', 'deploy', '__kubernetes-typecheck__.ts')
  const lines: string[] = []
  const owners: string[] = []
  objects.forEach(({ label, object }, index) => {
    const kind = String(object.kind)
    lines.push(`import type { I${kind} as T${index} } from '${modelModule(String(object.apiVersion), kind)}'`)
    owners.push(label)
  })
  const importCount = lines.length
  objects.forEach(({ object }, index) => {
    lines.push(`export const object${index}: T${index} = ${JSON.stringify(object)}`)
  })
  const source = lines.join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: []
  }
  const host = ts.createCompilerHost(options)
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (fileName, languageVersion, ...rest) => fileName === virtualFile
    ? ts.createSourceFile(fileName, source, languageVersion, true)
    : getSourceFile(fileName, languageVersion, ...rest)
  const fileExists = host.fileExists.bind(host)
  host.fileExists = (fileName) => fileName === virtualFile || fileExists(fileName)
  const program = ts.createProgram([virtualFile], options, host)
  const diagnostics = ts.getPreEmitDiagnostics(program)
  return diagnostics.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
    if (diagnostic.file === undefined || diagnostic.start === undefined) return message
    const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
    const owner = line < importCount ? `${owners[line] ?? '?'} (import)` : (owners[line - importCount] ?? '?')
    return `${owner}: ${message}`
  })
}
