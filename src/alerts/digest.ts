/**
 * The daily digest (alerts.digest): per device, what it sent to disallowed countries over the
 * last day, from the violation history, and its whole foreign traffic (every non-local flow, by
 * remote country) since the previous digest, from the in-memory `TrafficSummary`; to the digest
 * sinks. Sent even when there was nothing, so that a quiet channel means "nothing happened"
 * rather than "the monitor is down".
 */
import type { ViolationHistory } from '../history/violation-history';
import type { JudgedFlow } from '../policy/types';
import { isoTime, type DigestNotification, type DigestTraffic, type DigestTrafficCountry, type DigestTrafficDevice } from './types';

export const DIGEST_PERIOD_MS = 24 * 3600 * 1000;
/** Devices tracked between two digests; flows of further devices are folded into one entry. */
export const DIGEST_MAX_DEVICES = 1000;
/** Countries tracked per device; further countries are folded into `other`. */
export const DIGEST_MAX_COUNTRIES = 32;
/** Devices listed in the digest payload (most bytes first); the rest are folded. */
const DIGEST_DEVICES_LISTED = 50;
export const OTHER_COUNTRY = 'other';
const OTHER_DEVICES = 'other devices';

interface DeviceTraffic {
  entry: DigestTrafficDevice;
  countries: Map<string, DigestTrafficCountry>;
}

/**
 * Per-device foreign traffic, counted from every judged flow that is not local (both ends
 * internal, or the `local` verdict). Bounded: at most `maxDevices` devices × `maxCountries`
 * countries each; a device past the bound counts towards `other devices`, a country past it
 * towards `other`. `take` returns the summary and starts a new period.
 */
export class TrafficSummary {
  private devices = new Map<string, DeviceTraffic>();
  private overflow: DeviceTraffic | null = null;
  private foldedDevices = new Set<string>();
  private foldedCountries = 0;
  private sinceMs: number;

  constructor(
    nowMs: number,
    private readonly maxDevices = DIGEST_MAX_DEVICES,
    private readonly maxCountries = DIGEST_MAX_COUNTRIES,
  ) {
    this.sinceMs = nowMs;
  }

  add({ flow, geo, verdict }: JudgedFlow): void {
    if (flow.bothInternal || verdict.verdict === 'local') return;
    const id = flow.device.mac ?? flow.device.ip;
    let d = this.devices.get(id);
    if (!d) {
      if (this.devices.size >= this.maxDevices) {
        // Bounded: count it under one shared entry (and remember folded ids up to 10× the bound, for the count).
        if (this.foldedDevices.size < 10 * this.maxDevices) this.foldedDevices.add(id);
        d = this.overflow ??= {
          entry: { device: { name: OTHER_DEVICES, mac: null, ip: '', group: null }, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0, countries: [] },
          countries: new Map(),
        };
      } else {
        d = {
          entry: { device: { name: flow.device.hostname, mac: flow.device.mac, ip: flow.device.ip, group: flow.device.group }, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0, countries: [] },
          countries: new Map(),
        };
        this.devices.set(id, d);
      }
    }
    const violation = verdict.verdict === 'violation' ? 1 : 0;
    const e = d.entry;
    if (e !== this.overflow?.entry) {
      e.device.name ??= flow.device.hostname;
      e.device.ip = flow.device.ip;
    }
    e.flows++;
    e.bytes_out += flow.bytesOut;
    e.bytes_in += flow.bytesIn;
    e.violations += violation;
    const country = verdict.country !== undefined ? verdict.country : geo.country;
    const key = country ?? '';
    let c = d.countries.get(key);
    if (!c) {
      // The last slot is kept for `other`.
      if (d.countries.size >= this.maxCountries - (d.countries.has(OTHER_COUNTRY) ? 0 : 1)) {
        this.foldedCountries++;
        c = d.countries.get(OTHER_COUNTRY);
        if (!c) {
          c = { country: OTHER_COUNTRY, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0 };
          d.countries.set(OTHER_COUNTRY, c);
        }
      } else {
        c = { country, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0 };
        d.countries.set(key, c);
      }
    }
    c.flows++;
    c.bytes_out += flow.bytesOut;
    c.bytes_in += flow.bytesIn;
    c.violations += violation;
  }

  /** The summary so far, without resetting. */
  peek(): DigestTraffic {
    const bytes = (x: { bytes_out: number; bytes_in: number }) => x.bytes_out + x.bytes_in;
    const all = [...this.devices.values()].map((d) => ({ ...d.entry, countries: [...d.countries.values()].sort((a, b) => bytes(b) - bytes(a)).map((c) => ({ ...c })) }));
    all.sort((a, b) => bytes(b) - bytes(a));
    const listed = all.slice(0, DIGEST_DEVICES_LISTED);
    const rest = all.slice(DIGEST_DEVICES_LISTED);
    let folded = this.overflow ? { ...this.overflow.entry, device: { ...this.overflow.entry.device }, countries: [...this.overflow.countries.values()].map((c) => ({ ...c })) } : null;
    if (rest.length > 0) {
      folded ??= { device: { name: OTHER_DEVICES, mac: null, ip: '', group: null }, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0, countries: [] };
      const byCountry = new Map(folded.countries.map((c) => [c.country ?? '', c]));
      for (const d of rest) {
        folded.flows += d.flows;
        folded.bytes_out += d.bytes_out;
        folded.bytes_in += d.bytes_in;
        folded.violations += d.violations;
        for (const c of d.countries) {
          const k = c.country ?? '';
          const t = byCountry.get(k);
          if (t) {
            t.flows += c.flows;
            t.bytes_out += c.bytes_out;
            t.bytes_in += c.bytes_in;
            t.violations += c.violations;
          } else if (byCountry.size < this.maxCountries) byCountry.set(k, { ...c });
          else {
            const o = byCountry.get(OTHER_COUNTRY) ?? { country: OTHER_COUNTRY, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0 };
            byCountry.set(OTHER_COUNTRY, o);
            o.flows += c.flows;
            o.bytes_out += c.bytes_out;
            o.bytes_in += c.bytes_in;
            o.violations += c.violations;
          }
        }
      }
      folded.countries = [...byCountry.values()].sort((a, b) => bytes(b) - bytes(a));
    }
    const devices = folded ? [...listed, folded] : listed;
    const totals = devices.reduce(
      (t, d) => ({ devices: t.devices, flows: t.flows + d.flows, bytes_out: t.bytes_out + d.bytes_out, bytes_in: t.bytes_in + d.bytes_in, violations: t.violations + d.violations }),
      { devices: this.devices.size + this.foldedDevices.size, flows: 0, bytes_out: 0, bytes_in: 0, violations: 0 },
    );
    return { totals, devices, folded: { devices: this.foldedDevices.size + rest.length, countries: this.foldedCountries }, since: isoTime(this.sinceMs) };
  }

  /** The summary, then a fresh period from `nowMs`. */
  take(nowMs: number): DigestTraffic {
    const out = this.peek();
    this.devices = new Map();
    this.overflow = null;
    this.foldedDevices = new Set();
    this.foldedCountries = 0;
    this.sinceMs = nowMs;
    return out;
  }
}

export function buildDigest(
  history: ViolationHistory,
  instance: string,
  dashboardUrl: string | null,
  nowMs: number,
  periodMs = DIGEST_PERIOD_MS,
  traffic?: DigestTraffic,
): DigestNotification {
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
    digest: {
      instance,
      period_start: isoTime(nowMs - periodMs),
      period_end: isoTime(nowMs),
      totals,
      devices,
      dashboard_url: dashboardUrl,
      ...(traffic ? { traffic } : {}),
    },
  };
}
