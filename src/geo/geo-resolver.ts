/**
 * The geo stage: address → country, registered country, ASN and AS organization, from one or
 * several named MMDB sets whose layout is recognized from their records. Every country database
 * answers for every address (`GeoInfo.sources`), so a verdict can say which database placed the
 * remote where; the primary one's answer is `GeoInfo.country`. Admin overrides come first, and
 * addresses of anycast/CDN networks are flagged.
 */
import { basename } from 'node:path';
import type { GeoipConfig, GeoOverrideConfig } from '../config/types';
import { CidrSet, NEVER_FOREIGN_NETWORKS, formatV4, isV4Mapped, parseAddress, parseV4, setV4 } from '../net/address';
import { type AnycastAsns, loadAnycastAsns } from './anycast-asns';
import { defaultAsnDbPath, defaultCountryDbPath } from './default-paths';
import { GeoDatabase, GeoRole } from './geo-database';
import { GeoOverrides } from './geo-overrides';
import { CacheStats, LookupCache } from './lookup-cache';
import type { GeoFields, GeoSchema } from './schema-detect';
import type { GeoInfo, GeoLookup, GeoOverrideMatch, GeoSourceAnswer } from './types';

export { GeoDatabaseError } from './geo-database';
export type { GeoRole } from './geo-database';
export type { CacheStats } from './lookup-cache';
export type { GeoSchema } from './schema-detect';

/** One named set: a country file, an ASN file, or both (`geoip.databases[]`). */
export interface GeoDatabaseSpec {
  name: string;
  countryDbPath: string | null;
  asnDbPath: string | null;
}

export interface GeoResolverOptions {
  /** Null: the bundled DB-IP Lite country database. Ignored when `databases` is non-empty. */
  countryDbPath: string | null;
  /** Null: geoip/asn.mmdb, or nothing when the country database carries ASNs (IPinfo Lite). */
  asnDbPath: string | null;
  /** Addresses remembered; 0 disables the cache. */
  cacheSize: number;
  /** Several named sets instead of countryDbPath/asnDbPath. */
  databases?: readonly GeoDatabaseSpec[];
  /** Name of the set whose answer is `GeoInfo.country`; null: the first with a country file. */
  primary?: string | null;
  overrides?: readonly GeoOverrideConfig[];
  /** Null: no address is flagged anycast. */
  anycast?: AnycastAsns | null;
}

/** One opened database, for metrics and the report. */
export interface GeoDatabaseInfo {
  /** Name of the set it belongs to (`geoip.databases[].name`, or the country file's name). */
  name: string;
  role: GeoRole;
  path: string;
  databaseType: string;
  schema: GeoSchema;
  /** Unix seconds from the database metadata. */
  buildEpoch: number;
}

/** A named set as opened. */
interface NamedSet {
  name: string;
  country: GeoDatabase | null;
  /** Where this set's ASNs come from, in order: its ASN file, then its country file if that carries ASNs. */
  asnSources: GeoDatabase[];
  primary: boolean;
}

/** Reused by resolve() for dotted quads; never escapes it. */
const SCRATCH = new Uint32Array(4);
const SPECIAL_NETWORKS = CidrSet.parse([...NEVER_FOREIGN_NETWORKS]);
const NO_SOURCES: readonly GeoSourceAnswer[] = Object.freeze([]);

const SPECIAL: GeoInfo = Object.freeze({
  country: null,
  registeredCountry: null,
  asn: null,
  asOrg: null,
  special: true,
  sources: NO_SOURCES,
  override: null,
  anycast: false,
});
const UNKNOWN: GeoInfo = Object.freeze({ ...SPECIAL, special: false });

/** `dbip-country.mmdb` → `dbip-country`: the name of the one database of the single-file form. */
export function databaseNameFromPath(path: string): string {
  return basename(path).replace(/\.mmdb$/i, '') || path;
}

export class GeoResolver implements GeoLookup {
  private readonly cache: LookupCache<GeoInfo, number | string>;
  /** Sets with a country file, in config order: the order of `GeoInfo.sources`. */
  private readonly countrySets: NamedSet[];
  private readonly primary: NamedSet;
  /** ASN lookups in order: the primary set's sources, the other sets', then the bundled fallback. */
  private readonly asnChain: GeoDatabase[];
  private readonly overrides: GeoOverrides;
  private readonly anycast: ReadonlyMap<number, string> | null;

  private constructor(
    private readonly sets: NamedSet[],
    fallbackAsn: GeoDatabase | null,
    overrides: GeoOverrides,
    anycast: AnycastAsns | null,
    cacheSize: number,
  ) {
    this.cache = new LookupCache<GeoInfo, number | string>(cacheSize);
    this.countrySets = sets.filter((s) => s.country !== null);
    this.primary = this.countrySets.find((s) => s.primary) ?? this.countrySets[0]!;
    const ordered = [this.primary, ...sets.filter((s) => s !== this.primary)];
    this.asnChain = [...new Set(ordered.flatMap((s) => s.asnSources))];
    if (fallbackAsn) this.asnChain.push(fallbackAsn);
    this.overrides = overrides;
    this.anycast = anycast ? anycast.asns : null;
  }

