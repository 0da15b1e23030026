/**
 * The decode stage turns a captured frame into one reusable `DecodedPacket`: numbers and offsets
 * into the frame's buffer, never strings. The same instance is overwritten for every frame, so a
 * consumer copies what it keeps.
 */

/** Layers whose decode failures are counted separately (metric label `layer`). */
export const DECODE_LAYERS = [
  'link',
  'ethernet',
  'vlan',
  'sll',
  'ipv4',
  'ipv6',
  'tcp',
  'udp',
  'icmp',
  'dns',
  'tls',
  'http',
  'dhcp',
  'quic',
] as const;
export type DecodeLayer = (typeof DECODE_LAYERS)[number];

/** IP protocol numbers the pipeline treats specially. */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

/** TCP flag bits as in the TCP header's flags byte. */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export const NO_MAC = -1;

/**
 * Addresses are four 32-bit words in network order. IPv4 is stored IPv4-mapped
 * (0, 0, 0xffff, addr) so that both families share one key layout in the flow table.
 */
export type AddressWords = Uint32Array;

export interface DecodedPacket {
  /** The frame's buffer (reused by the capture stage: valid only during processing). */
  buf: Buffer;
  timestampUs: number;
  wireLength: number;
  capturedLength: number;

  /** Source/destination MAC as a 48-bit integer, or NO_MAC when the link layer has none. */
  srcMac: number;
  dstMac: number;
  /** Outermost VLAN id, or -1. */
  vlanId: number;

  /** 4 or 6; 0 when the frame carried no IP packet (ARP, LLDP, ...). */
  ipVersion: 0 | 4 | 6;
  src: AddressWords;
  dst: AddressWords;
  /** IP-layer length: IPv4 total length, IPv6 payload length + 40 (wire values, not captured). */
  ipLength: number;
  /** Transport protocol number (after walking IPv6 extension headers). */
  protocol: number;
  /** IPv4 TTL / IPv6 hop limit. */
  ttl: number;

  /** True for every fragment of a fragmented datagram (first and later). */
  isFragment: boolean;
  /** True for a fragment with a non-zero offset: it carries no transport header. */
  isLaterFragment: boolean;
  /** IPv4 identification or IPv6 fragment identification; meaningful when isFragment. */
  fragmentId: number;

  /** Ports for TCP/UDP; ICMP type/code are stored as srcPort=type, dstPort=code; 0 otherwise. */
  srcPort: number;
  dstPort: number;
  /** TCP flags byte, 0 for other protocols. */
  tcpFlags: number;
  /** TCP sequence number (unsigned 32-bit), 0 for other protocols. */
  tcpSeq: number;
  /** Application payload: offset into buf and the length actually captured (never past caplen). */
  payloadOffset: number;
  payloadLength: number;
}

/** Per-layer decode failure counters, plus frames of link types the decoder does not handle. */
export interface DecodeErrorCounts {
  byLayer: Record<DecodeLayer, number>;
  unsupportedLinkType: number;
}

export function newDecodeErrorCounts(): DecodeErrorCounts {
  const byLayer = {} as Record<DecodeLayer, number>;
  for (const layer of DECODE_LAYERS) byLayer[layer] = 0;
  return { byLayer, unsupportedLinkType: 0 };
}

export function newDecodedPacket(): DecodedPacket {
  return {
    buf: Buffer.alloc(0),
    timestampUs: 0,
    wireLength: 0,
    capturedLength: 0,
    srcMac: NO_MAC,
    dstMac: NO_MAC,
    vlanId: -1,
    ipVersion: 0,
    src: new Uint32Array(4),
    dst: new Uint32Array(4),
    ipLength: 0,
    protocol: 0,
    ttl: 0,
    isFragment: false,
    isLaterFragment: false,
    fragmentId: 0,
    srcPort: 0,
    dstPort: 0,
    tcpFlags: 0,
    tcpSeq: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
}
