/**
 * Scenario captures built from the packet builders. Every scenario is parameterised by an address
 * plan, so tests run it against documentation ranges and the fixture GeoIP databases while the
 * demo runs the very same traffic against real public addresses and the bundled DB-IP database.
 * The `expected` data is accumulated from the packets as they are emitted, never typed by hand.
 */
import {
  dhcp,
  dnsOverTcp,
  dnsQuery,
  dnsResponse,
  ethernet,
  frame,
  FrameLink,
  httpRequest,
  icmpEcho,
  ipv4,
  ipv4Fragments,
  ipv6,
  tcp,
  tlsApplicationData,
  tlsClientHello,
  tlsServerHello,
  udp,
  DnsAnswerSpec,
  ETHERTYPE_IPV4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  isIpv6Text,
} from './packets';
import { PcapngWriter, PcapWriter } from './pcap-writer';

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

export interface ScenarioFrame {
  timestampUs: number;
  frame: Buffer;
}

export interface Scenario {
  linkType: number;
  frames: ScenarioFrame[];
  /** What is in the capture, in prose, for humans reading a failing test or the demo. */
  description: string;
}

/** One address per policy-relevant place. Keys name the country the address must map to. */
export interface AddressPlan {
  de: string;
  fr: string;
  cn: string;
  us: string;
  us6: string;
  ru: string;
  /** An address the database has no country for. */
  unknown: string;
}
export type PlanKey = keyof AddressPlan;

/** ISO country each plan key stands for (null: the database must have no country). */
export const PLAN_COUNTRIES: Readonly<Record<PlanKey, string | null>> = {
  de: 'DE',
  fr: 'FR',
  cn: 'CN',
  us: 'US',
  us6: 'US',
  ru: 'RU',
  unknown: null,
};

/**
 * Documentation ranges (RFC 5737, RFC 3849) as the fixture databases map them:
 * 198.51.100.0/25 DE, 198.51.100.128/25 FR, 203.0.113.0/25 CN, 203.0.113.128/25 RU,
 * 192.0.2.0/25 US, 192.0.2.128/25 no country, 2001:db8:5::/48 US.
 */
export const DOC_PLAN: Readonly<AddressPlan> = {
  de: '198.51.100.10',
  fr: '198.51.100.140',
  cn: '203.0.113.10',
  us: '192.0.2.10',
  us6: '2001:db8:5::10',
  ru: '203.0.113.140',
  unknown: '192.0.2.200',
};

/**
 * Real public addresses for the demo, each checked against the bundled DB-IP country database
 * (June 2026 release); re-check after a database update. `unknown` stays a documentation address
 * because every routed IPv4 block has a country in DB-IP.
 */
export const PUBLIC_PLAN: Readonly<AddressPlan> = {
  de: '88.198.5.5',
  fr: '163.172.100.1',
  cn: '114.114.115.115',
  us: '45.90.28.10',
  us6: '2600:1f18::1',
  ru: '77.88.55.55',
  unknown: '192.0.2.200',
};

export const LAN = {
  gatewayIp: '192.168.1.1',
  gatewayIp6: 'fd00:1::1',
  gatewayMac: '02:00:00:00:00:01',
  broadcastMac: 'ff:ff:ff:ff:ff:ff',
} as const;

export type Proto = 'tcp' | 'udp' | 'icmp' | 'icmpv6';

export interface ExpectedDevice {
  role: 'laptop' | 'tv' | 'plug' | 'phone';
  hostname: string;
  mac: string;
  /** Address the device got by DHCP. */
  ip: string;
  ip6?: string;
}

export interface ExpectedFlow {
  /** Hostname of the LAN device that owns the flow. */
  device: string;
  deviceIp: string;
  localPort: number;
  remoteIp: string;
  /** Remote port; 0 for ICMP. */
  port: number;
  proto: Proto;
  /** Plan key of the remote address and the country it stands for (null for LAN peers). */
  planKey: PlanKey | null;
  country: string | null;
  /** DNS names that resolved to remoteIp for this device: query name, then CNAME targets in order. */
  names: string[];
  sni?: string;
  httpHost?: string;
  /** Outermost VLAN id when the flow is tagged. */
  vlan?: number;
  /** IP-layer bytes (IPv4 total length; IPv6 payload length + 40) and packets, device → remote. */
  bytesUp: number;
  packetsUp: number;
  /** The same, remote → device. */
  bytesDown: number;
  packetsDown: number;
  /** Packets of the flow that are IP fragments (first and later). Later fragments carry no ports. */
  fragments: number;
}

export interface ExpectedDnsTransaction {
  device: string;
  transport: 'udp' | 'tcp';
  id: number;
  qname: string;
  qtype: string;
  answers: DnsAnswerSpec[];
}

export interface ExpectedDhcp {
  hostname: string;
  mac: string;
  xid: number;
  messages: Array<'discover' | 'offer' | 'request' | 'ack'>;
  assignedIp: string;
}

export interface HouseholdExpected {
  plan: AddressPlan;
  devices: ExpectedDevice[];
  /** Flows to addresses outside the LAN. */
  flows: ExpectedFlow[];
  /** Flows to the gateway itself (DNS over UDP and TCP). DHCP is listed under `dhcp` instead. */
  lanFlows: ExpectedFlow[];
  dns: ExpectedDnsTransaction[];
  dhcp: ExpectedDhcp[];
  totals: { packets: number; fragments: number; vlanTagged: number; ipv6: number };
}

export interface HouseholdScenario extends Scenario {
  expected: HouseholdExpected;
}

// ---------------------------------------------------------------------------------------------
// Emission plumbing
// ---------------------------------------------------------------------------------------------

