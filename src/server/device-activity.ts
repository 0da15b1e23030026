/**
 * What /api/v1/devices serves: per device, where it went (countries with bytes), through which
 * names, how much, and its latest violation. A pipeline sink fed once per finished flow. Every
 * collection in it is bounded, since the daemon runs for months and the LAN is not trusted to be
 * small: least recently active devices, names and addresses are dropped first; countries beyond
 * the cap are summed under "other".
 */
import type { JudgedFlow } from '../policy/types';
import type { PipelineSink } from '../sinks/types';
import { RecencyList } from '../tables/recency-list';

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
  /** Addresses, names: value = the activity counter when last used (larger = more recent). */
  ips: Map<string, number>;
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
  names: Map<string, number>;
  lastViolation: (ViolationActivity & { atUs: number }) | null;
  /** Its key in the device map, and its place in the recency list (least recently active first). */
  key: string;
  older: DeviceState | null;
  newer: DeviceState | null;
}

const DEFAULTS: Required<DeviceActivityOptions> = {
  maxDevices: 10000,
  maxNamesPerDevice: 50,
  maxCountriesPerDevice: 32,
  maxAddressesPerDevice: 8,
};

/**
 * Recency is kept without reordering any Map: the devices form a linked list (least recently
 * active at `oldest`), and addresses and names map to the value of a counter when last used.
 * Refreshing an entry by delete + re-insert, as before, left a deleted slot in the hash table
 * per flow, so V8 rebuilt each table every few dozen flows, in the old generation: at 50k
 * packets/s this sink was the largest producer of old-generation garbage after the flows.
 */
export class DeviceActivity implements PipelineSink {
  private readonly devices = new Map<string, DeviceState>();
  private readonly opts: Required<DeviceActivityOptions>;
  private readonly recency = new RecencyList<DeviceState>();
  /** Counts uses of addresses and names: orders them by recency. */
  private uses = 0;

  constructor(opts: DeviceActivityOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  onFlow({ flow, geo, verdict }: JudgedFlow): void {
    const d = this.deviceFor(flow.device.ip, flow.device.mac, flow.device.hostname, flow.firstSeenUs);
    d.group = flow.device.group ?? d.group;
    touch(d.ips, flow.device.ip, this.opts.maxAddressesPerDevice, ++this.uses);
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

    for (const name of flow.names) touch(d.names, name, this.opts.maxNamesPerDevice, ++this.uses);
    if (flow.httpHost) touch(d.names, flow.httpHost, this.opts.maxNamesPerDevice, ++this.uses);
    if (flow.sni) touch(d.names, flow.sni, this.opts.maxNamesPerDevice, ++this.uses);

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
    const devices: DeviceState[] = [];
    for (let d = this.recency.newest; d !== null; d = d.older) devices.push(d);
    return devices.map((d) => ({
      ips: mostRecentFirst(d.ips),
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
      names: mostRecentFirst(d.names),
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
    if (unnamed) this.forget(unnamed);
    let d = this.devices.get(key);
    if (d) {
      if (unnamed) this.merge(d, unnamed);
      this.recency.remove(d);
    } else if (unnamed) {
      d = unnamed;
      d.key = key;
      this.devices.set(key, d);
    } else {
      if (this.devices.size >= this.opts.maxDevices && this.recency.oldest) this.forget(this.recency.oldest);
      d = newDevice(key, seenUs);
      this.devices.set(key, d);
    }
    this.recency.append(d);
    d.mac = mac ?? d.mac;
    d.hostname = hostname ?? d.hostname;
    return d;
  }

  /** Drops a device from the map and the recency list. */
  private forget(d: DeviceState): void {
    this.devices.delete(d.key);
    this.recency.remove(d);
  }

  /** Folds what an address did before its device was named into the named device. */
  private merge(into: DeviceState, from: DeviceState): void {
    for (const ip of mostRecentFirst(from.ips).reverse()) touch(into.ips, ip, this.opts.maxAddressesPerDevice, ++this.uses);
    for (const name of mostRecentFirst(from.names).reverse()) touch(into.names, name, this.opts.maxNamesPerDevice, ++this.uses);
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

function newDevice(key: string, seenUs: number): DeviceState {
  return {
    ips: new Map(),
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
    names: new Map(),
    lastViolation: null,
    key,
    older: null,
    newer: null,
  };
}

/**
 * Marks `value` as used at `use` (the counter), dropping the least recently used entry when a new
 * value would exceed `max`. A known value only has its number updated in place.
 */
function touch(recent: Map<string, number>, value: string, max: number, use: number): void {
  if (recent.size >= max && !recent.has(value)) {
    let oldest: string | null = null;
    let oldestUse = Infinity;
    for (const [v, u] of recent) {
      if (u < oldestUse) {
        oldest = v;
        oldestUse = u;
      }
    }
    if (oldest !== null) recent.delete(oldest);
  }
  recent.set(value, use);
}

function mostRecentFirst(recent: Map<string, number>): string[] {
  return [...recent].sort((a, b) => b[1] - a[1]).map(([v]) => v);
}

function isoTime(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}
