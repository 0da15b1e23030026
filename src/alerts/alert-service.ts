/**
 * Alerting as the daemon runs it: the engine fed by the pipeline, the outbox and history in the
 * alert database, the delivery loop, Alertmanager re-sends, the digest and the history pruning
 * on their cron schedules, the HTTP routes, and the metrics. `AlertService.create` builds it all
 * (failing only for a sink that cannot be built, such as a missing secret); `start` sets it
 * running; `stop` flushes and stops.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createTask, type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import type { Registry } from 'prom-client';
import type { Config, AlertsConfig, HistoryConfig } from '../config/types';
import { loadJurisdictions } from '../policy/jurisdictions';
import type { HttpRoute } from '../server/http-server';
import type { PipelineSink } from '../sinks/types';
import { parseSince, ViolationHistory } from '../history/violation-history';
import { AlertDatabase } from './alert-database';
import { AlertEngine } from './alert-engine';
import { AlertMetrics } from './alert-metrics';
import { buildDigest, TrafficSummary } from './digest';
import { DeliveryDispatcher, type DeliveryLog } from './delivery';
import { SeverityRules } from './grouping';
import type { GroupStateRecord } from './alert-engine';
import { Outbox } from './outbox';
import { parseSilenceRequest, silenceFromConfig, silenceJson, SilenceSet } from './silences';
import { AlertmanagerSink, buildAlertSinks } from './sinks/alert-sinks';
import { sinkWants, type AlertSink, type Clock, type Notification } from './types';

export interface AlertServiceLog extends DeliveryLog {
  error(msg: string, fields?: Record<string, string | number | boolean | null>): void;
}

export interface AlertServiceOptions {
  instance: string;
  alerts: AlertsConfig;
  history: HistoryConfig;
  /** For jurisdiction group names in severity rules. */
  jurisdictionsFile: string | null;
  log: AlertServiceLog;
  /** The daemon's registry (the one /metrics serves); null: no metrics. */
  registry: Registry | null;
  /**
   * The engine's clock (alert times, silences, retention). Default: the wall clock; replay passes
   * capture time. Delivery (retries, timeouts, rate limits, the outbox's own times) always runs
   * on the wall clock: a sink's Retry-After means real seconds whatever the capture says.
   */
  now?: Clock;
  random?: () => number;
  /** Instead of the configured ones (tests). */
  sinks?: AlertSink[];
  env?: NodeJS.ProcessEnv;
  /** Console sink output. */
  write?: (line: string) => void;
  /** Housekeeping tick (engine timers, state and history flush); default 1 s. */
  tickMs?: number;
}

const DEFAULT_TICK_MS = 1000;
/** Violations or messages waiting before they are written without waiting for the event loop. */
const FLUSH_ROWS = 5000;
const FLUSH_MESSAGES = 1000;
const MAX_API_ROWS = 10_000;

export class AlertService {
  readonly sink: PipelineSink;
  readonly engine: AlertEngine;
  readonly outbox: Outbox;
  readonly history: ViolationHistory;
  readonly dispatcher: DeliveryDispatcher;
  readonly database: AlertDatabase;
  readonly metrics: AlertMetrics | null;
  /** Per-device foreign traffic since the last digest, for the digest. */
  readonly traffic: TrafficSummary;
  private readonly silences: SilenceSet;
  private readonly sinks: AlertSink[];
  private readonly now: Clock;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly tasks: ScheduledTask[] = [];
  private stopping: Promise<void> | null = null;
  /** Messages decided but not written yet: written (then sent) at the next flush. */
  private readonly queued: Array<{ notification: Notification; sinks: string[] }> = [];
  private readonly queuedStates = new Map<string, GroupStateRecord>();
  private flushScheduled = false;

  static create(options: AlertServiceOptions): AlertService {
    const sinks =
      options.sinks ??
      buildAlertSinks(options.alerts.sinks, { timeoutMs: options.alerts.delivery.timeoutS * 1000, env: options.env, write: options.write });
    return new AlertService(options, sinks);
  }

  /** Options from the daemon's effective config. */
  static optionsFrom(config: Config & { alerts: AlertsConfig }): Pick<AlertServiceOptions, 'instance' | 'alerts' | 'history' | 'jurisdictionsFile'> {
    return { instance: config.instance, alerts: config.alerts, history: config.history, jurisdictionsFile: config.policy.jurisdictionsFile };
  }

