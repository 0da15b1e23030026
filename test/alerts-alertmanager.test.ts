/**
 * A real Alertmanager (Debian prometheus-alertmanager) receives Geowarden's alerts: the test
 * starts it on a free loopback port with clustering off, sends violations through the alert
 * service, and reads the alerts back through Alertmanager's own API v2: labels, annotations,
 * generatorURL, re-posts while firing, and the resolve.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { judgedFlow } from './support/alert-fixtures';
import { AlertWorkspace, metricValue } from './support/alert-service-harness';

const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
  status: { state: string };
}

function skipReason(): string | null {
  const r = spawnSync(ALERTMANAGER, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : `needs ${ALERTMANAGER} (apt-get install prometheus-alertmanager)`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const reason = skipReason();

describe('Alertmanager (real, API v2)', { skip: reason ?? false }, () => {
  let dir: string;
  let child: ChildProcess;
  let url: string;
  let output = '';
  const ws = new AlertWorkspace();

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-am-'));
    // A route to a receiver with no integrations: Alertmanager keeps and serves the alerts, sends nothing.
    writeFileSync(path.join(dir, 'alertmanager.yml'), 'route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(
      ALERTMANAGER,
      [
        `--config.file=${path.join(dir, 'alertmanager.yml')}`,
        `--storage.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // Empty: no gossip cluster, so nothing listens beyond the API port.
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor('Alertmanager to be ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : null));
  });

  after(() => {
    child?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    ws.cleanup();
  });

  const alerts = async (): Promise<GettableAlert[]> => (await (await fetch(`${url}/api/v2/alerts`)).json()) as GettableAlert[];

  it('receives alerts with the expected labels and annotations, re-posted while firing, and resolves them', async (t) => {
    const config = ws.config(`
instance: gw-office-1
alerts:
  database: "{db}"
  dashboard_url: https://grafana.example.net/d/geowarden
  resolve_after: 3s
  dedup_window: 0s
  severity_rules:
    - { severity: critical, countries: [RU] }
  sinks:
    - { name: am, type: alertmanager, url: "${url}/", resend_interval: 1s }
`);
    const { service, registry } = ws.service(config);
    t.after(() => service.stop());
    service.start();
    const started = Date.now();
    service.sink.onFlow(judgedFlow({ atMs: started, group: 'phones' }));
    service.sink.onFlow(judgedFlow({ atMs: started, country: 'RU', remoteIp: '203.0.113.200', hostname: 'alice-laptop', mac: '3c:22:fb:00:00:10', ip: '192.168.1.10' }));

    const got = await waitFor('two alerts in Alertmanager', async () => {
      const list = await alerts();
      return list.length === 2 ? list : null;
    });
    const phone = got.find((a) => a.labels['country'] === 'CN')!;
    assert.deepEqual(phone.labels, {
      alertname: 'GeowardenViolation',
      instance: 'gw-office-1',
      severity: 'warning',
      policy: 'default',
      device: 'redmi-note',
      country: 'CN',
      group: 'phones',
      group_device: '64:cc:2e:7b:40:05',
      group_country: 'CN',
    });
    assert.equal(got.find((a) => a.labels['country'] === 'RU')!.labels['severity'], 'critical');
    assert.equal(phone.status.state, 'active');
    assert.equal(phone.generatorURL, 'https://grafana.example.net/d/geowarden');
    assert.match(phone.annotations['summary']!, /^WARNING: redmi-note → China \(CN\): redmi-note sent 21\.7 kB to China/);
    assert.match(phone.annotations['description']!, /^Device: redmi-note · 192\.168\.1\.40 · 64:cc:2e:7b:40:05 · group phones\nWhere: China \(CN\) · AS64510 Example Telemetry Co · 203\.0\.113\.10:443\/tcp\n/);
    assert.equal((JSON.parse(phone.annotations['evidence']!) as Array<{ remote_ip: string }>)[0]!.remote_ip, '203.0.113.10');
    assert.equal(Date.parse(phone.startsAt), started - 1000, 'startsAt is the first violating flow');
    assert.ok(Date.parse(phone.endsAt) > Date.now(), 'endsAt ahead while firing');

    // Re-posted every resend_interval while firing: Alertmanager's updatedAt moves on.
    const firstUpdate = Date.parse(phone.updatedAt);
    await waitFor('a re-post', async () => {
      const again = (await alerts()).find((a) => a.labels['country'] === 'CN');
      return again && Date.parse(again.updatedAt) > firstUpdate ? true : null;
    });
    assert.ok((await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'am', result: 'sent' })) >= 3);

    // Quiet for resolve_after: the resolved post sets endsAt and Alertmanager drops them from the active list.
    await waitFor('the alerts to resolve', async () => ((await alerts()).length === 0 ? true : null), 20_000);
    const events = service.outbox.list().map((d) => d.event);
    assert.deepEqual(events.sort(), ['firing', 'firing', 'resolved', 'resolved']);
    assert.equal(service.outbox.list({ state: 'pending' }).length, 0);
    assert.ok(!/level=error/.test(output), output);
  });
});