/** IP-layer length as the pipeline counts it: IPv4 total length, IPv6 payload length + 40. */
export function ipLayerLength(ip: Buffer): number {
  return ip[0]! >> 4 === 4 ? ip.readUInt16BE(2) : ip.readUInt16BE(4) + 40;
}

function isFragment(ip: Buffer): boolean {
  if (ip[0]! >> 4 === 4) return (ip.readUInt16BE(6) & 0x3fff) !== 0;
  return false; // the household emits no IPv6 fragments
}

/** Sends one IP packet in one direction; `gapUs` is the time since the previous packet. */
type Emit = (ip: Buffer, fromClient: boolean, gapUs: number) => void;

/** IP identification per source address, incremented per packet as most stacks do for DF-less traffic. */
class IpIds {
  private readonly next = new Map<string, number>();
  take(src: string): number {
    const v = this.next.get(src) ?? (hashString(src) & 0x7fff) + 1;
    this.next.set(src, (v + 1) & 0xffff);
    return v;
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

function ipPacket(
  ids: IpIds,
  src: string,
  dst: string,
  protocol: number,
  payload: Buffer,
  ttl: number,
  df = true,
): Buffer {
  if (isIpv6Text(src)) return ipv6({ src, dst, nextHeader: protocol, payload, hopLimit: ttl });
  return ipv4({ src, dst, protocol, payload, ttl, id: ids.take(src), dontFragment: df });
}

/** SYN options as Linux sends them without timestamps: MSS, NOP, WS, NOP, NOP, SACK-permitted. */
function synOptions(mss: number): Buffer {
  const b = Buffer.from([2, 4, 0, 0, 1, 3, 3, 7, 1, 1, 4, 2]);
  b.writeUInt16BE(mss, 2);
  return b;
}

interface Endpoint {
  ip: string;
  port: number;
}

/**
 * One TCP connection with consistent sequence numbers (RFC 793 §3.3): the SYN and FIN each
 * consume one sequence number, data advances by its length, and the receiver acknowledges every
 * second segment and the last one of a burst, as delayed ACKs do (RFC 1122 §4.2.3.2).
 */
class TcpConn {
  private cSeq: number;
  private sSeq: number;
  private readonly mss: number;
  private readonly clientTtl: number;
  private readonly serverTtl: number;

  constructor(
    private readonly emit: Emit,
    private readonly ids: IpIds,
    private readonly c: Endpoint,
    private readonly s: Endpoint,
    isn: number,
    private readonly rttUs: number,
    serverTtl = 52,
  ) {
    this.cSeq = isn >>> 0;
    this.sSeq = (Math.imul(isn, 2654435761) ^ 0x5bd1e995) >>> 0;
    this.mss = isIpv6Text(c.ip) ? 1440 : 1460;
    this.clientTtl = 64;
    this.serverTtl = serverTtl;
  }

  private seg(fromClient: boolean, flags: string, payload: Buffer | undefined, gapUs: number, options?: Buffer): void {
    const a = fromClient ? this.c : this.s;
    const b = fromClient ? this.s : this.c;
    const seq = fromClient ? this.cSeq : this.sSeq;
    const ack = fromClient ? this.sSeq : this.cSeq;
    const window = flags.includes('S') ? (fromClient ? 64240 : 65160) : fromClient ? 502 : 509;
    const t = tcp({ src: a.ip, dst: b.ip, srcPort: a.port, dstPort: b.port, seq, ack: flags.includes('A') ? ack : 0, flags, payload, window, options });
    this.emit(ipPacket(this.ids, a.ip, b.ip, IPPROTO_TCP, t, fromClient ? this.clientTtl : this.serverTtl), fromClient, gapUs);
    const advance = (payload?.length ?? 0) + (flags.includes('S') ? 1 : 0) + (flags.includes('F') ? 1 : 0);
    if (fromClient) this.cSeq = (this.cSeq + advance) >>> 0;
    else this.sSeq = (this.sSeq + advance) >>> 0;
  }

  open(): void {
    this.seg(true, 'S', undefined, 2000, synOptions(this.mss));
    this.seg(false, 'SA', undefined, this.rttUs, synOptions(this.mss));
    this.seg(true, 'A', undefined, 150);
  }

  /** Sends `data` in segments of the given sizes (default: MSS-sized), then the peer ACKs. */
  send(fromClient: boolean, data: Buffer, sizes?: number[]): void {
    const chunks: Buffer[] = [];
    if (sizes) {
      let off = 0;
      for (const n of sizes) {
        chunks.push(data.subarray(off, off + n));
        off += n;
      }
      if (off < data.length) chunks.push(data.subarray(off));
    } else {
      for (let off = 0; off < data.length; off += this.mss) chunks.push(data.subarray(off, off + this.mss));
    }
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      this.seg(fromClient, last ? 'PA' : 'A', chunk, i === 0 ? 400 : 120);
      if (i % 2 === 1 || last) this.seg(!fromClient, 'A', undefined, last ? this.rttUs / 2 : 60);
    });
  }

  /** Client-initiated close: FIN, the server's FIN+ACK, the final ACK (RFC 793 §3.5). */
  close(): void {
    this.seg(true, 'FA', undefined, 5000);
    this.seg(false, 'FA', undefined, this.rttUs);
    this.seg(true, 'A', undefined, 150);
  }
}

// ---------------------------------------------------------------------------------------------
// Application payloads the packet builders do not cover
// ---------------------------------------------------------------------------------------------

