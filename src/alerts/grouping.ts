/**
 * Which violations make one alert (alerts.group_by), and how severe it is (alerts.severity and
 * severity_rules). Both are decided from one judged flow: the first of a group for the key, the
 * one that crosses the thresholds for the severity.
 */
import type { AlertGroupField, AlertSeverity, AlertSeverityRule } from '../config/types';
import type { Jurisdictions } from '../policy/jurisdictions';
import type { JudgedFlow } from '../policy/types';

export interface GroupIdentity {
  /** `device=64:cc:2e:7b:40:05|country=CN`: the field names keep keys of different group_by apart. */
  key: string;
  /** The same fields as label values (Alertmanager labels, webhook `labels`). */
  fields: Record<string, string>;
}

/** A flow's value for one grouping field; never empty, since labels must not be. */
export function groupFieldValue(field: AlertGroupField, { flow, geo, verdict }: JudgedFlow): string {
  switch (field) {
    case 'device':
      // The MAC survives DHCP renumbering; devices seen only by address (routed, VPN) use the IP.
      return flow.device.mac ?? flow.device.ip;
    case 'device_group':
      return flow.device.group ?? 'none';
    case 'country':
      return geo.country ?? 'unknown';
    case 'asn':
      return geo.asn === null ? 'unknown' : `AS${geo.asn}`;
    case 'domain':
      return flow.sni ?? flow.httpHost ?? flow.names[0] ?? 'unknown';
    case 'policy':
      return verdict.policy;
  }
}

export function groupOf(fields: readonly AlertGroupField[], judged: JudgedFlow): GroupIdentity {
  const values: Record<string, string> = {};
  let key = '';
  for (const field of fields) {
    const value = groupFieldValue(field, judged);
    values[field] = value;
    key += `${key ? '|' : ''}${field}=${value}`;
  }
  return { key, fields: values };
}

interface CompiledRule {
  severity: AlertSeverity;
  policies: ReadonlySet<string> | null;
  countries: ReadonlySet<string> | null;
  deviceGroups: ReadonlySet<string> | null;
  minBytes: number;
}

export interface SeverityInput {
  policy: string;
  country: string | null;
  deviceGroup: string | null;
  bytes: number;
}

/** alerts.severity_rules, first match wins; jurisdiction group names are expanded once here. */
export class SeverityRules {
  private readonly rules: CompiledRule[];

  constructor(
    private readonly fallback: AlertSeverity,
    rules: readonly AlertSeverityRule[],
    jurisdictions: Pick<Jurisdictions, 'groups'> | null,
  ) {
    const set = (values: readonly string[]): ReadonlySet<string> | null => (values.length ? new Set(values) : null);
    this.rules = rules.map((r) => ({
      severity: r.severity,
      policies: set(r.policies),
      countries: set(r.countries.flatMap((c) => [...(jurisdictions?.groups.get(c) ?? [c])])),
      deviceGroups: set(r.deviceGroups),
      minBytes: r.minBytes,
    }));
  }

  of(input: SeverityInput): AlertSeverity {
    for (const r of this.rules) {
      if (r.policies && !r.policies.has(input.policy)) continue;
      if (r.countries && (input.country === null || !r.countries.has(input.country))) continue;
      if (r.deviceGroups && (input.deviceGroup === null || !r.deviceGroups.has(input.deviceGroup))) continue;
      if (input.bytes < r.minBytes) continue;
      return r.severity;
    }
    return this.fallback;
  }
}
