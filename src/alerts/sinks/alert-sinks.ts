/**
 * Builds the configured sinks (alerts.sinks). Each sink turns a notification into its service's
 * payload at send time and reports the outcome to the outbox; formatting is in one file per
 * service, next to this one.
 */
import { appendFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { AlertSeverity, AlertSinkConfig, AlertSinkType } from '../../config/types';
import { ensureDirectory } from '../alert-database';
import { alertLine, describeDigest } from '../alert-text';
import { parseTemplate, type TextTemplate } from '../template';
import type { AlertPayload, AlertSink, DeliveryContext, DeliveryResult, Notification } from '../types';
import { alertmanagerAlert, alertsEndpoint, formatAlertmanager } from './alertmanager';
import { formatDiscord } from './discord';
import { type HttpTarget, postJson } from './http-post';
import { formatMattermost } from './mattermost';
import { AlertSetupError, readSecret } from './secrets';
import { formatSlack } from './slack';
import { formatTeams } from './teams';
import { signBody, webhookBody } from './webhook';

/** What an HTTP sink sends for one notification; null: nothing to send (counts as delivered). */
type Encoder = (n: Notification, context: DeliveryContext) => { body: string; headers?: Record<string, string> } | null;

export class HttpAlertSink implements AlertSink {
  constructor(
    readonly name: string,
    readonly type: AlertSinkType,
    readonly minSeverity: AlertSeverity,
    readonly acceptsDigests: boolean,
    private readonly target: HttpTarget,
    private readonly encode: Encoder,
  ) {}

  async deliver(n: Notification, context: DeliveryContext): Promise<DeliveryResult> {
    const encoded = this.encode(n, context);
    if (encoded === null) return { ok: true, status: null };
    return postJson(this.target, encoded.body, { 'Idempotency-Key': context.idempotencyKey, ...encoded.headers }, context.nowMs);
  }

  /** Posts a raw body (Alertmanager's periodic re-send of everything firing). */
  postRaw(body: unknown, nowMs: number): Promise<DeliveryResult> {
    return postJson(this.target, JSON.stringify(body), {}, nowMs);
  }
}

export class AlertmanagerSink extends HttpAlertSink {
  constructor(
    name: string,
    minSeverity: AlertSeverity,
    target: HttpTarget,
    readonly resendIntervalS: number,
  ) {
    super(name, 'alertmanager', minSeverity, false, target, (n, ctx) => {
      const alerts = formatAlertmanager(n, ctx.nowMs, resendIntervalS);
      return alerts && { body: JSON.stringify(alerts) };
    });
  }

  /** Re-posts the alerts still firing, in one request (Alertmanager dedups by labels). */
  resend(alerts: readonly AlertPayload[], nowMs: number): Promise<DeliveryResult> {
    return this.postRaw(
      alerts.map((a) => alertmanagerAlert(a, nowMs, this.resendIntervalS)),
      nowMs,
    );
  }
}

/** A line per message on stdout (the daemon logs on stderr, so stdout is free for this). */
export class ConsoleAlertSink implements AlertSink {
  readonly type = 'console';
  readonly acceptsDigests = true;

  constructor(
    readonly name: string,
    readonly minSeverity: AlertSeverity,
    private readonly template: TextTemplate | null,
    private readonly write: (line: string) => void,
  ) {}

  async deliver(n: Notification): Promise<DeliveryResult> {
    if (n.kind === 'alert') this.write(alertLine(n, this.template));
    else {
      const w = describeDigest(n);
      this.write(`${n.created_at} DIGEST ${n.digest.instance} ${w.headline}`);
      for (const line of w.lines) this.write(`  ${line}`);
      for (const line of w.traffic) this.write(`  ${line}`);
    }
    return { ok: true, status: null };
  }
}

/** JSON lines for SIEM shippers (Filebeat, Vector, Fluent Bit): the webhook body, one per line. */
export class JsonLinesAlertSink implements AlertSink {
  readonly type = 'jsonl';
  readonly acceptsDigests = true;

  constructor(
    readonly name: string,
    readonly minSeverity: AlertSeverity,
    private readonly file: string,
  ) {}

  async deliver(n: Notification, context: DeliveryContext): Promise<DeliveryResult> {
    try {
      ensureDirectory(path.dirname(this.file));
      // One write of one whole line with O_APPEND: a shipper tailing the file never sees half a record.
      await appendFile(this.file, `${JSON.stringify(webhookBody(n, context.idempotencyKey))}\n`, { flag: 'a' });
      return { ok: true, status: null };
    } catch (err) {
      return { ok: false, permanent: false, status: null, error: `cannot append to ${this.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, retryAfterMs: null };
    }
  }
}

export interface BuildSinkOptions {
  timeoutMs: number;
  /** Console sink output; default stdout. */
  write?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

function templateOf(c: AlertSinkConfig): TextTemplate | null {
  if (c.template === null) return null;
  const parsed = parseTemplate(c.template);
  // The config schema has already refused invalid templates; this only narrows the type.
  return parsed.ok ? parsed.template : null;
}

/** Every configured sink, or AlertSetupError listing each one that cannot be built (a missing secret). */
export function buildAlertSinks(configs: readonly AlertSinkConfig[], options: BuildSinkOptions): AlertSink[] {
  const problems: string[] = [];
  const sinks: AlertSink[] = [];
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  configs.forEach((c, i) => {
    const where = `alerts.sinks[${i}] (${c.name})`;
    try {
      sinks.push(buildSink(c, options, write));
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message}`);
    }
  });
  if (problems.length > 0) throw new AlertSetupError(problems);
  return sinks;
}

