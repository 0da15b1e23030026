/**
 * Alerting as `geowarden run` wires it (src/daemon/observability.ts), without a live interface:
 * the daemon's sinks, HTTP server and registry are built from a config with `alerts:`, a capture
 * is fed through the pipeline, and the result is read the way an admin reads it: alerts at the
 * receiver, /api/v1/violations, /api/v1/silences, and /metrics, which `promtool check metrics`
 * must accept with the alerting metrics in it. Shutdown's final flush stops alerting.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CaptureFileSource } from '../src/capture/capture-file-source';
import { applyOverrides } from '../src/config/load';
import { JsonLogger } from '../src/daemon/logger';
import { createObservability } from '../src/daemon/observability';
import { DaemonStartError } from '../src/daemon/errors';
import { buildPipeline } from '../src/pipeline/build';
import { AlertReceiver } from './support/alert-receiver';
import { AlertWorkspace } from './support/alert-service-harness';
import { ReplayWorkspace } from './support/replay-run';
import { DOC_PLAN, household } from './support/scenarios';

const PROMTOOL = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();

describe('alerting in the daemon wiring', () => {
  const ws = new AlertWorkspace();
  const receiver = new AlertReceiver();
  let replay: ReplayWorkspace;
  let url: string;
  let close: () => Promise<void>;
  const logLines: string[] = [];

  before(async () => {
    await receiver.start();
    replay = new ReplayWorkspace();
    const capture = replay.writeCapture('household.pcap', household(DOC_PLAN));
    const config = applyOverrides(
      ws.config(`
instance: gw-wiring
alerts:
  database: "{db}"
  sinks:
    - { name: hook, type: webhook, url: "${receiver.url}/hook" }
`),
      { denyCountries: ['CN', 'RU'], geoipCountry: replay.countryDb, geoipAsn: replay.asnDb ?? undefined },
    );
    const log = new JsonLogger('info', (line) => void logLines.push(line));
    const observability = createObservability(config, log);
    const { pipeline, geo } = buildPipeline(config, observability.sinks);
    observability.bind({ pipeline, geo, capture: () => [] });
    const server = await observability.startServer({ listen: '127.0.0.1:0', webConfigFile: null, ready: () => ({ ok: true, reason: 'test' }) });
    url = `http://127.0.0.1:${server.port}`;
    new CaptureFileSource(capture).run(pipeline.handleFrame);
    // As the daemon's one-second tick does on a quiet link: time passes, idle flows end.
    pipeline.tick((pipeline.summary().lastTimestampUs ?? 0) + 3600e6);
    close = async () => {
      pipeline.finish('shutdown');
      await server.close();
    };
    const deadline = Date.now() + 10_000;
    while (receiver.accepted().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  });
  after(async () => {
    await close();
    await receiver.stop();
    replay.cleanup();
    ws.cleanup();
  });

  it('sends the capture\'s alerts and logs them as JSON lines', () => {
    const countries = receiver.accepted().map((r) => (r.json as { alert: { country: string } }).alert.country).sort();
    assert.deepEqual(countries, ['CN', 'RU']);
    const records = logLines.map((l) => JSON.parse(l) as { msg: string; event?: string; sinks?: string });
    assert.ok(records.some((r) => r.event === 'alerts-started' && r.sinks === 'hook:webhook'));
    assert.equal(records.filter((r) => r.event === 'alert-firing').length, 2);
  });

  it('serves /api/v1/violations and /api/v1/silences next to the daemon\'s own routes', async () => {
    const v = (await (await fetch(`${url}/api/v1/violations?since=5000d&device=redmi-note`)).json()) as { violations: Array<{ remote: { country: string } }> };
    assert.deepEqual(v.violations.map((x) => x.remote.country), ['CN']);
    const s = await fetch(`${url}/api/v1/silences`, { method: 'POST', body: JSON.stringify({ country: 'RU', until: '1h' }) });
    assert.equal(s.status, 201);
    assert.equal((await fetch(`${url}/api/v1/devices`)).status, 200);
  });

  it('exposes the alerting metrics on /metrics, which promtool accepts', { skip: PROMTOOL ? false : 'promtool is not installed (Debian package "prometheus")' }, async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['geowarden_alerts_raised_total', 'geowarden_alert_deliveries_total', 'geowarden_alert_outbox_depth', 'geowarden_alert_outbox_oldest_age_seconds', 'geowarden_alert_store_durable']) {
      assert.match(text, new RegExp(`^# HELP ${name} `, 'm'), name);
    }
    assert.match(text, /^geowarden_alerts_raised_total\{severity="warning"\} 2$/m);
    assert.match(text, /^geowarden_alert_deliveries_total\{sink="hook",result="sent"\} 2$/m);
    assert.match(text, /^geowarden_alert_store_durable 1$/m);
    const lint = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
  });

  it('refuses to start with a missing secret, as a one-line start error', () => {
    const config = ws.config(`alerts:\n  database: "{dir}/other.db"\n  sinks:\n    - { name: chat, type: slack, url_env: GEOWARDEN_TEST_NO_SUCH_VAR }\n`);
    assert.throws(
      () => createObservability(config, new JsonLogger('error', () => undefined)),
      (err: unknown) => err instanceof DaemonStartError && err.message === 'alerts.sinks[0] (chat): url: environment variable GEOWARDEN_TEST_NO_SUCH_VAR is not set or empty',
    );
  });
});
