/**
 * The real daemon killed with SIGKILL while alert deliveries are pending, then restarted on the
 * same database: `geowarden run` captures the device's connection to a denied country on the lab's
 * veth, raises an alert for a webhook receiver (in the daemon's namespace) that answers 500, is
 * killed with the delivery still pending in the outbox, and the restarted daemon delivers it, once
 * the receiver is healthy, under the idempotency key it was attempted with; the outbox drains.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AlertDatabase } from '../src/alerts/alert-database';
import { Outbox } from '../src/alerts/outbox';
import { startDaemon, type RunningDaemon } from './support/daemon-run';
import { buildFixtureGeo } from './support/fixture-geo';
import { DENIED_IP, GATEWAY_IP, NetnsLab, netnsSkipReason, OutputLines, SERVICE_PORT, waitFor } from './support/netns-lab';

const skip = netnsSkipReason(['dnsmasq']);
const RECEIVER_PORT = 18_080;

/**
 * A webhook receiver for the daemon's namespace: answers 500 until the file `argv[1]` exists, then
 * 200; prints one JSON line per request (idempotency key, answer).
 */
const RECEIVER_SCRIPT = `
const http = require('node:http'), fs = require('node:fs');
const [healthyFile, port] = process.argv.slice(1);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const status = fs.existsSync(healthyFile) ? 200 : 500;
    let kind = null, id = null;
    try { const j = JSON.parse(body); kind = j.kind; id = j.alert ? j.alert.id : j.id; } catch {}
    process.stdout.write(JSON.stringify({ key: req.headers['idempotency-key'] || null, status, path: req.url, kind, id }) + '\\n');
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.end(status === 200 ? 'ok' : 'down');
  });
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

interface Received {
  key: string | null;
  status: number;
  path: string;
  kind: string | null;
  id: string | null;
}

function pendingKeys(database: string): string[] {
  if (!existsSync(database)) return [];
  try {
    const store = AlertDatabase.openReadOnly(database);
    try {
      return new Outbox(store).list({ state: 'pending' }).map((d) => d.idempotencyKey).sort();
    } finally {
      store.close();
    }
  } catch {
    // Not created yet, or mid-creation.
    return [];
  }
}

describe('geowarden run killed with SIGKILL mid-delivery', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir: string;
  const daemons: RunningDaemon[] = [];

  before(async () => {
    dir = await lab.setUp('geowarden-alert-crash-');
  });

  after(() => {
    for (const d of daemons) if (d.running) d.child.kill('SIGKILL');
    lab.tearDown();
  });

  it('delivers every alert after the restart, under the keys attempted before the kill, and the outbox drains', async (t) => {
    const started = Date.now();
    const geo = buildFixtureGeo(path.join(dir, 'geo'));
    const database = path.join(dir, 'alerts.db');
    const healthy = path.join(dir, 'receiver-healthy');
    const receiverChild = lab.spawn(lab.net, process.execPath, ['-e', RECEIVER_SCRIPT, healthy, String(RECEIVER_PORT)]);
    const receiverOut = new OutputLines(receiverChild.stdout);
    const receiverErr = new OutputLines(receiverChild.stderr);
    await waitFor('the receiver to listen', () => (receiverOut.lines.includes('ready') ? true : receiverChild.exitCode !== null ? fail(`receiver exited: ${receiverErr.text()}`) : null));
    const received = (): Received[] => receiverOut.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Received);

    const config = path.join(dir, 'geowarden.yaml');
    writeFileSync(
      config,
      `instance: gw-crash-e2e
alerts:
  database: "${database}"
  delivery: { timeout: 2s, retry_initial: 1s, retry_max: 2s, give_up_after: 1h }
  sinks:
    - { name: hook, type: webhook, url: "http://127.0.0.1:${RECEIVER_PORT}/hook" }
`,
    );
    chmodSync(config, 0o644);
    const args = ['--config', config, '--interface', lab.netIf, '--internal', '192.0.2.0/24', '--deny-countries', 'CN', '--geoip-country', geo.countryDb, '--geoip-asn', geo.asnDb!];

    const first = await startDaemon(lab, args);
    daemons.push(first);
    const report = lab.client({
      dns: GATEWAY_IP,
      steps: [
        { query: 'cdn.denied.example' },
        { connect: 'cdn.denied.example', port: SERVICE_PORT, send: 8192 },
      ],
    });
    assert.deepEqual(report.connections.map((c) => [c.address, c.sent]), [[DENIED_IP, 8192]]);

    // The alert is written to the outbox and attempted (500) at least once; it stays pending.
    const pending = await waitFor(
      'a pending delivery that was attempted',
      () => {
        if (!first.running) fail(`the daemon exited: ${first.stderr.text()}`);
        const keys = pendingKeys(database);
        const attempted = new Set(received().map((r) => r.key));
        return keys.length > 0 && keys.every((k) => attempted.has(k)) ? keys : null;
      },
      20_000,
    );
    const depthBefore = first.metrics().sum('geowarden_alert_outbox_depth', { sink: 'hook' });
    const killed = await first.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    const attemptedBefore = [...new Set(received().filter((r) => r.status === 500).map((r) => r.key!))].sort();
    assert.ok(attemptedBefore.length >= 1, 'deliveries were attempted before the kill');
    assert.ok(received().every((r) => r.status === 500), 'nothing was accepted before the kill');
    // What survived on disk: every attempted delivery, still pending.
    const survived = pendingKeys(database);
    assert.deepEqual(survived, pending);
    for (const key of attemptedBefore) assert.ok(survived.includes(key), `attempted key ${key} is still pending after the kill`);
    assert.ok(depthBefore >= pending.length, `outbox depth ${depthBefore} before the kill`);

    // The receiver recovers; the daemon restarts on the same database.
    writeFileSync(healthy, 'ok');
    const beforeRestart = received().length;
    const second = await startDaemon(lab, args);
    daemons.push(second);
    const delivered = await waitFor(
      'every pending alert accepted after the restart',
      () => {
        if (!second.running) fail(`the restarted daemon exited: ${second.stderr.text()}`);
        const ok = received().slice(beforeRestart).filter((r) => r.status === 200);
        return survived.every((k) => ok.some((r) => r.key === k)) ? ok : null;
      },
      20_000,
    );
    // Same keys as attempted before the kill, each alert arrived, nothing new invented.
    assert.deepEqual([...new Set(delivered.map((r) => r.key!))].sort(), survived);
    assert.ok(delivered.every((r) => r.kind === 'alert' && r.path === '/hook'));
    const depth = await waitFor(
      'geowarden_alert_outbox_depth to drop to 0',
      () => {
        const m = second.metrics();
        return m.sum('geowarden_alert_outbox_depth') === 0 ? m : null;
      },
      10_000,
    );
    assert.ok(depth.sum('geowarden_alert_outbox_depth', { sink: 'hook' }) === 0);
    assert.deepEqual(pendingKeys(database), [], 'nothing pending on disk');

    const stopped = await second.stop('SIGTERM');
    assert.deepEqual([stopped.code, stopped.signal], [0, null], second.stderr.text());
    t.diagnostic(`attempted ${attemptedBefore.length} key(s) before SIGKILL (${received().slice(0, beforeRestart).length} requests), delivered after restart; ${Date.now() - started} ms`);
  });
});

function fail(message: string): never {
  throw new Error(message);
}
