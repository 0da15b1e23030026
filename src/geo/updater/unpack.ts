/**
 * Turns a downloaded file into a bare .mmdb: gunzip when it starts with the gzip magic, then take
 * the one .mmdb member when it is a tar archive. The format is recognised from the bytes, not the
 * name, because `kind: url` can point anywhere and servers name files as they like.
 *
 * The tar reader covers what MaxMind's archives and GNU/BSD tar write: POSIX ustar headers
 * (POSIX.1-2001 "pax" §ustar Interchange Format), GNU long names (typeflag 'L') and pax extended
 * headers (typeflag 'x') for names over 100 bytes; global pax headers and GNU long link names
 * ('g', 'K') are skipped. Data is copied by byte range, never held in
 * memory, since a City database is tens of megabytes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

const BLOCK = 512;

/** Fails the stream once more than `maxBytes` have passed, so a gzip bomb stops early. */
class ByteLimit extends Transform {
  private seen = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.maxBytes) done(new Error(`${this.what} is larger than max_size (${this.maxBytes} bytes)`));
    else done(null, chunk);
  }
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await file.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** "ustar\0" (POSIX) or "ustar " (GNU) at offset 257. */
function isTar(head: Buffer): boolean {
  return head.length >= BLOCK && head.toString('latin1', 257, 262) === 'ustar';
}

async function gunzip(src: string, dest: string, maxBytes: number): Promise<void> {
  try {
    await pipeline(createReadStream(src), createGunzip(), new ByteLimit(maxBytes, 'the unpacked file'), createWriteStream(dest, { flags: 'wx', mode: 0o644 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // zlib's codes (Z_DATA_ERROR, Z_BUF_ERROR) say little; "unexpected end of file" says truncated.
    if (e.code?.startsWith('Z_')) throw new Error(`the gzip data is damaged or truncated (${e.message})`);
    throw err;
  }
}

export interface TarMember {
  name: string;
  /** Typeflag character; '0' (or NUL in old archives) is a regular file. */
  type: string;
  /** Byte offset of the data in the archive. */
  offset: number;
  size: number;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.toString('utf8', 0, end === -1 ? field.length : end);
}

/** Octal digits padded with spaces or NULs; GNU tar writes sizes of 8 GiB and more in base-256. */
function numericField(block: Buffer, start: number, length: number): number | null {
  if (block[start]! & 0x80) {
    let value = block[start]! & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + block[i]!;
    return value;
  }
  const text = block.toString('latin1', start, start + length).replace(/[\0 ]+$/, '').trim();
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : null;
}

/** Header checksum: the byte sum with the checksum field itself counted as eight spaces. */
function checksumMatches(block: Buffer): boolean {
  const stored = numericField(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return stored === sum;
}

/** pax extended header records: "<length> <key>=<value>\n". */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const length = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(length) || length <= 0 || pos + length > data.length) break;
    const record = data.toString('utf8', space + 1, pos + length - 1);
    const eq = record.indexOf('=');
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** Members of a tar archive, in order. Throws on a damaged header or an archive cut short. */
export async function listTarMembers(path: string): Promise<TarMember[]> {
  const file = await open(path, 'r');
  try {
    const fileSize = (await file.stat()).size;
    const members: TarMember[] = [];
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    let longName: string | null = null;
    let paxSize: number | null = null;
    while (pos + BLOCK <= fileSize) {
      await file.read(header, 0, BLOCK, pos);
      // Two zero blocks end the archive; one is enough to stop reading.
      if (header.every((b) => b === 0)) return members;
      if (!checksumMatches(header)) throw new Error(`the tar header at byte ${pos} is damaged (checksum mismatch)`);
      const headerSize = numericField(header, 124, 12);
      if (headerSize === null) throw new Error(`the tar header at byte ${pos} has no valid size`);
      const type = String.fromCharCode(header[156]!);
      const meta = type === 'x' || type === 'g' || type === 'L' || type === 'K';
      const size = meta ? headerSize : (paxSize ?? headerSize);
      const offset = pos + BLOCK;
      if (offset + size > fileSize) throw new Error(`the tar archive is truncated (member at byte ${pos} needs ${size} bytes)`);
      if (type === 'L' || type === 'x') {
        const data = Buffer.alloc(size);
        await file.read(data, 0, size, offset);
        if (type === 'L') longName = cString(data, 0, size);
        else {
          const records = paxRecords(data);
          longName = records.get('path') ?? longName;
          const sizeRecord = records.get('size');
          paxSize = sizeRecord !== undefined && /^\d+$/.test(sizeRecord) ? Number(sizeRecord) : null;
        }
      } else if (!meta) {
        const prefix = header.toString('latin1', 257, 262) === 'ustar' ? cString(header, 345, 155) : '';
        const shortName = cString(header, 0, 100);
        members.push({ name: longName ?? (prefix ? `${prefix}/${shortName}` : shortName), type, offset, size });
        longName = null;
        paxSize = null;
      }
      pos = offset + Math.ceil(size / BLOCK) * BLOCK;
    }
    // GNU tar pads archives to its record size with zero blocks; an archive ending exactly after
    // the last member's data is accepted too, as other writers leave out the end marker.
    return members;
  } finally {
    await file.close();
  }
}

async function extractSingleMmdb(tarPath: string, dest: string): Promise<string> {
  const members = await listTarMembers(tarPath);
  const databases = members.filter((m) => (m.type === '0' || m.type === '\0' || m.type === '7') && m.name.endsWith('.mmdb'));
  if (databases.length !== 1) {
    const names = members.map((m) => m.name).join(', ') || 'nothing';
    throw new Error(`the tar archive holds ${databases.length} .mmdb files instead of one (members: ${names})`);
  }
  const member = databases[0]!;
  if (member.size === 0) throw new Error(`the tar member ${member.name} is empty`);
  await pipeline(
    createReadStream(tarPath, { start: member.offset, end: member.offset + member.size - 1 }),
    createWriteStream(dest, { flags: 'wx', mode: 0o644 }),
  );
  return member.name;
}

export interface Unpacked {
  /** The bare .mmdb: the download itself or one of the work files. */
  path: string;
  /** What was done, for the log line: "gzip", "gzip, tar member GeoLite2-Country_20261120/GeoLite2-Country.mmdb". */
  layers: string[];
}

/**
 * Unpacks `downloaded` as far as needed. `workFile(step)` names a fresh file in the same
 * directory for each step; the caller removes them all afterwards.
 */
export async function unpackDatabase(downloaded: string, workFile: (step: string) => string, maxBytes: number): Promise<Unpacked> {
  const layers: string[] = [];
  let current = downloaded;
  if (isGzip(await readHead(current, 2))) {
    const next = workFile('gunzipped');
    await gunzip(current, next, maxBytes);
    layers.push('gzip');
    current = next;
  }
  if (isTar(await readHead(current, BLOCK))) {
    const next = workFile('extracted');
    const member = await extractSingleMmdb(current, next);
    layers.push(`tar member ${member}`);
    current = next;
  }
  return { path: current, layers };
}
