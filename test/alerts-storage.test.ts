/**
 * An alert database that cannot be used must not stop the capture: a path that cannot be
 * created (under /proc), a read-only file system and a full disk (tiny tmpfs, root only) each
 * give one clear log line and geowarden_alert_store_durable 0, alerts still reach the sink from
 * memory, and a capture replayed through the pipeline with alerting attached runs to the end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AlertDatabase } from '../src/alerts/alert-database';
import { CaptureFileSource } from '../src/capture/capture-file-source';
import { applyOverrides } from '../src/config/load';
import { buildPipeline } from '../src/pipeline/build';
import { judgedFlow } from './support/alert-fixtures';
import { AlertReceiver } from './support/alert-receiver';
import { AlertWorkspace, metricValue } from './support/alert-service-harness';
import { ReplayWorkspace } from './support/replay-run';
import { DOC_PLAN, household } from './support/scenarios';

async function waitUntil(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function mountSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs (root ignores file permissions, so a full or read-only mount is the honest test)';
  return null;
}

describe('alert database that cannot be used', () => {
  const ws = new AlertWorkspace();
  const receiver = new AlertReceiver();
  const mounts: string[] = [];
  let replay: ReplayWorkspace;
  let capture: string;

  let flowsWithoutAlerting = 0;

  before(async () => {
    await receiver.start();
    replay = new ReplayWorkspace();
    capture = replay.writeCapture('household.pcap', household(DOC_PLAN));
    flowsWithoutAlerting = replayThrough(null);
  });
  after(async () => {
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    await receiver.stop();
    replay.cleanup();
    ws.cleanup();
  });

  const yaml = (database: string) => `
instance: gw-test
alerts:
  database: "${database}"
  sinks:
    - { name: hook, type: webhook, url: "${receiver.url}/hook" }
`;

  /** A tmpfs of its own (unmounted after the suite) with an alert service whose database lives on it. */
  function serviceOnTmpfs(name: string, options: string) {
    const mnt = path.join(ws.dir, name);
    mkdirSync(mnt);
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt]).status, 0, `mount -o ${options}`);
    mounts.push(mnt);
    return { mnt, ...ws.service(ws.config(yaml(path.join(mnt, 'alerts.db')))) };
  }

  /** Sends one violation and waits for its alert at the receiver. */
  async function oneAlertArrives(service: { sink: { onFlow(j: ReturnType<typeof judgedFlow>): void } }): Promise<void> {
    const before = receiver.requests.length;
    service.sink.onFlow(judgedFlow({ atMs: Date.now() }));
    await waitUntil('the alert', () => receiver.requests.length - before === 1);
  }

  /** Replays the household capture through the pipeline with alerting attached; returns the flows judged. */
  function replayThrough(service: { sink: Parameters<typeof buildPipeline>[1][number] } | null): number {
    const config = applyOverrides(ws.config(yaml(':memory:')), { denyCountries: ['CN', 'RU'], geoipCountry: replay.countryDb, geoipAsn: replay.asnDb ?? undefined });
    const { pipeline } = buildPipeline(config, service ? [service.sink] : []);
    new CaptureFileSource(capture).run(pipeline.handleFrame);
    return pipeline.finish('end-of-capture').flows;
  }

  it('a path that cannot be created: one error line, the in-memory fallback, alerts still sent', async (t) => {
    const config = ws.config(yaml('/proc/geowarden-test/alerts.db'));
    const { service, log, registry } = ws.service(config);
    t.after(() => service.stop());
    assert.equal(service.durable, false);
    const errors = log.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.msg, /^alert database \/proc\/geowarden-test\/alerts\.db: .+ \[E\w+\]; alerts continue from memory and will not survive a restart until this is fixed$/);
    assert.equal(await metricValue(registry, 'geowarden_alert_store_durable'), 0);
    assert.equal(await metricValue(registry, 'geowarden_alert_store_errors_total', { operation: 'open' }), 1);
    service.start();
    const before = receiver.requests.length;
    assert.equal(replayThrough(service), flowsWithoutAlerting, 'the capture runs to the end');
    await waitUntil('the alerts', () => receiver.requests.length - before === 2);
    assert.equal(service.history.query({ sinceMs: 0 }).violations.length, 2, 'history kept in memory');
  });

  it('a read-only file system (tmpfs mounted ro)', { skip: mountSkipReason() ?? false }, async (t) => {
    const { service, log, registry } = serviceOnTmpfs('ro', 'ro,size=64k');
    t.after(() => service.stop());
    assert.equal(service.durable, false);
    assert.match(log.lines.find((l) => l.level === 'error')!.msg, /: it is read-only \(file system or permissions\) \[EROFS\]; alerts continue from memory/);
    assert.equal(await metricValue(registry, 'geowarden_alert_store_durable'), 0);
    service.start();
    await oneAlertArrives(service);
  });

  it('a disk too full to create the database (64 KiB tmpfs: the WAL index alone needs 32 KiB)', { skip: mountSkipReason() ?? false }, async (t) => {
    const { service, log, registry } = serviceOnTmpfs('tiny', 'size=64k');
    t.after(() => service.stop());
    assert.equal(service.durable, false);
    assert.equal(log.lines.filter((l) => l.level === 'error').length, 1);
    assert.match(log.lines.find((l) => l.level === 'error')!.msg, /: the disk is full \[SQLITE_FULL\]; alerts continue from memory/);
    assert.equal(await metricValue(registry, 'geowarden_alert_store_durable'), 0);
    service.start();
    await oneAlertArrives(service);
  });

  it('a disk that fills up while running (256 KiB tmpfs)', { skip: mountSkipReason() ?? false }, async (t) => {
    const { mnt, service, log, registry } = serviceOnTmpfs('full', 'size=256k');
    t.after(() => service.stop());
    assert.equal(service.durable, true, 'opens while there is room');
    service.start();
    // Fill what is left of the file system.
    const filler = spawnSync('dd', ['if=/dev/zero', `of=${path.join(mnt, 'filler')}`, 'bs=4k'], { encoding: 'utf8' });
    assert.match(filler.stderr, /No space left on device/);
    const before = receiver.requests.length;
    // Violations from 200 devices with long names: history rows and new alerts need far more
    // pages than the disk has left.
    for (let i = 0; i < 200; i++) {
      service.sink.onFlow(judgedFlow({ atMs: Date.now(), mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`, names: [`${'x'.repeat(60)}.n${i}.example`, ...Array.from({ length: 10 }, (_, j) => `alias${j}.n${i}.example`)] }));
    }
    service.flush();
    assert.equal(service.durable, false, 'switched to memory');
    assert.match(log.lines.find((l) => l.level === 'error')!.msg, /: the disk is full \[SQLITE_FULL\]; alerts continue from memory/);
    assert.ok((await metricValue(registry, 'geowarden_alert_store_errors_total')) >= 1);
    assert.equal(await metricValue(registry, 'geowarden_alert_store_durable'), 0);
    // Alerts written before the switch stay in the file for the next start; the rest go out from memory.
    await waitUntil('the alerts from memory', () => service.outbox.list({ state: 'pending' }).length === 0 && receiver.requests.length > before);
    const arrived = new Set(receiver.requests.slice(before).map((r) => r.headers['idempotency-key'])).size;
    assert.ok(arrived >= 100, `${arrived} of 200 alerts arrived from memory`);
    assert.equal(replayThrough(service), flowsWithoutAlerting, 'the capture still runs to the end');
  });

  it('treats a database a newer Geowarden wrote as unusable, not as a crash', () => {
    const file = path.join(ws.dir, 'newer.db');
    AlertDatabase.open(file).close();
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    const reopened = AlertDatabase.open(file);
    assert.equal(reopened.durable, false);
    assert.equal(reopened.error, `alert database ${file}: it was written by a newer Geowarden (schema 99; this one knows 1) [GEOWARDEN_SCHEMA_NEWER]`);
    reopened.close();
  });
});
