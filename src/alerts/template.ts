/**
 * Custom headline text for chat and console sinks: plain text with `{{placeholder}}` fields and
 * nothing else (no logic, no escapes), so that a template can be checked completely when the
 * config is loaded: an unknown placeholder or an unclosed brace is a config error, never a
 * message that fails at 3 a.m.
 *
 * This module imports nothing from the config so that the config schema can use it.
 */

/** Every value a template may use; the README lists them with examples. */
export const TEMPLATE_PLACEHOLDERS = [
  'instance',
  'status',
  'severity',
  'device',
  'device_ip',
  'device_mac',
  'device_group',
  'country',
  'country_name',
  'countries',
  'remote',
  'asn',
  'as_org',
  'names',
  'domain',
  'bytes',
  'bytes_out',
  'bytes_in',
  'flows',
  'rule',
  'policy',
  'started_at',
  'last_seen',
  'alert_id',
  'dashboard_url',
] as const;

export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];
export type TemplateValues = Readonly<Record<TemplatePlaceholder, string>>;

type Part = { text: string } | { field: TemplatePlaceholder };

export interface TextTemplate {
  readonly source: string;
  readonly parts: readonly Part[];
}

export type TemplateParse =
  | { ok: true; template: TextTemplate }
  /** `unknown` is set when the only problem is a placeholder name, for a "did you mean". */
  | { ok: false; message: string; unknown: string | null };

const KNOWN: ReadonlySet<string> = new Set(TEMPLATE_PLACEHOLDERS);

export function parseTemplate(source: string): TemplateParse {
  const parts: Part[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    const strayClose = source.indexOf('}}', at);
    if (strayClose !== -1 && (open === -1 || strayClose < open)) {
      return { ok: false, message: `"}}" at character ${strayClose + 1} closes nothing`, unknown: null };
    }
    if (open === -1) {
      parts.push({ text: source.slice(at) });
      break;
    }
    if (open > at) parts.push({ text: source.slice(at, open) });
    const close = source.indexOf('}}', open + 2);
    if (close === -1) return { ok: false, message: `"{{" at character ${open + 1} is not closed with "}}"`, unknown: null };
    const name = source.slice(open + 2, close).trim();
    if (!name) return { ok: false, message: `empty placeholder "{{}}" at character ${open + 1}`, unknown: null };
    if (!KNOWN.has(name)) return { ok: false, message: `unknown placeholder {{${name}}}`, unknown: name };
    parts.push({ field: name as TemplatePlaceholder });
    at = close + 2;
  }
  return { ok: true, template: { source, parts } };
}

export function renderTemplate(template: TextTemplate, values: TemplateValues): string {
  let out = '';
  for (const part of template.parts) out += 'text' in part ? part.text : values[part.field];
  return out;
}
