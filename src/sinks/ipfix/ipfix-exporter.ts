/**
 * The IPFIX sink: every finished flow goes to a collector (nfdump's nfcapd, pmacct, GoFlow2,
 * akvorado) as IPFIX Data Records over UDP (RFC 7011).
 *
 * A Geowarden flow is bidirectional, but collectors store unidirectional flows and few read
 * RFC 5103 reverse elements: Debian's nfdump 1.7.1 maps the reverse octet and packet counters to
 * its out_bytes/out_packets, but takes a reverse flowStartMilliseconds or sourceMacAddress for
 * the forward one and overwrites it (tried against nfcapd). So each flow becomes two records, as
 * softflowd, pmacct and ipt-netflow export them: device → remote (source = the device) and
 * remote → device, a direction without packets being left out. Both carry the flow's first and
 * last packet times, the device's MAC on its side, and Geowarden's enterprise elements: the
 * remote's country and AS, the names behind it, and the verdict.
 */
import { isIP } from 'node:net';
import { parseAddress, parseMac } from '../../net/address';
import type { FlowEndReason, FlowRecord } from '../../flows/types';
import type { JudgedFlow } from '../../policy/types';
import type { PipelineSink } from '../types';
import {
  FLOW_DIRECTION,
  FLOW_END_REASON,
  GEOWARDEN_IE,
  GEOWARDEN_PEN,
  IE,
  VARIABLE_LENGTH,
} from './information-elements';
import { type FieldSpecifier, type FieldValue, IpfixMessageBuilder, type Template, type TemplateRefresh } from './ipfix-message';
import type { IpfixExportConfig } from '../../config/types';
import { parseListenAddress } from '../../config/schema';
import { type DatagramTransport, type TransportReport, UdpTransport } from './udp-transport';

export const TEMPLATE_ID_IPV4 = 256;
export const TEMPLATE_ID_IPV6 = 257;

const ENTERPRISE_FIELDS: readonly FieldSpecifier[] = [
  { id: GEOWARDEN_IE.remoteCountry, length: VARIABLE_LENGTH, enterprise: GEOWARDEN_PEN },
  { id: GEOWARDEN_IE.remoteAsn, length: 4, enterprise: GEOWARDEN_PEN },
  { id: GEOWARDEN_IE.remoteNames, length: VARIABLE_LENGTH, enterprise: GEOWARDEN_PEN },
  { id: GEOWARDEN_IE.verdict, length: VARIABLE_LENGTH, enterprise: GEOWARDEN_PEN },
];

function flowTemplate(id: number, addressLength: 4 | 16): Template {
  const v4 = addressLength === 4;
  return {
    id,
    fields: [
      { id: v4 ? IE.sourceIPv4Address : IE.sourceIPv6Address, length: addressLength },
      { id: v4 ? IE.destinationIPv4Address : IE.destinationIPv6Address, length: addressLength },
      { id: IE.sourceTransportPort, length: 2 },
      { id: IE.destinationTransportPort, length: 2 },
      { id: IE.protocolIdentifier, length: 1 },
      { id: IE.octetDeltaCount, length: 8 },
      { id: IE.packetDeltaCount, length: 8 },
      { id: IE.flowStartMilliseconds, length: 8 },
      { id: IE.flowEndMilliseconds, length: 8 },
      { id: IE.sourceMacAddress, length: 6 },
      { id: IE.destinationMacAddress, length: 6 },
      { id: IE.flowDirection, length: 1 },
      { id: IE.flowEndReason, length: 1 },
      ...ENTERPRISE_FIELDS,
    ],
  };
}

/** The two templates every exporter announces: one per address family. */
export const FLOW_TEMPLATES: readonly Template[] = [flowTemplate(TEMPLATE_ID_IPV4, 4), flowTemplate(TEMPLATE_ID_IPV6, 16)];

