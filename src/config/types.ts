/**
 * The validated configuration every stage receives its slice of. Durations are in seconds,
 * sizes in bytes; the YAML accepts human forms ("5m", "32MiB") that the loader converts.
 */

export interface CaptureConfig {
  interfaces: string[];
  bpf: string;
  snaplen: number;
  bufferSizeBytes: number;
  promiscuous: boolean;
}

export interface FlowsConfig {
  maxFlows: number;
  tcpIdleTimeoutS: number;
  udpIdleTimeoutS: number;
  icmpIdleTimeoutS: number;
  activeTimeoutS: number;
}

export interface DnsConfig {
  /** Maximum addresses remembered with their names. */
  maxEntries: number;
  /** Kept past the TTL because clients keep using answers after it expires. */
  graceS: number;
  /** Answers with a TTL below this are kept at least this long (0-TTL answers are common behind CDNs). */
  minTtlS: number;
}

export interface InventoryEntry {
  mac: string | null;
  ip: string | null;
  name: string;
  group: string | null;
}

export interface DevicesConfig {
  maxDevices: number;
  inventory: InventoryEntry[];
}

export interface GeoipConfig {
  /** Path of the country MMDB; null means the bundled DB-IP Lite country database. */
  country: string | null;
  /** Path of the ASN MMDB; null means geoip/asn.mmdb built from the bundled CSV. */
  asn: string | null;
  cacheSize: number;
}

export type UnknownCountryVerdict = 'unknown' | 'violation' | 'allowed';

export interface ExceptionsConfig {
  /** Domain suffixes; a flow whose names, SNI or Host end with one is allowed. */
  domains: string[];
  asns: number[];
  cidrs: string[];
}

/** Deny-list or allow-list; exactly one of the two is non-null. Entries are ISO codes or jurisdiction group names. */
export interface CountryRules {
  denyCountries: string[] | null;
  allowCountries: string[] | null;
}

export interface DeviceGroupPolicy extends CountryRules {
  name: string;
  /** A device belongs to the group if any matcher matches: inventory group name, device IP in a CIDR, or MAC. */
  match: { inventoryGroups: string[]; cidrs: string[]; macs: string[] };
  exceptions: ExceptionsConfig;
}

export interface PolicyConfig {
  /** Path of the jurisdiction groups file; null means config/jurisdictions.yaml shipped with Geowarden. */
  jurisdictionsFile: string | null;
  unknownCountry: UnknownCountryVerdict;
  default: CountryRules;
  exceptions: ExceptionsConfig;
  groups: DeviceGroupPolicy[];
}

export interface Config {
  /** Where the config came from (for messages), or null for built-in defaults. */
  sourceFile: string | null;
  /** Name of this gateway in alerts and metrics. */
  instance: string;
  capture: CaptureConfig;
  /** Internal networks (CIDR text); devices live here. */
  internalNetworks: string[];
  flows: FlowsConfig;
  dns: DnsConfig;
  devices: DevicesConfig;
  geoip: GeoipConfig;
  policy: PolicyConfig;
}
