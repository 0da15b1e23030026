/**
 * Microsoft Teams through a Workflows (Power Automate) webhook, "Post to a channel when a webhook
 * request is received": the body is a message whose attachments hold an Adaptive Card,
 * `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
 * "contentUrl":null,"content":{...card...}}]}` (Microsoft Learn, "Create incoming webhooks with
 * Workflows for Microsoft Teams"; the same envelope the retired Office 365 connector took). The
 * card uses schema 1.4 elements only (TextBlock, FactSet, Action.OpenUrl), which Teams renders
 * on mobile too; `msteams.width: Full` uses the channel's width.
 */
import { describeAlert, describeDigest, type Fact } from '../alert-text';
import type { TextTemplate } from '../template';
import type { Notification } from '../types';

export type AdaptiveElement =
  | { type: 'TextBlock'; text: string; wrap: true; weight?: 'Bolder'; size?: 'Medium' | 'Large'; color?: 'Attention' | 'Warning' | 'Good' | 'Accent'; isSubtle?: boolean; style?: 'heading' }
  | { type: 'FactSet'; facts: Array<{ title: string; value: string }> };

export interface AdaptiveCard {
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json';
  type: 'AdaptiveCard';
  version: '1.4';
  body: AdaptiveElement[];
  actions: Array<{ type: 'Action.OpenUrl'; title: string; url: string }>;
  msteams: { width: 'Full' };
}

export interface TeamsMessage {
  type: 'message';
  attachments: Array<{ contentType: 'application/vnd.microsoft.card.adaptive'; contentUrl: null; content: AdaptiveCard }>;
}

function card(body: AdaptiveElement[], link: string | null): TeamsMessage {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body,
          actions: link ? [{ type: 'Action.OpenUrl', title: 'Open the dashboard', url: link }] : [],
          msteams: { width: 'Full' },
        },
      },
    ],
  };
}

const facts = (list: readonly Fact[]) => list.map((f) => ({ title: f.name, value: f.value }));

export function formatTeams(n: Notification, template: TextTemplate | null): TeamsMessage {
  if (n.kind === 'digest') {
    const w = describeDigest(n);
    return card(
      [
        { type: 'TextBlock', text: w.title, wrap: true, weight: 'Bolder', size: 'Medium', style: 'heading' },
        { type: 'TextBlock', text: w.headline, wrap: true },
        ...w.lines.map((l): AdaptiveElement => ({ type: 'TextBlock', text: `- ${l}`, wrap: true })),
        ...w.traffic.map((l, i): AdaptiveElement => ({ type: 'TextBlock', text: i === 0 ? l : `- ${l}`, wrap: true })),
      ],
      w.link,
    );
  }
  const w = describeAlert(n, template);
  const color = n.event === 'resolved' ? 'Good' : n.alert.severity === 'critical' ? 'Attention' : n.alert.severity === 'warning' ? 'Warning' : 'Accent';
  return card(
    [
      { type: 'TextBlock', text: w.title, wrap: true, weight: 'Bolder', size: 'Medium', color, style: 'heading' },
      { type: 'TextBlock', text: w.headline, wrap: true },
      { type: 'FactSet', facts: facts(w.facts) },
    ],
    w.link,
  );
}
