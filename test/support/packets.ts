/**
 * Frame and packet builders for tests, the demo and the benchmark. Every builder returns a fresh
 * Buffer with correct lengths and checksums, so Wireshark/tshark reads the result without
 * checksum or malformed-packet warnings. Hostile tests get explicit overrides (totalLength, ihl,
 * payloadLength) instead of hand-patching bytes.
 */
import { createCipheriv, createHash } from 'node:crypto';
import * as dnsPacket from 'dns-packet';
import { deriveInitialKeys, headerProtectionMask, packetNonce, QUIC_V1, QUIC_V2 } from '../../src/decode/quic-initial';
import { isV4Mapped, parseAddress, parseMac } from '../../src/net/address';

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q C-tag
export const ETHERTYPE_QINQ = 0x88a8; // IEEE 802.1ad S-tag
export const ETHERTYPE_IPV6 = 0x86dd;

/** BSD address families as written by the null/loop link layers (values from the BSD headers). */
export const AF_INET = 2;
/** OpenBSD/NetBSD value; Wireshark also accepts FreeBSD's 28 and Darwin's 30. */
export const AF_INET6 = 24;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_DSTOPTS = 60;

/** Linux sll_pkttype values (linux/if_packet.h). */
export const PACKET_HOST = 0;
export const PACKET_OUTGOING = 4;

// ---------------------------------------------------------------------------------------------
// Address and checksum helpers
// ---------------------------------------------------------------------------------------------

/** 4 bytes for an IPv4 address string, 16 for IPv6; throws on anything else. */
export function addressBytes(text: string): Buffer {
  const w = parseAddress(text);
  if (!w) throw new Error(`not an IP address: ${text}`);
  if (isV4Mapped(w) && !text.includes(':')) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(w[3]!, 0);
    return b;
  }
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(w[i]!, i * 4);
  return b;
}

export function isIpv6Text(text: string): boolean {
  return text.includes(':');
}

export function macBytes(text: string): Buffer {
  const m = parseMac(text);
  if (m === null) throw new Error(`not a MAC address: ${text}`);
  const b = Buffer.alloc(6);
  b.writeUIntBE(m, 0, 6);
  return b;
}

/** RFC 1071 one's-complement sum over the concatenation of `parts`, folded and complemented. */
export function internetChecksum(parts: readonly Buffer[]): number {
  let sum = 0;
  let odd = false;
  let carry = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) {
      // Bytes at even positions of the logical stream are the high octet of a 16-bit word,
      // even when a part ends on an odd boundary.
      if (!odd) carry = p[i]! << 8;
      else sum += carry | p[i]!;
      odd = !odd;
    }
    if (sum > 0xffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (odd) sum += carry;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Pseudo-header for transport checksums: RFC 793 §3.1 (IPv4) and RFC 8200 §8.1 (IPv6). */
function pseudoHeader(src: string, dst: string, protocol: number, length: number): Buffer {
  const s = addressBytes(src);
  const d = addressBytes(dst);
  if (s.length !== d.length) throw new Error(`address families differ: ${src} / ${dst}`);
  if (s.length === 4) {
    const p = Buffer.alloc(12);
    s.copy(p, 0);
    d.copy(p, 4);
    p[9] = protocol;
    p.writeUInt16BE(length, 10);
    return p;
  }
  const p = Buffer.alloc(40);
  s.copy(p, 0);
  d.copy(p, 16);
  p.writeUInt32BE(length, 32);
  p[39] = protocol;
  return p;
}

// ---------------------------------------------------------------------------------------------
// Link layers
// ---------------------------------------------------------------------------------------------

export function ethernet(o: {
  src: string;
  dst: string;
  etherType: number;
  payload: Buffer;
  vlans?: number[];
  qinq?: boolean;
}): Buffer {
  const vlans = o.vlans ?? [];
  const head = Buffer.alloc(14 + vlans.length * 4);
  macBytes(o.dst).copy(head, 0);
  macBytes(o.src).copy(head, 6);
  let off = 12;
  vlans.forEach((vid, i) => {
    // IEEE 802.1ad puts the S-tag (0x88a8) outside the C-tag (0x8100).
    head.writeUInt16BE(i === 0 && o.qinq ? ETHERTYPE_QINQ : ETHERTYPE_VLAN, off);
    head.writeUInt16BE(vid & 0x0fff, off + 2); // PCP 0, DEI 0
    off += 4;
  });
  head.writeUInt16BE(o.etherType, off);
  return Buffer.concat([head, o.payload]);
}

/** Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 16-byte header). */
export function sll(o: { etherType: number; payload: Buffer; srcMac?: string; packetType?: number }): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(o.packetType ?? PACKET_HOST, 0);
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  macBytes(o.srcMac ?? '02:00:00:00:00:10').copy(h, 6);
  h.writeUInt16BE(o.etherType, 14);
  return Buffer.concat([h, o.payload]);
}

/** Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 20-byte header). */
export function sll2(o: {
  etherType: number;
  payload: Buffer;
  srcMac?: string;
  ifIndex?: number;
  packetType?: number;
}): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(o.etherType, 0);
  h.writeUInt32BE(o.ifIndex ?? 2, 4);
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[10] = o.packetType ?? PACKET_HOST;
  h[11] = 6;
  macBytes(o.srcMac ?? '02:00:00:00:00:10').copy(h, 12);
  return Buffer.concat([h, o.payload]);
}

/** BSD loopback: LINKTYPE_NULL stores the family in host order (LE here), LINKTYPE_LOOP in BE. */
export function nullLoopback(o: { family: number; payload: Buffer; bigEndian?: boolean }): Buffer {
  const h = Buffer.alloc(4);
  if (o.bigEndian) h.writeUInt32BE(o.family, 0);
  else h.writeUInt32LE(o.family, 0);
  return Buffer.concat([h, o.payload]);
}

// ---------------------------------------------------------------------------------------------
// IP
// ---------------------------------------------------------------------------------------------

export function ipv4(o: {
  src: string;
  dst: string;
  protocol: number;
  payload: Buffer;
  ttl?: number;
  id?: number;
  options?: Buffer;
  fragmentOffset?: number;
  moreFragments?: boolean;
  dontFragment?: boolean;
  totalLength?: number;
  ihl?: number;
}): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  // RFC 791: options end on a 32-bit boundary; pad with End-of-Option-List (0).
  const optLen = Math.ceil(opts.length / 4) * 4;
  const hlen = 20 + optLen;
  const h = Buffer.alloc(hlen);
  const ihl = o.ihl ?? hlen / 4;
  h[0] = 0x40 | (ihl & 0x0f);
  h[1] = 0;
  h.writeUInt16BE((o.totalLength ?? hlen + o.payload.length) & 0xffff, 2);
  h.writeUInt16BE((o.id ?? 0) & 0xffff, 4);
  const fragOff = o.fragmentOffset ?? 0;
  if (fragOff % 8 !== 0) throw new Error('IPv4 fragment offset must be a multiple of 8 bytes');
  let ff = (fragOff / 8) & 0x1fff;
  if (o.moreFragments) ff |= 0x2000;
  if (o.dontFragment) ff |= 0x4000;
  h.writeUInt16BE(ff, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.protocol;
  addressBytes(o.src).copy(h, 12);
  addressBytes(o.dst).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(internetChecksum([h]), 10);
  return Buffer.concat([h, o.payload]);
}

/**
 * Splits an already-built transport datagram into IPv4 fragments of at most `maxData` payload
 * bytes (rounded down to a multiple of 8, RFC 791). The first fragment carries the transport
 * header; later ones carry none.
 */
export function ipv4Fragments(
  o: { src: string; dst: string; protocol: number; payload: Buffer; id: number; ttl?: number },
  maxData: number,
): Buffer[] {
  const step = Math.floor(maxData / 8) * 8;
  if (step <= 0) throw new Error('fragment size too small');
  const out: Buffer[] = [];
  for (let off = 0; off < o.payload.length; off += step) {
    const end = Math.min(off + step, o.payload.length);
    out.push(
      ipv4({
        src: o.src,
        dst: o.dst,
        protocol: o.protocol,
        id: o.id,
        ttl: o.ttl,
        payload: o.payload.subarray(off, end),
        fragmentOffset: off,
        moreFragments: end < o.payload.length,
      }),
    );
  }
  return out;
}

/** An IPv6 fragment extension header (RFC 8200 §4.5): offset in bytes (multiple of 8). */
export function ipv6FragmentHeader(offsetBytes: number, more: boolean, id: number): { type: 44; data: Buffer } {
  if (offsetBytes % 8 !== 0) throw new Error('IPv6 fragment offset must be a multiple of 8 bytes');
  const data = Buffer.alloc(6);
  data.writeUInt16BE(((offsetBytes / 8) << 3) | (more ? 1 : 0), 0);
  data.writeUInt32BE(id >>> 0, 2);
  return { type: 44, data };
}

/**
 * One extension header. Hop-by-hop and destination options are padded with Pad1/PadN options
 * (RFC 8200 §4.2) so the padding itself is well-formed; routing data is zero-padded.
 */
