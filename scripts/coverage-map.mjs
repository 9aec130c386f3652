// tap's coverage map (package.json, tap "coverage-map"): whichever test file runs, coverage is measured over src/
// only, so tests, helpers, bench/, soak/, scripts/ and .ci/ neither count towards nor dilute the figure `npm test`
// reports and holds to its floor (the tap "statements", "branches", "functions" and "lines" settings).
export default function coverageMap () {
  return ['src/**/*.ts']
}
