/**
 * The geo stage: address → country, registered country, ASN and AS organization, from one or
 * two MMDB files whose layout is recognized from their records.
 */
import type { GeoipConfig } from '../config/types';
import { CidrSet, NEVER_FOREIGN_NETWORKS, formatV4, isV4Mapped, parseAddress, parseV4, setV4 } from '../net/address';
import { defaultAsnDbPath, defaultCountryDbPath } from './default-paths';
import { GeoDatabase, GeoRole } from './geo-database';
import { CacheStats, LookupCache } from './lookup-cache';
import type { GeoSchema } from './schema-detect';
import type { GeoInfo, GeoLookup } from './types';

export { GeoDatabaseError } from './geo-database';
export type { GeoRole } from './geo-database';
export type { CacheStats } from './lookup-cache';
export type { GeoSchema } from './schema-detect';

export interface GeoResolverOptions {
  /** Null: the bundled DB-IP Lite country database. */
  countryDbPath: string | null;
  /** Null: geoip/asn.mmdb, or nothing when the country database carries ASNs (IPinfo Lite). */
  asnDbPath: string | null;
  /** Addresses remembered; 0 disables the cache. */
  cacheSize: number;
}

/** One opened database, for metrics and the report. */
export interface GeoDatabaseInfo {
  role: GeoRole;
  path: string;
  databaseType: string;
  schema: GeoSchema;
  /** Unix seconds from the database metadata. */
  buildEpoch: number;
}

/** Reused by resolve() for dotted quads; never escapes it. */
const SCRATCH = new Uint32Array(4);
const SPECIAL_NETWORKS = CidrSet.parse([...NEVER_FOREIGN_NETWORKS]);

const SPECIAL: GeoInfo = Object.freeze({ country: null, registeredCountry: null, asn: null, asOrg: null, special: true });
const UNKNOWN: GeoInfo = Object.freeze({ country: null, registeredCountry: null, asn: null, asOrg: null, special: false });

export class GeoResolver implements GeoLookup {
  private readonly cache: LookupCache<GeoInfo, number | string>;

  private constructor(
    private readonly countryDb: GeoDatabase,
    private readonly asnDb: GeoDatabase | null,
    cacheSize: number,
  ) {
    this.cache = new LookupCache<GeoInfo, number | string>(cacheSize);
  }

  /** Opens and checks the databases synchronously; throws GeoDatabaseError when one is unusable. */
  static open(options: GeoResolverOptions): GeoResolver {
    const countryDb = GeoDatabase.open('country', options.countryDbPath ?? defaultCountryDbPath(), options.countryDbPath === null);
    let asnDb: GeoDatabase | null = null;
    if (options.asnDbPath !== null) asnDb = GeoDatabase.open('asn', options.asnDbPath, false);
    else if (!countryDb.providesAsn) asnDb = GeoDatabase.open('asn', defaultAsnDbPath(), true);
    return new GeoResolver(countryDb, asnDb, options.cacheSize);
  }

  static fromConfig(geoip: GeoipConfig): GeoResolver {
    return GeoResolver.open({ countryDbPath: geoip.country, asnDbPath: geoip.asn, cacheSize: geoip.cacheSize });
  }

  /** Results are frozen and shared between callers. Text that is not an address yields all-null. */
  lookup(ip: string): GeoInfo {
    // IPv4 keys as numbers: hashing fresh address strings dominated the cache's cost.
    const key = ip.indexOf(':') < 0 ? (parseV4(ip) ?? ip) : ip;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const info = this.resolve(ip);
    this.cache.set(key, info);
    return info;
  }

  private resolve(ip: string): GeoInfo {
    // Dotted quads (most lookups) skip the general parser and keep their text for the reader.
    const plainV4 = ip.indexOf(':') < 0 ? parseV4(ip) : null;
    let words: Uint32Array | null;
    if (plainV4 !== null) {
      words = SCRATCH;
      setV4(words, plainV4);
    } else {
      words = parseAddress(ip);
    }
    if (!words) return UNKNOWN;
    if (SPECIAL_NETWORKS.contains(words)) return SPECIAL;
    const isV4 = plainV4 !== null || isV4Mapped(words);
    const text = plainV4 !== null ? ip : isV4 ? formatV4(words[3]!) : ip;
    const located = this.countryDb.fieldsForWords(words, isV4, text);
    let asn = located?.asn ?? null;
    let asOrg = located?.asOrg ?? null;
    if (this.asnDb) {
      const routed = this.asnDb.fieldsForWords(words, isV4, text);
      if (routed && routed.asn !== null) {
        asn = routed.asn;
        asOrg = routed.asOrg;
      }
    }
    return Object.freeze({
      country: located?.country ?? null,
      registeredCountry: located?.registeredCountry ?? null,
      asn,
      asOrg,
      special: false,
    });
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  databases(): GeoDatabaseInfo[] {
    return [this.countryDb, ...(this.asnDb ? [this.asnDb] : [])].map((db) => ({
      role: db.role,
      path: db.path,
      databaseType: db.databaseType,
      schema: db.schema,
      buildEpoch: db.buildEpoch,
    }));
  }
}