function ipv6Extension(type: number, next: number, data: Buffer): Buffer {
  if (type === IPPROTO_FRAGMENT) {
    if (data.length !== 6) throw new Error('fragment header data must be 6 bytes');
    const h = Buffer.alloc(8);
    h[0] = next;
    data.copy(h, 2);
    return h;
  }
  const total = Math.max(8, Math.ceil((2 + data.length) / 8) * 8);
  const h = Buffer.alloc(total);
  h[0] = next;
  h[1] = total / 8 - 1; // Hdr Ext Len: 8-octet units, not counting the first 8 octets
  data.copy(h, 2);
  const pad = total - 2 - data.length;
  if (pad > 0 && (type === IPPROTO_HOPOPTS || type === IPPROTO_DSTOPTS)) {
    const at = 2 + data.length;
    if (pad === 1) h[at] = 0; // Pad1
    else {
      h[at] = 1; // PadN
      h[at + 1] = pad - 2;
    }
  }
  return h;
}

export function ipv6(o: {
  src: string;
  dst: string;
  nextHeader: number;
  payload: Buffer;
  hopLimit?: number;
  extensions?: Array<{ type: number; data: Buffer }>;
  payloadLength?: number;
}): Buffer {
  const exts = o.extensions ?? [];
  const extBufs = exts.map((e, i) => ipv6Extension(e.type, i + 1 < exts.length ? exts[i + 1]!.type : o.nextHeader, e.data));
  const body = Buffer.concat([...extBufs, o.payload]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0); // version 6, traffic class 0, flow label 0
  h.writeUInt16BE((o.payloadLength ?? body.length) & 0xffff, 4);
  h[6] = exts.length > 0 ? exts[0]!.type : o.nextHeader;
  h[7] = o.hopLimit ?? 64;
  const s = addressBytes(o.src);
  const d = addressBytes(o.dst);
  if (s.length !== 16 || d.length !== 16) throw new Error('ipv6() needs IPv6 addresses');
  s.copy(h, 8);
  d.copy(h, 24);
  return Buffer.concat([h, body]);
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

const TCP_FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20 };

/** Letters from 'FSRPAU' to the TCP flags byte (RFC 793 §3.1). */
export function tcpFlagBits(flags: string): number {
  let bits = 0;
  for (const c of flags.toUpperCase()) {
    const b = TCP_FLAG_BITS[c];
    if (b === undefined) throw new Error(`unknown TCP flag letter '${c}' in '${flags}'`);
    bits |= b;
  }
  return bits;
}

export function tcp(o: {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  flags: string;
  payload?: Buffer;
  window?: number;
  options?: Buffer;
}): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const opts = o.options ?? Buffer.alloc(0);
  const optLen = Math.ceil(opts.length / 4) * 4; // RFC 793: zero (EOL) padding to 32 bits
  const hlen = 20 + optLen;
  const seg = Buffer.alloc(hlen + payload.length);
  seg.writeUInt16BE(o.srcPort, 0);
  seg.writeUInt16BE(o.dstPort, 2);
  seg.writeUInt32BE((o.seq ?? 0) >>> 0, 4);
  const flags = tcpFlagBits(o.flags);
  // Written as given even without ACK, so hostile tests can set it; RFC 9293 §3.1 says senders
  // leave it zero then, and Wireshark warns about a non-zero one.
  seg.writeUInt32BE((o.ack ?? 0) >>> 0, 8);
  seg[12] = (hlen / 4) << 4;
  seg[13] = flags;
  seg.writeUInt16BE(o.window ?? 64240, 14);
  opts.copy(seg, 20);
  payload.copy(seg, hlen);
  seg.writeUInt16BE(internetChecksum([pseudoHeader(o.src, o.dst, IPPROTO_TCP, seg.length), seg]), 16);
  return seg;
}

/** TCP options for a SYN as modern stacks send them: MSS, SACK-permitted, timestamps, window scale. */
export function tcpSynOptions(mss = 1460): Buffer {
  const b = Buffer.alloc(20);
  b[0] = 2;
  b[1] = 4;
  b.writeUInt16BE(mss, 2); // MSS (RFC 793)
  b[4] = 4;
  b[5] = 2; // SACK permitted (RFC 2018)
  b[6] = 8;
  b[7] = 10; // timestamps (RFC 7323), values left zero
  b[16] = 1; // NOP
  b[17] = 3;
  b[18] = 3;
  b[19] = 7; // window scale 7 (RFC 7323)
  return b;
}

export function udp(o: { src: string; dst: string; srcPort: number; dstPort: number; payload: Buffer }): Buffer {
  const d = Buffer.alloc(8 + o.payload.length);
  d.writeUInt16BE(o.srcPort, 0);
  d.writeUInt16BE(o.dstPort, 2);
  d.writeUInt16BE(d.length, 4);
  o.payload.copy(d, 8);
  const c = internetChecksum([pseudoHeader(o.src, o.dst, IPPROTO_UDP, d.length), d]);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  d.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return d;
}

