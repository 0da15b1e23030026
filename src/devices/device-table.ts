import type { InventoryEntry } from '../config/types';
import type { DeviceRef } from '../flows/types';
import { NO_MAC } from '../decode/types';
import { formatMac, parseAddress, parseMac, formatAddress } from '../net/address';
import { RecencyList } from '../tables/recency-list';

/** What a DHCP message told us about a client (RFC 2131/2132: chaddr, option 12, yiaddr/option 50). */
export interface DhcpObservation {
  clientMac: number;
  hostname: string | null;
  /** Address the client holds or asked for, as text; null when the message carried none. */
  ip: string | null;
}

export interface DeviceRecord {
  ip: string;
  /** MAC as a number (NO_MAC when unknown) and the naming generation it was resolved at. */
  macNumber: number;
  namedAt: number;
  mac: string | null;
  hostname: string | null;
  group: string | null;
  firstSeenUs: number;
  lastSeenUs: number;
  flows: number;
}

export interface DeviceTableStats {
  devices: number;
  evictions: number;
  dhcpNames: number;
}

export interface DeviceTableOptions {
  maxDevices: number;
  inventory: readonly InventoryEntry[];
}

/** A device and its place in the recency list. */
interface DeviceSlot {
  readonly rec: DeviceRecord;
  older: DeviceSlot | null;
  newer: DeviceSlot | null;
}

interface InventoryName {
  name: string;
  group: string | null;
}

/**
 * Who is who on the LAN: devices by IP, with the MAC seen in frames they send and a hostname
 * from the static inventory (preferred: the admin named it) or from DHCP. Bounded; the device
 * seen least recently is evicted first (Map insertion order, refreshed on every touch).
 */
export class DeviceTable {
  private readonly devices = new Map<string, DeviceSlot>();
  private readonly recency = new RecencyList<DeviceSlot>();
  private readonly dhcpHostnameByMac = new Map<number, string>();
  private readonly dhcpMacByIp = new Map<string, number>();
  private readonly inventoryByMac = new Map<number, InventoryName>();
  private readonly inventoryByIp = new Map<string, InventoryName>();
  private readonly maxDevices: number;
  private evictions = 0;
  /** Bumped whenever DHCP teaches something, so touch() re-resolves names only when they may differ. */
  private generation = 0;

  constructor(opts: DeviceTableOptions) {
    this.maxDevices = opts.maxDevices;
    for (const entry of opts.inventory) {
      const value = { name: entry.name, group: entry.group };
      if (entry.mac) {
        const mac = parseMac(entry.mac);
        if (mac !== null) this.inventoryByMac.set(mac, value);
      }
      if (entry.ip) {
        const words = parseAddress(entry.ip);
        if (words) this.inventoryByIp.set(formatAddress(words), value);
      }
    }
  }

  learnDhcp(obs: DhcpObservation): void {
    this.generation++;
    if (obs.hostname) setBounded(this.dhcpHostnameByMac, obs.clientMac, obs.hostname, this.maxDevices);
    if (obs.ip && obs.ip !== '0.0.0.0') {
      setBounded(this.dhcpMacByIp, obs.ip, obs.clientMac, this.maxDevices);
      const known = this.devices.get(obs.ip);
      if (known) this.describeInto(known.rec, obs.clientMac);
    }
  }

  /** Records activity of the device at `ip` (seen sending from `mac`) and returns how to name it. */
  touch(ip: string, mac: number, timestampUs: number): DeviceRecord {
    let slot = this.devices.get(ip);
    if (slot) {
      this.recency.touch(slot);
    } else {
      const gone = this.recency.oldest;
      if (this.devices.size >= this.maxDevices && gone) {
        this.recency.remove(gone);
        this.devices.delete(gone.rec.ip);
        this.evictions++;
      }
      const rec = { ip, macNumber: NO_MAC, namedAt: -1, mac: null, hostname: null, group: null, firstSeenUs: timestampUs, lastSeenUs: timestampUs, flows: 0 };
      slot = { rec, older: null, newer: null };
      this.recency.append(slot);
      this.devices.set(ip, slot);
    }
    const rec = slot.rec;
    if (timestampUs > rec.lastSeenUs) rec.lastSeenUs = timestampUs;
    rec.flows++;
    // Called once per finished flow: resolve names only when something they depend on changed.
    if (rec.namedAt !== this.generation || (mac !== NO_MAC && mac !== rec.macNumber)) this.describeInto(rec, mac);
    return rec;
  }

  ref(rec: DeviceRecord): DeviceRef {
    return { ip: rec.ip, mac: rec.mac, hostname: rec.hostname, group: rec.group };
  }

  all(): DeviceRecord[] {
    const out: DeviceRecord[] = [];
    for (let slot = this.recency.oldest; slot !== null; slot = slot.newer) out.push(slot.rec);
    return out;
  }

  stats(): DeviceTableStats {
    return { devices: this.devices.size, evictions: this.evictions, dhcpNames: this.dhcpHostnameByMac.size };
  }

  private describeInto(rec: DeviceRecord, seenMac: number): void {
    rec.namedAt = this.generation;
    let mac: number | null = seenMac !== NO_MAC ? seenMac : rec.macNumber !== NO_MAC ? rec.macNumber : null;
    if (mac === null) mac = this.dhcpMacByIp.get(rec.ip) ?? null;
    if (mac !== null && mac !== rec.macNumber) {
      rec.macNumber = mac;
      rec.mac = formatMac(mac);
    }
    const inv = (mac !== null ? this.inventoryByMac.get(mac) : undefined) ?? this.inventoryByIp.get(rec.ip);
    if (inv) {
      rec.hostname = inv.name;
      rec.group = inv.group;
      return;
    }
    const dhcpName = mac !== null ? this.dhcpHostnameByMac.get(mac) : undefined;
    if (dhcpName) rec.hostname = dhcpName;
  }
}

function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
