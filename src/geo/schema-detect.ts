/**
 * Recognizes which record layout an MMDB uses by looking at its records, because file names and
 * even metadata `database_type` are whatever the producer chose (ip-location-db writes
 * "country ipvAll"; a renamed GeoLite2 file is still GeoLite2).
 */
import type { Reader, Response } from 'maxmind';
import { formatV4, formatV6 } from '../net/address';

/**
 * - `geoip2`: GeoIP2/GeoLite2 Country and City, DB-IP's own Lite MMDBs (`country.iso_code`, `registered_country.iso_code`)
 * - `geolite2-asn`: GeoLite2-ASN, DB-IP ASN Lite, ip-location-db asn, geoip/asn.mmdb (`autonomous_system_number`/`_organization`)
 * - `country-code`: ip-location-db country databases such as the bundled DB-IP Lite (`country_code`)
 * - `ipinfo-lite`: IPinfo Lite (`country_code`, `asn` as "AS123", `as_name`)
 */
export type GeoSchema = 'geoip2' | 'geolite2-asn' | 'country-code' | 'ipinfo-lite';

export const SCHEMA_PROVIDES: Readonly<Record<GeoSchema, { country: boolean; asn: boolean }>> = {
  geoip2: { country: true, asn: false },
  'geolite2-asn': { country: false, asn: true },
  'country-code': { country: true, asn: false },
  'ipinfo-lite': { country: true, asn: true },
};

/** What one database says about one address; fields it does not carry are null. */
export interface GeoFields {
  country: string | null;
  registeredCountry: string | null;
  asn: number | null;
  asOrg: string | null;
}

export interface SchemaDetection {
  schema: GeoSchema;
  /** Records that matched the schema; 0 means only the metadata hint was available. */
  matchingSamples: number;
  sampledRecords: number;
}

/** Addresses populated in every complete database (Cloudflare, Google, Quad9 resolvers). */
const PROBE_ADDRESSES_V4 = ['1.1.1.1', '8.8.8.8', '9.9.9.9'];
const PROBE_ADDRESSES_V6 = ['2001:4860:4860::8888', '2606:4700:4700::1111'];
/** Bounds the tree walk that finds records in databases without the probe addresses (fixtures, partial extracts). */
const WALK_NODE_BUDGET = 20_000;
const WALK_RECORDS_PER_DIRECTION = 4;

type Fields = Record<string, unknown>;

function asFields(value: unknown): Fields | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/** Interned country codes; bounded by what callers pass (two letters from records, config entries). */
const COUNTRY_CODES = new Map<string, string>();

/**
 * One string object per code, whichever record or config entry it came from: sinks and the policy
 * look countries up in maps for every flow, and a key that is the very same object compares
 * without reading either string.
 */
export function internCountryCode(code: string): string {
  const known = COUNTRY_CODES.get(code);
  if (known !== undefined) return known;
  COUNTRY_CODES.set(code, code);
  return code;
}

/** ISO 3166-1 alpha-2, upper case; "ZZ" is DB-IP's "unknown", so it is reported as unknown. */
export function normalizeCountry(value: unknown): string | null {
  if (typeof value !== 'string' || !/^[A-Za-z]{2}$/.test(value)) return null;
  const code = value.toUpperCase();
  return code === 'ZZ' ? null : internCountryCode(code);
}

function isoCode(value: unknown): string | null {
  return normalizeCountry(asFields(value)?.['iso_code']);
}

function asNumber(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'bigint' && value >= 0n && value <= 0xffffffffn) return Number(value);
  return null;
}

/** The schema a single record belongs to, or null when it fits none. */
export function classifyRecord(record: unknown): GeoSchema | null {
  const f = asFields(record);
  if (!f) return null;
  if (asNumber(f['autonomous_system_number']) !== null) return 'geolite2-asn';
  if (asFields(f['country'])?.['iso_code'] !== undefined || asFields(f['registered_country'])?.['iso_code'] !== undefined) return 'geoip2';
  if (typeof f['country_code'] === 'string') return 'asn' in f || 'as_name' in f ? 'ipinfo-lite' : 'country-code';
  return null;
}

/** Only a hint: used when no record could be sampled, never to overrule the records. */
export function schemaFromDatabaseType(databaseType: string): GeoSchema | null {
  if (/ipinfo/i.test(databaseType)) return 'ipinfo-lite';
  if (/\basn\b|-ASN/i.test(databaseType)) return 'geolite2-asn';
  if (/^(GeoIP2|GeoLite2|DBIP)-(Country|City|Enterprise)/i.test(databaseType)) return 'geoip2';
  if (/^country\b/i.test(databaseType)) return 'country-code';
  return null;
}

