/**
 * Turns violations into alerts people can act on: one alert per group (alerts.group_by, default
 * device + country) carrying its evidence, sent once, repeated while it lasts, and closed with a
 * resolved message when the group has been quiet. The rules, in the order they apply:
 *
 *   silences         a matching silence: no alert (the violation is still in the history)
 *   thresholds       a group opens an alert once it reaches min_flows and min_bytes; a group that
 *                    goes quiet for resolve_after before that is forgotten
 *   firing           sent as soon as the thresholds are reached
 *   reminder         while firing, sent again every renotify_interval with the new totals
 *   resolved         after resolve_after without violations; an alert nobody was told about
 *                    resolves silently
 *   dedup_window     at most one message per group per window: a message due sooner waits, and a
 *                    group that resolves and fires again within it just keeps firing (flapping)
 *
 * Time comes from the injected clock only (capture time in replay, the wall clock live), so the
 * same capture always gives the same alerts. Nothing here does I/O: decided messages go to
 * `publish` with the state to persist alongside them.
 */
import { createHash } from 'node:crypto';
import type { AlertGroupField } from '../config/types';
import type { JudgedFlow } from '../policy/types';
import { groupOf, type SeverityRules } from './grouping';
import type { SilenceSet } from './silences';
import { isoTime, type AlertEvent, type AlertNotification, type AlertPayload, type AlertSeverity, type Clock, type DevicePayload } from './types';

export interface AlertEngineSettings {
  groupBy: readonly AlertGroupField[];
  minBytes: number;
  minFlows: number;
  dedupWindowS: number;
  renotifyIntervalS: number;
  resolveAfterS: number;
  dashboardUrl: string | null;
}

/** A group's state as stored in the alert database, so alerts outlive a restart. */
export interface GroupStateRecord {
  key: string;
  /** Null: the group has no alert and can be deleted from the store. */
  json: string | null;
}

export interface AlertEngineOptions {
  instance: string;
  settings: AlertEngineSettings;
  severity: SeverityRules;
  silences: SilenceSet;
  now: Clock;
  /** Called for each message decided, with the group's state after it (write both together). */
  publish: (notification: AlertNotification, state: GroupStateRecord) => void;
  /** Counts for the metrics: alerts opened and violations that raised nothing. */
  onRaised?: (severity: AlertSeverity) => void;
  onSuppressed?: (reason: SuppressReason) => void;
  /** Groups kept in memory (default 10,000); idle ones are forgotten first. */
  maxGroups?: number;
}

export type SuppressReason = 'silenced' | 'below_threshold' | 'too_many_groups';

export interface ObserveResult {
  /** The alert the violation counted towards (pending ones included), or null. */
  alertId: string | null;
  silencedBy: string | null;
}

interface EvidenceEntry {
  remoteIp: string;
  remotePort: number | null;
  proto: string;
  country: string | null;
  asn: number | null;
  asOrg: string | null;
  names: string[];
  sni: string | null;
  httpHost: string | null;
  bytesOut: number;
  bytesIn: number;
  flows: number;
  firstSeenMs: number;
  lastSeenMs: number;
  reason: string;
}

interface AlertState {
  id: string;
  groupKey: string;
  seq: number;
  status: 'pending' | 'firing' | 'resolved';
  announced: boolean;
  startedAtMs: number;
  lastViolationMs: number;
  resolvedAtMs: number | null;
  lastNotifiedMs: number | null;
  severity: AlertSeverity;
  labels: Record<string, string>;
  device: DevicePayload;
  country: string | null;
  countries: string[];
  policy: string;
  rule: string;
  flows: number;
  bytesOut: number;
  bytesIn: number;
  names: string[];
  evidence: EvidenceEntry[];
}

interface Group {
  key: string;
  fields: Record<string, string>;
  alert: AlertState | null;
  /** Last message about this group, whichever alert it was: the dedup window runs from here. */
  lastNotifiedMs: number | null;
}

const MAX_EVIDENCE = 50;
const EVIDENCE_IN_PAYLOAD = 10;
const MAX_NAMES = 20;
const MAX_NAMES_PER_REMOTE = 8;
const DEFAULT_MAX_GROUPS = 10_000;

