/**
 * The words of a message, shared by every chat sink so that Slack, Teams, Mattermost, Discord
 * and the console say the same thing: who (device), where (country, network, address), how much
 * (bytes up and down, flows), which rule, when, and a link to the dashboard. Short lines first,
 * because the first line is what a phone's lock screen shows.
 */
import { bytes } from '../sinks/device-report';
import { renderTemplate, type TemplateValues, type TextTemplate } from './template';
import type { AlertNotification, AlertPayload, DigestNotification, EvidenceFlow } from './types';

export interface Fact {
  name: string;
  value: string;
}

export interface AlertWording {
  /** One line: severity mark, device, country. */
  title: string;
  /** One sentence; a sink's template replaces it. */
  headline: string;
  facts: Fact[];
  link: string | null;
  /** Hex colour for sinks with a colour bar: red, orange, blue; green when resolved. */
  color: string;
}

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

export function countryName(code: string | null): string {
  if (code === null) return 'an unknown country';
  try {
    return regionNames.of(code) ?? code;
  } catch {
    return code;
  }
}

function countryLabel(code: string | null): string {
  return code === null ? 'unknown country' : `${countryName(code)} (${code})`;
}

export function deviceName(alert: Pick<AlertPayload, 'device'>): string {
  return alert.device.name ?? alert.device.ip;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

function endpoint(e: EvidenceFlow): string {
  const address = e.remote_ip.includes(':') ? `[${e.remote_ip}]` : e.remote_ip;
  return e.remote_port === null ? `${address} (${e.proto})` : `${address}:${e.remote_port}/${e.proto}`;
}

function network(e: EvidenceFlow): string | null {
  if (e.asn === null) return null;
  return e.as_org ? `AS${e.asn} ${e.as_org}` : `AS${e.asn}`;
}

/** "metrics.example → cdn.example; SNI metrics.example" for the top remote. */
function namesOf(e: EvidenceFlow | undefined, all: readonly string[]): string {
  if (!e) return all.slice(0, 5).join(', ') || '(no name seen)';
  const parts: string[] = [];
  if (e.names.length > 0) parts.push(e.names.join(' → '));
  if (e.sni && !e.names.includes(e.sni)) parts.push(`SNI ${e.sni}`);
  if (e.http_host && !e.names.includes(e.http_host) && e.http_host !== e.sni) parts.push(`Host ${e.http_host}`);
  return parts.join('; ') || '(no name seen: the address was used directly)';
}

function hhmmss(iso: string): string {
  return iso.slice(11, 19);
}

function when(alert: AlertPayload): string {
  const day = alert.started_at.slice(0, 10);
  const span = `${hhmmss(alert.started_at)}–${hhmmss(alert.last_seen_at)} UTC`;
  const sameDay = alert.last_seen_at.slice(0, 10) === day;
  const base = sameDay ? `${day} ${span}` : `${alert.started_at.replace('T', ' ').slice(0, 19)} – ${alert.last_seen_at.replace('T', ' ').slice(0, 19)} UTC`;
  return alert.resolved_at ? `${base}; resolved ${alert.resolved_at.replace('T', ' ').slice(0, 19)} UTC` : base;
}

const MARK = { critical: '🔴', warning: '🟠', info: '🔵' } as const;
const COLOR = { critical: '#d93025', warning: '#f29900', info: '#1a73e8', resolved: '#188038' } as const;

export function templateValues(alert: AlertPayload, event: AlertNotification['event']): TemplateValues {
  const top = alert.evidence[0];
  return {
    instance: alert.instance,
    status: event === 'resolved' ? 'RESOLVED' : event === 'reminder' ? 'STILL FIRING' : 'FIRING',
    severity: alert.severity,
    device: deviceName(alert),
    device_ip: alert.device.ip,
    device_mac: alert.device.mac ?? '',
    device_group: alert.device.group ?? '',
    country: alert.country ?? 'unknown',
    country_name: countryName(alert.country),
    countries: alert.countries.join(', '),
    remote: top ? endpoint(top) : '',
    asn: top?.asn === null || top === undefined ? '' : `AS${top.asn}`,
    as_org: top?.as_org ?? '',
    names: alert.names.join(', '),
    domain: top?.sni ?? top?.http_host ?? top?.names[0] ?? '',
    bytes: bytes(alert.totals.bytes_out + alert.totals.bytes_in),
    bytes_out: bytes(alert.totals.bytes_out),
    bytes_in: bytes(alert.totals.bytes_in),
    flows: String(alert.totals.flows),
    rule: alert.rule,
    policy: alert.policy,
    started_at: alert.started_at,
    last_seen: alert.last_seen_at,
    alert_id: alert.id,
    dashboard_url: alert.dashboard_url ?? '',
  };
}

export function describeAlert(n: AlertNotification, template: TextTemplate | null): AlertWording {
  const a = n.alert;
  const who = deviceName(a);
  const where = countryLabel(a.country);
  const title =
    n.event === 'resolved'
      ? `✅ Resolved: ${who} → ${where}`
      : `${MARK[a.severity]} ${n.event === 'reminder' ? 'Still sending' : a.severity.toUpperCase()}: ${who} → ${where}`;
  const t = a.totals;
  const headline = template
    ? renderTemplate(template, templateValues(a, n.event))
    : n.event === 'resolved'
      ? `${who} has sent nothing to ${countryName(a.country)} since ${hhmmss(a.last_seen_at)} UTC: ${bytes(t.bytes_out)} up, ${bytes(t.bytes_in)} down in ${plural(t.flows, 'flow')} in all.`
      : `${who} sent ${bytes(t.bytes_out)} to ${countryName(a.country)} (${bytes(t.bytes_in)} back) in ${plural(t.flows, 'flow')}.`;
  const top = a.evidence[0];
  const device = [a.device.name, a.device.ip, a.device.mac, a.device.group ? `group ${a.device.group}` : null].filter((x) => x !== null);
  const whereFact = top
    ? [countryLabel(top.country), network(top), endpoint(top)].filter((x) => x !== null).join(' · ') +
      (t.remotes > 1 ? ` (+${plural(t.remotes - 1, 'more remote')})` : '')
    : where;
  const facts: Fact[] = [
    { name: 'Device', value: device.join(' · ') },
    { name: 'Where', value: whereFact },
    { name: 'Names', value: namesOf(top, a.names) },
    { name: 'How much', value: `↑ ${bytes(t.bytes_out)}  ↓ ${bytes(t.bytes_in)} in ${plural(t.flows, 'flow')}` },
    { name: 'Rule', value: a.rule },
    { name: 'When', value: when(a) },
    { name: 'Gateway', value: `${a.instance} · ${a.severity} · alert ${a.id}` },
  ];
  if (a.countries.length > 1) facts.splice(2, 0, { name: 'Countries', value: a.countries.join(', ') });
  return { title, headline, facts, link: a.dashboard_url, color: n.event === 'resolved' ? COLOR.resolved : COLOR[a.severity] };
}

export interface DigestWording {
  title: string;
  headline: string;
  /** One line per device, most bytes first. */
  lines: string[];
  /** Foreign traffic per device since the last digest (all non-local flows), most bytes first; empty without it. */
  traffic: string[];
  link: string | null;
}

export function describeDigest(n: DigestNotification, maxLines = 15): DigestWording {
  const d = n.digest;
  const from = d.period_start.replace('T', ' ').slice(0, 16);
  const to = d.period_end.replace('T', ' ').slice(0, 16);
  const t = d.totals;
  const headline =
    t.devices === 0
      ? `No foreign-traffic violations from ${from} to ${to} UTC.`
      : `${plural(t.devices, 'device')} sent ${bytes(t.bytes_out)} (${bytes(t.bytes_in)} back) in ${plural(t.flows, 'violating flow')}, ${from} – ${to} UTC.`;
  const lines = d.devices.slice(0, maxLines).map((dev) => {
    const name = dev.device.name ?? dev.device.ip;
    const countries = dev.countries
      .slice(0, 4)
      .map((c) => `${c.country ?? '??'} ${bytes(c.bytes)}`)
      .join(', ');
    const names = dev.names.length ? `; ${dev.names.slice(0, 3).join(', ')}` : '';
    return `${name}: ↑ ${bytes(dev.bytes_out)} ↓ ${bytes(dev.bytes_in)} in ${plural(dev.flows, 'flow')} → ${countries}${names}`;
  });
  if (d.devices.length > maxLines) lines.push(`… and ${plural(d.devices.length - maxLines, 'more device')}`);
  const traffic: string[] = [];
  if (d.traffic) {
    const tt = d.traffic.totals;
    traffic.push(
      tt.flows === 0
        ? 'Foreign traffic: none.'
        : `Foreign traffic: ${plural(tt.devices, 'device')}, ↑ ${bytes(tt.bytes_out)} ↓ ${bytes(tt.bytes_in)} in ${plural(tt.flows, 'flow')} (${plural(tt.violations, 'violation')}):`,
    );
    for (const dev of d.traffic.devices.slice(0, maxLines)) {
      const name = dev.device.name ?? dev.device.ip;
      const countries = dev.countries
        .slice(0, 5)
        .map((c) => `${c.country ?? '??'} ${bytes(c.bytes_out + c.bytes_in)}`)
        .join(', ');
      const violations = dev.violations > 0 ? `, ${plural(dev.violations, 'violation')}` : '';
      traffic.push(`${name}: ↑ ${bytes(dev.bytes_out)} ↓ ${bytes(dev.bytes_in)} in ${plural(dev.flows, 'flow')}${violations} → ${countries}`);
    }
    if (d.traffic.devices.length > maxLines) traffic.push(`… and ${plural(d.traffic.devices.length - maxLines, 'more device')}`);
  }
  return { title: `📋 Daily digest: ${d.instance}`, headline, lines, traffic, link: d.dashboard_url };
}

/** One line for logs and the console sink. */
export function alertLine(n: AlertNotification, template: TextTemplate | null): string {
  const w = describeAlert(n, template);
  const a = n.alert;
  const top = a.evidence[0];
  const detail = top ? ` [${[network(top), endpoint(top), namesOf(top, a.names)].filter((x) => x !== null).join(' ')}]` : '';
  return `${n.created_at} ${n.event.toUpperCase()} ${a.severity} ${a.instance} ${w.headline}${detail} rule: ${a.rule} (alert ${a.id}#${n.seq})`;
}
