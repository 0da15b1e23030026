/**
 * One JSON POST with a deadline, and what its outcome means for the outbox. No retries here: the
 * outbox owns those, so a retry survives a restart.
 */
import { parseRetryAfter } from '../backoff';
import type { DeliveryResult } from '../types';

export interface HttpTarget {
  url: string;
  /** Configured extra headers (webhook, alertmanager). */
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
}

/**
 * Statuses that say "this payload will never be accepted": retrying the same body is pointless,
 * so the delivery becomes a dead letter at once. Everything else (401/403/404 included: the
 * admin may fix the URL or token in the config, which is read again at start) is retried until
 * give_up_after.
 */
const REFUSED = new Set([400, 413, 422]);
/** Statuses whose Retry-After is honoured (RFC 9110 §10.2.3, RFC 6585 §4). */
const RETRY_AFTER = new Set([429, 503]);
const ERROR_BODY_CHARS = 200;

export async function postJson(target: HttpTarget, body: string, headers: Readonly<Record<string, string>>, nowMs: number): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetch(target.url, {
      method: 'POST',
      headers: { ...target.headers, ...headers, 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'geowarden' },
      body,
      // A redirect would turn the POST into a GET on most servers; treat it as the failure it is.
      redirect: 'manual',
      signal: AbortSignal.timeout(target.timeoutMs),
    });
  } catch (err) {
    // A port fetch refuses will never be reached: dead letter at once, with the reason.
    const permanent = (err as { cause?: { message?: string } }).cause?.message === 'bad port';
    return { ok: false, permanent, status: null, error: requestError(err, target.timeoutMs), retryAfterMs: null };
  }
  let text = '';
  try {
    // Read (bounded by the same deadline) so the connection can be reused, and for the error text.
    text = await response.text();
  } catch (err) {
    if (response.ok) return { ok: true, status: response.status };
    return { ok: false, permanent: false, status: response.status, error: `HTTP ${response.status}; ${requestError(err, target.timeoutMs)}`, retryAfterMs: null };
  }
  if (response.status >= 200 && response.status < 300) return { ok: true, status: response.status };
  const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, ERROR_BODY_CHARS);
  return {
    ok: false,
    permanent: REFUSED.has(response.status),
    status: response.status,
    error: `HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`,
    retryAfterMs: RETRY_AFTER.has(response.status) ? parseRetryAfter(response.headers.get('retry-after'), nowMs) : null,
  };
}

/** One line, without the URL: chat webhook URLs carry their token in the path. */
function requestError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000}s (timeout)`;
  const code = e.cause?.code;
  if (e.cause?.message === 'bad port') return 'the port is on the Fetch standard\'s list of blocked ports (https://fetch.spec.whatwg.org/#port-blocking); use another port';
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (is the receiver running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return 'connection reset by the receiver';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      if ((typeof code === 'string' && code.startsWith('ERR_TLS')) || /certificate/i.test(e.cause?.message ?? '')) return `TLS error: ${e.cause?.message ?? code}`;
      return e.cause?.message ?? e.message ?? String(err);
  }
}