  /** Opens and checks the databases synchronously; throws GeoDatabaseError when one is unusable. */
  static open(options: GeoResolverOptions): GeoResolver {
    const overrides = GeoOverrides.fromConfig(options.overrides ?? []);
    const anycast = options.anycast ?? null;
    const specs = options.databases ?? [];
    if (specs.length === 0) {
      const countryPath = options.countryDbPath ?? defaultCountryDbPath();
      const countryDb = GeoDatabase.open('country', countryPath, options.countryDbPath === null);
      let asnDb: GeoDatabase | null = null;
      if (options.asnDbPath !== null) asnDb = GeoDatabase.open('asn', options.asnDbPath, false);
      else if (!countryDb.providesAsn) asnDb = GeoDatabase.open('asn', defaultAsnDbPath(), true);
      const set: NamedSet = {
        name: databaseNameFromPath(countryPath),
        country: countryDb,
        asnSources: [...(asnDb ? [asnDb] : []), ...(countryDb.providesAsn ? [countryDb] : [])],
        primary: true,
      };
      return new GeoResolver([set], null, overrides, anycast, options.cacheSize);
    }
    const primaryName = options.primary ?? specs.find((s) => s.countryDbPath !== null)?.name ?? null;
    const sets = specs.map((spec, i): NamedSet => {
      const at = `geoip.databases[${i}]`;
      const country = spec.countryDbPath !== null ? GeoDatabase.open('country', spec.countryDbPath, false, `${at}.country`) : null;
      const asn = spec.asnDbPath !== null ? GeoDatabase.open('asn', spec.asnDbPath, false, `${at}.asn`) : null;
      return {
        name: spec.name,
        country,
        asnSources: [...(asn ? [asn] : []), ...(country?.providesAsn ? [country] : [])],
        primary: spec.name === primaryName && country !== null,
      };
    });
    if (!sets.some((s) => s.country !== null)) {
      // The config schema refuses this; a programmatic caller gets a plain error.
      throw new Error('geoip.databases: no entry has a country database');
    }
    const fallbackAsn = sets.some((s) => s.asnSources.length > 0) ? null : GeoDatabase.open('asn', defaultAsnDbPath(), true);
    return new GeoResolver(sets, fallbackAsn, overrides, anycast, options.cacheSize);
  }

  /** Opens what `geoip` names, with the anycast list it points at; throws GeoDatabaseError or ConfigError. */
  static fromConfig(geoip: GeoipConfig): GeoResolver {
    return GeoResolver.open({
      countryDbPath: geoip.country,
      asnDbPath: geoip.asn,
      cacheSize: geoip.cacheSize,
      databases: (geoip.databases ?? []).map((d) => ({ name: d.name, countryDbPath: d.country, asnDbPath: d.asn })),
      primary: geoip.primary ?? null,
      overrides: geoip.overrides ?? [],
      anycast: loadAnycastAsns(geoip.anycastAsnsFile ?? null),
    });
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
    const v4 = plainV4 !== null ? ip : isV4Mapped(words) ? formatV4(words[3]!) : null;
    let override: GeoOverrideMatch | null = this.overrides.size > 0 ? this.overrides.byAddress(words) : null;

    // An IPinfo Lite file serves as country and ASN source: read each file once per address.
    const read = new Map<GeoDatabase, GeoFields | null>();
    const fieldsOf = (db: GeoDatabase): GeoFields | null => {
      let f = read.get(db);
      if (f === undefined) {
        f = db.fields(v4, ip);
        read.set(db, f);
      }
      return f;
    };

    const sources: GeoSourceAnswer[] = [];
    let primary: GeoFields | null = null;
    for (const set of this.countrySets) {
      const located = fieldsOf(set.country!);
      if (set === this.primary) primary = located;
      sources.push(
        Object.freeze({
          database: set.name,
          country: located?.country ?? null,
          registeredCountry: located?.registeredCountry ?? null,
          buildEpoch: set.country!.buildEpoch,
          primary: set === this.primary,
        }),
      );
    }

    let asn: number | null = null;
    let asOrg: string | null = null;
    for (const db of this.asnChain) {
      const routed = fieldsOf(db);
      if (routed && routed.asn !== null) {
        asn = routed.asn;
        asOrg = routed.asOrg;
        break;
      }
    }
    if (override === null && this.overrides.hasAsns) override = this.overrides.byAsn(asn);

    return Object.freeze({
      country: override?.country ?? primary?.country ?? null,
      registeredCountry: primary?.registeredCountry ?? null,
      asn,
      asOrg,
      special: false,
      sources: Object.freeze(sources),
      override,
      anycast: asn !== null && this.anycast !== null && this.anycast.has(asn),
    });
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  /** Every opened file once, in config order (a file serving as country and ASN source is listed as country). */
  databases(): GeoDatabaseInfo[] {
    const seen = new Set<GeoDatabase>();
    const out: GeoDatabaseInfo[] = [];
    const add = (name: string, db: GeoDatabase | null): void => {
      if (db === null || seen.has(db)) return;
      seen.add(db);
      out.push({ name, role: db.role, path: db.path, databaseType: db.databaseType, schema: db.schema, buildEpoch: db.buildEpoch });
    };
    for (const set of this.sets) {
      add(set.name, set.country);
      for (const db of set.asnSources) add(set.name, db);
    }
    for (const db of this.asnChain) add(this.primary.name, db);
    return out;
  }
}
