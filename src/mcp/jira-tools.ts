/**
 * The Jira tools: what agents do most in Jira, each one or two calls of Jira Cloud's REST API v3. Rich text comes back
 * as Markdown from Jira's own HTML rendering (`expand=renderedFields`, `renderedBody`: markdown.ts) and goes in as
 * Markdown turned into ADF. Search pages with Jira's `nextPageToken` (the enhanced JQL search), projects with
 * `startAt`.
 */
import * as z from 'zod'
import { clip, htmlToMarkdown, markdownToAdfDocument } from './markdown.js'
import {
  ADDITIVE, CURSOR, fieldsOf, listOf, moreLine, OVERWRITING, pathOf, READ_ONLY, textOf, type ToolSpec
} from './tool-kit.js'

const ISSUE_KEY = z.string().min(1).max(255).describe('The issue key (for example "PROJ-123") or numeric id')
const DEFAULT_FIELDS = ['summary', 'status', 'assignee', 'issuetype', 'priority', 'updated']
const DETAIL_FIELDS = [...DEFAULT_FIELDS, 'reporter', 'labels', 'created', 'description', 'project']
const MAX_DESCRIPTION_CHARS = 20_000
const MAX_COMMENT_CHARS = 4_000

const nameOf = (value: unknown): string | undefined =>
  textOf(fieldsOf(value).displayName) ?? textOf(fieldsOf(value).name)

function issueLine (issue: Record<string, unknown>): string {
  const fields = fieldsOf(issue.fields)
  const status = nameOf(fields.status)
  const assignee = nameOf(fields.assignee)
  return `- ${textOf(issue.key) ?? textOf(issue.id) ?? '?'}${status === undefined ? '' : ` [${status}]`} ` +
    `${textOf(fields.summary) ?? ''}${assignee === undefined ? '' : ` (${assignee})`}`
}

const searchIssues: ToolSpec = {
  name: 'jira_search_issues',
  product: 'jira',
  title: 'Search Jira issues (JQL)',
  description: 'Finds Jira issues with a JQL query, newest first unless the JQL says ORDER BY. Returns one line per ' +
    'issue (key, status, summary, assignee) and the chosen fields in structuredContent. Paged: pass the returned ' +
    'cursor to get the next page.',
  input: {
    jql: z.string().min(1).max(10_000).describe('The JQL query, for example: project = PROJ AND status = "In Progress"'),
    fields: z.array(z.string().min(1).max(255)).max(50).optional()
      .describe(`Fields to return for each issue (default: ${DEFAULT_FIELDS.join(', ')})`),
    maxResults: z.number().int().min(1).max(100).default(20).describe('Issues per page, 1 to 100'),
    cursor: CURSOR
  },
  annotations: READ_ONLY,
  needs: [{ method: 'POST', path: '/rest/api/3/search/jql' }],
  run: async (rest, args) => {
    const answer = fieldsOf(await rest.post('/rest/api/3/search/jql', {
      jql: args.jql,
      fields: args.fields ?? DEFAULT_FIELDS,
      maxResults: args.maxResults,
      ...(args.cursor === undefined ? {} : { nextPageToken: args.cursor })
    }))
    // Only what identifies an issue and the chosen fields: `self` and `expand` would spend a model's context.
    const issues = listOf(answer.issues).map((issue) => ({ id: issue.id, key: issue.key, fields: issue.fields }))
    const cursor = answer.isLast === true ? undefined : textOf(answer.nextPageToken)
    const text = issues.length === 0 ? 'No issues match.' : issues.map(issueLine).join('\n')
    return { text: text + moreLine(cursor), structured: { issues, ...(cursor === undefined ? {} : { cursor }) } }
  }
}

