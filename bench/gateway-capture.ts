/**
 * Synthetic gateway capture for the benchmark: a LAN of devices talking to tens of thousands of
 * public hosts over ~10 minutes, with the resolver traffic that names those hosts. Deterministic
 * for a given seed.
 *
 * Speed comes from never building a packet from scratch in the hot loop: each flow gets a header
 * template for each direction once, and every packet copies that template and patches lengths,
 * IP id, sequence numbers and flags. Payloads are slices of one pseudo-random block, or cached
 * application payloads (DNS messages, ClientHellos, HTTP requests) per remote host. Checksums
 * are nevertheless correct: IPv4 header, TCP and UDP checksums are computed incrementally
 * (RFC 1624 arithmetic) from precomputed partial sums of the template words, the pseudo-header
 * and prefix sums over the payload block, so tshark and checksum-validating decoders accept the
 * file.
 *
 * Usage: node dist/bench/gateway-capture.js OUT.pcap [packets] [seed]
 */
import { createHash } from 'node:crypto';
import { dnsQuery, dnsResponse, DnsAnswerSpec, httpRequest, quicClientHello, quicInitial, tlsClientHello } from '../test/support/packets';
import { StreamingPcapWriter } from '../test/support/pcap-writer';

export interface GatewayCaptureOptions {
  /** Frames to write (default 1,000,000). */
  packets?: number;
  /** LAN devices (default 200). */
  devices?: number;
  /** Distinct remote hosts (default 50,000); a share ipv6Share of them are IPv6. */
  remotes?: number;
  /** Target share of packets that are DNS to the gateway resolver (default 0.03). */
  dnsShare?: number;
  /** Target share of packets that are IPv6 (default 0.05). */
  ipv6Share?: number;
  seed?: number;
  /** Length of the capture in seconds (default 600). */
  durationSeconds?: number;
  /**
   * Share of the non-DNS flows that are QUIC with a real, encrypted client Initial carrying a
   * ClientHello (RFC 9001 §5.2), e.g. 0.3. Default: none; the other UDP flows keep their
   * QUIC-looking but opaque datagrams.
   */
  quicShare?: number;
}

export interface GatewayCaptureResult {
  packets: number;
  /** File size in bytes. */
  bytes: number;
  /** Wall-clock time taken to generate and write the file. */
  seconds: number;
}

/** 2024-06-01T08:00:00Z, like the test scenarios. */
const START_US = 1_717_228_800_000_000;
const GATEWAY_V4 = 0xc0a80101; // 192.168.1.1
const GATEWAY_MAC = Buffer.from([0x02, 0, 0, 0, 0, 0x01]);
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
// No window scaling is negotiated (the SYNs carry no options), so windows are plain byte counts.
const WIN_DEVICE = 64240;
const WIN_REMOTE = 65160;

// TCP flag bits (RFC 793 §3.1)
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

// Op encoding: kind << 23 | dir << 22 | flags << 16 | payload length. dir 0 = device → remote.
const K_TCP = 0; // payload from the random block (or none)
const K_TCP_SPECIAL = 1; // the flow's cached application payload
const K_UDP = 2;
const K_DNS_Q = 3;
const K_DNS_R = 4;
const K_TCP_SPECIAL2 = 5; // the flow's cached server-side payload (HTTP response header)
const K_UDP_SPECIAL = 6; // the flow's cached datagram (a QUIC client Initial)

function op(kind: number, dir: number, flags: number, len: number): number {
  return (kind << 23) | (dir << 22) | (flags << 16) | len;
}

/** sfc32: small, fast, and good enough for traffic shapes (not for cryptography). */
class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 20; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  float(): number {
    return this.u32() / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** Geometric-ish count with the given mean (at least 1). */
  count(mean: number, cap: number): number {
    return Math.min(cap, 1 + Math.floor(-Math.log(1 - this.float()) * (mean - 1)));
  }
}

