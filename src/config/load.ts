/**
 * Loads a Geowarden YAML file into a `Config`, filling defaults, and applies command-line
 * overrides. Every problem found is reported together in one ConfigError, so `check-config`
 * shows the admin the whole list at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_INTERNAL_NETWORKS } from '../net/address';
import { loadEncryptedResolvers } from '../flows/encrypted-dns';
import { loadJurisdictions } from '../policy/jurisdictions';
import { loadAnycastAsns } from '../geo/anycast-asns';
import {
  buildConfigSchema,
  type Check,
  checkCidr,
  checkCollectorAddress,
  checkCountryEntry,
  checkExistingFile,
  checkListenAddress,
  checkOneOf,
  checkText,
  ConfigError,
  type ConfigProblem,
  LOG_LEVELS,
  problemsFromZod,
  type RawConfig,
  readYamlFile,
  validate,
} from './schema';
import type {
  AlertSinkConfig,
  AlertsConfig,
  AlertSinkType,
  Config,
  CountryRules,
  ExceptionsConfig,
  GeoipConfig,
  GeoipSourceConfig,
  GeoipUpdateConfig,
  HistoryConfig,
  IpfixExportConfig,
  SecretRef,
  SecretSource,
} from './types';

export { ConfigError, type ConfigProblem, formatProblem } from './schema';

export function defaultConfig(): Config {
  return {
    sourceFile: null,
    instance: os.hostname(),
    capture: {
      interfaces: [],
      bpf: '',
      // tcpdump's default: whole frames, so DNS answers and TLS ClientHellos are never cut.
      snaplen: 262144,
      bufferSizeBytes: 128 * 1024 * 1024, // ~0.6 s of traffic at 200k packets/s: rides out GC pauses and the expiry tick
      promiscuous: true,
    },
    internalNetworks: [...DEFAULT_INTERNAL_NETWORKS],
    flows: {
      maxFlows: 200000,
      tcpIdleTimeoutS: 300,
      udpIdleTimeoutS: 60,
      icmpIdleTimeoutS: 60,
      activeTimeoutS: 1800,
    },
    dns: { maxEntries: 200000, graceS: 3600, minTtlS: 60 },
    devices: { maxDevices: 10000, inventory: [] },
    geoip: { country: null, asn: null, cacheSize: 100000, update: null },
    policy: {
      jurisdictionsFile: null,
      unknownCountry: 'unknown',
      default: { denyCountries: [], allowCountries: null },
      exceptions: { domains: [], asns: [], cidrs: [] },
      groups: [],
    },
    // Loopback: the endpoints are unauthenticated until a web config adds TLS and basic auth.
    server: { listen: '127.0.0.1:9847', webConfigFile: null },
    daemon: { user: null, group: null },
    log: { level: 'info' },
    metrics: { cardinalityLimit: 500 },
    alerts: null,
    history: { ...HISTORY_DEFAULTS },
  };
}

/**
 * Loads and validates `file`; null gives the defaults. Throws ConfigError listing every problem,
 * including those of the jurisdictions file it refers to.
 */
export function loadConfig(file: string | null): Config {
  if (file === null) return defaultConfig();
  const source = readYamlFile(file);
  if (source.problems.length > 0) throw new ConfigError(source.problems);

  const baseDir = path.dirname(path.resolve(file));
  const jurisdictionProblems: ConfigProblem[] = [];
  const jurisdictionGroups = jurisdictionGroupsFor(source.value, baseDir, jurisdictionProblems);
  const schema = buildConfigSchema({ jurisdictionGroups, baseDir });
  const parsed = validate(schema, source.value);
  const problems = parsed.success ? [] : problemsFromZod(file, parsed.error, schema, source.doc);
  problems.push(...jurisdictionProblems);
  if (parsed.success) problems.push(...resolverListProblems(parsed.data.dns?.encrypted_resolvers_file));
  if (parsed.success) problems.push(...anycastListProblems(parsed.data.geoip?.anycast_asns_file));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data, file);
}

