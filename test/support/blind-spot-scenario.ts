/**
 * A phone and a laptop whose names the gateway mostly cannot read in plaintext DNS: HTTP/3 over
 * QUIC v1 and v2 (one ClientHello per Initial, coalesced Initials, a ClientHello split over two
 * datagrams, CRYPTO frames reordered Chrome-style), DNS over HTTPS by address and by SNI, DNS over
 * TLS and over QUIC, UDP that only looks like QUIC, and TCP to an address nothing names. Built
 * with the household scenario's builder, so `expected` is accumulated from what is emitted.
 */
import { createHash } from 'node:crypto';
import {
  ipv4,
  quicClientHello,
  quicCryptoPieces,
  quicInitial,
  tlsApplicationData,
  tlsClientHello,
  udp,
  IPPROTO_UDP,
} from './packets';
import { DOC_PLAN, HouseholdBuilder, SCENARIO_START_US, type AddressPlan, type Device, type FlowSpec, type HouseholdExpected, type Scenario } from './scenarios';

export interface QuicFlowExpectation {
  remoteIp: string;
  port: number;
  version: number;
  sni: string;
  alpn: string[];
  what: string;
}

export interface EncryptedDnsExpectation {
  remoteIp: string;
  port: number;
  proto: 'tcp' | 'udp';
  kind: 'doh' | 'dot' | 'doq';
  resolver: string;
}

export interface BlindSpotScenario extends Scenario {
  expected: HouseholdExpected & {
    quic: QuicFlowExpectation[];
    encryptedDns: EncryptedDnsExpectation[];
    /** Remote flows with no name at all (public remotes in the plan). */
    unattributed: Array<{ remoteIp: string; port: number; proto: 'tcp' | 'udp' }>;
    /** UDP flows whose first datagram looks like a QUIC Initial of v1 but does not decrypt. */
    undecryptable: number;
  };
}

/** The public resolver addresses the list names: not in the fixture databases, so country unknown. */
export const CLOUDFLARE_DNS = '1.1.1.1';

function cid(seed: string, n = 8): Buffer {
  return createHash('sha256').update(seed).digest().subarray(0, n);
}

/** Short-header (1-RTT) packets after the handshake: opaque bytes to everyone but the endpoints. */
function shortHeader(seed: string, size: number, dcid: Buffer): Buffer {
  const body = createHash('sha512').update(seed).digest();
  const out = Buffer.alloc(size);
  out[0] = 0x40 | (body[0]! & 0x07); // RFC 9000 §17.3.1: header form 0, fixed bit 1
  dcid.copy(out, 1);
  for (let i = 1 + dcid.length; i < size; i++) out[i] = body[i % body.length]!;
  return out;
}