function httpResponse(body: Buffer, contentType = 'application/octet-stream'): Buffer {
  const head = `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

/** Deterministic printable filler. */
function filler(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = 0x61 + ((x >>> 16) % 26);
  }
  return b;
}

/** A JSON document of roughly `size` bytes, so dissectors that parse JSON see valid JSON. */
function jsonOfSize(device: string, size: number): Buffer {
  const readings: number[] = [];
  let text = JSON.stringify({ device, readings });
  for (let i = 0; text.length < size; i++) {
    readings.push(((i * 37) % 2300) + 100);
    text = JSON.stringify({ device, readings });
  }
  return Buffer.from(text);
}

/**
 * CoAP over UDP (RFC 7252 §3): confirmable POST to /telemetry with Content-Format 50 (JSON),
 * or the piggybacked 2.04 Changed acknowledgement.
 */
function coap(o: { ack: boolean; messageId: number; token: number; payload?: Buffer }): Buffer {
  const head = Buffer.alloc(6);
  head[0] = 0x40 | ((o.ack ? 2 : 0) << 4) | 2; // version 1, type CON(0)/ACK(2), token length 2
  head[1] = o.ack ? 0x44 : 0x02; // 2.04 Changed / 0.02 POST
  head.writeUInt16BE(o.messageId, 2);
  head.writeUInt16BE(o.token, 4);
  if (o.ack) return head;
  const path = Buffer.from('telemetry');
  const opts = Buffer.concat([
    Buffer.from([(11 << 4) | path.length]), // Uri-Path (11)
    path,
    Buffer.from([(1 << 4) | 1, 50]), // Content-Format (12): application/json
  ]);
  return Buffer.concat([head, opts, Buffer.from([0xff]), o.payload ?? Buffer.alloc(0)]);
}

/** NTPv4 client request (mode 3) or server reply (mode 4), RFC 5905 §7.3. */
function ntp(server: boolean, seed: number): Buffer {
  const b = Buffer.alloc(48);
  b[0] = server ? 0x24 : 0x23;
  if (server) {
    b[1] = 2; // stratum
    b[2] = 6;
    b[3] = 0xe9; // precision -23
    b.writeUInt32BE(0xc0000201, 12); // reference id: the upstream server's IPv4 address
  }
  // Transmit timestamp: seconds since 1900 for 2024-06-01, fraction from the seed.
  b.writeUInt32BE(3926131200, 40);
  b.writeUInt32BE(seed >>> 0, 44);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Household
// ---------------------------------------------------------------------------------------------

export interface Device extends ExpectedDevice {
  /** Ephemeral port counter. */
  nextPort: number;
}

export interface FlowSpec {
  dev: Device;
  localIp: string;
  localPort: number;
  remoteIp: string;
  port: number;
  proto: Proto;
  vlans?: number[];
  sni?: string;
  httpHost?: string;
}

/** Start of every scenario: 2024-06-01T08:00:00Z. */
export const SCENARIO_START_US = 1_717_228_800_000_000;

export class HouseholdBuilder {
  readonly frames: ScenarioFrame[] = [];
  private t: number;
  readonly ids = new IpIds();
  private readonly flows = new Map<string, ExpectedFlow>();
  private readonly flowOrder: ExpectedFlow[] = [];
  /** `${hostname}|${remoteIp}` → query name and CNAME chain that produced the address. */
  private readonly names = new Map<string, string[]>();
  readonly dns: ExpectedDnsTransaction[] = [];
  readonly dhcp: ExpectedDhcp[] = [];
  totals = { packets: 0, fragments: 0, vlanTagged: 0, ipv6: 0 };
  private dnsId = 0x1a2b;

  constructor(
    readonly plan: AddressPlan,
    startUs: number,
  ) {
    this.t = startUs;
  }

  private keyOf(remoteIp: string): PlanKey | null {
    for (const k of Object.keys(this.plan) as PlanKey[]) if (this.plan[k] === remoteIp) return k;
    return null;
  }

  private push(frameBuf: Buffer, gapUs: number): void {
    this.t += Math.max(1, Math.round(gapUs));
    this.frames.push({ timestampUs: this.t, frame: frameBuf });
    this.totals.packets++;
  }

  advance(us: number): void {
    this.t += us;
  }

  /** Emits one IP packet on the LAN wire and books it to its flow. */
  emitIp(f: FlowSpec, ip: Buffer, fromDevice: boolean, gapUs: number): void {
    const macs = fromDevice ? { srcMac: f.dev.mac, dstMac: LAN.gatewayMac } : { srcMac: LAN.gatewayMac, dstMac: f.dev.mac };
    this.push(frame({ link: 'ethernet', ...macs, vlans: f.vlans, ip }), gapUs);
    if (f.vlans && f.vlans.length > 0) this.totals.vlanTagged++;
    if (ip[0]! >> 4 === 6) this.totals.ipv6++;
    const key = `${f.proto}|${f.localIp}|${f.localPort}|${f.remoteIp}|${f.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      const planKey = this.keyOf(f.remoteIp);
      flow = {
        device: f.dev.hostname,
        deviceIp: f.localIp,
        localPort: f.localPort,
        remoteIp: f.remoteIp,
        port: f.port,
        proto: f.proto,
        planKey,
        country: planKey ? PLAN_COUNTRIES[planKey] : null,
        names: [...(this.names.get(`${f.dev.hostname}|${f.remoteIp}`) ?? [])],
        bytesUp: 0,
        packetsUp: 0,
        bytesDown: 0,
        packetsDown: 0,
        fragments: 0,
      };
      if (f.sni !== undefined) flow.sni = f.sni;
      if (f.httpHost !== undefined) flow.httpHost = f.httpHost;
      if (f.vlans && f.vlans.length > 0) flow.vlan = f.vlans[0]!;
      this.flows.set(key, flow);
      this.flowOrder.push(flow);
    }
    const len = ipLayerLength(ip);
    if (fromDevice) {
      flow.bytesUp += len;
      flow.packetsUp++;
    } else {
      flow.bytesDown += len;
      flow.packetsDown++;
    }
    if (isFragment(ip)) {
      flow.fragments++;
      this.totals.fragments++;
    }
  }

  private emitterFor(f: FlowSpec): Emit {
    return (ip, fromClient, gap) => this.emitIp(f, ip, fromClient, gap);
  }

  port(dev: Device): number {
    return dev.nextPort++;
  }

  tcpConn(f: Omit<FlowSpec, 'proto'>, rttUs: number): TcpConn {
    const spec: FlowSpec = { ...f, proto: 'tcp' };
    return new TcpConn(
      this.emitterFor(spec),
      this.ids,
      { ip: f.localIp, port: f.localPort },
      { ip: f.remoteIp, port: f.port },
      hashString(`${f.localIp}:${f.localPort}>${f.remoteIp}:${f.port}`),
      rttUs,
      f.remoteIp === LAN.gatewayIp ? 64 : 52,
    );
  }

  udpExchange(f: Omit<FlowSpec, 'proto'>, up: Buffer, down: Buffer | null, rttUs: number): void {
    const spec: FlowSpec = { ...f, proto: 'udp' };
    const ttlDown = f.remoteIp === LAN.gatewayIp ? 64 : 52;
    const u = udp({ src: f.localIp, dst: f.remoteIp, srcPort: f.localPort, dstPort: f.port, payload: up });
    this.emitIp(spec, ipPacket(this.ids, f.localIp, f.remoteIp, IPPROTO_UDP, u, 64, false), true, 3000);
    if (down) {
      const d = udp({ src: f.remoteIp, dst: f.localIp, srcPort: f.port, dstPort: f.localPort, payload: down });
      this.emitIp(spec, ipPacket(this.ids, f.remoteIp, f.localIp, IPPROTO_UDP, d, ttlDown, false), false, rttUs);
    }
  }

  /** A UDP datagram sent as IPv4 fragments of at most `maxData` bytes each, then the reply. */
  udpFragmented(f: Omit<FlowSpec, 'proto'>, up: Buffer, down: Buffer, maxData: number, rttUs: number): void {
    const spec: FlowSpec = { ...f, proto: 'udp' };
    const u = udp({ src: f.localIp, dst: f.remoteIp, srcPort: f.localPort, dstPort: f.port, payload: up });
    const frags = ipv4Fragments(
      { src: f.localIp, dst: f.remoteIp, protocol: IPPROTO_UDP, payload: u, id: this.ids.take(f.localIp), ttl: 64 },
      maxData,
    );
    frags.forEach((ip, i) => this.emitIp(spec, ip, true, i === 0 ? 3000 : 40));
    const d = udp({ src: f.remoteIp, dst: f.localIp, srcPort: f.port, dstPort: f.localPort, payload: down });
    this.emitIp(spec, ipPacket(this.ids, f.remoteIp, f.localIp, IPPROTO_UDP, d, 52, false), false, rttUs);
  }

  icmpPing(dev: Device, remoteIp: string, count: number, rttUs: number): void {
    const spec: FlowSpec = { dev, localIp: dev.ip, localPort: 0, remoteIp, port: 0, proto: 'icmp' };
    const id = 0x4d2;
    for (let seq = 1; seq <= count; seq++) {
      const payload = filler(48, seq);
      this.emitIp(spec, ipv4({ src: dev.ip, dst: remoteIp, protocol: IPPROTO_ICMP, ttl: 64, id: this.ids.take(dev.ip), dontFragment: true, payload: icmpEcho({ id, seq, payload }) }), true, seq === 1 ? 2000 : 1_000_000);
      this.emitIp(spec, ipv4({ src: remoteIp, dst: dev.ip, protocol: IPPROTO_ICMP, ttl: 52, id: this.ids.take(remoteIp), payload: icmpEcho({ type: 0, id, seq, payload }) }), false, rttUs);
    }
  }

  /** Records the names chain for every address in the answers, as the DNS stage will. */
  private learn(dev: Device, qname: string, answers: DnsAnswerSpec[]): void {
    const chain = [qname];
    for (const a of answers) if (a.type === 'CNAME' && typeof a.data === 'string') chain.push(a.data);
    for (const a of answers) {
      const addrs: string[] = [];
      if ((a.type === 'A' || a.type === 'AAAA') && typeof a.data === 'string') addrs.push(a.data);
      if ((a.type === 'HTTPS' || a.type === 'SVCB') && typeof a.data !== 'string') {
        addrs.push(...(a.data.ipv4hint ?? []), ...(a.data.ipv6hint ?? []));
      }
      for (const ip of addrs) this.names.set(`${dev.hostname}|${ip}`, chain);
    }
  }

  dnsUdp(dev: Device, qname: string, qtype: string, answers: DnsAnswerSpec[]): void {
    const id = this.dnsId++;
    const query = dnsQuery({ id, name: qname, type: qtype });
    const response = dnsResponse({ id, question: { name: qname, type: qtype }, answers });
    this.udpExchange({ dev, localIp: dev.ip, localPort: this.port(dev), remoteIp: LAN.gatewayIp, port: 53 }, query, response, 900);
    this.dns.push({ device: dev.hostname, transport: 'udp', id, qname, qtype, answers });
    this.learn(dev, qname, answers);
  }

  /**
   * Pipelined DNS over one TCP connection (RFC 7766 §6.2.1.1): all queries in one segment; the
   * first two responses share a segment, the third is split across two segments.
   */
  dnsTcp(dev: Device, items: Array<{ qname: string; qtype: string; answers: DnsAnswerSpec[] }>): void {
    const conn = this.tcpConn({ dev, localIp: dev.ip, localPort: this.port(dev), remoteIp: LAN.gatewayIp, port: 53 }, 900);
    conn.open();
    const ids = items.map(() => this.dnsId++);
    conn.send(true, dnsOverTcp(items.map((it, i) => dnsQuery({ id: ids[i]!, name: it.qname, type: it.qtype }))));
    const responses = items.map((it, i) => dnsResponse({ id: ids[i]!, question: { name: it.qname, type: it.qtype }, answers: it.answers }));
    const stream = dnsOverTcp(responses);
    if (responses.length >= 3) {
      const firstTwo = 4 + responses[0]!.length + responses[1]!.length;
      const splitAt = firstTwo + 2 + Math.floor(responses[2]!.length / 2);
      conn.send(false, stream, [firstTwo, splitAt - firstTwo]);
    } else conn.send(false, stream);
    conn.close();
    items.forEach((it, i) => {
      this.dns.push({ device: dev.hostname, transport: 'tcp', id: ids[i]!, qname: it.qname, qtype: it.qtype, answers: it.answers });
      this.learn(dev, it.qname, it.answers);
    });
  }

  dhcpDora(dev: Device, serial: number): void {
    const xid = (0x5e110000 + serial * 0x101) >>> 0;
    const common = { clientMac: dev.mac, xid };
    // Host Name (RFC 2132 §3.14) is the client's to send; servers do not echo it.
    const client = { ...common, hostname: dev.hostname };
    const out = (payload: Buffer, fromClient: boolean, dstIp: string, dstMac: string, gap: number): void => {
      const [sp, dp] = fromClient ? [68, 67] : [67, 68];
      const src = fromClient ? '0.0.0.0' : LAN.gatewayIp;
      const u = udp({ src, dst: dstIp, srcPort: sp, dstPort: dp, payload });
      // RFC 2131 §4.1: before it has an address the client sends from 0.0.0.0 to broadcast.
      const ip = ipv4({ src, dst: dstIp, protocol: IPPROTO_UDP, payload: u, ttl: 64, id: fromClient ? 0 : this.ids.take(src) });
      this.push(ethernet({ src: fromClient ? dev.mac : LAN.gatewayMac, dst: dstMac, etherType: ETHERTYPE_IPV4, payload: ip }), gap);
    };
    out(dhcp({ messageType: 'discover', ...client }), true, '255.255.255.255', LAN.broadcastMac, 200_000);
    out(dhcp({ messageType: 'offer', ...common, yiaddr: dev.ip, serverId: LAN.gatewayIp }), false, dev.ip, dev.mac, 1500);
    out(dhcp({ messageType: 'request', ...client, requestedIp: dev.ip, serverId: LAN.gatewayIp }), true, '255.255.255.255', LAN.broadcastMac, 2000);
    out(dhcp({ messageType: 'ack', ...common, yiaddr: dev.ip, serverId: LAN.gatewayIp }), false, dev.ip, dev.mac, 1500);
    this.dhcp.push({ hostname: dev.hostname, mac: dev.mac, xid, messages: ['discover', 'offer', 'request', 'ack'], assignedIp: dev.ip });
  }

  expected(devices: Device[]): HouseholdExpected {
    const strip = (d: Device): ExpectedDevice => {
      const e: ExpectedDevice = { role: d.role, hostname: d.hostname, mac: d.mac, ip: d.ip };
      if (d.ip6) e.ip6 = d.ip6;
      return e;
    };
    const isLan = (f: ExpectedFlow): boolean => f.remoteIp === LAN.gatewayIp || f.remoteIp === LAN.gatewayIp6;
    return {
      plan: { ...this.plan },
      devices: devices.map(strip),
      flows: this.flowOrder.filter((f) => !isLan(f)),
      lanFlows: this.flowOrder.filter(isLan),
      dns: this.dns,
      dhcp: this.dhcp,
      totals: { ...this.totals },
    };
  }
}

