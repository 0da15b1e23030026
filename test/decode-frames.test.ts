import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder } from '../src/decode/frame-decoder';
import { MAX_IPV6_EXTENSION_HEADERS } from '../src/decode/ip';
import {
  DECODE_LAYERS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  NO_MAC,
  TCP_ACK,
  TCP_PSH,
  TCP_SYN,
  newDecodedPacket,
  type DecodeLayer,
  type DecodedPacket,
} from '../src/decode/types';
import { formatAddress, parseMac } from '../src/net/address';
import * as P from './support/packets';

const ETH = 1;
const RAW = 101;
const NULL = 0;
const LOOP = 108;
const SLL = 113;
const SLL2 = 276;
const IPV4 = 228;
const IPV6 = 229;

const C4 = '192.168.1.20';
const S4 = '93.184.216.34';
const C6 = '2001:db8::20';
const S6 = '2606:2800:220:1::34';

interface Run {
  ok: boolean;
  p: DecodedPacket;
  d: FrameDecoder;
}

function decode(bytes: Buffer, linkType = ETH, opts: { captured?: number; wire?: number; d?: FrameDecoder } = {}): Run {
  const d = opts.d ?? new FrameDecoder();
  const p = newDecodedPacket();
  const ok = d.decode(
    {
      buf: bytes,
      offset: 0,
      capturedLength: opts.captured ?? bytes.length,
      wireLength: opts.wire ?? bytes.length,
      timestampUs: 1_700_000_000_000_000,
      linkType,
    },
    p,
  );
  return { ok, p, d };
}

function totalErrors(d: FrameDecoder): number {
  let n = d.errors.unsupportedLinkType;
  for (const l of DECODE_LAYERS) n += d.errors.byLayer[l];
  return n;
}

function onlyError(d: FrameDecoder, layer: DecodeLayer): void {
  assert.equal(d.errors.byLayer[layer], 1, `expected one ${layer} error: ${JSON.stringify(d.errors)}`);
  assert.equal(totalErrors(d), 1, `expected no other error: ${JSON.stringify(d.errors)}`);
}

function tcp4(o: { payload?: Buffer; flags?: string; options?: Buffer; ipOptions?: Buffer } = {}): Buffer {
  return P.ipv4({
    src: C4,
    dst: S4,
    protocol: IPPROTO_TCP,
    ttl: 61,
    id: 0x1234,
    options: o.ipOptions,
    payload: P.tcp({ src: C4, dst: S4, srcPort: 51000, dstPort: 443, seq: 0xfedcba98, flags: o.flags ?? 'PA', payload: o.payload, options: o.options }),
  });
}

function udp4(payload: Buffer, over: { totalLength?: number } = {}): Buffer {
  return P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_UDP, payload: P.udp({ src: C4, dst: S4, srcPort: 5353, dstPort: 53, payload }), ...over });
}

function tcp6(o: { extensions?: Array<{ type: number; data: Buffer }>; payload?: Buffer } = {}): Buffer {
  return P.ipv6({
    src: C6,
    dst: S6,
    nextHeader: IPPROTO_TCP,
    hopLimit: 55,
    extensions: o.extensions,
    payload: P.tcp({ src: C6, dst: S6, srcPort: 40000, dstPort: 80, seq: 7, flags: 'S', payload: o.payload }),
  });
}

