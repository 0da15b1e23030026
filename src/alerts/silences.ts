/**
 * Silences: "don't alert on this device / country / domain until then". A silenced violation is
 * still recorded in the history (it happened); it just raises no alert. Silences come from the
 * config and from `POST /api/v1/silences` (persisted in the alert database), like Alertmanager's
 * silences, which also match on every field given and end at a fixed time.
 */
import { createHash } from 'node:crypto';
import type { AlertSilenceConfig } from '../config/types';
import { parseDuration } from '../config/duration';
import { checkCountryEntry, checkDomainSuffix, checkText, checkTimestamp, type Check } from '../config/schema';
import type { JudgedFlow } from '../policy/types';

export interface Silence {
  id: string;
  device: string | null;
  country: string | null;
  domain: string | null;
  untilMs: number;
  comment: string;
  source: 'config' | 'api';
  createdAtMs: number;
}

/** The JSON form in API answers. */
export interface SilenceJson {
  id: string;
  device: string | null;
  country: string | null;
  domain: string | null;
  until: string;
  comment: string;
  source: 'config' | 'api';
  created_at: string;
}

export function silenceJson(s: Silence): SilenceJson {
  return {
    id: s.id,
    device: s.device,
    country: s.country,
    domain: s.domain,
    until: new Date(s.untilMs).toISOString(),
    comment: s.comment,
    source: s.source,
    created_at: new Date(s.createdAtMs).toISOString(),
  };
}

export function silenceFromConfig(c: AlertSilenceConfig): Silence {
  const id = createHash('sha256').update(JSON.stringify([c.device, c.country, c.domain, c.untilMs])).digest('hex').slice(0, 12);
  return { id: `cfg-${id}`, device: c.device, country: c.country, domain: c.domain, untilMs: c.untilMs, comment: c.comment, source: 'config', createdAtMs: 0 };
}

/** Label-boundary suffix match, the same rule as policy exceptions: ntp.org matches pool.ntp.org, not evilntp.org. */
function nameMatches(name: string, suffix: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === suffix || n.endsWith(`.${suffix}`);
}

export function silenceMatches(s: Silence, judged: JudgedFlow, nowMs: number): boolean {
  if (nowMs >= s.untilMs) return false;
  const { flow, geo } = judged;
  if (s.country !== null && geo.country !== s.country) return false;
  if (s.device !== null) {
    const d = s.device.toLowerCase();
    const device = flow.device;
    if (device.ip !== s.device && device.mac?.toLowerCase() !== d && device.hostname?.toLowerCase() !== d) return false;
  }
  if (s.domain !== null) {
    const domain = s.domain;
    const names = [...flow.names, flow.sni, flow.httpHost];
    if (!names.some((n) => n !== null && nameMatches(n, domain))) return false;
  }
  return true;
}

/** The silences in force; expired ones are dropped as they are met. */
export class SilenceSet {
  private silences: Silence[];

  constructor(initial: readonly Silence[] = []) {
    this.silences = [...initial];
  }

  add(s: Silence): void {
    this.silences = [...this.silences.filter((x) => x.id !== s.id), s];
  }

  /** The first silence matching the violation, or null. */
  match(judged: JudgedFlow, nowMs: number): Silence | null {
    if (this.silences.length === 0) return null;
    let expired = false;
    let found: Silence | null = null;
    for (const s of this.silences) {
      if (nowMs >= s.untilMs) expired = true;
      else if (found === null && silenceMatches(s, judged, nowMs)) found = s;
    }
    if (expired) this.silences = this.silences.filter((s) => nowMs < s.untilMs);
    return found;
  }

  active(nowMs: number): Silence[] {
    return this.silences.filter((s) => nowMs < s.untilMs);
  }
}

export type SilenceRequest = { ok: true; silence: Omit<Silence, 'id' | 'source' | 'createdAtMs'> } | { ok: false; problems: string[] };

/**
 * Validates a `POST /api/v1/silences` body with the same checks as `alerts.silences` in the
 * config. `until` is a time (2030-01-31T18:00:00Z) or a duration from now ("2h", "1d").
 */
export function parseSilenceRequest(body: unknown, nowMs: number): SilenceRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, problems: ['the body must be a JSON object'] };
  const record = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(record)) {
    if (!['device', 'country', 'domain', 'until', 'comment'].includes(key)) problems.push(`${key}: unknown field (fields: device, country, domain, until, comment)`);
  }
  const field = <T>(key: string, check: Check<T>): T | null => {
    const value = record[key];
    if (value === undefined || value === null) return null;
    const r = check(value);
    if (r.ok) return r.value;
    problems.push(`${key}: ${r.message}`);
    return null;
  };
  const device = field('device', checkText({ allowEmpty: false }));
  const country = field('country', checkCountryEntry([]));
  const domain = field('domain', checkDomainSuffix);
  const comment = field('comment', checkText({ allowEmpty: true })) ?? '';
  let untilMs: number | null = null;
  const until = record['until'];
  const seconds = typeof until === 'string' && /[smhd]$/.test(until.trim()) ? parseDuration(until) : null;
  if (until === undefined || until === null) problems.push('until: is required (a time such as 2030-01-31T18:00:00Z, or a duration such as 2h)');
  else if (seconds !== null) untilMs = nowMs + seconds * 1000;
  else untilMs = field('until', checkTimestamp);
  if (untilMs !== null && untilMs <= nowMs) problems.push('until: is in the past');
  if (device === null && country === null && domain === null && !problems.some((p) => /^(device|country|domain):/.test(p))) {
    problems.push('needs at least one of device, country, domain');
  }
  if (problems.length > 0 || untilMs === null) return { ok: false, problems };
  return { ok: true, silence: { device, country, domain, untilMs, comment } };
}
