// npm run format: wraps the lines lint reports as over 120 columns (@stylistic/max-len), with the smallest diff.
// A long comment is split, a trailing comment moves above its line, and only a statement holding a long code line is
// re-printed by prettier (range formatting), so hand-laid code elsewhere stays as it is. `eslint --fix` then applies
// the house style (neostandard). Usage: node scripts/wrap-long-lines.mjs [files or folders...] (default: the tree).
import { readFileSync, writeFileSync } from 'node:fs'
import { ESLint } from 'eslint'
import * as prettier from 'prettier'

const LIMIT = 120
const options = JSON.parse(readFileSync('.prettierrc.json', 'utf8'))
// neostandard puts a space before a function's parameter list that prettier leaves out: print two columns short.
const PRINT_WIDTH = LIMIT - 2
const isComment = (line) => /^\s*(\/\/|\*|\/\*)/.test(line)

/** Lines (0-based) lint reports as too long, per file. */
async function longLines (targets) {
  const results = await new ESLint().lintFiles(targets)
  const found = new Map()
  for (const result of results) {
    const lines = result.messages.filter((m) => m.ruleId === '@stylistic/max-len').map((m) => m.line - 1)
    if (lines.length > 0) found.set(result.filePath, new Set(lines))
  }
  return found
}

function wrapComments (text, flagged) {
  const lines = text.split('\n')
  const out = []
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]
    if (!flagged.has(index)) { out.push(line); continue }
    let rest = line
    const trailing = /^(\s*)(\S.*?\S)\s+(\/\/ .*)$/.exec(rest)
    if (trailing && !isComment(rest) && !/['"`]/.test(trailing[3]) && trailing[1].length + trailing[2].length <= LIMIT) {
      out.push(trailing[1] + trailing[3])
      rest = trailing[1] + trailing[2]
    }
    const comment = /^(\s*(?:\/\/ |\* |\/\*\* ))(.*)$/.exec(rest)
    if (rest.length <= LIMIT || !comment) { out.push(rest); continue }
    let [, prefix, words] = comment
    const continued = prefix.replace('/** ', ' * ')
    while ((prefix + words).length > LIMIT) {
      const cut = (prefix + words).lastIndexOf(' ', LIMIT) - prefix.length
      if (cut <= 0) break
      out.push(prefix + words.slice(0, cut))
      words = words.slice(cut + 1)
      prefix = continued
    }
    // The rest joins the next line of the same paragraph (not a list item), so no word is left on a line of its own;
    // if that line grows past the limit, the next pass splits it in turn.
    const next = lines[index + 1]
    if (next !== undefined && next.startsWith(continued) && /^[^\s\-*`@]/.test(next.slice(continued.length)) &&
        !/^\d+\./.test(next.slice(continued.length))) {
      lines[index + 1] = continued + words + ' ' + next.slice(continued.length)
      flagged.add(index + 1)
    } else {
      out.push(prefix + words)
    }
  }
  return out.join('\n')
}

async function wrapCode (file, text, flagged) {
  for (const index of [...flagged].sort((a, b) => b - a)) {
    const lines = text.split('\n')
    if (isComment(lines[index] ?? '') || (lines[index] ?? '').length <= LIMIT) continue
    const start = lines.slice(0, index).reduce((n, l) => n + l.length + 1, 0)
    try {
      const range = { rangeStart: start, rangeEnd: start + lines[index].length }
      text = await prettier.format(text, { ...options, ...range, printWidth: PRINT_WIDTH, parser: 'typescript' })
    } catch (error) { console.error(`${file}:${index + 1}: ${String(error.message).split('\n')[0]}`) }
  }
  return text
}

const targets = process.argv.length > 2 ? process.argv.slice(2) : ['.']
let changed = 0
// A re-printed statement can leave another long line beside it: go again until nothing changes (at most 5 passes).
for (let pass = 0, before = -1; pass < 5 && changed !== before; pass++) {
  before = changed
  await wrapAll()
}
console.error(`wrap-long-lines: ${changed} file changes`)

async function wrapAll () {
  for (const [file, flagged] of await longLines(targets)) {
    const original = readFileSync(file, 'utf8')
    const commented = wrapComments(original, flagged)
    // Comment splits move lines: ask lint again for this file before re-printing code.
    const again = commented === original ? flagged : ((await longLines([file])).get(file) ?? new Set())
    writeFileSync(file, commented)
    const text = await wrapCode(file, commented, again)
    if (text !== original) { writeFileSync(file, text); changed++ }
  }
}
