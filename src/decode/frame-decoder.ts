/**
 * The decode stage's entry point: one captured frame in, the caller's reused DecodedPacket out.
 *
 * Hot-path contract (the pipeline must sustain >1M packets/s on one core): the frame buffer is
 * read in place, nothing is allocated per frame, nothing throws. A frame cut short by the snaplen
 * is normal input and is decoded as far as it goes; a frame whose headers are impossible is
 * counted once, at the layer that was wrong, and decode() returns false.
 */
import type { CapturedFrame } from '../capture/types';
import { DecodeState } from './decode-state';
import { decodeIpv4, decodeIpv6 } from './ip';
import { decodeLink } from './link-layer';
import { decodeTransport } from './transport';
import { newDecodeErrorCounts, NO_MAC, type DecodeErrorCounts, type DecodedPacket } from './types';

export class FrameDecoder {
  /** Malformed frames per layer, and frames of link types this decoder does not handle. */
  readonly errors: DecodeErrorCounts = newDecodeErrorCounts();
  private readonly state = new DecodeState();

  /**
   * Fills `out` from `frame`, resetting every field first. Returns true when an IP packet was
   * decoded. Returns false for frames that carry no IP (ARP, LLDP, STP: not an error), for link
   * types it does not know (counted in errors.unsupportedLinkType) and for malformed frames
   * (counted in errors.byLayer). After false, `out` holds no meaningful IP data (ipVersion 0).
   */
  decode(frame: CapturedFrame, out: DecodedPacket): boolean {
    const buf = frame.buf;
    let start = frame.offset;
    if (!(start >= 0 && start <= buf.length)) start = buf.length;
    // Never trust capturedLength beyond the buffer: reading past it would give undefined, not bytes.
    let cap = frame.capturedLength;
    if (cap > buf.length - start) cap = buf.length - start;
    if (!(cap > 0)) cap = 0;
    let wire = frame.wireLength;
    if (!(wire >= cap)) wire = cap;

    out.buf = buf;
    out.timestampUs = frame.timestampUs;
    out.wireLength = frame.wireLength;
    out.capturedLength = cap;
    out.srcMac = NO_MAC;
    out.dstMac = NO_MAC;
    out.vlanId = -1;
    out.ipVersion = 0;
    const src = out.src;
    const dst = out.dst;
    src[0] = 0;
    src[1] = 0;
    src[2] = 0;
    src[3] = 0;
    dst[0] = 0;
    dst[1] = 0;
    dst[2] = 0;
    dst[3] = 0;
    out.ipLength = 0;
    out.protocol = 0;
    out.ttl = 0;
    out.isFragment = false;
    out.isLaterFragment = false;
    out.fragmentId = 0;
    out.srcPort = 0;
    out.dstPort = 0;
    out.tcpFlags = 0;
    out.tcpSeq = 0;
    out.payloadOffset = 0;
    out.payloadLength = 0;

    const s = this.state;
    s.frameStart = start;
    s.capEnd = start + cap;
    s.wireEnd = start + wire;
    s.netOffset = start;
    s.netVersion = 0;
    s.l4Offset = 0;
    s.ipEnd = 0;

    const link = decodeLink(frame.linkType, buf, out, s);
    if (link !== 'ok') {
      if (link === 'not-ip') return false;
      if (link === 'unsupported') this.errors.unsupportedLinkType++;
      else this.errors.byLayer[link]++;
      return false;
    }

    let version = s.netVersion;
    if (version === 0) {
      // Raw IP: only the version nibble tells IPv4 from IPv6 (LINKTYPE_RAW).
      version = s.netOffset < s.capEnd ? buf[s.netOffset] >> 4 : 0;
      if (version !== 4 && version !== 6) {
        this.errors.byLayer.link++;
        return false;
      }
    }

    const ip = version === 4 ? decodeIpv4(buf, out, s) : decodeIpv6(buf, out, s);
    if (ip !== 'ok') {
      this.errors.byLayer[ip]++;
      out.ipVersion = 0;
      return false;
    }

    const transport = decodeTransport(buf, out, s);
    if (transport !== 'ok') {
      this.errors.byLayer[transport]++;
      out.ipVersion = 0;
      return false;
    }
    return true;
  }
}
