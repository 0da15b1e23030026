/**
 * Prometheus Alertmanager, API v2: `POST <url>/api/v2/alerts` with a JSON array of postable
 * alerts `{labels, annotations, startsAt, endsAt, generatorURL}` (https://prometheus.io/docs/alerting/latest/clients/,
 * api/v2/openapi.yaml). Labels identify an alert, so they are fixed when the alert opens
 * (AlertPayload.labels); annotations are replaced by the latest post.
 *
 * "Clients are expected to continuously re-send alerts as long as they are still active": the
 * alert service posts every firing alert again each resend_interval. While firing, endsAt is set
 * to four resend intervals ahead, as Prometheus does (notifier: 4 × max(resend delay, evaluation
 * interval)), so that an alert from a gateway that died resolves on its own instead of firing
 * forever; the resolved message sets endsAt to the resolve time.
 */
import { describeAlert } from '../alert-text';
import type { AlertPayload, Notification } from '../types';

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

/** How long a firing post stays valid without the next one. */
export function firingValidityMs(resendIntervalS: number): number {
  return 4 * resendIntervalS * 1000;
}

export function alertmanagerAlert(alert: AlertPayload, nowMs: number, resendIntervalS: number): PostableAlert {
  const resolved = alert.status === 'resolved' && alert.resolved_at !== null;
  const wording = describeAlert({ kind: 'alert', id: alert.id, event: resolved ? 'resolved' : 'firing', seq: 0, created_at: alert.last_seen_at, alert }, null);
  return {
    labels: { ...alert.labels },
    annotations: {
      summary: `${wording.title.replace(/^\S+ /, '')}: ${wording.headline}`,
      description: wording.facts.map((f) => `${f.name}: ${f.value}`).join('\n'),
      evidence: JSON.stringify(alert.evidence.slice(0, 5)),
      alert_id: alert.id,
      ...(alert.dashboard_url ? { dashboard: alert.dashboard_url } : {}),
    },
    startsAt: alert.started_at,
    endsAt: resolved ? alert.resolved_at! : new Date(nowMs + firingValidityMs(resendIntervalS)).toISOString(),
    ...(alert.dashboard_url ? { generatorURL: alert.dashboard_url } : {}),
  };
}

/** Null for digests, which Alertmanager has no use for. */
export function formatAlertmanager(n: Notification, nowMs: number, resendIntervalS: number): PostableAlert[] | null {
  return n.kind === 'alert' ? [alertmanagerAlert(n.alert, nowMs, resendIntervalS)] : null;
}

export function alertsEndpoint(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/api/v2/alerts`;
}