export function blindSpotScenario(plan: AddressPlan = DOC_PLAN, o: { startUs?: number } = {}): BlindSpotScenario {
  const b = new HouseholdBuilder(plan, o.startUs ?? SCENARIO_START_US);
  const phone: Device = { role: 'phone', hostname: 'pixel-7', mac: '64:cc:2e:7b:50:07', ip: '192.168.1.50', nextPort: 50100 };
  const laptop: Device = { role: 'laptop', hostname: 'bob-laptop', mac: '3c:22:fb:4a:60:02', ip: '192.168.1.60', nextPort: 52100 };
  const quic: QuicFlowExpectation[] = [];
  const encryptedDns: EncryptedDnsExpectation[] = [];
  const unattributed: BlindSpotScenario['expected']['unattributed'] = [];
  b.dhcpDora(phone, 7);
  b.dhcpDora(laptop, 8);

  const datagram = (f: FlowSpec, payload: Buffer, fromDevice: boolean, gapUs: number): void => {
    const [src, dst, sp, dp] = fromDevice ? [f.localIp, f.remoteIp, f.localPort, f.port] : [f.remoteIp, f.localIp, f.port, f.localPort];
    const u = udp({ src, dst, srcPort: sp, dstPort: dp, payload });
    b.emitIp(f, ipv4({ src, dst, protocol: IPPROTO_UDP, payload: u, ttl: fromDevice ? 64 : 52, id: b.ids.take(src), dontFragment: true }), fromDevice, gapUs);
  };

  /**
   * One QUIC connection's start as a capture shows it: the client's Initial datagram(s), the
   * server's Initial + Handshake (opaque here), then 1-RTT packets both ways.
   */
  const quicConnection = (
    dev: Device,
    remoteIp: string,
    port: number,
    o: { version: number; sni: string; alpn: string[]; what: string; clientDatagrams: (dcid: Buffer, scid: Buffer, hello: Buffer) => Buffer[]; helloSize?: number },
  ): void => {
    const f: FlowSpec = { dev, localIp: dev.ip, localPort: b.port(dev), remoteIp, port, proto: 'udp', sni: o.sni };
    const dcid = cid(`dcid:${o.sni}`);
    const scid = cid(`scid:${o.sni}`);
    const serverCid = cid(`server:${o.sni}`);
    const hello = quicClientHello({ sni: o.sni, alpn: o.alpn, padTo: o.helloSize });
    o.clientDatagrams(dcid, scid, hello).forEach((d, i) => datagram(f, d, true, i === 0 ? 3000 : 150));
    // The server's Initial (its own keys: RFC 9001 §5.2 "server in") and a Handshake packet.
    const serverFlight = Buffer.concat([
      quicInitial({ version: o.version, dcid: scid, scid: serverCid, keyDcid: dcid, sender: 'server', packetNumber: 0, frames: [Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00])], cryptoFrames: [{ offset: 0, data: Buffer.alloc(90, 0x02) }] }),
      quicInitial({ version: o.version, type: 'handshake', dcid: scid, scid: serverCid, keyDcid: dcid, sender: 'server', packetNumber: 0, cryptoFrames: [{ offset: 0, data: Buffer.alloc(900, 0x0b) }] }),
    ]);
    datagram(f, serverFlight, false, 18_000);
    for (let i = 0; i < 3; i++) {
      datagram(f, shortHeader(`${o.sni}:up:${i}`, 60, serverCid), true, 400);
      datagram(f, shortHeader(`${o.sni}:down:${i}`, 1250, scid), false, 9000);
    }
    quic.push({ remoteIp, port, version: o.version, sni: o.sni, alpn: o.alpn, what: o.what });
  };
  const padded = (packets: Buffer[], to = 1200): Buffer => {
    const d = Buffer.concat(packets);
    // RFC 9000 §14.1: a client's Initial datagram is at least 1200 bytes; zeros after the last
    // packet are how implementations pad (they are not a packet, RFC 9000 §12.2).
    return d.length >= to ? d : Buffer.concat([d, Buffer.alloc(to - d.length)]);
  };

  // 1. The phone resolves video.example.com (plaintext DNS to the gateway), then HTTP/3 v1.
  b.dnsUdp(phone, 'video.example.com', 'A', [{ name: 'video.example.com', type: 'A', ttl: 300, data: plan.us }]);
  quicConnection(phone, plan.us, 443, {
    version: 0x00000001,
    sni: 'video.example.com',
    alpn: ['h3'],
    what: 'v1, one Initial',
    clientDatagrams: (dcid, scid, hello) => [quicInitial({ dcid, scid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 })],
  });
  // 2. QUIC v2 (RFC 9369), no DNS seen: the SNI alone names it.
  quicConnection(phone, plan.de, 443, {
    version: 0x6b3343cf,
    sni: 'v2.example.net',
    alpn: ['h3'],
    what: 'v2, one Initial',
    clientDatagrams: (dcid, scid, hello) => [quicInitial({ version: 0x6b3343cf, dcid, scid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 })],
  });
  // 3. Two Initials coalesced in one datagram (RFC 9000 §12.2), the ClientHello split between
  //    them, followed by a 0-RTT packet.
  quicConnection(phone, plan.fr, 443, {
    version: 0x00000001,
    sni: 'coalesced.example.org',
    alpn: ['h3', 'h3-29'],
    what: 'v1, ClientHello over two coalesced Initials + 0-RTT',
    clientDatagrams: (dcid, scid, hello) => {
      const cut = 200;
      return [
        padded([
          quicInitial({ dcid, scid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: hello.subarray(0, cut) }] }),
          quicInitial({ dcid, scid, packetNumber: 1, cryptoFrames: [{ offset: cut, data: hello.subarray(cut) }] }),
          quicInitial({ type: '0rtt', dcid, scid, packetNumber: 0, frames: [Buffer.alloc(40, 0x00)] }),
        ]),
      ];
    },
  });
  // 4. A ClientHello of ~2.4 KB (post-quantum key shares make them this big) split over two
  //    Initial datagrams, the second one's CRYPTO frames written last piece first.
  quicConnection(laptop, plan.unknown, 443, {
    version: 0x00000001,
    sni: 'split.example.com',
    alpn: ['h3'],
    helloSize: 2400,
    what: 'v1, ClientHello over two datagrams, second reordered',
    clientDatagrams: (dcid, scid, hello) => [
      quicInitial({ dcid, scid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: hello.subarray(0, 1100) }], padTo: 1200 }),
      quicInitial({ dcid, scid, packetNumber: 1, cryptoFrames: quicCryptoPieces(hello.subarray(1100), 400, 'reverse').map((p) => ({ offset: p.offset + 1100, data: p.data })), padTo: 1400 }),
    ],
  });
  // 5. Chrome-style: the CRYPTO stream cut in small pieces, shuffled, with PING frames between.
  quicConnection(laptop, plan.de, 443, {
    version: 0x00000001,
    sni: 'chaos.example.com',
    alpn: ['h3'],
    what: 'v1, CRYPTO pieces reversed with PING and PADDING between',
    clientDatagrams: (dcid, scid, hello) => {
      const pieces = quicCryptoPieces(hello, 37, 'reverse');
      return [quicInitial({ dcid, scid, packetNumber: 0, frames: [Buffer.from([0x01, 0x00, 0x00, 0x01])], cryptoFrames: pieces, padTo: 1250 })];
    },
  });
  // 6. DNS over QUIC (RFC 9250) to an unlisted server on UDP/853.
  quicConnection(laptop, plan.fr, 853, {
    version: 0x00000001,
    sni: 'doq.example.net',
    alpn: ['doq'],
    what: 'DoQ on UDP/853',
    clientDatagrams: (dcid, scid, hello) => [quicInitial({ dcid, scid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 })],
  });
  encryptedDns.push({ remoteIp: plan.fr, port: 853, proto: 'udp', kind: 'doq', resolver: 'doq.example.net' });

  // 7. UDP that is not QUIC: a game protocol whose first byte has the high bit set, another
  //    version number; and a datagram that claims to be a v1 Initial but is noise.
  const game: FlowSpec = { dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.ru, port: 27015, proto: 'udp' };
  datagram(game, Buffer.concat([Buffer.from([0xc3, 0xde, 0xad, 0xbe, 0xef]), Buffer.alloc(80, 0x5a)]), true, 2000);
  datagram(game, Buffer.alloc(120, 0x33), false, 30_000);
  unattributed.push({ remoteIp: plan.ru, port: 27015, proto: 'udp' });
  const fake: FlowSpec = { dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.cn, port: 443, proto: 'udp' };
  const noise = createHash('sha512').update('noise').digest();
  const forged = Buffer.concat([Buffer.from([0xc1, 0, 0, 0, 1, 8]), cid('forged'), Buffer.from([0, 0, 0x44, 0xa0]), Buffer.alloc(1180 - 4, 0)]);
  for (let i = 18; i < forged.length; i++) forged[i] = noise[i % noise.length]!;
  forged.writeUInt16BE(0x4000 | (forged.length - 18), 16);
  datagram(fake, forged, true, 2000);
  unattributed.push({ remoteIp: plan.cn, port: 443, proto: 'udp' });

  // 8. DNS over HTTPS: to a listed address (no SNI in the capture: ECH or a resumed session
  //    would look the same), three times; and to another address with a listed SNI.
  for (let i = 0; i < 3; i++) {
    const c = b.tcpConn({ dev: phone, localIp: phone.ip, localPort: b.port(phone), remoteIp: CLOUDFLARE_DNS, port: 443 }, 12_000);
    c.open();
    c.send(true, tlsApplicationData(300, 10 + i));
    c.send(false, tlsApplicationData(500, 20 + i));
    c.close();
    encryptedDns.push({ remoteIp: CLOUDFLARE_DNS, port: 443, proto: 'tcp', kind: 'doh', resolver: 'cloudflare-dns.com' });
  }
  const doh = b.tcpConn({ dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.us, port: 443, sni: 'dns.google' }, 15_000);
  doh.open();
  doh.send(true, tlsClientHello({ sni: 'dns.google', alpn: ['h2'] }));
  doh.send(false, tlsApplicationData(1400, 5));
  doh.close();
  encryptedDns.push({ remoteIp: plan.us, port: 443, proto: 'tcp', kind: 'doh', resolver: 'dns.google' });

  // 9. DNS over TLS (RFC 7858): to Quad9 by SNI, and to an unlisted server without SNI.
  const dot = b.tcpConn({ dev: phone, localIp: phone.ip, localPort: b.port(phone), remoteIp: plan.de, port: 853, sni: 'dns.quad9.net' }, 20_000);
  dot.open();
  dot.send(true, tlsClientHello({ sni: 'dns.quad9.net', alpn: ['dot'] }));
  dot.send(false, tlsApplicationData(900, 7));
  dot.close();
  encryptedDns.push({ remoteIp: plan.de, port: 853, proto: 'tcp', kind: 'dot', resolver: 'dns.quad9.net' });
  const dot2 = b.tcpConn({ dev: phone, localIp: phone.ip, localPort: b.port(phone), remoteIp: plan.fr, port: 853 }, 20_000);
  dot2.open();
  dot2.send(true, tlsClientHello({}));
  dot2.send(false, tlsApplicationData(700, 8));
  dot2.close();
  encryptedDns.push({ remoteIp: plan.fr, port: 853, proto: 'tcp', kind: 'dot', resolver: plan.fr });
  unattributed.push({ remoteIp: plan.fr, port: 853, proto: 'tcp' });

  // 10. TCP to an address nothing names: no DNS, no SNI, no Host.
  const blind = b.tcpConn({ dev: phone, localIp: phone.ip, localPort: b.port(phone), remoteIp: plan.cn, port: 8443 }, 40_000);
  blind.open();
  blind.send(true, tlsApplicationData(4000, 9));
  blind.send(false, tlsApplicationData(2000, 10));
  blind.close();
  unattributed.push({ remoteIp: plan.cn, port: 8443, proto: 'tcp' });

  const expected = b.expected([phone, laptop]);
  return {
    linkType: 1,
    frames: b.frames,
    description:
      'Phone pixel-7 (192.168.1.50) and laptop bob-laptop (192.168.1.60): HTTP/3 over QUIC v1 and v2 (single, coalesced, split, reordered Initials), ' +
      'DoQ on UDP/853, DoH to 1.1.1.1 (x3) and by SNI dns.google, DoT to dns.quad9.net and to an unlisted server, non-QUIC UDP, a forged Initial, TCP to an unnamed address.',
    expected: { ...expected, quic, encryptedDns, unattributed, undecryptable: 1 },
  };
}
