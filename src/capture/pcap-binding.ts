import type { CapturedFrame } from './types';

/**
 * Typed access to the native half of the `pcap` package. The package's JavaScript wrapper
 * allocates an event object per packet and hides pcap_dispatch's return code (so a truncated
 * file looks like a clean end); the binding itself gives us both the reused buffers and the code.
 */
export interface NativePcapSession {
  open_offline(
    path: string,
    filter: string,
    bufferSize: number,
    snapLength: number,
    dumpFile: string,
    onPacket: () => void,
    monitor: boolean,
    bufferTimeoutMs: number,
    onWarning: (message: string) => void,
    promiscuous: boolean,
  ): string;
  open_live(
    device: string,
    filter: string,
    bufferSize: number,
    snapLength: number,
    dumpFile: string,
    onPacket: () => void,
    monitor: boolean,
    bufferTimeoutMs: number,
    onWarning: (message: string) => void,
    promiscuous: boolean,
  ): string;
  /** Reads until no packet is ready: returns 0 at end of file / nothing ready, -1 on error, -2 when closed. */
  dispatch(packet: Buffer, header: Buffer): number;
  start_polling(): void;
  read_callback?: () => void;
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number };
  close(): void;
}

interface PcapBindingModule {
  PcapSession: new () => NativePcapSession;
  lib_version(): string;
  findalldevs(): Array<{ name: string; addresses?: unknown[]; flags?: string }>;
}

let cached: PcapBindingModule | null = null;

export class PcapUnavailableError extends Error {}

export function pcapBinding(): PcapBindingModule {
  if (cached) return cached;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require('pcap/build/Release/pcap_binding') as PcapBindingModule;
  } catch (err) {
    throw new PcapUnavailableError(
      `the libpcap binding is not built (${(err as Error).message.split('\n')[0]}): install libpcap-dev (apt-get install libpcap-dev) and run "npm rebuild pcap"`,
    );
  }
  return cached;
}

/**
 * The binding reports the data link type by name for a few DLT_* values and as
 * "Unknown linktype N" (N = DLT_* value) for the rest; map both to LINKTYPE_* numbers.
 */
export function linkTypeFromBinding(name: string): number {
  switch (name) {
    case 'LINKTYPE_NULL':
      return 0;
    case 'LINKTYPE_ETHERNET':
      return 1;
    case 'LINKTYPE_RAW':
      return 101;
    case 'LINKTYPE_LINUX_SLL':
      return 113;
    case 'LINKTYPE_IEEE802_11_RADIO':
      return 127;
  }
  const m = /(\d+)\s*$/.exec(name);
  if (!m) return -1;
  const dlt = Number(m[1]);
  // DLT_RAW is 12 on most systems and 14 on OpenBSD; the file format's LINKTYPE_RAW is 101.
  if (dlt === 12 || dlt === 14) return 101;
  return dlt;
}

/** Offsets in the 16-byte header buffer the binding fills (host byte order, x86/arm little-endian). */
const HEADER_TS_SEC = 0;
const HEADER_TS_USEC = 4;
const HEADER_CAPLEN = 8;
const HEADER_LEN = 12;

/**
 * Copies the binding's packet header (struct pcap_pkthdr as the binding lays it out) into a
 * reused frame: timestamp, captured length (never past the frame's buffer) and wire length.
 */
export function readPacketHeader(header: Buffer, frame: CapturedFrame): void {
  frame.timestampUs = header.readUInt32LE(HEADER_TS_SEC) * 1_000_000 + header.readUInt32LE(HEADER_TS_USEC);
  const caplen = header.readUInt32LE(HEADER_CAPLEN);
  frame.capturedLength = caplen > frame.buf.length ? frame.buf.length : caplen;
  frame.wireLength = header.readUInt32LE(HEADER_LEN);
}

/** libpcap's largest snapshot length (MAXIMUM_SNAPLEN); frames are never longer than this. */
export const MAX_SNAPLEN = 262144;
