/**
 * The daily digest (alerts.digest): per device, what it sent to disallowed countries over the
 * last day, from the violation history, to the digest sinks. Sent even when there was nothing,
 * so that a quiet channel means "nothing happened" rather than "the monitor is down".
 */
import type { ViolationHistory } from '../history/violation-history';
import { isoTime, type DigestNotification } from './types';

export const DIGEST_PERIOD_MS = 24 * 3600 * 1000;

export function buildDigest(history: ViolationHistory, instance: string, dashboardUrl: string | null, nowMs: number, periodMs = DIGEST_PERIOD_MS): DigestNotification {
  const devices = history.deviceSummary(nowMs - periodMs, nowMs);
  const totals = devices.reduce(
    (t, d) => ({ devices: t.devices + 1, flows: t.flows + d.flows, bytes_out: t.bytes_out + d.bytes_out, bytes_in: t.bytes_in + d.bytes_in }),
    { devices: 0, flows: 0, bytes_out: 0, bytes_in: 0 },
  );
  return {
    kind: 'digest',
    // One digest per run: the id (and so the idempotency keys) come from the run's time.
    id: `digest-${nowMs}`,
    created_at: isoTime(nowMs),
    digest: { instance, period_start: isoTime(nowMs - periodMs), period_end: isoTime(nowMs), totals, devices, dashboard_url: dashboardUrl },
  };
}
