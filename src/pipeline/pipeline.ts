import type { CapturedFrame } from '../capture/types';
import type { Config } from '../config/types';
import { FrameDecoder } from '../decode/frame-decoder';
import { parseDhcp } from '../decode/dhcp';
import { IPPROTO_UDP, newDecodedPacket, type DecodedPacket } from '../decode/types';
import { DeviceTable } from '../devices/device-table';
import { DnsAnswerCache } from '../dns/dns-answer-cache';
import { DnsObserver } from '../dns/dns-observer';
import { EncryptedDnsClassifier, loadEncryptedResolvers } from '../flows/encrypted-dns';
import { FlowTracker } from '../flows/flow-tracker';
import { PayloadInspector } from '../flows/payload-inspector';
import type { FlowRecord } from '../flows/types';
import { isUnattributed } from '../flows/unattributed';
import type { GeoLookup } from '../geo/types';
import { CidrSet, formatV4 } from '../net/address';
import type { FlowJudge } from '../policy/types';
import type { PipelineSink, PipelineSummary } from '../sinks/types';

/** Housekeeping (flow expiry, DNS cache expiry) runs at most this often, in capture time. */
const HOUSEKEEPING_INTERVAL_US = 1_000_000;
const DNS_EXPIRY_INTERVAL_US = 60_000_000;
function isLinkOnly(pkt: DecodedPacket): boolean {
  return (pkt.src[2] === 0xffff && pkt.src[3] === 0 && pkt.src[0] === 0) || (pkt.dst[2] === 0xffff && pkt.dst[3] === 0xffffffff && pkt.dst[0] === 0);
}

/** DHCP message types, RFC 2132 §9.6. */
const DHCP_REQUEST = 3;
const DHCP_ACK = 5;

export interface PipelineDeps {
  config: Config;
  geo: GeoLookup;
  judge: FlowJudge;
  sinks: PipelineSink[];
}

/**
 * Wires the stages: decode → (DNS, DHCP) → flows → geo → policy → sinks. The same object serves
 * replay and live capture: both just hand it frames. Only handleFrame runs per packet.
 */
export class Pipeline {
  readonly decoder = new FrameDecoder();
  readonly devices: DeviceTable;
  readonly dnsCache: DnsAnswerCache;
  readonly dns: DnsObserver;
  readonly flows: FlowTracker;
  private judge: FlowJudge;
  private readonly geo: GeoLookup;
  private readonly sinks: PipelineSink[];
  private readonly pkt: DecodedPacket = newDecodedPacket();
  private packets = 0;
  private bytes = 0;
  private flowCount = 0;
  private violations = 0;
  private firstUs: number | null = null;
  private latestUs = 0;
  private lastPacketUs: number | null = null;
  private nextHousekeepingUs = 0;
  private nextDnsExpiryUs = 0;

  constructor(deps: PipelineDeps) {
    const { config } = deps;
    this.geo = deps.geo;
    this.judge = deps.judge;
    this.sinks = deps.sinks;
    this.devices = new DeviceTable({ maxDevices: config.devices.maxDevices, inventory: config.devices.inventory });
    this.dnsCache = new DnsAnswerCache(config.dns);
    const dnsSinks = this.sinks.filter((s) => s.onDns);
    this.dns = new DnsObserver(
      this.dnsCache,
      this.decoder.errors,
      dnsSinks.length ? (r) => dnsSinks.forEach((s) => s.onDns!(r)) : null,
    );
    const inspector = new PayloadInspector(
      this.decoder.errors,
      (buf, off, len, client, server, ts) => this.dns.observe(buf, off, len, client, server, 'tcp', ts),
      { quic: config.flows.quic ?? true },
    );
    this.flows = new FlowTracker({
      config: config.flows,
      internal: CidrSet.parse(config.internalNetworks),
      devices: this.devices,
      dnsCache: this.dnsCache,
      inspector,
      encryptedDns: new EncryptedDnsClassifier(loadEncryptedResolvers(config.dns.encryptedResolversFile ?? null)),
      onFlowEnd: (record) => this.onFlowEnd(record),
    });
  }

  /** Replaces the policy and internal networks (config reload); flow state is kept. */
  reconfigure(judge: FlowJudge, internalNetworks: readonly string[]): void {
    this.judge = judge;
    this.flows.setInternalNetworks(CidrSet.parse(internalNetworks));
  }

