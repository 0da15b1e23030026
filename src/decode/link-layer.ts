/**
 * Link-layer decoding: finds where the IP header starts and which IP version the link layer
 * announces, and fills the MAC/VLAN fields of the DecodedPacket. Hot path: reads in place, no
 * allocation, no throw. Link-type numbers are LINKTYPE_* from https://www.tcpdump.org/linktypes.html.
 */
import { u16, u32, mac48 } from './bytes';
import type { DecodeState } from './decode-state';
import type { DecodedPacket } from './types';

/** What the link layer found: an IP packet, something else, or the layer that was malformed. */
export type LinkOutcome = 'ok' | 'not-ip' | 'unsupported' | 'link' | 'ethernet' | 'vlan' | 'sll';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
/** IEEE 802.1Q C-tag. */
const ETHERTYPE_VLAN = 0x8100;
/** IEEE 802.1ad S-tag (QinQ). */
const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ S-tag still emitted by some switches. */
const ETHERTYPE_QINQ_OLD = 0x9100;

/** ARPHRD_LOOPBACK (linux/if_arp.h): its "address" is six zero bytes, not a real MAC. */
const ARPHRD_LOOPBACK = 772;
/** ARPHRD_NETLINK: the SLL protocol field is then a Netlink protocol, never IP. */
const ARPHRD_NETLINK = 824;
/** Linux sll_pkttype values 0..4 (linux/if_packet.h): HOST, BROADCAST, MULTICAST, OTHERHOST, OUTGOING. */
const PACKET_OUTGOING = 4;

/** BSD AF_INET, and AF_INET6 as NetBSD/OpenBSD (24), FreeBSD (28) and Darwin (30) number it. */
const AF_INET = 2;

function isAfInet6(af: number): boolean {
  return af === 24 || af === 28 || af === 30;
}

export function decodeLink(linkType: number, buf: Buffer, out: DecodedPacket, s: DecodeState): LinkOutcome {
  switch (linkType) {
    case 1: // LINKTYPE_ETHERNET
      return decodeEthernet(buf, out, s);
    case 113: // LINKTYPE_LINUX_SLL
      return decodeSll(buf, out, s);
    case 276: // LINKTYPE_LINUX_SLL2
      return decodeSll2(buf, out, s);
    case 101: // LINKTYPE_RAW
    case 12: // DLT_RAW on most BSDs and Linux, when a live source reports the DLT value itself
    case 14: // DLT_RAW on OpenBSD
      return ipAt(s, s.frameStart, 0);
    case 228: // LINKTYPE_IPV4
      return ipAt(s, s.frameStart, 4);
    case 229: // LINKTYPE_IPV6
      return ipAt(s, s.frameStart, 6);
    case 0: // LINKTYPE_NULL: 4-byte address family in the capturing host's byte order
      return decodeNull(buf, s, false);
    case 108: // LINKTYPE_LOOP: 4-byte address family in network byte order
      return decodeNull(buf, s, true);
    default:
      return 'unsupported';
  }
}

function ipAt(s: DecodeState, offset: number, version: number): LinkOutcome {
  // Nothing is checked here: the IP decoder reports a missing or short header as its own error.
  s.netOffset = offset;
  s.netVersion = version;
  return 'ok';
}

/** Ethernet II (IEEE 802.3 with an EtherType): dst MAC, src MAC, EtherType, then VLAN tags. */
function decodeEthernet(buf: Buffer, out: DecodedPacket, s: DecodeState): LinkOutcome {
  const b = s.frameStart;
  if (s.capEnd - b < 14) return 'ethernet';
  out.dstMac = mac48(buf, b);
  out.srcMac = mac48(buf, b + 6);
  const type = u16(buf, b + 12);
  // Values up to 1500 are an 802.3 length with an LLC header (STP, CDP, ...). IP over LLC/SNAP
  // (RFC 1042) is not seen on modern LANs, so those frames count as non-IP.
  return decodeEtherType(buf, type, b + 14, out, s);
}