describe('FrameDecoder: Ethernet / IPv4 / TCP', () => {
  it('fills every field of a typical frame', () => {
    const payload = Buffer.from('hello world');
    const f = P.frame({ srcMac: 'aa:bb:cc:00:11:22', dstMac: '02:00:00:00:00:01', ip: tcp4({ payload }) });
    const { ok, p, d } = decode(f);
    assert.equal(ok, true);
    assert.equal(totalErrors(d), 0);
    assert.equal(p.buf, f);
    assert.equal(p.timestampUs, 1_700_000_000_000_000);
    assert.equal(p.capturedLength, f.length);
    assert.equal(p.wireLength, f.length);
    assert.equal(p.srcMac, parseMac('aa:bb:cc:00:11:22'));
    assert.equal(p.dstMac, parseMac('02:00:00:00:00:01'));
    assert.equal(p.vlanId, -1);
    assert.equal(p.ipVersion, 4);
    assert.equal(formatAddress(p.src), C4);
    assert.equal(formatAddress(p.dst), S4);
    assert.equal(p.ipLength, f.length - 14);
    assert.equal(p.protocol, IPPROTO_TCP);
    assert.equal(p.ttl, 61);
    assert.equal(p.isFragment, false);
    assert.equal(p.isLaterFragment, false);
    assert.equal(p.srcPort, 51000);
    assert.equal(p.dstPort, 443);
    assert.equal(p.tcpFlags, TCP_PSH | TCP_ACK);
    assert.equal(p.tcpSeq, 0xfedcba98);
    assert.equal(p.payloadOffset, 14 + 20 + 20);
    assert.equal(p.payloadLength, payload.length);
    assert.equal(f.toString('latin1', p.payloadOffset, p.payloadOffset + p.payloadLength), 'hello world');
  });

  it('skips IPv4 options and TCP options', () => {
    const ipOptions = Buffer.from([0x94, 0x04, 0x00, 0x00]); // Router Alert (RFC 2113)
    const f = P.frame({ ip: tcp4({ flags: 'S', options: P.tcpSynOptions(), ipOptions, payload: Buffer.from('xy') }) });
    const { ok, p } = decode(f);
    assert.equal(ok, true);
    assert.equal(p.tcpFlags, TCP_SYN);
    assert.equal(p.payloadOffset, 14 + 24 + 40);
    assert.equal(p.payloadLength, 2);
  });

  it('does not count Ethernet padding as payload', () => {
    const f = P.frame({ ip: udp4(Buffer.from('a')) }); // 14 + 20 + 8 + 1 = 43 bytes
    const padded = Buffer.concat([f, Buffer.alloc(60 - f.length, 0xee)]);
    const { ok, p } = decode(padded);
    assert.equal(ok, true);
    assert.equal(p.ipLength, 29);
    assert.equal(p.payloadOffset, 42);
    assert.equal(p.payloadLength, 1);
  });

  it('resets every field between frames (TCP frame, then ARP)', () => {
    const d = new FrameDecoder();
    const p = newDecodedPacket();
    const tcpFrame = P.frame({ ip: tcp4({ payload: Buffer.from('x') }) });
    assert.equal(d.decode({ buf: tcpFrame, offset: 0, capturedLength: tcpFrame.length, wireLength: tcpFrame.length, timestampUs: 1, linkType: ETH }, p), true);
    const arp = P.ethernet({ src: '02:00:00:00:00:02', dst: 'ff:ff:ff:ff:ff:ff', etherType: P.ETHERTYPE_ARP, payload: Buffer.alloc(28) });
    assert.equal(d.decode({ buf: arp, offset: 0, capturedLength: arp.length, wireLength: arp.length, timestampUs: 2, linkType: ETH }, p), false);
    const fresh = newDecodedPacket();
    for (const k of Object.keys(fresh) as Array<keyof DecodedPacket>) {
      if (k === 'buf' || k === 'timestampUs' || k === 'wireLength' || k === 'capturedLength' || k === 'srcMac' || k === 'dstMac') continue;
      assert.deepEqual(p[k], fresh[k], `field ${k} not reset`);
    }
    assert.equal(p.srcMac, parseMac('02:00:00:00:00:02')); // the link layer is still described
    assert.equal(p.timestampUs, 2);
    assert.equal(totalErrors(d), 0, 'ARP is not an error');
  });

  it('treats ARP, LLDP and 802.3/LLC frames as non-IP without errors', () => {
    for (const etherType of [P.ETHERTYPE_ARP, 0x88cc, 0x0026]) {
      const f = P.ethernet({ src: '02:00:00:00:00:02', dst: '01:80:c2:00:00:0e', etherType, payload: Buffer.alloc(46) });
      const { ok, p, d } = decode(f);
      assert.equal(ok, false);
      assert.equal(p.ipVersion, 0);
      assert.equal(totalErrors(d), 0);
    }
  });

  it('never reads past the buffer when capturedLength claims more', () => {
    const f = P.frame({ ip: tcp4({ payload: Buffer.from('abc') }) });
    const { ok, p } = decode(f, ETH, { captured: f.length + 1000, wire: f.length + 1000 });
    assert.equal(ok, true);
    assert.equal(p.capturedLength, f.length);
    assert.equal(p.payloadLength, 3);
  });
});

