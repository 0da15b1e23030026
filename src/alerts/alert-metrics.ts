/**
 * Alerting's metrics, registered on the daemon's registry (the one GeowardenMetrics uses) so they
 * appear on the same /metrics. Outbox depth and age are read from the database at scrape time;
 * nothing is counted per packet.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { SuppressReason } from './alert-engine';
import type { OutboxDepth } from './outbox';
import type { AlertSeverity } from './types';

export type DeliveryOutcome = 'sent' | 'failed' | 'dead_letter';

/** Name, type, labels and HELP of every alerting metric, for the README table. */
export const ALERT_METRIC_DOCS = [
  { name: 'geowarden_alerts_raised_total', type: 'counter', labels: ['severity'], help: 'Alerts opened (a group reached the alert thresholds), by severity.' },
  {
    name: 'geowarden_alerts_suppressed_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Violations that raised no alert: silenced, below_threshold (the group went quiet first), too_many_groups.',
  },
  {
    name: 'geowarden_alert_deliveries_total',
    type: 'counter',
    labels: ['sink', 'result'],
    help: 'Delivery attempts by sink and result: sent, failed (will be retried) or dead_letter (given up).',
  },
  { name: 'geowarden_alert_outbox_depth', type: 'gauge', labels: ['sink'], help: 'Deliveries waiting in the outbox, by sink.' },
  {
    name: 'geowarden_alert_outbox_oldest_age_seconds',
    type: 'gauge',
    labels: ['sink'],
    help: 'Age of the oldest delivery waiting in the outbox, by sink (0 when none waits).',
  },
  { name: 'geowarden_alert_dead_letters', type: 'gauge', labels: ['sink'], help: 'Dead letters kept in the alert database, by sink (see geowarden report --dead-letters).' },
  {
    name: 'geowarden_alert_store_errors_total',
    type: 'counter',
    labels: ['operation'],
    help: 'Errors writing or reading the alert database (disk full, read-only), by operation.',
  },
  {
    name: 'geowarden_alert_store_durable',
    type: 'gauge',
    labels: [],
    help: '1 while the alert database file is in use; 0 on the in-memory fallback (alerts do not survive a restart).',
  },
] as const;

type DocName = (typeof ALERT_METRIC_DOCS)[number]['name'];

function doc(name: DocName): { name: string; help: string; labelNames: readonly string[] } {
  const d = ALERT_METRIC_DOCS.find((m) => m.name === name)!;
  return { name: d.name, help: d.help, labelNames: d.labels };
}

export interface OutboxView {
  depth(): OutboxDepth[];
  sinks: readonly string[];
  now(): number;
  durable(): boolean;
}

export class AlertMetrics {
  private readonly raisedTotal: Counter<string>;
  private readonly suppressedTotal: Counter<string>;
  private readonly deliveriesTotal: Counter<string>;
  private readonly storeErrors: Counter<string>;
  private view: OutboxView | null = null;
  private depthCache: { at: number; rows: OutboxDepth[] } | null = null;

  constructor(registry: Registry) {
    const registers = [registry];
    this.raisedTotal = new Counter({ ...doc('geowarden_alerts_raised_total'), registers });
    this.suppressedTotal = new Counter({ ...doc('geowarden_alerts_suppressed_total'), registers });
    this.deliveriesTotal = new Counter({ ...doc('geowarden_alert_deliveries_total'), registers });
    this.storeErrors = new Counter({ ...doc('geowarden_alert_store_errors_total'), registers });
    // prom-client calls collect() with the gauge as `this`; the arrow functions keep ours.
    const gauge = (name: DocName, collect: (g: Gauge<string>) => void) =>
      new Gauge({
        ...doc(name),
        registers,
        collect() {
          collect(this);
        },
      });
    gauge('geowarden_alert_outbox_depth', (g) => this.collectPerSink(g, (d) => d?.pending ?? 0));
    gauge('geowarden_alert_outbox_oldest_age_seconds', (g) =>
      this.collectPerSink(g, (d, now) => (d?.oldestCreatedAtMs != null ? Math.max(0, (now - d.oldestCreatedAtMs) / 1000) : 0)),
    );
    gauge('geowarden_alert_dead_letters', (g) => this.collectPerSink(g, (d) => d?.dead ?? 0));
    gauge('geowarden_alert_store_durable', (g) => g.set(this.view?.durable() ? 1 : 0));
  }

  bindOutbox(view: OutboxView): void {
    this.view = view;
    for (const sink of view.sinks) for (const result of ['sent', 'failed', 'dead_letter']) this.deliveriesTotal.inc({ sink, result }, 0);
  }

  raised(severity: AlertSeverity): void {
    this.raisedTotal.inc({ severity });
  }

  suppressed(reason: SuppressReason): void {
    this.suppressedTotal.inc({ reason });
  }

  delivery(sink: string, result: DeliveryOutcome): void {
    this.deliveriesTotal.inc({ sink, result });
  }

  storeError(operation: string): void {
    this.storeErrors.inc({ operation });
  }

  /** One query serves the three per-sink gauges of a scrape. */
  private collectPerSink(gauge: Gauge<string>, read: (d: OutboxDepth | undefined, now: number) => number): void {
    const view = this.view;
    if (!view) return;
    const now = view.now();
    if (!this.depthCache) {
      let rows: OutboxDepth[] = [];
      try {
        rows = view.depth();
      } catch {
        // A failing database is reported by geowarden_alert_store_*; the scrape still succeeds.
      }
      this.depthCache = { at: now, rows };
      // Kept for the rest of this scrape only (its collect() calls run without a macrotask between them).
      setImmediate(() => (this.depthCache = null));
    }
    gauge.reset();
    const bySink = new Map(this.depthCache.rows.map((d) => [d.sink, d]));
    for (const sink of new Set([...view.sinks, ...bySink.keys()])) gauge.set({ sink }, read(bySink.get(sink), now));
  }
}