/**
 * Follows any number of 802.1Q / 802.1ad / 0x9100 tags, then accepts IPv4 or IPv6. Each tag is 4
 * bytes (TCI, next EtherType), so the loop is bounded by the captured length.
 */
function decodeEtherType(buf: Buffer, type: number, off: number, out: DecodedPacket, s: DecodeState): LinkOutcome {
  const end = s.capEnd;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_OLD) {
    if (off + 4 > end) return 'vlan';
    // VID 0 is a priority-only tag (IEEE 802.1Q §9.6): it names no VLAN, so the outermost
    // non-zero VID is the one reported.
    const vid = u16(buf, off) & 0x0fff;
    if (out.vlanId < 0 && vid !== 0) out.vlanId = vid;
    type = u16(buf, off + 2);
    off += 4;
  }
  if (type === ETHERTYPE_IPV4) return ipAt(s, off, 4);
  if (type === ETHERTYPE_IPV6) return ipAt(s, off, 6);
  return 'not-ip';
}

/**
 * Linux cooked capture v1 (LINKTYPE_LINUX_SLL = 113), 16-byte header: packet type, ARPHRD type,
 * link-layer address length, 8 bytes of address, protocol (an EtherType for most ARPHRD types).
 */
function decodeSll(buf: Buffer, out: DecodedPacket, s: DecodeState): LinkOutcome {
  const b = s.frameStart;
  if (s.capEnd - b < 16) return 'sll';
  setSllSource(buf, out, u16(buf, b), u16(buf, b + 2), u16(buf, b + 4), b + 6);
  if (u16(buf, b + 2) === ARPHRD_NETLINK) return 'not-ip';
  return decodeEtherType(buf, u16(buf, b + 14), b + 16, out, s);
}

/**
 * Linux cooked capture v2 (LINKTYPE_LINUX_SLL2 = 276), 20-byte header: protocol, reserved,
 * interface index (u32), ARPHRD type, packet type (u8), address length (u8), 8 bytes of address.
 */
function decodeSll2(buf: Buffer, out: DecodedPacket, s: DecodeState): LinkOutcome {
  const b = s.frameStart;
  if (s.capEnd - b < 20) return 'sll';
  const arphrd = u16(buf, b + 8);
  setSllSource(buf, out, buf[b + 10], arphrd, buf[b + 11], b + 12);
  if (arphrd === ARPHRD_NETLINK) return 'not-ip';
  return decodeEtherType(buf, u16(buf, b), b + 20, out, s);
}

/**
 * The SLL address is the link-layer address of the packet's sender. For packet types 0..3 that
 * is the remote station; for type 4 (PACKET_OUTGOING, sent by the capturing host) it is our own
 * interface's MAC, which is still the frame's source. The destination MAC is never recorded.
 * Unknown packet types, non-6-byte addresses and the loopback device's all-zero "MAC" give NO_MAC.
 */
function setSllSource(buf: Buffer, out: DecodedPacket, pktType: number, arphrd: number, halen: number, at: number): void {
  if (halen === 6 && pktType <= PACKET_OUTGOING && arphrd !== ARPHRD_LOOPBACK) out.srcMac = mac48(buf, at);
}

/** BSD loopback (LINKTYPE_NULL = 0, LINKTYPE_LOOP = 108): a 4-byte address family. */
function decodeNull(buf: Buffer, s: DecodeState, bigEndianOnly: boolean): LinkOutcome {
  const b = s.frameStart;
  if (s.capEnd - b < 4) return 'link';
  const be = u32(buf, b);
  let af = be;
  if (!bigEndianOnly && af !== AF_INET && !isAfInet6(af)) {
    // LINKTYPE_NULL is in the byte order of the machine that captured, which the file does not
    // record; the values are small, so whichever order gives a known family is the right one.
    af = ((buf[b + 3] << 24) | (buf[b + 2] << 16) | (buf[b + 1] << 8) | buf[b]) >>> 0;
  }
  if (af === AF_INET) return ipAt(s, b + 4, 4);
  if (isAfInet6(af)) return ipAt(s, b + 4, 6);
  return 'not-ip';
}