/** ICMP echo request (type 8) or reply (type 0), RFC 792. */
export function icmpEcho(o: { type?: number; code?: number; id: number; seq: number; payload?: Buffer }): Buffer {
  const payload = o.payload ?? Buffer.from('geowarden-ping-0123456789abcdef');
  const m = Buffer.alloc(8 + payload.length);
  m[0] = o.type ?? 8;
  m[1] = o.code ?? 0;
  m.writeUInt16BE(o.id & 0xffff, 4);
  m.writeUInt16BE(o.seq & 0xffff, 6);
  payload.copy(m, 8);
  m.writeUInt16BE(internetChecksum([m]), 2);
  return m;
}

/** ICMPv6 echo request (128) or reply (129), RFC 4443; checksum covers the pseudo-header. */
export function icmpv6Echo(o: { src: string; dst: string; type?: number; id: number; seq: number; payload?: Buffer }): Buffer {
  const payload = o.payload ?? Buffer.from('geowarden-ping6-0123456789abcdef');
  const m = Buffer.alloc(8 + payload.length);
  m[0] = o.type ?? 128;
  m[1] = 0;
  m.writeUInt16BE(o.id & 0xffff, 4);
  m.writeUInt16BE(o.seq & 0xffff, 6);
  payload.copy(m, 8);
  m.writeUInt16BE(internetChecksum([pseudoHeader(o.src, o.dst, IPPROTO_ICMPV6, m.length), m]), 2);
  return m;
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

export interface SvcbData {
  priority: number;
  target: string;
  ipv4hint?: string[];
  ipv6hint?: string[];
  alpn?: string[];
}

export interface DnsAnswerSpec {
  name: string;
  type: 'A' | 'AAAA' | 'CNAME' | 'HTTPS' | 'SVCB' | 'TXT';
  ttl: number;
  data: string | SvcbData;
}

/** RR type numbers dns-packet does not know (RFC 9460 §14.1). */
const DNS_TYPE_NUMBERS: Record<string, number> = { SVCB: 64, HTTPS: 65 };

function dnsTypeName(type: string): string {
  const n = DNS_TYPE_NUMBERS[type.toUpperCase()];
  // dns-packet accepts UNKNOWN_<n> for types it has no name for and then takes raw RDATA.
  return n === undefined ? type.toUpperCase() : `UNKNOWN_${n}`;
}

/** Uncompressed wire-format name (RFC 1035 §3.1); RFC 9460 §2.2 forbids compressing TargetName. */
function dnsWireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'ascii');
    if (b.length > 63) throw new Error(`DNS label too long: ${l}`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** SVCB/HTTPS RDATA, RFC 9460 §2.2: priority, target, SvcParams in ascending key order. */
export function svcbRdata(d: SvcbData): Buffer {
  const params: Array<[number, Buffer]> = [];
  if (d.alpn && d.alpn.length > 0) {
    // key 1 "alpn": a list of length-prefixed protocol ids (RFC 9460 §7.1.1)
    params.push([1, Buffer.concat(d.alpn.map((a) => Buffer.concat([Buffer.from([Buffer.byteLength(a)]), Buffer.from(a)])))]);
  }
  if (d.ipv4hint && d.ipv4hint.length > 0) params.push([4, Buffer.concat(d.ipv4hint.map(addressBytes))]);
  if (d.ipv6hint && d.ipv6hint.length > 0) params.push([6, Buffer.concat(d.ipv6hint.map(addressBytes))]);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(d.priority, 0);
  const parts: Buffer[] = [head, dnsWireName(d.target)];
  for (const [key, value] of params) {
    const kl = Buffer.alloc(4);
    kl.writeUInt16BE(key, 0);
    kl.writeUInt16BE(value.length, 2);
    parts.push(kl, value);
  }
  return Buffer.concat(parts);
}

const RCODES: Record<string, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

export function dnsQuery(o: { id: number; name: string; type?: string }): Buffer {
  const q = {
    type: 'query',
    id: o.id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name: o.name, type: dnsTypeName(o.type ?? 'A'), class: 'IN' }],
  } as unknown as dnsPacket.Packet;
  return dnsPacket.encode(q);
}

export function dnsResponse(o: {
  id: number;
  question: { name: string; type: string };
  answers: DnsAnswerSpec[];
  rcode?: string;
}): Buffer {
  const rcodeName = (o.rcode ?? 'NOERROR').toUpperCase();
  const rcode = RCODES[rcodeName];
  if (rcode === undefined) throw new Error(`unknown rcode ${o.rcode}`);
  const answers = o.answers.map((a) => {
    let data: string | Buffer;
    if (a.type === 'HTTPS' || a.type === 'SVCB') {
      data = svcbRdata(typeof a.data === 'string' ? { priority: 1, target: a.data } : a.data);
    } else {
      if (typeof a.data !== 'string') throw new Error(`${a.type} answer needs string data`);
      data = a.data;
    }
    return { name: a.name, type: dnsTypeName(a.type), class: 'IN', ttl: a.ttl, data };
  });
  const p = {
    type: 'response',
    id: o.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: [{ name: o.question.name, type: dnsTypeName(o.question.type), class: 'IN' }],
    answers,
  } as unknown as dnsPacket.Packet;
  return dnsPacket.encode(p);
}

