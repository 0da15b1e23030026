import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Reader, type Response } from 'maxmind';
import { MmdbValue, MmdbWriter, MmdbWriterOptions, splitRange } from '../src/geo/mmdb-writer';
import { parseAddress, parseV4 } from '../src/net/address';

/** A scalar as mmdblookup prints it: its value and the type name it shows in angle brackets. */
interface ReferenceScalar {
  $type: string;
  value: string | number | bigint | boolean | Buffer;
}
type ReferenceValue = ReferenceScalar | ReferenceValue[] | { [key: string]: ReferenceValue };

function hasMmdblookup(): boolean {
  try {
    execFileSync('mmdblookup', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const MMDBLOOKUP = hasMmdblookup();
const NO_MMDBLOOKUP = MMDBLOOKUP ? false : 'mmdblookup (Debian mmdb-bin) is not installed';

/** libmaxminddb's mmdblookup: the reference reader. Returns null when it finds no entry (exit status 6). */
function mmdblookup(file: string, ip: string): ReferenceValue | null {
  let out: string;
  try {
    out = execFileSync('mmdblookup', ['--file', file, '--ip', ip], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (err) {
    if ((err as { status?: number }).status === 6) return null;
    throw err;
  }
  const lines = out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let i = 0;
  const value = (): ReferenceValue => {
    const line = lines[i++]!;
    if (line === '{') {
      const map: { [key: string]: ReferenceValue } = {};
      while (lines[i] !== '}') {
        const key = /^"(.*)":$/.exec(lines[i++]!);
        assert.ok(key, `map key expected in mmdblookup output: ${lines[i - 1]}`);
        map[key[1]!] = value();
      }
      i++;
      return map;
    }
    if (line === '[') {
      const list: ReferenceValue[] = [];
      while (lines[i] !== ']') list.push(value());
      i++;
      return list;
    }
    const m = /^(.*) <(\w+)>$/s.exec(line);
    assert.ok(m, `scalar expected in mmdblookup output: ${line}`);
    const [, raw, type] = m as unknown as [string, string, string];
    switch (type) {
      case 'utf8_string':
        return { $type: type, value: raw.slice(1, -1) };
      case 'uint64':
      case 'uint128':
        return { $type: type, value: BigInt(raw) };
      case 'boolean':
        return { $type: type, value: raw === 'true' };
      case 'bytes':
        return { $type: type, value: Buffer.from(raw, 'hex') };
      default:
        return { $type: type, value: Number(raw) };
    }
  };
  const result = value();
  assert.equal(i, lines.length, 'mmdblookup printed more than one value');
  return result;
}

function mmdbMetadata(file: string, ip = '1.1.1.1'): { nodeCount: number; recordSize: number; ipVersion: string; type: string } {
  let out: string;
  try {
    out = execFileSync('mmdblookup', ['--file', file, '--ip', ip, '--verbose'], { encoding: 'utf8' });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const field = (name: string): string => {
    const m = new RegExp(`${name}:\\s+(.*)`).exec(out);
    assert.ok(m, `mmdblookup --verbose shows no "${name}"`);
    return m[1]!.trim();
  };
  return {
    nodeCount: Number(field('Node count')),
    recordSize: Number(/^(\d+)/.exec(field('Record size'))![1]),
    ipVersion: field('IP version'),
    type: field('Type'),
  };
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'geowarden-mmdb-writer-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function build(options: Partial<MmdbWriterOptions>, fill: (w: MmdbWriter) => void): { file: string; reader: Reader<Response>; buf: Buffer } {
  const writer = new MmdbWriter({ databaseType: 'Geowarden-Test', description: { en: 'writer test' }, buildEpoch: 1_700_000_000, ...options });
  fill(writer);
  const file = join(dir, `db-${++fileCounter}.mmdb`);
  writer.writeFile(file);
  const buf = readFileSync(file);
  return { file, reader: new Reader<Response>(buf), buf };
}

/** Asserts both readers agree with `expected` (null: no entry). */
function assertLookup(db: { file: string; reader: Reader<Response> }, ip: string, expected: Record<string, unknown> | null): void {
  assert.deepEqual(db.reader.get(ip), expected, `maxmind Reader, ${ip}`);
  if (!MMDBLOOKUP) return;
  const ref = mmdblookup(db.file, ip);
  if (expected === null) assert.equal(ref, null, `mmdblookup, ${ip}`);
  else assert.deepEqual(plain(ref), expected, `mmdblookup, ${ip}`);
}

/** mmdblookup's typed tree reduced to plain values, for comparing with the maxmind Reader. */
function plain(v: ReferenceValue | null): unknown {
  if (v === null) return null;
  if (Array.isArray(v)) return v.map(plain);
  if ('$type' in v && typeof v.$type === 'string' && 'value' in v) return (v as ReferenceScalar).value;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x as ReferenceValue)]));
}

describe('MmdbWriter', () => {
  it('is checked against libmaxminddb (mmdblookup) as well as the maxmind package', { skip: NO_MMDBLOOKUP }, () => {
    assert.ok(MMDBLOOKUP);
  });

  it('stores every data type so that both readers decode it with its type', () => {
    const record: MmdbValue = {
      text: 'plain',
      unicode: 'Exemple Hébergement — 日本語 🚀',
      empty: '',
      small: 7,
      zero: 0,
      big32: 4_294_967_295,
      fraction: 1.5,
      negative: -3,
      beyond32: 2 ** 40,
      yes: true,
      no: false,
      u16: { $type: 'uint16', value: 65535 },
      u32: { $type: 'uint32', value: 70000 },
      u64: { $type: 'uint64', value: 18_446_744_073_709_551_615n },
      u64small: { $type: 'uint64', value: 1_234_567 },
      u128: { $type: 'uint128', value: 2n ** 100n + 5n },
      i32: { $type: 'int32', value: -123_456 },
      i32pos: { $type: 'int32', value: 42 },
      dbl: { $type: 'double', value: 7 },
      flt: { $type: 'float', value: 0.25 },
      raw: { $type: 'bytes', value: Uint8Array.of(0, 1, 254, 255) },
      list: [1, 'two', [true, { deep: { deeper: 'yes' } }], []],
      nested: { names: { en: 'Germany', de: 'Deutschland', 'zh-CN': '德国' }, emptyMap: {} },
      long: 'x'.repeat(300),
    };
    const db = build({}, (w) => w.insertCidr('198.51.100.0/24', record));
    assert.deepEqual(db.reader.get('198.51.100.7'), {
      ...record,
      u16: 65535,
      u32: 70000,
      u64: 18_446_744_073_709_551_615n,
      u64small: 1_234_567n,
      u128: 2n ** 100n + 5n,
      i32: -123_456,
      i32pos: 42,
      dbl: 7,
      flt: 0.25,
      raw: Buffer.from([0, 1, 254, 255]),
    });
    if (!MMDBLOOKUP) return;
    const s = (value: string): ReferenceScalar => ({ $type: 'utf8_string', value });
    const n = ($type: string, value: number | bigint): ReferenceScalar => ({ $type, value });
    const b = (value: boolean): ReferenceScalar => ({ $type: 'boolean', value });
    assert.deepEqual(mmdblookup(db.file, '198.51.100.7'), {
      text: s('plain'),
      unicode: s('Exemple Hébergement — 日本語 🚀'),
      empty: s(''),
      small: n('uint32', 7),
      zero: n('uint32', 0),
      big32: n('uint32', 4_294_967_295),
      fraction: n('double', 1.5),
      negative: n('double', -3),
      beyond32: n('double', 2 ** 40),
      yes: b(true),
      no: b(false),
      u16: n('uint16', 65535),
      u32: n('uint32', 70000),
      u64: n('uint64', 18_446_744_073_709_551_615n),
      u64small: n('uint64', 1_234_567n),
      u128: n('uint128', 2n ** 100n + 5n),
      i32: n('int32', -123_456),
      i32pos: n('int32', 42),
      dbl: n('double', 7),
      flt: n('float', 0.25),
      raw: { $type: 'bytes', value: Buffer.from([0, 1, 254, 255]) },
      list: [n('uint32', 1), s('two'), [b(true), { deep: { deeper: s('yes') } }], []],
      nested: { names: { en: s('Germany'), de: s('Deutschland'), 'zh-CN': s('德国') }, emptyMap: {} },
      long: s('x'.repeat(300)),
    });
  });

  it('rejects values that do not fit their declared type', () => {
    const w = new MmdbWriter({ databaseType: 'T', description: {} });
    assert.throws(() => w.insertCidr('192.0.2.0/24', { $type: 'uint16', value: 65536 }), RangeError);
    assert.throws(() => w.insertCidr('192.0.2.0/24', { $type: 'int32', value: 2 ** 31 }), RangeError);
    assert.throws(() => w.insertCidr('192.0.2.0/24', { $type: 'uint64', value: 2n ** 64n }), RangeError);
    assert.throws(() => w.insertCidr('192.0.2.0/33', 'x'), RangeError);
    assert.throws(() => w.insertCidr('not-an-ip/8', 'x'), RangeError);
  });

  it('finds IPv4 at ::a.b.c.d and through the ::ffff:0:0/96 alias, and IPv6 networks', () => {
    const db = build({}, (w) => {
      w.insertCidr('192.0.2.0/24', { v: 'v4' });
      w.insertCidr('2001:db8:de::/48', { v: 'v6' });
      w.insertCidr('::ffff:198.51.100.0/120', { v: 'mapped input' });
    });
    for (const ip of ['192.0.2.1', '::ffff:192.0.2.1', '::192.0.2.1', '::ffff:c000:2ff']) assertLookup(db, ip, { v: 'v4' });
    assertLookup(db, '2001:db8:de:1::1', { v: 'v6' });
    assertLookup(db, '2001:db8:df::1', null);
    assertLookup(db, '198.51.100.9', { v: 'mapped input' });
    assertLookup(db, '::ffff:198.51.100.9', { v: 'mapped input' });
    assertLookup(db, '192.0.3.1', null);
    assertLookup(db, '::ffff:192.0.3.1', null);
    assert.deepEqual(db.reader.getWithPrefixLength('::ffff:192.0.2.1')[1], 120);
  });

  it('lets later inserts override earlier ones, more or less specific', () => {
    const db = build({}, (w) => {
      w.insertCidr('10.0.0.0/8', { n: 'A' });
      w.insertCidr('10.1.0.0/16', { n: 'B' });
      w.insertCidr('10.1.2.0/24', { n: 'C' });
      w.insertCidr('10.1.0.0/16', { n: 'D' });
      w.insertCidr('10.1.2.128/25', { n: 'E' });
      w.insertCidr('10.200.0.7', { n: 'F' });
      w.insertCidr('2001:db8::/32', { n: 'G' });
      w.insertCidr('2001:db8:1::/48', { n: 'H' });
    });
    assertLookup(db, '10.2.0.1', { n: 'A' });
    assertLookup(db, '10.1.2.1', { n: 'D' });
    assertLookup(db, '10.1.3.1', { n: 'D' });
    assertLookup(db, '10.1.2.200', { n: 'E' });
    assertLookup(db, '10.200.0.7', { n: 'F' });
    assertLookup(db, '10.200.0.8', { n: 'A' });
    assertLookup(db, '11.0.0.1', null);
    assertLookup(db, '2001:db8:1::1', { n: 'H' });
    assertLookup(db, '2001:db8:2::1', { n: 'G' });
  });

  it('splits ranges into the minimal CIDR list', () => {
    const reference = (firstIp: string, lastIp: string): string[] => {
      const toBig = (w: Uint32Array): bigint => w.reduce((acc, x) => (acc << 32n) | BigInt(x), 0n);
      let first = toBig(parseAddress(firstIp)!);
      const last = toBig(parseAddress(lastIp)!);
      const out: string[] = [];
      while (first <= last) {
        let host = 0n;
        while (host < 128n && (first & ((1n << (host + 1n)) - 1n)) === 0n && first + (1n << (host + 1n)) - 1n <= last) host++;
        out.push(`${first.toString(16)}/${128n - host}`);
        first += 1n << host;
      }
      return out;
    };
    const viaWriter = (firstIp: string, lastIp: string): string[] => {
      const out: string[] = [];
      splitRange(parseAddress(firstIp)!, parseAddress(lastIp)!, (w, p) => {
        out.push(`${[...w].reduce((acc, x) => (acc << 32n) | BigInt(x), 0n).toString(16)}/${p}`);
      });
      return out;
    };
    const cases: [string, string, number?][] = [
      ['1.0.0.1', '1.0.255.254', 30],
      ['0.0.0.0', '255.255.255.255', 1],
      ['10.0.0.0', '10.0.0.0', 1],
      ['2001:db8::1', '2001:db8::ffff:fffe'],
      ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1],
      ['2001:db8:0:0:8000::', '2001:db8:1:ffff:ffff:ffff:ffff:fffe'],
    ];
    for (const [a, b, count] of cases) {
      const got = viaWriter(a, b);
      assert.deepEqual(got, reference(a, b), `${a}-${b}`);
      if (count !== undefined) assert.equal(got.length, count, `${a}-${b}`);
    }
  });

  it('answers at the exact edges of a range split into many CIDRs', () => {
    const db = build({}, (w) => {
      w.insertRange('1.0.0.1', '1.0.255.254', { r: 'v4' });
      w.insertRange('2001:db8::3', '2001:db8::1:2', { r: 'v6' });
      w.insertRange('::ffff:5.0.0.1', '::ffff:5.0.0.2', { r: 'mapped' });
    });
    for (const [ip, r] of [
      ['1.0.0.0', null],
      ['1.0.0.1', 'v4'],
      ['1.0.128.0', 'v4'],
      ['1.0.255.254', 'v4'],
      ['1.0.255.255', null],
      ['2001:db8::2', null],
      ['2001:db8::3', 'v6'],
      ['2001:db8::ffff', 'v6'],
      ['2001:db8::1:2', 'v6'],
      ['2001:db8::1:3', null],
      ['5.0.0.0', null],
      ['5.0.0.1', 'mapped'],
      ['5.0.0.2', 'mapped'],
      ['5.0.0.3', null],
    ] as const) {
      assertLookup(db, ip, r === null ? null : { r });
    }
    assert.throws(() => new MmdbWriter({ databaseType: 'T', description: {} }).insertRange('10.0.0.2', '10.0.0.1', 'x'), /ends before it starts/);
    assert.throws(() => new MmdbWriter({ databaseType: 'T', description: {} }).insertRange('10.0.0.1', '::1', 'x'), /mixes/);
  });

  it('merges adjacent networks with the same record and shares identical records', () => {
    const db = build({}, (w) => {
      for (let i = 0; i < 256; i++) {
        w.insertCidr(`10.7.${i}.0/24`, { autonomous_system_number: 64500, autonomous_system_organization: 'Example Cloud GmbH' });
      }
      w.insertCidr('10.8.0.0/16', { autonomous_system_number: 64501, autonomous_system_organization: 'Example Cloud GmbH' });
    });
    const [record, prefix] = db.reader.getWithPrefixLength('10.7.200.1');
    assert.deepEqual(record, { autonomous_system_number: 64500, autonomous_system_organization: 'Example Cloud GmbH' });
    assert.equal(prefix, 16, 'the 256 /24s collapse into one /16');
    const count = (needle: string): number => db.buf.toString('latin1').split(needle).length - 1;
    assert.equal(count('autonomous_system_organization'), 1, 'map keys are stored once and pointed to');
    assert.equal(count('Example Cloud GmbH'), 1, 'string values are stored once and pointed to');
    assertLookup(db, '10.8.1.1', { autonomous_system_number: 64501, autonomous_system_organization: 'Example Cloud GmbH' });
    const w = new MmdbWriter({ databaseType: 'T', description: {} });
    for (let i = 0; i < 100; i++) w.insertCidr(`10.${i}.0.0/16`, { asn: 1, org: 'same' });
    assert.equal(w.recordCount, 1);
  });

  it('writes the metadata map and section layout of the spec', () => {
    const db = build({ databaseType: 'Geowarden-Meta', description: { en: 'English', de: 'Deutsch' }, languages: ['en', 'de'], buildEpoch: 1_750_000_000 }, (w) =>
      w.insertCidr('192.0.2.0/24', 'x'),
    );
    const m = db.reader.metadata;
    assert.equal(m.binaryFormatMajorVersion, 2);
    assert.equal(m.binaryFormatMinorVersion, 0);
    assert.equal(m.buildEpoch.getTime(), 1_750_000_000_000);
    assert.equal(m.databaseType, 'Geowarden-Meta');
    assert.deepEqual(m.description, { en: 'English', de: 'Deutsch' });
    assert.deepEqual(m.languages, ['en', 'de']);
    assert.equal(m.ipVersion, 6);
    assert.equal(m.recordSize, 24);
    const treeBytes = m.nodeCount * 6;
    assert.deepEqual(db.buf.subarray(treeBytes, treeBytes + 16), Buffer.alloc(16), 'data section separator');
    const marker = Buffer.from('\xAB\xCD\xEFMaxMind.com', 'latin1');
    const markerAt = db.buf.lastIndexOf(marker);
    assert.ok(markerAt > treeBytes + 16, 'metadata follows the data section');
    assert.ok(db.buf.length - markerAt < 128 * 1024, 'metadata fits the 128 KiB the spec allows');
    if (MMDBLOOKUP) {
      const ref = mmdbMetadata(db.file, '192.0.2.1');
      assert.deepEqual(ref, { nodeCount: m.nodeCount, recordSize: 24, ipVersion: 'IPv6', type: 'Geowarden-Meta' });
    }
  });

  it('builds IPv4-only databases and refuses IPv6 networks in them', () => {
    const db = build({ ipVersion: 4 }, (w) => {
      w.insertCidr('203.0.113.0/25', { c: 'CN' });
      w.insertRange('198.51.100.10', '198.51.100.20', { c: 'DE' });
      w.insertCidr('::ffff:192.0.2.0/120', { c: 'US' });
      assert.throws(() => w.insertCidr('2001:db8::/32', { c: 'XX' }), /IPv4 database/);
    });
    assert.equal(db.reader.metadata.ipVersion, 4);
    assert.equal(db.reader.metadata.treeDepth, 32);
    assertLookup(db, '203.0.113.5', { c: 'CN' });
    assertLookup(db, '203.0.113.200', null);
    assertLookup(db, '198.51.100.20', { c: 'DE' });
    assertLookup(db, '198.51.100.21', null);
    assertLookup(db, '192.0.2.77', { c: 'US' });
    if (MMDBLOOKUP) assert.equal(mmdbMetadata(db.file, '203.0.113.5').ipVersion, 'IPv4');
  });

  it('writes 24-, 28- and 32-bit records, choosing the smallest that fits', () => {
    const fill = (w: MmdbWriter): void => {
      w.insertCidr('198.51.100.0/24', { n: 1 });
      w.insertCidr('2001:db8::/32', { n: 2 });
    };
    for (const recordSize of [24, 28, 32] as const) {
      const db = build({ recordSize }, fill);
      assert.equal(db.reader.metadata.recordSize, recordSize);
      assertLookup(db, '198.51.100.1', { n: 1 });
      assertLookup(db, '::ffff:198.51.100.1', { n: 1 });
      assertLookup(db, '2001:db8::1', { n: 2 });
      assertLookup(db, '2001:db9::1', null);
      if (MMDBLOOKUP) assert.equal(mmdbMetadata(db.file, '198.51.100.1').recordSize, recordSize);
    }
    assert.equal(build({}, fill).reader.metadata.recordSize, 24);
  });

  it('uses the high nibbles of 28-bit records once data lies beyond 2^24 bytes', () => {
    // Two 9 MB strings push the third record past offset 2^24, so its record values need 25+ bits;
    // 12.0.0.0/8 puts it in a left record and 11.0.0.0/8 in a right one (see "Node Layout").
    const fill = (w: MmdbWriter): void => {
      w.insertCidr('9.0.0.0/8', { blob: 'a'.repeat(9_000_000) });
      w.insertCidr('10.0.0.0/8', { blob: 'b'.repeat(9_000_000) });
      w.insertCidr('11.0.0.0/8', { far: 'right' });
      w.insertCidr('12.0.0.0/8', { far: 'right' });
    };
    assert.throws(() => build({ recordSize: 24 }, fill), /record size 24/);
    for (const recordSize of [undefined, 32] as const) {
      const db = build(recordSize ? { recordSize } : {}, fill);
      assert.equal(db.reader.metadata.recordSize, recordSize ?? 28);
      assertLookup(db, '11.1.2.3', { far: 'right' });
      assertLookup(db, '12.1.2.3', { far: 'right' });
      assertLookup(db, '13.1.2.3', null);
      assert.equal((db.reader.get('10.0.0.1') as unknown as { blob: string }).blob.length, 9_000_000);
    }
  });

  it('inserts hundreds of thousands of ranges in seconds', () => {
    const w = new MmdbWriter({ databaseType: 'T', description: {} });
    const started = Date.now();
    const base = parseV4('16.0.0.0')!;
    for (let i = 0; i < 200_000; i++) {
      const first = base + i * 97;
      const a = `${first >>> 24}.${(first >>> 16) & 255}.${(first >>> 8) & 255}.${first & 255}`;
      const last = first + 60;
      const b = `${last >>> 24}.${(last >>> 16) & 255}.${(last >>> 8) & 255}.${last & 255}`;
      w.insertRange(a, b, { autonomous_system_number: 64512 + (i % 1000), autonomous_system_organization: `Org ${i % 1000}` });
    }
    const buf = w.toBuffer();
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 20_000, `took ${elapsed} ms`);
    const file = join(dir, 'bulk.mmdb');
    writeFileSync(file, buf);
    const reader = new Reader<Response>(buf);
    assert.deepEqual(reader.get('16.0.0.0'), { autonomous_system_number: 64512, autonomous_system_organization: 'Org 0' });
    assert.equal(reader.get('16.0.0.61'), null);
    assert.deepEqual(reader.get('16.0.0.97'), { autonomous_system_number: 64513, autonomous_system_organization: 'Org 1' });
    if (MMDBLOOKUP) assert.deepEqual(plain(mmdblookup(file, '16.0.0.157')), { autonomous_system_number: 64513, autonomous_system_organization: 'Org 1' });
  });
});
