import { NO_MAC } from '../decode/types';
import type { Words } from '../net/address';
import type { QuicHandshake } from './quic-inspector';
import type { AppProtocol, FlowEndReason } from './types';

/** Which idle timeout applies; each class has its own LRU list so expiry is a walk from the head. */
export const enum TimeoutClass {
  Tcp = 0,
  Udp = 1,
  Other = 2,
  /** TCP after FIN from both sides or RST: kept briefly so trailing ACKs don't open a new flow. */
  Closing = 3,
}
export const TIMEOUT_CLASSES = 4;

/**
 * Per-flow state of the payload inspectors (TLS ClientHello, HTTP request, DNS over TCP).
 * Allocated only for flows that carry payload worth looking at, dropped when done.
 */
export interface FlowAppState {
  /** Bytes buffered from the initiator while a ClientHello spans segments. */
  clientBytes: Buffer | null;
  /** Sequence number the next in-order initiator segment must carry (gaps end the attempt). */
  clientNextSeq: number;
  /** DNS over TCP: bytes of a length-prefixed message that spans segments, from the server side. */
  dnsBytes: Buffer | null;
  dnsNextSeq: number;
  /** QUIC: keys and CRYPTO bytes of the client's Initial packets while the ClientHello is incomplete. */
  quic: QuicHandshake | null;
}

/**
 * The names of a flow nobody has named yet. Shared by every such flow so that a flow costs no
 * array of its own; never mutated (names are replaced, never pushed: `flow.names = found.names`).
 */
export const NO_NAMES: string[] = [];

/**
 * One bidirectional flow. Endpoint A is the initiator (SYN sender, else the first packet's source).
 * Addresses are kept as eight plain numbers, not arrays, so the lookup compares fields directly.
 *
 * Flow objects are recycled (FlowTable.allocate/release): a flow lives seconds to minutes, long
 * enough for V8 to promote it to the old generation, so allocating one per flow filled the old
 * space with dead flows between major GCs (most of the daemon's RSS growth at 50k packets/s).
 * reset() must therefore clear every field; a field added here needs a line there.
 */
export class Flow {
  hash = 0;
  bucketNext: Flow | null = null;
  lruPrev: Flow | null = null;
  lruNext: Flow | null = null;
  timeoutClass: TimeoutClass = TimeoutClass.Other;

  a0 = 0;
  a1 = 0;
  a2 = 0;
  a3 = 0;
  b0 = 0;
  b1 = 0;
  b2 = 0;
  b3 = 0;
  aPort = 0;
  bPort = 0;
  protocol = 0;

  /** The device (internal endpoint) is A; otherwise B. */
  deviceIsA = true;
  bothInternal = false;

  packetsAB = 0;
  bytesAB = 0;
  packetsBA = 0;
  bytesBA = 0;
  firstUs = 0;
  lastUs = 0;
  /** MAC seen on frames the device sent. */
  deviceMac = NO_MAC;

  finFromA = false;
  finFromB = false;
  endReason: FlowEndReason | null = null;

  names: string[] = NO_NAMES;
  sni: string | null = null;
  httpHost: string | null = null;
  /** 'quic' once a client Initial of this flow decrypted and authenticated (RFC 9001 §5.2). */
  appProtocol: AppProtocol | null = null;
  /** Protocols offered by ALPN in the flow's QUIC ClientHello (RFC 7301), client order. */
  alpn: string[] | null = null;
  /** Payload packets still worth inspecting; 0 once the names are known or hope is lost. */
  inspectBudget = 0;
  app: FlowAppState | null = null;

  /**
   * Back to the state of `new Flow()`, dropping every reference (names, SNI, inspector state) so
   * a pooled flow keeps nothing else alive. Numbers are overwritten in place: V8 keeps a double
   * field's box and writes the new value into it, so reuse allocates nothing.
   */
  reset(): void {
    this.hash = 0;
    this.bucketNext = null;
    this.lruPrev = null;
    this.lruNext = null;
    this.timeoutClass = TimeoutClass.Other;
    this.a0 = 0;
    this.a1 = 0;
    this.a2 = 0;
    this.a3 = 0;
    this.b0 = 0;
    this.b1 = 0;
    this.b2 = 0;
    this.b3 = 0;
    this.aPort = 0;
    this.bPort = 0;
    this.protocol = 0;
    this.deviceIsA = true;
    this.bothInternal = false;
    this.packetsAB = 0;
    this.bytesAB = 0;
    this.packetsBA = 0;
    this.bytesBA = 0;
    this.firstUs = 0;
    this.lastUs = 0;
    this.deviceMac = NO_MAC;
    this.finFromA = false;
    this.finFromB = false;
    this.endReason = null;
    this.names = NO_NAMES;
    this.sni = null;
    this.httpHost = null;
    this.appProtocol = null;
    this.alpn = null;
    this.inspectBudget = 0;
    this.app = null;
  }
}

/** One endpoint's address words (A when `sideA`), allocated: call once per flow event, not per packet. */
export function endpointWords(flow: Flow, sideA: boolean): Words {
  const w = new Uint32Array(4);
  w[0] = sideA ? flow.a0 : flow.b0;
  w[1] = sideA ? flow.a1 : flow.b1;
  w[2] = sideA ? flow.a2 : flow.b2;
  w[3] = sideA ? flow.a3 : flow.b3;
  return w;
}
