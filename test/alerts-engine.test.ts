/**
 * The alert engine on a clock the test moves: grouping, thresholds, dedup window, reminders,
 * resolve after a quiet period, silences, severity rules, state that survives a restart; and the
 * same engine through `geowarden replay FILE --alerts` on the household capture (capture time).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AlertEngine, type AlertEngineSettings, type GroupStateRecord } from '../src/alerts/alert-engine';
import { describeAlert } from '../src/alerts/alert-text';
import { SeverityRules } from '../src/alerts/grouping';
import { parseSilenceRequest, silenceFromConfig, SilenceSet } from '../src/alerts/silences';
import type { AlertNotification } from '../src/alerts/types';
import { loadJurisdictions } from '../src/policy/jurisdictions';
import { judgedFlow, ManualClock, T0 } from './support/alert-fixtures';
import { ReplayWorkspace, runCli } from './support/replay-run';
import { DOC_PLAN, household } from './support/scenarios';

const MIN = 60_000;

const SETTINGS: AlertEngineSettings = {
  groupBy: ['device', 'country'],
  minBytes: 0,
  minFlows: 1,
  dedupWindowS: 15 * 60,
  renotifyIntervalS: 4 * 3600,
  resolveAfterS: 30 * 60,
  dashboardUrl: 'https://grafana.example.net/d/gw',
};

function engineWith(overrides: Partial<AlertEngineSettings> = {}, extra: { silences?: SilenceSet; severity?: SeverityRules; clock?: ManualClock } = {}) {
  const clock = extra.clock ?? new ManualClock();
  const sent: AlertNotification[] = [];
  const states: GroupStateRecord[] = [];
  const suppressed: string[] = [];
  const raised: string[] = [];
  const engine = new AlertEngine({
    instance: 'gw-test',
    settings: { ...SETTINGS, ...overrides },
    severity: extra.severity ?? new SeverityRules('warning', [], null),
    silences: extra.silences ?? new SilenceSet(),
    now: clock.now,
    publish: (n, state) => {
      sent.push(n);
      states.push(state);
    },
    onSuppressed: (r) => suppressed.push(r),
    onRaised: (s) => raised.push(s),
  });
  return { engine, clock, sent, states, suppressed, raised };
}

describe('alert engine', () => {
  it('fires once per device and country, with the full evidence', () => {
    const { engine, clock, sent, raised } = engineWith();
    engine.observe(judgedFlow({ atMs: clock.ms, group: 'phones', httpHost: 'collect.analytics-cdn.example' }));
    assert.equal(sent.length, 1);
    const n = sent[0]!;
    assert.equal(n.event, 'firing');
    assert.equal(n.seq, 1);
    assert.equal(n.id, `${n.alert.id}-1`);
    assert.match(n.alert.id, /^[0-9a-f]{16}$/);
    const a = n.alert;
    assert.deepEqual(a.device, { name: 'redmi-note', mac: '64:cc:2e:7b:40:05', ip: '192.168.1.40', group: 'phones' });
    assert.equal(a.instance, 'gw-test');
    assert.equal(a.country, 'CN');
    assert.equal(a.rule, 'deny_countries: CN (policy "default")');
    assert.equal(a.group_key, 'device=64:cc:2e:7b:40:05|country=CN');
    assert.equal(a.started_at, '2024-06-01T07:59:59.000Z');
    assert.equal(a.last_seen_at, '2024-06-01T08:00:00.000Z');
    assert.deepEqual(a.totals, { flows: 1, bytes_out: 21700, bytes_in: 2080, remotes: 1 });
    assert.deepEqual(a.evidence[0], {
      remote_ip: '203.0.113.10',
      remote_port: 443,
      proto: 'tcp',
      country: 'CN',
      asn: 64510,
      as_org: 'Example Telemetry Co',
      names: ['metrics.phone-vendor.example', 'collect.analytics-cdn.example'],
      sni: 'metrics.phone-vendor.example',
      http_host: 'collect.analytics-cdn.example',
      bytes_out: 21700,
      bytes_in: 2080,
      flows: 1,
      first_seen: '2024-06-01T07:59:59.000Z',
      last_seen: '2024-06-01T08:00:00.000Z',
      reason: 'deny_countries: CN (policy "default")',
    });
    assert.deepEqual(a.labels, {
      alertname: 'GeowardenViolation',
      instance: 'gw-test',
      severity: 'warning',
      policy: 'default',
      device: 'redmi-note',
      country: 'CN',
      group: 'phones',
      group_device: '64:cc:2e:7b:40:05',
      group_country: 'CN',
    });
    assert.equal(a.dashboard_url, 'https://grafana.example.net/d/gw');
    assert.deepEqual(raised, ['warning']);

    // More of the same: folded into the alert, no message. Another country: its own alert.
    clock.advance(MIN);
    engine.observe(judgedFlow({ atMs: clock.ms, remoteIp: '203.0.113.11' }));
    engine.observe(judgedFlow({ atMs: clock.ms, country: 'RU', remoteIp: '203.0.113.200' }));
    assert.deepEqual(sent.map((s) => [s.event, s.alert.country]), [['firing', 'CN'], ['firing', 'RU']]);
    assert.deepEqual(engine.stats(), { groups: 2, pending: 0, firing: 2 });
    // Non-violations are not the engine's business.
    assert.equal(engine.observe(judgedFlow({ verdict: 'allowed' })), null);
  });

  it('reminds while firing and resolves after the quiet period, then opens a new alert', () => {
    const { engine, clock, sent } = engineWith({ renotifyIntervalS: 3600, resolveAfterS: 600 });
    for (let i = 0; i < 8; i++) {
      engine.observe(judgedFlow({ atMs: clock.ms }));
      clock.advance(9 * MIN);
      engine.advance();
    }
    // 72 minutes of violations every 9 minutes: firing at 0, a reminder after 60 minutes.
    assert.deepEqual(sent.map((s) => s.event), ['firing', 'reminder']);
    assert.equal(sent[1]!.alert.id, sent[0]!.alert.id);
    assert.equal(sent[1]!.seq, 2);
    assert.equal(sent[1]!.alert.totals.flows, 7);
    clock.advance(10 * MIN);
    engine.advance();
    assert.deepEqual(sent.map((s) => s.event), ['firing', 'reminder', 'resolved']);
    const resolved = sent[2]!;
    assert.equal(resolved.alert.status, 'resolved');
    assert.equal(resolved.alert.totals.flows, 8);
    assert.equal(resolved.alert.resolved_at, new Date(clock.ms).toISOString());
    assert.match(describeAlert(resolved, null).title, /^✅ Resolved: redmi-note → China \(CN\)$/);
    clock.advance(20 * MIN);
    engine.observe(judgedFlow({ atMs: clock.ms }));
    assert.equal(sent.length, 4);
    assert.equal(sent[3]!.event, 'firing');
    assert.notEqual(sent[3]!.alert.id, sent[0]!.alert.id, 'a new alert after a resolve');
  });

  it('waits for min_flows and min_bytes; a group that goes quiet first raises nothing', () => {
    const { engine, clock, sent, suppressed } = engineWith({ minFlows: 3, minBytes: 100_000, resolveAfterS: 600 });
    engine.observe(judgedFlow({ atMs: clock.ms, bytesOut: 1000, bytesIn: 0 }));
    engine.observe(judgedFlow({ atMs: clock.ms, bytesOut: 1000, bytesIn: 0 }));
    clock.advance(11 * MIN);
    engine.advance();
    assert.deepEqual(suppressed, ['below_threshold']);
    engine.observe(judgedFlow({ atMs: clock.ms, bytesOut: 60_000 }));
    engine.observe(judgedFlow({ atMs: clock.ms, bytesOut: 60_000 }));
    assert.equal(sent.length, 0, '2 flows: below min_flows');
    engine.observe(judgedFlow({ atMs: clock.ms, bytesOut: 10 }));
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.alert.totals.flows, 3, 'the alert carries the flows that led to it');
  });

  it('folds a flapping group within the dedup window into one alert', () => {
    const { engine, clock, sent } = engineWith({ dedupWindowS: 3600, renotifyIntervalS: 4 * 3600, resolveAfterS: 600 });
    engine.observe(judgedFlow({ atMs: clock.ms }));
    // Quiet for 11 minutes: a resolve is due, but within an hour of the firing message it waits.
    clock.advance(11 * MIN);
    engine.advance();
    assert.equal(sent.length, 1);
    // Violating again takes the pending resolve back.
    clock.advance(9 * MIN);
    engine.observe(judgedFlow({ atMs: clock.ms }));
    clock.advance(30 * MIN);
    engine.advance();
    assert.deepEqual(sent.map((s) => s.event), ['firing']);
    // 61 minutes after the firing message the resolve goes out, for the same alert.
    clock.advance(11 * MIN);
    engine.advance();
    assert.deepEqual(sent.map((s) => s.event), ['firing', 'resolved']);
    assert.equal(sent[1]!.alert.id, sent[0]!.alert.id);
    assert.equal(sent[1]!.alert.totals.flows, 2);
  });

  it('applies silences by device, country and domain until their end', () => {
    const silences = new SilenceSet([
      silenceFromConfig({ device: 'redmi-note', country: 'CN', domain: null, untilMs: T0 + 10 * MIN, comment: '' }),
      silenceFromConfig({ device: null, country: null, domain: 'phone-vendor.example', untilMs: T0 + 5 * MIN, comment: '' }),
      silenceFromConfig({ device: '192.168.1.77', country: null, domain: null, untilMs: T0 + 60 * MIN, comment: '' }),
    ]);
    const { engine, clock, sent, suppressed } = engineWith({}, { silences });
    assert.match(engine.observe(judgedFlow({ atMs: clock.ms }))!.silencedBy!, /^cfg-/);
    // The domain silence matches names on label boundaries only.
    assert.ok(engine.observe(judgedFlow({ atMs: clock.ms, hostname: 'other', mac: 'aa:aa:aa:aa:aa:aa', ip: '192.168.1.50' }))!.silencedBy);
    const notSilenced = engine.observe(judgedFlow({ atMs: clock.ms, hostname: 'other', mac: 'aa:aa:aa:aa:aa:aa', names: ['evilphone-vendor.example'], sni: null }))!;
    assert.equal(notSilenced.silencedBy, null);
    assert.ok(engine.observe(judgedFlow({ atMs: clock.ms, ip: '192.168.1.77', mac: null, hostname: null, country: 'RU' }))!.silencedBy, 'by IP');
    assert.equal(sent.length, 1);
    clock.advance(11 * MIN);
    assert.equal(engine.observe(judgedFlow({ atMs: clock.ms }))!.silencedBy, null, 'the silence has ended');
    assert.equal(sent.length, 2);
    assert.deepEqual(suppressed, ['silenced', 'silenced', 'silenced']);
  });

  it('validates silences posted to the API like the config ones', () => {
    assert.deepEqual(parseSilenceRequest({ device: 'tv', until: '2h', comment: 'firmware update' }, T0), {
      ok: true,
      silence: { device: 'tv', country: null, domain: null, untilMs: T0 + 2 * 3600_000, comment: 'firmware update' },
    });
    const bad = parseSilenceRequest({ country: 'XX', until: 'soon', colour: 1 }, T0);
    assert.equal(bad.ok, false);
    assert.deepEqual(!bad.ok && bad.problems, [
      'colour: unknown field (fields: device, country, domain, until, comment)',
      'country: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group (groups: )',
      'until: "soon" is not a time (use 2030-01-31T18:00:00Z, an offset such as +01:00, or 2030-01-31)',
    ]);
    assert.deepEqual(parseSilenceRequest({ until: '2020-01-01' }, T0), { ok: false, problems: ['until: is in the past', 'needs at least one of device, country, domain'] });
  });

  it('gives severity by the first matching rule, with jurisdiction groups expanded', () => {
    const severity = new SeverityRules(
      'info',
      [
        { severity: 'critical', policies: ['iot'], countries: [], deviceGroups: [], minBytes: 0 },
        { severity: 'warning', policies: [], countries: ['FIVE_EYES'], deviceGroups: [], minBytes: 10_000 },
      ],
      loadJurisdictions(null),
    );
    const { engine, sent } = engineWith({}, { severity });
    engine.observe(judgedFlow({ policy: 'iot', country: 'FR' }));
    engine.observe(judgedFlow({ country: 'NZ', mac: 'aa:00:00:00:00:01' }));
    engine.observe(judgedFlow({ country: 'NZ', mac: 'aa:00:00:00:00:02', bytesOut: 10, bytesIn: 10 }));
    engine.observe(judgedFlow({ country: 'CN', mac: 'aa:00:00:00:00:03' }));
    assert.deepEqual(sent.map((s) => s.alert.severity), ['critical', 'warning', 'info', 'info']);
  });

  it('groups by device alone when asked, listing every country', () => {
    const { engine, sent } = engineWith({ groupBy: ['device'] });
    engine.observe(judgedFlow({ country: 'CN' }));
    engine.observe(judgedFlow({ country: 'RU', remoteIp: '203.0.113.200' }));
    assert.equal(sent.length, 1);
    assert.deepEqual(engine.firing()[0]!.countries, ['CN', 'RU']);
    assert.equal(engine.firing()[0]!.group_key, 'device=64:cc:2e:7b:40:05');
  });

  it('is deterministic: the same violations at the same times give the same messages', () => {
    const run = () => {
      const { engine, clock, sent } = engineWith({ resolveAfterS: 300 });
      for (let i = 0; i < 5; i++) {
        engine.observe(judgedFlow({ atMs: clock.ms, country: i % 2 ? 'RU' : 'CN' }));
        clock.advance(2 * MIN);
        engine.advance();
      }
      clock.advance(10 * MIN);
      engine.advance();
      return JSON.stringify(sent);
    };
    assert.equal(run(), run());
  });

  it('restores open alerts after a restart and resolves them under the same id', () => {
    const first = engineWith({ resolveAfterS: 600, dedupWindowS: 60 });
    first.engine.observe(judgedFlow({ atMs: first.clock.ms }));
    first.clock.advance(MIN);
    first.engine.observe(judgedFlow({ atMs: first.clock.ms }));
    const saved = new Map<string, GroupStateRecord>();
    for (const r of [...first.states, ...first.engine.takeDirty()]) saved.set(r.key, r);

    const second = engineWith({ resolveAfterS: 600, dedupWindowS: 60 }, { clock: new ManualClock(first.clock.ms) });
    assert.equal(second.engine.restore([...saved.values()]), 1);
    second.engine.observe(judgedFlow({ atMs: second.clock.ms }));
    assert.equal(second.sent.length, 0, 'the alert was announced before the restart');
    second.clock.advance(11 * MIN);
    second.engine.advance();
    assert.equal(second.sent.length, 1);
    assert.equal(second.sent[0]!.event, 'resolved');
    assert.equal(second.sent[0]!.alert.id, first.sent[0]!.alert.id);
    assert.equal(second.sent[0]!.seq, 2);
    assert.equal(second.sent[0]!.alert.totals.flows, 3);
  });
});

describe('geowarden replay --alerts', () => {
  let ws: ReplayWorkspace;
  let capture: string;

  before(() => {
    ws = new ReplayWorkspace();
    capture = ws.writeCapture('household.pcap', household(DOC_PLAN));
  });
  after(() => ws.cleanup());

  it('prints the alerts the daemon would send, as JSON lines in the webhook schema, at capture time', () => {
    const r = runCli(['replay', capture, '--alerts', '--json', '--deny-countries', 'CN,RU', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as AlertNotification & { schema: string; idempotency_key: string });
    assert.deepEqual(lines.map((l) => [l.schema, l.event, l.alert.device.name, l.alert.country]).sort(), [
      ['geowarden.notification/v1', 'firing', 'alice-laptop', 'RU'],
      ['geowarden.notification/v1', 'firing', 'redmi-note', 'CN'],
    ]);
    for (const l of lines) {
      assert.ok(l.created_at.startsWith('2024-06-01T08:'), `capture time, not the wall clock: ${l.created_at}`);
      assert.equal(l.idempotency_key, `${l.id}.replay`);
    }
    const phone = lines.find((l) => l.alert.country === 'CN')!.alert;
    assert.deepEqual(phone.evidence[0]!.names, ['metrics.phone-vendor.example', 'collect.analytics-cdn.example', 'edge7.telemetry.example']);
    assert.equal(phone.evidence[0]!.sni, 'metrics.phone-vendor.example');
    assert.equal(phone.device.mac, '64:cc:2e:7b:40:05');
    // Same capture, same alerts, same ids.
    const again = runCli(['replay', capture, '--alerts', '--json', '--deny-countries', 'CN,RU', ...ws.geoArgs()]);
    assert.equal(again.stdout, r.stdout);
  });

  it('prints one readable line per alert without --json', () => {
    const r = runCli(['replay', capture, '--alerts', '--deny-countries', 'CN', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^2024-06-01T08:\S+ FIRING warning \S+ redmi-note sent [\d.]+ kB to China \([\d.]+ kB back\) in 1 flow\. \[.*metrics\.phone-vendor\.example.*\] rule: deny_countries: CN \(policy "default"\) \(alert [0-9a-f]{16}#1\)$/);
  });
});
