import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultAsnDbPath, defaultCountryDbPath } from '../src/geo/default-paths';
import { GeoDatabase } from '../src/geo/geo-database';
import { GeoDatabaseError, GeoResolver } from '../src/geo/geo-resolver';
import { MmdbWriter } from '../src/geo/mmdb-writer';
import { classifyRecord, schemaFromDatabaseType } from '../src/geo/schema-detect';
import type { GeoInfo } from '../src/geo/types';
import { formatV4, formatV6, parseCidr } from '../src/net/address';
import { FIXTURE_GEO, FixtureSchema, buildFixtureGeo, expectedFixtureGeo } from './support/fixture-geo';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'geowarden-geo-resolver-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Addresses inside a fixture block: its second and its last-but-one, plus the IPv4-mapped form of IPv4 ones. */
function addressesIn(cidr: string): string[] {
  const c = parseCidr(cidr)!;
  const v4 = !cidr.includes(':');
  if (v4) {
    const size = 2 ** (128 - c.prefix128);
    const base = c.network[3]!;
    return [formatV4(base + 1), formatV4(base + size - 2), `::ffff:${formatV4(base + 1)}`];
  }
  const last = Uint32Array.from(c.network);
  last[3] = 0xfffffffe;
  const second = Uint32Array.from(c.network);
  second[3] = 1;
  return [formatV6(second), formatV6(last)];
}

/** The fields every GeoInfo has had from the start; sources, override and anycast are tested on their own. */
function base(info: GeoInfo): Pick<GeoInfo, 'country' | 'registeredCountry' | 'asn' | 'asOrg' | 'special'> {
  const { country, registeredCountry, asn, asOrg, special } = info;
  return { country, registeredCountry, asn, asOrg, special };
}

function openFixture(schema: FixtureSchema, cacheSize = 1000): GeoResolver {
  const paths = buildFixtureGeo(join(dir, schema), schema);
  return GeoResolver.open({ countryDbPath: paths.countryDb, asnDbPath: paths.asnDb, cacheSize });
}

