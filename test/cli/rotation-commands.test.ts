/** `secrets rotate | rollback | history` through the real command line, with the file store (see rotation-cli-case.ts).
 * */
import t from 'tap'
import { rotationCliCase } from './rotation-cli-case.js'

await rotationCliCase(t, 'file')
