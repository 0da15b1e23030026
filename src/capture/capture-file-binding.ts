import path from 'node:path';
import { PcapUnavailableError } from './pcap-binding';

/**
 * Typed access to the project's own batch reader (src/capture/native/capture-file-reader.c,
 * built by `npm ci` through binding.gyp). It reads capture files with libpcap like the `pcap`
 * package does, but hands JavaScript a whole buffer of frames per call instead of one callback
 * per frame: that callback was most of the cost of reading a file.
 */
export interface CaptureFileBinding {
  /** Opens a pcap or pcapng file; returns the reader handle and the file's DLT_* link type. Throws libpcap's message. */
  open(path: string, filter: string): [CaptureFileHandle, number];
  /** Fills `batch` with records (see BATCH_RECORD_HEADER); returns bytes used, 0 at end of file, -1 on a read error. */
  read(handle: CaptureFileHandle, batch: Buffer): number;
  /** libpcap's message for the read error that ended the file, or null. */
  error(handle: CaptureFileHandle): string | null;
  close(handle: CaptureFileHandle): void;
}

/** An opaque native handle. */
export type CaptureFileHandle = { readonly __captureFileHandle: unique symbol };

/**
 * Each record, 4-byte aligned: u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen in host byte order
 * (read through a Uint32Array), then the frame, padded to 4 bytes.
 */
export const BATCH_RECORD_HEADER = 16;

const ADDON = path.join(__dirname, '..', '..', '..', 'build', 'Release', 'capture_file_reader.node');

let cached: CaptureFileBinding | null = null;

export function captureFileBinding(): CaptureFileBinding {
  if (cached) return cached;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(ADDON) as CaptureFileBinding;
  } catch (err) {
    throw new PcapUnavailableError(
      `the capture file reader is not built (${(err as Error).message.split('\n')[0]}): install libpcap-dev (apt-get install libpcap-dev) and run "npm rebuild" in the geowarden directory`,
    );
  }
  return cached;
}