  private constructor(
    private readonly options: AlertServiceOptions,
    sinks: AlertSink[],
  ) {
    const { alerts, log } = options;
    this.now = options.now ?? Date.now;
    this.sinks = sinks;
    this.metrics = options.registry ? new AlertMetrics(options.registry) : null;
    const metrics = this.metrics;
    this.database = AlertDatabase.open(alerts.database, {
      onError: (operation) => metrics?.storeError(operation),
      onDegraded: (message) => log.error(message, { event: 'alert-store-degraded', database: alerts.database }),
    });
    this.outbox = new Outbox(this.database);
    this.history = new ViolationHistory(this.database);
    const nowMs = this.now();
    this.silences = new SilenceSet([...alerts.silences.map(silenceFromConfig), ...this.outbox.loadSilences(nowMs)]);
    const jurisdictions = alerts.severityRules.some((r) => r.countries.length > 0) ? loadJurisdictions(options.jurisdictionsFile) : null;
    this.engine = new AlertEngine({
      instance: options.instance,
      settings: alerts,
      severity: new SeverityRules(alerts.severity, alerts.severityRules, jurisdictions),
      silences: this.silences,
      now: this.now,
      publish: (n, state) => this.publish(n, state),
      onRaised: (severity) => metrics?.raised(severity),
      onSuppressed: (reason) => metrics?.suppressed(reason),
    });
    const restored = this.engine.restore(this.outbox.loadGroups());
    if (restored > 0) log.info(`alerts: ${restored} alert groups restored from ${alerts.database}`, { event: 'alerts-restored' });
    this.dispatcher = new DeliveryDispatcher({
      outbox: this.outbox,
      sinks,
      retry: { initialMs: alerts.delivery.retryInitialS * 1000, maxMs: alerts.delivery.retryMaxS * 1000, giveUpMs: alerts.delivery.giveUpAfterS * 1000 },
      rateLimits: new Map(
        alerts.sinks.filter((s) => s.rateLimit !== null).map((s) => [s.name, { intervalMs: s.rateLimit!.intervalS * 1000, burst: s.rateLimit!.burst }]),
      ),
      metrics,
      log,
      random: options.random,
    });
    metrics?.bindOutbox({ depth: () => this.outbox.depth(), sinks: sinks.map((s) => s.name), now: Date.now, durable: () => this.database.durable });
    const history = this.history;
    const engine = this.engine;
    const traffic = (this.traffic = new TrafficSummary(nowMs));

    this.sink = {
      onFlow: (judged) => {
        traffic.add(judged);
        const result = engine.observe(judged);
        if (!result) return;
        history.record(judged, result.alertId, result.silencedBy);
        // Rows are written with the next message, by the housekeeping tick, or here once they
        // pile up (a replay never yields to the event loop).
        if (history.pendingRows >= FLUSH_ROWS) this.flush(false);
      },
      onEnd: () => this.housekeeping(),
    };
  }

  get durable(): boolean {
    return this.database.durable;
  }

  start(): void {
    const { alerts, history, log } = this.options;
    this.prune();
    this.dispatcher.start();
    this.every(this.options.tickMs ?? DEFAULT_TICK_MS, () => this.housekeeping());
    for (const sink of this.sinks) {
      if (sink instanceof AlertmanagerSink) this.every(sink.resendIntervalS * 1000, () => void this.resendFiring(sink));
    }
    const logger: CronLogger = {
      info: () => undefined,
      debug: () => undefined,
      warn: (msg: unknown) => log.warn(`alert scheduler: ${String(msg)}`),
      error: (msg: unknown) => log.warn(`alert scheduler: ${msg instanceof Error ? msg.message : String(msg)}`),
    };
    this.schedule(history.pruneSchedule, 'history-prune', () => this.prune(), logger);
    const digest = alerts.digest ? this.schedule(alerts.digest.schedule, 'alert-digest', () => this.sendDigest(), logger) : null;
    log.info('alerting started', {
      event: 'alerts-started',
      database: alerts.database,
      durable: this.database.durable,
      sinks: this.sinks.map((s) => `${s.name}:${s.type}`).join(' '),
      group_by: alerts.groupBy.join(','),
      digest_next_run: digest?.getNextRun()?.toISOString() ?? null,
    });
  }

