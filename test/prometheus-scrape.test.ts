/**
 * The household scenario replayed through the real pipeline (fixture GeoIP databases, policy
 * denying CN and RU) into GeowardenMetrics and DeviceActivity, served by startHttpServer. Then
 * independent oracles judge what comes out: the scenario's own accounting of what it emitted,
 * `promtool check metrics` for the exposition format, and a real Prometheus (Debian package)
 * that scrapes the server and answers PromQL queries.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { CaptureFileSource } from '../src/capture/capture-file-source';
import { defaultConfig } from '../src/config/load';
import { GeowardenMetrics } from '../src/metrics/geowarden-metrics';
import { buildPipeline } from '../src/pipeline/build';
import { DeviceActivity, type DeviceActivityRecord } from '../src/server/device-activity';
import { startHttpServer, type HttpServer } from '../src/server/http-server';
import { buildFixtureGeo } from './support/fixture-geo';
import { httpGet as get, PrometheusServer } from './support/prometheus-server';
import { DOC_PLAN, household, writeScenario, type ExpectedFlow, type HouseholdScenario } from './support/scenarios';

const DENIED = ['CN', 'RU'];
const PROMETHEUS_TIMEOUT_MS = 30_000;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Enough of the text exposition format for prom-client's output: `name{a="x",b="y"} value`. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = JSON.parse(`"${v}"`) as string;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

function sumOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

/** What the scenario says each remote country must come to under a CN/RU deny-list. */
function countryLabel(f: ExpectedFlow): string {
  return f.country ?? 'unknown';
}
function verdictOf(f: ExpectedFlow): string {
  return f.country === null ? 'unknown' : DENIED.includes(f.country) ? 'violation' : 'allowed';
}

/** Absent and not root: the test cannot install it, so it skips; as root it must be there. */
function requireTool(t: TestContext, tool: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return true;
  if (process.getuid?.() !== 0) {
    t.skip(`${tool} is not installed and this is not root (apt-get install prometheus)`);
    return false;
  }
  assert.fail(`${tool} is not installed; run "apt-get install -y prometheus" (npm test does it through scripts/ensure-system.js)`);
}

