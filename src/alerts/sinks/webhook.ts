/**
 * The generic webhook: the notification as JSON (README "Webhook JSON schema"), signed the way
 * GitHub signs its webhooks: `X-Geowarden-Signature: sha256=<hex HMAC-SHA256 of the raw body>`
 * with a shared secret. A receiver computes the HMAC over the bytes it received (before parsing)
 * and compares with a constant-time comparison. The idempotency key is in the body and in the
 * `Idempotency-Key` header (IETF draft-ietf-httpapi-idempotency-key-header), the same on every
 * retry of one message to one sink.
 */
import { createHmac } from 'node:crypto';
import type { Notification } from '../types';

export const WEBHOOK_SCHEMA = 'geowarden.notification/v1';

/** The body: the notification with the schema name and this sink's idempotency key in front. */
export type WebhookBody = { schema: typeof WEBHOOK_SCHEMA; idempotency_key: string } & Notification;

export function webhookBody(n: Notification, idempotencyKey: string): WebhookBody {
  return { schema: WEBHOOK_SCHEMA, idempotency_key: idempotencyKey, ...n };
}

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}
