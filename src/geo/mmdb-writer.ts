/**
 * A writer for the MaxMind DB binary format, version 2.0
 * (https://maxmind.github.io/MaxMind-DB/). Section names in comments refer to that spec.
 *
 * Networks live in a binary trie held in one growable Int32Array (two records per node), so
 * millions of networks cost tens of megabytes and no per-node objects. Data records are
 * deduplicated by their serialized bytes at insert time; the file is laid out only in toBuffer().
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseAddress, parseV4 } from '../net/address';
import { MmdbDataType } from './mmdb-data-types';


/** A value with an explicit MaxMind DB type, for when the default mapping of JS values is not wanted. */
export type MmdbTypedValue =
  | { $type: 'uint16' | 'uint32' | 'int32' | 'double' | 'float'; value: number }
  | { $type: 'uint64' | 'uint128'; value: number | bigint }
  | { $type: 'bytes'; value: Uint8Array };

/**
 * A data record. Strings are utf8_string, integers 0..2^32-1 are uint32, every other number is
 * a double, booleans are boolean, arrays are array and plain objects are map, except an object
 * whose only keys are `$type` (one of the tags above) and `value`, which is an MmdbTypedValue.
 */
export type MmdbValue = string | number | boolean | MmdbValue[] | MmdbTypedValue | { [key: string]: MmdbValue };

export interface MmdbWriterOptions {
  /** Metadata `database_type`: names the structure of the records. */
  databaseType: string;
  /** Metadata `description`: language code → text. */
  description: Record<string, string>;
  languages?: string[];
  /** 6 (default) holds both families, IPv4 at ::a.b.c.d; 4 holds IPv4 only. */
  ipVersion?: 4 | 6;
  /** Bits per search-tree record; by default the smallest of 24, 28, 32 that fits. */
  recordSize?: 24 | 28 | 32;
  /** Unix seconds for metadata `build_epoch`; defaults to the time of toBuffer(). */
  buildEpoch?: number;
}


/** "Database Metadata": the last occurrence of this marker starts the metadata map. */
const METADATA_MARKER = Buffer.from('abcdef4d61784d696e642e636f6d', 'hex');
/** "Data Section Separator". */
const DATA_SECTION_SEPARATOR_SIZE = 16;
/** "Payload Size": 65,821 + a three-byte extension. */
const MAX_PAYLOAD_SIZE = 16_843_036;

const TYPED_TAGS = new Set(['uint16', 'uint32', 'int32', 'double', 'float', 'uint64', 'uint128', 'bytes']);