const getIssue: ToolSpec = {
  name: 'jira_get_issue',
  product: 'jira',
  title: 'Get a Jira issue with its comments',
  description: 'Reads one Jira issue: summary, status, people, dates, labels, the description as Markdown, and its ' +
    'latest comments as Markdown.',
  input: {
    issueKey: ISSUE_KEY,
    commentLimit: z.number().int().min(0).max(100).default(20).describe('How many of the latest comments to include')
  },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/rest/api/3/issue/PROJ-1' }, { method: 'GET', path: '/rest/api/3/issue/PROJ-1/comment' }],
  run: async (rest, args) => {
    const key = String(args.issueKey)
    const issue = fieldsOf(await rest.get(pathOf`/rest/api/3/issue/${key}`, { fields: DETAIL_FIELDS.join(','), expand: 'renderedFields' }))
    const fields = fieldsOf(issue.fields)
    const rendered = fieldsOf(issue.renderedFields)
    const limit = Number(args.commentLimit)
    const comments = limit === 0
      ? []
      : listOf(fieldsOf(await rest.get(pathOf`/rest/api/3/issue/${key}/comment`, { maxResults: limit, orderBy: '-created', expand: 'renderedBody' })).comments)
    const description = clip(htmlToMarkdown(textOf(rendered.description)), MAX_DESCRIPTION_CHARS)
    const commentList = comments.map((comment) => ({
      id: textOf(comment.id),
      author: nameOf(comment.author),
      created: textOf(comment.created),
      body: clip(htmlToMarkdown(textOf(comment.renderedBody)), MAX_COMMENT_CHARS)
    }))
    const lines = [
      `# ${textOf(issue.key) ?? key}: ${textOf(fields.summary) ?? ''}`,
      `Status: ${nameOf(fields.status) ?? '-'} · Type: ${nameOf(fields.issuetype) ?? '-'} · Priority: ${nameOf(fields.priority) ?? '-'}`,
      `Assignee: ${nameOf(fields.assignee) ?? 'unassigned'} · Reporter: ${nameOf(fields.reporter) ?? '-'}`,
      `Created: ${textOf(fields.created) ?? '-'} · Updated: ${textOf(fields.updated) ?? '-'}` +
        (Array.isArray(fields.labels) && fields.labels.length > 0 ? ` · Labels: ${fields.labels.join(', ')}` : ''),
      '', '## Description', '', description === '' ? '(none)' : description
    ]
    if (limit > 0) {
      lines.push('', `## Comments (${commentList.length})`)
      for (const comment of commentList) lines.push('', `### ${comment.author ?? 'unknown'}, ${comment.created ?? ''}`, '', comment.body)
    }
    const structured = {
      key: textOf(issue.key),
      id: textOf(issue.id),
      fields: { ...fields, description },
      comments: commentList
    }
    return { text: lines.join('\n'), structured }
  }
}

const createIssue: ToolSpec = {
  name: 'jira_create_issue',
  product: 'jira',
  title: 'Create a Jira issue',
  description: 'Creates a Jira issue in a project. The description is Markdown. Returns the new issue\'s key.',
  input: {
    projectKey: z.string().min(1).max(255).describe('The project key, for example "PROJ"'),
    summary: z.string().min(1).max(255).describe('One line saying what the issue is about'),
    issueType: z.string().min(1).max(255).default('Task').describe('The issue type\'s name, for example Task, Bug, Story'),
    description: z.string().max(100_000).optional().describe('The description, in Markdown'),
    labels: z.array(z.string().min(1).max(255)).max(50).optional().describe('Labels (no spaces in a label)')
  },
  annotations: ADDITIVE,
  needs: [{ method: 'POST', path: '/rest/api/3/issue' }],
  run: async (rest, args) => {
    const fields: Record<string, unknown> = {
      project: { key: args.projectKey },
      summary: args.summary,
      issuetype: { name: args.issueType },
      ...(args.description === undefined ? {} : { description: markdownToAdfDocument(String(args.description)) }),
      ...(args.labels === undefined ? {} : { labels: args.labels })
    }
    const created = fieldsOf(await rest.post('/rest/api/3/issue', { fields }))
    return { text: `Created ${textOf(created.key) ?? '?'}.`, structured: { key: textOf(created.key), id: textOf(created.id) } }
  }
}

const updateIssue: ToolSpec = {
  name: 'jira_update_issue',
  product: 'jira',
  title: 'Update a Jira issue\'s fields',
  description: 'Sets fields of a Jira issue: summary, description (Markdown), labels, and any other field by its id ' +
    'in `fields` (Jira\'s own JSON value, for example {"priority": {"name": "High"}}). Fields not given stay as they are.',
  input: {
    issueKey: ISSUE_KEY,
    summary: z.string().min(1).max(255).optional(),
    description: z.string().max(100_000).optional().describe('The new description, in Markdown (replaces the old one)'),
    labels: z.array(z.string().min(1).max(255)).max(50).optional().describe('The new labels (replace the old ones)'),
    fields: z.record(z.string(), z.unknown()).optional().describe('Other fields by id, as Jira\'s REST API takes them')
  },
  annotations: OVERWRITING,
  needs: [{ method: 'PUT', path: '/rest/api/3/issue/PROJ-1' }],
  run: async (rest, args) => {
    const fields: Record<string, unknown> = {
      ...fieldsOf(args.fields),
      ...(args.summary === undefined ? {} : { summary: args.summary }),
      ...(args.description === undefined ? {} : { description: markdownToAdfDocument(String(args.description)) }),
      ...(args.labels === undefined ? {} : { labels: args.labels })
    }
    const key = String(args.issueKey)
    await rest.put(pathOf`/rest/api/3/issue/${key}`, { fields })
    const names = Object.keys(fields)
    return { text: `Updated ${key}: ${names.join(', ') || 'nothing'}.`, structured: { key, updated: names } }
  }
}

