/**
 * What /api/v1/devices serves: per device, where it went (countries with bytes), through which
 * names, how much, and its latest violation. A pipeline sink fed once per finished flow. Every
 * collection in it is bounded, since the daemon runs for months and the LAN is not trusted to be
 * small: least recently active devices, names and addresses are dropped first; countries beyond
 * the cap are summed under "other".
 */
import type { JudgedFlow } from '../policy/types';
import type { PipelineSink } from '../sinks/types';

export interface DeviceActivityOptions {
  maxDevices?: number;
  maxNamesPerDevice?: number;
  maxCountriesPerDevice?: number;
  maxAddressesPerDevice?: number;
}

export interface CountryActivity {
  /** ISO code, "unknown" (no country in the database), "local" (LAN or special-purpose) or "other" (over the cap). */
  country: string;
  bytes_up: number;
  bytes_down: number;
  flows: number;
}

export interface ViolationActivity {
  /** Last packet of the violating flow, ISO 8601 (capture time). */
  time: string;
  country: string;
  remote: string;
  remote_port: number | null;
  /** TLS SNI, HTTP Host or the DNS name queried, whichever the flow had (in that order). */
  name: string | null;
  reason: string;
}

/** One device in the JSON; field names match the replay JSON's snake_case. */
export interface DeviceActivityRecord {
  /** Addresses the device used, most recent first. */
  ips: string[];
  mac: string | null;
  hostname: string | null;
  group: string | null;
  first_seen: string;
  last_seen: string;
  flows: number;
  violations: number;
  bytes_up: number;
  bytes_down: number;
  /** By total bytes, largest first. */
  countries: CountryActivity[];
  /** DNS names, SNIs and HTTP hosts, most recently used first. */
  names: string[];
  last_violation: ViolationActivity | null;
}

interface DeviceState {
  ips: Set<string>;
  mac: string | null;
  hostname: string | null;
  group: string | null;
  firstSeenUs: number;
  lastSeenUs: number;
  flows: number;
  violations: number;
  bytesUp: number;
  bytesDown: number;
  countries: Map<string, { bytesUp: number; bytesDown: number; flows: number }>;
  names: Set<string>;
  lastViolation: (ViolationActivity & { atUs: number }) | null;
}

const DEFAULTS: Required<DeviceActivityOptions> = {
  maxDevices: 10000,
  maxNamesPerDevice: 50,
  maxCountriesPerDevice: 32,
  maxAddressesPerDevice: 8,
};

export class DeviceActivity implements PipelineSink {
  private readonly devices = new Map<string, DeviceState>();
  private readonly opts: Required<DeviceActivityOptions>;