/**
 * A household behind a gateway, captured on the gateway's LAN side (Ethernet). See
 * HOUSEHOLD_DESCRIPTION for the content; `expected` is accumulated while emitting.
 */
export function household(plan: AddressPlan = DOC_PLAN, o: { startUs?: number } = {}): HouseholdScenario {
  const b = new HouseholdBuilder(plan, o.startUs ?? SCENARIO_START_US);
  const laptop: Device = { role: 'laptop', hostname: 'alice-laptop', mac: '3c:22:fb:4a:10:01', ip: '192.168.1.10', nextPort: 51000 };
  const tv: Device = { role: 'tv', hostname: 'livingroom-tv', mac: 'b8:bc:5b:2c:20:02', ip: '192.168.1.20', ip6: 'fd00:1::20', nextPort: 40100 };
  const plugK: Device = { role: 'plug', hostname: 'plug-kitchen', mac: '50:02:91:6e:30:03', ip: '192.168.1.30', nextPort: 49200 };
  const plugG: Device = { role: 'plug', hostname: 'plug-garage', mac: '50:02:91:6e:30:04', ip: '192.168.1.31', nextPort: 49300 };
  const phone: Device = { role: 'phone', hostname: 'redmi-note', mac: '64:cc:2e:7b:40:05', ip: '192.168.1.40', nextPort: 38000 };
  const devices = [laptop, tv, plugK, plugG, phone];

  devices.forEach((d, i) => b.dhcpDora(d, i + 1));
  b.advance(2_000_000);

  // Laptop: three names over pipelined DNS/TCP, then TLS to DE and US, plain HTTP to an
  // address without a country, and a ping to RU.
  b.dnsTcp(laptop, [
    { qname: 'api.cloud-drive.example', qtype: 'A', answers: [{ name: 'api.cloud-drive.example', type: 'A', ttl: 300, data: plan.us }] },
    {
      qname: 'updates.os-vendor.example',
      qtype: 'A',
      answers: [
        { name: 'updates.os-vendor.example', type: 'CNAME', ttl: 3600, data: 'updates.os-vendor.cdn.example' },
        { name: 'updates.os-vendor.cdn.example', type: 'A', ttl: 60, data: plan.unknown },
      ],
    },
    { qname: 'www.zeitung.example', qtype: 'A', answers: [{ name: 'www.zeitung.example', type: 'A', ttl: 120, data: plan.de }] },
  ]);

  {
    const sni = 'www.zeitung.example';
    const c = b.tcpConn({ dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.de, port: 443, sni }, 18_000);
    c.open();
    // A padded ClientHello (as Chrome pads to 512+ and post-quantum shares grow it) spanning two
    // segments: SNI extraction must reassemble.
    const hello = tlsClientHello({ sni, alpn: ['h2', 'http/1.1'], padTo: 1800 });
    c.send(true, hello, [1000]);
    c.send(false, Buffer.concat([tlsServerHello({ clientHello: hello, seed: sni }), tlsApplicationData(5200, 11)]));
    c.send(true, tlsApplicationData(420, 12));
    c.send(false, tlsApplicationData(9000, 13));
    c.close();
  }
  {
    const sni = 'api.cloud-drive.example';
    const c = b.tcpConn({ dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.us, port: 443, sni }, 95_000);
    c.open();
    const hello = tlsClientHello({ sni, alpn: ['h2'] });
    c.send(true, hello);
    c.send(false, Buffer.concat([tlsServerHello({ clientHello: hello, seed: sni }), tlsApplicationData(3100, 21)]));
    c.send(true, tlsApplicationData(2600, 22));
    c.send(false, tlsApplicationData(380, 23));
    c.close();
  }
  {
    const host = 'updates.os-vendor.example';
    const c = b.tcpConn({ dev: laptop, localIp: laptop.ip, localPort: b.port(laptop), remoteIp: plan.unknown, port: 80, httpHost: host }, 60_000);
    c.open();
    c.send(true, httpRequest({ host, path: '/channel/stable/manifest.json', headers: { 'User-Agent': 'os-updater/3.2' } }));
    c.send(false, httpResponse(jsonOfSize('manifest', 2400), 'application/json'));
    c.close();
  }
  b.icmpPing(laptop, plan.ru, 2, 48_000);
  b.advance(1_500_000);

  // TV: HTTPS record then AAAA for its CDN, a TLS download over IPv6, NTP over IPv6 with a
  // hop-by-hop options header in front of UDP.
  {
    const name = 'cdn.streaming.example';
    b.dnsUdp(tv, name, 'HTTPS', [
      { name, type: 'HTTPS', ttl: 300, data: { priority: 1, target: '.', alpn: ['h2', 'h3'], ipv6hint: [plan.us6] } },
    ]);
    b.dnsUdp(tv, name, 'AAAA', [{ name, type: 'AAAA', ttl: 300, data: plan.us6 }]);
    const c = b.tcpConn({ dev: tv, localIp: tv.ip6!, localPort: b.port(tv), remoteIp: plan.us6, port: 443, sni: name }, 85_000);
    c.open();
    const hello = tlsClientHello({ sni: name, alpn: ['h2', 'http/1.1'] });
    c.send(true, hello);
    c.send(false, Buffer.concat([tlsServerHello({ clientHello: hello, seed: name }), tlsApplicationData(2800, 31)]));
    c.send(true, tlsApplicationData(350, 32));
    c.send(false, tlsApplicationData(24_000, 33));
    c.close();

    const spec: FlowSpec = { dev: tv, localIp: tv.ip6!, localPort: 123, remoteIp: plan.us6, port: 123, proto: 'udp' };
    const hbh = [{ type: 0, data: Buffer.alloc(0) }];
    const up = udp({ src: tv.ip6!, dst: plan.us6, srcPort: 123, dstPort: 123, payload: ntp(false, 7) });
    const down = udp({ src: plan.us6, dst: tv.ip6!, srcPort: 123, dstPort: 123, payload: ntp(true, 8) });
    b.emitIp(spec, ipv6({ src: tv.ip6!, dst: plan.us6, nextHeader: IPPROTO_UDP, payload: up, extensions: hbh, hopLimit: 64 }), true, 4000);
    b.emitIp(spec, ipv6({ src: plan.us6, dst: tv.ip6!, nextHeader: IPPROTO_UDP, payload: down, hopLimit: 56 }), false, 85_000);
  }
  b.advance(1_000_000);

  // Plugs: CNAME into the vendor's EU cloud (FR), telemetry over CoAP/UDP. The kitchen plug's
  // second report exceeds the MTU and is fragmented; the garage plug sits on VLAN 30.
  {
    const qname = 'mqtt.plugcloud.example';
    const answers: DnsAnswerSpec[] = [
      { name: qname, type: 'CNAME', ttl: 600, data: 'eu1.plugcloud.example' },
      { name: 'eu1.plugcloud.example', type: 'A', ttl: 60, data: plan.fr },
    ];
    b.dnsUdp(plugK, qname, 'A', answers);
    const kPort = b.port(plugK);
    const k = { dev: plugK, localIp: plugK.ip, localPort: kPort, remoteIp: plan.fr, port: 5683 };
    b.udpExchange(k, coap({ ack: false, messageId: 0x100, token: 0xa1a1, payload: jsonOfSize(plugK.hostname, 180) }), coap({ ack: true, messageId: 0x100, token: 0xa1a1 }), 30_000);
    b.udpFragmented(k, coap({ ack: false, messageId: 0x101, token: 0xa1a2, payload: jsonOfSize(plugK.hostname, 2100) }), coap({ ack: true, messageId: 0x101, token: 0xa1a2 }), 1480, 30_000);

    b.dnsUdp(plugG, qname, 'A', answers);
    const g = { dev: plugG, localIp: plugG.ip, localPort: b.port(plugG), remoteIp: plan.fr, port: 5683, vlans: [30] };
    b.udpExchange(g, coap({ ack: false, messageId: 0x200, token: 0xb2b2, payload: jsonOfSize(plugG.hostname, 220) }), coap({ ack: true, messageId: 0x200, token: 0xb2b2 }), 30_000);
  }
  b.advance(1_000_000);

  // Phone: a three-name CNAME chain ending in CN, then a telemetry upload far larger than
  // anything it downloads.
  {
    const qname = 'metrics.phone-vendor.example';
    b.dnsUdp(phone, qname, 'A', [
      { name: qname, type: 'CNAME', ttl: 300, data: 'collect.analytics-cdn.example' },
      { name: 'collect.analytics-cdn.example', type: 'CNAME', ttl: 300, data: 'edge7.telemetry.example' },
      { name: 'edge7.telemetry.example', type: 'A', ttl: 60, data: plan.cn },
    ]);
    const c = b.tcpConn({ dev: phone, localIp: phone.ip, localPort: b.port(phone), remoteIp: plan.cn, port: 443, sni: qname }, 210_000);
    c.open();
    const hello = tlsClientHello({ sni: qname, alpn: ['http/1.1'] });
    c.send(true, hello);
    c.send(false, Buffer.concat([tlsServerHello({ clientHello: hello, seed: qname }), tlsApplicationData(1200, 41)]));
    c.send(true, tlsApplicationData(14_000, 42));
    c.send(false, tlsApplicationData(90, 43));
    c.send(true, tlsApplicationData(6_500, 44));
    c.send(false, tlsApplicationData(90, 45));
    c.close();
  }

  return { linkType: 1, frames: b.frames, description: HOUSEHOLD_DESCRIPTION, expected: b.expected(devices) };
}

