/**
 * Names for QUIC flows: the SNI (and ALPN) of the TLS ClientHello a client carries in the CRYPTO
 * frames of its Initial packets (RFC 9001 §4). A ClientHello may span several Initial packets,
 * coalesced in one datagram (RFC 9000 §12.2) or in separate datagrams, and clients split and
 * reorder CRYPTO frames on purpose, so the bytes are put back together by stream offset.
 *
 * Cost: this runs only for the first few packets of a new UDP flow. A datagram that does not
 * start with a v1/v2 Initial long header ends the inspection after one byte test and one 32-bit
 * read, so other UDP traffic pays that once per flow. A QUIC flow pays one key derivation and
 * the decryption of what is read (quic-initial.ts): when the first Initial carries the whole
 * ClientHello, as most do, about 8 us of CPU (bench/quic-bench.ts prints it) and no per-flow
 * state; a flow whose ClientHello spans Initials keeps keys and CRYPTO bytes until it is whole.
 */
import { deriveClientKeyWords, FrameWalk, InitialReader, LongPacketType, looksLikeInitial, parseLongHeader, type LongHeader } from '../decode/quic-initial';
import { KEY_WORDS } from '../decode/quic-keys';
import { parseClientHelloMessage, type SniResult } from '../decode/tls-client-hello';
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
/** RFC 9000 §17.2: connection IDs of at most 20 bytes (parseLongHeader enforces it). */
const MAX_CID = 20;

/** Outcomes of reading one Initial with a set of keys. */
const enum Read {
  /** Not these keys, or not QUIC: a frame an Initial may not carry, a length past the end. */
  Failed = 0,
  /** A whole ClientHello at stream offset 0 parsed (QuicInspector.hello); the rest not read. */
  Hello = 1,
  /** Every frame read and well formed; the CRYPTO frames are in QuicInspector.frames. */
  Frames = 2,
}

/**
 * Per-flow state while a ClientHello is incomplete: the Initial keys (derived once) and the
 * CRYPTO stream bytes received so far, with the ranges that are filled.
 */
export class QuicHandshake {
  /**
   * The Initial keys (layout of quic-keys.ts), valid when keysVersion is not 0: from the DCID of
   * the client's first Initial (RFC 9001 §5.2), keysDcid[0, keysDcidLength).
   */
  readonly keys = new Int32Array(KEY_WORDS);
  keysVersion = 0;
  readonly keysDcid = Buffer.allocUnsafe(MAX_CID);
  keysDcidLength = 0;
  decrypts = 0;
  /** The CRYPTO stream from offset 0; only the bytes in `ranges` are meaningful. */
  data: Buffer | null = null;
  /** Filled byte ranges of the CRYPTO stream: [start, end) pairs, sorted, disjoint, not adjacent. */
  readonly ranges: number[] = [];

  /** Back to new, for another flow (the inspector keeps one spare). */
  reset(): void {
    this.keysVersion = 0;
    this.keysDcidLength = 0;
    this.decrypts = 0;
    this.data = null;
    this.ranges.length = 0;
  }

  /** Whether buf[off, off + len) is the connection ID the keys came from. */
  keysFrom(buf: Buffer, off: number, len: number): boolean {
    if (len !== this.keysDcidLength) return false;
    for (let i = 0; i < len; i++) if (buf[off + i] !== this.keysDcid[i]) return false;
    return true;
  }

  /** Copies CRYPTO data for stream offset `at`; bytes past MAX_CRYPTO_BYTES are dropped. */
  add(src: Buffer, off: number, len: number, at: number): void {
    if (len <= 0 || at >= MAX_CRYPTO_BYTES) return;
    const end = Math.min(at + len, MAX_CRYPTO_BYTES);
    if (!this.data || this.data.length < end) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_CRYPTO_BYTES, Math.max(end, 2 * (this.data?.length ?? 0), 2048)));
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
    // The first range that ends at or after `start`, then those that start at or before `end`:
    // they merge with [start, end) into one (touching ranges too).
    let i = 0;
    while (i < r.length && r[i + 1]! < start) i += 2;
    let j = i;
    let s = start;
    let e = end;
    while (j < r.length && r[j]! <= e) {
      s = Math.min(s, r[j]!);
      e = Math.max(e, r[j + 1]!);
      j += 2;
    }
    if (j === i) r.splice(i, 0, s, e);
    else {
      r[i] = s;
      r[i + 1] = e;
      if (j > i + 2) r.splice(i + 2, j - i - 2);
    }
  }
}

/** A handshake message of type ClientHello (1) whose 24-bit length fits in data[off, off + len). */
function isWholeHello(data: Buffer, off: number, len: number): boolean {
  return len >= 4 && data[off] === 1 && 4 + ((data[off + 1]! << 16) | (data[off + 2]! << 8) | data[off + 3]!) <= len;
}

export interface QuicInspectorStats {
  /** Client Initial packets opened (decrypted, and their frames or ClientHello well formed). */
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
  private readonly reader = new InitialReader();
  /** Keys from a later DCID (after a Retry), tried before they replace the flow's. */
  private readonly otherKeys = new Int32Array(KEY_WORDS);
  /**
   * Handshake state for a flow that has none yet. Most QUIC flows are done with their first
   * datagram, so this one is reused; a flow that must wait for more keeps it, and a new spare
   * is made.
   */
  private spare = new QuicHandshake();
  /** After Read.Hello: the parse result and the ALPN protocols. */
  private hello: SniResult | null = null;
  private helloAlpn: string[] = [];

  constructor(private readonly errors: DecodeErrorCounts) {}