const END_REASONS: Readonly<Record<FlowEndReason, number>> = {
  fin: FLOW_END_REASON.endOfFlowDetected,
  rst: FLOW_END_REASON.endOfFlowDetected,
  'idle-timeout': FLOW_END_REASON.idleTimeout,
  'active-timeout': FLOW_END_REASON.activeTimeout,
  evicted: FLOW_END_REASON.lackOfResources,
  'end-of-capture': FLOW_END_REASON.forcedEnd,
  shutdown: FLOW_END_REASON.forcedEnd,
};

/** All-zero MAC: the other side's MAC (the gateway's) is not part of a Geowarden flow. */
const NO_MAC = new Uint8Array(6);
const EMPTY = new Uint8Array(0);
/** Cap on the joined names, below what the message budget allows, so records stay small. */
const MAX_NAMES_OCTETS = 1024;
/** Widest fixed part of a record (IPv6) plus the short variable fields at their longest. */
const FIXED_RECORD_OCTETS = 16 + 16 + 2 + 2 + 1 + 8 + 8 + 8 + 8 + 6 + 6 + 1 + 1 + 4;
const SHORT_FIELDS_OCTETS = 1 + 2 + 1 + 9;

export interface IpfixExporterOptions {
  observationDomainId: number;
  maxMessageLength: number;
  refresh: TemplateRefresh;
  transport: DatagramTransport;
  /** Milliseconds since the epoch, for Export Time and template refresh; default Date.now. */
  now?: () => number;
  /**
   * A message that is not full goes out at most this long after its first record (a quiet
   * gateway still exports promptly); 0: only when full and at the end. Default 1000.
   */
  flushDelayMs?: number;
}

export interface IpfixExportReport extends TransportReport {
  records: number;
  messages: number;
  templateMessages: number;
}

export class IpfixExporter implements PipelineSink {
  private readonly builder: IpfixMessageBuilder;
  private readonly transport: DatagramTransport;
  private readonly now: () => number;
  private readonly flushDelayMs: number;
  private readonly namesBudget: number;
  private timer: NodeJS.Timeout | null = null;
  private closed: Promise<IpfixExportReport> | null = null;

  /**
   * The exporter `export.ipfix` describes, sending over UDP. Messages stay within the MTU less
   * the IP header (20 octets for IPv4, 40 for IPv6) and the UDP header (8), RFC 7011 §10.3.3.
   */
  static fromConfig(config: IpfixExportConfig, onError?: (message: string) => void): IpfixExporter {
    const address = parseListenAddress(config.collector);
    if (!address || address.host === null) throw new Error(`export.ipfix.collector: "${config.collector}" is not host:port`);
    const ipHeader = isIP(address.host) === 6 ? 40 : 20;
    return new IpfixExporter({
      observationDomainId: config.observationDomainId,
      maxMessageLength: config.mtu - ipHeader - 8,
      refresh: { intervalMs: config.templateRefreshS * 1000, messages: config.templateRefreshPackets },
      transport: new UdpTransport(address.host, address.port, onError),
    });
  }

  constructor(options: IpfixExporterOptions) {
    this.transport = options.transport;
    this.now = options.now ?? Date.now;
    this.flushDelayMs = options.flushDelayMs ?? 1000;
    this.builder = new IpfixMessageBuilder({
      observationDomainId: options.observationDomainId,
      maxMessageLength: options.maxMessageLength,
      templates: FLOW_TEMPLATES,
      refresh: options.refresh,
      onMessage: (m) => this.transport.send(m),
    });
    // Whatever the names, a record must fit in a message that also carries the templates.
    this.namesBudget = Math.max(0, Math.min(MAX_NAMES_OCTETS, this.builder.recordBudget - FIXED_RECORD_OCTETS - SHORT_FIELDS_OCTETS - 3));
  }

