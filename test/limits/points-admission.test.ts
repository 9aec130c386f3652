/** Budgets in points, counted in this process (src/limits/point-shares.ts): the shared cases, and the division. */
import t from 'tap'
import { LocalLimits } from '../../src/limits/local-limits.js'
import { fairShare } from '../../src/limits/point-shares.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { pointsSemantics } from './points-semantics.js'

pointsSemantics(t, (clock) => new LocalLimits({ clock }), () => new ManualClock())

t.test('max-min fair division: a caller wanting less than an equal share gets it, the rest share what is left', async (t) => {
  t.same(fairShare(10, [1, 100, 100]), [1, 4.5, 4.5])
  t.same(fairShare(10, [1, 2]), [1 + 3.5, 2 + 3.5], 'what nobody wants is shared equally')
  t.same(fairShare(9, [50, 50, 50]), [3, 3, 3])
  t.same(fairShare(6, [0]), [6], 'a lone caller has it all')
})
