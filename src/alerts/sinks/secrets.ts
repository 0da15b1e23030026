/**
 * Reads the secrets sinks need (webhook URLs with tokens, HMAC keys) when the daemon starts. A
 * secret's value never appears in an error or a log line, only where it came from.
 */
import { readFileSync } from 'node:fs';
import type { SecretRef } from '../../config/types';

/** A sink cannot be built from its config (a secret is missing): the daemon does not start. */
export class AlertSetupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'AlertSetupError';
  }
}

/** The secret's text, trimmed (files usually end with a newline); throws a message naming the source. */
export function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in ref) return ref.value;
  if ('env' in ref) {
    const value = env[ref.env]?.trim();
    if (!value) throw new Error(`environment variable ${ref.env} is not set or empty`);
    return value;
  }
  let text: string;
  try {
    text = readFileSync(ref.file, 'utf8').trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${ref.file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  if (!text) throw new Error(`${ref.file} is empty`);
  return text;
}
