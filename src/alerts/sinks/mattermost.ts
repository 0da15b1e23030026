/**
 * Mattermost incoming webhooks (https://developers.mattermost.com/integrate/webhooks/incoming/)
 * with message attachments, Mattermost's Slack-compatible format
 * (https://developers.mattermost.com/integrate/reference/message-attachments/): `fallback` is
 * required and is what notifications show; `color` draws the bar; `fields` with `short: true`
 * sit side by side. Text is Markdown.
 */
import { describeAlert, describeDigest } from '../alert-text';
import type { TextTemplate } from '../template';
import type { Notification } from '../types';

export interface MattermostAttachment {
  fallback: string;
  color: string;
  title: string;
  title_link?: string;
  text: string;
  fields: Array<{ short: boolean; title: string; value: string }>;
  footer: string;
}

export interface MattermostMessage {
  username: string;
  text: string;
  attachments: MattermostAttachment[];
}

/** Facts short enough to share a row on a phone. */
const SHORT = new Set(['How much', 'Rule']);

export function formatMattermost(n: Notification, template: TextTemplate | null): MattermostMessage {
  if (n.kind === 'digest') {
    const w = describeDigest(n);
    return {
      username: 'Geowarden',
      text: '',
      attachments: [
        {
          fallback: `${w.title}: ${w.headline}`,
          color: '#1a73e8',
          title: w.title,
          ...(w.link ? { title_link: w.link } : {}),
          text: [w.headline, ...w.lines.map((l) => `- ${l}`), ...w.traffic.map((l, i) => (i === 0 ? l : `- ${l}`))].join('\n'),
          fields: [],
          footer: `Geowarden · ${n.digest.instance}`,
        },
      ],
    };
  }
  const w = describeAlert(n, template);
  return {
    username: 'Geowarden',
    text: '',
    attachments: [
      {
        fallback: `${w.title}: ${w.headline}`,
        color: w.color,
        title: w.title,
        ...(w.link ? { title_link: w.link } : {}),
        text: w.headline,
        fields: w.facts.map((f) => ({ short: SHORT.has(f.name), title: f.name, value: f.value })),
        footer: `Geowarden · ${n.alert.instance} · ${n.event}`,
      },
    ],
  };
}
