/**
 * Transport headers (TCP RFC 9293, UDP RFC 768, ICMP RFC 792, ICMPv6 RFC 4443) and the payload
 * range, for the hot path. Reads in place, allocates nothing, never throws.
 *
 * Two kinds of "short" are told apart:
 * - the capture cut the datagram (snaplen): whatever fields are present are decoded, the rest
 *   stay 0, and that is not an error;
 * - the datagram itself (its IP length, fully captured) is too short for the header, or a
 *   header field is impossible: the packet is malformed and the layer is returned.
 * Length checks against the datagram are skipped for fragments: a first fragment's transport
 * header describes the reassembled datagram, not this piece.
 */
import { u16, u32 } from './bytes';
import type { DecodeState } from './decode-state';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, type DecodedPacket } from './types';

export type TransportOutcome = 'ok' | 'tcp' | 'udp' | 'icmp';

/** RFC 8200 §4.7: nothing follows; bytes after it (if any) are to be ignored. */
const IPPROTO_NONE = 59;

export function decodeTransport(buf: Buffer, out: DecodedPacket, s: DecodeState): TransportOutcome {
  const off = s.l4Offset;
  const ipEnd = s.ipEnd;
  const capEnd = s.capEnd;
  // Payload never extends past the datagram (Ethernet padding is not payload) nor the capture.
  const end = ipEnd < capEnd ? ipEnd : capEnd;
  const avail = end - off;
  // True when the header can be judged against the datagram: all of it was captured and it is
  // not a fragment.
  const judge = ipEnd <= capEnd && !out.isFragment;

  if (out.isLaterFragment) return payload(out, off, avail);

  switch (out.protocol) {
    case IPPROTO_TCP: {
      if (avail >= 4) {
        out.srcPort = u16(buf, off);
        out.dstPort = u16(buf, off + 2);
      }
      if (avail >= 8) out.tcpSeq = u32(buf, off + 4);
      if (avail >= 13) {
        // Data offset in 32-bit words; below 5 the fixed header itself would not fit.
        const hlen = (buf[off + 12] >> 4) * 4;
        if (hlen < 20) return 'tcp';
        if (avail >= 14) out.tcpFlags = buf[off + 13];
        if (hlen <= avail) return payload(out, off + hlen, avail - hlen);
        if (judge) return 'tcp';
        return payload(out, end, 0);
      }
      if (judge) return 'tcp';
      return payload(out, end, 0);
    }
    case IPPROTO_UDP: {
      if (avail >= 4) {
        out.srcPort = u16(buf, off);
        out.dstPort = u16(buf, off + 2);
      }
      if (avail < 8) {
        if (judge) return 'udp';
        return payload(out, end, 0);
      }
      if (out.isFragment) return payload(out, off + 8, avail - 8);
      const inDatagram = ipEnd - off;
      let ulen = u16(buf, off + 4);
      // RFC 2675 §4: a UDP length of 0 over IPv6 means "see the IP length" (jumbograms, GSO).
      if (ulen === 0 && out.ipVersion === 6) ulen = inDatagram;
      // RFC 768: the length covers header and data, so it is at least 8 and fits the datagram.
      // A shorter one leaves surplus bytes (UDP options, RFC 9868) that are not payload.
      if (ulen < 8 || ulen > inDatagram) return 'udp';
      const udpEnd = off + ulen;
      return payload(out, off + 8, (udpEnd < end ? udpEnd : end) - off - 8);
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      // Type and code go into the port fields (see DecodedPacket). Every message has at least
      // type, code and checksum; the next 4 bytes (echo id/seq, MTU, pointer...) are header too.
      if (avail >= 1) out.srcPort = buf[off];
      if (avail >= 2) out.dstPort = buf[off + 1];
      if (avail < 4 && judge) return 'icmp';
      const hlen = avail < 8 ? avail : 8;
      return payload(out, off + hlen, avail - hlen);
    }
    case IPPROTO_NONE:
      return payload(out, off, 0);
    default:
      // GRE, ESP, SCTP, ...: everything after the IP headers is payload for byte accounting.
      return payload(out, off, avail);
  }
}

function payload(out: DecodedPacket, offset: number, length: number): 'ok' {
  out.payloadOffset = offset;
  out.payloadLength = length > 0 ? length : 0;
  return 'ok';
}
