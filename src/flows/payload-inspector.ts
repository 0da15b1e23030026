import { splitTcpDnsMessages } from '../decode/dns-message';
import { parseHttpHost } from '../decode/http-request';
import { parseClientHelloSni } from '../decode/tls-client-hello';
import { IPPROTO_TCP, IPPROTO_UDP, type DecodeErrorCounts, type DecodedPacket } from '../decode/types';
import type { Words } from '../net/address';
import { endpointWords, type Flow, type FlowAppState } from './flow';
import type { FlowPayloadInspector } from './flow-tracker';
import { QUIC_PACKET_BUDGET, QuicInspector } from './quic-inspector';

/** Client payload packets to look at before giving up on a name (the ClientHello or request comes first). */
const CLIENT_PAYLOAD_BUDGET = 6;
/** A ClientHello with post-quantum key shares is ~1.8 KB; 16 KB is the TLS record limit. */
const MAX_CLIENT_HELLO_BYTES = 16 * 1024 + 5;
/** RFC 1035 §4.2.2: two-byte length prefix, so a message is at most 65535 bytes. */
const MAX_TCP_DNS_BYTES = 65535 + 2;
/** DNS over TCP connections carry many messages; keep reading them for the connection's life. */
const DNS_BUDGET = Number.MAX_SAFE_INTEGER;

export type TcpDnsHandler = (
  buf: Buffer,
  off: number,
  len: number,
  client: Words,
  server: Words,
  timestampUs: number,
) => void;

/**
 * Finds names in TCP payloads: the SNI of a TLS ClientHello (also when it spans segments), the
 * Host of an HTTP/1.x request, and DNS responses over TCP port 53 (length-prefixed, several per
 * segment or one split across segments). Buffers only in-order bytes; a gap ends the attempt.
 */
export class PayloadInspector implements FlowPayloadInspector {
  /** QUIC Initial inspection of UDP flows; null when turned off (config flows.quic: false). */
  readonly quic: QuicInspector | null;

  constructor(
    private readonly errors: DecodeErrorCounts,
    private readonly onTcpDns: TcpDnsHandler,
    options: { quic?: boolean } = {},
  ) {
    this.quic = options.quic === false ? null : new QuicInspector(errors);
  }

  initialBudget(flow: Flow): number {
    if (flow.protocol === IPPROTO_UDP) {
      // QUIC to the outside; DNS and DHCP ports are decoded before the flow stage.
      if (this.quic === null || flow.bothInternal || flow.aPort === 53 || flow.bPort === 53) return 0;
      return QUIC_PACKET_BUDGET;
    }
    if (flow.protocol !== IPPROTO_TCP || flow.bothInternal && flow.aPort !== 53 && flow.bPort !== 53) return 0;
    if (flow.aPort === 53 || flow.bPort === 53) return DNS_BUDGET;
    return CLIENT_PAYLOAD_BUDGET;
  }

  inspect(flow: Flow, pkt: DecodedPacket, fromA: boolean): void {
    if (flow.protocol === IPPROTO_UDP) {
      this.quic?.inspect(flow, pkt, fromA);
      return;
    }
    if (flow.aPort === 53 || flow.bPort === 53) {
      // Responses come from the port-53 side; queries carry no answers.
      if (fromA === (flow.aPort === 53)) this.inspectTcpDns(flow, pkt);
      return;
    }
    flow.inspectBudget--;
    if (!fromA) return;
    const truncated = pkt.capturedLength < pkt.wireLength;
    const app = flow.app;
    if (app?.clientBytes) {
      if (truncated || pkt.tcpSeq !== app.clientNextSeq) {
        if (seqBefore(pkt.tcpSeq, app.clientNextSeq)) return; // a retransmission of bytes we have
        this.giveUp(flow);
        return;
      }
      const joined = Buffer.concat([app.clientBytes, pkt.buf.subarray(pkt.payloadOffset, pkt.payloadOffset + pkt.payloadLength)]);
      app.clientBytes = null;
      this.inspectClientBytes(flow, pkt, joined, 0, joined.length, truncated);
      return;
    }
    this.inspectClientBytes(flow, pkt, pkt.buf, pkt.payloadOffset, pkt.payloadLength, truncated);
  }

  private inspectClientBytes(flow: Flow, pkt: DecodedPacket, buf: Buffer, off: number, len: number, truncated: boolean): void {
    const tls = parseClientHelloSni(buf, off, len);
    switch (tls.kind) {
      case 'sni':
        flow.sni = tls.name;
        this.giveUp(flow);
        return;
      case 'no-sni':
        this.giveUp(flow);
        return;
      case 'malformed':
        this.errors.byLayer.tls++;
        this.giveUp(flow);
        return;
      case 'need-more':
        if (truncated || tls.needed > MAX_CLIENT_HELLO_BYTES) {
          this.giveUp(flow);
          return;
        }
        this.keepClientBytes(flow, pkt, buf, off, len);
        return;
      case 'not-tls':
        break;
    }
    const host = parseHttpHost(buf, off, len);
    if (host === 'malformed') this.errors.byLayer.http++;
    else if (host !== null) flow.httpHost = host;
    // Whatever the first client bytes were, later ones are the body of that protocol.
    this.giveUp(flow);
  }

  private keepClientBytes(flow: Flow, pkt: DecodedPacket, buf: Buffer, off: number, len: number): void {
    const app = (flow.app ??= newAppState());
    // Copy: the capture stage reuses the packet buffer for the next frame.
    app.clientBytes = Buffer.from(buf.subarray(off, off + len));
    app.clientNextSeq = (pkt.tcpSeq + pkt.payloadLength) >>> 0;
  }

  private inspectTcpDns(flow: Flow, pkt: DecodedPacket): void {
    const app = (flow.app ??= newAppState());
    let buf = pkt.buf;
    let off = pkt.payloadOffset;
    let len = pkt.payloadLength;
    if (app.dnsBytes) {
      if (pkt.tcpSeq !== app.dnsNextSeq) {
        if (seqBefore(pkt.tcpSeq, app.dnsNextSeq)) return;
        app.dnsBytes = null; // a gap: resynchronise on this segment
      } else {
        buf = Buffer.concat([app.dnsBytes, buf.subarray(off, off + len)]);
        off = 0;
        len = buf.length;
        app.dnsBytes = null;
      }
    }
    const { messages, consumed } = splitTcpDnsMessages(buf, off, len);
    const fromServerIsA = flow.aPort === 53;
    const server = endpointWords(flow, fromServerIsA);
    const client = endpointWords(flow, !fromServerIsA);
    for (const [mOff, mLen] of messages) this.onTcpDns(buf, mOff, mLen, client, server, pkt.timestampUs);
    const rest = len - consumed;
    if (rest > 0 && pkt.capturedLength === pkt.wireLength && rest <= MAX_TCP_DNS_BYTES) {
      app.dnsBytes = Buffer.from(buf.subarray(off + consumed, off + len));
      app.dnsNextSeq = (pkt.tcpSeq + pkt.payloadLength) >>> 0;
    }
  }

  private giveUp(flow: Flow): void {
    flow.inspectBudget = 0;
    flow.app = null;
  }
}

function newAppState(): FlowAppState {
  return { clientBytes: null, clientNextSeq: 0, dnsBytes: null, dnsNextSeq: 0, quic: null };
}

/** RFC 1982 serial-number comparison for TCP sequence numbers. */
function seqBefore(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
