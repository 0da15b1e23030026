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

/** Which database a downloaded file replaces; the same two roles as geoip.country and geoip.asn. */
export type GeoipRole = 'country' | 'asn';

/** A secret written in the config, or a file read at each download so a rotated key needs no restart. */
export type SecretSource = { value: string } | { file: string };

/** Where one database is downloaded from. `baseUrl` null: the provider's public address. */
export type GeoipSourceConfig =
  | { role: GeoipRole; kind: 'maxmind'; editionId: string; accountId: string; licenseKey: SecretSource; baseUrl: string | null }
  | { role: GeoipRole; kind: 'dbip'; baseUrl: string | null }
  | { role: GeoipRole; kind: 'ipinfo'; token: SecretSource; baseUrl: string | null }
  /** `url` may contain {yyyy} and {mm}, filled with the current UTC year and month. */
  | { role: GeoipRole; kind: 'url'; url: string };

export interface GeoipUpdateConfig {
  /** Five-field cron expression, local time. */
  schedule: string;
  /** Downloaded databases live here as country.mmdb and asn.mmdb; temp files are written here too. */
  directory: string;
  /** At most one per role. Empty: nothing is downloaded, only the configured files are watched. */
  sources: GeoipSourceConfig[];
  /** Reload geoip.country / geoip.asn when another program (geoipupdate) replaces them. */
  watchFiles: boolean;
  /** Whole download, first byte to last. */
  timeoutS: number;
  /** Largest download and largest unpacked database accepted. */
  maxSizeBytes: number;
}

export interface GeoipConfig {
  /** Path of the country MMDB; null means the bundled DB-IP Lite country database. */
  country: string | null;
  /** Path of the ASN MMDB; null means geoip/asn.mmdb built from the bundled CSV. */
  asn: string | null;
  cacheSize: number;
  /** Scheduled downloads and file watching; null (the key absent) turns both off. */
  update: GeoipUpdateConfig | null;
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

/** Where the daemon's HTTP endpoints listen (`geowarden run`). */
export interface ServerConfig {
  /** `host:port`, `[v6]:port` or `:port` (every address); port 0 picks a free port. */
  listen: string;
  /** Prometheus exporter-toolkit web config (TLS, basic auth); null serves plain HTTP without auth. */
  webConfigFile: string | null;
}

/** The account `geowarden run` switches to once the capture is open, when started as root. */
export interface DaemonConfig {
  /** User name or numeric uid; null stays as started. */
  user: string | null;
  /** Group name or numeric gid; null takes the user's primary group. */
  group: string | null;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LogConfig {
  level: LogLevel;
}

export interface MetricsConfig {
  /** Series per metric with an unbounded label (device, ASN, domain) before values fold into `other`. */
  cardinalityLimit: number;
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
  server: ServerConfig;
  daemon: DaemonConfig;
  log: LogConfig;
  metrics: MetricsConfig;
}
