/**
 * Capture-file writers: classic pcap (https://www.tcpdump.org/manpages/pcap-savefile.5.html,
 * draft-ietf-opsawg-pcap) and pcapng (draft-ietf-opsawg-pcapng), both little-endian, plus a
 * streaming pcap writer for multi-million-packet benchmark captures.
 */
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';

export interface AddOptions {
  /** Original length on the wire; defaults to the frame's length. */
  wireLength?: number;
  /** Store only this many bytes, as a snaplen would. */
  captureLength?: number;
  /** Exact timestamp in nanoseconds; overrides timestampUs where a double lacks precision. */
  timestampNs?: bigint;
}

export interface WriterOptions {
  snaplen?: number;
  /** Nanosecond timestamps (pcap magic 0xa1b23c4d; pcapng if_tsresol 9). */
  nanosecond?: boolean;
}

interface StoredRecord {
  tsNs: bigint;
  data: Buffer;
  wireLength: number;
}

const DEFAULT_SNAPLEN = 262144;

function toNs(timestampUs: number, o: AddOptions | undefined): bigint {
  if (o?.timestampNs !== undefined) return o.timestampNs;
  const whole = Math.floor(timestampUs);
  const frac = Math.round((timestampUs - whole) * 1000);
  return BigInt(whole) * 1000n + BigInt(frac);
}

abstract class BufferedWriter {
  protected readonly records: StoredRecord[] = [];
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanosecond: boolean;

  constructor(linkType: number, o?: WriterOptions) {
    this.linkType = linkType;
    this.snaplen = o?.snaplen ?? DEFAULT_SNAPLEN;
    this.nanosecond = o?.nanosecond ?? false;
  }

  add(timestampUs: number, frame: Buffer, o?: AddOptions): void {
    const cap = Math.min(frame.length, o?.captureLength ?? Infinity, this.snaplen);
    this.records.push({
      tsNs: toNs(timestampUs, o),
      data: Buffer.from(frame.subarray(0, cap)),
      wireLength: o?.wireLength ?? frame.length,
    });
  }

  get count(): number {
    return this.records.length;
  }

  abstract toBuffer(): Buffer;

  writeFile(path: string): void {
    writeFileSync(path, this.toBuffer());
  }
}

/** Classic libpcap format, little-endian, version 2.4. */
export class PcapWriter extends BufferedWriter {
  toBuffer(): Buffer {
    const parts: Buffer[] = [pcapGlobalHeader(this.linkType, this.snaplen, this.nanosecond)];
    const unit = this.nanosecond ? 1_000_000_000n : 1_000_000n;
    for (const r of this.records) {
      const ticks = this.nanosecond ? r.tsNs : r.tsNs / 1000n;
      const h = Buffer.alloc(16);
      h.writeUInt32LE(Number(ticks / unit), 0);
      h.writeUInt32LE(Number(ticks % unit), 4);
      h.writeUInt32LE(r.data.length, 8);
      h.writeUInt32LE(r.wireLength, 12);
      parts.push(h, r.data);
    }
    return Buffer.concat(parts);
  }
}