/** Growable byte buffer; Buffer.concat over millions of small pieces would be far slower. */
class ByteSink {
  buf: Buffer;
  length = 0;

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reserve(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function isTypedValue(value: object): value is MmdbTypedValue {
  const keys = Object.keys(value);
  return (
    keys.length === 2 &&
    '$type' in value &&
    'value' in value &&
    typeof (value as { $type: unknown }).$type === 'string' &&
    TYPED_TAGS.has((value as { $type: string }).$type)
  );
}

/** "Data Field Format" and "Payload Size": control byte, extended type byte, size extension. */
function writeControl(sink: ByteSink, type: MmdbDataType, size: number): void {
  if (size > MAX_PAYLOAD_SIZE) throw new RangeError(`MMDB field payload of ${size} exceeds ${MAX_PAYLOAD_SIZE}`);
  const typeBits = type <= 7 ? type << 5 : 0;
  const extended = type > 7;
  if (size < 29) {
    sink.byte(typeBits | size);
    if (extended) sink.byte(type - 7);
  } else if (size < 285) {
    sink.byte(typeBits | 29);
    if (extended) sink.byte(type - 7);
    sink.byte(size - 29);
  } else if (size < 65_821) {
    const s = size - 285;
    sink.byte(typeBits | 30);
    if (extended) sink.byte(type - 7);
    sink.byte(s >>> 8);
    sink.byte(s & 255);
  } else {
    const s = size - 65_821;
    sink.byte(typeBits | 31);
    if (extended) sink.byte(type - 7);
    sink.byte(s >>> 16);
    sink.byte((s >>> 8) & 255);
    sink.byte(s & 255);
  }
}

/** "Pointers": 001SSVVV with SS choosing an 11, 19+2048, 27+526336 or plain 32-bit value. */
function pointerBytes(offset: number): number[] {
  if (offset < 2048) return [0x20 | (offset >>> 8), offset & 255];
  if (offset < 526_336) {
    const v = offset - 2048;
    return [0x28 | (v >>> 16), (v >>> 8) & 255, v & 255];
  }
  if (offset < 134_744_064) {
    const v = offset - 526_336;
    return [0x30 | (v >>> 24), (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  }
  return [0x38, (offset >>> 24) & 255, (offset >>> 16) & 255, (offset >>> 8) & 255, offset & 255];
}

/** "integer formats": big-endian with leading zero bytes dropped; a size of zero means 0. */
function writeUnsigned(sink: ByteSink, type: MmdbDataType, value: bigint, maxBytes: number, what: string): void {
  if (value < 0n || value >= 1n << BigInt(maxBytes * 8)) throw new RangeError(`${String(value)} does not fit ${what}`);
  const out: number[] = [];
  for (let v = value; v > 0n; v >>= 8n) out.unshift(Number(v & 255n));
  writeControl(sink, type, out.length);
  sink.bytes(Uint8Array.from(out));
}

function writeUint32(sink: ByteSink, type: MmdbDataType, value: number): void {
  const size = value === 0 ? 0 : value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
  writeControl(sink, type, size);
  for (let i = size - 1; i >= 0; i--) sink.byte(Math.floor(value / 2 ** (8 * i)) & 255);
}

function requireInteger(value: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${value} does not fit ${what}`);
  return value;
}

function writeTyped(sink: ByteSink, typed: MmdbTypedValue): void {
  switch (typed.$type) {
    case 'uint16':
      writeUint32(sink, MmdbDataType.Uint16, requireInteger(typed.value, 0, 0xffff, 'uint16'));
      return;
    case 'uint32':
      writeUint32(sink, MmdbDataType.Uint32, requireInteger(typed.value, 0, 0xffffffff, 'uint32'));
      return;
    case 'int32': {
      const v = requireInteger(typed.value, -(2 ** 31), 2 ** 31 - 1, 'int32');
      // Readers zero-extend payloads shorter than four bytes (libmaxminddb, mmdb-lib), so a
      // negative value needs all four bytes of its two's complement form.
      if (v >= 0) {
        writeUint32(sink, MmdbDataType.Int32, v);
      } else {
        writeControl(sink, MmdbDataType.Int32, 4);
        const b = Buffer.allocUnsafe(4);
        b.writeInt32BE(v);
        sink.bytes(b);
      }
      return;
    }
    case 'double': {
      writeControl(sink, MmdbDataType.Double, 8);
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(typed.value);
      sink.bytes(b);
      return;
    }
    case 'float': {
      writeControl(sink, MmdbDataType.Float, 4);
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(typed.value);
      sink.bytes(b);
      return;
    }
    case 'uint64':
    case 'uint128': {
      const bytes = typed.$type === 'uint64' ? 8 : 16;
      const type = typed.$type === 'uint64' ? MmdbDataType.Uint64 : MmdbDataType.Uint128;
      const v = typeof typed.value === 'bigint' ? typed.value : BigInt(requireInteger(typed.value, 0, Number.MAX_SAFE_INTEGER, typed.$type));
      writeUnsigned(sink, type, v, bytes, typed.$type);
      return;
    }
    case 'bytes':
      writeControl(sink, MmdbDataType.Bytes, typed.value.length);
      sink.bytes(typed.value);
      return;
  }
}

/**
 * Repeated strings, maps and arrays become pointers into the data section ("pointer - 1"), as
 * MaxMind's own writer does; ASN records repeat the same two keys hundreds of thousands of times.
 * Offsets recorded here are always of a real field, never of a pointer, since the spec forbids
 * pointers to pointers.
 */
class SharedFields {
  private readonly offsets = new Map<string, number>();

  constructor(readonly sink: ByteSink) {}

  write(value: MmdbValue, topLevel: boolean): void {
    if (typeof value === 'number' || typeof value === 'boolean' || (typeof value === 'object' && !Array.isArray(value) && isTypedValue(value))) {
      writeValue(this.sink, value, null);
      return;
    }
    const canonical = encodeValue(value);
    // A pointer takes two to five bytes; sharing anything that small saves nothing.
    if (canonical.length <= 3) {
      this.sink.bytes(canonical);
      return;
    }
    const key = canonical.toString('latin1');
    const existing = this.offsets.get(key);
    if (!topLevel && existing !== undefined) {
      const ptr = pointerBytes(existing);
      if (ptr.length < canonical.length) {
        this.sink.bytes(Uint8Array.from(ptr));
        return;
      }
    }
    const offset = this.sink.length;
    if (typeof value === 'string') this.sink.bytes(canonical);
    else writeValue(this.sink, value, this);
    if (existing === undefined) this.offsets.set(key, offset);
  }
}

function writeValue(sink: ByteSink, value: MmdbValue, shared: SharedFields | null): void {
  const child = (v: MmdbValue): void => (shared ? shared.write(v, false) : writeValue(sink, v, null));
  switch (typeof value) {
    case 'string': {
      const bytes = Buffer.from(value, 'utf8');
      writeControl(sink, MmdbDataType.Utf8String, bytes.length);
      sink.bytes(bytes);
      return;
    }
    case 'number':
      if (Number.isInteger(value) && value >= 0 && value <= 0xffffffff) {
        writeUint32(sink, MmdbDataType.Uint32, value);
      } else {
        writeTyped(sink, { $type: 'double', value });
      }
      return;
    case 'boolean':
      // "boolean - 14": the size field carries the value; there is no payload.
      writeControl(sink, MmdbDataType.Boolean, value ? 1 : 0);
      return;
    case 'object':
      if (Array.isArray(value)) {
        writeControl(sink, MmdbDataType.Array, value.length);
        for (const item of value) child(item);
        return;
      }
      if (isTypedValue(value)) {
        writeTyped(sink, value);
        return;
      }
      {
        const entries = Object.entries(value);
        writeControl(sink, MmdbDataType.Map, entries.length);
        for (const [k, v] of entries) {
          child(k);
          child(v);
        }
      }
      return;
    default:
      throw new TypeError(`cannot store a ${typeof value} in an MMDB record`);
  }
}

/** The self-contained (pointer-free) encoding of a value; also the deduplication key. */
export function encodeValue(value: MmdbValue): Buffer {
  const sink = new ByteSink(64);
  writeValue(sink, value, null);
  return Buffer.from(sink.result());
}

function bitAt(words: Uint32Array, bit: number): number {
  return (words[bit >>> 5]! >>> (31 - (bit & 31))) & 1;
}

/**
 * The binary trie. Record values: 0 = no data, n > 0 = node n (the root, node 0, is never a
 * child), -(k + 1) = data record k. Replaced subtrees are left behind as garbage and dropped
 * when the file is laid out.
 */
class SearchTree {
  records: Int32Array;
  nodeCount = 1;

  constructor(records?: Int32Array, nodeCount?: number) {
    this.records = records ?? new Int32Array(1 << 16);
    if (nodeCount !== undefined) this.nodeCount = nodeCount;
  }

  clone(): SearchTree {
    const copy = new Int32Array(Math.max(this.nodeCount * 2 + 1024, 1 << 10));
    copy.set(this.records.subarray(0, this.nodeCount * 2));
    return new SearchTree(copy, this.nodeCount);
  }

  private allocNode(fill: number): number {
    if ((this.nodeCount + 1) * 2 > this.records.length) {
      const grown = new Int32Array(this.records.length * 2);
      grown.set(this.records);
      this.records = grown;
    }
    const node = this.nodeCount++;
    this.records[node * 2] = fill;
    this.records[node * 2 + 1] = fill;
    return node;
  }

  /** Points the network of `depth` bits from `startBit` at `value`, replacing whatever was below. */
  set(words: Uint32Array, startBit: number, depth: number, value: number): void {
    if (depth === 0) {
      this.records[0] = value;
      this.records[1] = value;
      return;
    }
    let node = 0;
    const last = startBit + depth - 1;
    for (let bit = startBit; ; bit++) {
      const idx = node * 2 + bitAt(words, bit);
      if (bit === last) {
        this.records[idx] = value;
        return;
      }
      const v = this.records[idx]!;
      if (v > 0) {
        node = v;
      } else {
        // A shorter network covers this one: split it so its other half keeps the old value.
        const split = this.allocNode(v);
        this.records[idx] = split;
        node = split;
      }
    }
  }

  /** The record value that holds the network of `depth` bits from `startBit`. */
  valueAt(words: Uint32Array, startBit: number, depth: number): number {
    let node = 0;
    for (let bit = startBit; bit < startBit + depth; bit++) {
      const v = this.records[node * 2 + bitAt(words, bit)]!;
      if (v <= 0 || bit === startBit + depth - 1) return v;
      node = v;
    }
    return node;
  }
}

/** One network in 128-bit word form: IPv4 lives at ::a.b.c.d, prefix counted over 128 bits. */
interface Network {
  words: Uint32Array;
  prefix128: number;
}

function parseFamilyAddress(text: string): { words: Uint32Array; v4: boolean } | null {
  const family = isIP(text);
  if (family === 4) {
    const words = new Uint32Array(4);
    words[3] = parseV4(text)!;
    return { words, v4: true };
  }
  if (family !== 6) return null;
  const words = parseAddress(text);
  return words ? { words, v4: false } : null;
}

function maskNetwork(words: Uint32Array, prefix128: number): void {
  for (let i = 0; i < 4; i++) {
    const bits = prefix128 - i * 32;
    if (bits >= 32) continue;
    words[i] = bits <= 0 ? 0 : (words[i]! & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
  }
}

function compareWords(a: Uint32Array, b: Uint32Array): number {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

function trailingZeroBits(w: Uint32Array): number {
  for (let i = 3; i >= 0; i--) {
    const v = w[i]!;
    if (v !== 0) return (3 - i) * 32 + (31 - Math.clz32(v & -v));
  }
  return 128;
}

/** Sets the low `bits` bits of `src` into `out`; `src` must have them clear (block-aligned). */
function fillHostBits(src: Uint32Array, bits: number, out: Uint32Array): void {
  for (let i = 3; i >= 0; i--) {
    const low = bits - (3 - i) * 32;
    if (low >= 32) out[i] = 0xffffffff;
    else if (low <= 0) out[i] = src[i]!;
    else out[i] = (src[i]! | (((1 << low) >>> 0) - 1)) >>> 0;
  }
}

/** Adds one in place; returns true when it wrapped past the top of the address space. */
function incrementWords(w: Uint32Array): boolean {
  for (let i = 3; i >= 0; i--) {
    w[i] = (w[i]! + 1) >>> 0;
    if (w[i] !== 0) return false;
  }
  return true;
}

/** Calls `emit` for the minimal list of CIDR blocks exactly covering [first, last]; inputs are consumed. */
export function splitRange(first: Uint32Array, last: Uint32Array, emit: (network: Uint32Array, prefix128: number) => void): void {
  const upper = new Uint32Array(4);
  for (;;) {
    let hostBits = trailingZeroBits(first);
    // Largest aligned block starting at `first` that does not run past `last`.
    for (;;) {
      fillHostBits(first, hostBits, upper);
      if (compareWords(upper, last) <= 0) break;
      hostBits--;
    }
    emit(first, 128 - hostBits);
    if (compareWords(upper, last) === 0) return;
    first.set(upper);
    if (incrementWords(first)) return;
  }
}

interface Layout {
  nodeCount: number;
  order: Int32Array;
  nodeNumber: Int32Array;
  records: Int32Array;
  dataOffsets: Int32Array;
  data: Buffer;
}

export class MmdbWriter {
  readonly databaseType: string;
  readonly description: Record<string, string>;
  readonly languages: string[];
  readonly ipVersion: 4 | 6;
  private readonly recordSizeOption: 24 | 28 | 32 | undefined;
  private readonly buildEpoch: number | undefined;
  private readonly tree = new SearchTree();
  private readonly recordIds = new Map<string, number>();
  private readonly recordValues: MmdbValue[] = [];
  /** Tree bits before the first address bit: IPv4 trees use the low 32 of the 128-bit form. */
  private readonly startBit: number;

  constructor(options: MmdbWriterOptions) {
    this.databaseType = options.databaseType;
    this.description = options.description;
    this.languages = options.languages ?? [];
    this.ipVersion = options.ipVersion ?? 6;
    this.recordSizeOption = options.recordSize;
    this.buildEpoch = options.buildEpoch;
    if (this.ipVersion !== 4 && this.ipVersion !== 6) throw new RangeError(`ipVersion must be 4 or 6, not ${String(this.ipVersion)}`);
    if (this.recordSizeOption !== undefined && ![24, 28, 32].includes(this.recordSizeOption)) {
      throw new RangeError(`recordSize must be 24, 28 or 32, not ${String(this.recordSizeOption)}`);
    }
    this.startBit = this.ipVersion === 4 ? 96 : 0;
  }

  /** Distinct data records inserted so far. */
  get recordCount(): number {
    return this.recordValues.length;
  }

  /** Associates a CIDR block (or single address) with a record; host bits are ignored. Later inserts win. */
  insertCidr(cidrText: string, record: MmdbValue): void {
    const slash = cidrText.indexOf('/');
    const addrText = slash < 0 ? cidrText : cidrText.slice(0, slash);
    const parsed = parseFamilyAddress(addrText);
    if (!parsed) throw new RangeError(`"${cidrText}" is not a CIDR block`);
    const max = parsed.v4 ? 32 : 128;
    let prefix = max;
    if (slash >= 0) {
      const p = cidrText.slice(slash + 1);
      prefix = /^\d{1,3}$/.test(p) ? Number(p) : NaN;
      if (!(prefix <= max)) throw new RangeError(`"${cidrText}" has an invalid prefix length`);
    }
    const prefix128 = parsed.v4 ? prefix + 96 : prefix;
    maskNetwork(parsed.words, prefix128);
    this.insertNetwork({ words: parsed.words, prefix128 }, this.leafFor(record), cidrText);
  }

  /** Associates every address from firstIp to lastIp inclusive with a record, as the minimal set of CIDR blocks. */
  insertRange(firstIp: string, lastIp: string, record: MmdbValue): void {
    const first = parseFamilyAddress(firstIp);
    const last = parseFamilyAddress(lastIp);
    if (!first || !last) throw new RangeError(`"${first ? lastIp : firstIp}" is not an IP address`);
    if (first.v4 !== last.v4) throw new RangeError(`range ${firstIp}-${lastIp} mixes IPv4 and IPv6`);
    if (compareWords(first.words, last.words) > 0) throw new RangeError(`range ${firstIp}-${lastIp} ends before it starts`);
    const leaf = this.leafFor(record);
    splitRange(first.words, last.words, (words, prefix128) => this.insertNetwork({ words, prefix128 }, leaf, firstIp));
  }

  private leafFor(record: MmdbValue): number {
    const key = encodeValue(record).toString('latin1');
    let id = this.recordIds.get(key);
    if (id === undefined) {
      id = this.recordValues.length;
      this.recordIds.set(key, id);
      this.recordValues.push(record);
    }
    return -(id + 1);
  }

  private insertNetwork(network: Network, leaf: number, label: string): void {
    let w = network.words;
    // IPv4-mapped input is IPv4: store it where IPv4 lives, since ::ffff:0:0/96 becomes an alias.
    if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff && network.prefix128 >= 96) w = Uint32Array.of(0, 0, 0, w[3]!);
    if (this.ipVersion === 4) {
      if (network.prefix128 < 96 || w[0] !== 0 || w[1] !== 0 || w[2] !== 0) {
        throw new RangeError(`${label}: an IPv4 database cannot hold IPv6 networks`);
      }
    }
    this.tree.set(w, this.startBit, network.prefix128 - this.startBit, leaf);
  }

  toBuffer(): Buffer {
    const tree = this.tree.clone();
    if (this.ipVersion === 6) applyIpv4Alias(tree);
    const layout = this.layout(tree);
    const maxRecordValue = layout.nodeCount + DATA_SECTION_SEPARATOR_SIZE + layout.data.length;
    const recordSize = this.chooseRecordSize(maxRecordValue);
    const nodeBytes = recordSize / 4;
    const treeBytes = Buffer.alloc(layout.nodeCount * nodeBytes);
    const valueOf = (v: number): number =>
      v > 0 ? layout.nodeNumber[v]! : v === 0 ? layout.nodeCount : layout.nodeCount + DATA_SECTION_SEPARATOR_SIZE + layout.dataOffsets[-v - 1]!;
    for (let k = 0; k < layout.nodeCount; k++) {
      const node = layout.order[k]!;
      writeNode(treeBytes, k * nodeBytes, recordSize, valueOf(layout.records[node * 2]!), valueOf(layout.records[node * 2 + 1]!));
    }
    const metadata = this.metadata(layout.nodeCount, recordSize);
    return Buffer.concat([treeBytes, Buffer.alloc(DATA_SECTION_SEPARATOR_SIZE), layout.data, METADATA_MARKER, metadata]);
  }

  /** Writes through a temporary file and a rename, so readers never see half a database. */
  writeFile(path: string): void {
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, this.toBuffer());
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  private chooseRecordSize(maxRecordValue: number): 24 | 28 | 32 {
    const fits = (bits: number): boolean => maxRecordValue < 2 ** bits;
    if (this.recordSizeOption !== undefined) {
      if (!fits(this.recordSizeOption)) {
        throw new RangeError(`record size ${this.recordSizeOption} cannot address ${maxRecordValue} (nodes + separator + data bytes)`);
      }
      return this.recordSizeOption;
    }
    for (const bits of [24, 28, 32] as const) if (fits(bits)) return bits;
    throw new RangeError(`database too large for 32-bit records (${maxRecordValue})`);
  }

  /**
   * Collapses nodes whose two records hold the same data (adjacent blocks of one range), numbers
   * the reachable nodes with the root as node 0, and encodes the referenced data records in the
   * order the tree first reaches them.
   */
  private layout(tree: SearchTree): Layout {
    const records = tree.records;
    const UNSEEN = 0x7fffffff;
    const canonical = new Int32Array(tree.nodeCount).fill(UNSEEN);
    const resolve = (v: number): number => (v > 0 ? collapse(v) : v);
    const collapse = (node: number): number => {
      const known = canonical[node]!;
      if (known !== UNSEEN) return known;
      const l = resolve(records[node * 2]!);
      const r = resolve(records[node * 2 + 1]!);
      records[node * 2] = l;
      records[node * 2 + 1] = r;
      const result = l === r && l <= 0 ? l : node;
      canonical[node] = result;
      return result;
    };
    records[0] = resolve(records[0]!);
    records[1] = resolve(records[1]!);

    // The alias makes the tree a DAG: nodeNumber doubles as the visited mark.
    const nodeNumber = new Int32Array(tree.nodeCount).fill(-1);
    const order = new Int32Array(tree.nodeCount);
    nodeNumber[0] = 0;
    order[0] = 0;
    let count = 1;
    const stack: number[] = [0];
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (let side = 1; side >= 0; side--) {
        const v = records[node * 2 + side]!;
        if (v > 0 && nodeNumber[v]! < 0) {
          nodeNumber[v] = count;
          order[count++] = v;
          stack.push(v);
        }
      }
    }

    const dataOffsets = new Int32Array(this.recordValues.length).fill(-1);
    const sink = new ByteSink(1 << 16);
    const shared = new SharedFields(sink);
    for (let k = 0; k < count; k++) {
      const node = order[k]!;
      for (let side = 0; side < 2; side++) {
        const v = records[node * 2 + side]!;
        if (v < 0 && dataOffsets[-v - 1]! < 0) {
          dataOffsets[-v - 1] = sink.length;
          shared.write(this.recordValues[-v - 1]!, true);
        }
      }
    }
    return { nodeCount: count, order: order.subarray(0, count), nodeNumber, records, dataOffsets, data: sink.result() };
  }

  /** The "Database Metadata" map, with the types the spec gives each key. */
  private metadata(nodeCount: number, recordSize: number): Buffer {
    const epoch = this.buildEpoch ?? Math.floor(Date.now() / 1000);
    const map: MmdbValue = {
      binary_format_major_version: { $type: 'uint16', value: 2 },
      binary_format_minor_version: { $type: 'uint16', value: 0 },
      build_epoch: { $type: 'uint64', value: epoch },
      database_type: this.databaseType,
      description: { ...this.description },
      ip_version: { $type: 'uint16', value: this.ipVersion },
      languages: [...this.languages],
      node_count: { $type: 'uint32', value: nodeCount },
      record_size: { $type: 'uint16', value: recordSize },
    };
    return encodeValue(map);
  }
}

/**
 * "IPv4 addresses in an IPv6 tree": IPv4 lives at ::/96, where libmaxminddb and mmdb-lib look
 * it up; like MaxMind's databases, ::ffff:0:0/96 points at the same subtree so IPv4-mapped
 * addresses find it too.
 */
function applyIpv4Alias(tree: SearchTree): void {
  const ipv4Root = tree.valueAt(new Uint32Array(4), 0, 96);
  tree.set(Uint32Array.of(0, 0, 0xffff, 0), 0, 96, ipv4Root);
}

/** "Node Layout": big-endian records; with 28 bits the middle byte holds both records' top nibbles. */
function writeNode(out: Buffer, offset: number, recordSize: number, left: number, right: number): void {
  switch (recordSize) {
    case 24:
      out.writeUIntBE(left, offset, 3);
      out.writeUIntBE(right, offset + 3, 3);
      return;
    case 28:
      out.writeUIntBE(left & 0xffffff, offset, 3);
      out[offset + 3] = (((left >>> 24) & 0x0f) << 4) | ((right >>> 24) & 0x0f);
      out.writeUIntBE(right & 0xffffff, offset + 4, 3);
      return;
    default:
      out.writeUInt32BE(left >>> 0, offset);
      out.writeUInt32BE(right >>> 0, offset + 4);
  }
}
