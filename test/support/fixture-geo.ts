/**
 * Small MMDB files for tests, built with MmdbWriter from one fixed table of documentation
 * ranges (RFC 5737, RFC 3849) in the layout of each supported vendor.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MmdbValue, MmdbWriter } from '../../src/geo/mmdb-writer';

export type FixtureSchema = 'dbip' | 'geoip2' | 'ipinfo';

export interface FixtureGeoEntry {
  cidr: string;
  /** Null: the range has no entry in any fixture database. */
  country: string | null;
  /** `registered_country` in the geoip2 layout (the other layouts have none); differs from `country` once. */
  registeredCountry: string | null;
  asn: number | null;
  asOrg: string | null;
}

export const FIXTURE_GEO: readonly FixtureGeoEntry[] = Object.freeze([
  { cidr: '198.51.100.0/25', country: 'DE', registeredCountry: 'DE', asn: 64500, asOrg: 'Example Cloud GmbH' },
  { cidr: '198.51.100.128/25', country: 'FR', registeredCountry: 'FR', asn: 64501, asOrg: 'Exemple Hébergement SAS' },
  { cidr: '203.0.113.0/25', country: 'CN', registeredCountry: 'CN', asn: 64510, asOrg: 'Example Telemetry Co' },
  // Located in Russia, registered to a Cypriot holder: exercises registered_country.
  { cidr: '203.0.113.128/25', country: 'RU', registeredCountry: 'CY', asn: 64511, asOrg: 'Example Analytics LLC' },
  { cidr: '192.0.2.0/25', country: 'US', registeredCountry: 'US', asn: 64496, asOrg: 'Example US Hosting' },
  { cidr: '192.0.2.128/25', country: null, registeredCountry: null, asn: null, asOrg: null },
  { cidr: '2001:db8:de::/48', country: 'DE', registeredCountry: 'DE', asn: 64500, asOrg: 'Example Cloud GmbH' },
  { cidr: '2001:db8:c0::/48', country: 'CN', registeredCountry: 'CN', asn: 64510, asOrg: 'Example Telemetry Co' },
  { cidr: '2001:db8:5::/48', country: 'US', registeredCountry: 'US', asn: 64496, asOrg: 'Example US Hosting' },
]);

/** The GeoInfo a resolver should return for an address in `entry` with databases of `schema`. */
export function expectedFixtureGeo(
  entry: FixtureGeoEntry,
  schema: FixtureSchema,
): { country: string | null; registeredCountry: string | null; asn: number | null; asOrg: string | null; special: false } {
  return {
    country: entry.country,
    registeredCountry: schema === 'geoip2' ? entry.registeredCountry : null,
    asn: entry.asn,
    asOrg: entry.asOrg,
    special: false,
  };
}

/** GeoNames ids and English names, as GeoIP2 records carry them. */
const COUNTRIES: Record<string, { geonameId: number; name: string; continent: string }> = {
  CN: { geonameId: 1814991, name: 'China', continent: 'AS' },
  CY: { geonameId: 146669, name: 'Cyprus', continent: 'EU' },
  DE: { geonameId: 2921044, name: 'Germany', continent: 'EU' },
  FR: { geonameId: 3017382, name: 'France', continent: 'EU' },
  RU: { geonameId: 2017370, name: 'Russia', continent: 'EU' },
  US: { geonameId: 6252001, name: 'United States', continent: 'NA' },
};

const CONTINENTS: Record<string, { geonameId: number; name: string }> = {
  AS: { geonameId: 6255147, name: 'Asia' },
  EU: { geonameId: 6255148, name: 'Europe' },
  NA: { geonameId: 6255149, name: 'North America' },
};

function country(code: string): { geonameId: number; name: string; continent: string } {
  const c = COUNTRIES[code];
  if (!c) throw new Error(`fixture country ${code} has no GeoNames entry`);
  return c;
}

function geoip2CountryRecord(entry: FixtureGeoEntry): MmdbValue {
  const located = country(entry.country!);
  const registered = country(entry.registeredCountry!);
  const continent = CONTINENTS[located.continent]!;
  const eu = (code: string): { is_in_european_union?: boolean } => (['CY', 'DE', 'FR'].includes(code) ? { is_in_european_union: true } : {});
  return {
    continent: { code: located.continent, geoname_id: continent.geonameId, names: { en: continent.name } },
    country: { geoname_id: located.geonameId, ...eu(entry.country!), iso_code: entry.country!, names: { en: located.name } },
    registered_country: { geoname_id: registered.geonameId, ...eu(entry.registeredCountry!), iso_code: entry.registeredCountry!, names: { en: registered.name } },
  };
}

function ipinfoRecord(entry: FixtureGeoEntry): MmdbValue {
  const located = country(entry.country!);
  return {
    asn: `AS${entry.asn}`,
    as_name: entry.asOrg!,
    as_domain: 'example.com',
    continent: CONTINENTS[located.continent]!.name,
    continent_code: located.continent,
    country: located.name,
    country_code: entry.country!,
  };
}

function asnRecord(entry: FixtureGeoEntry): MmdbValue {
  return { autonomous_system_number: entry.asn!, autonomous_system_organization: entry.asOrg! };
}

function writeDb(path: string, databaseType: string, record: (entry: FixtureGeoEntry) => MmdbValue): string {
  const writer = new MmdbWriter({ databaseType, description: { en: `Geowarden test fixture (${databaseType})` }, languages: ['en'], buildEpoch: 1_700_000_000 });
  for (const entry of FIXTURE_GEO) if (entry.country !== null) writer.insertCidr(entry.cidr, record(entry));
  writer.writeFile(path);
  return path;
}

/** Writes the fixture databases of one vendor layout into `dir` (created if needed). */
export function buildFixtureGeo(dir: string, schema: FixtureSchema = 'dbip'): { countryDb: string; asnDb: string | null } {
  mkdirSync(dir, { recursive: true });
  switch (schema) {
    case 'dbip':
      return {
        countryDb: writeDb(join(dir, 'dbip-country.mmdb'), 'country ipvAll', (e) => ({ country_code: e.country! })),
        asnDb: writeDb(join(dir, 'asn.mmdb'), 'Geowarden-ASN', asnRecord),
      };
    case 'geoip2':
      return {
        countryDb: writeDb(join(dir, 'GeoIP2-Country.mmdb'), 'GeoIP2-Country', geoip2CountryRecord),
        asnDb: writeDb(join(dir, 'GeoLite2-ASN.mmdb'), 'GeoLite2-ASN', asnRecord),
      };
    case 'ipinfo':
      return { countryDb: writeDb(join(dir, 'ipinfo_lite.mmdb'), 'ipinfo ipinfo_lite.mmdb', ipinfoRecord), asnDb: null };
  }
}