/** DNS over TCP: each message preceded by a two-byte length (RFC 1035 §4.2.2, RFC 7766). */
export function dnsOverTcp(messages: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const l = Buffer.alloc(2);
    l.writeUInt16BE(m.length, 0);
    parts.push(l, m);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function tlsExtension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/**
 * A TLS 1.3 ClientHello (RFC 8446 §4.1.2) inside one TLS record with the legacy 0x0301 record
 * version, as browsers send it. Random, session id and key share are derived from the SNI so the
 * output is deterministic. `padTo` sets the total size in bytes (record header included) using the
 * padding extension (RFC 7685); the result is exact when padTo >= the unpadded size + 4.
 */
export function tlsClientHello(o: { sni?: string; alpn?: string[]; padTo?: number }): Buffer {
  const seed = createHash('sha256').update(`geowarden:${o.sni ?? ''}`).digest();
  const random = seed;
  const sessionId = createHash('sha256').update(seed).digest();
  const keyShare = createHash('sha256').update(sessionId).digest();

  const exts: Buffer[] = [];
  if (o.sni !== undefined) {
    const host = Buffer.from(o.sni, 'ascii');
    // server_name (RFC 6066 §3): list of (type 0 host_name, length, name)
    const entry = Buffer.concat([Buffer.from([0]), u16(host.length), host]);
    exts.push(tlsExtension(0, Buffer.concat([u16(entry.length), entry])));
  }
  exts.push(tlsExtension(23, Buffer.alloc(0))); // extended_master_secret (RFC 7627)
  exts.push(tlsExtension(65281, Buffer.from([0]))); // renegotiation_info (RFC 5746)
  const groups = Buffer.from([0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]); // x25519, P-256, P-384
  exts.push(tlsExtension(10, Buffer.concat([u16(groups.length), groups]))); // supported_groups
  exts.push(tlsExtension(11, Buffer.from([1, 0]))); // ec_point_formats: uncompressed
  exts.push(tlsExtension(35, Buffer.alloc(0))); // session_ticket (RFC 5077)
  if (o.alpn && o.alpn.length > 0) {
    const list = Buffer.concat(o.alpn.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)])));
    exts.push(tlsExtension(16, Buffer.concat([u16(list.length), list]))); // ALPN (RFC 7301)
  }
  exts.push(tlsExtension(5, Buffer.from([1, 0, 0, 0, 0]))); // status_request: OCSP
  const sigs = Buffer.from([0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01]);
  exts.push(tlsExtension(13, Buffer.concat([u16(sigs.length), sigs]))); // signature_algorithms
  exts.push(tlsExtension(18, Buffer.alloc(0))); // signed_certificate_timestamp (RFC 6962)
  // key_share (RFC 8446 §4.2.8): one x25519 share of 32 bytes
  const share = Buffer.concat([u16(0x001d), u16(32), keyShare]);
  exts.push(tlsExtension(51, Buffer.concat([u16(share.length), share])));
  exts.push(tlsExtension(45, Buffer.from([1, 1]))); // psk_key_exchange_modes: psk_dhe_ke
  exts.push(tlsExtension(43, Buffer.from([4, 0x03, 0x04, 0x03, 0x03]))); // supported_versions 1.3, 1.2

  const suites = Buffer.from([
    0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8,
    0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35,
  ]);
  const build = (extensions: Buffer[]): Buffer => {
    const extBlock = Buffer.concat(extensions);
    const body = Buffer.concat([
      u16(0x0303), // legacy_version TLS 1.2
      random,
      Buffer.from([sessionId.length]),
      sessionId,
      u16(suites.length),
      suites,
      Buffer.from([1, 0]), // compression: null only
      u16(extBlock.length),
      extBlock,
    ]);
    const hs = Buffer.alloc(4);
    hs[0] = 1; // client_hello
    hs.writeUIntBE(body.length, 1, 3);
    const msg = Buffer.concat([hs, body]);
    const rec = Buffer.alloc(5);
    rec[0] = 22; // handshake
    rec.writeUInt16BE(0x0301, 1);
    rec.writeUInt16BE(msg.length, 3);
    return Buffer.concat([rec, msg]);
  };
  let out = build(exts);
  if (o.padTo !== undefined && o.padTo > out.length) {
    const padLen = Math.max(0, o.padTo - out.length - 4);
    out = build([...exts, tlsExtension(21, Buffer.alloc(padLen))]);
  }
  if (out.length - 5 > 16384) throw new Error('ClientHello exceeds one TLS record (RFC 8446 §5.1)');
  return out;
}

