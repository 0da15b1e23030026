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
import { MmdbSearchTree } from './mmdb-search-tree';
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

/**
 * Answers, one-answer `sources` lists and results shared between addresses, kept before starting
 * over: their keys are the databases' decoded records, which a database also stops sharing once
 * its record cache starts over.
 */
const SHARED_KEPT = 20_000;

/**
 * Results by what the files said about an address, one level per key: each country set's record,
 * then the record the ASN came from. Addresses outnumber distinct answers several times over.
 */
interface SharedResult {
  next: Map<GeoFields | null, SharedResult> | null;
  info: GeoInfo | null;
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
  /**
   * Per asnChain entry, the index in countrySets of the set whose country file it is (an IPinfo
   * Lite file serves as both), else -1: each file is read once per address.
   */
  private readonly asnFromCountry: number[];
  /** What each country set's file said about the address being resolved; reused by resolve(). */
  private readonly located: (GeoFields | null)[];
  /**
   * Trees walked together for an IPv4 address: every country file, then the first ASN source
   * unless it is one of them (the rest of the chain is asked only when it has no answer).
   */
  private readonly v4Trees: MmdbSearchTree[];
  /** The records those walks led to, in the same order; reused by resolve(). */
  private readonly v4Records: number[];
  /**
   * Per country set, its answer for each record it has given. Thousands of addresses share a
   * handful of records: sharing their answers (and, with one set, the `sources` list) keeps
   * what the policy and the report read for every flow in the CPU cache.
   */
  private readonly answers: Map<GeoFields | null, GeoSourceAnswer>[];
  /** With a single country set: the frozen `sources` list holding each of its answers. */
  private readonly soleSources = new Map<GeoSourceAnswer, readonly GeoSourceAnswer[]>();
  /**
   * One frozen result per combination of records, shared by every address that leads to it
   * (unless an override names the address): the result is read for every flow, and a few
   * thousand shared ones stay in the CPU cache where one per address would not.
   */
  private shared: SharedResult = { next: null, info: null };
  private sharedCount = 0;
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
    this.asnFromCountry = this.asnChain.map((db) => this.countrySets.findIndex((s) => s.country === db));
    this.located = this.countrySets.map(() => null);
    this.v4Trees = this.countrySets.map((s) => s.country!.searchTree);
    if (this.asnChain.length > 0 && this.asnFromCountry[0]! < 0) this.v4Trees.push(this.asnChain[0]!.searchTree);
    this.v4Records = this.v4Trees.map(() => 0);
    this.answers = this.countrySets.map(() => new Map());
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
    // IPv4 keys as numbers: hashing fresh address strings dominated the cache's cost. `| 0` keeps
    // them Smis (V8 boxes values of 2^31 and above as heap numbers, slower to hash and compare).
    const plainV4 = ip.indexOf(':') < 0 ? parseV4(ip) : null;
    const key = plainV4 !== null ? plainV4 | 0 : ip;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const info = this.resolve(ip, plainV4);
    this.cache.set(key, info);
    return info;
  }

  /** `plainV4`: the address when `ip` is a dotted quad, else null. */
  private resolve(ip: string, plainV4: number | null): GeoInfo {
    // Dotted quads (most lookups) skip the general parser.
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
    // The text the reference reader takes, for a record the fast path cannot decode.
    const text = plainV4 === null && isV4 ? formatV4(words[3]!) : ip;
    let override: GeoOverrideMatch | null = this.overrides.size > 0 ? this.overrides.byAddress(words) : null;

    if (isV4) MmdbSearchTree.findV4InEach(this.v4Trees, words[3]!, this.v4Records);
    const n = this.countrySets.length;
    let primary: GeoFields | null = null;
    for (let i = 0; i < n; i++) {
      const set = this.countrySets[i]!;
      const located = isV4 ? set.country!.fieldsForRecord(this.v4Records[i]!, true, text) : set.country!.fieldsForWords(words, false, text);
      this.located[i] = located;
      if (set === this.primary) primary = located;
    }

    let asnFrom: GeoFields | null = null;
    for (let i = 0; i < this.asnChain.length; i++) {
      const shared = this.asnFromCountry[i]!;
      const db = this.asnChain[i]!;
      let routed: GeoFields | null | undefined;
      if (shared >= 0) routed = this.located[shared];
      else if (i === 0 && isV4) routed = db.fieldsForRecord(this.v4Records[n]!, true, text);
      else routed = db.fieldsForWords(words, isV4, text);
      if (routed && routed.asn !== null) {
        asnFrom = routed;
        break;
      }
    }

    // Without an override for the address, the result follows from the records alone.
    let node: SharedResult | null = null;
    if (override === null) {
      node = this.shared;
      for (let i = 0; i <= n; i++) {
        const key = i < n ? (this.located[i] ?? null) : asnFrom;
        node.next ??= new Map();
        let child = node.next.get(key);
        if (child === undefined) {
          child = { next: null, info: null };
          node.next.set(key, child);
        }
        node = child;
      }
      if (node.info !== null) return node.info;
    }

    const answered: GeoSourceAnswer[] = [];
    for (let i = 0; i < n; i++) answered.push(this.answerOf(i, this.located[i] ?? null));
    const sources = n === 1 ? this.soleSourcesOf(answered[0]!) : Object.freeze(answered);
    const asn = asnFrom?.asn ?? null;
    const asOrg = asnFrom?.asOrg ?? null;
    if (override === null && this.overrides.hasAsns) override = this.overrides.byAsn(asn);

    const info: GeoInfo = Object.freeze({
      country: override?.country ?? primary?.country ?? null,
      registeredCountry: primary?.registeredCountry ?? null,
      asn,
      asOrg,
      special: false,
      sources,
      override,
      anycast: asn !== null && this.anycast !== null && this.anycast.has(asn),
    });
    if (node !== null) {
      if (this.sharedCount >= SHARED_KEPT) {
        this.shared = { next: null, info: null };
        this.sharedCount = 0;
      } else {
        node.info = info;
        this.sharedCount++;
      }
    }
    return info;
  }

  /** Country set `i`'s answer from a record of its file: one frozen answer per record, whatever the address. */
  private answerOf(i: number, located: GeoFields | null): GeoSourceAnswer {
    const known = this.answers[i]!.get(located);
    if (known !== undefined) return known;
    const set = this.countrySets[i]!;
    const answer: GeoSourceAnswer = Object.freeze({
      database: set.name,
      country: located?.country ?? null,
      registeredCountry: located?.registeredCountry ?? null,
      buildEpoch: set.country!.buildEpoch,
      primary: set === this.primary,
    });
    if (this.answers[i]!.size >= SHARED_KEPT) {
      this.answers[i]!.clear();
      this.soleSources.clear();
    }
    this.answers[i]!.set(located, answer);
    return answer;
  }

  private soleSourcesOf(answer: GeoSourceAnswer): readonly GeoSourceAnswer[] {
    let sources = this.soleSources.get(answer);
    if (sources === undefined) {
      sources = Object.freeze([answer]);
      this.soleSources.set(answer, sources);
    }
    return sources;
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