describe('FrameDecoder: VLAN tags', () => {
  it('reads one 802.1Q tag', () => {
    const { ok, p } = decode(P.frame({ vlans: [42], ip: tcp4() }));
    assert.equal(ok, true);
    assert.equal(p.vlanId, 42);
    assert.equal(p.dstPort, 443);
  });

  it('reports the outer (802.1ad S-tag) id for QinQ', () => {
    const { ok, p } = decode(P.frame({ vlans: [100, 200], qinq: true, ip: tcp4() }));
    assert.equal(ok, true);
    assert.equal(p.vlanId, 100);
    assert.equal(formatAddress(p.dst), S4);
  });

  it('follows three tags including the old 0x9100 S-tag', () => {
    const f = P.frame({ vlans: [7, 8, 9], ip: tcp4() });
    f.writeUInt16BE(0x9100, 12);
    const { ok, p } = decode(f);
    assert.equal(ok, true);
    assert.equal(p.vlanId, 7);
  });

  it('skips a priority-only tag (VID 0) when looking for the VLAN id', () => {
    const { ok, p } = decode(P.frame({ vlans: [0, 300], ip: tcp4() }));
    assert.equal(ok, true);
    assert.equal(p.vlanId, 300);
  });

  it('counts a truncated tag as a vlan error', () => {
    const f = P.frame({ vlans: [5], ip: tcp4() }).subarray(0, 16);
    const { ok, d } = decode(Buffer.from(f));
    assert.equal(ok, false);
    onlyError(d, 'vlan');
  });
});