/**
 * A TLS 1.3 ServerHello (RFC 8446 §4.1.3) choosing TLS_AES_128_GCM_SHA256 and x25519, echoing
 * the client's session id as middlebox compatibility mode requires (RFC 8446 §D.4).
 */
export function tlsServerHello(o: { clientHello?: Buffer; seed?: string } = {}): Buffer {
  const seed = createHash('sha256').update(`geowarden-server:${o.seed ?? ''}`).digest();
  let sessionId: Buffer = Buffer.alloc(0);
  const ch = o.clientHello;
  // record(5) + handshake header(4) + legacy_version(2) + random(32) = offset 43 of the session id
  if (ch && ch.length > 44 && ch[0] === 22 && ch[5] === 1) sessionId = ch.subarray(44, 44 + ch[43]!);
  const exts = Buffer.concat([
    tlsExtension(43, u16(0x0304)),
    tlsExtension(51, Buffer.concat([u16(0x001d), u16(32), createHash('sha256').update(seed).digest()])),
  ]);
  const body = Buffer.concat([
    u16(0x0303),
    seed,
    Buffer.from([sessionId.length]),
    sessionId,
    u16(0x1301),
    Buffer.from([0]),
    u16(exts.length),
    exts,
  ]);
  const hs = Buffer.alloc(4);
  hs[0] = 2; // server_hello
  hs.writeUIntBE(body.length, 1, 3);
  return tlsRecord(22, Buffer.concat([hs, body]));
}

/** One TLS record; TLS 1.3 sends everything after the hellos as 0x0303 application_data (23). */
export function tlsRecord(contentType: number, fragment: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = contentType;
  h.writeUInt16BE(0x0303, 1);
  h.writeUInt16BE(fragment.length, 3);
  return Buffer.concat([h, fragment]);
}

