/** What the geo stage knows about one remote address. */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2 code of where the address is located, or null when unknown. */
  country: string | null;
  /** Country where the address block is registered (GeoIP2 `registered_country`), when the database has it. */
  registeredCountry: string | null;
  asn: number | null;
  asOrg: string | null;
  /** True for addresses that are never foreign: private, loopback, link-local, CGNAT, multicast, broadcast. */
  special: boolean;
}

/** Looks up remote addresses. Implementations cache; callers look up once per new remote address. */
export interface GeoLookup {
  lookup(ip: string): GeoInfo;
}