describe('FrameDecoder: other link types', () => {
  it('Linux SLL: incoming packet, source MAC from the address field', () => {
    const { ok, p } = decode(P.frame({ link: 'sll', srcMac: '3c:22:fb:01:02:03', ip: tcp4() }), SLL);
    assert.equal(ok, true);
    assert.equal(p.srcMac, parseMac('3c:22:fb:01:02:03'));
    assert.equal(p.dstMac, NO_MAC);
    assert.equal(p.srcPort, 51000);
  });

  it('Linux SLL: outgoing packet (type 4), the address is our own and still the source', () => {
    const f = P.sll({ etherType: P.ETHERTYPE_IPV4, payload: tcp4(), srcMac: '02:aa:bb:cc:dd:ee', packetType: P.PACKET_OUTGOING });
    const { ok, p } = decode(f, SLL);
    assert.equal(ok, true);
    assert.equal(p.srcMac, parseMac('02:aa:bb:cc:dd:ee'));
  });

  it('Linux SLL: loopback device (ARPHRD 772) has no MAC; unknown packet types neither', () => {
    const lo = P.sll({ etherType: P.ETHERTYPE_IPV4, payload: tcp4(), srcMac: '00:00:00:00:00:00' });
    lo.writeUInt16BE(772, 2);
    assert.equal(decode(lo, SLL).p.srcMac, NO_MAC);
    const odd = P.sll({ etherType: P.ETHERTYPE_IPV4, payload: tcp4(), srcMac: '02:00:00:00:00:09', packetType: 7 });
    const r = decode(odd, SLL);
    assert.equal(r.ok, true);
    assert.equal(r.p.srcMac, NO_MAC);
  });

  it('Linux SLL: Netlink (ARPHRD 824) is not IP, whatever the protocol field says', () => {
    const f = P.sll({ etherType: P.ETHERTYPE_IPV4, payload: tcp4() });
    f.writeUInt16BE(824, 2);
    const { ok, d } = decode(f, SLL);
    assert.equal(ok, false);
    assert.equal(totalErrors(d), 0);
  });

  it('Linux SLL: VLAN tag after the cooked header', () => {
    const inner = Buffer.concat([Buffer.from([0x00, 0x0c, 0x08, 0x00]), tcp4()]);
    const { ok, p } = decode(P.sll({ etherType: P.ETHERTYPE_VLAN, payload: inner }), SLL);
    assert.equal(ok, true);
    assert.equal(p.vlanId, 12);
  });

  it('Linux SLL2 with IPv6', () => {
    const { ok, p } = decode(P.frame({ link: 'sll2', srcMac: '3c:22:fb:01:02:04', ip: tcp6() }), SLL2);
    assert.equal(ok, true);
    assert.equal(p.ipVersion, 6);
    assert.equal(p.srcMac, parseMac('3c:22:fb:01:02:04'));
    assert.equal(formatAddress(p.src), C6);
    assert.equal(p.dstPort, 80);
  });

  it('short SLL / SLL2 headers are sll errors', () => {
    onlyError(decode(Buffer.alloc(15), SLL).d, 'sll');
    onlyError(decode(Buffer.alloc(19), SLL2).d, 'sll');
  });

  it('raw IP (101, and DLT 12 / 14) takes the version from the first nibble', () => {
    for (const lt of [RAW, 12, 14]) {
      const a = decode(tcp4(), lt);
      assert.equal(a.ok, true);
      assert.equal(a.p.ipVersion, 4);
      assert.equal(a.p.srcMac, NO_MAC);
      const b = decode(tcp6(), lt);
      assert.equal(b.ok, true);
      assert.equal(b.p.ipVersion, 6);
    }
    const bad = Buffer.from(tcp4());
    bad[0] = 0x55;
    onlyError(decode(bad, RAW).d, 'link');
    onlyError(decode(Buffer.alloc(0), RAW).d, 'link');
  });

  it('LINKTYPE_IPV4 / LINKTYPE_IPV6 insist on their version', () => {
    assert.equal(decode(tcp4(), IPV4).ok, true);
    assert.equal(decode(tcp6(), IPV6).ok, true);
    onlyError(decode(tcp6(), IPV4).d, 'ipv4');
    onlyError(decode(tcp4(), IPV6).d, 'ipv6');
  });

  it('BSD null loopback: address family in either byte order, all three AF_INET6 values', () => {
    for (const bigEndian of [false, true]) {
      const a = decode(P.nullLoopback({ family: 2, payload: tcp4(), bigEndian }), NULL);
      assert.equal(a.ok, true);
      assert.equal(a.p.ipVersion, 4);
      for (const family of [24, 28, 30]) {
        const b = decode(P.nullLoopback({ family, payload: tcp6(), bigEndian }), NULL);
        assert.equal(b.ok, true, `family ${family}`);
        assert.equal(b.p.ipVersion, 6);
      }
    }
    const other = decode(P.nullLoopback({ family: 7, payload: tcp4() }), NULL);
    assert.equal(other.ok, false);
    assert.equal(totalErrors(other.d), 0);
    onlyError(decode(Buffer.alloc(3), NULL).d, 'link');
  });

  it('OpenBSD loop: address family big-endian only', () => {
    assert.equal(decode(P.frame({ link: 'loop', ip: tcp6() }), LOOP).p.ipVersion, 6);
    const le = decode(P.nullLoopback({ family: 2, payload: tcp4() }), LOOP);
    assert.equal(le.ok, false);
    assert.equal(totalErrors(le.d), 0);
  });

  it('counts unsupported link types separately', () => {
    const { ok, d } = decode(tcp4(), 105 /* IEEE 802.11 */);
    assert.equal(ok, false);
    assert.equal(d.errors.unsupportedLinkType, 1);
    assert.equal(totalErrors(d), 1);
  });
});