export const HOUSEHOLD_DESCRIPTION = `Household behind gateway 192.168.1.1 (MAC 02:00:00:00:00:01), Ethernet, 2024-06-01 08:00 UTC.
1. DHCP discover/offer/request/ack for alice-laptop .10, livingroom-tv .20, plug-kitchen .30,
   plug-garage .31, redmi-note .40 (hostname option 12 in discover and request; client id 61).
2. alice-laptop: pipelined DNS over TCP to the gateway: api.cloud-drive.example A us;
   updates.os-vendor.example CNAME updates.os-vendor.cdn.example A unknown; www.zeitung.example A de.
   The first two responses share one segment, the third is split across two segments.
   TLS to de:443 (SNI www.zeitung.example; 1800-byte ClientHello split over two segments, 1000+800);
   TLS to us:443 (SNI api.cloud-drive.example); HTTP GET to unknown:80 (Host updates.os-vendor.example);
   two ICMP echo request/reply pairs to ru.
3. livingroom-tv: DNS/UDP HTTPS cdn.streaming.example (alpn h2,h3; ipv6hint us6) and AAAA us6;
   TLS over IPv6 from fd00:1::20 to us6:443 (SNI cdn.streaming.example), ~27 KB down;
   NTP over IPv6 to us6:123 whose request carries a hop-by-hop options header.
4. plug-kitchen and plug-garage: DNS/UDP mqtt.plugcloud.example CNAME eu1.plugcloud.example A fr;
   CoAP/UDP POSTs to fr:5683 with ACKs. plug-kitchen's second POST (~2.1 KB) is sent as two IPv4
   fragments (first with the UDP header, second without). plug-garage's CoAP flow is 802.1Q VLAN 30.
5. redmi-note: DNS/UDP metrics.phone-vendor.example CNAME collect.analytics-cdn.example CNAME
   edge7.telemetry.example A cn; TLS to cn:443 (SNI metrics.phone-vendor.example) uploading ~20 KB
   while receiving ~1.5 KB.
Every TCP connection has SYN/SYN-ACK/ACK, consistent seq/ack numbers, delayed ACKs and a FIN close.`;

