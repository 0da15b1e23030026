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
  /** Decrypt client QUIC Initials of new UDP flows for their SNI (RFC 9001 §5.2). Absent: true. */
  quic?: boolean;
}

export interface DnsConfig {
  /** Maximum addresses remembered with their names. */
  maxEntries: number;
  /** Kept past the TTL because clients keep using answers after it expires. */
  graceS: number;
  /** Answers with a TTL below this are kept at least this long (0-TTL answers are common behind CDNs). */
  minTtlS: number;
  /** List of DoH/DoT/DoQ resolvers; absent or null: config/doh-resolvers.yaml shipped with Geowarden. */
  encryptedResolversFile?: string | null;
  /** Unix socket to listen on for dnstap from the gateway's own resolver (`geowarden run`); absent: none. */
  dnstapSocket?: string | null;
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

/** One of several named databases (`geoip.databases[]`); at least one of the two paths is set. */
export interface GeoipDatabaseConfig {
  /** Shown in reports, JSON (`remote.geo_sources[].database`) and metric labels. */
  name: string;
  /** Country MMDB; null: this entry only contributes ASNs. */
  country: string | null;
  /** ASN MMDB; null: ASNs from the country file if it carries them (IPinfo Lite), else none from this entry. */
  asn: string | null;
}

/**
 * How the answers of several databases become a verdict: `any` database placing the remote in a
 * denied (or not allowed) country makes a violation, `all` of them must, a `majority` must, or
 * the `primary` one decides and the others are informational.
 */
export type GeoDecisionRule = 'any' | 'all' | 'majority' | 'primary';

/** An admin's placement of a CIDR block or an AS (`geoip.overrides[]`); exactly one of cidr and asn is set. */
export interface GeoOverrideConfig {
  cidr: string | null;
  asn: number | null;
  country: string;
  note: string;
}

export interface GeoipConfig {
  /** Path of the country MMDB; null means the bundled DB-IP Lite country database. */
  country: string | null;
  /** Path of the ASN MMDB; null means geoip/asn.mmdb built from the bundled CSV. */
  asn: string | null;
  cacheSize: number;
  /** Scheduled downloads and file watching; null (the key absent) turns both off. */
  update: GeoipUpdateConfig | null;
  // The keys below are set only when the file sets them; absent means the default named. That
  // keeps configs built by hand (tests, older callers) valid.
  /** Several named databases instead of `country`/`asn`; absent or empty: the one-database form. */
  databases?: GeoipDatabaseConfig[];
  /** Absent: `primary`. */
  decision?: GeoDecisionRule;
  /** Name of the primary database; absent or null: the first one with a country file. */
  primary?: string | null;
  /** Applied before the databases; CIDRs (longest prefix) before ASNs. Absent: none. */
  overrides?: GeoOverrideConfig[];
  /** Anycast/CDN AS list; absent or null: config/anycast-asns.yaml shipped with Geowarden. */
  anycastAsnsFile?: string | null;
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

/** `judge`: anycast remotes are judged by their country like any other; `anycast`: they get the verdict `anycast`. */
export type AnycastPolicy = 'judge' | 'anycast';

export interface PolicyConfig {
  /** Path of the jurisdiction groups file; null means config/jurisdictions.yaml shipped with Geowarden. */
  jurisdictionsFile: string | null;
  unknownCountry: UnknownCountryVerdict;
  /** Absent: `judge` (set only when the file sets it, like the newer geoip keys). */
  anycast?: AnycastPolicy;
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

/** IPFIX export of finished flows over UDP (RFC 7011), `export.ipfix`. */
export interface IpfixExportConfig {
  /** `host:port` or `[v6]:port` of the collector. */
  collector: string;
  /** RFC 7011 §3.1 Observation Domain ID in every message header. */
  observationDomainId: number;
  /** RFC 7011 §8.4: templates are sent again when this much time has passed since they were last sent... */
  templateRefreshS: number;
  /** ...or after this many messages without them. */
  templateRefreshPackets: number;
  /** Path MTU towards the collector; messages are at most this minus the IP and UDP headers. */
  mtu: number;
}

export interface ExportConfig {
  /** Null: no IPFIX export. */
  ipfix: IpfixExportConfig | null;
}

/** Alert severities, lowest first; a sink's min_severity drops the ones below it. */
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

/** What a violation is grouped by into one alert (alerts.group_by). */
export const ALERT_GROUP_FIELDS = ['device', 'device_group', 'country', 'asn', 'domain', 'policy'] as const;
export type AlertGroupField = (typeof ALERT_GROUP_FIELDS)[number];

export const ALERT_SINK_TYPES = ['webhook', 'slack', 'teams', 'mattermost', 'discord', 'alertmanager', 'console', 'jsonl'] as const;
export type AlertSinkType = (typeof ALERT_SINK_TYPES)[number];

/**
 * A secret read when the daemon starts: from an environment variable, a file (systemd
 * LoadCredential=, a Kubernetes secret mount) or, for URLs only, the config itself.
 */
export type SecretRef = { env: string } | { file: string } | { value: string };

export interface AlertSinkConfig {
  /** Letters, digits, _ . -; names the sink in metrics, the outbox and digest.sinks. */
  name: string;
  type: AlertSinkType;
  /** HTTP sinks: where to POST. Chat webhook URLs carry their own token, hence a SecretRef. */
  url: SecretRef | null;
  /** webhook: HMAC-SHA256 key for X-Geowarden-Signature; null sends no signature. */
  secret: SecretRef | null;
  /** webhook and alertmanager: extra request headers (e.g. Authorization for a proxy). */
  headers: Record<string, string>;
  /** jsonl: the file appended to. */
  path: string | null;
  minSeverity: AlertSeverity;
  /** Token bucket: `burst` messages at once, then one per interval; null: no limit. */
  rateLimit: { intervalS: number; burst: number } | null;
  /** Chat and console sinks: headline text with {{placeholders}}; null: the built-in one. */
  template: string | null;
  /** alertmanager: firing alerts are posted again this often (Alertmanager expects re-sends). */
  resendIntervalS: number;
}

/** First matching rule gives an alert its severity; every condition given must match. */
export interface AlertSeverityRule {
  severity: AlertSeverity;
  /** Policy names (policy.groups[].name or "default"). */
  policies: string[];
  /** ISO codes or jurisdiction group names. */
  countries: string[];
  /** Device groups (inventory group). */
  deviceGroups: string[];
  /** The alert's bytes up + down reach this. */
  minBytes: number;
}

/** Violations matching every field given are not alerted on until `untilMs` (they stay in the history). */
export interface AlertSilenceConfig {
  /** Device name, IP or MAC. */
  device: string | null;
  country: string | null;
  /** Domain suffix matched against names, SNI and Host, like policy exceptions. */
  domain: string | null;
  untilMs: number;
  comment: string;
}

export interface AlertDeliveryConfig {
  /** One HTTP request, connect to last byte. */
  timeoutS: number;
  /** Backoff: full jitter over initial * 2^attempt, capped at max. */
  retryInitialS: number;
  retryMaxS: number;
  /** A delivery still failing this long after its alert was written becomes a dead letter. */
  giveUpAfterS: number;
}

export interface AlertDigestConfig {
  /** Five-field cron expression, local time. */
  schedule: string;
  /** Names of alerts.sinks that receive it. */
  sinks: string[];
}

export interface AlertsConfig {
  /** SQLite file with the outbox, open alerts, silences set through the API, and the violation history. */
  database: string;
  /** Linked from every message and used as Alertmanager's generatorURL; null: no link. */
  dashboardUrl: string | null;
  groupBy: AlertGroupField[];
  /** Thresholds a group must reach before it alerts. */
  minBytes: number;
  minFlows: number;
  /** Minimum time between two messages about the same group (flapping is folded). */
  dedupWindowS: number;
  /** A still-firing alert is sent again this often. */
  renotifyIntervalS: number;
  /** Quiet time after which an alert resolves. */
  resolveAfterS: number;
  severity: AlertSeverity;
  severityRules: AlertSeverityRule[];
  silences: AlertSilenceConfig[];
  delivery: AlertDeliveryConfig;
  digest: AlertDigestConfig | null;
  sinks: AlertSinkConfig[];
}

export interface HistoryConfig {
  /** Violations (and delivered alerts) older than this are deleted. */
  retentionS: number;
  /** Five-field cron expression for the pruning, local time. */
  pruneSchedule: string;
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
  /** Alerting (`geowarden run`; `replay --alerts` uses the engine settings only); null: off. */
  alerts: AlertsConfig | null;
  history: HistoryConfig;
  /** Flow export to collectors; absent: none (set only when the file or --ipfix asks for it). */
  export?: ExportConfig;
}
