// The ops page's stylesheet (src/http/ops-page/ops-page.css) is linted as CSS, as its script is linted by eslint.
export default {
  extends: ['stylelint-config-recommended']
}
