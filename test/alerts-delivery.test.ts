/**
 * Delivery under faults, against a local receiver: 500s, 429 with Retry-After, a receiver that
 * hangs (timeout), a receiver that is down (connection refused). Every alert must arrive, with
 * the same idempotency key and body on every attempt, and the outbox must drain. Also: giving up
 * into the dead-letter state, payloads the sink refuses, and the per-sink rate limit.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fullJitterDelay, parseRetryAfter } from '../src/alerts/backoff';
import { judgedFlow } from './support/alert-fixtures';
import { AlertReceiver } from './support/alert-receiver';
import { AlertWorkspace, metricValue } from './support/alert-service-harness';

async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function devices(n: number) {
  return Array.from({ length: n }, (_, i) =>
    judgedFlow({ atMs: Date.now(), mac: `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`, hostname: `device-${i}`, ip: `192.168.1.${100 + i}` }),
  );
}

describe('backoff', () => {
  it('draws full jitter below an exponential ceiling capped at retry_max', () => {
    const policy = { initialMs: 1000, maxMs: 60_000 };
    assert.equal(fullJitterDelay(1, policy, () => 0.999), 999);
    assert.equal(fullJitterDelay(3, policy, () => 0.5), 2000);
    assert.equal(fullJitterDelay(20, policy, () => 0.5), 30_000);
    assert.equal(fullJitterDelay(4, policy, () => 0), 0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2024-06-01T08:00:00Z');
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter('1.5', now), 1500);
    assert.equal(parseRetryAfter('Sat, 01 Jun 2024 08:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Sat, 01 Jun 2024 07:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter(null, now), null);
  });
});

describe('delivery under faults', () => {
  const ws = new AlertWorkspace();
  after(() => ws.cleanup());

  it('500, 429 + Retry-After, a hang, then down: every alert arrives with its key, nothing is lost, the outbox drains', async (t) => {
    const receiver = await new AlertReceiver().start();
    t.after(() => receiver.stop());
    receiver.script.push({ status: 500, body: 'internal error' }, { status: 500 }, { status: 429, headers: { 'Retry-After': '1' } }, 'hang');
    const config = ws.config(`
alerts:
  database: "{db}"
  delivery: { timeout: 1s, retry_initial: 0.05, retry_max: 0.4, give_up_after: 1h }
  sinks:
    - { name: hook, type: webhook, url: "${receiver.url}/hook", secret_env: HOOK_SECRET }
`);
    const { service, registry } = ws.service(config, { env: { HOOK_SECRET: 'k' } });
    t.after(() => service.stop());
    service.start();
    for (const f of devices(6)) service.sink.onFlow(f);
    service.flush();
    const keys = service.outbox.list().map((d) => d.idempotencyKey).sort();
    assert.equal(keys.length, 6, 'written before anything was sent');

    // The scripted faults, then the receiver goes down for a while.
    await waitUntil('the hang to time out', () => receiver.requests.length >= 5 && receiver.requests.some((r) => r.answered === 'hang'));
    await receiver.stop();
    await waitUntil('connection refused to be counted', async () => (await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'hook', result: 'failed' })) >= 6);
    const pendingWhileDown = service.outbox.list({ state: 'pending' });
    assert.ok(pendingWhileDown.length > 0);
    assert.ok(pendingWhileDown.some((d) => /^connection refused|^no answer within 1s \(timeout\)$|^HTTP 500/.test(d.lastError ?? '')), JSON.stringify(pendingWhileDown));
    await receiver.start();
    assert.ok(await service.drained(20_000), 'the outbox drains once the receiver is back');

    const accepted = receiver.accepted().map((r) => String(r.headers['idempotency-key']));
    assert.deepEqual([...new Set(accepted)].sort(), keys, 'every alert arrived');
    // Same key, same bytes on every attempt: the receiver can drop duplicates by key.
    for (const key of keys) {
      const bodies = new Set(receiver.requests.filter((r) => r.headers['idempotency-key'] === key).map((r) => r.raw));
      assert.equal(bodies.size, 1, `one body for ${key}`);
    }
    // Retry-After: 1 was honoured for the delivery that got the 429.
    const limited = receiver.requests.find((r) => r.answered === 429)!;
    const next = receiver.requests.find((r) => r.atMs > limited.atMs && r.headers['idempotency-key'] === limited.headers['idempotency-key'])!;
    assert.ok(next.atMs - limited.atMs >= 950, `retried ${next.atMs - limited.atMs} ms after the 429`);
    assert.deepEqual(service.outbox.list({ state: 'pending' }), []);
    assert.deepEqual(service.outbox.list({ state: 'dead' }), []);
    assert.equal(await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'hook', result: 'sent' }), 6);
    assert.equal(await metricValue(registry, 'geowarden_alert_outbox_depth', { sink: 'hook' }), 0);
    assert.equal(await metricValue(registry, 'geowarden_alert_outbox_oldest_age_seconds', { sink: 'hook' }), 0);
  });

  it('gives up after give_up_after: a counted, listed dead letter', async (t) => {
    const receiver = await new AlertReceiver().start();
    t.after(() => receiver.stop());
    receiver.fallback = { status: 503, body: 'maintenance' };
    const config = ws.config(`
alerts:
  database: "{dir}/dead.db"
  delivery: { timeout: 1s, retry_initial: 0.05, retry_max: 0.2, give_up_after: 1s }
  sinks:
    - { name: hook, type: webhook, url: "${receiver.url}/hook" }
`);
    const { service, registry, log } = ws.service(config);
    t.after(() => service.stop());
    service.start();
    service.sink.onFlow(judgedFlow({ atMs: Date.now() }));
    await waitUntil('a dead letter', () => service.outbox.list({ state: 'dead' }).length === 1, 10_000);
    const dead = service.outbox.list({ state: 'dead' })[0]!;
    assert.equal(dead.lastStatus, 503);
    assert.equal(dead.lastError, 'HTTP 503: maintenance');
    assert.ok(dead.attempts >= 3, `${dead.attempts} attempts`);
    assert.equal(await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'hook', result: 'dead_letter' }), 1);
    assert.equal(await metricValue(registry, 'geowarden_alert_dead_letters', { sink: 'hook' }), 1);
    assert.ok(log.lines.some((l) => /^alert delivery to hook given up \(still failing after 1s\): HTTP 503: maintenance; listed by geowarden report --dead-letters$/.test(l.msg)));
  });

  it('a payload the sink refuses (400) is a dead letter at once', async (t) => {
    const receiver = await new AlertReceiver().start();
    t.after(() => receiver.stop());
    receiver.fallback = { status: 400, body: 'invalid_payload' };
    const config = ws.config(`
alerts:
  database: "{dir}/refused.db"
  sinks:
    - { name: slack, type: slack, url: "${receiver.url}/slack" }
`);
    const { service } = ws.service(config);
    t.after(() => service.stop());
    service.start();
    service.sink.onFlow(judgedFlow({ atMs: Date.now() }));
    await waitUntil('a dead letter', () => service.outbox.list({ state: 'dead' }).length === 1, 10_000);
    assert.equal(receiver.requests.length, 1);
    assert.equal(service.outbox.list({ state: 'dead' })[0]!.lastError, 'HTTP 400: invalid_payload');
  });

  it('spaces messages by the sink rate limit instead of dropping them', async (t) => {
    const receiver = await new AlertReceiver().start();
    t.after(() => receiver.stop());
    const config = ws.config(`
alerts:
  database: "{dir}/limited.db"
  sinks:
    - { name: chat, type: mattermost, url: "${receiver.url}/mm", rate_limit: { interval: 0.2, burst: 2 } }
`);
    const { service, registry } = ws.service(config);
    t.after(() => service.stop());
    service.start();
    for (const f of devices(6)) service.sink.onFlow(f);
    assert.ok(await service.drained(10_000));
    const times = receiver.requests.map((r) => r.atMs);
    assert.equal(times.length, 6);
    // Two at once (the burst), then one per 200 ms: the last about 800 ms after the first.
    assert.ok(times[5]! - times[0]! >= 700, `spread over ${times[5]! - times[0]!} ms`);
    assert.equal(await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'chat', result: 'failed' }), 0, 'postponed, not failed');
  });
});
