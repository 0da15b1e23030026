/**
 * The durable outbox (the transactional-outbox pattern): a notification and one delivery row per
 * sink are committed together before anything is sent, and a delivery row changes state only
 * after its attempt finished. A crash between the two leaves the row pending, so it is sent
 * again after the restart with the same idempotency key: at-least-once per sink, and a receiver
 * that remembers keys can drop the duplicate.
 *
 *   pending ──attempt ok──────────────► sent
 *      │ ▲
 *      │ └─failed: next_attempt_at = backoff or Retry-After
 *      └───give_up_after passed, or the sink refused the payload ──► dead (a dead letter)
 */
import type { AlertDatabase } from './alert-database';
import type { GroupStateRecord } from './alert-engine';
import type { Silence } from './silences';
import type { Notification } from './types';

export interface DueDelivery {
  id: number;
  sink: string;
  idempotencyKey: string;
  /** Attempts made so far. */
  attempts: number;
  createdAtMs: number;
  notification: Notification;
}

export interface DeliveryRow {
  sink: string;
  idempotencyKey: string;
  notificationId: string;
  kind: string;
  event: string | null;
  alertId: string | null;
  state: 'pending' | 'sent' | 'dead';
  attempts: number;
  createdAt: string;
  nextAttemptAt: string | null;
  doneAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
}

export interface OutboxDepth {
  sink: string;
  pending: number;
  oldestCreatedAtMs: number | null;
  dead: number;
}

interface RawDelivery {
  id: number;
  sink: string;
  idempotency_key: string;
  attempts: number;
  created_at: number;
  payload: string;
}

interface RawRow {
  sink: string;
  idempotency_key: string;
  notification_id: string;
  kind: string;
  event: string | null;
  alert_id: string | null;
  state: 'pending' | 'sent' | 'dead';
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  done_at: number | null;
  last_status: number | null;
  last_error: string | null;
}

