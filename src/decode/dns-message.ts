/**
 * DNS messages (RFC 1035 §4) as the DNS cache needs them: the question and the answer records,
 * with A/AAAA addresses, CNAME targets and HTTPS/SVCB hints in text form. Runs on rare packets and
 * allocates its result; never throws, and returns 'malformed' for anything it cannot trust.
 *
 * Why not dns-packet's decode: dns-packet 5.6.1 is loop-safe (it only follows pointers to earlier
 * data, see test/decode-app.test.ts), but it ignores RDLENGTH for A/AAAA/CNAME (an A record with
 * RDLENGTH 2 decodes as "1.2.undefined.undefined" and shifts every later record), does not know
 * SVCB/HTTPS, and fails the whole message when an additional record it does not like (an odd EDNS
 * option) follows perfectly good answers. A resolver-spoofing packet must not be able to make us
 * map the wrong address to a name, so the framing here checks every length against RDLENGTH and
 * the message, and the tests cross-check valid messages against dns-packet.
 */
import type { DnsAnswer } from '../dns/types';
import { formatV4, formatV6 } from '../net/address';
import { u16, u32 } from './bytes';
import { NameCursor, readName, skipName } from './dns-name';
import { svcbText } from './svcb';

export { svcbHints } from './svcb';

export interface DnsMessage {
  id: number;
  isResponse: boolean;
  /** First question's name (lowercase, no trailing dot), or null when there is no question. */
  qname: string | null;
  /** First question's type mnemonic (A, AAAA, HTTPS, TYPE<n> for unknown types), or null. */
  qtype: string | null;
  /** RCODE mnemonic, extended by the OPT record's upper bits when present (RFC 6891 §6.1.3). */
  rcode: string;
  /** Answer-section records of a standard query (opcode 0); empty for other opcodes. */
  answers: DnsAnswer[];
}

const TYPE_A = 1;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_SOA = 6;
const TYPE_PTR = 12;
const TYPE_MX = 15;
const TYPE_TXT = 16;
const TYPE_AAAA = 28;
const TYPE_SRV = 33;
const TYPE_DNAME = 39;
const TYPE_OPT = 41;
const TYPE_SVCB = 64;
const TYPE_HTTPS = 65;

/** IANA "Resource Record (RR) TYPEs" mnemonics; others print as TYPE<n> (RFC 3597 §5). */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [13, 'HINFO'], [15, 'MX'], [16, 'TXT'],
  [17, 'RP'], [18, 'AFSDB'], [25, 'KEY'], [28, 'AAAA'], [29, 'LOC'], [33, 'SRV'], [35, 'NAPTR'],
  [37, 'CERT'], [39, 'DNAME'], [41, 'OPT'], [43, 'DS'], [44, 'SSHFP'], [45, 'IPSECKEY'], [46, 'RRSIG'],
  [47, 'NSEC'], [48, 'DNSKEY'], [49, 'DHCID'], [50, 'NSEC3'], [51, 'NSEC3PARAM'], [52, 'TLSA'],
  [53, 'SMIMEA'], [59, 'CDS'], [60, 'CDNSKEY'], [61, 'OPENPGPKEY'], [62, 'CSYNC'], [63, 'ZONEMD'],
  [64, 'SVCB'], [65, 'HTTPS'], [99, 'SPF'], [108, 'EUI48'], [109, 'EUI64'], [249, 'TKEY'], [250, 'TSIG'],
  [251, 'IXFR'], [252, 'AXFR'], [255, 'ANY'], [256, 'URI'], [257, 'CAA'],
]);

/** IANA "DNS RCODEs"; 16 is BADVERS when it comes from OPT (the only way we see values > 15). */
const RCODE_NAMES: readonly string[] = [
  'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET',
  'NOTAUTH', 'NOTZONE', 'DSOTYPENI', 'RCODE12', 'RCODE13', 'RCODE14', 'RCODE15', 'BADVERS', 'BADKEY',
  'BADTIME', 'BADMODE', 'BADNAME', 'BADALG', 'BADTRUNC', 'BADCOOKIE',
];

export function dnsTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

