/**
 * Server Name Indication from a TLS ClientHello (RFC 8446 §4.1.2; TLS 1.0-1.2 share the layout,
 * RFC 5246 §7.4.1.2), for the first client payload of a TCP flow. Runs once per flow, so it may
 * allocate (a copy when the ClientHello spans records); it never throws.
 */
import { u16 } from './bytes';
import { hostnameString, isHostnameBytes } from './hostname';

export type SniResult =
  | { kind: 'sni'; name: string }
  | { kind: 'no-sni' }
  /** The bytes so far are a valid beginning; at least `needed` bytes (from `off`) are required. */
  | { kind: 'need-more'; needed: number }
  | { kind: 'not-tls' }
  | { kind: 'malformed' };

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0; // RFC 6066 §3
const EXT_ALPN = 16; // RFC 7301 §3.1
const NAME_TYPE_HOST_NAME = 0;
/** RFC 8446 §5.1 / RFC 5246 §6.2.1: a plaintext record fragment is at most 2^14 bytes. */
const MAX_RECORD = 16384;
/**
 * The largest ClientHello body the length fields allow: version 2 + random 32 + session id 1+32
 * + cipher suites 2+65534 + compression 1+255 + extensions 2+65535. Anything longer is not one.
 */
const MAX_CLIENT_HELLO = 2 + 32 + 33 + 65536 + 256 + 65537;

const NOT_TLS: SniResult = { kind: 'not-tls' };
const MALFORMED: SniResult = { kind: 'malformed' };
const NO_SNI: SniResult = { kind: 'no-sni' };

/** Outcomes of a bounds check while walking a possibly incomplete ClientHello. */
const FITS = 0;
const TRUNCATED = 1; // past the bytes we have, but within what the lengths declare
const OVERRUN = 2; // past what an enclosing length declares: the lengths lie

