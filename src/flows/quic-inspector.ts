/**
 * Names for QUIC flows: the SNI (and ALPN) of the TLS ClientHello a client carries in the CRYPTO
 * frames of its Initial packets (RFC 9001 §4). A ClientHello may span several Initial packets,
 * coalesced in one datagram (RFC 9000 §12.2) or in separate datagrams, and clients split and
 * reorder CRYPTO frames on purpose, so the bytes are put back together by stream offset.
 *
 * Cost: this runs only for the first few packets of a new UDP flow. A datagram that does not
 * start with a v1/v2 Initial long header ends the inspection after one byte test and one 32-bit
 * read, so other UDP traffic pays that once per flow; keys are derived once per flow.
 */
import {
  collectCryptoFrames,
  deriveInitialKeys,
  LongPacketType,
  looksLikeInitial,
  openPacket,
  parseLongHeader,
  type InitialKeys,
  type LongHeader,
  type OpenedPacket,
} from '../decode/quic-initial';
import { parseClientHelloMessage } from '../decode/tls-client-hello';
import type { DecodeErrorCounts, DecodedPacket } from '../decode/types';
import type { Flow } from './flow';

/**
 * Packets of a new UDP flow (either direction) worth looking at. A client sends its ClientHello
 * in its first one or two datagrams, before the server can answer; a few more cover loss.
 */
export const QUIC_PACKET_BUDGET = 6;
/** Initial packets decrypted per flow at most (coalesced ones included). */
const QUIC_DECRYPT_BUDGET = 6;
/** Packets looked at per datagram (RFC 9000 §12.2: Initial, 0-RTT, Handshake at most in practice). */
const MAX_COALESCED = 4;
/** CRYPTO bytes kept per flow: ~1.8 KB for a ClientHello, ~3 KB with post-quantum key shares. */
const MAX_CRYPTO_BYTES = 16 * 1024;

/**
 * Per-flow state while a ClientHello is incomplete: the Initial keys (derived once) and the
 * CRYPTO stream bytes received so far, with the ranges that are filled.
 */
export class QuicHandshake {
  keys: InitialKeys | null = null;
  /** The Destination Connection ID the keys came from (RFC 9001 §5.2: the client's first). */
  keysDcid: Buffer | null = null;
  decrypts = 0;
  data: Buffer | null = null;
  /** Filled byte ranges of the CRYPTO stream: [start, end) pairs, sorted, disjoint, not adjacent. */
  readonly ranges: number[] = [];

  /** Copies CRYPTO data for stream offset `at`; bytes past MAX_CRYPTO_BYTES are dropped. */
  add(src: Buffer, off: number, len: number, at: number): void {
    if (len <= 0 || at >= MAX_CRYPTO_BYTES) return;
    const end = Math.min(at + len, MAX_CRYPTO_BYTES);
    if (!this.data || this.data.length < end) {
      const grown = Buffer.alloc(Math.min(MAX_CRYPTO_BYTES, Math.max(end, 2 * (this.data?.length ?? 0), 2048)));
      this.data?.copy(grown);
      this.data = grown;
    }
    src.copy(this.data, at, off, off + (end - at));
    this.mark(at, end);
  }

  /** Bytes present from stream offset 0 without a gap. */
  contiguous(): number {
    return this.ranges.length > 0 && this.ranges[0] === 0 ? this.ranges[1]! : 0;
  }

  private mark(start: number, end: number): void {
    const r = this.ranges;
    const merged: number[] = [];
    let i = 0;
    while (i < r.length && r[i + 1]! < start) merged.push(r[i]!, r[i + 1]!), (i += 2);
    let s = start;
    let e = end;
    while (i < r.length && r[i]! <= e) {
      s = Math.min(s, r[i]!);
      e = Math.max(e, r[i + 1]!);
      i += 2;
    }
    merged.push(s, e);
    while (i < r.length) merged.push(r[i]!, r[i + 1]!), (i += 2);
    r.splice(0, r.length, ...merged);
  }
}