let householdCache: HouseholdExpected | undefined;
/** The household's expected data for DOC_PLAN, built on first use. */
export function householdExpected(): HouseholdExpected {
  householdCache ??= household(DOC_PLAN).expected;
  return householdCache;
}

// ---------------------------------------------------------------------------------------------
// Link variety
// ---------------------------------------------------------------------------------------------

export interface LinkVarietyCapture extends Scenario {
  name: string;
  /** Which exchange is inside: the IPv4 or the IPv6 variant. */
  family: 4 | 6;
  expected: {
    packets: number;
    client: string;
    resolver: string;
    remote: string;
    qname: string;
    answer: string;
    httpHost: string;
    vlans: number[];
  };
}

interface VarietyPacket {
  ip: Buffer;
  fromClient: boolean;
  timestampUs: number;
}

/** DNS lookup, then TCP handshake, HTTP GET with Host, response, FIN close. */
function varietyExchange(family: 4 | 6, plan: AddressPlan, startUs: number): { packets: VarietyPacket[]; meta: Omit<LinkVarietyCapture['expected'], 'packets' | 'vlans'> } {
  const client = family === 4 ? '192.168.1.10' : 'fd00:1::10';
  const resolver = family === 4 ? LAN.gatewayIp : LAN.gatewayIp6;
  const remote = family === 4 ? plan.de : plan.us6;
  const qname = 'www.link-variety.example';
  const qtype = family === 4 ? 'A' : 'AAAA';
  const httpHost = qname;
  const packets: VarietyPacket[] = [];
  let t = startUs;
  const ids = new IpIds();
  const emit: Emit = (ip, fromClient, gap) => {
    t += Math.max(1, Math.round(gap));
    packets.push({ ip, fromClient, timestampUs: t });
  };
  const q = udp({ src: client, dst: resolver, srcPort: 53001, dstPort: 53, payload: dnsQuery({ id: 0x7777, name: qname, type: qtype }) });
  emit(ipPacket(ids, client, resolver, IPPROTO_UDP, q, 64, false), true, 1000);
  const r = udp({
    src: resolver,
    dst: client,
    srcPort: 53,
    dstPort: 53001,
    payload: dnsResponse({ id: 0x7777, question: { name: qname, type: qtype }, answers: [{ name: qname, type: qtype === 'A' ? 'A' : 'AAAA', ttl: 60, data: remote }] }),
  });
  emit(ipPacket(ids, resolver, client, IPPROTO_UDP, r, 64, false), false, 800);
  const conn = new TcpConn(emit, ids, { ip: client, port: 40000 }, { ip: remote, port: 80 }, 0x1000, 20_000);
  conn.open();
  conn.send(true, httpRequest({ host: httpHost, path: '/index.html' }));
  conn.send(false, httpResponse(Buffer.from('<html><body>link variety</body></html>\n'), 'text/html'));
  conn.close();
  return { packets, meta: { client, resolver, remote, qname, answer: remote, httpHost } };
}