describe('FrameDecoder: IPv4 details and hostile headers', () => {
  it('first fragment: transport header parsed; later fragment: none', () => {
    const dgram = P.udp({ src: C4, dst: S4, srcPort: 4000, dstPort: 53, payload: Buffer.alloc(100, 7) });
    const frags = P.ipv4Fragments({ src: C4, dst: S4, protocol: IPPROTO_UDP, payload: dgram, id: 0xbeef }, 64);
    assert.equal(frags.length, 2);
    const first = decode(P.frame({ ip: frags[0]! }));
    assert.equal(first.ok, true);
    assert.equal(first.p.isFragment, true);
    assert.equal(first.p.isLaterFragment, false);
    assert.equal(first.p.fragmentId, 0xbeef);
    assert.equal(first.p.dstPort, 53);
    assert.equal(first.p.payloadLength, 64 - 8); // UDP length covers the whole datagram: no udp error
    const later = decode(P.frame({ ip: frags[1]! }));
    assert.equal(later.ok, true);
    assert.equal(later.p.isFragment, true);
    assert.equal(later.p.isLaterFragment, true);
    assert.equal(later.p.fragmentId, 0xbeef);
    assert.equal(later.p.srcPort, 0);
    assert.equal(later.p.dstPort, 0);
    assert.equal(later.p.payloadOffset, 34);
    assert.equal(later.p.payloadLength, dgram.length - 64);
  });

  it('IHL < 5, IHL past the captured bytes, total length < header, wrong version: ipv4 errors', () => {
    onlyError(decode(P.frame({ ip: P.ipv4({ src: C4, dst: S4, protocol: 6, payload: Buffer.alloc(20), ihl: 4 }) })).d, 'ipv4');
    const longIhl = P.ipv4({ src: C4, dst: S4, protocol: 6, payload: Buffer.alloc(10), ihl: 15 }); // 60 > 30 captured
    onlyError(decode(longIhl, RAW).d, 'ipv4');
    onlyError(decode(P.frame({ ip: P.ipv4({ src: C4, dst: S4, protocol: 6, payload: Buffer.alloc(20), totalLength: 19 }) })).d, 'ipv4');
    const v5 = P.frame({ ip: tcp4() });
    v5[14] = 0x55; // EtherType says IPv4, the version nibble says 5
    onlyError(decode(v5).d, 'ipv4');
    onlyError(decode(P.frame({ ip: tcp4() }).subarray(0, 14 + 19)).d, 'ipv4');
  });

  it('total length beyond the capture: decode what was captured (snaplen)', () => {
    const f = P.frame({ ip: tcp4({ payload: Buffer.alloc(1000, 1) }) });
    const { ok, p, d } = decode(f.subarray(0, 96), ETH, { wire: f.length });
    assert.equal(ok, true);
    assert.equal(totalErrors(d), 0);
    assert.equal(p.ipLength, f.length - 14); // the wire value
    assert.equal(p.payloadOffset, 54);
    assert.equal(p.payloadLength, 96 - 54);
  });

  it('total length beyond the wire frame: clamped, payload limited to what is there', () => {
    const ip = tcp4({ payload: Buffer.from('abc') });
    ip.writeUInt16BE(1500, 2);
    const { ok, p } = decode(P.frame({ ip }));
    assert.equal(ok, true);
    assert.equal(p.ipLength, ip.length);
    assert.equal(p.payloadLength, 3);
  });

  it('total length 0 (TSO capture on the sender) runs to the end of the frame', () => {
    const ip = tcp4({ payload: Buffer.alloc(3000, 2) });
    ip.writeUInt16BE(0, 2);
    const { ok, p } = decode(P.frame({ ip }));
    assert.equal(ok, true);
    assert.equal(p.ipLength, ip.length);
    assert.equal(p.payloadLength, 3000);
  });
});

