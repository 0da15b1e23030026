/**
 * Slack incoming webhooks with Block Kit (https://api.slack.com/messaging/webhooks,
 * https://api.slack.com/reference/block-kit/blocks). `text` is the notification and fallback
 * text when `blocks` is present. Limits from the Block Kit reference: header text 150
 * characters (plain_text only), section text 3,000, at most 10 section fields of 2,000 each,
 * at most 10 context elements, 50 blocks per message. mrkdwn needs &, < and > escaped
 * ("Formatting text for app surfaces").
 */
import { describeAlert, describeDigest } from '../alert-text';
import type { TextTemplate } from '../template';
import type { Notification } from '../types';
import { clip } from './text-limits';

export interface SlackText {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}

export type SlackBlock =
  | { type: 'header'; text: SlackText }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
  /** A dashboard link should not expand into a preview card. */
  unfurl_links: boolean;
  unfurl_media: boolean;
}

export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function mrkdwn(text: string, max = 3000): SlackText {
  return { type: 'mrkdwn', text: clip(text, max) };
}

function linkLine(url: string | null): string {
  // `<url|label>` is Slack's link syntax; the URL itself must not contain `|` or `>`.
  return url ? `\n<${url.replace(/[|>]/g, encodeURIComponent)}|Open the dashboard>` : '';
}

export function formatSlack(n: Notification, template: TextTemplate | null): SlackMessage {
  if (n.kind === 'digest') {
    const w = describeDigest(n);
    return {
      text: clip(`${w.title}: ${w.headline}`, 3000),
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: clip(w.title, 150), emoji: true } },
        { type: 'section', text: mrkdwn(slackEscape(w.headline) + linkLine(w.link)) },
        ...(w.lines.length ? [{ type: 'section' as const, text: mrkdwn(w.lines.map((l) => `• ${slackEscape(l)}`).join('\n')) }] : []),
        ...(w.traffic.length
          ? [{ type: 'section' as const, text: mrkdwn(clip([slackEscape(w.traffic[0]!), ...w.traffic.slice(1).map((l) => `• ${slackEscape(l)}`)].join('\n'), 3000)) }]
          : []),
      ],
      unfurl_links: false,
      unfurl_media: false,
    };
  }
  const w = describeAlert(n, template);
  return {
    text: clip(`${w.title}: ${w.headline}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: clip(w.title, 150), emoji: true } },
      { type: 'section', text: mrkdwn(slackEscape(w.headline) + linkLine(w.link)) },
      { type: 'section', fields: w.facts.slice(0, 10).map((f) => mrkdwn(`*${f.name}*\n${slackEscape(f.value)}`, 2000)) },
      { type: 'context', elements: [mrkdwn(`Geowarden · ${slackEscape(n.alert.instance)} · ${n.event}`)] },
    ],
    unfurl_links: false,
    unfurl_media: false,
  };
}