/**
 * The same small exchange (DNS query/answer, TCP handshake, HTTP GET with Host, response, close)
 * once per link-layer encapsulation the capture stage must handle.
 */
export function linkVariety(plan: AddressPlan = DOC_PLAN, o: { startUs?: number } = {}): LinkVarietyCapture[] {
  const start = o.startUs ?? SCENARIO_START_US;
  const v4 = varietyExchange(4, plan, start);
  const v6 = varietyExchange(6, plan, start);
  const clientMac = '3c:22:fb:4a:10:01';
  const variants: Array<{ name: string; linkType: number; family: 4 | 6; link: FrameLink; vlans?: number[]; qinq?: boolean; what: string }> = [
    { name: 'ethernet', linkType: 1, family: 4, link: 'ethernet', what: 'Ethernet II' },
    { name: 'ethernet-ipv6', linkType: 1, family: 6, link: 'ethernet', what: 'Ethernet II carrying IPv6' },
    { name: 'vlan', linkType: 1, family: 4, link: 'ethernet', vlans: [10], what: 'Ethernet with one 802.1Q tag (VLAN 10)' },
    { name: 'qinq', linkType: 1, family: 4, link: 'ethernet', vlans: [100, 10], qinq: true, what: 'Ethernet with an 802.1ad S-tag 100 over an 802.1Q C-tag 10' },
    { name: 'sll', linkType: 113, family: 4, link: 'sll', what: 'Linux cooked capture v1' },
    { name: 'sll2', linkType: 276, family: 4, link: 'sll2', what: 'Linux cooked capture v2' },
    { name: 'raw-ipv4', linkType: 101, family: 4, link: 'raw', what: 'LINKTYPE_RAW with IPv4' },
    { name: 'raw-ipv6', linkType: 101, family: 6, link: 'raw', what: 'LINKTYPE_RAW with IPv6' },
    { name: 'ipv4', linkType: 228, family: 4, link: 'raw', what: 'LINKTYPE_IPV4' },
    { name: 'ipv6', linkType: 229, family: 6, link: 'raw', what: 'LINKTYPE_IPV6' },
    { name: 'null', linkType: 0, family: 4, link: 'null', what: 'BSD null loopback, family in little-endian host order' },
    { name: 'null-ipv6', linkType: 0, family: 6, link: 'null', what: 'BSD null loopback with IPv6 (AF 24)' },
    { name: 'loop', linkType: 108, family: 4, link: 'loop', what: 'OpenBSD loop, family in network order' },
  ];
  return variants.map((v) => {
    const ex = v.family === 4 ? v4 : v6;
    const frames = ex.packets.map((p) => ({
      timestampUs: p.timestampUs,
      frame: frame({
        link: v.link,
        ip: p.ip,
        vlans: v.vlans,
        qinq: v.qinq,
        srcMac: p.fromClient ? clientMac : LAN.gatewayMac,
        dstMac: p.fromClient ? LAN.gatewayMac : clientMac,
      }),
    }));
    return {
      name: v.name,
      linkType: v.linkType,
      family: v.family,
      frames,
      description: `${v.what}: DNS ${v.family === 4 ? 'A' : 'AAAA'} ${ex.meta.qname} → ${ex.meta.answer}, then TCP ${ex.meta.client} → ${ex.meta.remote}:80 with HTTP GET (Host ${ex.meta.httpHost}), response and FIN close.`,
      expected: { ...ex.meta, packets: frames.length, vlans: v.vlans ?? [] },
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

/** A scenario as a capture file in memory. */
export function scenarioToBuffer(s: { linkType: number; frames: ScenarioFrame[] }, format: 'pcap' | 'pcapng' = 'pcap'): Buffer {
  const w = format === 'pcap' ? new PcapWriter(s.linkType) : new PcapngWriter(s.linkType);
  for (const f of s.frames) w.add(f.timestampUs, f.frame);
  return w.toBuffer();
}

export function writeScenario(s: { linkType: number; frames: ScenarioFrame[] }, path: string, format: 'pcap' | 'pcapng' = 'pcap'): void {
  const w = format === 'pcap' ? new PcapWriter(s.linkType) : new PcapngWriter(s.linkType);
  for (const f of s.frames) w.add(f.timestampUs, f.frame);
  w.writeFile(path);
}
