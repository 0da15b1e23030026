/**
 * Sends what the outbox holds. One delivery in flight per sink (messages to one channel arrive
 * in order, and a slow sink cannot hold up the others); each attempt's outcome is written back
 * before the next one starts. Failures are retried with full-jitter backoff or the sink's
 * Retry-After, up to give_up_after from when the alert was written; then the delivery is a dead
 * letter. A token bucket per sink (rate_limit) postpones deliveries without counting an attempt.
 */
import { TokenBucket } from '../server/token-bucket';
import { fullJitterDelay } from './backoff';
import type { AlertMetrics } from './alert-metrics';
import type { DueDelivery, Outbox } from './outbox';
import type { AlertSink, Clock, DeliveryResult } from './types';

export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
  giveUpMs: number;
}

export interface DeliveryLog {
  info(msg: string, fields?: Record<string, string | number | boolean | null>): void;
  warn(msg: string, fields?: Record<string, string | number | boolean | null>): void;
}

export interface DispatcherOptions {
  outbox: Outbox;
  sinks: readonly AlertSink[];
  retry: RetryPolicy;
  /** Per sink name; absent: no limit. */
  rateLimits?: ReadonlyMap<string, { intervalMs: number; burst: number }>;
  metrics?: AlertMetrics | null;
  log?: DeliveryLog | null;
  now?: Clock;
  random?: () => number;
  /** Longest sleep with nothing due, as a safety net against a missed wake-up. */
  idlePollMs?: number;
}

export class DeliveryDispatcher {
  private readonly sinks: Map<string, AlertSink>;
  private readonly buckets = new Map<string, { bucket: TokenBucket; intervalMs: number }>();
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly now: Clock;
  private readonly random: () => number;
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private kickPending = false;
  private timer: NodeJS.Timeout | null = null;
  /** Sinks whose failure was logged, so a sink that is down logs once, not at every retry. */
  private readonly failing = new Set<string>();

  constructor(private readonly options: DispatcherOptions) {
    this.sinks = new Map(options.sinks.map((s) => [s.name, s]));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    for (const [name, limit] of options.rateLimits ?? []) {
      this.buckets.set(name, { bucket: new TokenBucket(limit.intervalMs, limit.burst, this.now()), intervalMs: limit.intervalMs });
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const retired = this.options.outbox.retireSinks([...this.sinks.keys()], this.now());
    if (retired > 0) this.options.log?.warn(`${retired} pending alert deliveries belong to sinks no longer configured; they are dead letters now`);
    this.loopDone = this.loop();
  }

  /** New work (a notification was written): look now instead of at the next timer. */
  kick(): void {
    // Through setImmediate: a sink that fails without I/O (fetch refuses some ports at once)
    // would otherwise retry in a chain of microtasks and starve the event loop, capture included.
    if (this.kickPending) return;
    this.kickPending = true;
    setImmediate(() => {
      this.kickPending = false;
      this.wake?.();
    });
  }

  /** Stops taking deliveries and waits for the ones in flight (their outcome is still recorded). */
  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.loopDone;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves once nothing is pending (or `timeoutMs` passes: false). For tests and the bench. */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.options.outbox.nextAttemptTimes().size === 0 && this.inFlight.size === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async loop(): Promise<void> {
    const idlePoll = this.options.idlePollMs ?? 5000;
    while (this.running) {
      let wait = idlePoll;
      try {
        const now = this.now();
        for (const [sink, at] of this.options.outbox.nextAttemptTimes()) {
          if (this.busy.has(sink)) continue;
          if (at > now) {
            wait = Math.min(wait, at - now);
            continue;
          }
          const due = this.options.outbox.nextFor(sink, now);
          if (due) this.begin(due);
        }
      } catch (err) {
        // The store falls back to memory on storage errors; anything else is logged, not fatal.
        this.options.log?.warn(`alert delivery: ${(err as Error).message}`);
      }
      await this.sleep(Math.max(0, wait));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        this.wake = null;
        resolve();
      };
      this.wake = done;
      this.timer = setTimeout(done, ms);
      // Waiting for the next retry must not keep a process alive that has nothing else to do.
      this.timer.unref();
    });
  }

  private begin(due: DueDelivery): void {
    this.busy.add(due.sink);
    const p = this.attempt(due)
      .catch((err: Error) => this.options.log?.warn(`alert delivery to ${due.sink}: ${err.message}`))
      .finally(() => {
        this.busy.delete(due.sink);
        this.inFlight.delete(p);
        this.kick();
      });
    this.inFlight.add(p);
  }

  private async attempt(due: DueDelivery): Promise<void> {
    const { outbox, retry, metrics, log } = this.options;
    const sink = this.sinks.get(due.sink);
    if (!sink) {
      outbox.markDead(due.id, this.now(), null, `sink "${due.sink}" is no longer in alerts.sinks`, false);
      return;
    }
    const limit = this.buckets.get(due.sink);
    if (limit && !limit.bucket.take(this.now())) {
      outbox.postpone(due.id, this.now() + limit.intervalMs);
      return;
    }
    let result: DeliveryResult;
    try {
      result = await sink.deliver(due.notification, { idempotencyKey: due.idempotencyKey, attempt: due.attempts + 1, nowMs: this.now() });
    } catch (err) {
      result = { ok: false, permanent: false, status: null, error: (err as Error).message, retryAfterMs: null };
    }
    const now = this.now();
    if (result.ok) {
      outbox.markSent(due.id, now, result.status);
      metrics?.delivery(due.sink, 'sent');
      if (this.failing.delete(due.sink)) log?.info(`alert sink ${due.sink} accepts deliveries again`, { sink: due.sink });
      return;
    }
    metrics?.delivery(due.sink, 'failed');
    const attempts = due.attempts + 1;
    const deadline = due.createdAtMs + retry.giveUpMs;
    if (result.permanent || now >= deadline) {
      const why = result.permanent ? 'the sink refused the message' : `still failing after ${Math.round(retry.giveUpMs / 1000)}s`;
      outbox.markDead(due.id, now, result.status, result.error);
      metrics?.delivery(due.sink, 'dead_letter');
      log?.warn(`alert delivery to ${due.sink} given up (${why}): ${result.error}; listed by geowarden report --dead-letters`, {
        sink: due.sink,
        idempotency_key: due.idempotencyKey,
        attempts,
      });
      return;
    }
    const delay = result.retryAfterMs ?? fullJitterDelay(attempts, retry, this.random);
    outbox.markFailed(due.id, now, Math.min(now + delay, deadline), result.status, result.error);
    if (!this.failing.has(due.sink)) {
      this.failing.add(due.sink);
      log?.warn(`alert delivery to ${due.sink} failed, will retry: ${result.error}`, { sink: due.sink, attempts, retry_in_ms: Math.min(delay, deadline - now) });
    }
  }
}
