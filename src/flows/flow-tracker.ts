import type { FlowsConfig } from '../config/types';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  type DecodedPacket,
} from '../decode/types';
import type { DeviceTable } from '../devices/device-table';
import { addressKeyOf, type DnsAnswerCache } from '../dns/dns-answer-cache';
import { CidrSet, formatAddress, type Words } from '../net/address';
import type { EncryptedDnsClassifier } from './encrypted-dns';
import { type Flow, TimeoutClass } from './flow';
import { FlowTable } from './flow-table';
import { FragmentPorts } from './fragment-ports';
import type { FlowEndReason, FlowRecord, TransportName } from './types';

/** Looks at a flow's first payload packets for names (TLS SNI, HTTP Host, DNS over TCP). */
export interface FlowPayloadInspector {
  /** How many payload packets of a new flow are worth inspecting (0: none). */
  initialBudget(flow: Flow): number;
  inspect(flow: Flow, pkt: DecodedPacket, fromA: boolean): void;
}

/** Trailing ACKs and retransmitted RSTs arrive within this after a TCP close. */
const CLOSING_LINGER_US = 2_000_000;
const MAX_FRAGMENT_ENTRIES = 8192;

export interface FlowTrackerStats {
  active: number;
  capacity: number;
  created: number;
  evicted: number;
  ended: Record<FlowEndReason, number>;
  fragmentsUnmatched: number;
}

export interface FlowTrackerDeps {
  config: FlowsConfig;
  internal: CidrSet;
  devices: DeviceTable;
  dnsCache: DnsAnswerCache;
  inspector: FlowPayloadInspector;
  /** Flags DoT/DoQ/DoH flows when they end; without it no flow is flagged. */
  encryptedDns?: EncryptedDnsClassifier | null;
  onFlowEnd: (record: FlowRecord) => void;
}

/**
 * The flows stage: assigns each decoded IP packet to a bidirectional flow, orients it (device vs
 * remote), counts it, and emits a FlowRecord when the flow ends (FIN/RST, idle or active timeout,
 * eviction, end of capture). DNS correlation happens once per flow, when it starts.
 */
export class FlowTracker {
  private readonly table: FlowTable;
  private readonly fragments = new FragmentPorts(MAX_FRAGMENT_ENTRIES);
  private readonly idleUs: number[];
  private readonly activeUs: number;
  private readonly ended: Record<FlowEndReason, number> = {
    fin: 0,
    rst: 0,
    'idle-timeout': 0,
    'active-timeout': 0,
    evicted: 0,
    'end-of-capture': 0,
    shutdown: 0,
  };
  private fragmentsUnmatched = 0;
  /** Endpoint words of the flow being emitted; nothing downstream keeps them past the call. */
  private readonly deviceScratch = new Uint32Array(4);
  private readonly remoteScratch = new Uint32Array(4);
  private readonly deps: FlowTrackerDeps;
  private internal: CidrSet;

  constructor(deps: FlowTrackerDeps) {
    this.deps = deps;
    this.internal = deps.internal;
    this.table = new FlowTable(deps.config.maxFlows);
    const c = deps.config;
    this.idleUs = [c.tcpIdleTimeoutS * 1e6, c.udpIdleTimeoutS * 1e6, c.icmpIdleTimeoutS * 1e6, CLOSING_LINGER_US];
    this.activeUs = c.activeTimeoutS * 1e6;
  }

  /** A config reload may change the internal networks; existing flows keep their orientation. */
  setInternalNetworks(internal: CidrSet): void {
    this.internal = internal;
  }