/** `<notification id>.<sink>`: stable across retries and restarts, unique per message and sink. */
export function idempotencyKey(notificationId: string, sink: string): string {
  return `${notificationId}.${sink}`;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export class Outbox {
  constructor(private readonly db: AlertDatabase) {}

  /**
   * Writes a notification with a pending delivery per sink, and the engine state that goes
   * with it, in one transaction. A notification already written (same id) is left alone.
   */
  enqueue(notification: Notification, sinks: readonly string[], nowMs: number, state: GroupStateRecord | null = null): void {
    this.db.run('enqueue', (db) =>
      db.transaction(
        () => {
          this.writeNotification(notification, sinks, nowMs);
          if (state) this.writeGroup(state, nowMs);
        },
        { durable: true },
      ),
    );
  }

  /** The insert of enqueue, for callers that batch several writes in their own transaction. */
  writeNotification(notification: Notification, sinks: readonly string[], nowMs: number): void {
    if (sinks.length === 0) return;
    const alertId = notification.kind === 'alert' ? notification.alert.id : null;
    const event = notification.kind === 'alert' ? notification.event : null;
    const inserted = this.db
      .stmt('INSERT OR IGNORE INTO notifications (id, kind, alert_id, event, created_at, payload) VALUES (?, ?, ?, ?, ?, ?)')
      .run(notification.id, notification.kind, alertId, event, nowMs, JSON.stringify(notification));
    if (inserted.changes === 0) return;
    const add = this.db.stmt(
      `INSERT OR IGNORE INTO deliveries (notification_id, sink, idempotency_key, state, created_at, next_attempt_at)
       VALUES (?, ?, ?, 'pending', ?, ?)`,
    );
    for (const sink of sinks) add.run(notification.id, sink, idempotencyKey(notification.id, sink), nowMs, nowMs);
  }

  /** Engine state of groups that changed without a message (counters, resolves in waiting). */
  saveGroups(records: readonly GroupStateRecord[], nowMs: number): void {
    if (records.length === 0) return;
    this.db.run('save-alerts', (db) => db.transaction(() => records.forEach((r) => this.writeGroup(r, nowMs))));
  }

  loadGroups(): GroupStateRecord[] {
    return this.db.run('load-alerts', (db) =>
      (db.stmt('SELECT key, state FROM alert_groups').all() as Array<{ key: string; state: string }>).map((r) => ({ key: r.key, json: r.state })),
    );
  }

  /** The oldest due delivery of `sink`, or null. */
  nextFor(sink: string, nowMs: number): DueDelivery | null {
    const row = this.db.run('due', (db) =>
      db
        .stmt(
          `SELECT d.id, d.sink, d.idempotency_key, d.attempts, d.created_at, n.payload
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id
            WHERE d.sink = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
            ORDER BY d.next_attempt_at, d.id LIMIT 1`,
        )
        .get(sink, nowMs),
    ) as RawDelivery | undefined;
    if (!row) return null;
    return {
      id: row.id,
      sink: row.sink,
      idempotencyKey: row.idempotency_key,
      attempts: row.attempts,
      createdAtMs: row.created_at,
      notification: JSON.parse(row.payload) as Notification,
    };
  }

  /** Earliest next_attempt_at of pending deliveries, per sink. */
  nextAttemptTimes(): Map<string, number> {
    const rows = this.db.run('due', (db) =>
      db.stmt(`SELECT sink, MIN(next_attempt_at) AS at FROM deliveries WHERE state = 'pending' GROUP BY sink`).all(),
    ) as Array<{ sink: string; at: number }>;
    return new Map(rows.map((r) => [r.sink, r.at]));
  }

  markSent(id: number, nowMs: number, status: number | null): void {
    this.db.run('mark', (db) =>
      db
        .stmt(`UPDATE deliveries SET state = 'sent', attempts = attempts + 1, last_attempt_at = ?, done_at = ?, last_status = ?, last_error = NULL WHERE id = ?`)
        .run(nowMs, nowMs, status, id),
    );
  }

  markFailed(id: number, nowMs: number, nextAttemptAtMs: number, status: number | null, error: string): void {
    this.db.run('mark', (db) =>
      db
        .stmt(`UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = ?, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?`)
        .run(nowMs, nextAttemptAtMs, status, error, id),
    );
  }

  markDead(id: number, nowMs: number, status: number | null, error: string, attempted = true): void {
    this.db.run('mark', (db) =>
      db
        .stmt(
          `UPDATE deliveries SET state = 'dead', attempts = attempts + ?, last_attempt_at = CASE WHEN ? THEN ? ELSE last_attempt_at END,
             done_at = ?, last_status = COALESCE(?, last_status), last_error = ? WHERE id = ?`,
        )
        .run(attempted ? 1 : 0, attempted ? 1 : 0, nowMs, nowMs, status, error, id),
    );
  }

  /** Moves a delivery later without counting an attempt (the sink's rate limit). */
  postpone(id: number, nextAttemptAtMs: number): void {
    this.db.run('mark', (db) => db.stmt('UPDATE deliveries SET next_attempt_at = ? WHERE id = ?').run(nextAttemptAtMs, id));
  }

  /** Pending deliveries of sinks that are no longer configured become dead letters. */
  retireSinks(configured: readonly string[], nowMs: number): number {
    const rows = this.db.run('retire', (db) => db.stmt(`SELECT DISTINCT sink FROM deliveries WHERE state = 'pending'`).all()) as Array<{ sink: string }>;
    let retired = 0;
    for (const { sink } of rows) {
      if (configured.includes(sink)) continue;
      const r = this.db.run('retire', (db) =>
        db
          .stmt(`UPDATE deliveries SET state = 'dead', done_at = ?, last_error = ? WHERE sink = ? AND state = 'pending'`)
          .run(nowMs, `sink "${sink}" is no longer in alerts.sinks`, sink),
      );
      retired += r.changes;
    }
    return retired;
  }

  depth(): OutboxDepth[] {
    const rows = this.db.run('depth', (db) =>
      db
        .stmt(
          `SELECT sink, SUM(state = 'pending') AS pending, MIN(CASE WHEN state = 'pending' THEN created_at END) AS oldest,
                  SUM(state = 'dead') AS dead
             FROM deliveries WHERE state != 'sent' GROUP BY sink`,
        )
        .all(),
    ) as Array<{ sink: string; pending: number; oldest: number | null; dead: number }>;
    return rows.map((r) => ({ sink: r.sink, pending: r.pending, oldestCreatedAtMs: r.oldest, dead: r.dead }));
  }

  /** Deliveries, newest first; `state` filters (e.g. 'dead' for the dead letters). */
  list(options: { state?: 'pending' | 'sent' | 'dead'; limit?: number } = {}): DeliveryRow[] {
    const where = options.state ? 'WHERE d.state = ?' : '';
    const args: Array<string | number> = options.state ? [options.state] : [];
    const rows = this.db.run('list', (db) =>
      db
        .stmt(
          `SELECT d.sink, d.idempotency_key, d.notification_id, n.kind, n.event, n.alert_id, d.state, d.attempts, d.created_at,
                  d.next_attempt_at, d.done_at, d.last_status, d.last_error
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id ${where}
            ORDER BY d.created_at DESC, d.id DESC LIMIT ?`,
        )
        .all(...args, options.limit ?? 1000),
    ) as RawRow[];
    return rows.map((r) => ({
      sink: r.sink,
      idempotencyKey: r.idempotency_key,
      notificationId: r.notification_id,
      kind: r.kind,
      event: r.event,
      alertId: r.alert_id,
      state: r.state,
      attempts: r.attempts,
      createdAt: iso(r.created_at)!,
      nextAttemptAt: r.state === 'pending' ? iso(r.next_attempt_at) : null,
      doneAt: iso(r.done_at),
      lastStatus: r.last_status,
      lastError: r.last_error,
    }));
  }

  /** Deletes finished deliveries (and their notifications) older than `cutoffMs`; returns how many. */
  prune(cutoffMs: number): number {
    return this.db.run('prune', (db) =>
      db.transaction(() => {
        const gone = db.stmt(`DELETE FROM deliveries WHERE state IN ('sent', 'dead') AND done_at < ?`).run(cutoffMs).changes;
        db.stmt(`DELETE FROM notifications WHERE created_at < ? AND id NOT IN (SELECT notification_id FROM deliveries)`).run(cutoffMs);
        return gone;
      }),
    );
  }

  saveSilence(s: Silence): void {
    this.db.run('silence', (db) =>
      db
        .stmt('INSERT OR REPLACE INTO silences (id, device, country, domain, until, comment, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(s.id, s.device, s.country, s.domain, s.untilMs, s.comment, s.createdAtMs),
    );
  }

  /** Silences set through the API that have not ended; ended ones are deleted. */
  loadSilences(nowMs: number): Silence[] {
    return this.db.run('silence', (db) => {
      db.stmt('DELETE FROM silences WHERE until <= ?').run(nowMs);
      const rows = db.stmt('SELECT id, device, country, domain, until, comment, created_at FROM silences ORDER BY created_at').all() as Array<{
        id: string;
        device: string | null;
        country: string | null;
        domain: string | null;
        until: number;
        comment: string;
        created_at: number;
      }>;
      return rows.map((r) => ({
        id: r.id,
        device: r.device,
        country: r.country,
        domain: r.domain,
        untilMs: r.until,
        comment: r.comment,
        source: 'api' as const,
        createdAtMs: r.created_at,
      }));
    });
  }

  /** Saves (or deletes) one group's engine state; call inside a transaction. */
  writeGroup(r: GroupStateRecord, nowMs: number): void {
    if (r.json === null) this.db.stmt('DELETE FROM alert_groups WHERE key = ?').run(r.key);
    else this.db.stmt('INSERT OR REPLACE INTO alert_groups (key, state, updated_at) VALUES (?, ?, ?)').run(r.key, r.json, nowMs);
  }
}
