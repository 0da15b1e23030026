/**
 * Every Geowarden metric, in one table: the registry takes name, type, labels and HELP from here,
 * the README's "Metrics" section is rendered from it, and a test checks that nothing is registered
 * that is not listed. Names follow https://prometheus.io/docs/practices/naming/: the `geowarden_`
 * prefix, base units (bytes, seconds), `_total` on counters.
 */

export type MetricKind = 'counter' | 'gauge';

export interface MetricDoc {
  name: string;
  type: MetricKind;
  labels: readonly string[];
  help: string;
}

/** When a value changes: per finished flow (sink) or read from a stage at scrape time (collect). */
const FLOW_NOTE = 'Counted when a flow ends (FIN/RST, idle or active timeout, eviction, shutdown).';

export const METRICS = {
  buildInfo: {
    name: 'geowarden_build_info',
    type: 'gauge',
    labels: ['version', 'gateway'],
    help: 'Always 1; the labels carry the Geowarden version and the gateway name (config `instance`).',
  },
  trafficBytes: {
    name: 'geowarden_traffic_bytes_total',
    type: 'counter',
    labels: ['direction', 'country', 'verdict', 'group'],
    help: `IP-layer bytes of finished flows by direction (out: device to remote), remote country (ISO code, "unknown" or "local"), policy verdict and device group (the policy applied). ${FLOW_NOTE}`,
  },
  trafficPackets: {
    name: 'geowarden_traffic_packets_total',
    type: 'counter',
    labels: ['direction', 'country', 'verdict', 'group'],
    help: `IP packets of finished flows, labelled like geowarden_traffic_bytes_total. ${FLOW_NOTE}`,
  },
  flows: {
    name: 'geowarden_flows_total',
    type: 'counter',
    labels: ['country', 'verdict', 'group'],
    help: `Finished flows by remote country, verdict and device group. ${FLOW_NOTE}`,
  },
  violations: {
    name: 'geowarden_violations_total',
    type: 'counter',
    labels: ['device', 'country'],
    help: 'Flows judged "violation", by device (hostname if known, else IP; cardinality-guarded) and remote country.',
  },
  deviceBytes: {
    name: 'geowarden_device_bytes_total',
    type: 'counter',
    labels: ['device', 'direction'],
    help: 'IP-layer bytes of finished flows per device (hostname if known, else IP; cardinality-guarded) and direction.',
  },
  remoteAsnBytes: {
    name: 'geowarden_remote_asn_bytes_total',
    type: 'counter',
    labels: ['asn', 'as_org'],
    help: 'IP-layer bytes (both directions) of finished flows to non-local remotes, by remote AS number and organisation ("unknown" when the database has none; cardinality-guarded).',
  },
  encryptedDnsFlows: {
    name: 'geowarden_encrypted_dns_flows_total',
    type: 'counter',
    labels: ['device', 'kind', 'resolver'],
    help: `Finished flows of encrypted DNS by device (hostname if known, else IP), kind (doh, dot, doq) and resolver (name from the resolver list, else SNI, else address); device and resolver cardinality-guarded. Names resolved this way never reach Geowarden. ${FLOW_NOTE}`,
  },
  unattributedBytes: {
    name: 'geowarden_unattributed_bytes_total',
    type: 'counter',
    labels: ['device', 'direction'],
    help: `IP-layer bytes of finished flows to public remotes that no DNS answer, SNI or HTTP Host names, per device (cardinality-guarded) and direction: the traffic Geowarden cannot tie to a service. ${FLOW_NOTE}`,
  },
  dnsResponses: {
    name: 'geowarden_dns_responses_total',
    type: 'counter',
    labels: ['rcode'],
    help: 'DNS responses seen on the wire (UDP and TCP), by RCODE mnemonic; unassigned codes are folded into "other".',
  },
  captureReceived: {
    name: 'geowarden_capture_packets_received_total',
    type: 'counter',
    labels: ['interface'],
    help: "Packets received by the capture filter, from libpcap's own statistics (pcap_stats ps_recv).",
  },
  captureDropped: {
    name: 'geowarden_capture_packets_dropped_total',
    type: 'counter',
    labels: ['interface'],
    help: "Packets dropped because the capture buffer was full (pcap_stats ps_drop): Geowarden did not keep up.",
  },
  captureInterfaceDropped: {
    name: 'geowarden_capture_packets_interface_dropped_total',
    type: 'counter',
    labels: ['interface'],
    help: 'Packets dropped by the network interface or its driver (pcap_stats ps_ifdrop).',
  },
  packets: {
    name: 'geowarden_packets_total',
    type: 'counter',
    labels: [],
    help: 'Frames read from the capture and handed to the pipeline.',
  },
  bytes: {
    name: 'geowarden_bytes_total',
    type: 'counter',
    labels: [],
    help: 'Wire length in bytes of the frames read from the capture.',
  },
  decodeErrors: {
    name: 'geowarden_decode_errors_total',
    type: 'counter',
    labels: ['layer'],
    help: 'Frames or payloads that failed to decode, by protocol layer (truncated or malformed headers).',
  },
  unsupportedLinkType: {
    name: 'geowarden_unsupported_linktype_packets_total',
    type: 'counter',
    labels: [],
    help: 'Frames of a link-layer type the decoder does not handle (skipped).',
  },
  flowTableEntries: {
    name: 'geowarden_flow_table_entries',
    type: 'gauge',
    labels: [],
    help: 'Flows currently tracked.',
  },
  flowTableCapacity: {
    name: 'geowarden_flow_table_capacity',
    type: 'gauge',
    labels: [],
    help: 'Maximum number of flows tracked (config flows.max_flows); beyond it the oldest flow is evicted.',
  },
  flowTableEvictions: {
    name: 'geowarden_flow_table_evictions_total',
    type: 'counter',
    labels: [],
    help: 'Flows ended early because the flow table was full.',
  },
  flowsEnded: {
    name: 'geowarden_flows_ended_total',
    type: 'counter',
    labels: ['reason'],
    help: 'Flow records emitted, by end reason (fin, rst, idle-timeout, active-timeout, evicted, end-of-capture, shutdown).',
  },
  dnsCacheEntries: {
    name: 'geowarden_dns_cache_entries',
    type: 'gauge',
    labels: [],
    help: 'Addresses currently remembered with the DNS names that resolved to them.',
  },
  dnsCacheEvictions: {
    name: 'geowarden_dns_cache_evictions_total',
    type: 'counter',
    labels: [],
    help: 'DNS cache entries dropped before their TTL (plus grace) because the cache was full.',
  },
  dnsCacheLookups: {
    name: 'geowarden_dns_cache_lookups_total',
    type: 'counter',
    labels: ['result'],
    help: 'DNS cache lookups when a flow starts: result "hit" (names found for the remote address) or "miss".',
  },
  devices: {
    name: 'geowarden_devices',
    type: 'gauge',
    labels: [],
    help: 'Devices (LAN addresses) currently in the device table.',
  },
  deviceTableEvictions: {
    name: 'geowarden_device_table_evictions_total',
    type: 'counter',
    labels: [],
    help: 'Devices dropped from the device table because it was full (config devices.max_devices).',
  },
  geoipDatabaseInfo: {
    name: 'geowarden_geoip_database_info',
    type: 'gauge',
    labels: ['database', 'role', 'type', 'schema'],
    help: 'Always 1 per open GeoIP database file: database (its geoip.databases name, or the country file\'s name without .mmdb), role (country or asn), MMDB database_type and the record layout detected.',
  },
  geoipDatabaseBuild: {
    name: 'geowarden_geoip_database_build_timestamp_seconds',
    type: 'gauge',
    labels: ['database', 'role'],
    help: 'Build time of each open GeoIP database file (MMDB build_epoch), Unix seconds, by database and role as in geowarden_geoip_database_info; time() minus this is its age.',
  },
  geoipDisagreements: {
    name: 'geowarden_geoip_disagreements_total',
    type: 'counter',
    labels: ['databases'],
    help: `Finished flows whose remote two GeoIP databases placed in different countries, per pair of databases ("dbip,geolite2", names from geoip.databases, in config order). ${FLOW_NOTE}`,
  },
  geoipCacheEntries: {
    name: 'geowarden_geoip_cache_entries',
    type: 'gauge',
    labels: [],
    help: 'Remote addresses whose GeoIP answer is cached (at most geoip.cache_size): one of the tables the heap holds.',
  },
  geoipLookups: {
    name: 'geowarden_geoip_lookups_total',
    type: 'counter',
    labels: ['result'],
    help: 'GeoIP lookups of remote addresses: result "cache_hit" or "cache_miss" (a database read).',
  },
  geoipUpdateSuccess: {
    name: 'geowarden_geoip_update_success_timestamp_seconds',
    type: 'gauge',
    labels: ['role'],
    help: 'Unix time of the last successful GeoIP database update (downloaded, verified and swapped in).',
  },
  geoipUpdateFailures: {
    name: 'geowarden_geoip_update_failures_total',
    type: 'counter',
    labels: ['role'],
    help: 'GeoIP database updates that failed (download, verification or swap); the previous database stays in use.',
  },
  processingLag: {
    name: 'geowarden_processing_lag_seconds',
    type: 'gauge',
    labels: [],
    help: 'Wall clock minus the timestamp of the newest packet processed (live capture only; NaN before the first packet).',
  },
  labelSets: {
    name: 'geowarden_label_sets',
    type: 'gauge',
    labels: ['metric'],
    help: 'Distinct values of the unbounded labels (device, asn/as_org) kept as their own series, per metric; at the limit, new ones become "other".',
  },
  labelSetsFolded: {
    name: 'geowarden_label_sets_folded_total',
    type: 'counter',
    labels: ['metric'],
    help: 'Observations (flows) whose unbounded label values were folded into "other" because the metric reached its cardinality limit.',
  },
} as const satisfies Record<string, MetricDoc>;

export type MetricKey = keyof typeof METRICS;

export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);

/** The README table: name, type, labels, meaning. */
/** The README table: these metrics, then any a caller adds (the alerting stage documents its own). */
export function metricsMarkdownTable(extra: readonly MetricDoc[] = []): string {
  const rows = [...Object.values(METRICS), ...extra].map((m: MetricDoc) => {
    const labels = m.labels.length ? m.labels.map((l) => `\`${l}\``).join(', ') : '';
    return `| \`${m.name}\` | ${m.type} | ${labels} | ${m.help.replace(/\|/g, '\\|')} |`;
  });
  return ['| Name | Type | Labels | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