describe('household replay served to Prometheus', () => {
  let dir: string;
  let scenario: HouseholdScenario;
  let server: HttpServer;
  let exposition: string;
  let samples: Sample[];
  let prometheus: PrometheusServer | null = null;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-prom-'));
    const dbs = buildFixtureGeo(path.join(dir, 'geo'), 'dbip');
    const config = defaultConfig();
    config.instance = 'test-gateway';
    config.geoip = { ...config.geoip, country: dbs.countryDb, asn: dbs.asnDb };
    config.policy.default = { denyCountries: DENIED, allowCountries: null };

    const registry = new Registry();
    const metrics = new GeowardenMetrics(registry, { instance: config.instance, cardinalityLimit: config.metrics.cardinalityLimit });
    const activity = new DeviceActivity();
    const { pipeline, geo } = buildPipeline(config, [metrics.sink, activity]);
    metrics.bindPipeline(pipeline, { live: false });
    metrics.bindGeo(geo);

    scenario = household(DOC_PLAN);
    const capture = path.join(dir, 'household.pcap');
    writeScenario(scenario, capture);
    const source = new CaptureFileSource(capture);
    const result = source.run(pipeline.handleFrame);
    assert.equal(result.readError, null);
    pipeline.finish('end-of-capture');
    // A capture file has no pcap_stats; frames read stand in so the exposition has those families too.
    metrics.bindCapture(() => [{ interface: 'household.pcap', received: source.stats().framesRead, dropped: 0, ifDropped: 0 }]);
    metrics.recordGeoipUpdate('country', true, new Date());

    server = await startHttpServer({
      listen: '127.0.0.1:0',
      webConfigFile: null,
      registry,
      ready: () => ({ ok: true, reason: '' }),
      devices: () => activity.snapshot(),
    });
    const r = await get(`${server.url}/metrics`);
    assert.equal(r.status, 200);
    exposition = r.text;
    samples = parseExposition(exposition);
  });

  after(async () => {
    await prometheus?.stop();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('counts exactly the bytes, packets, flows and violations the scenario emitted', () => {
    const e = scenario.expected;
    const byKey = new Map<string, { out: number; in: number; pout: number; pin: number; flows: number }>();
    for (const f of e.flows) {
      const key = `${countryLabel(f)}|${verdictOf(f)}`;
      const t = byKey.get(key) ?? { out: 0, in: 0, pout: 0, pin: 0, flows: 0 };
      t.out += f.bytesUp;
      t.in += f.bytesDown;
      t.pout += f.packetsUp;
      t.pin += f.packetsDown;
      t.flows++;
      byKey.set(key, t);
    }
    assert.ok(byKey.has('CN|violation') && byKey.has('RU|violation') && byKey.has('DE|allowed') && byKey.has('unknown|unknown'));
    for (const [key, t] of byKey) {
      const [country, verdict] = key.split('|') as [string, string];
      const l = { country, verdict, group: 'default' };
      assert.equal(sumOf(samples, 'geowarden_traffic_bytes_total', { ...l, direction: 'out' }), t.out, `${key} bytes out`);
      assert.equal(sumOf(samples, 'geowarden_traffic_bytes_total', { ...l, direction: 'in' }), t.in, `${key} bytes in`);
      assert.equal(sumOf(samples, 'geowarden_traffic_packets_total', { ...l, direction: 'out' }), t.pout, `${key} packets out`);
      assert.equal(sumOf(samples, 'geowarden_traffic_packets_total', { ...l, direction: 'in' }), t.pin, `${key} packets in`);
      assert.equal(sumOf(samples, 'geowarden_flows_total', l), t.flows, `${key} flows`);
    }
    assert.equal(sumOf(samples, 'geowarden_flows_total', { country: 'local', verdict: 'local' }), e.lanFlows.length);
    assert.equal(sumOf(samples, 'geowarden_flows_total'), e.flows.length + e.lanFlows.length);

    const violations = samples.filter((s) => s.name === 'geowarden_violations_total');
    const expectedViolations = new Map<string, number>();
    for (const f of e.flows.filter((x) => verdictOf(x) === 'violation')) {
      const key = `${f.device}|${f.country}`;
      expectedViolations.set(key, (expectedViolations.get(key) ?? 0) + 1);
    }
    assert.deepEqual(new Map(violations.map((s) => [`${s.labels.device}|${s.labels.country}`, s.value])), expectedViolations);

    for (const d of e.devices) {
      const all = [...e.flows, ...e.lanFlows].filter((f) => f.device === d.hostname);
      assert.equal(sumOf(samples, 'geowarden_device_bytes_total', { device: d.hostname, direction: 'out' }), all.reduce((n, f) => n + f.bytesUp, 0), `${d.hostname} out`);
      assert.equal(sumOf(samples, 'geowarden_device_bytes_total', { device: d.hostname, direction: 'in' }), all.reduce((n, f) => n + f.bytesDown, 0), `${d.hostname} in`);
    }

    assert.equal(sumOf(samples, 'geowarden_packets_total'), scenario.frames.length);
    assert.equal(sumOf(samples, 'geowarden_bytes_total'), scenario.frames.reduce((n, f) => n + f.frame.length, 0));
    assert.equal(sumOf(samples, 'geowarden_decode_errors_total'), 0);
    assert.equal(sumOf(samples, 'geowarden_dns_responses_total', { rcode: 'NOERROR' }), e.dns.length);
    assert.equal(sumOf(samples, 'geowarden_flows_ended_total'), e.flows.length + e.lanFlows.length);
    assert.equal(sumOf(samples, 'geowarden_devices'), e.devices.length + 1, 'the five devices and the TV\'s IPv6 address');
    assert.equal(sumOf(samples, 'geowarden_geoip_database_info', { role: 'country', type: 'country ipvAll', schema: 'country-code' }), 1);
    assert.equal(sumOf(samples, 'geowarden_geoip_database_build_timestamp_seconds', { role: 'country' }), 1_700_000_000);
    assert.ok(Number.isNaN(sumOf(samples, 'geowarden_processing_lag_seconds')), 'a replay has no processing lag');
  });

  it('serves the devices with their countries and last violation', async () => {
    const r = await get(`${server.url}/api/v1/devices`);
    assert.equal(r.status, 200);
    const { devices } = JSON.parse(r.text) as { devices: DeviceActivityRecord[] };
    const phone = devices.find((d) => d.hostname === 'redmi-note');
    assert.ok(phone, JSON.stringify(devices.map((d) => d.hostname)));
    assert.equal(phone.last_violation?.country, 'CN');
    assert.equal(phone.last_violation?.remote, DOC_PLAN.cn);
    assert.equal(phone.last_violation?.name, 'metrics.phone-vendor.example');
    assert.ok(phone.names.includes('edge7.telemetry.example'));
    const cn = scenario.expected.flows.filter((f) => f.device === 'redmi-note' && f.country === 'CN');
    assert.deepEqual(
      phone.countries.find((c) => c.country === 'CN'),
      { country: 'CN', bytes_up: cn.reduce((n, f) => n + f.bytesUp, 0), bytes_down: cn.reduce((n, f) => n + f.bytesDown, 0), flows: cn.length },
    );
    const tv = devices.find((d) => d.hostname === 'livingroom-tv');
    assert.deepEqual(tv?.ips.sort(), ['192.168.1.20', 'fd00:1::20']);
  });

  it('passes promtool check metrics', (t) => {
    if (!requireTool(t, 'promtool')) return;
    const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no lint findings');
  });

  it('is scraped by a real Prometheus, whose queries return the replayed values', async (t) => {
    if (!requireTool(t, 'prometheus')) return;
    prometheus = await PrometheusServer.start({
      workDir: path.join(dir, 'prometheus'),
      targets: [`127.0.0.1:${server.port}`],
      timeoutMs: PROMETHEUS_TIMEOUT_MS,
    });
    await prometheus.waitForTargetsUp('geowarden');
    const query = (q: string) => prometheus!.queryVector(q);

    const cnFlows = scenario.expected.flows.filter((f) => f.country === 'CN');
    const cn = await query('geowarden_traffic_bytes_total{country="CN",verdict="violation"}');
    const byDirection = Object.fromEntries(cn.map((s) => [s.metric.direction, Number(s.value[1])]));
    assert.deepEqual(byDirection, { out: cnFlows.reduce((n, f) => n + f.bytesUp, 0), in: cnFlows.reduce((n, f) => n + f.bytesDown, 0) });
    assert.ok(cn.every((s) => s.metric.job === 'geowarden' && s.metric.instance === `127.0.0.1:${server.port}`));

    const violations = await query('geowarden_violations_total');
    const got = Object.fromEntries(violations.map((s) => [`${s.metric.device}|${s.metric.country}`, Number(s.value[1])]));
    const want: Record<string, number> = {};
    for (const f of scenario.expected.flows.filter((x) => verdictOf(x) === 'violation')) want[`${f.device}|${f.country}`] = (want[`${f.device}|${f.country}`] ?? 0) + 1;
    assert.deepEqual(got, want);
    assert.deepEqual(Object.keys(want).sort(), ['alice-laptop|RU', 'redmi-note|CN']);
  });
});