describe('GeoResolver', () => {
  const expectedSchemas: Record<FixtureSchema, [string, string][]> = {
    dbip: [
      ['country', 'country-code'],
      ['asn', 'geolite2-asn'],
    ],
    geoip2: [
      ['country', 'geoip2'],
      ['asn', 'geolite2-asn'],
    ],
    ipinfo: [['country', 'ipinfo-lite']],
  };

  for (const schema of ['dbip', 'geoip2', 'ipinfo'] as const) {
    it(`recognizes the ${schema} layout from its records and resolves every fixture range`, () => {
      const geo = openFixture(schema);
      assert.deepEqual(
        geo.databases().map((d) => [d.role, d.schema]),
        expectedSchemas[schema],
      );
      for (const d of geo.databases()) assert.equal(d.buildEpoch, 1_700_000_000);
      for (const entry of FIXTURE_GEO) {
        for (const ip of addressesIn(entry.cidr)) {
          const info = geo.lookup(ip);
          assert.deepEqual(base(info), expectedFixtureGeo(entry, schema), `${schema}: ${ip} in ${entry.cidr}`);
          // One database: one answer, the primary one, named after the file.
          assert.equal(info.sources?.length, 1);
          assert.deepEqual(info.sources?.[0], {
            database: geo.databases()[0]!.path.replace(/^.*\//, '').replace(/\.mmdb$/, ''),
            country: entry.country,
            registeredCountry: schema === 'geoip2' ? entry.registeredCountry : null,
            buildEpoch: 1_700_000_000,
            primary: true,
          });
          assert.equal(info.override, null);
          assert.equal(info.anycast, false);
        }
      }
      assert.deepEqual(base(geo.lookup('2001:db8:ff::1')), { country: null, registeredCountry: null, asn: null, asOrg: null, special: false });
    });
  }

  it('reports registered_country separately from the located country (geoip2)', () => {
    const geo = openFixture('geoip2');
    const info = geo.lookup('203.0.113.200');
    assert.equal(info.country, 'RU');
    assert.equal(info.registeredCountry, 'CY');
  });

  it('believes the records over a misleading database_type', () => {
    const file = join(dir, 'misnamed.mmdb');
    const w = new MmdbWriter({ databaseType: 'GeoLite2-ASN', description: { en: 'country data despite the name' } });
    w.insertCidr('198.51.100.0/24', { country_code: 'de' });
    w.writeFile(file);
    const asn = buildFixtureGeo(join(dir, 'misnamed-asn'), 'dbip').asnDb;
    const geo = GeoResolver.open({ countryDbPath: file, asnDbPath: asn, cacheSize: 10 });
    assert.equal(geo.databases()[0]!.schema, 'country-code');
    assert.equal(geo.lookup('198.51.100.1').country, 'DE');
    assert.throws(
      () => GeoResolver.open({ countryDbPath: asn, asnDbPath: file, cacheSize: 10 }),
      (err: unknown) => err instanceof GeoDatabaseError && /^geoip\.country: .* has no country data/.test(err.message),
    );
    assert.equal(schemaFromDatabaseType('GeoLite2-ASN'), 'geolite2-asn');
    assert.equal(classifyRecord({ country_code: 'DE', asn: 'AS1', as_name: 'x' }), 'ipinfo-lite');
    assert.equal(classifyRecord({ registered_country: { iso_code: 'DE' } }), 'geoip2');
    assert.equal(classifyRecord({ city: 'x' }), null);
  });

  it('needs no ASN database when the country database carries ASNs (IPinfo Lite)', () => {
    const geo = openFixture('ipinfo');
    assert.equal(geo.databases().length, 1);
    assert.equal(geo.lookup('198.51.100.200').asOrg, 'Exemple Hébergement SAS');
  });

  it('answers special addresses without consulting the databases', () => {
    // A database that claims the private and multicast ranges: the resolver must not believe it.
    const file = join(dir, 'claims-everything.mmdb');
    const w = new MmdbWriter({ databaseType: 'country', description: {} });
    w.insertCidr('0.0.0.0/0', { country_code: 'KP' });
    w.insertCidr('::/0', { country_code: 'KP' });
    w.writeFile(file);
    const asn = buildFixtureGeo(join(dir, 'special'), 'dbip').asnDb;
    const geo = GeoResolver.open({ countryDbPath: file, asnDbPath: asn, cacheSize: 100 });
    const special = { country: null, registeredCountry: null, asn: null, asOrg: null, special: true };
    for (const ip of [
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '169.254.1.1',
      '127.0.0.1',
      '0.0.0.0',
      '224.0.0.251',
      '239.255.255.250',
      '255.255.255.255',
      '::',
      '::1',
      'fe80::1',
      'fd12:3456::1',
      'ff02::fb',
      '::ffff:192.168.0.1',
    ]) {
      assert.deepEqual(base(geo.lookup(ip)), special, ip);
      assert.deepEqual(geo.lookup(ip).sources, [], `${ip}: no database is asked`);
    }
    assert.equal(geo.lookup('8.8.8.8').country, 'KP', 'the database is consulted for other addresses');
    assert.deepEqual(base(geo.lookup('not an address')), { country: null, registeredCountry: null, asn: null, asOrg: null, special: false });
  });

  it('caches lookups in a bounded LRU and counts hits, misses and evictions', () => {
    const geo = openFixture('dbip', 2);
    const a = geo.lookup('198.51.100.1');
    assert.equal(geo.lookup('198.51.100.1'), a, 'a hit returns the cached object');
    geo.lookup('203.0.113.1'); // miss
    geo.lookup('192.0.2.1'); // miss, evicts 198.51.100.1
    geo.lookup('198.51.100.1'); // miss, evicts 203.0.113.1
    geo.lookup('192.0.2.1'); // hit
    assert.deepEqual(geo.cacheStats(), { hits: 2, misses: 4, evictions: 2, size: 2, capacity: 2 });
    assert.ok(Object.isFrozen(a));

    const uncached = openFixture('dbip', 0);
    uncached.lookup('198.51.100.1');
    uncached.lookup('198.51.100.1');
    assert.deepEqual(uncached.cacheStats(), { hits: 0, misses: 2, evictions: 0, size: 0, capacity: 0 });
  });

  describe('GeoDatabaseError', () => {
    const assertOneLine = (fn: () => unknown, pattern: RegExp): void => {
      assert.throws(fn, (err: unknown) => {
        assert.ok(err instanceof GeoDatabaseError, `GeoDatabaseError expected, got ${String(err)}`);
        assert.ok(!err.message.includes('\n'), 'one line');
        assert.match(err.message, pattern);
        return true;
      });
    };
    const fixture = (): { countryDb: string; asnDb: string | null } => buildFixtureGeo(join(dir, 'errors'), 'dbip');

    it('names the path, the problem and the fix for a missing file', () => {
      const missing = join(dir, 'nowhere', 'asn.mmdb');
      assertOneLine(
        () => GeoDatabase.open('asn', missing, true),
        new RegExp(`^geoip\\.asn: ${missing.replace(/[.]/g, '\\.')} not found: run "npm run build-geoip" or set geoip\\.asn to an MMDB file$`),
      );
      assertOneLine(
        () => GeoResolver.open({ countryDbPath: missing, asnDbPath: fixture().asnDb, cacheSize: 1 }),
        /^geoip\.country: \S+ not found: correct geoip\.country, or remove it to use the bundled database$/,
      );
      const err = (() => {
        try {
          GeoResolver.open({ countryDbPath: fixture().countryDb, asnDbPath: missing, cacheSize: 1 });
        } catch (e) {
          return e as GeoDatabaseError;
        }
        return null;
      })();
      assert.ok(err);
      assert.equal(err.setting, 'geoip.asn');
      assert.equal(err.path, missing);
    });

    it('names the path, the problem and the fix for a file that is not an MMDB', () => {
      const text = join(dir, 'not-a-db.mmdb');
      writeFileSync(text, 'country,asn\nDE,64500\n');
      assertOneLine(
        () => GeoResolver.open({ countryDbPath: text, asnDbPath: fixture().asnDb, cacheSize: 1 }),
        /^geoip\.country: \S+not-a-db\.mmdb is not a MaxMind DB file \(no metadata marker\): set geoip\.country to an MMDB file \(.*\)$/,
      );
      const empty = join(dir, 'empty.mmdb');
      writeFileSync(empty, '');
      assertOneLine(() => GeoResolver.open({ countryDbPath: fixture().countryDb, asnDbPath: empty, cacheSize: 1 }), /^geoip\.asn: \S+ is empty: /);
      const gz = join(dir, 'packed.mmdb.gz');
      writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
      assertOneLine(() => GeoResolver.open({ countryDbPath: gz, asnDbPath: null, cacheSize: 1 }), /is gzip-compressed: gunzip it/);
      const folder = join(dir, 'a-directory.mmdb');
      mkdirSync(folder, { recursive: true });
      assertOneLine(() => GeoResolver.open({ countryDbPath: folder, asnDbPath: null, cacheSize: 1 }), /^geoip\.country: \S+ is a directory: /);
      // A valid MMDB with nothing the geo stage understands.
      const odd = join(dir, 'odd.mmdb');
      const w = new MmdbWriter({ databaseType: 'Weather', description: {} });
      w.insertCidr('198.51.100.0/24', { temperature: 21 });
      w.writeFile(odd);
      assertOneLine(() => GeoResolver.open({ countryDbPath: odd, asnDbPath: null, cacheSize: 1 }), /has records of no known layout \(database_type "Weather"\)/);
    });
  });

  it('resolves well-known addresses with the bundled DB-IP country database and geoip/asn.mmdb', (t) => {
    const asnDb = defaultAsnDbPath();
    if (!existsSync(asnDb)) {
      t.skip(`${asnDb} is absent; run "npm run build-geoip"`);
      return;
    }
    const geo = GeoResolver.open({ countryDbPath: null, asnDbPath: null, cacheSize: 100 });
    assert.deepEqual(
      geo.databases().map((d) => [d.role, d.schema, d.path]),
      [
        ['country', 'country-code', defaultCountryDbPath()],
        ['asn', 'geolite2-asn', asnDb],
      ],
    );
    const facts = [
      { ip: '1.1.1.1', country: 'AU', asn: 13335 },
      { ip: '8.8.8.8', country: 'US', asn: 15169 },
    ];
    for (const { ip, country, asn } of facts) {
      const info = geo.lookup(ip);
      assert.equal(info.country, country, ip);
      assert.equal(info.asn, asn, ip);
      assert.equal(info.special, false);
      assert.equal(geo.lookup(`::ffff:${ip}`).country, country, `::ffff:${ip}`);
    }
    // The same facts from the reference reader, so the test fails loudly if the data changes under us.
    try {
      for (const { ip, country, asn } of facts) {
        const cc = execFileSync('mmdblookup', ['--file', defaultCountryDbPath(), '--ip', ip, 'country_code'], { encoding: 'utf8' });
        assert.match(cc, new RegExp(`"${country}" <utf8_string>`));
        const as = execFileSync('mmdblookup', ['--file', asnDb, '--ip', ip, 'autonomous_system_number'], { encoding: 'utf8' });
        assert.match(as, new RegExp(`\\b${asn} <uint32>`));
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  });
});
