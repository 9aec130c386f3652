/**
 * The reason given for a credential change (`--reason`, the admin API's `reason`): short free text an operator reads in
 * the version history and the audit record. One check for every way in, run by the one write path
 * (credential-writer.ts) before anything is read or written.
 */
import { ReasonInvalidError } from '../errors.js'

/**
 * In characters (code points): 128 of them are at most 512 bytes of UTF-8, Vault's limit for one custom_metadata value,
 * where the Vault store keeps the reason (secrets/vault/vault-store.ts). A sentence and a ticket number fit.
 */
export const REASON_MAX_CHARACTERS = 128

/** C0 and C1 controls (line breaks, tab, escape) and bidirectional controls, which could disguise a history line. */
const CONTROL = /[\p{Cc}\p{Bidi_Control}]/u
/** Half of a UTF-16 pair on its own: JSON can carry one (`"\ud800"`), and it is no text. */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * The reason as kept: trimmed, undefined when none was given or it is blank. Throws ReasonInvalidError naming what is
 * wrong and never quoting the text (an operator may paste a secret into the wrong field).
 */
export function parseReason (text: string | undefined): string | undefined {
  if (text === undefined) return undefined
  const reason = text.trim()
  if (reason === '') return undefined
  if (LONE_SURROGATE.test(reason)) throw new ReasonInvalidError('it holds a lone surrogate (not valid Unicode text)')
  const characters = [...reason].length
  if (characters > REASON_MAX_CHARACTERS) {
    throw new ReasonInvalidError(`it has ${characters} characters; at most ${REASON_MAX_CHARACTERS} are kept`)
  }
  const control = CONTROL.exec(reason)
  if (control !== null) {
    const at = [...reason.slice(0, control.index)].length + 1
    throw new ReasonInvalidError(`character ${at} is a control character (U+${codePoint(control[0])}); give one line of plain text`)
  }
  return reason
}

function codePoint (character: string): string {
  return Number(character.codePointAt(0)).toString(16).toUpperCase().padStart(4, '0')
}
