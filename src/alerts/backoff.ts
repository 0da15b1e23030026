/**
 * When to try a failed delivery again. Exponential backoff with "full jitter" (AWS Architecture
 * Blog, "Exponential Backoff And Jitter", 2015): a uniform random delay between 0 and the
 * exponential ceiling, so that many gateways whose shared webhook came back at the same moment
 * do not all retry in lockstep. A sink's own Retry-After (RFC 9110 §10.2.3) wins over it.
 */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before attempt `attempts + 1`, given `attempts` failures so far (>= 1). */
export function fullJitterDelay(attempts: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.floor(random() * ceiling);
}

/**
 * Retry-After as milliseconds from `nowMs`: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct
 * 2015 07:28:00 GMT"). Null when absent or unreadable; a date in the past gives 0.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | null {
  if (value === null || value === undefined) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Discord sends fractional seconds in its JSON body and sometimes in the header.
  if (/^\d+\.\d+$/.test(text)) return Math.ceil(Number(text) * 1000);
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, when - nowMs);
}