/** Longest TXT / unknown-type text kept in an answer: enough to recognise, short enough to log. */
const MAX_DATA_TEXT = 256;

/**
 * Decodes the message in buf[off, off+len). `truncated` says the capture cut the datagram (the
 * caller knows: capturedLength < wireLength): the answers before the cut are then returned
 * instead of 'malformed', since a snaplen-cut packet is normal input. Without it, every record
 * the header counts must be present and well-formed.
 */
export function decodeDnsMessage(buf: Buffer, off: number, len: number, truncated = false): DnsMessage | 'malformed' {
  if (!(off >= 0) || !(len >= 0)) return 'malformed';
  const end = Math.min(off + len, buf.length);
  if (end - off < 12) return 'malformed';
  const base = off; // compression offsets count from the message start (RFC 1035 §4.1.4)
  const flags = u16(buf, off + 2);
  const opcode = (flags >> 11) & 0x0f;
  const qdcount = u16(buf, off + 4);
  const ancount = u16(buf, off + 6);
  const nscount = u16(buf, off + 8);
  const arcount = u16(buf, off + 10);
  const msg: DnsMessage = {
    id: u16(buf, off),
    isResponse: (flags & 0x8000) !== 0,
    qname: null,
    qtype: null,
    rcode: dnsRcodeName(flags & 0x0f),
    answers: [],
  };
  const cur = new NameCursor();
  let p = off + 12;

  for (let i = 0; i < qdcount; i++) {
    const name = readName(buf, base, end, p, cur);
    if (name === null || cur.next + 4 > end) return 'malformed';
    if (i === 0) {
      msg.qname = name;
      msg.qtype = dnsTypeName(u16(buf, cur.next));
    }
    p = cur.next + 4; // QTYPE, QCLASS
  }
  // Other opcodes (NOTIFY, UPDATE: RFC 1996, RFC 2136) reuse the sections for other purposes;
  // their "answers" are not resolutions.
  if (opcode !== 0) return msg;

  for (let i = 0; i < ancount; i++) {
    const next = readAnswer(buf, base, end, p, cur, msg.answers);
    if (next < 0) return truncated ? msg : 'malformed';
    p = next;
  }

  // Authority and additional sections: only framing, to find OPT's extended RCODE bits. A
  // snaplen-cut or odd tail here does not spoil answers already read, so it just ends the walk.
  for (let i = 0, n = nscount + arcount; i < n; i++) {
    const q = skipName(buf, end, p);
    if (q < 0 || q + 10 > end) break;
    const rdEnd = q + 10 + u16(buf, q + 8);
    if (rdEnd > end) break;
    if (i >= nscount && u16(buf, q) === TYPE_OPT) {
      const extended = buf[q + 4]; // upper 8 bits of the 12-bit RCODE, in OPT's TTL field
      if (extended !== 0) msg.rcode = dnsRcodeName((extended << 4) | (flags & 0x0f));
      break;
    }
    p = rdEnd;
  }
  return msg;
}

/** Reads one resource record at `p` into `answers`; returns the offset after it, or -1. */
function readAnswer(buf: Buffer, base: number, end: number, p: number, cur: NameCursor, answers: DnsAnswer[]): number {
  const name = readName(buf, base, end, p, cur);
  if (name === null) return -1;
  p = cur.next;
  if (p + 10 > end) return -1;
  const type = u16(buf, p);
  let ttl = u32(buf, p + 4);
  const rdStart = p + 10;
  const rdEnd = rdStart + u16(buf, p + 8);
  if (rdEnd > end) return -1;
  const data = rdataText(buf, base, type, rdStart, rdEnd, cur);
  if (data === null) return -1;
  // RFC 2181 §8: a TTL with the top bit set is treated as zero.
  if (ttl > 0x7fffffff) ttl = 0;
  answers.push({ name, type: dnsTypeName(type), data, ttl });
  return rdEnd;
}

