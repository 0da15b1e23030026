/**
 * Decodes one value of an MMDB data section (MaxMind DB spec, "Output Data Section"). Used on the
 * lookup path once per distinct record, reached from a search-tree record value, so that a lookup
 * never re-parses the address or re-walks the tree the way the generic reader's get() does.
 */
import { MmdbDataType } from './mmdb-data-types';

export type MmdbDecoded = string | number | bigint | boolean | Buffer | MmdbDecoded[] | { [key: string]: MmdbDecoded };


/** Nesting deeper than this is a damaged or hostile file, not a GeoIP record. */
const MAX_DEPTH = 32;

export class MmdbDataDecoder {
  /** `dataStart`: file offset of the data section (search tree size + 16-byte separator). */
  constructor(
    private readonly db: Buffer,
    private readonly dataStart: number,
  ) {}

  /** The value stored for a search-tree record value (`record` > node count). */
  decodeRecord(record: number, nodeCount: number): MmdbDecoded {
    return this.decodeAt(this.dataStart + (record - nodeCount - 16), 0).value;
  }

  private decodeAt(offset: number, depth: number): { value: MmdbDecoded; next: number } {
    if (depth > MAX_DEPTH) throw new RangeError('MMDB data nested too deeply');
    const db = this.db;
    const ctrl = db[offset]!;
    let pos = offset + 1;
    let type = ctrl >> 5;
    if (type === MmdbDataType.Pointer) {
      const ss = (ctrl >> 3) & 3;
      const vvv = ctrl & 7;
      let ptr: number;
      if (ss === 0) ptr = (vvv << 8) | db[pos]!;
      else if (ss === 1) ptr = ((vvv << 16) | (db[pos]! << 8) | db[pos + 1]!) + 2048;
      else if (ss === 2) ptr = ((vvv << 24) | (db[pos]! << 16) | (db[pos + 1]! << 8) | db[pos + 2]!) + 526336;
      else ptr = db.readUInt32BE(pos);
      pos += ss + 1;
      // A pointer's target is decoded where it lies; decoding continues after the pointer itself.
      return { value: this.decodeAt(this.dataStart + ptr, depth + 1).value, next: pos };
    }
    if (type === MmdbDataType.Extended) {
      type = 7 + db[pos]!;
      pos++;
    }
    let size = ctrl & 0x1f;
    if (size === 29) {
      size = 29 + db[pos]!;
      pos += 1;
    } else if (size === 30) {
      size = 285 + db.readUInt16BE(pos);
      pos += 2;
    } else if (size === 31) {
      size = 65821 + db.readUIntBE(pos, 3);
      pos += 3;
    }
    switch (type) {
      case MmdbDataType.Utf8String:
        return { value: db.toString('utf8', pos, pos + size), next: pos + size };
      case MmdbDataType.Double:
        return { value: db.readDoubleBE(pos), next: pos + 8 };
      case MmdbDataType.Float:
        return { value: db.readFloatBE(pos), next: pos + 4 };
      case MmdbDataType.Bytes:
        return { value: Buffer.from(db.subarray(pos, pos + size)), next: pos + size };
      case MmdbDataType.Uint16:
      case MmdbDataType.Uint32:
        return { value: size === 0 ? 0 : db.readUIntBE(pos, size), next: pos + size };
      case MmdbDataType.Int32: {
        let v = 0;
        for (let i = 0; i < size; i++) v = v * 256 + db[pos + i]!;
        if (size === 4) v = v | 0;
        return { value: v, next: pos + size };
      }
      case MmdbDataType.Uint64:
      case MmdbDataType.Uint128: {
        let v = 0n;
        for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(db[pos + i]!);
        return { value: v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v, next: pos + size };
      }
      case MmdbDataType.Boolean:
        return { value: size !== 0, next: pos };
      case MmdbDataType.Map: {
        const obj: { [key: string]: MmdbDecoded } = {};
        for (let i = 0; i < size; i++) {
          const k = this.decodeAt(pos, depth + 1);
          const v = this.decodeAt(k.next, depth + 1);
          obj[String(k.value)] = v.value;
          pos = v.next;
        }
        return { value: obj, next: pos };
      }
      case MmdbDataType.Array: {
        const arr: MmdbDecoded[] = [];
        for (let i = 0; i < size; i++) {
          const v = this.decodeAt(pos, depth + 1);
          arr.push(v.value);
          pos = v.next;
        }
        return { value: arr, next: pos };
      }
      default:
        throw new RangeError(`MMDB data type ${type} at offset ${offset} is not valid in a record`);
    }
  }
}
