/**
 * Markdown both ways, so a model reads and writes the one text format it knows best:
 * - out: HTML to Markdown with turndown (mixmark-io/turndown: the most used HTML-to-Markdown converter on npm, pure
 *   JavaScript with its own DOM parser, GitHub-style output). Confluence's storage format is XHTML, and Jira renders
 *   its ADF to HTML itself (`expand=renderedFields` / `renderedBody`), so one converter serves both products and
 *   Jira's own renderer decides what each ADF node looks like: no second, home-made ADF walker to drift from it.
 * - in: Markdown to ADF with marklassian (built on marked), which both Jira (v3 fields and comments) and Confluence
 *   (v2 `atlas_doc_format` bodies) accept.
 * Both load with the MCP endpoint only (src/mcp/ is imported when `mcp.enabled`).
 */
import { markdownToAdf } from 'marklassian'
import TurndownService from 'turndown'

// Confluence macros (<ac:…>, <ri:…>) are unknown elements to turndown: their tags go, their inner text stays.
const turndown = new TurndownService({ headingStyle: 'atx', codeBlockStyle: 'fenced', bulletListMarker: '-' })

export function htmlToMarkdown (html: string | undefined | null): string {
  if (html === undefined || html === null || html.trim() === '') return ''
  return turndown.turndown(html).trim()
}

export type AdfDocument = ReturnType<typeof markdownToAdf>

export function markdownToAdfDocument (markdown: string): AdfDocument {
  return markdownToAdf(markdown)
}

/** Long text cut to fit a model's context, saying so. */
export function clip (text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}\n\n…(cut at ${maxChars} characters)`
}