  inspect(flow: Flow, pkt: DecodedPacket, fromA: boolean): void {
    flow.inspectBudget--;
    const state = flow.app?.quic ?? null;
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
    // The flow's state, or the spare until the flow turns out to need one of its own.
    let st = state;
    if (st === null) {
      st = this.spare;
      st.reset();
    }
    let p = off;
    for (let n = 0; n < MAX_COALESCED && p < end; n++) {
      const h = parseLongHeader(buf, p, end);
      if (h === null) break; // padding after the last packet, or a short header (RFC 9000 §12.2)
      if (h === 'truncated') {
        if (!truncated) this.errors.byLayer.quic++;
        break;
      }
      p = h.end;
      if (h.type !== LongPacketType.Initial || st.decrypts >= QUIC_DECRYPT_BUDGET) continue;
      const read = this.open(buf, h, st);
      if (read === Read.Failed) {
        this.errors.byLayer.quic++;
        continue;
      }
      this.initialsOpened++;
      flow.appProtocol = 'quic';
      if (read === Read.Hello) {
        this.useResult(flow, this.hello!, this.helloAlpn);
        return;
      }
      const frames = this.frames;
      const plain = this.reader.plain;
      // One CRYPTO frame at offset 0 with the whole ClientHello that did not parse: the answer
      // is in place (malformed, not TLS), as when it parses.
      if (st.ranges.length === 0 && frames.length === 3 && frames[0] === 0 && isWholeHello(plain, frames[1]!, frames[2]!)) {
        this.useClientHello(flow, plain, frames[1]!, frames[2]!, false);
        return;
      }
      for (let i = 0; i < frames.length; i += 3) st.add(plain, frames[i + 1]!, frames[i + 2]!, frames[i]!);
    }
    if (st === this.spare) this.spare = new QuicHandshake();
    if (flow.app === null) flow.app = { clientBytes: null, clientNextSeq: 0, dnsBytes: null, dnsNextSeq: 0, quic: st };
    else flow.app.quic = st;
    this.tryClientHello(flow, st);
  }

  stats(): QuicInspectorStats {
    return { initialsOpened: this.initialsOpened, names: this.names };
  }

  /**
   * Reads an Initial with the flow's keys. The keys come from the DCID of the client's first
   * Initial (RFC 9001 §5.2) and stay when the client switches to the server's connection ID;
   * after a Retry they come from the new DCID (RFC 9001 §5.2, RFC 9000 §17.2.5.2), so a packet
   * the old keys do not open gets one more try with keys from its own DCID.
   */
  private open(buf: Buffer, h: LongHeader, st: QuicHandshake): Read {
    const haveKeys = st.keysVersion === h.version;
    if (haveKeys) {
      st.decrypts++;
      const read = this.read(buf, h, st.keys);
      if (read !== Read.Failed || st.keysFrom(buf, h.dcidOffset, h.dcidLength)) return read;
    }
    if (st.decrypts >= QUIC_DECRYPT_BUDGET) return Read.Failed;
    // Keys from this packet's DCID: straight into the state when it has none yet.
    const first = st.keysVersion === 0;
    const keys = first ? st.keys : this.otherKeys;
    if (!deriveClientKeyWords(h.version, buf, h.dcidOffset, h.dcidLength, keys)) return Read.Failed;
    st.decrypts++;
    const read = this.read(buf, h, keys);
    if (read !== Read.Failed || first) {
      if (!first) st.keys.set(keys);
      st.keysVersion = h.version;
      buf.copy(st.keysDcid, 0, h.dcidOffset, h.dcidOffset + h.dcidLength);
      st.keysDcidLength = h.dcidLength;
    }
    return read;
  }

  /**
   * Decrypts and walks the packet's frames. A CRYPTO frame at stream offset 0 that holds a whole
   * ClientHello which parses ends the read there: the rest of the packet (PADDING, mostly) is
   * never decrypted. Garbage from other keys gets that far with a probability below 2^-40 (a
   * CRYPTO frame type, offset 0, handshake type 1, a 24-bit length that fits, then every length
   * inside the ClientHello consistent); anything else is read to the end, every frame checked.
   */
  private read(buf: Buffer, h: LongHeader, keys: Int32Array): Read {
    const r = this.reader;
    if (!r.begin(buf, h, keys, 0)) return Read.Failed;
    const frames = this.frames;
    frames.length = 0;
    for (;;) {
      const walk = r.next();
      if (walk === FrameWalk.End) return Read.Frames;
      if (walk === FrameWalk.Malformed) return Read.Failed;
      const offset = r.cryptoOffset;
      const start = r.cryptoStart;
      const length = r.cryptoLength;
      if (offset === 0 && length >= 4) {
        r.reveal(start + 4);
        if (isWholeHello(r.plain, start, length)) {
          r.revealClientHello(start, length);
          const alpn: string[] = [];
          const hello = parseClientHelloMessage(r.plain, start, length, alpn);
          if (hello.kind === 'sni' || hello.kind === 'no-sni') {
            this.hello = hello;
            this.helloAlpn = alpn;
            return Read.Hello;
          }
        }
      }
      r.reveal(start + length);
      frames.push(offset, start, length);
    }
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
    if (r.kind === 'need-more' && canWait) return;
    this.useResult(flow, r, alpn);
  }

  private useResult(flow: Flow, r: SniResult, alpn: string[]): void {
    switch (r.kind) {
      case 'sni':
        flow.sni = r.name;
        this.names++;
        break;
      case 'malformed':
        // Without a tag check, a ClientHello that does not parse is as likely a packet damaged
        // on the way (or other keys' garbage) as a client's mistake: the Initial did not decode,
        // counted where a failed tag check was.
        this.errors.byLayer.quic++;
        break;
      case 'need-more':
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