const addComment: ToolSpec = {
  name: 'jira_add_comment',
  product: 'jira',
  title: 'Comment on a Jira issue',
  description: 'Adds a comment, written in Markdown, to a Jira issue.',
  input: { issueKey: ISSUE_KEY, body: z.string().min(1).max(100_000).describe('The comment, in Markdown') },
  annotations: ADDITIVE,
  needs: [{ method: 'POST', path: '/rest/api/3/issue/PROJ-1/comment' }],
  run: async (rest, args) => {
    const key = String(args.issueKey)
    const comment = fieldsOf(await rest.post(pathOf`/rest/api/3/issue/${key}/comment`, { body: markdownToAdfDocument(String(args.body)) }))
    return { text: `Commented on ${key} (comment ${textOf(comment.id) ?? '?'}).`, structured: { key, commentId: textOf(comment.id) } }
  }
}

const listTransitions: ToolSpec = {
  name: 'jira_list_transitions',
  product: 'jira',
  title: 'List a Jira issue\'s transitions',
  description: 'Lists the workflow transitions a Jira issue can take now (id, name, target status): pass an id to ' +
    'jira_transition_issue.',
  input: { issueKey: ISSUE_KEY },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/rest/api/3/issue/PROJ-1/transitions' }],
  run: async (rest, args) => {
    const key = String(args.issueKey)
    const transitions = listOf(fieldsOf(await rest.get(pathOf`/rest/api/3/issue/${key}/transitions`)).transitions)
      .map((transition) => ({ id: textOf(transition.id), name: textOf(transition.name), to: nameOf(transition.to) }))
    const text = transitions.length === 0
      ? `${key} has no transitions available.`
      : transitions.map((transition) => `- ${transition.id ?? '?'}: ${transition.name ?? ''} → ${transition.to ?? '?'}`).join('\n')
    return { text, structured: { key, transitions } }
  }
}

const transitionIssue: ToolSpec = {
  name: 'jira_transition_issue',
  product: 'jira',
  title: 'Move a Jira issue through its workflow',
  description: 'Applies a workflow transition to a Jira issue (an id from jira_list_transitions), for example to ' +
    'start or resolve it.',
  input: { issueKey: ISSUE_KEY, transitionId: z.string().regex(/^\d{1,10}$/).describe('The transition\'s id') },
  annotations: OVERWRITING,
  needs: [{ method: 'POST', path: '/rest/api/3/issue/PROJ-1/transitions' }],
  run: async (rest, args) => {
    const key = String(args.issueKey)
    await rest.post(pathOf`/rest/api/3/issue/${key}/transitions`, { transition: { id: args.transitionId } })
    return { text: `Applied transition ${String(args.transitionId)} to ${key}.`, structured: { key, transitionId: args.transitionId } }
  }
}

const listProjects: ToolSpec = {
  name: 'jira_list_projects',
  product: 'jira',
  title: 'List Jira projects',
  description: 'Lists the Jira projects the service account can see (key, name, type), optionally filtered by a ' +
    'piece of the key or name. Paged: pass the returned cursor to get the next page.',
  input: {
    query: z.string().max(255).optional().describe('Only projects whose key or name contains this'),
    maxResults: z.number().int().min(1).max(100).default(50),
    cursor: CURSOR
  },
  annotations: READ_ONLY,
  needs: [{ method: 'GET', path: '/rest/api/3/project/search' }],
  run: async (rest, args) => {
    const startAt = Number(args.cursor ?? 0) || 0
    const answer = fieldsOf(
      await rest.get('/rest/api/3/project/search', {
        startAt,
        maxResults: Number(args.maxResults),
        query: args.query as string | undefined
      })
    )
    const projects = listOf(answer.values).map((project) => ({
      id: textOf(project.id),
      key: textOf(project.key),
      name: textOf(project.name),
      type: textOf(project.projectTypeKey)
    }))
    const cursor = answer.isLast === true || projects.length === 0 ? undefined : String(startAt + projects.length)
    const text = projects.length === 0 ? 'No projects.' : projects.map((project) => `- ${project.key ?? '?'}: ${project.name ?? ''}`).join('\n')
    return { text: text + moreLine(cursor), structured: { projects, ...(cursor === undefined ? {} : { cursor }) } }
  }
}

export const JIRA_TOOLS: readonly ToolSpec[] = [
  searchIssues, getIssue, createIssue, updateIssue, addComment, listTransitions, transitionIssue, listProjects
]