/** The answer's data in short text form, or null when the RDATA is malformed for its type. */
function rdataText(buf: Buffer, base: number, type: number, rdStart: number, rdEnd: number, cur: NameCursor): string | null {
  const rdlen = rdEnd - rdStart;
  switch (type) {
    case TYPE_A:
      return rdlen === 4 ? formatV4(u32(buf, rdStart)) : null;
    case TYPE_AAAA: {
      if (rdlen !== 16) return null;
      const w = new Uint32Array(4);
      for (let k = 0; k < 4; k++) w[k] = u32(buf, rdStart + k * 4);
      return formatV6(w);
    }
    case TYPE_CNAME:
    case TYPE_NS:
    case TYPE_PTR:
    case TYPE_DNAME:
      return nameFilling(buf, base, rdStart, rdEnd, cur);
    case TYPE_MX: {
      if (rdlen < 3) return null;
      const exchange = nameFilling(buf, base, rdStart + 2, rdEnd, cur);
      return exchange === null ? null : `${u16(buf, rdStart)} ${exchange}`;
    }
    case TYPE_SRV: {
      // RFC 2782: priority, weight, port, target.
      if (rdlen < 7) return null;
      const target = nameFilling(buf, base, rdStart + 6, rdEnd, cur);
      return target === null ? null : `${u16(buf, rdStart)} ${u16(buf, rdStart + 2)} ${u16(buf, rdStart + 4)} ${target}`;
    }
    case TYPE_SOA: {
      const mname = readName(buf, base, rdEnd, rdStart, cur);
      if (mname === null) return null;
      const rname = readName(buf, base, rdEnd, cur.next, cur);
      if (rname === null || cur.next + 20 !== rdEnd) return null;
      return `${mname} ${rname} ${u32(buf, cur.next)}`;
    }
    case TYPE_TXT:
      return txtText(buf, rdStart, rdEnd);
    case TYPE_SVCB:
    case TYPE_HTTPS:
      return svcbText(buf, base, rdStart, rdEnd);
    default: {
      // RFC 3597 §5 generic form, shortened: "\# <length> <hex>".
      const shown = Math.min(rdlen, MAX_DATA_TEXT / 2);
      const hex = buf.toString('hex', rdStart, rdStart + shown);
      return `\\# ${rdlen}${rdlen > 0 ? ` ${hex}` : ''}${shown < rdlen ? '...' : ''}`;
    }
  }
}

/** A name that must occupy exactly the rest of the RDATA (RFC 1035 §3.3). */
function nameFilling(buf: Buffer, base: number, at: number, rdEnd: number, cur: NameCursor): string | null {
  // Compression pointers may refer to anything earlier in the message, but the name's own bytes
  // may not leave the RDATA: reading is bounded by rdEnd.
  const name = readName(buf, base, rdEnd, at, cur);
  return name !== null && cur.next === rdEnd ? name : null;
}

/** TXT RDATA: one or more <character-string>s (RFC 1035 §3.3.14), quoted, space-separated. */
function txtText(buf: Buffer, p: number, rdEnd: number): string | null {
  if (p >= rdEnd) return null;
  let text = '';
  while (p < rdEnd) {
    const l = buf[p];
    if (p + 1 + l > rdEnd) return null;
    if (text.length < MAX_DATA_TEXT) {
      if (text !== '') text += ' ';
      text += JSON.stringify(buf.toString('latin1', p + 1, p + 1 + l));
    }
    p += 1 + l;
  }
  return text.length > MAX_DATA_TEXT ? `${text.slice(0, MAX_DATA_TEXT)}...` : text;
}

/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): each message is preceded by a two-byte
 * length. Returns the complete messages in buf[off, off+len) as [offset, length] pairs and how
 * many bytes they used; the caller keeps the rest until more of the stream arrives.
 */
export function splitTcpDnsMessages(buf: Buffer, off: number, len: number): { messages: Array<[number, number]>; consumed: number } {
  const messages: Array<[number, number]> = [];
  if (!(off >= 0) || !(len >= 0)) return { messages, consumed: 0 };
  const end = Math.min(off + len, buf.length);
  let p = off;
  while (p + 2 <= end) {
    const mlen = u16(buf, p);
    if (p + 2 + mlen > end) break;
    // A zero length is not a message; it is passed on so the decoder counts it as malformed.
    messages.push([p + 2, mlen]);
    p += 2 + mlen;
  }
  return { messages, consumed: p - off };
}