export class AlertEngine {
  private readonly groups = new Map<string, Group>();
  private readonly dirty = new Set<string>();
  private readonly settings: AlertEngineSettings;
  private readonly dedupMs: number;
  private readonly renotifyMs: number;
  private readonly resolveMs: number;
  private readonly maxGroups: number;

  constructor(private readonly options: AlertEngineOptions) {
    this.settings = options.settings;
    this.dedupMs = options.settings.dedupWindowS * 1000;
    this.renotifyMs = options.settings.renotifyIntervalS * 1000;
    this.resolveMs = options.settings.resolveAfterS * 1000;
    this.maxGroups = options.maxGroups ?? DEFAULT_MAX_GROUPS;
  }

  /** Counts a violation; other verdicts return null. Sends what is due for its group at once. */
  observe(judged: JudgedFlow): ObserveResult | null {
    if (judged.verdict.verdict !== 'violation') return null;
    const now = this.options.now();
    const silence = this.options.silences.match(judged, now);
    if (silence) {
      this.options.onSuppressed?.('silenced');
      return { alertId: null, silencedBy: silence.id };
    }
    const identity = groupOf(this.settings.groupBy, judged);
    let group = this.groups.get(identity.key);
    if (group) {
      // Re-inserted so that Map order is least recently active first, for eviction.
      this.groups.delete(identity.key);
      this.groups.set(identity.key, group);
    } else {
      if (this.groups.size >= this.maxGroups && !this.evictIdle()) {
        this.options.onSuppressed?.('too_many_groups');
        return { alertId: null, silencedBy: null };
      }
      group = { key: identity.key, fields: identity.fields, alert: null, lastNotifiedMs: null };
      this.groups.set(identity.key, group);
    }
    const alert = (group.alert ??= this.newAlert(group, judged, now));
    // A resolve that was not sent yet (dedup window) is taken back: the alert just goes on.
    if (alert.status === 'resolved') {
      alert.status = 'firing';
      alert.resolvedAtMs = null;
    }
    addEvidence(alert, judged, now);
    if (alert.status === 'pending' && alert.flows >= this.settings.minFlows && alert.bytesOut + alert.bytesIn >= this.settings.minBytes) {
      this.open(group, alert, judged);
    }
    this.dirty.add(group.key);
    this.evaluate(group, now);
    return { alertId: alert.id, silencedBy: null };
  }

  /** Resolves, reminds and sends deferred messages as time passes; call about once a second. */
  advance(): void {
    const now = this.options.now();
    for (const group of [...this.groups.values()]) this.evaluate(group, now);
  }

  /** Firing alerts that have been announced, for sinks that want the current state again (Alertmanager). */
  firing(): AlertPayload[] {
    const out: AlertPayload[] = [];
    for (const g of this.groups.values()) {
      if (g.alert?.status === 'firing' && g.alert.announced) out.push(this.payload(g.alert));
    }
    return out;
  }

  /** Alerts in memory by status, for tests and the API. */
  stats(): { groups: number; pending: number; firing: number } {
    let pending = 0;
    let firing = 0;
    for (const g of this.groups.values()) {
      if (g.alert?.status === 'pending') pending++;
      else if (g.alert) firing++;
    }
    return { groups: this.groups.size, pending, firing };
  }

  /** Groups changed since the last call, to write to the store (null json: delete the row). */
  takeDirty(): GroupStateRecord[] {
    const out: GroupStateRecord[] = [];
    for (const key of this.dirty) out.push(this.record(key));
    this.dirty.clear();
    return out;
  }

  /** Loads groups saved by takeDirty (at startup); unreadable records are skipped. */
  restore(records: readonly GroupStateRecord[]): number {
    let restored = 0;
    for (const r of records) {
      if (r.json === null) continue;
      try {
        const group = JSON.parse(r.json) as Group;
        if (group.key !== r.key) continue;
        this.groups.set(group.key, group);
        restored++;
      } catch {
        // A record from an incompatible version: its alert is lost, not the engine.
      }
    }
    return restored;
  }

  private record(key: string): GroupStateRecord {
    const group = this.groups.get(key);
    return { key, json: group && (group.alert || group.lastNotifiedMs !== null) ? JSON.stringify(group) : null };
  }

