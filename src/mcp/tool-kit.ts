/**
 * What a tool is: its name and words for the model, its input as a zod shape (the SDK turns it into JSON Schema), its
 * MCP annotations, the REST calls it makes (`needs`, the policy checks that decide whether a caller sees it) and what
 * it runs. Results are short Markdown for the model plus `structuredContent` for programs; lists carry a `cursor`.
 */
import * as z from 'zod'
import type { ToolRest } from './tool-rest.js'

export type Product = 'jira' | 'confluence'

/** The paging input every list tool takes. */
export const CURSOR = z.string().max(2_000).optional().describe('The cursor a previous page ended with; omit for the first page')

export interface ToolAnnotations {
  readOnlyHint: boolean
  destructiveHint: boolean
  idempotentHint: boolean
  /** Jira and Confluence are outside the broker: every tool reaches an open world. */
  openWorldHint: true
}

/** One REST call a tool makes, with a sample path its policy check uses (a real call is checked again as made). */
export interface RestNeed { method: string, path: string }

export interface ToolOutput {
  /** Markdown for the model. */
  text: string
  structured: Record<string, unknown>
}

export interface ToolSpec {
  name: string
  product: Product
  title: string
  description: string
  input: z.ZodRawShape
  annotations: ToolAnnotations
  needs: readonly RestNeed[]
  run: (rest: ToolRest, args: Record<string, unknown>) => Promise<ToolOutput>
}

export const READ_ONLY: ToolAnnotations = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: true
}
/** Adds without changing what exists (a new issue, page or comment): not idempotent, since a repeat adds another. */
export const ADDITIVE: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: true
}
/** Overwrites what exists (fields, a page body, a status): the same call twice leaves the same state. */
export const OVERWRITING: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: true,
  openWorldHint: true
}

/** Every value in a path is encoded: a key or id from a model never changes which resource is addressed. */
export function pathOf (strings: TemplateStringsArray, ...values: Array<string | number>): string {
  return strings.reduce((path, part, index) => path + part + (index < values.length ? encodeURIComponent(String(values[index])) : ''), '')
}

/** An object's field as a record, for reading Atlassian's JSON without trusting its shape. */
export function fieldsOf (value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}
}

export function listOf (value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value) ? value.map(fieldsOf) : []
}

export function textOf (value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined
}

/** The `cursor` query parameter of a `_links.next` URL (Confluence's paging), or undefined on the last page. */
export function cursorOf (next: unknown): string | undefined {
  if (typeof next !== 'string') return undefined
  return new URLSearchParams(next.split('?')[1] ?? '').get('cursor') ?? undefined
}

/** The footer every paged result ends with, telling the model how to get the next page. */
export function moreLine (cursor: string | undefined): string {
  return cursor === undefined ? '' : `\n\nMore results: call again with cursor "${cursor}".`
}