  onFlow({ flow, geo, verdict }: JudgedFlow): void {
    if (this.closed) return;
    const device = parseAddress(flow.device.ip);
    const remote = parseAddress(flow.remoteIp);
    if (!device || !remote) return;
    const v4 = flow.device.ip.indexOf(':') < 0 && flow.remoteIp.indexOf(':') < 0;
    const deviceAddr = addressBytes(device, v4);
    const remoteAddr = addressBytes(remote, v4);
    const mac = flow.device.mac !== null ? macBytes(flow.device.mac) : NO_MAC;
    const local = flow.bothInternal || geo.special;
    const tail: FieldValue[] = [
      utf8(local ? null : geo.country, 2),
      geo.asn ?? 0,
      truncatedUtf8(namesOf(flow), this.namesBudget),
      utf8(verdict.verdict, 9),
    ];
    const start = Math.floor(flow.firstSeenUs / 1000);
    const end = Math.floor(flow.lastSeenUs / 1000);
    const reason = END_REASONS[flow.endReason];
    const localPort = flow.localPort ?? 0;
    const remotePort = flow.remotePort ?? 0;
    const template = v4 ? TEMPLATE_ID_IPV4 : TEMPLATE_ID_IPV6;
    const now = this.now();
    // RFC 5102 flowDirection is relative to the Observation Point, which for Geowarden is the
    // gateway's LAN-side interface: device → remote packets enter it (ingress), replies leave it.
    if (flow.packetsOut > 0) {
      this.builder.add(
        template,
        [deviceAddr, remoteAddr, localPort, remotePort, flow.protocolNumber, flow.bytesOut, flow.packetsOut, start, end, mac, NO_MAC, FLOW_DIRECTION.ingress, reason, ...tail],
        now,
      );
    }
    if (flow.packetsIn > 0) {
      this.builder.add(
        template,
        [remoteAddr, deviceAddr, remotePort, localPort, flow.protocolNumber, flow.bytesIn, flow.packetsIn, start, end, NO_MAC, mac, FLOW_DIRECTION.egress, reason, ...tail],
        now,
      );
    }
    this.scheduleFlush();
  }

  /** Sends what is buffered and releases the socket; the report says what reached the network. */
  onEnd(): void {
    void this.close();
  }

  close(): Promise<IpfixExportReport> {
    if (this.closed) return this.closed;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.builder.flush(this.now());
    const stats = this.builder.stats();
    this.closed = this.transport.close().then((t) => ({ ...t, ...stats }));
    return this.closed;
  }

  private scheduleFlush(): void {
    if (this.flushDelayMs <= 0 || this.timer !== null || this.builder.pendingRecords === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.builder.flush(this.now());
    }, this.flushDelayMs);
    // The capture keeps a daemon alive; an export timer alone must not keep a replay running.
    this.timer.unref();
  }
}

/** Query name, CNAME chain, then SNI and Host when they add a name: what the remote was reached as. */
function namesOf(flow: FlowRecord): string {
  const names = [...flow.names];
  for (const n of [flow.sni, flow.httpHost]) if (n !== null && !names.includes(n)) names.push(n);
  return names.join(',');
}

function addressBytes(w: Uint32Array, v4: boolean): Uint8Array {
  const out = Buffer.alloc(v4 ? 4 : 16);
  if (v4) out.writeUInt32BE(w[3]!, 0);
  else for (let i = 0; i < 4; i++) out.writeUInt32BE(w[i]!, i * 4);
  return out;
}

function macBytes(text: string): Uint8Array {
  const mac = parseMac(text);
  if (mac === null) return NO_MAC;
  const out = Buffer.alloc(6);
  out.writeUIntBE(mac, 0, 6);
  return out;
}

function utf8(text: string | null, max: number): Uint8Array {
  return text === null || text === '' ? EMPTY : truncatedUtf8(text, max);
}

/** UTF-8 bytes of `text`, cut to at most `max` octets without splitting a character (RFC 7011 §6.1.6). */
export function truncatedUtf8(text: string, max: number): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back up over continuation octets (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
