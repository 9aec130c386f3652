/**
 * Why the embedded store's file (or its key) could not be used. Each case says in its message what the operator
 * should do; none is ever a reason to overwrite the file.
 */
/** Why the store file could not be used; each case says in its message what the operator should do. */
export type SecretFileProblem = 'wrong-key' | 'corrupt' | 'unsupported-format' | 'key-missing' | 'bad-master-key' | 'unreadable'

/** A startup (or reload) failure of the file store. */
export class SecretFileError extends Error {
  readonly code = 'BROKER_ERR_SECRET_FILE'
  constructor (readonly problem: SecretFileProblem, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SecretFileError'
  }
}

export function corrupt (file: string, detail: string, cause?: unknown): SecretFileError {
  return new SecretFileError('corrupt', `${file} is corrupted (${detail}); restore it from a backup. The broker will not overwrite it`, { cause })
}

export function unreadable (file: string, error: unknown): SecretFileError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error'
  return new SecretFileError('unreadable', `cannot read ${file} (${code}); check its ownership and permissions`, { cause: error })
}

export function isNotFound (error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT'
}
