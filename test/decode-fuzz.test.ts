/**
 * Bounded random mutation of valid frames and application payloads. Nothing may throw, frame
 * decoding must keep its invariants (payload inside the capture, at most one error per frame),
 * and the TLS parser's need-more must always ask for more than it was given. Seeded, so a failure
 * reproduces: the message names the seed and iteration.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDhcp } from '../src/decode/dhcp';
import { decodeDnsMessage, splitTcpDnsMessages, svcbHints } from '../src/decode/dns-message';
import { FrameDecoder } from '../src/decode/frame-decoder';
import { parseHttpHost } from '../src/decode/http-request';
import { parseClientHelloSni } from '../src/decode/tls-client-hello';
import { DECODE_LAYERS, newDecodedPacket } from '../src/decode/types';
import * as P from './support/packets';

// Longer or different runs by hand: GEOWARDEN_FUZZ_ITERATIONS=1000000 GEOWARDEN_FUZZ_SEED=7 node --test ...
const ITERATIONS = Number(process.env.GEOWARDEN_FUZZ_ITERATIONS) || 20_000;
const SEED = Number(process.env.GEOWARDEN_FUZZ_SEED) || 0x5eed1234;
const LINK_TYPES = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];

class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  int(n: number): number {
    return this.next() % n;
  }
}

const INTERESTING = [0, 1, 2, 4, 5, 6, 8, 0x0f, 0x10, 0x3f, 0x40, 0x45, 0x60, 0x7f, 0x80, 0xc0, 0xfe, 0xff];

function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const op = rng.int(6);
    if (b.length === 0) b = Buffer.from([rng.int(256)]);
    const at = rng.int(b.length);
    switch (op) {
      case 0: // random byte
        b[at] = rng.int(256);
        break;
      case 1: // interesting byte (lengths, version nibbles, compression bits)
        b[at] = INTERESTING[rng.int(INTERESTING.length)]!;
        break;
      case 2: // bit flip
        b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 3: // truncate
        b = b.subarray(0, at);
        break;
      case 4: // insert bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.alloc(1 + rng.int(8), rng.int(256)), b.subarray(at)]);
        break;
      default: // 16-bit length field set to something odd
        if (at + 1 < b.length) b.writeUInt16BE([0, 1, 0xffff, 0x8000, b.length, b.length - at][rng.int(6)]! & 0xffff, at);
    }
  }
  return b;
}

const C4 = '10.9.8.7';
const S4 = '198.51.100.7';
const C6 = 'fd00::7';
const S6 = '2001:db8:1::7';

function appPayloads(): Buffer[] {
  const hello = P.tlsClientHello({ sni: 'fuzz.example.com', alpn: ['h2'] });
  const body = hello.subarray(5);
  const rec = (x: Buffer): Buffer => Buffer.concat([Buffer.from([22, 3, 1, x.length >> 8, x.length & 255]), x]);
  const dnsChain = P.dnsResponse({
    id: 1,
    question: { name: 'www.fuzz.example', type: 'A' },
    answers: [
      { name: 'www.fuzz.example', type: 'CNAME', ttl: 5, data: 'edge.fuzz.example' },
      { name: 'edge.fuzz.example', type: 'A', ttl: 5, data: '192.0.2.9' },
      { name: 'edge.fuzz.example', type: 'AAAA', ttl: 5, data: '2001:db8::9' },
    ],
  });
  const dnsHttps = P.dnsResponse({
    id: 2,
    question: { name: 'svc.fuzz.example', type: 'HTTPS' },
    answers: [{ name: 'svc.fuzz.example', type: 'HTTPS', ttl: 5, data: { priority: 1, target: '.', alpn: ['h2'], ipv4hint: ['192.0.2.1'], ipv6hint: ['2001:db8::1'] } }],
  });
  return [
    hello,
    Buffer.concat([rec(body.subarray(0, 70)), rec(body.subarray(70))]),
    P.httpRequest({ host: 'fuzz.example:8080', path: '/x' }),
    P.dhcp({ messageType: 'request', clientMac: '02:11:22:33:44:55', hostname: 'fuzzbox', requestedIp: '192.168.0.9' }),
    dnsChain,
    dnsHttps,
    P.dnsOverTcp([dnsChain, dnsHttps]),
  ];
}

function frames(app: Buffer[]): Array<{ bytes: Buffer; linkType: number }> {
  const tcp4 = (payload: Buffer): Buffer =>
    P.ipv4({ src: C4, dst: S4, protocol: 6, payload: P.tcp({ src: C4, dst: S4, srcPort: 40000, dstPort: 443, flags: 'PA', payload }) });
  const udp4 = (payload: Buffer): Buffer => P.ipv4({ src: C4, dst: S4, protocol: 17, payload: P.udp({ src: C4, dst: S4, srcPort: 53, dstPort: 5353, payload }) });
  const udp6 = (payload: Buffer): Buffer =>
    P.ipv6({
      src: C6,
      dst: S6,
      nextHeader: 17,
      extensions: [{ type: 0, data: Buffer.alloc(4) }, P.ipv6FragmentHeader(0, true, 99)],
      payload: P.udp({ src: C6, dst: S6, srcPort: 53, dstPort: 5353, payload }),
    });
  return [
    { bytes: P.frame({ ip: tcp4(app[0]!) }), linkType: 1 },
    { bytes: P.frame({ vlans: [10, 20], qinq: true, ip: tcp4(app[2]!) }), linkType: 1 },
    { bytes: P.frame({ link: 'sll', ip: udp4(app[3]!) }), linkType: 113 },
    { bytes: P.frame({ link: 'sll2', ip: udp6(app[4]!) }), linkType: 276 },
    { bytes: P.frame({ link: 'null', ip: P.ipv4({ src: C4, dst: S4, protocol: 1, payload: P.icmpEcho({ id: 1, seq: 1 }) }) }), linkType: 0 },
    { bytes: P.frame({ link: 'raw', ip: P.ipv6({ src: C6, dst: S6, nextHeader: 58, payload: P.icmpv6Echo({ src: C6, dst: S6, id: 1, seq: 2 }) }) }), linkType: 101 },
    { bytes: P.frame({ link: 'loop', ip: udp4(app[5]!) }), linkType: 108 },
    ...P.ipv4Fragments({ src: C4, dst: S4, protocol: 17, payload: P.udp({ src: C4, dst: S4, srcPort: 1, dstPort: 2, payload: Buffer.alloc(300, 1) }), id: 7 }, 128).map(
      (ip) => ({ bytes: P.frame({ ip }), linkType: 1 }),
    ),
  ];
}

function allParsers(buf: Buffer, off: number, len: number): void {
  const sni = parseClientHelloSni(buf, off, len);
  const present = Math.max(0, Math.min(len, buf.length - off)); // parsers never look past the buffer
  if (sni.kind === 'need-more') assert.ok(sni.needed > present, `need-more asks for ${sni.needed} with ${present} present`);
  if (sni.kind === 'sni') assert.ok(/^[a-z0-9_.-]+$/.test(sni.name));
  parseHttpHost(buf, off, len);
  parseDhcp(buf, off, len);
  const dns = decodeDnsMessage(buf, off, len);
  if (dns !== 'malformed') for (const a of dns.answers) svcbHints(a);
  const split = splitTcpDnsMessages(buf, off, len);
  assert.ok(split.consumed <= len);
  for (const [o, l] of split.messages) decodeDnsMessage(buf, o, l);
}

function totalErrors(d: FrameDecoder): number {
  let n = d.errors.unsupportedLinkType;
  for (const l of DECODE_LAYERS) n += d.errors.byLayer[l];
  return n;
}

describe('fuzz: random mutations never throw', () => {
  it(`${ITERATIONS} mutated frames through FrameDecoder and every app parser`, () => {
    const rng = new Rng(SEED);
    const app = appPayloads();
    const bases = frames(app);
    const d = new FrameDecoder();
    const p = newDecodedPacket();
    let decoded = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const base = bases[rng.int(bases.length)]!;
      const bytes = mutate(rng, base.bytes);
      const linkType = rng.int(4) === 0 ? LINK_TYPES[rng.int(LINK_TYPES.length)]! : base.linkType;
      const captured = rng.int(8) === 0 ? rng.int(bytes.length + 1) : bytes.length;
      const wire = rng.int(8) === 0 ? rng.int(3 * bytes.length + 1) : bytes.length;
      const where = `seed ${SEED} iteration ${i}`;
      const before = totalErrors(d);
      let ok = false;
      assert.doesNotThrow(() => {
        ok = d.decode({ buf: bytes, offset: 0, capturedLength: captured, wireLength: wire, timestampUs: i, linkType }, p);
      }, where);
      const counted = totalErrors(d) - before;
      if (ok) {
        decoded++;
        assert.equal(counted, 0, where);
        assert.ok(p.ipVersion === 4 || p.ipVersion === 6, where);
        assert.ok(p.payloadLength >= 0 && p.payloadOffset + p.payloadLength <= p.capturedLength, where);
        assert.ok(p.capturedLength <= bytes.length, where);
        assert.doesNotThrow(() => allParsers(bytes, p.payloadOffset, p.payloadLength), where);
      } else {
        assert.ok(counted <= 1, where);
        assert.equal(p.ipVersion, 0, where);
      }
    }
    assert.ok(decoded > ITERATIONS / 4, `only ${decoded} mutated frames decoded: mutations too destructive to be useful`);
  });

  it(`${ITERATIONS} mutated application payloads through every app parser`, () => {
    const rng = new Rng(SEED ^ 0xa5a5a5a5);
    const app = appPayloads();
    for (let i = 0; i < ITERATIONS; i++) {
      const bytes = mutate(rng, app[rng.int(app.length)]!);
      // Sometimes at an offset inside a larger buffer, with garbage around it.
      const pad = rng.int(4) === 0 ? 1 + rng.int(16) : 0;
      const buf = pad ? Buffer.concat([Buffer.alloc(pad, 0xc0), bytes, Buffer.alloc(pad, 0xc0)]) : bytes;
      assert.doesNotThrow(() => allParsers(buf, pad, bytes.length), `seed ${SEED} iteration ${i}`);
    }
  });

  it('parsers tolerate offsets and lengths beyond the buffer', () => {
    const b = Buffer.from([22, 3, 1, 0, 5]);
    for (const [o, l] of [
      [0, 100],
      [3, 100],
      [10, 5],
      [-1, 3],
      [0, -1],
    ] as Array<[number, number]>) {
      assert.doesNotThrow(() => allParsers(b, o, Math.max(l, 0)));
      assert.doesNotThrow(() => {
        parseClientHelloSni(b, o, l);
        parseHttpHost(b, o, l);
        parseDhcp(b, o, l);
        decodeDnsMessage(b, o, l);
        splitTcpDnsMessages(b, o, l);
      });
    }
  });
});