/** `total` bytes of TLS application-data records with deterministic opaque content. */
export function tlsApplicationData(total: number, seed = 1): Buffer {
  if (total < 6) throw new Error('application data needs at least 6 bytes (header + 1)');
  const parts: Buffer[] = [];
  let left = total;
  let x = seed >>> 0 || 1;
  while (left > 0) {
    let n = Math.min(left - 5, 16384 + 256); // RFC 8446 §5.2: ciphertext up to 2^14 + 256
    // Never leave a remainder too small to hold another record.
    if (left - (n + 5) > 0 && left - (n + 5) < 6) n -= 6;
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      body[i] = x & 0xff;
    }
    parts.push(tlsRecord(23, body));
    left -= n + 5;
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

export function httpRequest(o: { method?: string; host: string; path?: string; headers?: Record<string, string> }): Buffer {
  const headers: Record<string, string> = {
    'User-Agent': 'geowarden-test/1.0',
    Accept: '*/*',
    ...(o.headers ?? {}),
  };
  let text = `${o.method ?? 'GET'} ${o.path ?? '/'} HTTP/1.1\r\nHost: ${o.host}\r\n`;
  for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
  text += '\r\n';
  return Buffer.from(text, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// DHCP
// ---------------------------------------------------------------------------------------------

const DHCP_MESSAGE_TYPES = { discover: 1, offer: 2, request: 3, ack: 5 } as const;

/** BOOTP (RFC 951) with the DHCP magic cookie and options (RFC 2131, RFC 2132). */
export function dhcp(o: {
  messageType: 'discover' | 'offer' | 'request' | 'ack';
  clientMac: string;
  xid?: number;
  hostname?: string;
  requestedIp?: string;
  yiaddr?: string;
  ciaddr?: string;
  serverId?: string;
}): Buffer {
  const fixed = Buffer.alloc(236);
  const isReply = o.messageType === 'offer' || o.messageType === 'ack';
  fixed[0] = isReply ? 2 : 1; // op: BOOTREPLY / BOOTREQUEST
  fixed[1] = 1; // htype Ethernet
  fixed[2] = 6; // hlen
  fixed.writeUInt32BE((o.xid ?? 0x3903f326) >>> 0, 4);
  if (o.ciaddr) addressBytes(o.ciaddr).copy(fixed, 12);
  if (o.yiaddr) addressBytes(o.yiaddr).copy(fixed, 16);
  macBytes(o.clientMac).copy(fixed, 28);
  const opts: Buffer[] = [Buffer.from([0x63, 0x82, 0x53, 0x63])]; // magic cookie, RFC 2131 §3
  opts.push(Buffer.from([53, 1, DHCP_MESSAGE_TYPES[o.messageType]]));
  if (o.hostname !== undefined) {
    const h = Buffer.from(o.hostname, 'ascii');
    opts.push(Buffer.from([12, h.length]), h);
  }
  if (o.requestedIp) opts.push(Buffer.from([50, 4]), addressBytes(o.requestedIp));
  if (o.serverId) opts.push(Buffer.from([54, 4]), addressBytes(o.serverId));
  opts.push(Buffer.from([61, 7, 1]), macBytes(o.clientMac)); // client id: htype 1 + MAC
  opts.push(Buffer.from([255]));
  const msg = Buffer.concat([fixed, ...opts]);
  // RFC 1542 §2.1: relay agents may drop BOOTP messages shorter than 300 octets.
  return msg.length >= 300 ? msg : Buffer.concat([msg, Buffer.alloc(300 - msg.length)]);
}

// ---------------------------------------------------------------------------------------------
// Convenience
// ---------------------------------------------------------------------------------------------

export type FrameLink = 'ethernet' | 'sll' | 'sll2' | 'raw' | 'null' | 'loop';

export const DEFAULT_SRC_MAC = '02:00:00:00:00:10';
export const DEFAULT_DST_MAC = '02:00:00:00:00:01';

/** Wraps an ipv4()/ipv6() packet in a link layer, choosing EtherType/family from the IP version. */
export function frame(o: {
  link?: FrameLink;
  srcMac?: string;
  dstMac?: string;
  vlans?: number[];
  qinq?: boolean;
  ip: Buffer;
}): Buffer {
  const version = o.ip.length > 0 ? o.ip[0]! >> 4 : 0;
  if (version !== 4 && version !== 6) throw new Error(`frame(): not an IP packet (version ${version})`);
  const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
  const family = version === 4 ? AF_INET : AF_INET6;
  switch (o.link ?? 'ethernet') {
    case 'ethernet':
      return ethernet({
        src: o.srcMac ?? DEFAULT_SRC_MAC,
        dst: o.dstMac ?? DEFAULT_DST_MAC,
        etherType,
        payload: o.ip,
        vlans: o.vlans,
        qinq: o.qinq,
      });
    case 'sll':
      return sll({ etherType, payload: o.ip, srcMac: o.srcMac });
    case 'sll2':
      return sll2({ etherType, payload: o.ip, srcMac: o.srcMac });
    case 'raw':
      return Buffer.from(o.ip);
    case 'null':
      return nullLoopback({ family, payload: o.ip });
    case 'loop':
      return nullLoopback({ family, payload: o.ip, bigEndian: true });
  }
}

// ---------------------------------------------------------------------------------------------
// QUIC
// ---------------------------------------------------------------------------------------------

/** Long-header packet types by their QUIC v1 wire value; v2 renumbers them (RFC 9369 §3.2). */
const QUIC_LONG_TYPES = { initial: 0, '0rtt': 1, handshake: 2 } as const;
const QUIC_V2_TYPE_BITS = { initial: 1, '0rtt': 2, handshake: 3 } as const;
export type QuicLongType = keyof typeof QUIC_LONG_TYPES;

/** A QUIC variable-length integer (RFC 9000 §16) in its shortest form, or in `width` bytes. */
export function quicVarint(value: number, width?: 1 | 2 | 4 | 8): Buffer {
  const w = width ?? (value < 0x40 ? 1 : value < 0x4000 ? 2 : value < 0x40000000 ? 4 : 8);
  const b = Buffer.alloc(w);
  let v = value;
  for (let i = w - 1; i >= 0; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0]! |= { 1: 0x00, 2: 0x40, 4: 0x80, 8: 0xc0 }[w];
  return b;
}

/** A CRYPTO frame (RFC 9000 §19.6). */
export function quicCryptoFrame(offset: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x06]), quicVarint(offset), quicVarint(data.length), data]);
}

/** An ACK frame with one range (RFC 9000 §19.3), as a client's second Initial carries one. */
export function quicAckFrame(largest: number, firstRange = 0): Buffer {
  return Buffer.concat([Buffer.from([0x02]), quicVarint(largest), quicVarint(0), quicVarint(0), quicVarint(firstRange)]);
}

/** The ClientHello a QUIC client sends: the bare handshake message, no TLS record (RFC 9001 §4). */
export function quicClientHello(o: { sni?: string; alpn?: string[]; padTo?: number }): Buffer {
  return tlsClientHello({ ...o, padTo: o.padTo !== undefined ? o.padTo + 5 : undefined }).subarray(5);
}