/** Problems in the file geoip.anycast_asns_file names, so check-config shows them too. */
function anycastListProblems(file: string | undefined): ConfigProblem[] {
  if (!file) return [];
  try {
    loadAnycastAsns(file);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

/** Problems in the file dns.encrypted_resolvers_file names, so check-config shows them too. */
function resolverListProblems(file: string | undefined): ConfigProblem[] {
  if (!file) return [];
  try {
    loadEncryptedResolvers(file);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [...err.problems];
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Group names that country lists may use, read before the config is validated because the
 * config names the file. Null when the file cannot be used; the schema then reports the bad
 * `jurisdictions_file` value itself and skips group-name checks rather than flag every entry.
 */
function jurisdictionGroupsFor(document: unknown, baseDir: string, problems: ConfigProblem[]): string[] | null {
  const policy = isMapping(document) ? document['policy'] : undefined;
  const configured = isMapping(policy) ? policy['jurisdictions_file'] : undefined;
  let file: string | null = null;
  if (configured !== undefined && configured !== null) {
    if (typeof configured !== 'string' || !configured.trim()) return null;
    file = path.resolve(baseDir, configured.trim());
    if (!fs.existsSync(file)) return null;
  }
  return jurisdictionGroupNames(file, problems);
}

function jurisdictionGroupNames(file: string | null, problems: ConfigProblem[]): string[] | null {
  try {
    return [...loadJurisdictions(file).groups.keys()];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return null;
  }
}

function countryRules(
  deny: string[] | null | undefined,
  allow: string[] | null | undefined,
  otherwise: CountryRules,
): CountryRules {
  if (deny != null) return { denyCountries: deny, allowCountries: null };
  if (allow != null) return { denyCountries: null, allowCountries: allow };
  return otherwise;
}

function exceptions(raw: { domains?: string[] | null; asns?: number[] | null; cidrs?: string[] | null } | null | undefined): ExceptionsConfig {
  return { domains: raw?.domains ?? [], asns: raw?.asns ?? [], cidrs: raw?.cidrs ?? [] };
}

function toConfig(raw: RawConfig, file: string): Config {
  const d = defaultConfig();
  const { capture, flows, dns, devices, geoip, policy, server, daemon } = raw;
  return {
    sourceFile: file,
    instance: raw.instance ?? d.instance,
    capture: {
      interfaces: capture?.interfaces ?? d.capture.interfaces,
      bpf: capture?.bpf ?? d.capture.bpf,
      snaplen: capture?.snaplen ?? d.capture.snaplen,
      bufferSizeBytes: capture?.buffer_size ?? d.capture.bufferSizeBytes,
      promiscuous: capture?.promiscuous ?? d.capture.promiscuous,
    },
    internalNetworks: raw.networks?.internal ?? d.internalNetworks,
    flows: {
      maxFlows: flows?.max_flows ?? d.flows.maxFlows,
      tcpIdleTimeoutS: flows?.tcp_idle_timeout ?? d.flows.tcpIdleTimeoutS,
      udpIdleTimeoutS: flows?.udp_idle_timeout ?? d.flows.udpIdleTimeoutS,
      icmpIdleTimeoutS: flows?.icmp_idle_timeout ?? d.flows.icmpIdleTimeoutS,
      activeTimeoutS: flows?.active_timeout ?? d.flows.activeTimeoutS,
      // Set only when the file sets it, like geoip's newer keys: hand-built configs stay valid.
      ...(flows?.quic !== undefined ? { quic: flows.quic } : {}),
    },
    dns: {
      maxEntries: dns?.max_entries ?? d.dns.maxEntries,
      graceS: dns?.grace ?? d.dns.graceS,
      minTtlS: dns?.min_ttl ?? d.dns.minTtlS,
      ...(dns?.encrypted_resolvers_file ? { encryptedResolversFile: dns.encrypted_resolvers_file } : {}),
      ...(dns?.dnstap_socket ? { dnstapSocket: dns.dnstap_socket } : {}),
    },
    devices: {
      maxDevices: devices?.max_devices ?? d.devices.maxDevices,
      inventory: (devices?.inventory ?? []).map((e) => ({
        mac: e.mac ?? null,
        ip: e.ip ?? null,
        name: e.name,
        group: e.group ?? null,
      })),
    },
    geoip: {
      country: geoip?.country ?? null,
      asn: geoip?.asn ?? null,
      cacheSize: geoip?.cache_size ?? d.geoip.cacheSize,
      update: geoip?.update ? geoipUpdate(geoip.update) : null,
      ...geoipSources(geoip),
    },
    policy: {
      jurisdictionsFile: policy?.jurisdictions_file ?? null,
      unknownCountry: policy?.unknown_country ?? d.policy.unknownCountry,
      ...(policy?.anycast !== undefined ? { anycast: policy.anycast } : {}),
      default: countryRules(policy?.deny_countries, policy?.allow_countries, d.policy.default),
      exceptions: exceptions(policy?.exceptions),
      groups: (policy?.groups ?? []).map((g) => ({
        name: g.name,
        match: {
          inventoryGroups: g.match.inventory_groups ?? [],
          cidrs: g.match.cidrs ?? [],
          macs: g.match.macs ?? [],
        },
        // The schema guarantees exactly one list; the fallback only satisfies the type.
        ...countryRules(g.deny_countries, g.allow_countries, { denyCountries: [], allowCountries: null }),
        exceptions: exceptions(g.exceptions),
      })),
    },
    server: {
      listen: server?.listen ?? d.server.listen,
      webConfigFile: server?.web_config_file ?? d.server.webConfigFile,
    },
    daemon: { user: daemon?.user ?? null, group: daemon?.group ?? null },
    log: { level: raw.log?.level ?? d.log.level },
    metrics: { cardinalityLimit: raw.metrics?.cardinality_limit ?? d.metrics.cardinalityLimit },
    alerts: raw.alerts ? alertsConfig(raw.alerts) : null,
    history: {
      retentionS: raw.history?.retention ?? HISTORY_DEFAULTS.retentionS,
      pruneSchedule: raw.history?.prune_schedule ?? HISTORY_DEFAULTS.pruneSchedule,
    },
    ...(raw.export?.ipfix ? { export: { ipfix: ipfixExport(raw.export.ipfix) } } : {}),
  };
}

type RawGeoip = NonNullable<RawConfig['geoip']>;

/** The several-database keys of geoip, each only when the file sets it (see GeoipConfig). */
function geoipSources(geoip: RawGeoip | null | undefined): Partial<GeoipConfig> {
  if (!geoip) return {};
  const out: Partial<GeoipConfig> = {};
  if (geoip.databases?.length) out.databases = geoip.databases.map((e) => ({ name: e.name, country: e.country ?? null, asn: e.asn ?? null }));
  if (geoip.decision !== undefined) out.decision = geoip.decision;
  if (geoip.primary !== undefined) out.primary = geoip.primary;
  if (geoip.overrides?.length) {
    out.overrides = geoip.overrides.map((o) => ({ cidr: o.cidr ?? null, asn: o.asn ?? null, country: o.country, note: o.note ?? '' }));
  }
  if (geoip.anycast_asns_file !== undefined) out.anycastAsnsFile = geoip.anycast_asns_file;
  return out;
}

/** Defaults of export.ipfix besides the collector. */
export const IPFIX_DEFAULTS: Omit<IpfixExportConfig, 'collector'> = {
  observationDomainId: 1,
  // RFC 7011 §8.4 leaves the interval to configuration; a collector that starts after Geowarden
  // can decode records at most a minute (or 100 messages) later.
  templateRefreshS: 60,
  templateRefreshPackets: 100,
  mtu: 1500,
};

type RawIpfix = NonNullable<NonNullable<RawConfig['export']>['ipfix']>;

function ipfixExport(raw: RawIpfix): IpfixExportConfig {
  const d = IPFIX_DEFAULTS;
  return {
    collector: raw.collector,
    observationDomainId: raw.observation_domain_id ?? d.observationDomainId,
    templateRefreshS: raw.template_refresh?.interval ?? d.templateRefreshS,
    templateRefreshPackets: raw.template_refresh?.packets ?? d.templateRefreshPackets,
    mtu: raw.mtu ?? d.mtu,
  };
}

/** Defaults of geoip.update, which is off unless the key is present. */
export const GEOIP_UPDATE_DEFAULTS: Omit<GeoipUpdateConfig, 'sources'> = {
  // Wednesday 04:17: MaxMind publishes GeoLite2 on Tuesdays and Fridays; an odd minute spreads
  // the load that every installation copying "0 4" would put on the providers.
  schedule: '17 4 * * 3',
  // systemd's StateDirectory=geowarden creates /var/lib/geowarden writable by the service user.
  directory: '/var/lib/geowarden/geoip',
  watchFiles: true,
  timeoutS: 300,
  maxSizeBytes: 256 * 1024 * 1024,
};

type RawGeoipUpdate = NonNullable<NonNullable<RawConfig['geoip']>['update']>;
type RawGeoipSource = NonNullable<RawGeoipUpdate['sources']>[number];

function secret(value: string | undefined, file: string | undefined): SecretSource {
  // The schema guarantees exactly one of the two.
  return file !== undefined ? { file } : { value: value ?? '' };
}

function geoipSource(s: RawGeoipSource): GeoipSourceConfig {
  const baseUrl = s.base_url ?? null;
  switch (s.kind) {
    case 'maxmind':
      return {
        role: s.role,
        kind: 'maxmind',
        editionId: s.edition_id ?? (s.role === 'country' ? 'GeoLite2-Country' : 'GeoLite2-ASN'),
        accountId: s.account_id ?? '',
        licenseKey: secret(s.license_key, s.license_key_file),
        baseUrl,
      };
    case 'dbip':
      return { role: s.role, kind: 'dbip', baseUrl };
    case 'ipinfo':
      return { role: s.role, kind: 'ipinfo', token: secret(s.token, s.token_file), baseUrl };
    case 'url':
      return { role: s.role, kind: 'url', url: s.url ?? '' };
  }
}

function geoipUpdate(raw: RawGeoipUpdate): GeoipUpdateConfig {
  const d = GEOIP_UPDATE_DEFAULTS;
  return {
    schedule: raw.schedule ?? d.schedule,
    directory: raw.directory ?? d.directory,
    sources: (raw.sources ?? []).map(geoipSource),
    watchFiles: raw.watch_files ?? d.watchFiles,
    timeoutS: raw.timeout ?? d.timeoutS,
    maxSizeBytes: raw.max_size ?? d.maxSizeBytes,
  };
}

export const HISTORY_DEFAULTS: HistoryConfig = {
  retentionS: 30 * 86400,
  // Hourly at an odd minute: pruning a day's rows takes milliseconds, and small steps keep it so.
  pruneSchedule: '23 * * * *',
};

/** The engine and delivery settings `alerts:` starts from; also what `replay --alerts` uses without one. */
export function defaultAlertsConfig(): AlertsConfig {
  return {
    // systemd's StateDirectory=geowarden creates /var/lib/geowarden writable by the service user.
    database: '/var/lib/geowarden/alerts.db',
    dashboardUrl: null,
    groupBy: ['device', 'country'],
    minBytes: 0,
    minFlows: 1,
    dedupWindowS: 15 * 60,
    renotifyIntervalS: 4 * 3600,
    resolveAfterS: 30 * 60,
    severity: 'warning',
    severityRules: [],
    silences: [],
    delivery: { timeoutS: 10, retryInitialS: 1, retryMaxS: 600, giveUpAfterS: 86400 },
    digest: null,
    sinks: [],
  };
}

/**
 * Slack documents about one message per second per incoming webhook, with short bursts; Discord
 * and Teams (Power Automate) throttle similarly. Machine sinks are not limited by default.
 */
const CHAT_RATE_LIMIT = { intervalS: 1, burst: 5 };
const CHAT_SINKS: readonly AlertSinkType[] = ['slack', 'teams', 'mattermost', 'discord'];

type RawAlerts = NonNullable<RawConfig['alerts']>;
type RawAlertSink = NonNullable<RawAlerts['sinks']>[number];

function secretRef(value: string | undefined, env: string | undefined, file: string | undefined): SecretRef | null {
  if (env !== undefined) return { env };
  if (file !== undefined) return { file };
  return value !== undefined ? { value } : null;
}

function alertSink(s: RawAlertSink): AlertSinkConfig {
  return {
    name: s.name,
    type: s.type,
    url: secretRef(s.url, s.url_env, s.url_file),
    secret: secretRef(undefined, s.secret_env, s.secret_file),
    headers: s.headers ?? {},
    path: s.path ?? null,
    minSeverity: s.min_severity ?? 'info',
    rateLimit: s.rate_limit ? { intervalS: s.rate_limit.interval, burst: s.rate_limit.burst } : CHAT_SINKS.includes(s.type) ? { ...CHAT_RATE_LIMIT } : null,
    template: s.template ?? null,
    // Prometheus re-sends firing alerts every minute (--rules.alert.resend-delay).
    resendIntervalS: s.resend_interval ?? 60,
  };
}

function alertsConfig(raw: RawAlerts): AlertsConfig {
  const d = defaultAlertsConfig();
  return {
    database: raw.database ?? d.database,
    dashboardUrl: raw.dashboard_url ?? d.dashboardUrl,
    groupBy: raw.group_by ?? d.groupBy,
    minBytes: raw.min_bytes ?? d.minBytes,
    minFlows: raw.min_flows ?? d.minFlows,
    dedupWindowS: raw.dedup_window ?? d.dedupWindowS,
    renotifyIntervalS: raw.renotify_interval ?? Math.max(d.renotifyIntervalS, raw.dedup_window ?? 0),
    resolveAfterS: raw.resolve_after ?? d.resolveAfterS,
    severity: raw.severity ?? d.severity,
    severityRules: (raw.severity_rules ?? []).map((r) => ({
      severity: r.severity,
      policies: r.policies ?? [],
      countries: r.countries ?? [],
      deviceGroups: r.device_groups ?? [],
      minBytes: r.min_bytes ?? 0,
    })),
    silences: (raw.silences ?? []).map((s) => ({
      device: s.device ?? null,
      country: s.country ?? null,
      domain: s.domain ?? null,
      untilMs: s.until,
      comment: s.comment ?? '',
    })),
    delivery: {
      timeoutS: raw.delivery?.timeout ?? d.delivery.timeoutS,
      retryInitialS: raw.delivery?.retry_initial ?? d.delivery.retryInitialS,
      retryMaxS: raw.delivery?.retry_max ?? Math.max(d.delivery.retryMaxS, raw.delivery?.retry_initial ?? 0),
      giveUpAfterS: raw.delivery?.give_up_after ?? d.delivery.giveUpAfterS,
    },
    digest: raw.digest ? { schedule: raw.digest.schedule, sinks: raw.digest.sinks } : null,
    sinks: (raw.sinks ?? []).map(alertSink),
  };
}

export interface ConfigOverrides {
  denyCountries?: string[];
  allowCountries?: string[];
  internal?: string[];
  geoipCountry?: string;
  geoipAsn?: string;
  interfaces?: string[];
  bpf?: string;
  listen?: string;
  logLevel?: string;
  /** `host:port` of an IPFIX collector: export.ipfix with the file's other settings (or the defaults). */
  ipfix?: string;
}

/** Command-line flags whose values are checked like the YAML keys they replace. */
export const OVERRIDE_FLAGS = {
  denyCountries: '--deny-countries',
  allowCountries: '--allow-countries',
  internal: '--internal',
  geoipCountry: '--geoip-country',
  geoipAsn: '--geoip-asn',
  interfaces: '--interface',
  bpf: '--bpf',
  listen: '--listen',
  logLevel: '--log-level',
  ipfix: '--ipfix',
} as const satisfies Record<keyof ConfigOverrides, string>;

/** Flags may repeat or carry comma-separated lists ("CN,RU"); both read the same. */
function splitListFlag(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/[,\s]+/)).filter((v) => v !== '');
}

/**
 * A copy of `config` with command-line values in place of the file's. A deny or allow list from
 * the command line replaces the default rules entirely (groups keep theirs). Throws ConfigError
 * with the flag as the file: `--deny-countries: "XX" is not ...`.
 */
export function applyOverrides(config: Config, overrides: ConfigOverrides): Config {
  const next = structuredClone(config);
  const problems: ConfigProblem[] = [];

  const checkAll = <T>(key: keyof ConfigOverrides, values: readonly string[], check: Check<T>): T[] => {
    const accepted: T[] = [];
    for (const value of values) {
      const r = check(value);
      if (r.ok) accepted.push(r.value);
      else problems.push({ file: OVERRIDE_FLAGS[key], path: '', message: r.message });
    }
    return accepted;
  };

  const { denyCountries, allowCountries } = overrides;
  if (denyCountries !== undefined && allowCountries !== undefined) {
    problems.push({ file: OVERRIDE_FLAGS.denyCountries, path: '', message: `cannot be combined with ${OVERRIDE_FLAGS.allowCountries}` });
  } else if (denyCountries !== undefined || allowCountries !== undefined) {
    const groups = jurisdictionGroupNames(config.policy.jurisdictionsFile, problems);
    const checkEntry = checkCountryEntry(groups);
    if (denyCountries !== undefined) {
      next.policy.default = { denyCountries: checkAll('denyCountries', splitListFlag(denyCountries), checkEntry), allowCountries: null };
    } else if (allowCountries !== undefined) {
      next.policy.default = { denyCountries: null, allowCountries: checkAll('allowCountries', splitListFlag(allowCountries), checkEntry) };
    }
  }

  if (overrides.internal !== undefined) {
    const cidrs = splitListFlag(overrides.internal);
    if (cidrs.length === 0) problems.push({ file: OVERRIDE_FLAGS.internal, path: '', message: 'needs at least one CIDR block' });
    next.internalNetworks = checkAll('internal', cidrs, checkCidr);
  }
  // Paths on the command line are relative to the working directory, not to the config file.
  const existing = checkExistingFile(process.cwd());
  if (overrides.geoipCountry !== undefined) next.geoip.country = checkAll('geoipCountry', [overrides.geoipCountry], existing)[0] ?? null;
  if (overrides.geoipAsn !== undefined) next.geoip.asn = checkAll('geoipAsn', [overrides.geoipAsn], existing)[0] ?? null;
  if (overrides.geoipCountry !== undefined || overrides.geoipAsn !== undefined) {
    // The flags name one database: they replace a geoip.databases list rather than join it.
    delete next.geoip.databases;
    delete next.geoip.primary;
  }
  if (overrides.ipfix !== undefined) {
    const collector = checkAll('ipfix', [overrides.ipfix], checkCollectorAddress)[0];
    if (collector !== undefined) next.export = { ...next.export, ipfix: { ...(next.export?.ipfix ?? IPFIX_DEFAULTS), collector } };
  }
  if (overrides.interfaces !== undefined) {
    next.capture.interfaces = checkAll('interfaces', splitListFlag(overrides.interfaces), checkText({ allowEmpty: false }));
  }
  if (overrides.bpf !== undefined) next.capture.bpf = checkAll('bpf', [overrides.bpf], checkText({ allowEmpty: true }))[0] ?? '';
  if (overrides.listen !== undefined) next.server.listen = checkAll('listen', [overrides.listen], checkListenAddress)[0] ?? next.server.listen;
  if (overrides.logLevel !== undefined) next.log.level = checkAll('logLevel', [overrides.logLevel], checkOneOf(LOG_LEVELS))[0] ?? next.log.level;

  if (problems.length > 0) throw new ConfigError(problems);
  return next;
}
