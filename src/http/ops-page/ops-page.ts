/**
 * The ops page at `GET /admin`: one self-contained HTML document (inline CSS and JS, no build step, no external
 * asset). It holds no data: it asks for the admin token, fetches `/admin/usage` and `/admin/ops` with it, and redraws
 * every few seconds (page/page-script.ts). On the admin listener, where no token is needed, it shows the data at once.
 * A hash-based CSP lets only its own script and style run, and lets it talk to its own origin only.
 */
import { createHash } from 'node:crypto'
import { PAGE_BODY } from './page-body.js'
import { PAGE_SCRIPT } from './page-script.js'
import { PAGE_STYLE } from './page-style.js'

export { USAGE_REFRESH_MS } from './page-script.js'

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

export const USAGE_PAGE_CSP = [
  "default-src 'none'", `script-src ${hash(PAGE_SCRIPT)}`, `style-src ${hash(PAGE_STYLE)}`, "connect-src 'self'",
  "img-src 'self' data:", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"
].join('; ')

export const USAGE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>atlassian-broker ops</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>${PAGE_BODY}<script>${PAGE_SCRIPT}</script>
</body>
</html>
`