/**
 * A protected QUIC long-header packet (RFC 9000 §17.2) of QUIC v1 or v2, built as a client
 * builds it: frames, PADDING up to `padTo` bytes for the whole packet, AEAD_AES_128_GCM with the
 * Initial keys of `keyDcid` (default: `dcid`), then header protection (RFC 9001 §5.3, §5.4).
 * Only Initial packets are meaningful to decrypt; other types get the same keys, so a reader
 * without the right keys sees noise, as it would on the wire.
 */
export function quicInitial(o: {
  version?: number;
  type?: QuicLongType;
  dcid: Buffer;
  scid?: Buffer;
  token?: Buffer;
  packetNumber?: number;
  /** Bytes of the packet number on the wire, 1-4 (default: as few as the value needs, at least 2). */
  packetNumberLength?: 1 | 2 | 3 | 4;
  /** CRYPTO frames as (stream offset, bytes), in the order to write them. */
  cryptoFrames?: Array<{ offset: number; data: Buffer }>;
  /** Frames written before the CRYPTO frames (PING 0x01, ACK, ...). */
  frames?: Buffer[];
  /** Total packet size to reach with PADDING frames; RFC 9000 §14.1 wants client datagrams >= 1200. */
  padTo?: number;
  /** Derive the keys from this connection ID instead of `dcid` (a client after its first Initial). */
  keyDcid?: Buffer;
  sender?: 'client' | 'server';
}): Buffer {
  const version = o.version ?? QUIC_V1;
  const type = o.type ?? 'initial';
  const keys = deriveInitialKeys(version, o.keyDcid ?? o.dcid, o.sender ?? 'client');
  if (!keys) throw new Error(`quicInitial: no Initial keys for version 0x${version.toString(16)}`);
  const pn = o.packetNumber ?? 0;
  const pnLength = o.packetNumberLength ?? (pn < 0x10000 ? 2 : 4);
  const scid = o.scid ?? Buffer.alloc(0);
  const typeBits = version === QUIC_V2 ? QUIC_V2_TYPE_BITS[type] : QUIC_LONG_TYPES[type];
  const head = Buffer.concat([
    Buffer.from([0xc0 | (typeBits << 4) | (pnLength - 1)]),
    u32be(version),
    Buffer.from([o.dcid.length]),
    o.dcid,
    Buffer.from([scid.length]),
    scid,
    type === 'initial' ? Buffer.concat([quicVarint(o.token?.length ?? 0), o.token ?? Buffer.alloc(0)]) : Buffer.alloc(0),
  ]);
  let frames = Buffer.concat([...(o.frames ?? []), ...(o.cryptoFrames ?? []).map((f) => quicCryptoFrame(f.offset, f.data))]);
  // The Length field is written in 2 bytes (or 4 for big packets); PADDING fills up to padTo, and
  // at least to the 4 bytes after the packet number start that the sample needs (RFC 9001 §5.4.2).
  const lengthWidth = (n: number): 2 | 4 => (n < 0x4000 ? 2 : 4);
  const fixed = head.length + pnLength + 16;
  let padding = Math.max(0, 4 - pnLength - frames.length);
  if (o.padTo !== undefined) {
    const need = o.padTo - (fixed + lengthWidth(o.padTo) + frames.length);
    padding = Math.max(padding, need);
  }
  frames = Buffer.concat([frames, Buffer.alloc(padding)]);
  const length = pnLength + frames.length + 16;
  const header = Buffer.concat([head, quicVarint(length, lengthWidth(length)), uintBe(pn, pnLength)]);
  const pnOffset = header.length - pnLength;
  const cipher = createCipheriv('aes-128-gcm', keys.key, packetNonce(keys.iv, pn), { authTagLength: 16 });
  cipher.setAAD(header);
  const sealed = Buffer.concat([cipher.update(frames), cipher.final(), cipher.getAuthTag()]);
  const packet = Buffer.concat([header, sealed]);
  const mask = headerProtectionMask(keys.hp, packet.subarray(pnOffset + 4, pnOffset + 20));
  packet[0]! ^= mask[0]! & 0x0f;
  for (let i = 0; i < pnLength; i++) packet[pnOffset + i]! ^= mask[1 + i]!;
  return packet;
}

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function uintBe(n: number, width: number): Buffer {
  const b = Buffer.alloc(width);
  b.writeUIntBE(n, 0, width);
  return b;
}

/**
 * The CRYPTO frames of `data` cut into pieces of at most `size` bytes, with their offsets:
 * `order` 'reverse' writes them last piece first, as Chrome's Initials sometimes do.
 */
export function quicCryptoPieces(data: Buffer, size: number, order: 'forward' | 'reverse' = 'forward'): Array<{ offset: number; data: Buffer }> {
  const pieces: Array<{ offset: number; data: Buffer }> = [];
  for (let off = 0; off < data.length; off += size) pieces.push({ offset: off, data: data.subarray(off, off + size) });
  return order === 'reverse' ? pieces.reverse() : pieces;
}