describe('FrameDecoder: IPv6 extension headers', () => {
  const hbh = { type: P.IPPROTO_HOPOPTS, data: Buffer.from([0x05, 0x02, 0x00, 0x00]) }; // router alert
  const dst = { type: P.IPPROTO_DSTOPTS, data: Buffer.alloc(4) };
  const rt = { type: P.IPPROTO_ROUTING, data: Buffer.alloc(6) };

  it('walks hop-by-hop, routing and destination options to TCP', () => {
    const ip = tcp6({ extensions: [hbh, rt, dst], payload: Buffer.from('GET') });
    const { ok, p } = decode(P.frame({ ip }));
    assert.equal(ok, true);
    assert.equal(p.protocol, IPPROTO_TCP);
    assert.equal(p.ttl, 55);
    assert.equal(p.ipLength, ip.length);
    assert.equal(p.srcPort, 40000);
    assert.equal(p.payloadLength, 3);
    assert.equal(p.payloadOffset, 14 + 40 + 24 + 20);
  });

  it('walks an AH header (length in 4-octet units, RFC 4302)', () => {
    const body = P.udp({ src: C6, dst: S6, srcPort: 1, dstPort: 2, payload: Buffer.from('z') });
    const ah = Buffer.alloc(24);
    ah[0] = IPPROTO_UDP;
    ah[1] = 24 / 4 - 2;
    const ip = P.ipv6({ src: C6, dst: S6, nextHeader: 51, payload: Buffer.concat([ah, body]) });
    const { ok, p } = decode(ip, RAW);
    assert.equal(ok, true);
    assert.equal(p.protocol, IPPROTO_UDP);
    assert.equal(p.dstPort, 2);
  });

  it('fragment header: first fragment parsed, later fragment only flagged', () => {
    const first = P.ipv6({
      src: C6,
      dst: S6,
      nextHeader: IPPROTO_UDP,
      extensions: [P.ipv6FragmentHeader(0, true, 0xabcdef01)],
      payload: Buffer.concat([Buffer.from([0x12, 0x34, 0x00, 0x35, 0x05, 0xdc, 0, 0]), Buffer.alloc(40)]),
    });
    const a = decode(first, RAW);
    assert.equal(a.ok, true);
    assert.equal(a.p.isFragment, true);
    assert.equal(a.p.isLaterFragment, false);
    assert.equal(a.p.fragmentId, 0xabcdef01);
    assert.equal(a.p.protocol, IPPROTO_UDP);
    assert.equal(a.p.dstPort, 53);
    const later = P.ipv6({ src: C6, dst: S6, nextHeader: IPPROTO_UDP, extensions: [P.ipv6FragmentHeader(48, false, 0xabcdef01)], payload: Buffer.alloc(30, 9) });
    const b = decode(later, RAW);
    assert.equal(b.ok, true);
    assert.equal(b.p.isFragment, true);
    assert.equal(b.p.isLaterFragment, true);
    assert.equal(b.p.protocol, IPPROTO_UDP);
    assert.equal(b.p.srcPort, 0);
    assert.equal(b.p.payloadLength, 30);
  });

  it('an atomic fragment (offset 0, M clear; RFC 6946) is not a fragment', () => {
    const ip = tcp6({ extensions: [P.ipv6FragmentHeader(0, false, 5)] });
    const { ok, p } = decode(ip, RAW);
    assert.equal(ok, true);
    assert.equal(p.isFragment, false);
    assert.equal(p.dstPort, 80);
  });

  it('a chain running past the captured bytes or the payload length is an ipv6 error', () => {
    const ip = tcp6({ extensions: [hbh, dst] });
    onlyError(decode(ip.subarray(0, 40 + 8 + 4), RAW).d, 'ipv6');
    const lying = Buffer.from(ip);
    lying[40 + 1] = 200; // hop-by-hop claims 1608 bytes
    onlyError(decode(lying, RAW).d, 'ipv6');
    const short = tcp6({ extensions: [hbh] });
    short.writeUInt16BE(4, 4); // payload length 4: the 8-byte header does not fit
    onlyError(decode(short, RAW).d, 'ipv6');
  });

  it(`more than ${MAX_IPV6_EXTENSION_HEADERS} extension headers is an ipv6 error`, () => {
    const many = Array.from({ length: MAX_IPV6_EXTENSION_HEADERS + 1 }, () => dst);
    onlyError(decode(tcp6({ extensions: many }), RAW).d, 'ipv6');
    const enough = Array.from({ length: MAX_IPV6_EXTENSION_HEADERS }, () => dst);
    assert.equal(decode(tcp6({ extensions: enough }), RAW).ok, true);
  });

  it('No Next Header (59) ends the packet; its padding is not payload', () => {
    const ip = P.ipv6({ src: C6, dst: S6, nextHeader: 59, payload: Buffer.alloc(0) });
    const { ok, p } = decode(P.frame({ ip: ip }).subarray(0, 54));
    assert.equal(ok, true);
    assert.equal(p.protocol, 59);
    assert.equal(p.ipLength, 40);
    assert.equal(p.payloadLength, 0);
  });

  it('payload length 0 with a transport header (jumbogram / GSO) runs to the end of the frame', () => {
    const ip = tcp6({ payload: Buffer.alloc(2000, 3) });
    ip.writeUInt16BE(0, 4);
    const { ok, p, d } = decode(ip, RAW);
    assert.equal(ok, true);
    assert.equal(totalErrors(d), 0);
    assert.equal(p.ipLength, ip.length);
    assert.equal(p.payloadLength, 2000);
  });

  it('short header or wrong version: ipv6 error', () => {
    onlyError(decode(P.frame({ ip: tcp6() }).subarray(0, 14 + 39)).d, 'ipv6');
    const v4 = Buffer.from(P.frame({ ip: tcp6() }));
    v4[14] = 0x45;
    onlyError(decode(v4).d, 'ipv6');
  });
});

