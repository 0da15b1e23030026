/**
 * Every sink against a local HTTP receiver standing in for the service: the payload shape each
 * service documents, the HMAC signature of the generic webhook, idempotency keys, custom
 * headers, templates, digests, the console and JSON-lines sinks; and the bad inputs: a sink that
 * cannot be reached, a missing secret, an invalid template.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AdaptiveCard, TeamsMessage } from '../src/alerts/sinks/teams';
import type { DiscordMessage } from '../src/alerts/sinks/discord';
import type { MattermostMessage } from '../src/alerts/sinks/mattermost';
import type { SlackMessage } from '../src/alerts/sinks/slack';
import type { WebhookBody } from '../src/alerts/sinks/webhook';
import { AlertSetupError } from '../src/alerts/sinks/secrets';
import { ConfigError } from '../src/config/load';
import { judgedFlow } from './support/alert-fixtures';
import { AlertReceiver, type ReceivedRequest } from './support/alert-receiver';
import { AlertWorkspace, metricValue } from './support/alert-service-harness';
import { runCli } from './support/replay-run';

const SECRET = 's3cret-hmac-key-0123456789';
const SLACK_TOKEN = 'T000/B000/XXXXSLACKTOKENXXXX';

function chatConfig(url: string, extra = ''): string {
  return `
instance: gw-test
alerts:
  database: "{db}"
  dashboard_url: https://grafana.example.net/d/geowarden
  digest: { schedule: "0 8 * * *", sinks: [slack, hook, console, file] }
  sinks:
    - { name: slack, type: slack, url_env: TEST_SLACK_URL, rate_limit: { interval: 0.01, burst: 100 } }
    - { name: teams, type: teams, url: "${url}/teams" }
    - { name: mattermost, type: mattermost, url_file: "{dir}/mattermost-url" }
    - { name: discord, type: discord, url: "${url}/discord", template: "{{severity}}: {{device}} → {{country_name}}, {{bytes}}" }
    - name: hook
      type: webhook
      url: "${url}/hook"
      secret_env: TEST_HOOK_SECRET
      headers: { X-Tenant: office-1, Authorization: "Bearer abc" }
    - { name: console, type: console }
    - { name: file, type: jsonl, path: "{dir}/alerts.jsonl" }
${extra}`;
}

describe('alert sinks against a local receiver', () => {
  const ws = new AlertWorkspace();
  const receiver = new AlertReceiver();
  const consoleLines: string[] = [];
  let byPath: Map<string, ReceivedRequest[]>;
  let logText = '';

  before(async () => {
    await receiver.start();
    writeFileSync(path.join(ws.dir, 'mattermost-url'), `${receiver.url}/mattermost\n`);
    const config = ws.config(chatConfig(receiver.url));
    const env = { TEST_SLACK_URL: `${receiver.url}/slack/${SLACK_TOKEN}`, TEST_HOOK_SECRET: SECRET };
    const { service, log } = ws.service(config, { env, write: (l) => consoleLines.push(l) });
    service.start();
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), group: 'phones' }));
    service.sink.onFlow(judgedFlow({ atMs: Date.now(), country: 'RU', remoteIp: '203.0.113.200', hostname: 'alice-laptop', mac: '3c:22:fb:00:00:10', ip: '192.168.1.10', proto: 'icmp', remotePort: null, names: [], sni: null }));
    service.sendDigest();
    assert.ok(await service.drained(10_000), 'the outbox drains');
    await service.stop();
    logText = log.text();
    byPath = new Map();
    for (const r of receiver.requests) {
      const key = r.path.split('/')[1]!;
      byPath.set(key, [...(byPath.get(key) ?? []), r]);
    }
  });
  after(async () => {
    await receiver.stop();
    ws.cleanup();
  });

  it('sends each alert to every sink once, with a stable idempotency key per message and sink', () => {
    for (const name of ['slack', 'teams', 'mattermost', 'discord', 'hook']) {
      const requests = byPath.get(name) ?? [];
      assert.equal(requests.filter((r) => !String((r.json as { kind?: string }).kind ?? '').includes('digest')).length >= 2, true, name);
      for (const r of requests) {
        assert.equal(r.method, 'POST');
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.match(String(r.headers['idempotency-key']), new RegExp(`^[0-9a-f]{16}-1\\.${name}$|^digest-\\d+\\.${name}$`));
      }
    }
    assert.equal(byPath.get('teams')!.length, 2, 'no digest for sinks not in digest.sinks');
  });

  it('Slack: Block Kit with a header, fields and a fallback text, within the documented limits', () => {
    const alerts = byPath.get('slack')!.map((r) => r.json as SlackMessage).filter((m) => !m.text.includes('digest'));
    assert.equal(byPath.get('slack')![0]!.path, `/slack/${SLACK_TOKEN}`, 'the URL from url_env');
    const phone = alerts.find((m) => m.text.includes('redmi-note'))!;
    assert.match(phone.text, /^🟠 WARNING: redmi-note → China \(CN\): redmi-note sent 21\.7 kB to China \(2\.08 kB back\) in 1 flow\.$/);
    assert.deepEqual(phone.blocks.map((b) => b.type), ['header', 'section', 'section', 'context']);
    const header = phone.blocks[0] as { text: { type: string; text: string } };
    assert.equal(header.text.type, 'plain_text');
    assert.ok(header.text.text.length <= 150);
    const summary = phone.blocks[1] as { text: { type: string; text: string } };
    assert.match(summary.text.text, /<https:\/\/grafana\.example\.net\/d\/geowarden\|Open the dashboard>$/);
    const fields = (phone.blocks[2] as { fields: Array<{ type: string; text: string }> }).fields;
    assert.ok(fields.length <= 10);
    assert.deepEqual(
      fields.map((f) => f.text.split('\n')[0]),
      ['*Device*', '*Where*', '*Names*', '*How much*', '*Rule*', '*When*', '*Gateway*'],
    );
    assert.equal(fields[0]!.text, '*Device*\nredmi-note · 192.168.1.40 · 64:cc:2e:7b:40:05 · group phones');
    assert.equal(fields[1]!.text, '*Where*\nChina (CN) · AS64510 Example Telemetry Co · 203.0.113.10:443/tcp');
    assert.equal(fields[2]!.text, '*Names*\nmetrics.phone-vendor.example → collect.analytics-cdn.example');
    assert.equal(fields[3]!.text, '*How much*\n↑ 21.7 kB  ↓ 2.08 kB in 1 flow');
    assert.equal(fields[4]!.text, '*Rule*\ndeny_countries: CN (policy "default")');
    for (const f of fields) assert.equal(f.type, 'mrkdwn');
    assert.equal(phone.unfurl_links, false);
    const laptop = alerts.find((m) => m.text.includes('alice-laptop'))!;
    const laptopFields = (laptop.blocks[2] as { fields: Array<{ text: string }> }).fields;
    assert.equal(laptopFields[1]!.text, '*Where*\nRussia (RU) · AS64510 Example Telemetry Co · 203.0.113.200 (icmp)');
    assert.equal(laptopFields[2]!.text, '*Names*\n(no name seen: the address was used directly)');
  });

  it('Teams: a message with one Adaptive Card attachment (Workflows webhook envelope)', () => {
    const m = byPath.get('teams')![0]!.json as TeamsMessage;
    assert.equal(m.type, 'message');
    assert.equal(m.attachments.length, 1);
    const att = m.attachments[0]!;
    assert.equal(att.contentType, 'application/vnd.microsoft.card.adaptive');
    assert.equal(att.contentUrl, null);
    const card: AdaptiveCard = att.content;
    assert.equal(card.type, 'AdaptiveCard');
    assert.equal(card.$schema, 'http://adaptivecards.io/schemas/adaptive-card.json');
    assert.equal(card.version, '1.4');
    assert.deepEqual(card.body.map((e) => e.type), ['TextBlock', 'TextBlock', 'FactSet']);
    const facts = card.body[2] as { facts: Array<{ title: string; value: string }> };
    assert.ok(facts.facts.some((f) => f.title === 'Device' && f.value.includes('64:cc:2e:7b:40:05')) || facts.facts.some((f) => f.value.includes('alice-laptop')));
    assert.deepEqual(card.actions, [{ type: 'Action.OpenUrl', title: 'Open the dashboard', url: 'https://grafana.example.net/d/geowarden' }]);
  });

  it('Mattermost: Slack-compatible attachments with fallback, colour and short fields', () => {
    assert.equal(byPath.get('mattermost')![0]!.path, '/mattermost', 'the URL from url_file');
    const m = byPath.get('mattermost')!.map((r) => r.json as MattermostMessage).find((x) => x.attachments[0]!.title.includes('redmi-note'))!;
    const a = m.attachments[0]!;
    assert.match(a.fallback, /^🟠 WARNING: redmi-note → China \(CN\): /);
    assert.equal(a.color, '#f29900');
    assert.equal(a.title_link, 'https://grafana.example.net/d/geowarden');
    assert.deepEqual(a.fields.find((f) => f.title === 'How much'), { short: true, title: 'How much', value: '↑ 21.7 kB  ↓ 2.08 kB in 1 flow' });
    assert.equal(m.username, 'Geowarden');
  });

  it('Discord: an embed within the documented limits, with the template as description and no mentions', () => {
    const m = byPath.get('discord')!.map((r) => r.json as DiscordMessage).find((x) => x.embeds[0]!.title.includes('redmi-note'))!;
    const e = m.embeds[0]!;
    assert.deepEqual(m.allowed_mentions, { parse: [] });
    assert.equal(e.description, 'warning: redmi-note → China, 23.8 kB');
    assert.equal(e.color, 0xf29900);
    assert.equal(e.url, 'https://grafana.example.net/d/geowarden');
    assert.ok(e.title.length <= 256 && e.fields.length <= 25);
    for (const f of e.fields) assert.ok(f.name.length <= 256 && f.value.length <= 1024 && typeof f.inline === 'boolean');
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
  });

  it('webhook: the documented schema, an HMAC-SHA256 signature over the raw body, custom headers', () => {
    for (const r of byPath.get('hook')!) {
      const expected = `sha256=${createHmac('sha256', SECRET).update(r.raw).digest('hex')}`;
      assert.equal(r.headers['x-geowarden-signature'], expected);
      assert.equal(r.headers['x-tenant'], 'office-1');
      assert.equal(r.headers['authorization'], 'Bearer abc');
      const body = r.json as WebhookBody;
      assert.equal(body.schema, 'geowarden.notification/v1');
      assert.equal(body.idempotency_key, r.headers['idempotency-key']);
      assert.equal(r.headers['x-geowarden-event'], body.kind === 'alert' ? body.event : 'digest');
    }
    const alert = byPath.get('hook')!.map((r) => r.json as WebhookBody).find((b) => b.kind === 'alert' && b.alert.country === 'CN');
    assert.ok(alert && alert.kind === 'alert');
    assert.deepEqual(Object.keys(alert.alert).sort(), [
      'countries', 'country', 'dashboard_url', 'device', 'evidence', 'group_key', 'id', 'instance', 'labels', 'last_seen_at',
      'names', 'policy', 'resolved_at', 'rule', 'severity', 'started_at', 'status', 'totals',
    ]);
    assert.equal(alert.alert.instance, 'gw-test');
    // A tampered body does not verify.
    const r = byPath.get('hook')![0]!;
    assert.notEqual(`sha256=${createHmac('sha256', SECRET).update(r.raw.replace('gw-test', 'gw-evil')).digest('hex')}`, r.headers['x-geowarden-signature']);
  });

  it('sends the digest to the digest sinks only', () => {
    const slackDigest = byPath.get('slack')!.map((r) => r.json as SlackMessage).find((m) => m.text.startsWith('📋'))!;
    assert.match(slackDigest.text, /^📋 Daily digest: gw-test: 2 devices sent [\d.]+ kB \([\d.]+ kB back\) in 2 violating flows, /);
    const lines = (slackDigest.blocks[2] as { text: { text: string } }).text.text.split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^• redmi-note: ↑ 21\.7 kB ↓ 2\.08 kB in 1 flow → CN 23\.8 kB; metrics\.phone-vendor\.example$/);
    const hookDigest = byPath.get('hook')!.map((r) => r.json as WebhookBody).find((b) => b.kind === 'digest');
    assert.ok(hookDigest && hookDigest.kind === 'digest');
    assert.deepEqual(hookDigest.digest.totals, { devices: 2, flows: 2, bytes_out: 43400, bytes_in: 4160 });
    assert.deepEqual(hookDigest.digest.devices[0]!.countries, [{ country: 'CN', flows: 1, bytes: 23780 }]);
  });

  it('console and JSON-lines sinks write one line per message', () => {
    assert.equal(consoleLines.filter((l) => / FIRING warning gw-test /.test(l)).length, 2);
    assert.ok(consoleLines.some((l) => / DIGEST gw-test /.test(l)));
    const records = readFileSync(path.join(ws.dir, 'alerts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as WebhookBody);
    assert.deepEqual(records.map((r) => r.kind).sort(), ['alert', 'alert', 'digest']);
    for (const r of records) assert.match(r.idempotency_key, /\.file$/);
  });

  it('schedules the digest with node-cron and logs its next run', () => {
    const started = JSON.parse(logText.split('\n').find((l) => l.startsWith('info alerting started '))!.slice('info alerting started '.length)) as { digest_next_run: string };
    const next = new Date(started.digest_next_run);
    assert.equal(next.getHours(), 8, 'the "0 8 * * *" schedule, local time');
    assert.equal(next.getMinutes(), 0);
    assert.ok(next.getTime() > Date.now() - 1000 && next.getTime() <= Date.now() + 86_400_000);
  });

  it('never logs a secret or a webhook token', () => {
    assert.ok(!logText.includes(SECRET));
    assert.ok(!logText.includes(SLACK_TOKEN));
    assert.ok(!consoleLines.join('\n').includes(SLACK_TOKEN));
  });
});

describe('alert sinks: bad input', () => {
  const ws = new AlertWorkspace();
  after(() => ws.cleanup());

  it('an unreachable sink fails with a clear reason and a metric while other sinks and the capture go on', async (t) => {
    const receiver = await new AlertReceiver().start();
    // A port nothing listens on: taken from a receiver that is stopped again.
    const gone = await new AlertReceiver().start();
    await gone.stop();
    try {
      const config = ws.config(`
alerts:
  database: "{db}"
  delivery: { timeout: 2s, retry_initial: 0.05, retry_max: 0.1 }
  sinks:
    - { name: nowhere, type: webhook, url: "${gone.url}/hook" }
    - { name: ok, type: webhook, url: "${receiver.url}/ok" }
`);
      const { service, log, registry } = ws.service(config);
      t.after(() => service.stop());
      service.start();
      const started = process.hrtime.bigint();
      for (let i = 0; i < 100; i++) service.sink.onFlow(judgedFlow({ atMs: Date.now(), mac: `aa:00:00:00:00:${(i % 50).toString(16).padStart(2, '0')}` }));
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.ok(ms < 2000, `100 violations took ${ms} ms on the pipeline's thread`);
      await waitUntil(() => receiver.accepted().length === 50, 10_000);
      await waitUntil(async () => (await metricValue(registry, 'geowarden_alert_deliveries_total', { sink: 'nowhere', result: 'failed' })) >= 3, 10_000);
      const pending = service.outbox.list({ state: 'pending' }).filter((d) => d.sink === 'nowhere');
      assert.equal(pending.length, 50, 'kept for retry, not lost');
      assert.match(pending.find((d) => d.attempts > 0)!.lastError!, /^connection refused \(is the receiver running\?\)$/);
      assert.ok(log.lines.some((l) => l.level === 'warn' && /^alert delivery to nowhere failed, will retry: connection refused/.test(l.msg)));
      assert.equal(await metricValue(registry, 'geowarden_alert_outbox_depth', { sink: 'nowhere' }), 50);
      await waitUntil(async () => (await metricValue(registry, 'geowarden_alert_outbox_depth', { sink: 'ok' })) === 0, 5000);
      assert.ok((await metricValue(registry, 'geowarden_alert_outbox_oldest_age_seconds', { sink: 'nowhere' })) >= 0);
      await service.stop();
    } finally {
      await receiver.stop();
    }
  });

  it('a missing secret stops the start with one line per sink, naming the source and not the value', () => {
    const config = ws.config(`
alerts:
  database: "{db}"
  sinks:
    - { name: slack, type: slack, url_env: GEOWARDEN_TEST_UNSET_URL }
    - { name: hook, type: webhook, url: "http://127.0.0.1:9/x", secret_file: "{dir}/no-such-secret" }
`);
    assert.throws(
      () => ws.service(config),
      (err: unknown) =>
        err instanceof AlertSetupError &&
        err.problems.join('\n') ===
          `alerts.sinks[0] (slack): url: environment variable GEOWARDEN_TEST_UNSET_URL is not set or empty\nalerts.sinks[1] (hook): secret: cannot read ${ws.dir}/no-such-secret: no such file`,
    );
  });

  it('an invalid template fails config validation with a clear line', () => {
    assert.throws(
      () => ws.config('alerts:\n  sinks:\n    - { name: s, type: slack, url: "https://hooks.slack.com/services/x", template: "{{devise}} sent {{bytes}}" }\n'),
      (err: unknown) => err instanceof ConfigError && /: alerts\.sinks\[0\]\.template: unknown placeholder \{\{devise\}\} \(did you mean \{\{device\}\}\?\)$/.test(err.message),
    );
    const file = path.join(ws.dir, 'bad-template.yaml');
    writeFileSync(file, 'alerts:\n  sinks:\n    - { name: c, type: console, template: "{{device}} sent {{bytes" }\n');
    const r = runCli(['check-config', file]);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `geowarden: ${file}: alerts.sinks[0].template: "{{" at character 17 is not closed with "}}"\n`);
  });
});

async function waitUntil(probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