  readonly handleFrame = (frame: CapturedFrame): void => {
    this.packets++;
    this.bytes += frame.wireLength;
    const pkt = this.pkt;
    if (!this.decoder.decode(frame, pkt)) return;
    const ts = pkt.timestampUs;
    this.lastPacketUs = ts;
    if (ts > this.latestUs) {
      this.latestUs = ts;
      if (this.firstUs === null) this.firstUs = ts;
      if (ts >= this.nextHousekeepingUs) this.housekeeping(ts);
    }
    if (pkt.protocol === IPPROTO_UDP && pkt.payloadLength > 0 && !pkt.isLaterFragment && this.inspectUdp(pkt)) return;
    // Limited broadcast and packets from 0.0.0.0 never leave the link: not a flow to anywhere.
    if (isLinkOnly(pkt)) return;
    this.flows.observe(pkt);
  };

  /** Ends all flows and tells the sinks; call once at end of capture or shutdown. */
  finish(reason: 'end-of-capture' | 'shutdown'): PipelineSummary {
    this.flows.flushAll(reason);
    const summary = this.summary();
    for (const s of this.sinks) s.onEnd?.(summary);
    return summary;
  }

  /** Advances expiry to `nowUs` when capture time does not (a quiet live interface). */
  tick(nowUs: number): void {
    if (nowUs > this.latestUs) {
      this.latestUs = nowUs;
      this.housekeeping(nowUs);
    }
  }

  summary(): PipelineSummary {
    return {
      packets: this.packets,
      bytes: this.bytes,
      flows: this.flowCount,
      devices: this.devices.stats().devices,
      violations: this.violations,
      decodeErrors: this.decoder.errors,
      firstTimestampUs: this.firstUs,
      lastTimestampUs: this.firstUs === null ? null : this.latestUs,
      lastPacketTimestampUs: this.lastPacketUs,
    };
  }

  /** DNS and DHCP payloads; true for DHCP, which names devices but is not itself tracked as a flow. */
  private inspectUdp(pkt: DecodedPacket): boolean {
    const sport = pkt.srcPort;
    const dport = pkt.dstPort;
    if (sport === 53) {
      // A fragmented response's first fragment holds only part of the message: not an error,
      // just not decodable without reassembly.
      if (pkt.isFragment) return false;
      const truncated = pkt.capturedLength < pkt.wireLength;
      this.dns.observe(pkt.buf, pkt.payloadOffset, pkt.payloadLength, pkt.dst, pkt.src, 'udp', pkt.timestampUs, truncated);
    } else if ((sport === 67 || sport === 68) && (dport === 67 || dport === 68)) {
      const msg = parseDhcp(pkt.buf, pkt.payloadOffset, pkt.payloadLength);
      if (msg === 'malformed') {
        this.decoder.errors.byLayer.dhcp++;
      } else if (msg !== null) {
        // RFC 2131: only a DHCPACK binds yiaddr; a REQUEST names the address the client holds or wants.
        const ip = msg.messageType === DHCP_ACK ? msg.yourIp : msg.messageType === DHCP_REQUEST ? (msg.requestedIp ?? msg.clientIp) : 0;
        this.devices.learnDhcp({ clientMac: msg.clientMac, hostname: msg.hostname, ip: ip ? formatV4(ip) : null });
      }
      return true;
    }
    return false;
  }

  private housekeeping(nowUs: number): void {
    this.nextHousekeepingUs = nowUs + HOUSEKEEPING_INTERVAL_US;
    this.flows.expire(nowUs);
    if (nowUs >= this.nextDnsExpiryUs) {
      this.nextDnsExpiryUs = nowUs + DNS_EXPIRY_INTERVAL_US;
      this.dnsCache.expire(nowUs);
    }
  }

  private onFlowEnd(flow: FlowRecord): void {
    const found = this.geo.lookup(flow.remoteIp);
    const verdict = this.judge.judge(flow, found);
    // With several databases the verdict may rest on another database's answer than the primary's
    // (geoip.decision any/all/majority): sinks then show that country, so counts by country and
    // the verdict agree. The lookup result is shared through the cache, hence the copy.
    const geo = verdict.country !== undefined && verdict.country !== found.country ? { ...found, country: verdict.country } : found;
    flow.unattributed = isUnattributed(flow, geo);
    this.flowCount++;
    if (verdict.verdict === 'violation') this.violations++;
    const judged = { flow, geo, verdict };
    for (const s of this.sinks) s.onFlow(judged);
  }
}