function buildSink(c: AlertSinkConfig, options: BuildSinkOptions, write: (line: string) => void): AlertSink {
  const template = templateOf(c);
  if (c.type === 'console') return new ConsoleAlertSink(c.name, c.minSeverity, template, write);
  if (c.type === 'jsonl') return new JsonLinesAlertSink(c.name, c.minSeverity, c.path ?? '');
  if (c.url === null) throw new Error(`type ${c.type} needs a url`);
  let url: string;
  try {
    url = readSecret(c.url, options.env);
  } catch (err) {
    throw new Error(`url: ${(err as Error).message}`);
  }
  if (!/^https?:\/\//i.test(url)) throw new Error('url: the value read is not an http or https URL');
  const target: HttpTarget = { url, headers: c.headers, timeoutMs: options.timeoutMs };
  switch (c.type) {
    case 'alertmanager':
      return new AlertmanagerSink(c.name, c.minSeverity, { ...target, url: alertsEndpoint(url) }, c.resendIntervalS);
    case 'webhook': {
      let secret: string | null = null;
      if (c.secret) {
        try {
          secret = readSecret(c.secret, options.env);
        } catch (err) {
          throw new Error(`secret: ${(err as Error).message}`);
        }
      }
      const key = secret;
      return new HttpAlertSink(c.name, 'webhook', c.minSeverity, true, target, (n, ctx) => {
        const body = JSON.stringify(webhookBody(n, ctx.idempotencyKey));
        // Signed over the exact bytes sent.
        const headers: Record<string, string> = { 'X-Geowarden-Event': n.kind === 'alert' ? n.event : 'digest' };
        if (key !== null) headers['X-Geowarden-Signature'] = signBody(key, body);
        return { body, headers };
      });
    }
    case 'slack':
      return new HttpAlertSink(c.name, 'slack', c.minSeverity, true, target, (n) => ({ body: JSON.stringify(formatSlack(n, template)) }));
    case 'teams':
      return new HttpAlertSink(c.name, 'teams', c.minSeverity, true, target, (n) => ({ body: JSON.stringify(formatTeams(n, template)) }));
    case 'mattermost':
      return new HttpAlertSink(c.name, 'mattermost', c.minSeverity, true, target, (n) => ({ body: JSON.stringify(formatMattermost(n, template)) }));
    case 'discord':
      return new HttpAlertSink(c.name, 'discord', c.minSeverity, true, target, (n) => ({ body: JSON.stringify(formatDiscord(n, template)) }));
  }
}