/** A handshake message of type ClientHello (1) whose 24-bit length fits in data[off, off + len). */
function isWholeHello(data: Buffer, off: number, len: number): boolean {
  return len >= 4 && data[off] === 1 && 4 + ((data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) <= len;
}

export interface QuicInspectorStats {
  /** Client Initial packets opened (decrypted and authenticated). */
  initialsOpened: number;
  /** Flows whose ClientHello gave a server name. */
  names: number;
}

/** The QUIC half of payload inspection; PayloadInspector hands it UDP flows. */
export class QuicInspector {
  private initialsOpened = 0;
  private names = 0;
  /** Scratch list of CRYPTO frames of one packet: offset, start, length triples. */
  private readonly frames: number[] = [];

  constructor(private readonly errors: DecodeErrorCounts) {}

  inspect(flow: Flow, pkt: DecodedPacket, fromA: boolean): void {
    flow.inspectBudget--;
    let state = flow.app?.quic ?? null;
    const buf = pkt.buf;
    const off = pkt.payloadOffset;
    if (!fromA || !looksLikeInitial(buf, off, pkt.payloadLength)) {
      // Not a client Initial. Without a ClientHello under way the flow is not QUIC (or was seen
      // mid-connection): stop at once. With one half read (the server answered, or a 0-RTT
      // datagram came between the client's Initials), wait; at the end of the budget, use
      // whatever arrived.
      if (state === null) this.finish(flow);
      else if (flow.inspectBudget <= 0) this.tryClientHello(flow, state);
      return;
    }
    const end = off + pkt.payloadLength;
    const truncated = pkt.capturedLength < pkt.wireLength;
    // Per-flow state is made only when a ClientHello does not come whole in the first Initial.
    state ??= new QuicHandshake();
    let p = off;
    for (let n = 0; n < MAX_COALESCED && p < end; n++) {
      const h = parseLongHeader(buf, p, end);
      if (h === null) break; // padding after the last packet, or a short header (RFC 9000 §12.2)
      if (h === 'truncated') {
        if (!truncated) this.errors.byLayer.quic++;
        break;
      }
      p = h.end;
      if (h.type !== LongPacketType.Initial || state.decrypts >= QUIC_DECRYPT_BUDGET) continue;
      const opened = this.open(buf, h, state);
      if (opened === null) {
        this.errors.byLayer.quic++;
        continue;
      }
      this.initialsOpened++;
      flow.appProtocol = 'quic';
      const frames = this.frames;
      frames.length = 0;
      if (!collectCryptoFrames(opened.payload, frames)) {
        this.errors.byLayer.quic++;
        continue;
      }
      // The common case: one CRYPTO frame at offset 0 with the whole ClientHello. Parse it in
      // place, no copy.
      if (state.ranges.length === 0 && frames.length === 3 && frames[0] === 0 && isWholeHello(opened.payload, frames[1]!, frames[2]!)) {
        this.useClientHello(flow, opened.payload, frames[1]!, frames[2]!, false);
        return;
      }
      for (let i = 0; i < frames.length; i += 3) state.add(opened.payload, frames[i + 1]!, frames[i + 2]!, frames[i]!);
    }
    if (flow.app === null) flow.app = { clientBytes: null, clientNextSeq: 0, dnsBytes: null, dnsNextSeq: 0, quic: state };
    this.tryClientHello(flow, state);
  }

  stats(): QuicInspectorStats {
    return { initialsOpened: this.initialsOpened, names: this.names };
  }

  /**
   * Opens an Initial with the flow's keys. The keys come from the DCID of the client's first
   * Initial (RFC 9001 §5.2) and stay when the client switches to the server's connection ID;
   * after a Retry they come from the new DCID (RFC 9001 §5.2, RFC 9000 §17.2.5.2), so a packet
   * the old keys do not open gets one more try with keys from its own DCID.
   */
  private open(buf: Buffer, h: LongHeader, state: QuicHandshake): OpenedPacket | null {
    const dcid = buf.subarray(h.dcidOffset, h.dcidOffset + h.dcidLength);
    const same = state.keys !== null && state.keys.version === h.version && state.keysDcid !== null && state.keysDcid.equals(dcid);
    if (state.keys !== null && state.keys.version === h.version) {
      state.decrypts++;
      const opened = openPacket(buf, h, state.keys);
      if (opened !== null || same) return opened;
    }
    if (state.decrypts >= QUIC_DECRYPT_BUDGET) return null;
    const keys = deriveInitialKeys(h.version, dcid, 'client');
    if (keys === null) return null;
    state.decrypts++;
    const opened = openPacket(buf, h, keys);
    if (opened !== null || state.keys === null) {
      state.keys = keys;
      state.keysDcid = Buffer.from(dcid);
    }
    return opened;
  }

  /**
   * Parses the ClientHello once it is whole (so that ALPN, which may come after the SNI, is
   * read too), or with what there is when no more packets will be looked at.
   */
  private tryClientHello(flow: Flow, state: QuicHandshake): void {
    const have = state.contiguous();
    const data = state.data;
    const lastChance = flow.inspectBudget <= 0 || state.decrypts >= QUIC_DECRYPT_BUDGET;
    if (data === null || have === 0) {
      if (lastChance) this.finish(flow);
      return;
    }
    if (!isWholeHello(data, 0, have) && !lastChance && have < MAX_CRYPTO_BYTES) return;
    this.useClientHello(flow, data, 0, have, !lastChance && have < MAX_CRYPTO_BYTES);
  }

  /** Takes the names from a ClientHello; `canWait`: a need-more answer keeps the flow waiting. */
  private useClientHello(flow: Flow, data: Buffer, off: number, len: number, canWait: boolean): void {
    const alpn: string[] = [];
    const r = parseClientHelloMessage(data, off, len, alpn);
    switch (r.kind) {
      case 'sni':
        flow.sni = r.name;
        this.names++;
        break;
      case 'malformed':
        this.errors.byLayer.tls++;
        break;
      case 'need-more':
        if (canWait) return;
        break;
      case 'no-sni':
      case 'not-tls':
        break;
    }
    if (alpn.length > 0) flow.alpn = alpn;
    this.finish(flow);
  }

  private finish(flow: Flow): void {
    flow.inspectBudget = 0;
    flow.app = null;
  }
}
