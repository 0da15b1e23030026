/**
 * Per device, what the gateway cannot see into: which encrypted DNS resolvers it uses (DoH, DoT,
 * DoQ: names resolved there never reach the DNS cache) and how much of its traffic went to public
 * addresses no name explains. The report and the JSON device records show the same tally.
 */
import type { DeviceRef, EncryptedDnsKind, FlowRecord } from '../flows/types';

/** Distinct (kind, resolver) pairs kept per device; a hostile LAN host could cycle through many. */
const MAX_RESOLVERS_PER_DEVICE = 16;

export interface EncryptedDnsUse {
  kind: EncryptedDnsKind;
  resolver: string;
  flows: number;
}

export interface DeviceBlindSpots {
  /** In the order first seen. */
  encryptedDns: EncryptedDnsUse[];
  /** Pairs beyond MAX_RESOLVERS_PER_DEVICE, counted but not named. */
  encryptedDnsOtherFlows: number;
  unattributed: { bytesOut: number; bytesIn: number; flows: number };
}

export function newBlindSpots(): DeviceBlindSpots {
  return { encryptedDns: [], encryptedDnsOtherFlows: 0, unattributed: { bytesOut: 0, bytesIn: 0, flows: 0 } };
}

/** Adds one finished flow to a device's tally. */
export function countBlindSpots(b: DeviceBlindSpots, flow: FlowRecord): void {
  if (flow.encryptedDns) {
    const resolver = flow.encryptedDnsResolver ?? flow.remoteIp;
    const use = b.encryptedDns.find((u) => u.kind === flow.encryptedDns && u.resolver === resolver);
    if (use) use.flows++;
    else if (b.encryptedDns.length < MAX_RESOLVERS_PER_DEVICE) b.encryptedDns.push({ kind: flow.encryptedDns, resolver, flows: 1 });
    else b.encryptedDnsOtherFlows++;
  }
  if (flow.unattributed) {
    b.unattributed.bytesOut += flow.bytesOut;
    b.unattributed.bytesIn += flow.bytesIn;
    b.unattributed.flows++;
  }
}

/**
 * One device per named MAC (its IPv4 and IPv6 addresses together), else per address: unnamed
 * MACs stay per IP, since a downstream router puts many hosts behind one MAC. The report uses
 * the same rule.
 */
export function deviceKey(device: DeviceRef): string {
  return device.hostname && device.mac ? `${device.mac}|${device.hostname}` : device.ip;
}

/** "doh via cloudflare-dns.com (3 flows), dot via dns.quad9.net (1 flow)" for the report. */
export function describeEncryptedDns(b: DeviceBlindSpots): string | null {
  if (b.encryptedDns.length === 0 && b.encryptedDnsOtherFlows === 0) return null;
  const plural = (n: number): string => `${n} flow${n === 1 ? '' : 's'}`;
  const parts = [...b.encryptedDns]
    .sort((x, y) => y.flows - x.flows)
    .map((u) => `${u.kind} via ${u.resolver} (${plural(u.flows)})`);
  if (b.encryptedDnsOtherFlows) parts.push(`others (${plural(b.encryptedDnsOtherFlows)})`);
  return parts.join(', ');
}
