/**
 * GeowardenMetrics against a fresh prom-client Registry: flows fed to the sink, stage statistics
 * read through the binders at scrape time, and the table of documented metrics.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { DECODE_LAYERS, newDecodeErrorCounts } from '../src/decode/types';
import type { FlowEndReason, FlowRecord } from '../src/flows/types';
import { GeoResolver } from '../src/geo/geo-resolver';
import type { GeoInfo } from '../src/geo/types';
import { GeowardenMetrics, type PipelineStatsView } from '../src/metrics/geowarden-metrics';
import { METRIC_NAMES, METRICS, metricsMarkdownTable } from '../src/metrics/metric-docs';
import type { JudgedFlow, Verdict } from '../src/policy/types';
import { buildDisagreeingGeo, DBIP_BUILD_EPOCH, GEOLITE2_BUILD_EPOCH, IPINFO_BUILD_EPOCH } from './support/disagreeing-geo';

const CN: GeoInfo = { country: 'CN', registeredCountry: 'CN', asn: 64510, asOrg: 'Example Telemetry Co', special: false };
const DE: GeoInfo = { country: 'DE', registeredCountry: 'DE', asn: 64500, asOrg: 'Example Cloud GmbH', special: false };
const NOWHERE: GeoInfo = { country: null, registeredCountry: null, asn: null, asOrg: null, special: false };
const LAN: GeoInfo = { country: null, registeredCountry: null, asn: null, asOrg: null, special: true };

function flow(o: Partial<FlowRecord> & { hostname?: string | null; ip?: string } = {}): FlowRecord {
  return {
    proto: 'tcp',
    protocolNumber: 6,
    device: { ip: o.ip ?? '192.168.1.40', mac: '64:cc:2e:7b:40:05', hostname: o.hostname === undefined ? 'redmi-note' : o.hostname, group: null },
    localPort: 38000,
    remoteIp: '203.0.113.10',
    remotePort: 443,
    bothInternal: false,
    names: [],
    sni: null,
    httpHost: null,
    bytesOut: 1000,
    bytesIn: 200,
    packetsOut: 10,
    packetsIn: 4,
    firstSeenUs: 1_717_228_800_000_000,
    lastSeenUs: 1_717_228_801_000_000,
    endReason: 'fin',
    ...o,
  };
}

function judged(f: FlowRecord, geo: GeoInfo, verdict: Verdict['verdict'], policy = 'default'): JudgedFlow {
  return { flow: f, geo, verdict: { verdict, reason: 'test', policy } };
}

function fresh(cardinalityLimit?: number): { registry: Registry; metrics: GeowardenMetrics } {
  const registry = new Registry();
  const metrics = new GeowardenMetrics(registry, { instance: 'gw-test', version: '9.9.9', ...(cardinalityLimit !== undefined ? { cardinalityLimit } : {}) });
  return { registry, metrics };
}

/** The samples of `name` whose labels include `labels`, after a scrape (collect callbacks run). */
async function samples(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<Array<{ labels: Record<string, string | number>; value: number }>> {
  const metric = registry.getSingleMetric(name);
  assert.ok(metric, `${name} is registered`);
  const data = await metric.get();
  return data.values
    .map((v) => ({ labels: v.labels as Record<string, string | number>, value: v.value }))
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const found = await samples(registry, name, labels);
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches one series, got ${found.length}`);
  return found[0]?.value;
}

describe('metrics sink', () => {
  it('counts a finished flow once, by direction, country, verdict and group', async () => {
    const { registry, metrics } = fresh();
    metrics.sink.onFlow(judged(flow(), CN, 'violation', 'kids'));
    const base = { country: 'CN', verdict: 'violation', group: 'kids' };
    assert.equal(await value(registry, 'geowarden_traffic_bytes_total', { ...base, direction: 'out' }), 1000);
    assert.equal(await value(registry, 'geowarden_traffic_bytes_total', { ...base, direction: 'in' }), 200);
    assert.equal(await value(registry, 'geowarden_traffic_packets_total', { ...base, direction: 'out' }), 10);
    assert.equal(await value(registry, 'geowarden_traffic_packets_total', { ...base, direction: 'in' }), 4);
    assert.equal(await value(registry, 'geowarden_flows_total', base), 1);
    assert.equal(await value(registry, 'geowarden_violations_total', { device: 'redmi-note', country: 'CN' }), 1);
    assert.equal(await value(registry, 'geowarden_device_bytes_total', { device: 'redmi-note', direction: 'out' }), 1000);
    assert.equal(await value(registry, 'geowarden_device_bytes_total', { device: 'redmi-note', direction: 'in' }), 200);
    assert.equal(await value(registry, 'geowarden_remote_asn_bytes_total', { asn: '64510', as_org: 'Example Telemetry Co' }), 1200);

    metrics.sink.onFlow(judged(flow({ bytesOut: 5, bytesIn: 7 }), CN, 'violation', 'kids'));
    assert.equal(await value(registry, 'geowarden_traffic_bytes_total', { ...base, direction: 'out' }), 1005);
    assert.equal(await value(registry, 'geowarden_violations_total', { device: 'redmi-note', country: 'CN' }), 2);
  });

  it('labels LAN and special-purpose remotes "local", unlocated ones "unknown", and names devices by IP when unnamed', async () => {
    const { registry, metrics } = fresh();
    metrics.sink.onFlow(judged(flow({ bothInternal: true, remoteIp: '192.168.1.1' }), LAN, 'local'));
    metrics.sink.onFlow(judged(flow({ hostname: null, ip: '192.168.1.77', remoteIp: '192.0.2.200' }), NOWHERE, 'unknown'));
    assert.equal(await value(registry, 'geowarden_flows_total', { country: 'local', verdict: 'local', group: 'default' }), 1);
    assert.equal(await value(registry, 'geowarden_flows_total', { country: 'unknown', verdict: 'unknown', group: 'default' }), 1);
    assert.equal(await value(registry, 'geowarden_device_bytes_total', { device: '192.168.1.77', direction: 'out' }), 1000);
    // ASN bytes are about remotes: the LAN flow is not there, the unlocated one is under "unknown".
    const asn = await samples(registry, 'geowarden_remote_asn_bytes_total');
    assert.deepEqual(asn.map((s) => [s.labels.asn, s.labels.as_org, s.value]), [['unknown', 'unknown', 1200]]);
    assert.deepEqual(await samples(registry, 'geowarden_violations_total'), []);
  });

  it('folds device and ASN label values beyond the cardinality limit into "other" and counts the folds', async () => {
    const { registry, metrics } = fresh(2);
    for (const name of ['a', 'b', 'c', 'd']) metrics.sink.onFlow(judged(flow({ hostname: name }), CN, 'violation'));
    metrics.sink.onFlow(judged(flow({ hostname: 'a' }), DE, 'allowed'));
    metrics.sink.onFlow(judged(flow({ hostname: 'e' }), DE, 'allowed'));

    const devices = await samples(registry, 'geowarden_device_bytes_total', { direction: 'out' });
    assert.deepEqual(Object.fromEntries(devices.map((s) => [s.labels.device, s.value])), { a: 2000, b: 1000, other: 3000 });
    const violations = await samples(registry, 'geowarden_violations_total');
    assert.deepEqual(Object.fromEntries(violations.map((s) => [s.labels.device, s.value])), { a: 1, b: 1, other: 2 });
    // Two ASNs, limit 2: nothing folded there.
    assert.equal((await samples(registry, 'geowarden_remote_asn_bytes_total')).length, 2);

    assert.equal(await value(registry, 'geowarden_label_sets', { metric: 'geowarden_device_bytes_total' }), 2);
    assert.equal(await value(registry, 'geowarden_label_sets_folded_total', { metric: 'geowarden_device_bytes_total' }), 3);
    assert.equal(await value(registry, 'geowarden_label_sets', { metric: 'geowarden_violations_total' }), 2);
    assert.equal(await value(registry, 'geowarden_label_sets_folded_total', { metric: 'geowarden_violations_total' }), 2);
    assert.equal(await value(registry, 'geowarden_label_sets_folded_total', { metric: 'geowarden_remote_asn_bytes_total' }), 0);
  });

  it('defaults the cardinality limit to 500', async () => {
    const { registry, metrics } = fresh();
    for (let i = 0; i < 501; i++) metrics.sink.onFlow(judged(flow({ hostname: `host-${i}` }), DE, 'allowed'));
    assert.equal(await value(registry, 'geowarden_label_sets', { metric: 'geowarden_device_bytes_total' }), 500);
    assert.equal(await value(registry, 'geowarden_device_bytes_total', { device: 'other', direction: 'out' }), 1000);
  });
});

/** A pipeline whose statistics the test sets. */
function fakePipeline() {
  const errors = newDecodeErrorCounts();
  const state = {
    packets: 0,
    bytes: 0,
    lastTimestampUs: null as number | null,
    flows: { active: 0, capacity: 1000, evicted: 0, ended: { fin: 0, rst: 0, 'idle-timeout': 0, 'active-timeout': 0, evicted: 0, 'end-of-capture': 0, shutdown: 0 } as Record<FlowEndReason, number> },
    dnsCache: { entries: 0, evictions: 0, hits: 0, misses: 0 },
    devices: { devices: 0, evictions: 0 },
    byRcode: new Map<string, number>(),
  };
  const view: PipelineStatsView = {
    flows: { stats: () => ({ ...state.flows, ended: { ...state.flows.ended } }) },
    dnsCache: { stats: () => ({ ...state.dnsCache }) },
    dns: { stats: () => ({ byRcode: new Map(state.byRcode) }) },
    devices: { stats: () => ({ ...state.devices }) },
    decoder: { errors },
    summary: () => ({ packets: state.packets, bytes: state.bytes, lastTimestampUs: state.lastTimestampUs }),
  };
  return { state, errors, view };
}

describe('metrics binders', () => {
  it('read the pipeline stages at scrape time', async () => {
    const { registry, metrics } = fresh();
    // Before binding: counters without labels read 0, labelled ones have no series.
    assert.equal(await value(registry, 'geowarden_packets_total'), 0);
    assert.deepEqual(await samples(registry, 'geowarden_decode_errors_total'), []);

    const { state, errors, view } = fakePipeline();
    metrics.bindPipeline(view);
    Object.assign(state, { packets: 120, bytes: 96_000 });
    Object.assign(state.flows, { active: 7, evicted: 3 });
    state.flows.ended.fin = 5;
    state.flows.ended.evicted = 3;
    Object.assign(state.dnsCache, { entries: 11, evictions: 2, hits: 9, misses: 4 });
    Object.assign(state.devices, { devices: 5, evictions: 1 });
    errors.byLayer.tls = 2;
    errors.unsupportedLinkType = 6;
    state.byRcode.set('NOERROR', 30).set('NXDOMAIN', 2).set('RCODE3000', 1).set('RCODE12', 1);

    const expect: Array<[string, Record<string, string>, number]> = [
      ['geowarden_packets_total', {}, 120],
      ['geowarden_bytes_total', {}, 96_000],
      ['geowarden_flow_table_entries', {}, 7],
      ['geowarden_flow_table_capacity', {}, 1000],
      ['geowarden_flow_table_evictions_total', {}, 3],
      ['geowarden_flows_ended_total', { reason: 'fin' }, 5],
      ['geowarden_flows_ended_total', { reason: 'evicted' }, 3],
      ['geowarden_flows_ended_total', { reason: 'idle-timeout' }, 0],
      ['geowarden_dns_cache_entries', {}, 11],
      ['geowarden_dns_cache_evictions_total', {}, 2],
      ['geowarden_dns_cache_lookups_total', { result: 'hit' }, 9],
      ['geowarden_dns_cache_lookups_total', { result: 'miss' }, 4],
      ['geowarden_devices', {}, 5],
      ['geowarden_device_table_evictions_total', {}, 1],
      ['geowarden_decode_errors_total', { layer: 'tls' }, 2],
      ['geowarden_decode_errors_total', { layer: 'ipv4' }, 0],
      ['geowarden_unsupported_linktype_packets_total', {}, 6],
      ['geowarden_dns_responses_total', { rcode: 'NOERROR' }, 30],
      ['geowarden_dns_responses_total', { rcode: 'NXDOMAIN' }, 2],
      // Codes IANA has not named are attacker-chosen and unbounded: one "other" series.
      ['geowarden_dns_responses_total', { rcode: 'other' }, 2],
    ];
    for (const [name, labels, want] of expect) assert.equal(await value(registry, name, labels), want, `${name} ${JSON.stringify(labels)}`);
    assert.equal((await samples(registry, 'geowarden_decode_errors_total')).length, DECODE_LAYERS.length, 'every decode layer has a series');

    state.packets = 130;
    assert.equal(await value(registry, 'geowarden_packets_total'), 130, 'read again at the next scrape');
  });

  it('keeps counters monotonic when the pipeline is replaced', async () => {
    const { registry, metrics } = fresh();
    const first = fakePipeline();
    metrics.bindPipeline(first.view);
    first.state.packets = 100;
    assert.equal(await value(registry, 'geowarden_packets_total'), 100);
    const second = fakePipeline();
    second.state.packets = 40;
    metrics.bindPipeline(second.view);
    assert.equal(await value(registry, 'geowarden_packets_total'), 140);
  });

  it('reports processing lag only for a live capture that has seen a packet', async () => {
    const { registry, metrics } = fresh();
    const { state, view } = fakePipeline();
    metrics.bindPipeline(view, { live: true });
    assert.ok(Number.isNaN(await value(registry, 'geowarden_processing_lag_seconds')), 'NaN before the first packet');
    state.lastTimestampUs = (Date.now() - 2500) * 1000;
    const lag = (await value(registry, 'geowarden_processing_lag_seconds'))!;
    assert.ok(lag >= 2.5 && lag < 5, `lag ${lag}`);
    metrics.bindPipeline(view, { live: false });
    assert.ok(Number.isNaN(await value(registry, 'geowarden_processing_lag_seconds')), 'a replay has no lag');

    // tick() moves lastTimestampUs to the wall clock; the newest packet's time is what lags.
    metrics.bindPipeline(
      { ...view, summary: () => ({ packets: 1, bytes: 1, lastTimestampUs: Date.now() * 1000, lastPacketTimestampUs: (Date.now() - 7000) * 1000 }) },
      { live: true },
    );
    const behind = (await value(registry, 'geowarden_processing_lag_seconds'))!;
    assert.ok(behind >= 7 && behind < 9, `lag ${behind}`);
  });

  it("exposes libpcap's counters per interface, across a 32-bit wrap and a reopened capture", async () => {
    const { registry, metrics } = fresh();
    let stats = [
      { interface: 'eth0', received: 4_294_967_000, dropped: 10, ifDropped: 1 },
      { interface: 'eth1', received: 50, dropped: 0, ifDropped: 0 },
    ];
    metrics.bindCapture(() => stats);
    assert.equal(await value(registry, 'geowarden_capture_packets_received_total', { interface: 'eth0' }), 4_294_967_000);
    assert.equal(await value(registry, 'geowarden_capture_packets_dropped_total', { interface: 'eth0' }), 10);
    assert.equal(await value(registry, 'geowarden_capture_packets_interface_dropped_total', { interface: 'eth0' }), 1);
    assert.equal(await value(registry, 'geowarden_capture_packets_received_total', { interface: 'eth1' }), 50);
    // ps_recv wrapped past 2^32 on eth0; eth1's capture was reopened and counts from zero.
    stats = [
      { interface: 'eth0', received: 704, dropped: 12, ifDropped: 1 },
      { interface: 'eth1', received: 5, dropped: 0, ifDropped: 0 },
    ];
    assert.equal(await value(registry, 'geowarden_capture_packets_received_total', { interface: 'eth0' }), 2 ** 32 + 704);
    assert.equal(await value(registry, 'geowarden_capture_packets_dropped_total', { interface: 'eth0' }), 12);
    assert.equal(await value(registry, 'geowarden_capture_packets_received_total', { interface: 'eth1' }), 55);
  });

  it('describes the GeoIP databases and counts lookups', async () => {
    const { registry, metrics } = fresh();
    let hits = 30;
    const geo = {
      cacheStats: () => ({ hits, misses: 12, size: 12 }),
      databases: () => [
        { name: 'GeoLite2-Country', role: 'country' as const, databaseType: 'GeoLite2-Country', schema: 'geoip2' as const, buildEpoch: 1_700_000_000 },
        { name: 'GeoLite2-Country', role: 'asn' as const, databaseType: 'GeoLite2-ASN', schema: 'geolite2-asn' as const, buildEpoch: 1_700_100_000 },
      ],
    };
    metrics.bindGeo(geo);
    assert.equal(await value(registry, 'geowarden_geoip_database_info', { database: 'GeoLite2-Country', role: 'country', type: 'GeoLite2-Country', schema: 'geoip2' }), 1);
    assert.equal(await value(registry, 'geowarden_geoip_database_build_timestamp_seconds', { database: 'GeoLite2-Country', role: 'asn' }), 1_700_100_000);
    assert.equal(await value(registry, 'geowarden_geoip_lookups_total', { result: 'cache_hit' }), 30);
    assert.equal(await value(registry, 'geowarden_geoip_lookups_total', { result: 'cache_miss' }), 12);
    assert.equal(await value(registry, 'geowarden_geoip_cache_entries'), 12, 'the cache is a table the heap holds');
    // The updater swaps in a new resolver with fresh counters: the series continue.
    hits = 30;
    metrics.bindGeo({ ...geo, cacheStats: () => ({ hits: 1, misses: 2 }) });
    assert.equal(await value(registry, 'geowarden_geoip_lookups_total', { result: 'cache_hit' }), 31);
    assert.equal(await value(registry, 'geowarden_geoip_lookups_total', { result: 'cache_miss' }), 14);
  });

  it('gives each of several GeoIP databases its own series (geoip.databases: name, role, type, build time)', async () => {
    const { registry, metrics } = fresh();
    const databases = [
      { name: 'dbip', role: 'country' as const, databaseType: 'DBIP-Country-Lite', schema: 'geoip2' as const, buildEpoch: 1_700_000_000 },
      { name: 'geolite2', role: 'country' as const, databaseType: 'GeoLite2-Country', schema: 'geoip2' as const, buildEpoch: 1_710_000_000 },
      { name: 'geolite2', role: 'asn' as const, databaseType: 'GeoLite2-ASN', schema: 'geolite2-asn' as const, buildEpoch: 1_710_000_500 },
      { name: 'ipinfo', role: 'country' as const, databaseType: 'ipinfo lite.mmdb', schema: 'ipinfo-lite' as const, buildEpoch: 1_720_000_000 },
    ];
    metrics.bindGeo({ cacheStats: () => ({ hits: 0, misses: 0 }), databases: () => databases });
    const info = await samples(registry, 'geowarden_geoip_database_info');
    assert.deepEqual(
      info.map((x) => [x.labels.database, x.labels.role, x.labels.type, x.labels.schema, x.value]),
      databases.map((d) => [d.name, d.role, d.databaseType, d.schema, 1]),
    );
    const build = await samples(registry, 'geowarden_geoip_database_build_timestamp_seconds');
    assert.deepEqual(
      build.map((x) => [x.labels.database, x.labels.role, x.value]),
      databases.map((d) => [d.name, d.role, d.buildEpoch]),
    );
    // Two country databases of the same layout are still two series.
    assert.equal(await value(registry, 'geowarden_geoip_database_build_timestamp_seconds', { database: 'dbip', role: 'country' }), 1_700_000_000);
    assert.equal(await value(registry, 'geowarden_geoip_database_build_timestamp_seconds', { database: 'geolite2', role: 'country' }), 1_710_000_000);
  });

  it('a GeoResolver with three named databases (geoip.databases) gives one info and one build series per file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-metrics-geo-'));
    try {
      const dbs = buildDisagreeingGeo(path.join(dir, 'geo'));
      const geo = GeoResolver.open({
        countryDbPath: null,
        asnDbPath: null,
        cacheSize: 10,
        databases: [
          { name: 'dbip', countryDbPath: dbs.dbip.country, asnDbPath: dbs.dbip.asn },
          { name: 'geolite2', countryDbPath: dbs.geolite2.country, asnDbPath: dbs.geolite2.asn },
          { name: 'ipinfo', countryDbPath: dbs.ipinfo.country, asnDbPath: null },
        ],
      });
      const { registry, metrics } = fresh();
      metrics.bindGeo(geo);
      const build = await samples(registry, 'geowarden_geoip_database_build_timestamp_seconds', { role: 'country' });
      assert.deepEqual(Object.fromEntries(build.map((x) => [x.labels.database, x.value])), { dbip: DBIP_BUILD_EPOCH, geolite2: GEOLITE2_BUILD_EPOCH, ipinfo: IPINFO_BUILD_EPOCH });
      const info = await samples(registry, 'geowarden_geoip_database_info');
      assert.equal(info.length, geo.databases().length);
      assert.equal(new Set(info.map((x) => `${x.labels.database}/${x.labels.role}`)).size, info.length, 'one series per file');
      assert.deepEqual(info.filter((x) => x.labels.role === 'country').map((x) => x.labels.database), ['dbip', 'geolite2', 'ipinfo']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records GeoIP update outcomes', async () => {
    const { registry, metrics } = fresh();
    metrics.recordGeoipUpdate('country', true, new Date('2026-01-02T03:04:05Z'));
    metrics.recordGeoipUpdate('asn', false, new Date());
    metrics.recordGeoipUpdate('asn', false, new Date());
    assert.equal(await value(registry, 'geowarden_geoip_update_success_timestamp_seconds', { role: 'country' }), Date.parse('2026-01-02T03:04:05Z') / 1000);
    assert.equal(await value(registry, 'geowarden_geoip_update_failures_total', { role: 'country' }), 0);
    assert.equal(await value(registry, 'geowarden_geoip_update_failures_total', { role: 'asn' }), 2);
  });
});

describe('metric documentation', () => {
  it('registers exactly the documented geowarden_ metrics, with their documented type, labels and HELP', async () => {
    const { registry } = fresh();
    const registered = await registry.getMetricsAsJSON();
    const ours = registered.filter((m) => m.name.startsWith('geowarden_'));
    const others = registered.filter((m) => !m.name.startsWith('geowarden_'));
    assert.deepEqual(ours.map((m) => m.name).sort(), [...METRIC_NAMES].sort());
    for (const m of others) assert.match(m.name, /^(process|nodejs)_/, `${m.name} comes from collectDefaultMetrics`);
    for (const doc of Object.values(METRICS)) {
      const m = ours.find((r) => r.name === doc.name)!;
      assert.equal(m.type, doc.type, doc.name);
      assert.equal(m.help, doc.help, doc.name);
      const labelNames = (registry.getSingleMetric(doc.name) as unknown as { labelNames: string[] }).labelNames;
      assert.deepEqual(labelNames, [...doc.labels], doc.name);
      assert.ok(doc.help.length > 20, `${doc.name} has a real HELP text`);
      if (doc.type === 'counter') assert.match(doc.name, /_total$/, `${doc.name}: counters end in _total`);
      else assert.doesNotMatch(doc.name, /_total$/, `${doc.name}: only counters end in _total`);
    }
  });

  it('carries the version and gateway name in geowarden_build_info', async () => {
    const { registry } = fresh();
    assert.equal(await value(registry, 'geowarden_build_info', { version: '9.9.9', gateway: 'gw-test' }), 1);
    const other = new Registry();
    new GeowardenMetrics(other, { instance: 'x' });
    const { version } = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    assert.equal(await value(other, 'geowarden_build_info', { version, gateway: 'x' }), 1, 'version defaults to package.json');
  });

  it('renders the README table with one row per metric', () => {
    const table = metricsMarkdownTable().split('\n');
    assert.equal(table.length, METRIC_NAMES.length + 2);
    assert.ok(table.some((row) => row.startsWith('| `geowarden_violations_total` | counter | `device`, `country` |')));
  });
});
