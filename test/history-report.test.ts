/**
 * The violation history: recorded by the alert service, answered by `geowarden report` (text,
 * JSON, device filter, dead letters) and by the daemon's HTTP routes GET /api/v1/violations,
 * POST/GET /api/v1/silences and GET /api/v1/dead-letters on the real HTTP server; retention;
 * the digest built from it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { buildDigest, TrafficSummary } from '../src/alerts/digest';
import { describeDigest } from '../src/alerts/alert-text';
import { parseSince, type ViolationRecord } from '../src/history/violation-history';
import { startHttpServer, type HttpServer } from '../src/server/http-server';
import { judgedFlow } from './support/alert-fixtures';
import { AlertReceiver } from './support/alert-receiver';
import { AlertWorkspace } from './support/alert-service-harness';
import { runCli } from './support/replay-run';

const HOUR = 3600_000;

describe('violation history', () => {
  const ws = new AlertWorkspace();
  const receiver = new AlertReceiver();
  let now: number;

  before(async () => {
    await receiver.start();
    receiver.fallback = { status: 400, body: 'no_text' };
    now = Date.now();
    const config = ws.config(`
instance: gw-test
alerts:
  database: "{db}"
  sinks:
    - { name: refused, type: slack, url: "${receiver.url}/slack" }
history:
  retention: 2d
`);
    const { service } = ws.service(config, { now: () => now });
    service.start();
    // Three days of violations from two devices; one silenced by a config-less API-style silence later.
    const at = (hoursAgo: number) => now - hoursAgo * HOUR;
    service.sink.onFlow(judgedFlow({ atMs: at(60) }));
    service.sink.onFlow(judgedFlow({ atMs: at(30), bytesOut: 5000 }));
    service.sink.onFlow(judgedFlow({ atMs: at(2), country: 'RU', remoteIp: '203.0.113.200', hostname: 'alice-laptop', mac: '3c:22:fb:00:00:10', ip: '192.168.1.10', sni: null, names: [], httpHost: 'upload.example.ru' }));
    service.sink.onFlow(judgedFlow({ atMs: at(1), bytesOut: 100 }));
    service.sink.onFlow(judgedFlow({ atMs: at(1), verdict: 'allowed', country: 'DE' }));
    assert.ok(await service.drained(10_000));
    await service.stop();
  });
  after(async () => {
    await receiver.stop();
    ws.cleanup();
  });

  it('parses --since as a duration back from now or a time', () => {
    const t = Date.parse('2024-06-02T00:00:00Z');
    assert.equal(parseSince('24h', t), Date.parse('2024-06-01T00:00:00Z'));
    assert.equal(parseSince('1h30m', t), t - 5400_000);
    assert.equal(parseSince('2024-05-31', t), Date.parse('2024-05-31T00:00:00Z'));
    assert.equal(parseSince('2024-05-31T12:00:00+02:00', t), Date.parse('2024-05-31T10:00:00Z'));
    assert.equal(parseSince('24', t), null);
    assert.equal(parseSince('yesterday', t), null);
  });

  it('geowarden report prints the last 24 hours per device', () => {
    const r = runCli(['report', '--database', ws.db, '--since', '24h']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0]!, /^Violations since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: 2$/);
    assert.equal(lines[1], `(from ${ws.db})`);
    const text = r.stdout;
    assert.match(text, /\nalice-laptop {2}192\.168\.1\.10 {2}3c:22:fb:00:00:10\n {2}1 flow to RU: up 21\.7 kB, down 2\.08 kB\n {2}\S+ \S+ {2}RU {2}203\.0\.113\.200:443\/tcp {2}AS64510 Example Telemetry Co {2}up 21\.7 kB, down 2\.08 kB\n {6}names: Host upload\.example\.ru; rule: deny_countries: RU \(policy "default"\); alert [0-9a-f]{16}\n/);
    assert.match(text, /\nredmi-note {2}192\.168\.1\.40 {2}64:cc:2e:7b:40:05\n {2}1 flow to CN: up 100 B, down 2\.08 kB\n/);
    assert.ok(text.indexOf('alice-laptop') < text.indexOf('redmi-note'), 'most bytes first');
    assert.ok(!text.includes('DE'), 'allowed flows are not violations');
  });

  it('filters by device (name, IP or MAC) and prints JSON lines', () => {
    for (const device of ['redmi-note', 'REDMI-NOTE', '192.168.1.40', '64-CC-2E-7B-40-05']) {
      const r = runCli(['report', '--database', ws.db, '--since', '3d', '--device', device, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ViolationRecord);
      assert.equal(rows.length, 3, device);
      assert.deepEqual(rows.map((v) => v.bytes_out), [100, 5000, 21700], 'newest first');
      assert.deepEqual(rows[0]!.device, { name: 'redmi-note', mac: '64:cc:2e:7b:40:05', ip: '192.168.1.40', group: null });
      assert.deepEqual(rows[0]!.remote, { ip: '203.0.113.10', port: 443, country: 'CN', asn: 64510, as_org: 'Example Telemetry Co' });
      assert.equal(rows[0]!.reason, 'deny_countries: CN (policy "default")');
    }
  });

  it('lists dead letters', () => {
    const r = runCli(['report', '--database', ws.db, '--dead-letters']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Dead letters \(deliveries given up\): 2\n/);
    assert.match(r.stdout, / {2}refused {2}firing alert [0-9a-f]{16} {2}after 1 attempt: HTTP 400: no_text\n {6}idempotency key [0-9a-f]{16}-1\.refused, written /);
    const json = runCli(['report', '--database', ws.db, '--dead-letters', '--json']);
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string; lastStatus: number });
    assert.deepEqual(rows.map((x) => [x.state, x.lastStatus]), [['dead', 400], ['dead', 400]]);
  });

  it('explains a missing database and a bad --since in one line, exit 2', () => {
    const missing = runCli(['report', '--database', `${ws.dir}/nope.db`]);
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr, `geowarden: no alert database at ${ws.dir}/nope.db: alerting has not run here yet (set alerts: in the config and start geowarden run), or pass --database FILE\n`);
    const bad = runCli(['report', '--database', ws.db, '--since', 'yesterday']);
    assert.equal(bad.status, 2);
    assert.equal(bad.stderr, 'geowarden: --since: "yesterday" is not a duration (24h, 90m, 7d) or a time (2030-01-31T18:00:00Z)\n');
  });

  it('prunes what is older than history.retention', async () => {
    const config = ws.config(`alerts:\n  database: "{db}"\nhistory:\n  retention: 2d\n`);
    const { service } = ws.service(config, { now: () => now });
    service.prune();
    assert.deepEqual(
      service.history.query({ sinceMs: 0 }).violations.map((v) => v.bytes_out),
      [100, 21700, 5000],
      'the 60-hour-old violation is gone',
    );
    await service.stop();
  });
});

describe('HTTP API of the alert service', () => {
  const ws = new AlertWorkspace();
  let server: HttpServer;
  let service: ReturnType<AlertWorkspace['service']>['service'];
  const config = () =>
    ws.config(`
instance: gw-test
alerts:
  database: "{db}"
  sinks:
    - { name: console, type: console }
`);

  before(async () => {
    ({ service } = ws.service(config(), { write: () => undefined }));
    service.start();
    service.sink.onFlow(judgedFlow({ atMs: Date.now() }));
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), hostname: 'tv', mac: '02:00:00:00:00:20', ip: '192.168.1.20', country: 'RU' }));
    // Foreign but allowed: in the digest's traffic, not in its violations.
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), verdict: 'allowed', country: 'DE', remoteIp: '198.51.100.20' }));
    // Local traffic is no foreign traffic: neither counts in the digest.
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), verdict: 'local', country: null, remoteIp: '192.168.1.1' }));
    const internal = judgedFlow({ atMs: Date.now(), verdict: 'allowed', country: null, remoteIp: '192.168.1.2' });
    internal.flow.bothInternal = true;
    service.sink.onFlow(internal);
    server = await startHttpServer({ listen: '127.0.0.1:0', webConfigFile: null, registry: new Registry(), ready: () => ({ ok: true, reason: '' }), devices: () => [], routes: service.routes() });
  });
  after(async () => {
    await server.close();
    await service.stop();
    ws.cleanup();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  it('GET /api/v1/violations?since=&device=', async () => {
    const all = await call('GET', '/api/v1/violations?since=1h');
    assert.equal(all.status, 200);
    assert.equal((all.json['violations'] as unknown[]).length, 2);
    assert.equal(all.json['truncated'], false);
    const one = await call('GET', '/api/v1/violations?since=1h&device=tv&limit=5');
    assert.deepEqual((one.json['violations'] as ViolationRecord[]).map((v) => v.remote.country), ['RU']);
    assert.equal(one.json['device'], 'tv');
    const bad = await call('GET', '/api/v1/violations?since=forever');
    assert.equal(bad.status, 400);
    assert.match(String(bad.json['error']), /^since: "forever" is not a duration/);
    assert.equal((await call('GET', '/api/v1/violations?limit=0')).status, 400);
  });

  it('POST /api/v1/silences: validated, applied at once, persisted across a restart', async () => {
    const bad = await call('POST', '/api/v1/silences', { country: 'XX' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json['problems'], [
      'country: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group (groups: )',
      'until: is required (a time such as 2030-01-31T18:00:00Z, or a duration such as 2h)',
    ]);
    assert.equal((await call('POST', '/api/v1/silences', 'not json')).status, 400);
    const created = await call('POST', '/api/v1/silences', { device: 'printer', domain: 'telemetry.example', until: '2h', comment: 'vendor ticket 42' });
    assert.equal(created.status, 201);
    const silence = created.json['silence'] as { id: string; until: string; source: string };
    assert.equal(silence.source, 'api');
    assert.ok(Date.parse(silence.until) > Date.now() + HOUR);
    const silenced = service.engine.observe(judgedFlow({ hostname: 'printer', mac: '02:00:00:00:00:30', names: ['eu.telemetry.example'], sni: null }));
    assert.equal(silenced!.silencedBy, silence.id);
    const listed = await call('GET', '/api/v1/silences');
    assert.deepEqual((listed.json['silences'] as Array<{ id: string }>).map((s) => s.id), [silence.id]);

    // A new service on the same database (a daemon restart) still applies it.
    const restarted = ws.service(config(), { write: () => undefined }).service;
    assert.equal(restarted.engine.observe(judgedFlow({ hostname: 'printer', mac: '02:00:00:00:00:30', names: ['telemetry.example'], sni: null }))!.silencedBy, silence.id);
    await restarted.stop();
  });

  it('GET /api/v1/alerts and /api/v1/dead-letters', async () => {
    const alerts = await call('GET', '/api/v1/alerts');
    assert.equal(alerts.status, 200);
    assert.deepEqual((alerts.json['alerts'] as Array<{ country: string }>).map((a) => a.country).sort(), ['CN', 'RU']);
    const dead = await call('GET', '/api/v1/dead-letters');
    assert.deepEqual(dead.json['dead_letters'], []);
  });

  it('builds the digest per device from the history', () => {
    const digest = buildDigest(service.history, 'gw-test', null, Date.now() + 1000);
    assert.deepEqual(digest.digest.totals, { devices: 2, flows: 2, bytes_out: 43400, bytes_in: 4160 });
    assert.deepEqual(digest.digest.devices.map((d) => [d.device.name, d.countries.map((c) => c.country), d.names]), [
      ['redmi-note', ['CN'], ['metrics.phone-vendor.example']],
      ['tv', ['RU'], ['metrics.phone-vendor.example']],
    ]);
  });

  it('adds each device\'s foreign traffic per country since the last digest, and starts over after it', () => {
    const end = Date.now() + 1000;
    const digest = buildDigest(service.history, 'gw-test', null, end, undefined, service.traffic.take(end));
    const traffic = digest.digest.traffic!;
    assert.ok(traffic, 'the traffic summary is in the payload, next to the violation fields');
    // Every non-local flow the service saw, violations or not.
    assert.deepEqual(traffic.totals, { devices: 2, flows: 3, bytes_out: 3 * 21700, bytes_in: 3 * 2080, violations: 2 });
    assert.deepEqual(
      traffic.devices.map((d) => [d.device.name, d.device.mac, d.flows, d.violations, d.countries.map((c) => [c.country, c.flows, c.bytes_out, c.bytes_in, c.violations])]),
      [
        ['redmi-note', '64:cc:2e:7b:40:05', 2, 1, [['CN', 1, 21700, 2080, 1], ['DE', 1, 21700, 2080, 0]]],
        ['tv', '02:00:00:00:00:20', 1, 1, [['RU', 1, 21700, 2080, 1]]],
      ],
    );
    assert.deepEqual(traffic.folded, { devices: 0, countries: 0 });
    const wording = describeDigest(digest);
    assert.match(wording.traffic[0]!, /^Foreign traffic: 2 devices, ↑ [\d.]+ kB ↓ [\d.]+ kB in 3 flows \(2 violations\):$/);
    assert.match(wording.traffic[1]!, /^redmi-note: ↑ 43\.4 kB ↓ 4\.16 kB in 2 flows, 1 violation → CN 23\.8 kB, DE 23\.8 kB$/);
    // Reset by the digest.
    const next = service.traffic.peek();
    assert.deepEqual([next.totals.flows, next.devices.length, next.since], [0, 0, new Date(end).toISOString()]);
  });

  it('bounds the traffic summary: devices and countries past the limits are folded', () => {
    const summary = new TrafficSummary(0, 2, 3);
    for (const country of ['CN', 'RU', 'IR', 'KP']) summary.add(judgedFlow({ country, bytesOut: 10 }));
    for (let i = 0; i < 4; i++) summary.add(judgedFlow({ mac: `02:00:00:00:00:0${i}`, hostname: `d${i}`, ip: `192.168.1.${i + 1}`, bytesOut: 1000 * (4 - i) }));
    const t = summary.take(1);
    assert.deepEqual(t.devices.map((d) => [d.device.name, d.flows]), [['redmi-note', 4], ['d0', 1], ['other devices', 3]]);
    // Two countries plus `other` for the rest (most bytes first).
    assert.deepEqual(t.devices[0]!.countries.map((c) => [c.country, c.flows]), [['other', 2], ['CN', 1], ['RU', 1]]);
    assert.deepEqual(t.folded, { devices: 3, countries: 2 });
    assert.equal(t.totals.flows, 8);
  });
});