export function extractFields(schema: GeoSchema, record: unknown): GeoFields {
  const f = asFields(record) ?? {};
  switch (schema) {
    case 'geoip2':
      return { country: isoCode(f['country']), registeredCountry: isoCode(f['registered_country']), asn: null, asOrg: null };
    case 'geolite2-asn':
      return { country: null, registeredCountry: null, asn: asNumber(f['autonomous_system_number']), asOrg: text(f['autonomous_system_organization']) };
    case 'country-code':
      return { country: normalizeCountry(f['country_code']), registeredCountry: null, asn: null, asOrg: null };
    case 'ipinfo-lite': {
      const m = typeof f['asn'] === 'string' ? /^AS(\d+)$/i.exec(f['asn']) : null;
      return { country: normalizeCountry(f['country_code']), registeredCountry: null, asn: m ? Number(m[1]) : null, asOrg: text(f['as_name']) };
    }
  }
}

/** One record of the search tree ("Node Layout" in the MaxMind DB spec). */
function readRecord(db: Buffer, recordSize: number, node: number, right: boolean): number {
  const offset = node * (recordSize / 4);
  switch (recordSize) {
    case 24:
      return db.readUIntBE(offset + (right ? 3 : 0), 3);
    case 28:
      return right
        ? (db[offset + 3]! & 0x0f) * 0x1000000 + db.readUIntBE(offset + 4, 3)
        : (db[offset + 3]! >>> 4) * 0x1000000 + db.readUIntBE(offset, 3);
    default:
      return db.readUInt32BE(offset + (right ? 4 : 0));
  }
}

/**
 * Addresses of the first networks with data, walking the tree depth-first from the low end and
 * from the high end. Walking the tree directly is the only way to find records when none of the
 * probe addresses is populated; the reader has no iteration API.
 */
export function sampleAddresses(db: Buffer, reader: Reader<Response>): string[] {
  const { nodeCount, recordSize, ipVersion } = reader.metadata;
  const bits = ipVersion === 4 ? 32 : 128;
  const firstBit = ipVersion === 4 ? 96 : 0;
  const found: string[] = [];
  for (const highFirst of [false, true]) {
    let budget = WALK_NODE_BUDGET;
    let collected = 0;
    // node === -1 marks a network whose record points at data.
    const stack: { node: number; depth: number; words: Uint32Array }[] = [{ node: 0, depth: 0, words: new Uint32Array(4) }];
    while (stack.length > 0 && budget > 0 && collected < WALK_RECORDS_PER_DIRECTION) {
      const { node, depth, words } = stack.pop()!;
      if (node === -1) {
        found.push(ipVersion === 4 ? formatV4(words[3]!) : formatV6(words));
        collected++;
        continue;
      }
      budget--;
      // The side to visit first is pushed last.
      for (const right of highFirst ? [false, true] : [true, false]) {
        const value = readRecord(db, recordSize, node, right);
        if (value === nodeCount || (value < nodeCount && depth + 1 >= bits)) continue;
        const child = Uint32Array.from(words);
        const bit = firstBit + depth;
        if (right) child[bit >>> 5] = (child[bit >>> 5]! | (1 << (31 - (bit & 31)))) >>> 0;
        stack.push({ node: value > nodeCount ? -1 : value, depth: depth + 1, words: child });
      }
    }
  }
  return found;
}

/** Decides the schema from sampled records; the metadata hint only fills in when nothing could be sampled. */
export function detectSchema(db: Buffer, reader: Reader<Response>): SchemaDetection | null {
  const ipv6 = reader.metadata.ipVersion === 6;
  const addresses = [...PROBE_ADDRESSES_V4, ...(ipv6 ? PROBE_ADDRESSES_V6 : []), ...sampleAddresses(db, reader)];
  const votes = new Map<GeoSchema, number>();
  let sampled = 0;
  for (const address of addresses) {
    const record: unknown = reader.get(address);
    if (record === null || record === undefined) continue;
    sampled++;
    const schema = classifyRecord(record);
    if (schema) votes.set(schema, (votes.get(schema) ?? 0) + 1);
  }
  // IPinfo Lite leaves the AS fields out for unannounced blocks, which then look like plain
  // country_code records; one record with AS fields settles it.
  if (votes.has('ipinfo-lite') && votes.has('country-code')) {
    votes.set('ipinfo-lite', votes.get('ipinfo-lite')! + votes.get('country-code')!);
    votes.delete('country-code');
  }
  let best: GeoSchema | null = null;
  let bestVotes = 0;
  for (const [schema, count] of votes) {
    if (count > bestVotes) {
      best = schema;
      bestVotes = count;
    }
  }
  if (best) return { schema: best, matchingSamples: bestVotes, sampledRecords: sampled };
  if (sampled > 0) return null;
  const hint = schemaFromDatabaseType(reader.metadata.databaseType);
  return hint ? { schema: hint, matchingSamples: 0, sampledRecords: 0 } : null;
}
