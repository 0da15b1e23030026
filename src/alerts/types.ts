/**
 * What the alert engine produces and the sinks consume. The `*Payload` types are the wire format
 * of the generic webhook (README "Webhook JSON schema"): snake_case, times as ISO 8601 UTC
 * strings, unknown values null. Every other sink formats from the same objects.
 */
import type { AlertSeverity } from '../config/types';

export type { AlertSeverity } from '../config/types';

/** Milliseconds since the epoch: capture time in replay and tests, the wall clock live. */
export type Clock = () => number;

/** One remote endpoint of an alert, with the flows to it added up. */
export interface EvidenceFlow {
  remote_ip: string;
  remote_port: number | null;
  proto: string;
  country: string | null;
  asn: number | null;
  as_org: string | null;
  /** DNS query name and CNAME chain that led to remote_ip, query first. */
  names: string[];
  sni: string | null;
  http_host: string | null;
  bytes_out: number;
  bytes_in: number;
  flows: number;
  first_seen: string;
  last_seen: string;
  /** The rule that decided, e.g. `deny_countries: CN (policy "default")`. */
  reason: string;
}

export interface DevicePayload {
  /** Inventory or DHCP name; null when only the address is known. */
  name: string | null;
  mac: string | null;
  ip: string;
  group: string | null;
}

export interface AlertPayload {
  /** Stable for the alert's life: 16 hex digits. */
  id: string;
  /** The alert's group, e.g. `device=64:cc:2e:7b:40:05|country=CN`. */
  group_key: string;
  status: 'firing' | 'resolved';
  severity: AlertSeverity;
  /** The gateway's name (config `instance`). */
  instance: string;
  device: DevicePayload;
  /** Country of the group (or of the first violation when the group is not by country). */
  country: string | null;
  /** Every country reached in this alert. */
  countries: string[];
  policy: string;
  /** Reason of the first violation. */
  rule: string;
  started_at: string;
  last_seen_at: string;
  resolved_at: string | null;
  totals: { flows: number; bytes_out: number; bytes_in: number; remotes: number };
  /** Names seen (DNS, SNI, Host), at most 20. */
  names: string[];
  /** The remotes with the most bytes, at most 10. */
  evidence: EvidenceFlow[];
  /**
   * Fixed when the alert opens, so that Alertmanager (which identifies alerts by their labels)
   * sees one alert for its whole life: alertname, instance, severity, policy, the group fields.
   */
  labels: Record<string, string>;
  dashboard_url: string | null;
}

export type AlertEvent = 'firing' | 'reminder' | 'resolved';

export interface AlertNotification {
  kind: 'alert';
  /** `<alert id>-<seq>`; with the sink name it makes the idempotency key. */
  id: string;
  event: AlertEvent;
  /** 1 for the first message of an alert, counting up. */
  seq: number;
  created_at: string;
  alert: AlertPayload;
}

export interface DigestDevice {
  device: DevicePayload;
  flows: number;
  bytes_out: number;
  bytes_in: number;
  countries: Array<{ country: string | null; flows: number; bytes: number }>;
  /** The names with most violating flows, at most 5. */
  names: string[];
}

/** One remote country of a device's foreign traffic in the digest period. */
export interface DigestTrafficCountry {
  /** Null: no database placed the remote; `other` folds countries past the per-device bound. */
  country: string | null;
  flows: number;
  bytes_out: number;
  bytes_in: number;
  /** Of those flows, how many were violations (silenced ones included). */
  violations: number;
}

/** A device's foreign (non-local) traffic over the period, from every flow the daemon judged. */
export interface DigestTrafficDevice {
  device: DevicePayload;
  flows: number;
  bytes_out: number;
  bytes_in: number;
  violations: number;
  /** Most bytes first; at most the per-device bound, the rest folded into `other`. */
  countries: DigestTrafficCountry[];
}

export interface DigestTraffic {
  totals: { devices: number; flows: number; bytes_out: number; bytes_in: number; violations: number };
  /** Most bytes first; devices past the bound are folded into one entry with device.name `other devices`. */
  devices: DigestTrafficDevice[];
  /** Devices and countries folded because of the bounds (0 when nothing was). */
  folded: { devices: number; countries: number };
  /** Since when the in-memory counters run (the last digest or the daemon's start). */
  since: string;
}

export interface DigestPayload {
  instance: string;
  period_start: string;
  period_end: string;
  totals: { devices: number; flows: number; bytes_out: number; bytes_in: number };
  /** Devices with the most bytes first, at most 50. */
  devices: DigestDevice[];
  dashboard_url: string | null;
  /** Per-device foreign traffic since the last digest (all non-local flows, not only violations). */
  traffic?: DigestTraffic;
}

export interface DigestNotification {
  kind: 'digest';
  /** `digest-<period end, ms>`. */
  id: string;
  created_at: string;
  digest: DigestPayload;
}

export type Notification = AlertNotification | DigestNotification;

/** One attempt's outcome. `retryAfterMs`: the sink asked to wait (429/503 Retry-After). */
export type DeliveryResult =
  | { ok: true; status: number | null }
  | { ok: false; permanent: boolean; status: number | null; error: string; retryAfterMs: number | null };

export interface DeliveryContext {
  idempotencyKey: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The send time, for payloads that carry one (Alertmanager's endsAt while firing). */
  nowMs: number;
}

/** Where notifications go: a chat service, a webhook, Alertmanager, a file. */
export interface AlertSink {
  readonly name: string;
  readonly type: string;
  readonly minSeverity: AlertSeverity;
  /** Whether this sink takes digests (Alertmanager does not). */
  readonly acceptsDigests: boolean;
  deliver(notification: Notification, context: DeliveryContext): Promise<DeliveryResult>;
}

const SEVERITY_RANK: Readonly<Record<AlertSeverity, number>> = { info: 0, warning: 1, critical: 2 };

export function severityAtLeast(severity: AlertSeverity, minimum: AlertSeverity): boolean {
  return SEVERITY_RANK[severity] >= SEVERITY_RANK[minimum];
}

/** Whether `sink` takes `notification` at all (its minimum severity, digests). */
export function sinkWants(sink: Pick<AlertSink, 'minSeverity' | 'acceptsDigests'>, notification: Notification): boolean {
  return notification.kind === 'digest' ? sink.acceptsDigests : severityAtLeast(notification.alert.severity, sink.minSeverity);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
