import type { DecodedPacket } from '../decode/types';

interface FragmentEntry {
  srcPort: number;
  dstPort: number;
  seenUs: number;
}

/** Fragments of one datagram arrive within seconds; this is generous (Linux ipfrag_time is 30 s). */
const FRAGMENT_LIFETIME_US = 60_000_000;

/**
 * Remembers the ports carried by first fragments so that later fragments (which have no
 * transport header) count their bytes to the same flow. Fragments are rare, so a string key
 * per fragment is acceptable here; the table is bounded and entries expire.
 */
export class FragmentPorts {
  private readonly entries = new Map<string, FragmentEntry>();
  private evictions = 0;

  constructor(private readonly maxEntries: number) {}

  private key(pkt: DecodedPacket): string {
    const s = pkt.src;
    const d = pkt.dst;
    return `${pkt.protocol}|${pkt.fragmentId}|${s[0]},${s[1]},${s[2]},${s[3]}|${d[0]},${d[1]},${d[2]},${d[3]}`;
  }

  rememberFirst(pkt: DecodedPacket): void {
    const k = this.key(pkt);
    this.entries.delete(k);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
        this.evictions++;
      }
    }
    this.entries.set(k, { srcPort: pkt.srcPort, dstPort: pkt.dstPort, seenUs: pkt.timestampUs });
  }

  /** Fills the packet's ports from its first fragment; false when the first fragment was not seen. */
  fillPorts(pkt: DecodedPacket): boolean {
    const e = this.entries.get(this.key(pkt));
    if (!e || pkt.timestampUs - e.seenUs > FRAGMENT_LIFETIME_US) return false;
    pkt.srcPort = e.srcPort;
    pkt.dstPort = e.dstPort;
    return true;
  }

  expire(nowUs: number): void {
    for (const [k, e] of this.entries) {
      if (nowUs - e.seenUs <= FRAGMENT_LIFETIME_US) break; // insertion order is time order
      this.entries.delete(k);
    }
  }

  stats(): { entries: number; evictions: number } {
    return { entries: this.entries.size, evictions: this.evictions };
  }
}