  /** Flushes state and history, stops timers, schedules and the delivery loop, closes the database. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      for (const task of this.tasks) await task.destroy();
      this.housekeeping();
      await this.dispatcher.stop();
      this.database.close();
    })();
    return this.stopping;
  }

  /** Writes what is queued, then resolves once every delivery is done (false after `timeoutMs`). For tests and benchmarks. */
  drained(timeoutMs: number): Promise<boolean> {
    this.flush();
    return this.dispatcher.drained(timeoutMs);
  }

  /** Enqueues the digest (violations of the last 24 hours, foreign traffic since the last digest) to the digest sinks; returns it. */
  sendDigest(nowMs = this.now()): Notification | null {
    const digest = this.options.alerts.digest;
    if (!digest) return null;
    // The traffic counters start over with each digest.
    const n = buildDigest(this.history, this.options.instance, this.options.alerts.dashboardUrl, nowMs, undefined, this.traffic.take(nowMs));
    const sinks = this.sinks.filter((s) => digest.sinks.includes(s.name) && sinkWants(s, n)).map((s) => s.name);
    this.outbox.enqueue(n, sinks, Date.now());
    this.dispatcher.kick();
    this.options.log.info('digest queued', { event: 'digest', devices: n.digest.totals.devices, sinks: sinks.join(' ') });
    return n;
  }

  /** Deletes violations and finished deliveries older than history.retention. */
  prune(nowMs = this.now()): void {
    try {
      const retentionMs = this.options.history.retentionS * 1000;
      const violations = this.history.prune(nowMs - retentionMs);
      // Deliveries carry wall-clock times (see `now`).
      const deliveries = this.outbox.prune(Date.now() - retentionMs);
      if (violations + deliveries > 0) this.options.log.info('history pruned', { event: 'history-prune', violations, deliveries });
    } catch (err) {
      this.options.log.warn(`history pruning failed: ${(err as Error).message}`);
    }
  }

  /** GET/POST routes for the daemon's HTTP server. */
  routes(): HttpRoute[] {
    return [
      { method: 'GET', path: '/api/v1/violations', handler: async (req) => this.violationsRoute(req) },
      { method: 'POST', path: '/api/v1/silences', handler: async (_req, body) => this.createSilence(body) },
      { method: 'GET', path: '/api/v1/silences', handler: async () => ({ status: 200, json: { silences: this.silences.active(this.now()).map(silenceJson) } }) },
      { method: 'GET', path: '/api/v1/alerts', handler: async () => ({ status: 200, json: { alerts: this.engine.firing(), ...this.engine.stats() } }) },
      {
        method: 'GET',
        path: '/api/v1/dead-letters',
        handler: async () => ({ status: 200, json: { dead_letters: this.outbox.list({ state: 'dead', limit: 1000 }) } }),
      },
    ];
  }

  /**
   * A message decided by the engine. It is queued and written with everything else of this
   * event-loop turn (history rows, alert state) in one transaction, so a storm costs one fsync
   * per batch rather than one per message; it is sent only once written. What a SIGKILL loses
   * is what was never written, hence never sent: the in-memory turn, like the open flows.
   */
  private publish(n: Notification, state: GroupStateRecord): void {
    const sinks = this.sinks.filter((s) => sinkWants(s, n)).map((s) => s.name);
    this.queued.push({ notification: n, sinks });
    this.queuedStates.set(state.key, state);
    if (this.queued.length >= FLUSH_MESSAGES) this.flush(false);
    else this.flushSoon();
    if (n.kind === 'alert') {
      const a = n.alert;
      this.options.log.info(`alert ${n.event}: ${a.device.name ?? a.device.ip} → ${a.country ?? 'unknown'}`, {
        event: `alert-${n.event}`,
        alert_id: a.id,
        severity: a.severity,
        group: a.group_key,
        sinks: sinks.join(' '),
      });
    }
  }

