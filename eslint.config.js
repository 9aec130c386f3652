// Style is neostandard (the standard style fastify and pino use) with a 120-column limit, plus typescript-eslint's
// recommended checks. `npm run format` wraps long lines (prettier) and then applies the style (eslint --fix).
import neostandard from 'neostandard'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.tap/**',
      'bench/results/**',
      'soak/results/**',
      'coverage/**',
      '.scratch/**',
      'test-artifacts/**'
    ]
  },
  ...neostandard({ ts: true }),
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Long string literals stay whole so a message can be found with grep; code and comments wrap at 120.
      // `void promise` marks a promise deliberately not awaited (its errors are handled where it is made).
      'no-void': ['error', { allowAsStatement: true }],
      // Type literals on one line separate members with commas, as objects do (prettier would write semicolons).
      '@stylistic/member-delimiter-style': ['error', {
        multiline: { delimiter: 'none' },
        singleline: { delimiter: 'comma', requireLast: false }
      }],
      '@stylistic/max-len': [
        'error',
        { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }
      ]
    }
  },
  {
    // The ops page's scripts are classic browser scripts inlined into one page (src/http/ops-page/ops-page.ts), not
    // Node modules: browser globals only, and the names one script leaves for the next declared with /* exported */ and
    // /* global */ comments.
    files: ['src/http/ops-page/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser } }
  },
  {
    files: ['**/*.ts'],
    // TypeScript itself reports real redeclarations; a type and a value of one name (prom-parts.ts) are legitimate.
    rules: { 'no-redeclare': 'off', '@typescript-eslint/no-redeclare': 'off' }
  },
  {
    files: ['test/**', 'bench/**', 'soak/**'],
    rules: {
      // Load loops stop on a flag another task sets, which this rule cannot see.
      'no-unmodified-loop-condition': 'off',
      // Config tests write the `${VAR}` interpolation syntax in plain strings on purpose.
      'no-template-curly-in-string': 'off'
    }
  }
)