describe('FrameDecoder: transport headers', () => {
  it('TCP data offset < 5 is a tcp error', () => {
    const ip = tcp4();
    ip[20 + 12] = 0x40;
    onlyError(decode(ip, RAW).d, 'tcp');
  });

  it('TCP data offset past the complete datagram is a tcp error; past the capture it is not', () => {
    const ip = tcp4({ payload: Buffer.alloc(8) });
    ip[20 + 12] = 0xf0; // 60-byte header in a 28-byte segment
    onlyError(decode(ip, RAW).d, 'tcp');
    const snapped = tcp4({ options: Buffer.alloc(40, 1) });
    const r = decode(snapped.subarray(0, 20 + 30), RAW, { wire: snapped.length });
    assert.equal(r.ok, true);
    assert.equal(r.p.tcpFlags, TCP_PSH | TCP_ACK);
    assert.equal(r.p.payloadLength, 0);
  });

  it('a datagram too short for its TCP/UDP/ICMP header is malformed at that layer', () => {
    onlyError(decode(P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_TCP, payload: Buffer.alloc(12) }), RAW).d, 'tcp');
    onlyError(decode(P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_UDP, payload: Buffer.alloc(6) }), RAW).d, 'udp');
    onlyError(decode(P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_ICMP, payload: Buffer.alloc(3) }), RAW).d, 'icmp');
  });

  it('UDP length sanity: < 8 or beyond the datagram is an error; shorter clips the payload', () => {
    const bad = udp4(Buffer.from('abcd'));
    bad.writeUInt16BE(7, 20 + 4);
    onlyError(decode(bad, RAW).d, 'udp');
    bad.writeUInt16BE(13, 20 + 4);
    onlyError(decode(bad, RAW).d, 'udp');
    bad.writeUInt16BE(10, 20 + 4); // 2 bytes of data, 2 bytes of surplus (RFC 9868 options area)
    const r = decode(bad, RAW);
    assert.equal(r.ok, true);
    assert.equal(r.p.payloadOffset, 28);
    assert.equal(r.p.payloadLength, 2);
  });

  it('ICMP and ICMPv6: type and code in the port fields', () => {
    const echo = decode(P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_ICMP, payload: P.icmpEcho({ id: 1, seq: 2 }) }), RAW);
    assert.equal(echo.ok, true);
    assert.equal(echo.p.srcPort, 8);
    assert.equal(echo.p.dstPort, 0);
    assert.equal(echo.p.payloadOffset, 28);
    const unreach = decode(P.ipv4({ src: C4, dst: S4, protocol: IPPROTO_ICMP, payload: P.icmpEcho({ type: 3, code: 13, id: 0, seq: 0 }) }), RAW);
    assert.equal(unreach.p.srcPort, 3);
    assert.equal(unreach.p.dstPort, 13);
    const v6 = decode(P.ipv6({ src: C6, dst: S6, nextHeader: IPPROTO_ICMPV6, payload: P.icmpv6Echo({ src: C6, dst: S6, id: 1, seq: 1 }) }), RAW);
    assert.equal(v6.ok, true);
    assert.equal(v6.p.protocol, IPPROTO_ICMPV6);
    assert.equal(v6.p.srcPort, 128);
  });

  it('other protocols: everything after the IP header is payload', () => {
    const gre = decode(P.ipv4({ src: C4, dst: S4, protocol: 47, payload: Buffer.alloc(24) }), RAW);
    assert.equal(gre.ok, true);
    assert.equal(gre.p.protocol, 47);
    assert.equal(gre.p.payloadOffset, 20);
    assert.equal(gre.p.payloadLength, 24);
  });
});