  observe(pkt: DecodedPacket): void {
    const protocol = pkt.protocol;
    let srcPort = 0;
    let dstPort = 0;
    if (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP) {
      if (pkt.isLaterFragment && !this.fragments.fillPorts(pkt)) {
        // The first fragment was not seen: count the bytes to the host pair rather than lose them.
        this.fragmentsUnmatched++;
      } else if (pkt.isFragment && !pkt.isLaterFragment) {
        this.fragments.rememberFirst(pkt);
      }
      srcPort = pkt.srcPort;
      dstPort = pkt.dstPort;
    }
    const now = pkt.timestampUs;
    const table = this.table;
    let flow = table.find(pkt.src, srcPort, pkt.dst, dstPort, protocol);
    let fromA = table.lastFromA;
    const flags = protocol === IPPROTO_TCP && !pkt.isLaterFragment ? pkt.tcpFlags : 0;

    if (flow !== null && flow.timeoutClass === TimeoutClass.Closing && (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN) {
      // Port reuse: a new connection on the same 5-tuple right after a close.
      this.finish(flow, flow.endReason ?? 'fin');
      flow = null;
    }
    if (flow === null) {
      flow = this.create(pkt, srcPort, dstPort, flags);
      fromA = flow.a3 === pkt.src[3] && flow.aPort === srcPort && flow.a2 === pkt.src[2] && flow.a0 === pkt.src[0] && flow.a1 === pkt.src[1];
    } else if (now - flow.firstUs >= this.activeUs) {
      this.splitActive(flow, now);
    }

    if (fromA) {
      flow.packetsAB++;
      flow.bytesAB += pkt.ipLength;
      if (flow.deviceIsA && pkt.srcMac >= 0) flow.deviceMac = pkt.srcMac;
    } else {
      flow.packetsBA++;
      flow.bytesBA += pkt.ipLength;
      if (!flow.deviceIsA && pkt.srcMac >= 0) flow.deviceMac = pkt.srcMac;
    }
    if (now > flow.lastUs) flow.lastUs = now;

    let timeoutClass = flow.timeoutClass;
    if (flags !== 0) {
      if (flags & TCP_RST) {
        flow.endReason = 'rst';
        timeoutClass = TimeoutClass.Closing;
      } else if (flags & TCP_FIN) {
        if (fromA) flow.finFromA = true;
        else flow.finFromB = true;
        if (flow.finFromA && flow.finFromB) {
          flow.endReason = 'fin';
          timeoutClass = TimeoutClass.Closing;
        }
      }
    }
    table.touch(flow, timeoutClass);

    if (flow.inspectBudget > 0 && pkt.payloadLength > 0 && !pkt.isLaterFragment) {
      this.deps.inspector.inspect(flow, pkt, fromA);
    }
  }

  /** Ends flows idle past their timeout, as of capture time `nowUs`. */
  expire(nowUs: number): void {
    for (let c = 0; c < this.idleUs.length; c++) {
      const limit = this.idleUs[c]!;
      for (let f = this.table.head(c); f !== null && nowUs - f.lastUs > limit; f = this.table.head(c)) {
        this.finish(f, c === TimeoutClass.Closing ? (f.endReason ?? 'fin') : 'idle-timeout');
      }
    }
    this.fragments.expire(nowUs);
  }

  /** Ends every flow (end of capture or shutdown). */
  flushAll(reason: FlowEndReason): void {
    for (const f of [...this.table.all()]) {
      const closed = f.timeoutClass === TimeoutClass.Closing ? f.endReason : null;
      this.finish(f, closed ?? reason);
    }
  }

  stats(): FlowTrackerStats {
    return { ...this.table.stats(), ended: { ...this.ended }, fragmentsUnmatched: this.fragmentsUnmatched };
  }

  private create(pkt: DecodedPacket, srcPort: number, dstPort: number, flags: number): Flow {
    if (this.table.size >= this.table.capacity) {
      const victim = this.table.oldest();
      if (victim) {
        this.table.noteEviction();
        this.finish(victim, 'evicted');
      }
    }
    const flow = this.table.allocate();
    // A SYN-ACK as the first packet means the SYN was missed: the destination initiated.
    const swap = (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
    const a = swap ? pkt.dst : pkt.src;
    const b = swap ? pkt.src : pkt.dst;
    flow.a0 = a[0]!;
    flow.a1 = a[1]!;
    flow.a2 = a[2]!;
    flow.a3 = a[3]!;
    flow.b0 = b[0]!;
    flow.b1 = b[1]!;
    flow.b2 = b[2]!;
    flow.b3 = b[3]!;
    flow.aPort = swap ? dstPort : srcPort;
    flow.bPort = swap ? srcPort : dstPort;
    flow.protocol = pkt.protocol;
    flow.firstUs = pkt.timestampUs;
    flow.lastUs = pkt.timestampUs;
    const aInternal = this.internal.contains(a);
    const bInternal = this.internal.contains(b);
    flow.bothInternal = aInternal && bInternal;
    // Device = the internal end; with both or neither internal, the initiator.
    flow.deviceIsA = aInternal || !bInternal;
    if (!flow.bothInternal) this.attachNames(flow, flow.deviceIsA ? a : b, flow.deviceIsA ? b : a, pkt.timestampUs);
    flow.inspectBudget = this.deps.inspector.initialBudget(flow);
    const timeoutClass =
      pkt.protocol === IPPROTO_TCP ? TimeoutClass.Tcp : pkt.protocol === IPPROTO_UDP ? TimeoutClass.Udp : TimeoutClass.Other;
    this.table.insert(flow, timeoutClass);
    return flow;
  }

  private attachNames(flow: Flow, device: Words, remote: Words, nowUs: number): void {
    const found = this.deps.dnsCache.lookup(addressKeyOf(remote), addressKeyOf(device), nowUs);
    if (found) flow.names = found.names;
  }

  /** Emits the flow so far and starts counting afresh on the same 5-tuple (active timeout). */
  private splitActive(flow: Flow, nowUs: number): void {
    this.emit(flow, 'active-timeout');
    flow.packetsAB = flow.bytesAB = flow.packetsBA = flow.bytesBA = 0;
    flow.firstUs = nowUs;
    flow.lastUs = nowUs;
  }

  private finish(flow: Flow, reason: FlowEndReason): void {
    this.table.remove(flow);
    this.emit(flow, reason);
    this.table.release(flow);
  }

  private emit(flow: Flow, reason: FlowEndReason): void {
    this.ended[reason]++;
    const devWords = copyEndpoint(flow, flow.deviceIsA, this.deviceScratch);
    const remoteWords = copyEndpoint(flow, !flow.deviceIsA, this.remoteScratch);
    const deviceIp = formatAddress(devWords);
    const remoteIp = formatAddress(remoteWords);
    if (flow.names.length === 0 && !flow.bothInternal) this.attachNames(flow, devWords, remoteWords, flow.lastUs);
    const device = this.deps.devices.touch(deviceIp, flow.deviceMac, flow.lastUs);
    const hasPorts = flow.protocol === IPPROTO_TCP || flow.protocol === IPPROTO_UDP;
    const a = flow.deviceIsA;
    const record: FlowRecord = {
      proto: transportName(flow.protocol),
      protocolNumber: flow.protocol,
      device: this.deps.devices.ref(device),
      localPort: hasPorts ? (a ? flow.aPort : flow.bPort) : null,
      remoteIp,
      remotePort: hasPorts ? (a ? flow.bPort : flow.aPort) : null,
      bothInternal: flow.bothInternal,
      names: flow.names,
      sni: flow.sni,
      httpHost: flow.httpHost,
      bytesOut: a ? flow.bytesAB : flow.bytesBA,
      bytesIn: a ? flow.bytesBA : flow.bytesAB,
      packetsOut: a ? flow.packetsAB : flow.packetsBA,
      packetsIn: a ? flow.packetsBA : flow.packetsAB,
      firstSeenUs: flow.firstUs,
      lastSeenUs: flow.lastUs,
      endReason: reason,
      appProtocol: flow.appProtocol,
      alpn: flow.alpn,
      encryptedDns: null,
      encryptedDnsResolver: null,
      unattributed: false,
    };
    const encrypted = this.deps.encryptedDns?.classify(record);
    if (encrypted) {
      record.encryptedDns = encrypted.kind;
      record.encryptedDnsResolver = encrypted.resolver;
    }
    this.deps.onFlowEnd(record);
  }
}

/** One endpoint's address words (A when `sideA`) into `into`, which is returned. */
function copyEndpoint(flow: Flow, sideA: boolean, into: Uint32Array): Words {
  into[0] = sideA ? flow.a0 : flow.b0;
  into[1] = sideA ? flow.a1 : flow.b1;
  into[2] = sideA ? flow.a2 : flow.b2;
  into[3] = sideA ? flow.a3 : flow.b3;
  return into;
}

const TRANSPORT_NAMES: Record<number, TransportName> = {
  [IPPROTO_TCP]: 'tcp',
  [IPPROTO_UDP]: 'udp',
  [IPPROTO_ICMP]: 'icmp',
  [IPPROTO_ICMPV6]: 'icmpv6',
  2: 'igmp',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  132: 'sctp',
};

export function transportName(protocol: number): TransportName {
  return TRANSPORT_NAMES[protocol] ?? `ip-${protocol}`;
}