  constructor(opts: DeviceActivityOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  onFlow({ flow, geo, verdict }: JudgedFlow): void {
    const d = this.deviceFor(flow.device.ip, flow.device.mac, flow.device.hostname, flow.firstSeenUs);
    d.group = flow.device.group ?? d.group;
    touch(d.ips, flow.device.ip, this.opts.maxAddressesPerDevice);
    d.firstSeenUs = Math.min(d.firstSeenUs, flow.firstSeenUs);
    d.lastSeenUs = Math.max(d.lastSeenUs, flow.lastSeenUs);
    d.flows++;
    d.bytesUp += flow.bytesOut;
    d.bytesDown += flow.bytesIn;

    const country = flow.bothInternal || geo.special ? 'local' : (geo.country ?? 'unknown');
    const c = this.countryTotals(d, country);
    c.bytesUp += flow.bytesOut;
    c.bytesDown += flow.bytesIn;
    c.flows++;

    for (const name of flow.names) touch(d.names, name, this.opts.maxNamesPerDevice);
    if (flow.httpHost) touch(d.names, flow.httpHost, this.opts.maxNamesPerDevice);
    if (flow.sni) touch(d.names, flow.sni, this.opts.maxNamesPerDevice);

    if (verdict.verdict === 'violation') {
      d.violations++;
      if (d.lastViolation === null || flow.lastSeenUs >= d.lastViolation.atUs) {
        d.lastViolation = {
          atUs: flow.lastSeenUs,
          time: isoTime(flow.lastSeenUs),
          country,
          remote: flow.remoteIp,
          remote_port: flow.remotePort,
          name: flow.sni ?? flow.httpHost ?? flow.names[0] ?? null,
          reason: verdict.reason,
        };
      }
    }
  }

  /** Devices, most recently active first. */
  snapshot(): DeviceActivityRecord[] {
    return [...this.devices.values()].reverse().map((d) => ({
      ips: [...d.ips].reverse(),
      mac: d.mac,
      hostname: d.hostname,
      group: d.group,
      first_seen: isoTime(d.firstSeenUs),
      last_seen: isoTime(d.lastSeenUs),
      flows: d.flows,
      violations: d.violations,
      bytes_up: d.bytesUp,
      bytes_down: d.bytesDown,
      countries: [...d.countries]
        .map(([country, c]) => ({ country, bytes_up: c.bytesUp, bytes_down: c.bytesDown, flows: c.flows }))
        .sort((a, b) => b.bytes_up + b.bytes_down - (a.bytes_up + a.bytes_down) || a.country.localeCompare(b.country)),
      names: [...d.names].reverse(),
      last_violation: d.lastViolation && {
        time: d.lastViolation.time,
        country: d.lastViolation.country,
        remote: d.lastViolation.remote,
        remote_port: d.lastViolation.remote_port,
        name: d.lastViolation.name,
        reason: d.lastViolation.reason,
      },
    }));
  }

  get size(): number {
    return this.devices.size;
  }

  /**
   * One entry per device, not per address: a named MAC with IPv4 and IPv6 addresses is one device
   * (as in the replay report). Unnamed MACs stay per IP, since a downstream router puts many
   * hosts behind one MAC. When a name arrives for an address seen unnamed, that entry is adopted.
   */
  private deviceFor(ip: string, mac: string | null, hostname: string | null, seenUs: number): DeviceState {
    const key = hostname && mac ? `${mac}|${hostname}` : ip;
    // An IP key holds a named device only when its MAC is unknown (no link layer); that one stays.
    const byIp = key !== ip ? this.devices.get(ip) : undefined;
    const unnamed = byIp && byIp.hostname === null ? byIp : undefined;
    if (unnamed) this.devices.delete(ip);
    let d = this.devices.get(key);
    if (d) {
      this.devices.delete(key);
      if (unnamed) this.merge(d, unnamed);
    } else if (unnamed) {
      d = unnamed;
    } else {
      if (this.devices.size >= this.opts.maxDevices) this.devices.delete(this.devices.keys().next().value!);
      d = newDevice(seenUs);
    }
    this.devices.set(key, d);
    d.mac = mac ?? d.mac;
    d.hostname = hostname ?? d.hostname;
    return d;
  }

  /** Folds what an address did before its device was named into the named device. */
  private merge(into: DeviceState, from: DeviceState): void {
    for (const ip of from.ips) touch(into.ips, ip, this.opts.maxAddressesPerDevice);
    for (const name of from.names) touch(into.names, name, this.opts.maxNamesPerDevice);
    into.firstSeenUs = Math.min(into.firstSeenUs, from.firstSeenUs);
    into.lastSeenUs = Math.max(into.lastSeenUs, from.lastSeenUs);
    into.flows += from.flows;
    into.violations += from.violations;
    into.bytesUp += from.bytesUp;
    into.bytesDown += from.bytesDown;
    for (const [country, c] of from.countries) {
      const totals = this.countryTotals(into, country);
      totals.bytesUp += c.bytesUp;
      totals.bytesDown += c.bytesDown;
      totals.flows += c.flows;
    }
    if (from.lastViolation && (!into.lastViolation || from.lastViolation.atUs > into.lastViolation.atUs)) into.lastViolation = from.lastViolation;
  }

  /** The totals `country` adds to, or those of "other" once the device has as many countries as allowed. */
  private countryTotals(d: DeviceState, country: string): { bytesUp: number; bytesDown: number; flows: number } {
    const bucket = d.countries.has(country) || d.countries.size < this.opts.maxCountriesPerDevice ? country : 'other';
    let c = d.countries.get(bucket);
    if (!c) d.countries.set(bucket, (c = { bytesUp: 0, bytesDown: 0, flows: 0 }));
    return c;
  }
}

function newDevice(seenUs: number): DeviceState {
  return {
    ips: new Set(),
    mac: null,
    hostname: null,
    group: null,
    firstSeenUs: seenUs,
    lastSeenUs: seenUs,
    flows: 0,
    violations: 0,
    bytesUp: 0,
    bytesDown: 0,
    countries: new Map(),
    names: new Set(),
    lastViolation: null,
  };
}

/** Moves `value` to the most recent end of an insertion-ordered set, dropping the oldest when full. */
function touch(set: Set<string>, value: string, max: number): void {
  if (!set.delete(value) && set.size >= max) set.delete(set.values().next().value!);
  set.add(value);
}

function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}