describe('FrameDecoder: every truncation of valid frames', () => {
  const samples: Array<{ name: string; bytes: Buffer; linkType: number; ipStart: number; l4Start: number }> = [
    { name: 'eth/ipv4/tcp', bytes: P.frame({ ip: tcp4({ payload: Buffer.from('abcdef') }) }), linkType: ETH, ipStart: 14, l4Start: 34 },
    { name: 'qinq/ipv4/udp', bytes: P.frame({ vlans: [1, 2], qinq: true, ip: udp4(Buffer.from('q')) }), linkType: ETH, ipStart: 22, l4Start: 42 },
    { name: 'sll/ipv6-ext/tcp', bytes: P.frame({ link: 'sll', ip: tcp6({ extensions: [{ type: 60, data: Buffer.alloc(4) }] }) }), linkType: SLL, ipStart: 16, l4Start: 64 },
    { name: 'sll2/ipv6/icmpv6', bytes: P.frame({ link: 'sll2', ip: P.ipv6({ src: C6, dst: S6, nextHeader: 58, payload: P.icmpv6Echo({ src: C6, dst: S6, id: 3, seq: 4 }) }) }), linkType: SLL2, ipStart: 20, l4Start: 60 },
    { name: 'null/ipv4/icmp', bytes: P.frame({ link: 'null', ip: P.ipv4({ src: C4, dst: S4, protocol: 1, payload: P.icmpEcho({ id: 1, seq: 1 }) }) }), linkType: NULL, ipStart: 4, l4Start: 24 },
    { name: 'raw/ipv6/udp', bytes: P.ipv6({ src: C6, dst: S6, nextHeader: 17, payload: P.udp({ src: C6, dst: S6, srcPort: 1, dstPort: 53, payload: Buffer.from('dns') }) }), linkType: RAW, ipStart: 0, l4Start: 40 },
  ];

  for (const s of samples) {
    it(`${s.name}: no throw, one error below the IP header, none after (snaplen)`, () => {
      const d = new FrameDecoder();
      const p = newDecodedPacket();
      const copy = Buffer.alloc(s.bytes.length);
      for (let n = 0; n <= s.bytes.length; n++) {
        s.bytes.copy(copy, 0, 0, n);
        copy.fill(0xa5, n); // garbage beyond capturedLength must never be read
        const before = totalErrors(d);
        const ok = d.decode({ buf: copy, offset: 0, capturedLength: n, wireLength: s.bytes.length, timestampUs: 0, linkType: s.linkType }, p);
        const counted = totalErrors(d) - before;
        const headerComplete = n >= s.l4Start;
        assert.equal(ok, headerComplete, `${s.name} cut at ${n}`);
        assert.equal(counted, ok ? 0 : 1, `${s.name} cut at ${n}: errors ${JSON.stringify(d.errors.byLayer)}`);
        if (ok) {
          assert.ok(p.payloadOffset + p.payloadLength <= n, `payload inside the capture at ${n}`);
          assert.ok(p.payloadOffset >= s.l4Start || p.payloadLength === 0);
        } else {
          assert.equal(p.ipVersion, 0);
        }
      }
    });

    it(`${s.name}: a frame inside a batch decodes as it does alone, at every truncation`, () => {
      // Capture files are read in batches: a frame starts at an offset and other frames' bytes
      // follow it. Nothing may be read outside [offset, offset + capturedLength).
      const alone = new FrameDecoder();
      const batched = new FrameDecoder();
      const a = newDecodedPacket();
      const b = newDecodedPacket();
      const at = 13;
      const copy = Buffer.alloc(s.bytes.length);
      const batch = Buffer.alloc(at + s.bytes.length + 64);
      for (let n = 0; n <= s.bytes.length; n++) {
        s.bytes.copy(copy, 0, 0, n);
        copy.fill(0xa5, n);
        batch.fill(0x5a);
        s.bytes.copy(batch, at, 0, n);
        const okAlone = alone.decode({ buf: copy, offset: 0, capturedLength: n, wireLength: s.bytes.length, timestampUs: 0, linkType: s.linkType }, a);
        const okBatch = batched.decode({ buf: batch, offset: at, capturedLength: n, wireLength: s.bytes.length, timestampUs: 0, linkType: s.linkType }, b);
        assert.equal(okBatch, okAlone, `${s.name} cut at ${n}`);
        assert.deepEqual(batched.errors, alone.errors, `${s.name} cut at ${n}`);
        if (!okAlone) continue;
        assert.deepEqual(
          [b.ipVersion, [...b.src], [...b.dst], b.protocol, b.srcPort, b.dstPort, b.srcMac, b.vlanId, b.ipLength, b.payloadOffset - at, b.payloadLength],
          [a.ipVersion, [...a.src], [...a.dst], a.protocol, a.srcPort, a.dstPort, a.srcMac, a.vlanId, a.ipLength, a.payloadOffset, a.payloadLength],
          `${s.name} cut at ${n}`,
        );
      }
    });
  }
});