/**
 * Special-purpose IPv4 space (RFC 6890 and the IANA registry) that a public remote must avoid:
 * this network, RFC 1918, CGNAT, loopback, link-local, IETF protocol assignments, documentation,
 * 6to4 relay anycast, benchmarking, multicast and reserved/broadcast.
 */
const RESERVED_V4: Array<[number, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
].map(([a, p]) => {
  const n = (a as string).split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  return [n >>> 0, (p as number)] as [number, number];
});

function isReservedV4(ip: number): boolean {
  for (const [net, prefix] of RESERVED_V4) {
    if (ip >>> (32 - prefix) === net >>> (32 - prefix)) return true;
  }
  return false;
}

/**
 * Global unicast IPv6 is 2000::/3 (RFC 4291 §2.4); within it avoid 2001::/23 (IETF protocol
 * assignments, RFC 2928), 2001:db8::/32 (documentation, RFC 3849), 2002::/16 (6to4, RFC 3056)
 * and 3fff::/20 (documentation, RFC 9637).
 */
function isReservedV6(w0: number): boolean {
  const hi = w0 >>> 16;
  const lo = w0 & 0xffff;
  if (hi === 0x2001 && (lo < 0x0200 || lo === 0x0db8)) return true;
  if (hi === 0x2002) return true;
  if (hi === 0x3fff && lo < 0x1000) return true;
  return false;
}

