/**
 * The capture stage hands raw frames to the rest of the pipeline. Whatever the source (a capture
 * file or a live interface), a frame arrives as a Buffer that the source reuses for the next frame:
 * consumers must copy anything they keep beyond the callback.
 */

/** Link-layer header types, numbered as LINKTYPE_* in https://www.tcpdump.org/linktypes.html. */
export const enum LinkType {
  Null = 0, // BSD loopback: 4-byte address family in host byte order of the capturing machine
  Ethernet = 1,
  Raw = 101, // raw IPv4 or IPv6, version from the first nibble (DLT_RAW is 12 or 14 on some OSes)
  Loop = 108, // OpenBSD loopback: 4-byte address family in network byte order
  LinuxSll = 113,
  Ipv4 = 228,
  Ipv6 = 229,
  LinuxSll2 = 276,
}

/** One captured frame. `buf` is only valid during the callback. */
export interface CapturedFrame {
  buf: Buffer;
  /** Where the frame starts in `buf`: a capture file is read in batches that hold many frames. */
  offset: number;
  /** Bytes present in `buf` (may be less than wireLength when the snaplen truncated the frame). */
  capturedLength: number;
  /** Length of the frame on the wire. */
  wireLength: number;
  /** Capture timestamp, microseconds since the Unix epoch. */
  timestampUs: number;
  /** LINKTYPE_* number of the source (see LinkType), or another number for unsupported types. */
  linkType: number;
}

export type FrameHandler = (frame: CapturedFrame) => void;

export interface PacketSourceStats {
  /** Frames delivered to the handler. */
  framesRead: number;
  /** For live sources: libpcap's own counters. */
  received?: number;
  dropped?: number;
  interfaceDropped?: number;
}

/** Anything that produces frames: a capture file, a live interface. */
export interface PacketSource {
  /** Human-readable name for logs: the file path or the interface name. */
  readonly name: string;
  /** LINKTYPE_* number; available once opened. */
  readonly linkType: number;
  stats(): PacketSourceStats;
  close(): void;
}