export function pcapGlobalHeader(linkType: number, snaplen: number, nanosecond: boolean): Buffer {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  g.writeUInt16LE(2, 4);
  g.writeUInt16LE(4, 6);
  // thiszone and sigfigs stay 0: the format defines timestamps as UTC.
  g.writeUInt32LE(snaplen, 16);
  g.writeUInt32LE(linkType, 20);
  return g;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** pcapng: one Section Header Block, one Interface Description Block, Enhanced Packet Blocks. */
export class PcapngWriter extends BufferedWriter {
  toBuffer(): Buffer {
    const parts: Buffer[] = [];

    const shb = Buffer.alloc(28);
    shb.writeUInt32LE(0x0a0d0d0a, 0);
    shb.writeUInt32LE(28, 4);
    shb.writeUInt32LE(0x1a2b3c4d, 8); // byte-order magic
    shb.writeUInt16LE(1, 12);
    shb.writeUInt16LE(0, 14);
    shb.writeBigInt64LE(-1n, 16); // section length unknown
    shb.writeUInt32LE(28, 24);
    parts.push(shb);

    // IDB with if_tsresol (option 9): 6 = microseconds, 9 = nanoseconds (power of ten).
    const idbLen = 20 + 8 + 4;
    const idb = Buffer.alloc(idbLen);
    idb.writeUInt32LE(1, 0);
    idb.writeUInt32LE(idbLen, 4);
    idb.writeUInt16LE(this.linkType, 8);
    idb.writeUInt32LE(this.snaplen, 12);
    idb.writeUInt16LE(9, 16);
    idb.writeUInt16LE(1, 18);
    idb[20] = this.nanosecond ? 9 : 6;
    // opt_endofopt (0,0) at 24..27 is already zero
    idb.writeUInt32LE(idbLen, 28);
    parts.push(idb);

    for (const r of this.records) {
      const ticks = this.nanosecond ? r.tsNs : r.tsNs / 1000n;
      const total = 28 + pad4(r.data.length) + 4;
      const h = Buffer.alloc(28);
      h.writeUInt32LE(6, 0);
      h.writeUInt32LE(total, 4);
      h.writeUInt32LE(0, 8); // interface id
      h.writeUInt32LE(Number(ticks >> 32n), 12);
      h.writeUInt32LE(Number(ticks & 0xffffffffn), 16);
      h.writeUInt32LE(r.data.length, 20);
      h.writeUInt32LE(r.wireLength, 24);
      const tail = Buffer.alloc(pad4(r.data.length) - r.data.length + 4);
      tail.writeUInt32LE(total, tail.length - 4);
      parts.push(h, r.data, tail);
    }
    return Buffer.concat(parts);
  }
}

/**
 * Classic pcap (microseconds) written straight to disk through one large reusable chunk, so
 * millions of frames cost one memcpy each plus a write per few megabytes.
 */
export class StreamingPcapWriter {
  private readonly fd: number;
  private readonly chunk: Buffer;
  private used = 0;
  private readonly snaplen: number;
  private closed = false;
  /** Frames written so far. */
  packets = 0;
  /** File bytes written so far (headers included), counting what is still buffered. */
  bytes = 0;

  constructor(path: string, linkType: number, snaplen = DEFAULT_SNAPLEN, chunkSize = 8 * 1024 * 1024) {
    this.snaplen = snaplen;
    this.fd = openSync(path, 'w');
    this.chunk = Buffer.allocUnsafe(Math.max(chunkSize, snaplen + 16));
    const g = pcapGlobalHeader(linkType, snaplen, false);
    g.copy(this.chunk, 0);
    this.used = g.length;
    this.bytes = g.length;
  }

  add(tsUs: number, frame: Buffer, wireLength = frame.length): void {
    this.addSlice(tsUs, frame, frame.length, wireLength);
  }

  /** Writes the first `length` bytes of `buf`, sparing hot loops a subarray per frame. */
  addSlice(tsUs: number, buf: Buffer, length: number, wireLength = length): void {
    const cap = length < this.snaplen ? length : this.snaplen;
    if (this.used + 16 + cap > this.chunk.length) this.flush();
    const c = this.chunk;
    let o = this.used;
    const t = Math.floor(tsUs);
    const sec = Math.floor(t / 1e6);
    c.writeUInt32LE(sec >>> 0, o);
    c.writeUInt32LE(t - sec * 1e6, o + 4);
    c.writeUInt32LE(cap, o + 8);
    c.writeUInt32LE(wireLength, o + 12);
    o += 16;
    buf.copy(c, o, 0, cap);
    this.used = o + cap;
    this.packets++;
    this.bytes += 16 + cap;
  }

  private flush(): void {
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.chunk, off, this.used - off);
    this.used = 0;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.flush();
      closeSync(this.fd);
    }
    return Promise.resolve();
  }
}
