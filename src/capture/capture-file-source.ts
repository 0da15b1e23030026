import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { BATCH_RECORD_HEADER, captureFileBinding, type CaptureFileHandle } from './capture-file-binding';
import { MAX_SNAPLEN } from './pcap-binding';
import type { CapturedFrame, FrameHandler, PacketSource, PacketSourceStats } from './types';

/** A capture file that cannot be read at all: the CLI prints the message and exits 2. */
export class CaptureOpenError extends Error {}

export interface CaptureFileResult {
  framesRead: number;
  /** Set when libpcap stopped before the end of the file (truncated or corrupt record). */
  readError: string | null;
}

/** Frames are handed over in batches this large; any one frame (at most MAX_SNAPLEN) fits. */
const BATCH_BYTES = 4 * MAX_SNAPLEN;

/**
 * Reads a pcap or pcapng file through libpcap, a batch of frames per native call. The handler
 * gets one reused frame object whose `buf` is the batch and whose `offset` is where the frame
 * starts in it.
 */
export class CaptureFileSource implements PacketSource {
  readonly name: string;
  private linkTypeValue = -1;
  private framesRead = 0;
  private handle: CaptureFileHandle | null = null;

  constructor(path: string) {
    this.name = path;
  }

  get linkType(): number {
    return this.linkTypeValue;
  }

  /** Reads every frame, calling `handler` with a reused frame object. */
  run(handler: FrameHandler, filter = ''): CaptureFileResult {
    checkReadable(this.name);
    const binding = captureFileBinding();
    let opened: [CaptureFileHandle, number];
    try {
      opened = binding.open(this.name, filter);
    } catch (err) {
      throw new CaptureOpenError(`${this.name}: not a capture file libpcap can read (${(err as Error).message})`);
    }
    const handle = opened[0];
    this.handle = handle;
    // DLT_RAW is 12 on most systems and 14 on OpenBSD; the file format's LINKTYPE_RAW is 101.
    const linkType = opened[1] === 12 || opened[1] === 14 ? 101 : opened[1];
    this.linkTypeValue = linkType;
    // Its own ArrayBuffer at offset 0, so the 4-byte-aligned record headers are Uint32Array slots.
    const batch = Buffer.from(new ArrayBuffer(BATCH_BYTES));
    const words = new Uint32Array(batch.buffer, 0, BATCH_BYTES >>> 2);
    const frame: CapturedFrame = { buf: batch, offset: 0, capturedLength: 0, wireLength: 0, timestampUs: 0, linkType };
    let readError: string | null = null;
    let handlerError: Error | null = null;
    try {
      for (;;) {
        const used = binding.read(handle, batch);
        if (used <= 0) {
          if (used < 0 || binding.error(handle) !== null) readError = binding.error(handle);
          break;
        }
        let at = 0;
        while (at < used) {
          const w = at >>> 2;
          const caplen = words[w + 2]!;
          frame.timestampUs = words[w]! * 1_000_000 + words[w + 1]!;
          frame.capturedLength = caplen;
          frame.wireLength = words[w + 3]!;
          frame.offset = at + BATCH_RECORD_HEADER;
          at += (BATCH_RECORD_HEADER + caplen + 3) & ~3;
          this.framesRead++;
          // The pipeline counts its own failures; anything thrown here is a bug worth surfacing
          // once, after the file, rather than losing the rest of the capture.
          try {
            handler(frame);
          } catch (err) {
            handlerError ??= err as Error;
          }
        }
      }
    } finally {
      binding.close(handle);
      this.handle = null;
    }
    if (handlerError) throw handlerError;
    return {
      framesRead: this.framesRead,
      readError: readError === null ? null : `${this.name}: capture file is truncated or corrupt after frame ${this.framesRead} (${readError})`,
    };
  }

  stats(): PacketSourceStats {
    return { framesRead: this.framesRead };
  }

  close(): void {
    if (this.handle) captureFileBinding().close(this.handle);
    this.handle = null;
  }
}

function checkReadable(path: string): void {
  if (!existsSync(path)) throw new CaptureOpenError(`${path}: no such file`);
  const st = statSync(path);
  if (st.isDirectory()) throw new CaptureOpenError(`${path}: is a directory, not a capture file`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new CaptureOpenError(`${path}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const magic = Buffer.alloc(4);
  const n = readSync(fd, magic, 0, 4, 0);
  closeSync(fd);
  if (n < 4) throw new CaptureOpenError(`${path}: empty or too short to be a capture file`);
}
