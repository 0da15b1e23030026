/**
 * Discord "Execute Webhook" with embeds (https://discord.com/developers/docs/resources/webhook#execute-webhook,
 * embed object and limits: https://discord.com/developers/docs/resources/message#embed-object-embed-limits):
 * title 256, description 4,096, 25 fields of name 256 / value 1,024, footer 2,048, and 6,000
 * characters across an embed. `color` is an integer. `allowed_mentions.parse: []` keeps a device
 * or domain name that looks like @everyone from pinging anybody.
 */
import { describeAlert, describeDigest } from '../alert-text';
import type { TextTemplate } from '../template';
import type { Notification } from '../types';
import { clip } from './text-limits';

export interface DiscordEmbed {
  title: string;
  description: string;
  url?: string;
  color: number;
  fields: Array<{ name: string; value: string; inline: boolean }>;
  timestamp: string;
  footer: { text: string };
}

export interface DiscordMessage {
  username: string;
  allowed_mentions: { parse: string[] };
  embeds: DiscordEmbed[];
}

const TOTAL_LIMIT = 6000;

/** Drops trailing fields until the embed fits Discord's total limit. */
function fit(embed: DiscordEmbed): DiscordEmbed {
  const size = (e: DiscordEmbed) => e.title.length + e.description.length + e.footer.text.length + e.fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  while (size(embed) > TOTAL_LIMIT && embed.fields.length > 0) embed.fields.pop();
  return embed;
}

export function formatDiscord(n: Notification, template: TextTemplate | null): DiscordMessage {
  const base = { username: 'Geowarden', allowed_mentions: { parse: [] } };
  if (n.kind === 'digest') {
    const w = describeDigest(n);
    return {
      ...base,
      embeds: [
        fit({
          title: clip(w.title, 256),
          description: clip([w.headline, ...w.lines.map((l) => `• ${l}`), ...w.traffic.map((l, i) => (i === 0 ? l : `• ${l}`))].join('\n'), 4096),
          ...(w.link ? { url: w.link } : {}),
          color: 0x1a73e8,
          fields: [],
          timestamp: n.created_at,
          footer: { text: clip(`Geowarden · ${n.digest.instance}`, 2048) },
        }),
      ],
    };
  }
  const w = describeAlert(n, template);
  return {
    ...base,
    embeds: [
      fit({
        title: clip(w.title, 256),
        description: clip(w.headline, 4096),
        ...(w.link ? { url: w.link } : {}),
        color: parseInt(w.color.slice(1), 16),
        fields: w.facts.slice(0, 25).map((f) => ({ name: clip(f.name, 256), value: clip(f.value || '-', 1024), inline: f.name === 'How much' || f.name === 'Rule' })),
        timestamp: n.created_at,
        footer: { text: clip(`Geowarden · ${n.alert.instance} · ${n.event}`, 2048) },
      }),
    ],
  };
}