export function parseClientHelloSni(buf: Buffer, off: number, len: number): SniResult {
  if (!(off >= 0) || !(len >= 0)) return MALFORMED;
  const end = Math.min(off + len, buf.length);
  if (end - off <= 0) return { kind: 'need-more', needed: 5 };
  // Cheap rejections first: record type 22, record version 0x03xx, handshake type 1.
  if (buf[off] !== CONTENT_HANDSHAKE) return NOT_TLS;
  if (end - off >= 2 && buf[off + 1] !== 3) return NOT_TLS;
  if (end - off >= 6 && buf[off + 5] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;

  // Gather the handshake bytes from consecutive handshake records: a ClientHello may be split
  // over several records (RFC 8446 §5.1), and over TCP segments anywhere.
  const fragments: number[] = []; // [start, length] pairs of record bodies present
  let hsAvail = 0; // handshake bytes present
  let hsCarried = 0; // handshake bytes in the records whose headers we have seen (present or not)
  let hsLen = -1; // handshake body length once its 4-byte header is present
  let recEnd = 0; // end (relative to off) of the last record whose header we have seen
  let complete = false;
  let pos = off;
  for (;;) {
    if (end - pos < 5) break;
    if (buf[pos] !== CONTENT_HANDSHAKE || buf[pos + 1] !== 3) return MALFORMED; // no interleaving
    const rlen = u16(buf, pos + 3);
    if (rlen === 0 || rlen > MAX_RECORD) return MALFORMED; // RFC 8446 §5.1: no empty handshake records
    const take = Math.min(rlen, end - pos - 5);
    fragments.push(pos + 5, take);
    hsAvail += take;
    hsCarried += rlen;
    recEnd = pos + 5 + rlen - off;
    if (hsLen < 0 && hsAvail >= 4) {
      hsLen = (byteAt(buf, fragments, 1) << 16) | (byteAt(buf, fragments, 2) << 8) | byteAt(buf, fragments, 3);
      if (hsLen > MAX_CLIENT_HELLO) return MALFORMED;
    }
    if (hsLen >= 0 && hsAvail >= 4 + hsLen) {
      complete = true;
      break;
    }
    if (take < rlen) break;
    pos += 5 + rlen;
  }

  let needed = 0;
  if (!complete) {
    if (fragments.length === 0) needed = 5; // not even one record header yet
    else if (hsLen < 0) needed = recEnd + (hsCarried < 4 ? 5 + 4 - hsCarried : 0);
    else {
      const missing = 4 + hsLen - hsCarried; // bytes not covered by any record header seen
      needed = recEnd + (missing > 0 ? 5 + missing : 0);
    }
    if (hsLen < 0) return { kind: 'need-more', needed };
  }

  // One record: parse in place. Several: copy the handshake bytes into one buffer (rare).
  let b = buf;
  let start = fragments[0];
  if (fragments.length > 2) {
    b = Buffer.allocUnsafe(Math.min(hsAvail, 4 + hsLen));
    let w = 0;
    for (let i = 0; i < fragments.length && w < b.length; i += 2) {
      w += buf.copy(b, w, fragments[i], fragments[i] + Math.min(fragments[i + 1], b.length - w));
    }
    start = 0;
  }
  const bodyEnd = start + 4 + hsLen;
  const availEnd = start + Math.min(hsAvail, 4 + hsLen);
  const r = parseBody(b, start + 4, bodyEnd, availEnd);
  if (r !== null) return r;
  return complete ? MALFORMED : { kind: 'need-more', needed };
}

/**
 * The same answer for a bare handshake message, as QUIC carries it in CRYPTO frames (RFC 9001
 * §4: no TLS records): handshake type 1, a 24-bit length, the ClientHello body, from buf[off].
 * `alpn`, when given, receives the protocols the client offers (RFC 7301), in its order.
 */
export function parseClientHelloMessage(buf: Buffer, off: number, len: number, alpn: string[] | null = null): SniResult {
  if (!(off >= 0) || !(len >= 0)) return MALFORMED;
  const end = Math.min(off + len, buf.length);
  if (end - off <= 0) return { kind: 'need-more', needed: 4 };
  if (buf[off] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
  if (end - off < 4) return { kind: 'need-more', needed: 4 };
  const hsLen = (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  if (hsLen > MAX_CLIENT_HELLO) return MALFORMED;
  const bodyEnd = off + 4 + hsLen;
  const availEnd = Math.min(end, bodyEnd);
  const r = parseBody(buf, off + 4, bodyEnd, availEnd, alpn);
  if (r !== null) return r;
  return availEnd >= bodyEnd ? MALFORMED : { kind: 'need-more', needed: 4 + hsLen };
}

/** Byte `i` of the handshake stream made of the record bodies in `fragments`. */
function byteAt(buf: Buffer, fragments: number[], i: number): number {
  for (let k = 0; k < fragments.length; k += 2) {
    if (i < fragments[k + 1]) return buf[fragments[k] + i];
    i -= fragments[k + 1];
  }
  return 0;
}

/**
 * Walks the ClientHello body in b[p, bodyEnd), of which b[p, availEnd) is present. Returns the
 * result, or null when the present bytes end before it is known (need more, or malformed when
 * nothing more can come).
 */
function parseBody(b: Buffer, p: number, bodyEnd: number, availEnd: number, alpn: string[] | null = null): SniResult | null {
  const room = (at: number, n: number, limit: number): number =>
    at + n > limit ? OVERRUN : at + n > availEnd ? TRUNCATED : FITS;
  let c: number;

  // legacy_version (2) + random (32)
  if ((c = room(p, 35, bodyEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
  p += 34;
  const sidLen = b[p]; // legacy_session_id <0..32>
  if (sidLen > 32) return MALFORMED;
  p += 1 + sidLen;
  if ((c = room(p, 2, bodyEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
  const suitesLen = u16(b, p); // cipher_suites <2..2^16-2>, 2 bytes each
  if (suitesLen < 2 || (suitesLen & 1) !== 0) return MALFORMED;
  p += 2 + suitesLen;
  if ((c = room(p, 1, bodyEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
  const compLen = b[p]; // legacy_compression_methods <1..2^8-1>
  if (compLen < 1) return MALFORMED;
  p += 1 + compLen;
  if (p > bodyEnd) return MALFORMED;
  // Extensions are optional before TLS 1.3 (RFC 5246 §7.4.1.2): a hello may end here.
  if (p === bodyEnd) return NO_SNI;
  if ((c = room(p, 2, bodyEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
  const extEnd = p + 2 + u16(b, p);
  // The extension block fills the rest of the message exactly (RFC 8446 §4.1.2).
  if (extEnd !== bodyEnd) return MALFORMED;
  p += 2;

  let seenSni = false;
  // With `alpn`, the walk goes on past the SNI to collect ALPN; a problem after the SNI then
  // ends the walk with the SNI already found. Without it, the first SNI is the answer.
  let found: SniResult = NO_SNI;
  while (p < extEnd) {
    if ((c = room(p, 4, extEnd)) !== FITS) return found !== NO_SNI ? found : c === OVERRUN ? MALFORMED : null;
    const type = u16(b, p);
    const extLen = u16(b, p + 2);
    p += 4;
    if (p + extLen > extEnd) return found !== NO_SNI ? found : MALFORMED;
    if (type === EXT_SERVER_NAME) {
      // RFC 8446 §4.2: no extension type may appear twice.
      if (seenSni) return MALFORMED;
      seenSni = true;
      const r = parseServerName(b, p, p + extLen, room);
      if (r !== NO_SNI) {
        if (alpn === null || r === null || r.kind !== 'sni') return r;
        found = r;
      }
    } else if (type === EXT_ALPN && alpn !== null && p + extLen <= availEnd) {
      collectAlpn(b, p, p + extLen, alpn);
    }
    p += extLen;
  }
  return found;
}

/**
 * application_layer_protocol_negotiation extension_data (RFC 7301 §3.1): ProtocolNameList
 * <2..2^16-1> of ProtocolName <1..2^8-1>. Printable names only (IANA's are), at most 8.
 */
function collectAlpn(b: Buffer, p: number, extEnd: number, out: string[]): void {
  if (p + 2 > extEnd || p + 2 + u16(b, p) !== extEnd) return;
  p += 2;
  while (p < extEnd && out.length < 8) {
    const n = b[p]!;
    if (n === 0 || p + 1 + n > extEnd) return;
    let printable = true;
    for (let i = p + 1; i <= p + n; i++) if (b[i]! < 0x21 || b[i]! > 0x7e) printable = false;
    if (printable) out.push(b.toString('latin1', p + 1, p + 1 + n));
    p += 1 + n;
  }
}

/**
 * server_name extension_data (RFC 6066 §3): ServerNameList <1..2^16-1> of (name_type, opaque
 * HostName<1..2^16-1>). The first host_name is the answer; RFC 6066 allows one per type.
 */
function parseServerName(
  b: Buffer,
  p: number,
  extEnd: number,
  room: (at: number, n: number, limit: number) => number,
): SniResult | null {
  let c: number;
  if ((c = room(p, 2, extEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
  const listEnd = p + 2 + u16(b, p);
  if (listEnd !== extEnd || listEnd === p + 2) return MALFORMED;
  p += 2;
  while (p < listEnd) {
    if ((c = room(p, 3, listEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
    const nameType = b[p];
    const nameLen = u16(b, p + 1);
    p += 3;
    if ((c = room(p, nameLen, listEnd)) !== FITS) return c === OVERRUN ? MALFORMED : null;
    if (nameType === NAME_TYPE_HOST_NAME) {
      // HostName: ASCII, no trailing dot, no IP literal by the RFC (we tolerate IPv4 literals).
      if (!isHostnameBytes(b, p, nameLen)) return MALFORMED;
      return { kind: 'sni', name: hostnameString(b, p, nameLen) };
    }
    p += nameLen;
  }
  return NO_SNI;
}
