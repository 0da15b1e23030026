/**
 * Fixture databases that disagree, built with MmdbWriter in three vendor layouts, for the
 * several-database tests. Documentation ranges only (RFC 5737, RFC 3849):
 *
 *   range              dbip (country_code)   geolite2 (GeoIP2, registered)   ipinfo (IPinfo Lite)
 *   198.51.100.0/25    DE                    DE (DE)                         DE
 *   203.0.113.0/25     CN                    HK (registered CN)              CN
 *   203.0.113.128/25   RU                    RU (CY)                         RU
 *   192.0.2.0/25       US                    -                               -
 *   2001:db8:c0::/48   CN                    HK (CN)                         HK
 *
 * ASNs as in fixture-geo.ts (64500 DE cloud, 64510 CN telemetry, 64511 RU analytics, 64496 US).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type MmdbValue, MmdbWriter } from '../../src/geo/mmdb-writer';

export const DBIP_BUILD_EPOCH = 1_700_000_000; // 2023-11-14
export const GEOLITE2_BUILD_EPOCH = 1_710_000_000; // 2024-03-09
export const IPINFO_BUILD_EPOCH = 1_720_000_000; // 2024-07-03

interface Row {
  cidr: string;
  dbip: string | null;
  geolite2: { country: string; registered: string } | null;
  ipinfo: string | null;
  asn: number;
  asOrg: string;
}

export const DISAGREEING_ROWS: readonly Row[] = [
  { cidr: '198.51.100.0/25', dbip: 'DE', geolite2: { country: 'DE', registered: 'DE' }, ipinfo: 'DE', asn: 64500, asOrg: 'Example Cloud GmbH' },
  { cidr: '203.0.113.0/25', dbip: 'CN', geolite2: { country: 'HK', registered: 'CN' }, ipinfo: 'CN', asn: 64510, asOrg: 'Example Telemetry Co' },
  { cidr: '203.0.113.128/25', dbip: 'RU', geolite2: { country: 'RU', registered: 'CY' }, ipinfo: 'RU', asn: 64511, asOrg: 'Example Analytics LLC' },
  { cidr: '192.0.2.0/25', dbip: 'US', geolite2: null, ipinfo: null, asn: 64496, asOrg: 'Example US Hosting' },
  { cidr: '2001:db8:c0::/48', dbip: 'CN', geolite2: { country: 'HK', registered: 'CN' }, ipinfo: 'HK', asn: 64510, asOrg: 'Example Telemetry Co' },
];

export interface DisagreeingGeo {
  dbip: { country: string; asn: string };
  geolite2: { country: string; asn: string };
  /** Country and ASN in one file. */
  ipinfo: { country: string };
}

function write(path: string, databaseType: string, buildEpoch: number, rows: Array<[string, MmdbValue]>): string {
  const w = new MmdbWriter({ databaseType, description: { en: `Geowarden disagreement fixture (${databaseType})` }, languages: ['en'], buildEpoch });
  for (const [cidr, record] of rows) w.insertCidr(cidr, record);
  w.writeFile(path);
  return path;
}

const iso = (code: string): MmdbValue => ({ iso_code: code });

export function buildDisagreeingGeo(dir: string): DisagreeingGeo {
  mkdirSync(dir, { recursive: true });
  const asnRows = DISAGREEING_ROWS.map((r): [string, MmdbValue] => [r.cidr, { autonomous_system_number: r.asn, autonomous_system_organization: r.asOrg }]);
  return {
    dbip: {
      country: write(
        join(dir, 'dbip-country-lite.mmdb'),
        'DBIP-Country-Lite',
        DBIP_BUILD_EPOCH,
        DISAGREEING_ROWS.filter((r) => r.dbip).map((r) => [r.cidr, { country_code: r.dbip! }]),
      ),
      asn: write(join(dir, 'dbip-asn-lite.mmdb'), 'DBIP-ASN-Lite (compat=GeoLite2-ASN)', DBIP_BUILD_EPOCH, asnRows),
    },
    geolite2: {
      country: write(
        join(dir, 'GeoLite2-Country.mmdb'),
        'GeoLite2-Country',
        GEOLITE2_BUILD_EPOCH,
        DISAGREEING_ROWS.filter((r) => r.geolite2).map((r) => [r.cidr, { country: iso(r.geolite2!.country), registered_country: iso(r.geolite2!.registered) }]),
      ),
      asn: write(join(dir, 'GeoLite2-ASN.mmdb'), 'GeoLite2-ASN', GEOLITE2_BUILD_EPOCH, asnRows),
    },
    ipinfo: {
      country: write(
        join(dir, 'ipinfo_lite.mmdb'),
        'ipinfo ipinfo_lite.mmdb',
        IPINFO_BUILD_EPOCH,
        DISAGREEING_ROWS.filter((r) => r.ipinfo).map((r) => [r.cidr, { country_code: r.ipinfo!, asn: `AS${r.asn}`, as_name: r.asOrg }]),
      ),
    },
  };
}
