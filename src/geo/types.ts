/** One database's answer for one remote address (every configured country database answers). */
export interface GeoSourceAnswer {
  /** The database's name: `geoip.databases[].name`, or the file name without `.mmdb` for `geoip.country`. */
  database: string;
  /** Where the database locates the address (ISO 3166-1 alpha-2), or null when it has no answer. */
  country: string | null;
  /** Where the block is registered (GeoIP2 `registered_country`), when the database carries it. */
  registeredCountry: string | null;
  /** Build time from the database metadata, Unix seconds: says how old the answer is. */
  buildEpoch: number;
  /** The database whose answer is `GeoInfo.country` (`geoip.primary`, else the first). */
  primary: boolean;
}

/** An admin override (`geoip.overrides`) that placed the address, instead of the databases. */
export interface GeoOverrideMatch {
  /** What matched, for reasons: `cidr 192.0.2.0/24` or `asn 64500`. */
  match: string;
  country: string;
  note: string;
}

/** What the geo stage knows about one remote address. */
export interface GeoInfo {
  /**
   * ISO 3166-1 alpha-2 code of where the address is located, or null when unknown: the override's
   * country, else the primary database's answer. After the policy, sinks see the country the
   * verdict rests on (with `geoip.decision: any` a flow may be blamed on another database's answer).
   */
  country: string | null;
  /** Country where the address block is registered (GeoIP2 `registered_country`), when the database has it. */
  registeredCountry: string | null;
  asn: number | null;
  asOrg: string | null;
  /** True for addresses that are never foreign: private, loopback, link-local, CGNAT, multicast, broadcast. */
  special: boolean;
  /**
   * Every country database's answer, in configuration order (one entry with a single database;
   * empty for special addresses). Optional only so that hand-made values stay valid: the
   * GeoResolver always sets it.
   */
  sources?: readonly GeoSourceAnswer[];
  /** The override that placed the address, or null. Always set by the GeoResolver. */
  override?: GeoOverrideMatch | null;
  /** The remote's AS is in the anycast/CDN list (`geoip.anycast_asns_file`). Always set by the GeoResolver. */
  anycast?: boolean;
}

/** Looks up remote addresses. Implementations cache; callers look up once per new remote address. */
export interface GeoLookup {
  lookup(ip: string): GeoInfo;
}
