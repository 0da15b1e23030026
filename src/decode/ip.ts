/**
 * IPv4 (RFC 791) and IPv6 (RFC 8200) header decoding for the hot path: addresses, lengths,
 * fragmentation, and the IPv6 extension-header walk. Reads in place, allocates nothing, never
 * throws. Returns 'ok' or the layer name to count as malformed.
 */
import { u16, u32 } from './bytes';
import type { DecodeState } from './decode-state';
import type { DecodedPacket } from './types';

export type IpOutcome = 'ok' | 'ipv4' | 'ipv6';

/** At most this many IPv6 extension headers are followed; real packets carry one or two. */
export const MAX_IPV6_EXTENSION_HEADERS = 16;

/**
 * IPv4. The whole header (IHL * 4 bytes, options included) must be captured: the addresses sit
 * at its end, and a header that claims more than the frame holds is not something to guess at.
 */
export function decodeIpv4(buf: Buffer, out: DecodedPacket, s: DecodeState): IpOutcome {
  const off = s.netOffset;
  const avail = s.capEnd - off;
  if (avail < 20) return 'ipv4';
  const b0 = buf[off];
  if (b0 >> 4 !== 4) return 'ipv4';
  const hlen = (b0 & 0x0f) * 4;
  if (hlen < 20 || hlen > avail) return 'ipv4';

  const wireAvail = s.wireEnd - off;
  let total = u16(buf, off + 2);
  // Total length 0 is what a host captures of its own TSO/GSO super-segments (the NIC fills it
  // in later). tcpdump then presumes the datagram runs to the end of the frame; so do we.
  if (total === 0) total = wireAvail;
  else if (total < hlen) return 'ipv4';
  // A header can't claim more bytes than the frame carried on the wire; clamping keeps a lying
  // total length from inflating the volume counted for the flow.
  if (total > wireAvail) total = wireAvail;

  const frag = u16(buf, off + 6);
  const fragOffset = frag & 0x1fff; // in 8-byte units
  const moreFragments = (frag & 0x2000) !== 0;

  out.ipVersion = 4;
  out.ipLength = total;
  out.ttl = buf[off + 8];
  out.protocol = buf[off + 9];
  out.fragmentId = u16(buf, off + 4);
  out.isFragment = moreFragments || fragOffset !== 0;
  out.isLaterFragment = fragOffset !== 0;
  // IPv4-mapped layout (::ffff:a.b.c.d), see src/net/address.ts.
  const src = out.src;
  src[0] = 0;
  src[1] = 0;
  src[2] = 0xffff;
  src[3] = u32(buf, off + 12);
  const dst = out.dst;
  dst[0] = 0;
  dst[1] = 0;
  dst[2] = 0xffff;
  dst[3] = u32(buf, off + 16);

  s.l4Offset = off + hlen;
  s.ipEnd = off + total;
  return 'ok';
}

/**
 * IPv6 with its extension-header chain. ipLength is the payload length + 40.
 *
 * Payload length 0 with a next header other than 59 (No Next Header) is either a jumbogram
 * (RFC 2675, real length in a hop-by-hop option) or, far more often, a GSO/"BIG TCP" super-packet
 * captured on the sending host. Like tcpdump we then take the datagram to run to the end of the
 * frame on the wire; that is not counted as an error because the packet is legitimate.
 */
export function decodeIpv6(buf: Buffer, out: DecodedPacket, s: DecodeState): IpOutcome {
  const off = s.netOffset;
  const capEnd = s.capEnd;
  if (capEnd - off < 40) return 'ipv6';
  if (buf[off] >> 4 !== 6) return 'ipv6';

  const wireAvail = s.wireEnd - off;
  let nh = buf[off + 6];
  let total = u16(buf, off + 4) + 40;
  if (total === 40 && nh !== 59) total = wireAvail;
  if (total > wireAvail) total = wireAvail; // as for IPv4: never more than the wire carried

  out.ipVersion = 6;
  out.ipLength = total;
  out.ttl = buf[off + 7];
  const src = out.src;
  const dst = out.dst;
  for (let i = 0; i < 4; i++) {
    src[i] = u32(buf, off + 8 + i * 4);
    dst[i] = u32(buf, off + 24 + i * 4);
  }

  const ipEnd = off + total;
  s.ipEnd = ipEnd;
  // Extension headers must lie within both the datagram and the captured bytes: without the
  // whole chain the transport protocol is unknown, and the flow key would be wrong.
  const end = ipEnd < capEnd ? ipEnd : capEnd;
  let p = off + 40;
  for (let count = 0; ; count++) {
    let len: number;
    if (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140) {
      // Hop-by-hop (0), Routing (43), Destination Options (60), Mobility (135, RFC 6275),
      // HIP (139, RFC 7401), Shim6 (140, RFC 5533): the common format of RFC 8200 §4 / RFC 6564,
      // Hdr Ext Len in 8-octet units not counting the first 8.
      if (p + 2 > end) return 'ipv6';
      len = (buf[p + 1] + 1) * 8;
    } else if (nh === 51) {
      // Authentication Header (RFC 4302 §2.2): Payload Len in 4-octet units, minus 2.
      if (p + 2 > end) return 'ipv6';
      len = (buf[p + 1] + 2) * 4;
    } else if (nh === 44) {
      // Fragment header (RFC 8200 §4.5), 8 bytes: next header, reserved, offset(13)|res(2)|M(1), id.
      if (p + 8 > end) return 'ipv6';
      len = 8;
      const fo = u16(buf, p + 2);
      const fragOffset = fo & 0xfff8;
      const more = (fo & 1) !== 0;
      // An "atomic fragment" (offset 0, M clear; RFC 6946) is a whole datagram: not a fragment.
      if (fragOffset !== 0 || more) {
        out.isFragment = true;
        out.isLaterFragment = fragOffset !== 0;
        out.fragmentId = u32(buf, p + 4);
      }
      if (fragOffset !== 0) {
        // A later fragment carries only fragment data: its first byte is not a header to walk.
        out.protocol = buf[p];
        s.l4Offset = p + 8;
        return 'ok';
      }
    } else {
      // Upper-layer protocol, ESP (50: encrypted, nothing more to read), 59 (No Next Header)
      // or a type we don't know: the walk stops here.
      break;
    }
    if (count >= MAX_IPV6_EXTENSION_HEADERS || p + len > end) return 'ipv6';
    nh = buf[p];
    p += len;
  }
  out.protocol = nh;
  s.l4Offset = p;
  return 'ok';
}