function v4Text(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function v6Text(w: Uint32Array, i: number): string {
  const g: string[] = [];
  for (let k = 0; k < 4; k++) g.push((w[i * 4 + k]! >>> 16).toString(16), (w[i * 4 + k]! & 0xffff).toString(16));
  return g.join(':');
}

/** Sum of big-endian 16-bit words, unfolded; `buf` starts at an even offset of its packet. */
function wordSum(buf: Buffer): number {
  let s = 0;
  const n = buf.length & ~1;
  for (let i = 0; i < n; i += 2) s += (buf[i]! << 8) | buf[i + 1]!;
  if (buf.length & 1) s += buf[buf.length - 1]! << 8;
  return s;
}

/** RFC 1071 fold of a partial sum below 2^32 into 16 bits (not complemented). */
function fold(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return s;
}

interface Payload {
  buf: Buffer;
  sum: number;
}

function payload(buf: Buffer): Payload {
  return { buf, sum: wordSum(buf) };
}

interface Flow {
  proto: number;
  v6: boolean;
  /** Header templates: [device → remote | remote → device], each `hlen` bytes. */
  hdr: Buffer;
  hlen: number;
  ipLen: number;
  l4Len: number;
  /** Static part of the IPv4 header sum per direction (everything but length and id). */
  ipStatic0: number;
  ipStatic1: number;
  /** Pseudo-header sum without the length: addresses and protocol (same both ways). */
  pseudo: number;
  /** Static part of the transport header sum per direction (ports, data offset, window). */
  l4Static0: number;
  l4Static1: number;
  seq0: number;
  seq1: number;
  id0: number;
  id1: number;
  ops: number[];
  at: number;
  special: Payload | null;
  special2: Payload | null;
  dnsId: number;
  dnsQ: Payload | null;
  dnsR: Payload | null;
  isDns: boolean;
  next: Flow | null;
}

const WORDS = ['api', 'cdn', 'edge', 'img', 'static', 'push', 'sync', 'telemetry', 'update', 'media', 'auth', 'www', 'ws', 'mqtt', 'gw'];
const ZONES = ['example.com', 'example.net', 'example.org', 'cloud.example', 'cdn.example', 'iot.example', 'video.example', 'ads.example'];

export async function generateGatewayCapture(path: string, o: GatewayCaptureOptions = {}): Promise<GatewayCaptureResult> {
  const started = process.hrtime.bigint();
  const total = o.packets ?? 1_000_000;
  const nDevices = Math.max(1, Math.min(o.devices ?? 200, 60_000));
  const nRemotes = Math.max(2, o.remotes ?? 50_000);
  const dnsShare = o.dnsShare ?? 0.03;
  const ipv6Share = o.ipv6Share ?? 0.05;
  const rng = new Rng(o.seed ?? 1);
  const meanGapUs = ((o.durationSeconds ?? 600) * 1e6) / Math.max(1, total);

  // --- LAN devices: 192.168.1.10 upward (then 192.168.2.x ...), fd00:1::/64, local MACs.
  const devV4 = new Uint32Array(nDevices);
  const devMac: Buffer[] = [];
  const devHasV6: boolean[] = [];
  const v6Devices: number[] = [];
  const devPort = new Uint16Array(nDevices);
  for (let i = 0; i < nDevices; i++) {
    devV4[i] = (0xc0a80000 + (1 + Math.floor(i / 240)) * 256 + 10 + (i % 240)) >>> 0;
    const mac = Buffer.from([0x02, 0x47, 0x57, (i >> 8) & 0xff, i & 0xff, rng.u32() & 0xff]);
    devMac.push(mac);
    devHasV6.push(rng.float() < 0.6);
    if (devHasV6[i]) v6Devices.push(i);
    devPort[i] = 32768 + rng.int(28000);
  }
  const devV6 = (i: number): Uint32Array => Uint32Array.of(0xfd000001, 0, 0, 0x1000 + i);

  // --- Remotes: public IPv4 and global IPv6 outside special-purpose space.
  const nV6 = ipv6Share > 0 ? Math.max(1, Math.round(nRemotes * ipv6Share)) : 0;
  const nV4 = nRemotes - nV6;
  const remV4 = new Uint32Array(nV4);
  for (let i = 0; i < nV4; i++) {
    let ip: number;
    do ip = rng.u32();
    while (isReservedV4(ip));
    remV4[i] = ip;
  }
  const remV6 = new Uint32Array(nV6 * 4);
  for (let i = 0; i < nV6; i++) {
    let w0: number;
    do w0 = (0x20000000 | (rng.u32() & 0x1fffffff)) >>> 0;
    while (isReservedV6(w0));
    remV6[i * 4] = w0;
    remV6[i * 4 + 1] = rng.u32();
    remV6[i * 4 + 2] = 0;
    remV6[i * 4 + 3] = 1 + rng.int(0xffff);
  }

  // --- Names and cached application payloads per remote (key: v4 index, or -1 - v6 index).
  const nameOf = (key: number): string => {
    const idx = key >= 0 ? key : -1 - key;
    const h = Math.imul(idx + (key < 0 ? 7919 : 0), 2654435761) >>> 0;
    return `${WORDS[h % WORDS.length]}${idx}.${ZONES[(h >>> 8) % ZONES.length]}`;
  };
  const dnsCache = new Map<number, { q: Payload; r: Payload }>();
  const dnsFor = (key: number): { q: Payload; r: Payload } => {
    let d = dnsCache.get(key);
    if (!d) {
      const name = nameOf(key);
      const v6 = key < 0;
      const addr = v6 ? v6Text(remV6, -1 - key) : v4Text(remV4[key]!);
      const type = v6 ? 'AAAA' : 'A';
      const answers: DnsAnswerSpec[] = [];
      let owner = name;
      // A third of the names sit behind a CDN alias, as is common for popular hosts.
      if ((Math.imul(key, 40503) >>> 0) % 3 === 0) {
        const alias = `e${Math.abs(key) % 997}.edge${Math.abs(key) % 13}.cdn-provider.example`;
        answers.push({ name, type: 'CNAME', ttl: 300, data: alias });
        owner = alias;
      }
      answers.push({ name: owner, type, ttl: 60, data: addr });
      // id 0 in the cache; the flow's id is written (and added to the sum) per packet.
      d = {
        q: payload(dnsQuery({ id: 0, name, type })),
        r: payload(dnsResponse({ id: 0, question: { name, type }, answers })),
      };
      dnsCache.set(key, d);
    }
    return d;
  };
  const helloCache = new Map<number, Payload>();
  const helloFor = (key: number): Payload => {
    let p = helloCache.get(key);
    if (!p) {
      p = payload(tlsClientHello({ sni: nameOf(key), alpn: ['h2', 'http/1.1'] }));
      helloCache.set(key, p);
    }
    return p;
  };
  // One client Initial per remote host (RFC 9000 §14.1: padded to 1200 bytes). Each flow still
  // costs the replay a key derivation and a decryption: keys are per flow, not per host.
  const initialCache = new Map<number, Payload>();
  const initialFor = (key: number): Payload => {
    let p = initialCache.get(key);
    if (!p) {
      const cid = createHash('sha256').update(`bench-quic:${key}`).digest();
      const hello = quicClientHello({ sni: nameOf(key), alpn: ['h3'] });
      p = payload(quicInitial({ dcid: cid.subarray(0, 8), scid: cid.subarray(8, 16), cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 }));
      initialCache.set(key, p);
    }
    return p;
  };
  const httpCache = new Map<number, Payload>();
  const httpFor = (key: number): Payload => {
    let p = httpCache.get(key);
    if (!p) {
      p = payload(httpRequest({ host: nameOf(key), path: `/v1/items/${Math.abs(key) % 1000}` }));
      httpCache.set(key, p);
    }
    return p;
  };

  // --- Payload block with prefix sums, so a random slice's checksum contribution is O(1).
  const BLOCK = 65536;
  const block = Buffer.alloc(BLOCK + 2048);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32BE(rng.u32(), i);
  const prefix = new Float64Array(block.length / 2 + 1);
  for (let i = 0; i < block.length / 2; i++) prefix[i + 1] = prefix[i]! + ((block[2 * i]! << 8) | block[2 * i + 1]!);
  const sliceSum = (off: number, len: number): number => {
    const even = len & ~1;
    let s = prefix[(off + even) >> 1]! - prefix[off >> 1]!;
    if (len & 1) s += block[off + len - 1]! << 8;
    return s;
  };

  // --- Flow construction.
  const addrSumV4 = (a: number): number => (a >>> 16) + (a & 0xffff);
  const addrSumV6 = (w: Uint32Array, i: number): number => {
    let s = 0;
    for (let k = 0; k < 4; k++) s += (w[i * 4 + k]! >>> 16) + (w[i * 4 + k]! & 0xffff);
    return s;
  };

  function makeFlow(
    proto: number,
    dev: number,
    v6: boolean,
    remote: { v4: number } | { v6: Uint32Array; i: number },
    cport: number,
    sport: number,
    remoteTtl: number,
  ): Flow {
    const ipLen = v6 ? 40 : 20;
    const l4Len = proto === IPPROTO_TCP ? 20 : 8;
    const hlen = 14 + ipLen + l4Len;
    const hdr = Buffer.alloc(hlen * 2);
    let addrSum: number;
    const devW = v6 ? devV6(dev) : null;
    for (let dir = 0; dir < 2; dir++) {
      const b = dir * hlen;
      (dir === 0 ? GATEWAY_MAC : devMac[dev]!).copy(hdr, b);
      (dir === 0 ? devMac[dev]! : GATEWAY_MAC).copy(hdr, b + 6);
      hdr.writeUInt16BE(v6 ? 0x86dd : 0x0800, b + 12);
      const ip = b + 14;
      const ttl = dir === 0 ? 64 : remoteTtl;
      if (!v6) {
        hdr[ip] = 0x45;
        hdr.writeUInt16BE(0x4000, ip + 6); // DF, as Linux sets with path MTU discovery
        hdr[ip + 8] = ttl;
        hdr[ip + 9] = proto;
        const s = dir === 0 ? devV4[dev]! : (remote as { v4: number }).v4;
        const d = dir === 0 ? (remote as { v4: number }).v4 : devV4[dev]!;
        hdr.writeUInt32BE(s, ip + 12);
        hdr.writeUInt32BE(d, ip + 16);
      } else {
        hdr.writeUInt32BE(0x60000000, ip);
        hdr[ip + 6] = proto;
        hdr[ip + 7] = ttl;
        const r = remote as { v6: Uint32Array; i: number };
        for (let k = 0; k < 4; k++) {
          hdr.writeUInt32BE(dir === 0 ? devW![k]! : r.v6[r.i * 4 + k]!, ip + 8 + k * 4);
          hdr.writeUInt32BE(dir === 0 ? r.v6[r.i * 4 + k]! : devW![k]!, ip + 24 + k * 4);
        }
      }
      const l4 = ip + ipLen;
      hdr.writeUInt16BE(dir === 0 ? cport : sport, l4);
      hdr.writeUInt16BE(dir === 0 ? sport : cport, l4 + 2);
      if (proto === IPPROTO_TCP) {
        hdr[l4 + 12] = 0x50;
        hdr.writeUInt16BE(dir === 0 ? WIN_DEVICE : WIN_REMOTE, l4 + 14);
      }
    }
    if (!v6) {
      const r = (remote as { v4: number }).v4;
      addrSum = addrSumV4(devV4[dev]!) + addrSumV4(r);
    } else {
      const r = remote as { v6: Uint32Array; i: number };
      addrSum = addrSumV6(devW!, 0) + addrSumV6(r.v6, r.i);
    }
    const ipBase = 0x4500 + 0x4000 + proto + addrSum;
    const tcpExtra = proto === IPPROTO_TCP ? 0x5000 : 0;
    return {
      proto,
      v6,
      hdr,
      hlen,
      ipLen,
      l4Len,
      ipStatic0: ipBase + (64 << 8),
      ipStatic1: ipBase + (remoteTtl << 8),
      pseudo: addrSum + proto,
      l4Static0: cport + sport + tcpExtra + (proto === IPPROTO_TCP ? WIN_DEVICE : 0),
      l4Static1: cport + sport + tcpExtra + (proto === IPPROTO_TCP ? WIN_REMOTE : 0),
      seq0: rng.u32(),
      seq1: rng.u32(),
      id0: rng.int(0x10000),
      id1: rng.int(0x10000),
      ops: [],
      at: 0,
      special: null,
      special2: null,
      dnsId: 0,
      dnsQ: null,
      dnsR: null,
      isDns: false,
      next: null,
    };
  }

  const nextPort = (dev: number): number => {
    const p = devPort[dev]!;
    devPort[dev] = p >= 60999 ? 32768 : p + 1; // Linux ip_local_port_range default
    return p;
  };

  function dnsFlow(dev: number, key: number): Flow {
    const f = makeFlow(IPPROTO_UDP, dev, false, { v4: GATEWAY_V4 }, nextPort(dev), 53, 64);
    const d = dnsFor(key);
    f.isDns = true;
    f.dnsQ = d.q;
    f.dnsR = d.r;
    f.dnsId = rng.int(0x10000);
    f.ops.push(op(K_DNS_Q, 0, 0, d.q.buf.length), op(K_DNS_R, 1, 0, d.r.buf.length));
    return f;
  }

  const MSS4 = 1460;
  const MSS6 = 1440;

  function tcpOps(f: Flow, special: Payload | null, http: boolean): void {
    const ops = f.ops;
    const mss = f.v6 ? MSS6 : MSS4;
    ops.push(op(K_TCP, 0, SYN, 0), op(K_TCP, 1, SYN | ACK, 0), op(K_TCP, 0, ACK, 0));
    if (special) {
      f.special = special;
      ops.push(op(K_TCP_SPECIAL, 0, PSH | ACK, special.buf.length), op(K_TCP, 1, ACK, 0));
    }
    if (http) {
      // One request, one response whose header announces exactly the body that follows.
      const n = rng.count(4, 200);
      const sizes: number[] = [];
      let body = 0;
      for (let i = 0; i < n; i++) {
        const len = i === n - 1 ? 1 + rng.int(mss) : mss;
        sizes.push(len);
        body += len;
      }
      const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body}\r\n\r\n`);
      f.special2 = payload(head);
      ops.push(op(K_TCP_SPECIAL2, 1, PSH | ACK, head.length), op(K_TCP, 0, ACK, 0));
      sizes.forEach((len, i) => {
        const last = i === n - 1;
        ops.push(op(K_TCP, 1, last ? PSH | ACK : ACK, len));
        if (i % 2 === 1 || last) ops.push(op(K_TCP, 0, ACK, 0));
      });
    } else if (rng.float() < 0.1) {
      // Upload: many full segments up, the server only acknowledges (delayed ACK, RFC 1122).
      const n = rng.count(40, 2000);
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        ops.push(op(K_TCP, 0, last ? PSH | ACK : ACK, last ? 1 + rng.int(mss) : mss));
        if (i % 2 === 1 || last) ops.push(op(K_TCP, 1, ACK, 0));
      }
      ops.push(op(K_TCP, 1, PSH | ACK, 40 + rng.int(300)), op(K_TCP, 0, ACK, 0));
    } else {
      const rounds = rng.count(2, 12);
      for (let r = 0; r < rounds; r++) {
        if (r > 0 || !special) ops.push(op(K_TCP, 0, PSH | ACK, 60 + rng.int(700)));
        const n = rng.count(6, 1500);
        for (let i = 0; i < n; i++) {
          const last = i === n - 1;
          ops.push(op(K_TCP, 1, last ? PSH | ACK : ACK, last ? 1 + rng.int(mss) : mss));
          if (i % 2 === 1 || last) ops.push(op(K_TCP, 0, ACK, 0));
        }
      }
    }
    if (rng.float() < 0.03) ops.push(op(K_TCP, 1, RST | ACK, 0));
    else ops.push(op(K_TCP, 0, FIN | ACK, 0), op(K_TCP, 1, FIN | ACK, 0), op(K_TCP, 0, ACK, 0));
  }

  /**
   * An HTTP/3 connection (quicShare): the client's Initial, the server's first flight, then
   * request/response rounds shaped like the TLS flows' (an HTTP/3 connection carries what an
   * HTTPS one would), in datagrams of at most 1252 bytes (a common QUIC payload size for a
   * 1280-byte path), the client acknowledging every second one (RFC 9000 §13.2.2).
   */
  function quicOps(f: Flow, initial: Payload): void {
    f.special = initial;
    const ops = f.ops;
    ops.push(op(K_UDP_SPECIAL, 0, 0, initial.buf.length));
    ops.push(op(K_UDP, 1, 0, 1200), op(K_UDP, 1, 0, 1200), op(K_UDP, 0, 0, 90), op(K_UDP, 0, 0, 60));
    const rounds = rng.count(2, 12);
    for (let r = 0; r < rounds; r++) {
      ops.push(op(K_UDP, 0, 0, 60 + rng.int(700)));
      const n = rng.count(6, 1500);
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        ops.push(op(K_UDP, 1, 0, last ? 40 + rng.int(1212) : 1252));
        if (i % 2 === 1 || last) ops.push(op(K_UDP, 0, 0, 40 + rng.int(20)));
      }
    }
  }

  function udpOps(f: Flow, quic: boolean): void {
    const n = rng.count(10, 400);
    for (let i = 0; i < n; i++) {
      const dir = i === 0 ? 0 : rng.float() < 0.55 ? 1 : 0;
      // RFC 9000 §14.1: a client's first QUIC datagram is padded to at least 1200 bytes.
      const len = i === 0 && quic ? 1200 : 40 + rng.int(1160);
      f.ops.push(op(K_UDP, dir, 0, len));
    }
  }

  const resolved = new Set<number>();
  const knownV4: number[][] = Array.from({ length: nDevices }, () => []);
  const knownV6: number[][] = Array.from({ length: nDevices }, () => []);
  let emitted = 0;
  let dnsPackets = 0;
  let v6Packets = 0;

  /** Remote popularity is heavily skewed: a few hosts get most flows, as in real traffic. */
  const pickRemote = (n: number): number => Math.min(n - 1, Math.floor(n * Math.pow(rng.float(), 3)));

  function newFlow(): Flow {
    // Lookups without a following connection (prefetch, failed fetches) keep the DNS share up.
    if (dnsPackets < dnsShare * emitted - 50) {
      const dev = rng.int(nDevices);
      const key = pickRemote(nV4);
      if (!resolved.has(dev * (nRemotes + 1) + key)) knownV4[dev]!.push(key);
      resolved.add(dev * (nRemotes + 1) + key);
      return dnsFlow(dev, key);
    }
    const v6 = nV6 > 0 && v6Devices.length > 0 && v6Packets < ipv6Share * emitted;
    const dev = v6 ? v6Devices[rng.int(v6Devices.length)]! : rng.int(nDevices);
    // Devices mostly return to hosts they resolved before (answers are cached for their TTL);
    // they look up new ones while the resolver share is below target.
    const known = (v6 ? knownV6 : knownV4)[dev]!;
    const reuse = known.length > 0 && dnsPackets >= dnsShare * emitted;
    const idx = reuse ? known[rng.int(known.length)]! : pickRemote(v6 ? nV6 : nV4);
    const key = v6 ? -1 - idx : idx;
    const realQuic = o.quicShare !== undefined && rng.float() < o.quicShare;
    const tcpFlow = !realQuic && rng.float() < 0.8;
    let sport: number;
    let kind: 'tls' | 'http' | 'plain' | 'quic' | 'udp';
    if (tcpFlow) {
      const r = rng.float();
      if (r < 0.75) {
        sport = 443;
        kind = rng.float() < 0.9 ? 'tls' : 'plain';
      } else if (r < 0.85) {
        sport = 80;
        kind = 'http';
      } else {
        sport = [993, 5223, 8883, 8443, 22][rng.int(5)]!;
        kind = sport === 22 ? 'plain' : 'tls';
      }
    } else {
      const r = realQuic ? 0 : rng.float();
      if (r < 0.6) {
        sport = 443;
        kind = 'quic';
      } else {
        // Opaque payloads only on ports whose dissectors do not expect a fixed structure.
        sport = [3478, 19302, 27015, 9993][rng.int(4)]!;
        kind = 'udp';
      }
    }
    const remote = v6 ? { v6: remV6, i: idx } : { v4: remV4[idx]! };
    const f = makeFlow(tcpFlow ? IPPROTO_TCP : IPPROTO_UDP, dev, v6, remote, nextPort(dev), sport, 44 + rng.int(14));
    if (tcpFlow) tcpOps(f, kind === 'tls' ? helloFor(key) : kind === 'http' ? httpFor(key) : null, kind === 'http');
    else if (realQuic) quicOps(f, initialFor(key));
    else udpOps(f, kind === 'quic');
    // Resolve first unless this device already did; a few apps use literal addresses.
    const rkey = dev * (nRemotes + 1) + (v6 ? nV4 + idx : idx);
    if (!resolved.has(rkey) && rng.float() < 0.95) {
      resolved.add(rkey);
      known.push(idx);
      const d = dnsFlow(dev, key);
      d.next = f;
      return d;
    }
    return f;
  }

  // --- Emission.
  const writer = new StreamingPcapWriter(path, 1, 262144);
  const scratch = Buffer.alloc(2048);

  function emit(f: Flow, o: number, tsUs: number): void {
    const kind = o >>> 23;
    const dir = (o >>> 22) & 1;
    const flags = (o >>> 16) & 0x3f;
    const len = o & 0xffff;
    const H = f.hlen;
    f.hdr.copy(scratch, 0, dir * H, dir * H + H);
    let pSum = 0;
    if (len > 0) {
      if (kind === K_TCP || kind === K_UDP) {
        const off = (rng.u32() & (BLOCK - 1)) & ~1;
        block.copy(scratch, H, off, off + len);
        pSum = sliceSum(off, len);
        if (kind === K_UDP) {
          // Datagrams look like QUIC (RFC 9000 §17): long header first, then short headers. This
          // also keeps heuristic dissectors (RTP/RTCP want version bits 10) off random bytes.
          // The second byte (start of the connection id) is fixed too, for the same reason.
          const first = f.at === 1 ? 0xc3 : 0x40 | (block[off]! & 0x3f);
          pSum += ((first << 8) | 0x9a) - ((block[off]! << 8) | block[off + 1]!);
          scratch[H] = first;
          scratch[H + 1] = 0x9a;
        }
      } else if (kind === K_TCP_SPECIAL || kind === K_TCP_SPECIAL2 || kind === K_UDP_SPECIAL) {
        const p = kind === K_TCP_SPECIAL2 ? f.special2! : f.special!;
        p.buf.copy(scratch, H);
        pSum = p.sum;
      } else {
        const p = kind === K_DNS_Q ? f.dnsQ! : f.dnsR!;
        p.buf.copy(scratch, H);
        scratch.writeUInt16BE(f.dnsId, H);
        pSum = p.sum + f.dnsId;
      }
    }
    const l4Total = f.l4Len + len;
    if (!f.v6) {
      const totalLen = 20 + l4Total;
      let id: number;
      if (dir === 0) id = f.id0 = (f.id0 + 1) & 0xffff;
      else id = f.id1 = (f.id1 + 1) & 0xffff;
      scratch.writeUInt16BE(totalLen, 16);
      scratch.writeUInt16BE(id, 18);
      scratch.writeUInt16BE(~fold((dir === 0 ? f.ipStatic0 : f.ipStatic1) + totalLen + id) & 0xffff, 24);
    } else {
      scratch.writeUInt16BE(l4Total, 18);
    }
    const l4 = 14 + f.ipLen;
    const l4Static = dir === 0 ? f.l4Static0 : f.l4Static1;
    if (f.proto === IPPROTO_TCP) {
      const seq = dir === 0 ? f.seq0 : f.seq1;
      const ack = flags & ACK ? (dir === 0 ? f.seq1 : f.seq0) : 0;
      scratch.writeUInt32BE(seq, l4 + 4);
      scratch.writeUInt32BE(ack, l4 + 8);
      scratch[l4 + 13] = flags;
      const sum = f.pseudo + l4Total + l4Static + flags + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) + pSum;
      scratch.writeUInt16BE(~fold(sum) & 0xffff, l4 + 16);
      const adv = (len + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0)) >>> 0;
      if (dir === 0) f.seq0 = (seq + adv) >>> 0;
      else f.seq1 = (seq + adv) >>> 0;
    } else {
      scratch.writeUInt16BE(l4Total, l4 + 4);
      const c = ~fold(f.pseudo + l4Total + l4Total + l4Static + pSum) & 0xffff;
      scratch.writeUInt16BE(c === 0 ? 0xffff : c, l4 + 6); // RFC 768: zero is sent as all ones
    }
    writer.addSlice(tsUs, scratch, H + len);
    if (f.isDns) dnsPackets++;
    if (f.v6) v6Packets++;
  }

  // A few hundred concurrent flows, one packet at a time from a random one, interleave flows
  // realistically while keeping timestamps monotonic.
  const K = Math.max(1, Math.min(512, Math.ceil(total / 200)));
  const slots: Flow[] = [];
  for (let i = 0; i < K; i++) slots.push(newFlow());
  let t = START_US;
  while (emitted < total) {
    t += -Math.log(1 - rng.float()) * meanGapUs;
    const s = rng.int(K);
    const f = slots[s]!;
    emit(f, f.ops[f.at++]!, Math.floor(t));
    emitted++;
    if (f.at >= f.ops.length) slots[s] = f.next ?? newFlow();
  }
  await writer.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { packets: writer.packets, bytes: writer.bytes, seconds };
}

if (require.main === module) {
  const [out, n, seed] = process.argv.slice(2);
  if (!out) {
    console.error('usage: gateway-capture OUT.pcap [packets] [seed]');
    process.exit(2);
  }
  generateGatewayCapture(out, { packets: n ? Number(n) : undefined, seed: seed ? Number(seed) : undefined }).then(
    (r) => console.log(`${r.packets} packets, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(2)} s → ${out}`),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