  private newAlert(group: Group, { flow, geo, verdict }: JudgedFlow, now: number): AlertState {
    const startedAtMs = Math.floor(flow.firstSeenUs / 1000);
    const id = createHash('sha256').update(`${this.options.instance}\n${group.key}\n${startedAtMs}\n${now}`).digest('hex').slice(0, 16);
    return {
      id,
      groupKey: group.key,
      seq: 0,
      status: 'pending',
      announced: false,
      startedAtMs,
      lastViolationMs: now,
      resolvedAtMs: null,
      lastNotifiedMs: null,
      severity: 'info',
      labels: {},
      device: devicePayload(flow.device),
      country: geo.country,
      countries: [],
      policy: verdict.policy,
      rule: verdict.reason,
      flows: 0,
      bytesOut: 0,
      bytesIn: 0,
      names: [],
      evidence: [],
    };
  }

  /** Thresholds reached: the alert's severity and labels are fixed from here on. */
  private open(group: Group, alert: AlertState, { flow }: JudgedFlow): void {
    alert.status = 'firing';
    alert.severity = this.options.severity.of({
      policy: alert.policy,
      country: alert.country,
      deviceGroup: flow.device.group,
      bytes: alert.bytesOut + alert.bytesIn,
    });
    alert.labels = {
      alertname: 'GeowardenViolation',
      instance: this.options.instance,
      severity: alert.severity,
      policy: alert.policy,
      device: alert.device.name ?? alert.device.ip,
      ...(alert.country ? { country: alert.country } : {}),
      ...(flow.device.group ? { group: flow.device.group } : {}),
      ...prefixed(group.fields),
    };
    this.options.onRaised?.(alert.severity);
  }

  private evaluate(group: Group, now: number): void {
    const alert = group.alert;
    if (!alert) {
      if (group.lastNotifiedMs === null || now - group.lastNotifiedMs >= this.dedupMs) this.forget(group);
      return;
    }
    const quiet = now - alert.lastViolationMs >= this.resolveMs;
    if (alert.status === 'pending') {
      if (quiet) {
        this.options.onSuppressed?.('below_threshold');
        group.alert = null;
        this.dirty.add(group.key);
      }
      return;
    }
    if (alert.status === 'firing' && quiet) {
      if (!alert.announced) {
        // Never told anyone (waiting out a dedup window): nothing to take back.
        group.alert = null;
        this.dirty.add(group.key);
        return;
      }
      alert.status = 'resolved';
      alert.resolvedAtMs = now;
      this.dirty.add(group.key);
    }
    let event: AlertEvent | null = null;
    if (alert.status === 'resolved') event = 'resolved';
    else if (!alert.announced) event = 'firing';
    else if (alert.lastNotifiedMs !== null && now - alert.lastNotifiedMs >= this.renotifyMs) event = 'reminder';
    if (event === null) return;
    if (group.lastNotifiedMs !== null && now - group.lastNotifiedMs < this.dedupMs) return;
    this.notify(group, alert, event, now);
  }

  private notify(group: Group, alert: AlertState, event: AlertEvent, now: number): void {
    alert.seq++;
    alert.announced = true;
    alert.lastNotifiedMs = now;
    group.lastNotifiedMs = now;
    const notification: AlertNotification = {
      kind: 'alert',
      id: `${alert.id}-${alert.seq}`,
      event,
      seq: alert.seq,
      created_at: isoTime(now),
      alert: this.payload(alert),
    };
    if (event === 'resolved') group.alert = null;
    this.dirty.delete(group.key);
    this.options.publish(notification, this.record(group.key));
  }

