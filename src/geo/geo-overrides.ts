/**
 * Admin overrides (`geoip.overrides`): a CIDR block or an AS placed in a country by hand, because
 * the admin knows better than the databases (a corporate VPN exit, a CDN edge whose location was
 * checked). They are applied before any database: a CIDR match first, the longest prefix winning,
 * then an ASN match.
 */
import type { GeoOverrideConfig } from '../config/types';
import { parseCidr, cidrContains, type Cidr, type Words } from '../net/address';
import type { GeoOverrideMatch } from './types';

interface CidrOverride {
  cidr: Cidr;
  match: GeoOverrideMatch;
}

export class GeoOverrides {
  /** Longest prefix first, so the first containing block is the most specific one. */
  private readonly cidrs: CidrOverride[];
  private readonly asns: Map<number, GeoOverrideMatch>;

  private constructor(cidrs: CidrOverride[], asns: Map<number, GeoOverrideMatch>) {
    this.cidrs = cidrs;
    this.asns = asns;
  }

  /** Throws an Error naming an entry that is not valid (a validated config never has one). */
  static fromConfig(entries: readonly GeoOverrideConfig[]): GeoOverrides {
    const cidrs: CidrOverride[] = [];
    const asns = new Map<number, GeoOverrideMatch>();
    for (const e of entries) {
      if (e.cidr !== null) {
        const cidr = parseCidr(e.cidr);
        if (!cidr) throw new Error(`geoip.overrides: "${e.cidr}" is not a CIDR block`);
        cidrs.push({ cidr, match: Object.freeze({ match: `cidr ${e.cidr}`, country: e.country, note: e.note }) });
      } else if (e.asn !== null && !asns.has(e.asn)) {
        asns.set(e.asn, Object.freeze({ match: `asn ${e.asn}`, country: e.country, note: e.note }));
      }
    }
    // Stable sort: equal prefixes keep the config order, so the first listed wins.
    cidrs.sort((a, b) => b.cidr.prefix128 - a.cidr.prefix128);
    return new GeoOverrides(cidrs, asns);
  }

  get size(): number {
    return this.cidrs.length + this.asns.size;
  }

  get hasAsns(): boolean {
    return this.asns.size > 0;
  }

  byAddress(words: Words): GeoOverrideMatch | null {
    for (const o of this.cidrs) if (cidrContains(o.cidr, words)) return o.match;
    return null;
  }

  byAsn(asn: number | null): GeoOverrideMatch | null {
    return asn === null ? null : (this.asns.get(asn) ?? null);
  }
}
