/**
 * One HTTP download into a file, bounded in time and size. Errors are thrown as plain Errors whose
 * message is the reason an operator reads in the log line, so they name the cause and not the
 * call stack ("HTTP 401 Unauthorized", "timed out after 300s", "cannot connect (ECONNREFUSED)").
 */
import { open, stat } from 'node:fs/promises';
import type { DownloadRequest } from './providers';

export interface DownloadLimits {
  timeoutMs: number;
  maxBytes: number;
  /** Aborts the download when the updater stops. */
  signal: AbortSignal;
  /** Sent as If-Modified-Since, so an unchanged upstream file costs a 304 instead of the file. */
  ifModifiedSince: Date | null;
}

export type DownloadOutcome = 'downloaded' | 'not-modified';

/** A response status the caller may act on: 404 moves to the next candidate URL. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    statusText: string,
    hint: string,
  ) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ''}${hint}`);
  }
}

function statusHint(status: number): string {
  if (status === 401 || status === 403) return ' (check the account ID, licence key or token)';
  if (status === 429) return ' (rate limited by the provider; the schedule may be too frequent)';
  return '';
}

/** The reason behind undici's bare "fetch failed". */
function networkReason(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause && typeof cause === 'object') return `cannot connect (${cause.code ?? cause.message})`;
  return err instanceof Error ? err.message : String(err);
}

const TIMED_OUT = Symbol('timed out');

export async function downloadToFile(request: DownloadRequest, dest: string, limits: DownloadLimits): Promise<DownloadOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(TIMED_OUT), limits.timeoutMs);
  const stop = (): void => controller.abort(limits.signal.reason);
  if (limits.signal.aborted) stop();
  else limits.signal.addEventListener('abort', stop, { once: true });
  // identity: the files are compressed already, and a transparently decoded body would no longer
  // match Content-Length, which is how a connection closed early is noticed.
  const headers: Record<string, string> = { 'user-agent': 'geowarden-geoip-updater', 'accept-encoding': 'identity', ...request.headers };
  if (limits.ifModifiedSince) headers['if-modified-since'] = limits.ifModifiedSince.toUTCString();
  try {
    const response = await fetch(request.url, { headers, signal: controller.signal, redirect: 'follow' });
    if (response.status === 304) {
      await response.body?.cancel();
      return 'not-modified';
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new HttpStatusError(response.status, response.statusText, statusHint(response.status));
    }
    const announced = Number(response.headers.get('content-length'));
    if (announced > limits.maxBytes) throw new Error(`announces ${announced} bytes, more than max_size (${limits.maxBytes})`);
    if (!response.body) throw new Error('the response has no body');
    const file = await open(dest, 'wx', 0o644);
    let received = 0;
    try {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.byteLength;
        if (received > limits.maxBytes) {
          await reader.cancel();
          throw new Error(`is larger than max_size (${limits.maxBytes} bytes)`);
        }
        await file.write(value);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    if (received === 0) throw new Error('the response body is empty');
    // A server that closes early without chunked encoding leaves a short file and no error.
    const encoded = response.headers.get('content-encoding');
    if (announced > 0 && (!encoded || encoded === 'identity') && (await stat(dest)).size !== announced) {
      throw new Error(`ended after ${received} of ${announced} bytes`);
    }
    return 'downloaded';
  } catch (err) {
    if (controller.signal.aborted) {
      if (controller.signal.reason === TIMED_OUT) throw new Error(`timed out after ${limits.timeoutMs / 1000}s`);
      throw new Error('aborted: the updater is stopping');
    }
    if (err instanceof HttpStatusError) throw err;
    if (err instanceof TypeError && err.message === 'fetch failed') throw new Error(networkReason(err));
    // undici's word for a body cut off by the peer; the cause says how.
    if (err instanceof TypeError && err.message === 'terminated') {
      const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new Error(`the connection closed mid-download${cause}`);
    }
    throw err instanceof Error ? err : new Error(String(err));
  } finally {
    clearTimeout(timer);
    limits.signal.removeEventListener('abort', stop);
  }
}