  private flushSoon(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush(false);
    });
  }

  /**
   * Writes queued messages, their alert state and history rows in one transaction, then wakes
   * the delivery loop. `withCounters`: also the state of groups that changed without a message
   * (counters, evidence), which the housekeeping tick saves once a second rather than per write.
   */
  flush(withCounters = true): void {
    const items = this.queued.splice(0);
    // Groups changed since their last message carry newer state than the queued records.
    if (withCounters) for (const s of this.engine.takeDirty()) this.queuedStates.set(s.key, s);
    const states = [...this.queuedStates.values()];
    this.queuedStates.clear();
    const rows = this.history.takeRows();
    if (items.length === 0 && states.length === 0 && rows.length === 0) return;
    const now = Date.now();
    try {
      this.database.run('write', (db) =>
        db.transaction(
          () => {
            this.history.writeRows(rows);
            for (const { notification, sinks } of items) this.outbox.writeNotification(notification, sinks, now);
            for (const s of states) this.outbox.writeGroup(s, now);
          },
          // New messages must survive a power cut; rows and counters alone need not (see AlertDatabase).
          { durable: items.length > 0 },
        ),
      );
    } catch (err) {
      // Even the in-memory fallback failed: nothing left to write to. Say what is lost.
      this.options.log.error(`alerts: ${items.length} messages and ${rows.length} history rows could not be written: ${(err as Error).message}`, { event: 'alert-lost' });
      return;
    }
    if (items.length > 0) this.dispatcher.kick();
  }

  private housekeeping(): void {
    try {
      this.engine.advance();
      this.flush();
    } catch (err) {
      this.options.log.warn(`alert housekeeping: ${(err as Error).message}`);
    }
  }

  private async resendFiring(sink: AlertmanagerSink): Promise<void> {
    const alerts = this.engine.firing().filter((a) => sinkWants(sink, { kind: 'alert', id: a.id, event: 'firing', seq: 0, created_at: a.started_at, alert: a }));
    if (alerts.length === 0) return;
    const result = await sink.resend(alerts, Date.now());
    this.metrics?.delivery(sink.name, result.ok ? 'sent' : 'failed');
    if (!result.ok) this.options.log.warn(`alertmanager re-send to ${sink.name} failed: ${result.error}`, { sink: sink.name });
  }

  private createSilence(body: string): { status: number; json: unknown } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { status: 400, json: { error: 'the body is not JSON', problems: ['the body must be a JSON object'] } };
    }
    const now = this.now();
    const request = parseSilenceRequest(parsed, now);
    if (!request.ok) return { status: 400, json: { error: request.problems.join('; '), problems: request.problems } };
    const silence = { ...request.silence, id: randomUUID(), source: 'api' as const, createdAtMs: now };
    this.outbox.saveSilence(silence);
    this.silences.add(silence);
    this.options.log.info('silence added', { event: 'silence', id: silence.id, device: silence.device, country: silence.country, domain: silence.domain });
    return { status: 201, json: { silence: silenceJson(silence), durable: this.database.durable } };
  }

  private violationsRoute(req: IncomingMessage): { status: number; json: unknown } {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const now = this.now();
    const sinceText = url.searchParams.get('since') ?? '24h';
    const since = parseSince(sinceText, now);
    if (since === null) return { status: 400, json: { error: `since: ${JSON.stringify(sinceText)} is not a duration (24h, 90m, 7d) or a time (2030-01-31T18:00:00Z)` } };
    const limitText = url.searchParams.get('limit');
    const limit = limitText === null ? 1000 : Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_API_ROWS) return { status: 400, json: { error: `limit: must be an integer from 1 to ${MAX_API_ROWS}` } };
    const device = url.searchParams.get('device');
    const { violations, truncated } = this.history.query({ sinceMs: since, device, limit });
    return { status: 200, json: { since: new Date(since).toISOString(), until: new Date(now).toISOString(), device, truncated, violations } };
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    // Timers must not keep a stopping daemon alive; the daemon's own lifecycle decides.
    t.unref();
    this.timers.push(t);
  }

  private schedule(expression: string, name: string, fn: () => void, logger: CronLogger): ScheduledTask {
    const task = createTask(expression, () => fn(), { name, noOverlap: true, logger });
    void task.start();
    this.tasks.push(task);
    return task;
  }
}