  private payload(a: AlertState): AlertPayload {
    const evidence = [...a.evidence].sort((x, y) => y.bytesOut + y.bytesIn - (x.bytesOut + x.bytesIn)).slice(0, EVIDENCE_IN_PAYLOAD);
    return {
      id: a.id,
      group_key: a.groupKey,
      status: a.status === 'resolved' ? 'resolved' : 'firing',
      severity: a.severity,
      instance: this.options.instance,
      device: { ...a.device },
      country: a.country,
      countries: [...a.countries],
      policy: a.policy,
      rule: a.rule,
      started_at: isoTime(a.startedAtMs),
      last_seen_at: isoTime(Math.max(...a.evidence.map((e) => e.lastSeenMs), a.startedAtMs)),
      resolved_at: a.resolvedAtMs === null ? null : isoTime(a.resolvedAtMs),
      totals: { flows: a.flows, bytes_out: a.bytesOut, bytes_in: a.bytesIn, remotes: a.evidence.length },
      names: [...a.names],
      evidence: evidence.map((e) => ({
        remote_ip: e.remoteIp,
        remote_port: e.remotePort,
        proto: e.proto,
        country: e.country,
        asn: e.asn,
        as_org: e.asOrg,
        names: [...e.names],
        sni: e.sni,
        http_host: e.httpHost,
        bytes_out: e.bytesOut,
        bytes_in: e.bytesIn,
        flows: e.flows,
        first_seen: isoTime(e.firstSeenMs),
        last_seen: isoTime(e.lastSeenMs),
        reason: e.reason,
      })),
      labels: { ...a.labels },
      dashboard_url: this.settings.dashboardUrl,
    };
  }

  private forget(group: Group): void {
    this.groups.delete(group.key);
    this.dirty.add(group.key);
  }

  /** Frees one slot by forgetting the least recently active group without an alert. */
  private evictIdle(): boolean {
    for (const g of this.groups.values()) {
      if (g.alert === null) {
        this.forget(g);
        return true;
      }
    }
    return false;
  }
}

/** Group fields as labels: `group_device`, `group_country`, so they cannot clash with the fixed ones. */
function prefixed(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) out[`group_${k}`] = v;
  return out;
}

function devicePayload(d: { ip: string; mac: string | null; hostname: string | null; group: string | null }): DevicePayload {
  return { name: d.hostname, mac: d.mac, ip: d.ip, group: d.group };
}

function addEvidence(alert: AlertState, { flow, geo, verdict }: JudgedFlow, now: number): void {
  alert.lastViolationMs = now;
  alert.flows++;
  alert.bytesOut += flow.bytesOut;
  alert.bytesIn += flow.bytesIn;
  // A DHCP name learned after the first flow is worth showing.
  if (alert.device.name === null && flow.device.hostname !== null) alert.device.name = flow.device.hostname;
  if (geo.country !== null && !alert.countries.includes(geo.country)) alert.countries.push(geo.country);
  if (alert.names.length < MAX_NAMES) {
    for (const name of flow.names) addName(alert.names, name);
    if (flow.sni !== null) addName(alert.names, flow.sni);
    if (flow.httpHost !== null) addName(alert.names, flow.httpHost);
  }
  const firstSeenMs = Math.floor(flow.firstSeenUs / 1000);
  const lastSeenMs = Math.floor(flow.lastSeenUs / 1000);
  let e = alert.evidence.find((x) => x.remoteIp === flow.remoteIp && x.remotePort === flow.remotePort && x.proto === flow.proto);
  if (!e) {
    // Past the cap the totals still count every flow; only the per-remote detail stops growing.
    if (alert.evidence.length >= MAX_EVIDENCE) return;
    e = {
      remoteIp: flow.remoteIp,
      remotePort: flow.remotePort,
      proto: flow.proto,
      country: geo.country,
      asn: geo.asn,
      asOrg: geo.asOrg,
      names: [],
      sni: flow.sni,
      httpHost: flow.httpHost,
      bytesOut: 0,
      bytesIn: 0,
      flows: 0,
      firstSeenMs,
      lastSeenMs,
      reason: verdict.reason,
    };
    alert.evidence.push(e);
  }
  e.flows++;
  e.bytesOut += flow.bytesOut;
  e.bytesIn += flow.bytesIn;
  e.firstSeenMs = Math.min(e.firstSeenMs, firstSeenMs);
  e.lastSeenMs = Math.max(e.lastSeenMs, lastSeenMs);
  e.sni ??= flow.sni;
  e.httpHost ??= flow.httpHost;
  for (const n of flow.names) if (e.names.length < MAX_NAMES_PER_REMOTE && !e.names.includes(n)) e.names.push(n);
}

function addName(names: string[], name: string): void {
  if (names.length < MAX_NAMES && !names.includes(name)) names.push(name);
}
