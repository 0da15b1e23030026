/**
 * What a Geowarden YAML file may contain, and how its problems are told to the admin: one line
 * per problem, `FILE: dotted.path[index]: reason`, all of them at once, in file order.
 *
 * Leaf values are checked by plain functions (shared with command-line overrides) wrapped as zod
 * transforms. A failed leaf only marks its parent dirty instead of aborting it, so cross-field
 * rules (deny vs allow, mac or ip) still run and every problem is reported in one pass.
 */
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { domainToASCII } from 'node:url';
import { type Document, isNode, parseDocument } from 'yaml';
import { validateDetailed as validateCron } from 'node-cron';
import { z } from 'zod';
import { formatAddress, formatMac, parseAddress, parseCidr, parseMac } from '../net/address';
import { isCountryCode, RESERVED_CODE_HINTS } from '../policy/iso3166';
import { parseDuration, parseSize } from './duration';
import { parseTemplate, TEMPLATE_PLACEHOLDERS } from '../alerts/template';
import { ALERT_GROUP_FIELDS, ALERT_SEVERITIES, ALERT_SINK_TYPES, type AlertSinkType } from './types';

export interface ConfigProblem {
  /** The file (or command-line flag) the value came from. */
  file: string;
  /** Dotted path with list indexes, e.g. `policy.deny_countries[2]`; empty for the whole file. */
  path: string;
  message: string;
}

export function formatProblem(problem: ConfigProblem): string {
  return problem.path ? `${problem.file}: ${problem.path}: ${problem.message}` : `${problem.file}: ${problem.message}`;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${s}` : s;
  return out;
}

/** A value as the admin wrote it: strings quoted, collections by kind. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Leaf checks

export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };
export type Check<T> = (value: unknown) => Checked<T>;

function accept<T>(value: T): Checked<T> {
  return { ok: true, value };
}

function reject(message: string): Checked<never> {
  return { ok: false, message };
}

function expected(what: string, value: unknown): Checked<never> {
  return reject(`expected ${what}, got ${showValue(value)}`);
}

export function checkText(options: { allowEmpty: boolean }): Check<string> {
  return (value) => {
    if (typeof value !== 'string') return expected('a string', value);
    const text = value.trim();
    if (!text && !options.allowEmpty) return reject('must not be empty');
    return accept(text);
  };
}

export const checkPositiveInteger: Check<number> = (value) =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
    ? accept(value)
    : reject(`${showValue(value)} is not a positive integer`);

export function checkIntegerRange(min: number, max: number): Check<number> {
  return (value) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max
      ? accept(value)
      : reject(`${showValue(value)} is not an integer from ${min} to ${max}`);
}

export function checkDuration(minSeconds: number): Check<number> {
  return (value) => {
    const seconds = parseDuration(value);
    if (seconds === null) return reject(`${showValue(value)} is not a duration (use 90s, 5m, 1h)`);
    if (seconds < minSeconds) return reject(`${showValue(value)} is too short (at least ${minSeconds}s)`);
    return accept(seconds);
  };
}

// pcap_set_buffer_size() takes a C int.
const MAX_CAPTURE_BUFFER_BYTES = 2 ** 31 - 1;

export const checkSize: Check<number> = (value) => {
  const bytes = parseSize(value);
  if (bytes === null) return reject(`${showValue(value)} is not a size (use a number of bytes or 512KiB, 32MiB, 1GiB)`);
  if (bytes < 1) return reject(`${showValue(value)} is too small (at least 1 byte)`);
  if (bytes > MAX_CAPTURE_BUFFER_BYTES) {
    return reject(`${showValue(value)} is more than libpcap accepts (${MAX_CAPTURE_BUFFER_BYTES} bytes)`);
  }
  return accept(bytes);
};

/** A calendar date as data files date themselves (`as_of: 2026-11-25`). */
export const checkIsoDate: Check<string> = (value) =>
  typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value))
    ? accept(value)
    : reject(`${showValue(value)} is not a date (use YYYY-MM-DD)`);

export const checkBoolean: Check<boolean> = (value) =>
  typeof value === 'boolean' ? accept(value) : expected('true or false', value);

export const checkCidr: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a CIDR block', value);
  const text = value.trim();
  return parseCidr(text) ? accept(text) : reject(`${showValue(value)} is not a CIDR block`);
};

/** Canonical text form, so inventory addresses compare equal to what the flow stage prints. */
export const checkIpAddress: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('an IP address', value);
  const words = isIP(value.trim()) ? parseAddress(value.trim()) : null;
  return words ? accept(formatAddress(words)) : reject(`${showValue(value)} is not an IP address`);
};

export const checkMac: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a MAC address', value);
  const mac = parseMac(value.trim());
  return mac === null
    ? reject(`${showValue(value)} is not a MAC address (use aa:bb:cc:dd:ee:ff)`)
    : accept(formatMac(mac));
};

const DOMAIN_SUFFIX = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Stored lowercase without leading or trailing dot. Non-ASCII names become their xn-- form
 * because DNS, SNI and Host carry that form, and matching compares text.
 */
export const checkDomainSuffix: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a domain suffix', value);
  const text = value.trim();
  if (text.startsWith('*')) {
    return reject(`${showValue(value)} is not a domain suffix (write ${text.replace(/^\*\.?/, '')}; it also matches subdomains)`);
  }
  const ascii = domainToASCII(text.replace(/^\./, '').replace(/\.$/, '')).toLowerCase();
  return DOMAIN_SUFFIX.test(ascii) ? accept(ascii) : reject(`${showValue(value)} is not a domain suffix`);
};

export const checkAsn: Check<number> = (value) => {
  const digits = typeof value === 'string' ? /^AS(\d{1,10})$/i.exec(value.trim())?.[1] : undefined;
  const asn = typeof value === 'number' ? value : digits !== undefined ? Number(digits) : NaN;
  return Number.isSafeInteger(asn) && asn >= 0 && asn <= 0xffffffff
    ? accept(asn)
    : reject(`${showValue(value)} is not an AS number (use 13335 or AS13335)`);
};

export function checkOneOf<T extends string>(choices: readonly T[]): Check<T> {
  return (value) =>
    (choices as readonly unknown[]).includes(value)
      ? accept(value as T)
      : reject(`${showValue(value)} is not one of ${choices.join(', ')}`);
}

/**
 * Country list entry: an ISO 3166-1 alpha-2 code or a jurisdiction group name, normalised to
 * uppercase. With `groups` null (the jurisdictions file itself is broken) names that are not
 * country codes pass, so one broken file does not produce a cascade of derived errors.
 */
export function checkCountryEntry(groups: readonly string[] | null): Check<string> {
  return (value) => {
    if (typeof value !== 'string') return expected('a country code or jurisdiction group', value);
    const code = value.trim().toUpperCase();
    if (isCountryCode(code) || groups === null || groups.includes(code)) return accept(code);
    const hint = RESERVED_CODE_HINTS[code];
    if (hint !== undefined) return reject(`${showValue(value)} is not an ISO 3166-1 alpha-2 code (${hint})`);
    return reject(
      `${showValue(value)} is not an ISO 3166-1 alpha-2 code or a jurisdiction group (groups: ${groups.join(', ')})`,
    );
  };
}

/** A path that must exist; relative paths are taken from `baseDir`. The value is the absolute path. */
export function checkExistingFile(baseDir: string): Check<string> {
  return (value) => {
    if (typeof value !== 'string' || !value.trim()) return expected('a file path', value);
    const text = value.trim();
    const resolved = path.resolve(baseDir, text);
    if (fs.existsSync(resolved)) return accept(resolved);
    const where = path.isAbsolute(text) ? '' : ` (resolved to ${resolved})`;
    return reject(`${showValue(value)} does not exist${where}`);
  };
}

export interface ListenAddress {
  /** Null listens on every address. IPv6 literals come without brackets. */
  host: string | null;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `host:port`, `[v6]:port` or `:port`, the form Prometheus exporters take for --web.listen-address. */
export function parseListenAddress(text: string): ListenAddress | null {
  const m = /^(?:\[([^\]]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : null;
  const host = m[2]!;
  if (host === '') return { host: null, port };
  return isIP(host) === 4 || HOSTNAME.test(host) ? { host, port } : null;
}

export const checkListenAddress: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('an address:port', value);
  const text = value.trim();
  return parseListenAddress(text)
    ? accept(text)
    : reject(`${showValue(value)} is not an address:port (use 127.0.0.1:9847, [::1]:9847 or :9847 for every address)`);
};

/** A user or group as getent takes it: a name, or a numeric id. */
export const checkAccountName: Check<string> = (value) => {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return accept(String(value));
  if (typeof value !== 'string') return expected('a user or group name', value);
  const name = value.trim();
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(name)
    ? accept(name)
    : reject(`${showValue(value)} is not a user or group name`);
};

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** A path that need not exist yet (a directory created on first use, a secret mounted at start). */
export function checkPath(baseDir: string): Check<string> {
  return (value) => {
    if (typeof value !== 'string' || !value.trim()) return expected('a path', value);
    return accept(path.resolve(baseDir, value.trim()));
  };
}

/** Sizes of downloads: like checkSize, without libpcap's int limit. */
export const checkByteCount: Check<number> = (value) => {
  const bytes = parseSize(value);
  if (bytes === null) return reject(`${showValue(value)} is not a size (use a number of bytes or 512KiB, 32MiB, 1GiB)`);
  return bytes >= 1 ? accept(bytes) : reject(`${showValue(value)} is too small (at least 1 byte)`);
};

/**
 * Five cron fields, at most one run an hour: database providers throttle accounts and addresses
 * that download often (and the databases change weekly at most).
 */
export const checkCronSchedule: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a cron expression', value);
  const text = value.trim().replace(/\s+/g, ' ');
  const fields = text.split(' ');
  const usage = 'use 5 fields: minute hour day-of-month month day-of-week, e.g. "17 4 * * 3"';
  if (fields.length !== 5) return reject(`${showValue(value)} is not a cron expression (${usage})`);
  const validation = validateCron(text);
  if (!validation.valid) {
    const bad = validation.errors[0];
    const what = bad && bad.value !== undefined ? `${bad.field} "${bad.value}" is out of range or malformed` : usage;
    return reject(`${showValue(value)} is not a cron expression (${what})`);
  }
  if (!/^\d+$/.test(fields[0]!)) {
    return reject(`${showValue(value)} runs more than once an hour; give a single minute, e.g. "17 4 * * 3"`);
  }
  return accept(text);
};

const URL_PLACEHOLDERS = /\{(yyyy|mm)\}/g;

/** http or https, without credentials (fetch refuses them); {yyyy} and {mm} are allowed anywhere. */
export const checkHttpUrl: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('an http or https URL', value);
  const text = value.trim();
  const unknown = /\{[^}]*\}/.exec(text.replace(URL_PLACEHOLDERS, ''));
  if (unknown) return reject(`${showValue(value)} has an unknown placeholder ${unknown[0]} (use {yyyy} and {mm})`);
  let url: URL;
  try {
    url = new URL(text.replace(URL_PLACEHOLDERS, '0'));
  } catch {
    return reject(`${showValue(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return reject(`${showValue(value)} is not an http or https URL`);
  if (url.username || url.password) return reject(`${showValue(value)} must not carry a user name or password`);
  return accept(text);
};

/** geoipupdate's rule for edition IDs: letters, digits and dashes. */
export const checkEditionId: Check<string> = (value) =>
  typeof value === 'string' && /^[A-Za-z0-9-]+$/.test(value.trim())
    ? accept(value.trim())
    : reject(`${showValue(value)} is not a MaxMind edition ID (e.g. GeoLite2-Country, GeoLite2-ASN)`);

/** MaxMind account IDs are numbers; YAML may give them quoted. */
export const checkAccountId: Check<string> = (value) => {
  const text = typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
  return /^[1-9]\d{0,15}$/.test(text) ? accept(text) : reject(`${showValue(value)} is not a MaxMind account ID (a number)`);
};

/** Policy names end up in reasons and metric labels, so they stay plain. */
export const checkPolicyName: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a policy name', value);
  const name = value.trim();
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)
    ? accept(name)
    : reject(`${showValue(value)} is not a policy name (use letters, digits, _ . -)`);
};

// ---------------------------------------------------------------------------------------------
// zod wrappers: null and a missing key mean the same thing (an emptied YAML key is null)

/** An optional setting; absent or null gives undefined, so the default applies. */
export function optional<T>(check: Check<T>) {
  return z.unknown().transform((value, ctx): T | undefined => {
    if (value === undefined || value === null) return undefined;
    const r = check(value);
    if (r.ok) return r.value;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.message });
    return z.NEVER;
  });
}

export function required<T>(check: Check<T>) {
  return z.unknown().transform((value, ctx): T => {
    const r: Checked<T> = value === undefined || value === null ? reject('is required') : check(value);
    if (r.ok) return r.value;
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.message });
    return z.NEVER;
  });
}

/** An optional list whose every entry is checked (a null entry is an error, not a skip). */
export function list<T>(check: Check<T>) {
  return z.array(required(check)).nullish();
}

function section<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape).strict().nullish();
}

function exceptionsSchema() {
  return section({ domains: list(checkDomainSuffix), asns: list(checkAsn), cidrs: list(checkCidr) });
}

function presentBoth(rules: { deny_countries?: unknown; allow_countries?: unknown }): boolean {
  return rules.deny_countries != null && rules.allow_countries != null;
}

const BOTH_LISTS = 'set either deny_countries or allow_countries, not both';

export const GEOIP_SOURCE_KINDS = ['maxmind', 'dbip', 'ipinfo', 'url'] as const;

/** The keys each source kind uses besides role and kind; any other is a mistake worth naming. */
const SOURCE_KEY_NAMES = ['edition_id', 'account_id', 'license_key', 'license_key_file', 'token', 'token_file', 'url', 'base_url'] as const;
const SOURCE_KEYS: Readonly<Record<(typeof GEOIP_SOURCE_KINDS)[number], readonly (typeof SOURCE_KEY_NAMES)[number][]>> = {
  maxmind: ['edition_id', 'account_id', 'license_key', 'license_key_file', 'base_url'],
  dbip: ['base_url'],
  ipinfo: ['token', 'token_file', 'base_url'],
  url: ['url'],
};

function geoipUpdateSchema(baseDir: string) {
  const secretFile = optional(checkPath(baseDir));
  const source = z
    .object({
      role: required(checkOneOf(['country', 'asn'] as const)),
      kind: required(checkOneOf(GEOIP_SOURCE_KINDS)),
      edition_id: optional(checkEditionId),
      account_id: optional(checkAccountId),
      license_key: optional(checkText({ allowEmpty: false })),
      license_key_file: secretFile,
      token: optional(checkText({ allowEmpty: false })),
      token_file: secretFile,
      url: optional(checkHttpUrl),
      base_url: optional(checkHttpUrl),
    })
    .strict()
    .superRefine((s, ctx) => {
      const used = typeof s.kind === 'string' ? SOURCE_KEYS[s.kind] : undefined;
      if (!used) return;
      const issue = (message: string, key?: string) =>
        ctx.addIssue({ code: z.ZodIssueCode.custom, message, ...(key ? { path: [key] } : {}) });
      for (const key of SOURCE_KEY_NAMES) {
        if (!used.includes(key) && s[key] !== undefined) issue(`is not used by kind ${s.kind}`, key);
      }
      const oneOf = (a: 'license_key' | 'token', b: 'license_key_file' | 'token_file') => {
        if (s[a] !== undefined && s[b] !== undefined) issue(`set ${a} or ${b}, not both`);
        else if (s[a] === undefined && s[b] === undefined) issue(`kind ${s.kind} needs ${a} or ${b}`);
      };
      if (s.kind === 'maxmind') {
        if (s.account_id === undefined) issue('is required for kind maxmind', 'account_id');
        oneOf('license_key', 'license_key_file');
      } else if (s.kind === 'ipinfo') oneOf('token', 'token_file');
      else if (s.kind === 'url' && s.url === undefined) issue('is required for kind url', 'url');
    });
  const sources = z
    .array(source)
    .superRefine((entries, ctx) => {
      const seen = new Map<string, number>();
      entries.forEach((s, i) => {
        if (typeof s.role !== 'string') return;
        const first = seen.get(s.role);
        if (first === undefined) seen.set(s.role, i);
        else {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [i, 'role'],
            message: `the ${s.role} database already comes from geoip.update.sources[${first}]`,
          });
        }
      });
    })
    .nullish();
  return section({
    schedule: optional(checkCronSchedule),
    directory: optional(checkPath(baseDir)),
    watch_files: optional(checkBoolean),
    timeout: optional(checkDuration(1)),
    max_size: optional(checkByteCount),
    sources,
  });
}

// ---------------------------------------------------------------------------------------------
// alerts: and history:

/** Byte thresholds: like checkByteCount, but 0 (no threshold) is allowed. */
export const checkByteThreshold: Check<number> = (value) => {
  const bytes = parseSize(value);
  return bytes === null ? reject(`${showValue(value)} is not a size (use a number of bytes or 512KiB, 32MiB, 1GiB)`) : accept(bytes);
};

/** Where alerts are POSTed: http or https, credentials in headers rather than in the URL. */
export const checkAlertUrl: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('an http or https URL', value);
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return reject(`${showValue(value)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return reject(`${showValue(value)} is not an http or https URL`);
  if (url.username || url.password) return reject(`${showValue(value)} must not carry a user name or password (use headers: { Authorization: ... })`);
  return accept(text);
};

/** POSIX shell rule for variable names, so `export NAME=...` works. */
export const checkEnvName: Check<string> = (value) =>
  typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value.trim())
    ? accept(value.trim())
    : reject(`${showValue(value)} is not an environment variable name (letters, digits, _)`);

/** A date (UTC midnight) or a date and time with Z or an offset: a time without a zone is ambiguous. */
export const checkTimestamp: Check<number> = (value) => {
  const text = value instanceof Date ? value.toISOString() : typeof value === 'string' ? value.trim() : '';
  const ms = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/i.test(text) ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? accept(ms) : reject(`${showValue(value)} is not a time (use 2030-01-31T18:00:00Z, an offset such as +01:00, or 2030-01-31)`);
};

export const checkAlertTemplate: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a template', value);
  const parsed = parseTemplate(value);
  if (parsed.ok) return accept(value);
  const hint = parsed.unknown === null ? null : closestKey(parsed.unknown, TEMPLATE_PLACEHOLDERS);
  if (hint) return reject(`${parsed.message} (did you mean {{${hint}}}?)`);
  if (parsed.unknown !== null) return reject(`${parsed.message} (known: ${TEMPLATE_PLACEHOLDERS.join(', ')})`);
  return reject(parsed.message);
};

/** Sink names end up in metric labels, idempotency keys and digest.sinks. */
export const checkSinkName: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a sink name', value);
  const name = value.trim();
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) ? accept(name) : reject(`${showValue(value)} is not a sink name (use letters, digits, _ . -)`);
};

/** Headers Geowarden sets itself: a config value would break the signature or the framing. */
const RESERVED_HEADERS = ['content-type', 'content-length', 'host', 'idempotency-key', 'x-geowarden-signature', 'transfer-encoding', 'connection'];

const SINK_KEY_NAMES = ['url', 'url_env', 'url_file', 'secret_env', 'secret_file', 'headers', 'path', 'template', 'resend_interval'] as const;
type SinkKey = (typeof SINK_KEY_NAMES)[number];
const HTTP_KEYS: readonly SinkKey[] = ['url', 'url_env', 'url_file'];
const CHAT_KEYS: readonly SinkKey[] = [...HTTP_KEYS, 'template'];
const SINK_KEYS: Readonly<Record<AlertSinkType, readonly SinkKey[]>> = {
  webhook: [...HTTP_KEYS, 'secret_env', 'secret_file', 'headers'],
  slack: CHAT_KEYS,
  teams: CHAT_KEYS,
  mattermost: CHAT_KEYS,
  discord: CHAT_KEYS,
  alertmanager: [...HTTP_KEYS, 'headers', 'resend_interval'],
  console: ['template'],
  jsonl: ['path'],
};

export function isHttpSinkType(type: AlertSinkType): boolean {
  return SINK_KEYS[type].includes('url');
}

function alertsSchema(context: SchemaContext) {
  const issueAt = (ctx: z.RefinementCtx, path: (string | number)[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path, message });
  const filePath = optional(checkPath(context.baseDir));
  const headers = z
    .record(z.string(), required(checkText({ allowEmpty: false })))
    .superRefine((record, ctx) => {
      for (const name of Object.keys(record)) {
        // RFC 9110 §5.1: a field name is a token.
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) issueAt(ctx, [name], `"${name}" is not an HTTP header name`);
        else if (RESERVED_HEADERS.includes(name.toLowerCase())) issueAt(ctx, [name], `is set by Geowarden and cannot be configured`);
      }
    })
    .nullish();
  const sink = z
    .object({
      name: required(checkSinkName),
      type: required(checkOneOf(ALERT_SINK_TYPES)),
      url: optional(checkAlertUrl),
      url_env: optional(checkEnvName),
      url_file: filePath,
      secret_env: optional(checkEnvName),
      secret_file: filePath,
      headers,
      path: filePath,
      template: optional(checkAlertTemplate),
      resend_interval: optional(checkDuration(1)),
      min_severity: optional(checkOneOf(ALERT_SEVERITIES)),
      rate_limit: z.object({ interval: required(checkDuration(0.001)), burst: required(checkPositiveInteger) }).strict().nullish(),
    })
    .strict()
    .superRefine((s, ctx) => {
      const used = typeof s.type === 'string' ? SINK_KEYS[s.type] : undefined;
      if (!used) return;
      for (const key of SINK_KEY_NAMES) {
        if (!used.includes(key) && s[key] !== undefined && s[key] !== null) issueAt(ctx, [key], `is not used by type ${s.type}`);
      }
      if (used.includes('url')) {
        const given = HTTP_KEYS.filter((k) => s[k] !== undefined);
        if (given.length === 0) issueAt(ctx, [], `type ${s.type} needs url, url_env or url_file`);
        else if (given.length > 1) issueAt(ctx, [given[1]!], `set one of url, url_env, url_file, not ${given.join(' and ')}`);
      }
      if (s.secret_env !== undefined && s.secret_file !== undefined) issueAt(ctx, ['secret_file'], 'set secret_env or secret_file, not both');
      if (s.type === 'jsonl' && s.path === undefined) issueAt(ctx, ['path'], 'is required for type jsonl');
    });

  const severityRule = z
    .object({
      severity: required(checkOneOf(ALERT_SEVERITIES)),
      policies: list(checkPolicyName),
      countries: list(checkCountryEntry(context.jurisdictionGroups)),
      device_groups: list(checkText({ allowEmpty: false })),
      min_bytes: optional(checkByteThreshold),
    })
    .strict()
    .superRefine((r, ctx) => {
      if (!r.policies?.length && !r.countries?.length && !r.device_groups?.length && r.min_bytes === undefined) {
        issueAt(ctx, [], 'needs at least one of policies, countries, device_groups, min_bytes (the default is alerts.severity)');
      }
    });

  const silence = z
    .object({
      device: optional(checkText({ allowEmpty: false })),
      country: optional(checkCountryEntry([])),
      domain: optional(checkDomainSuffix),
      until: required(checkTimestamp),
      comment: optional(checkText({ allowEmpty: true })),
    })
    .strict()
    .superRefine((s, ctx) => {
      if (s.device === undefined && s.country === undefined && s.domain === undefined) issueAt(ctx, [], 'needs at least one of device, country, domain');
    });

  const groupBy = z
    .array(required(checkOneOf(ALERT_GROUP_FIELDS)))
    .min(1, 'needs at least one field (default: [device, country])')
    .superRefine((fields, ctx) => {
      fields.forEach((f, i) => {
        if (fields.indexOf(f) !== i) issueAt(ctx, [i], `"${f}" is listed twice`);
      });
    })
    .nullish();

  return z
    .object({
      database: optional(checkPath(context.baseDir)),
      dashboard_url: optional(checkAlertUrl),
      group_by: groupBy,
      min_bytes: optional(checkByteThreshold),
      min_flows: optional(checkPositiveInteger),
      dedup_window: optional(checkDuration(0)),
      renotify_interval: optional(checkDuration(60)),
      resolve_after: optional(checkDuration(1)),
      severity: optional(checkOneOf(ALERT_SEVERITIES)),
      severity_rules: z.array(severityRule).nullish(),
      silences: z.array(silence).nullish(),
      delivery: section({
        timeout: optional(checkDuration(0.1)),
        retry_initial: optional(checkDuration(0.01)),
        retry_max: optional(checkDuration(0.01)),
        give_up_after: optional(checkDuration(1)),
      }),
      digest: z.object({ schedule: required(checkCronSchedule), sinks: z.array(required(checkSinkName)).min(1, 'needs at least one sink name') }).strict().nullish(),
      sinks: z.array(sink).nullish(),
    })
    .strict()
    .superRefine((a, ctx) => {
      const types = new Map<string, AlertSinkType>();
      (a.sinks ?? []).forEach((s, i) => {
        if (typeof s.name !== 'string') return;
        if (types.has(s.name)) issueAt(ctx, ['sinks', i, 'name'], `"${s.name}" is already the name of another sink`);
        else if (typeof s.type === 'string') types.set(s.name, s.type);
      });
      (a.digest?.sinks ?? []).forEach((name, i) => {
        const type = types.get(name);
        if (type === undefined) issueAt(ctx, ['digest', 'sinks', i], `no sink is named "${name}" (sinks: ${[...types.keys()].join(', ') || 'none'})`);
        else if (type === 'alertmanager') issueAt(ctx, ['digest', 'sinks', i], `"${name}" is an alertmanager sink; Alertmanager takes alerts, not digests`);
      });
      if (a.renotify_interval !== undefined && a.dedup_window !== undefined && a.renotify_interval < a.dedup_window) {
        issueAt(ctx, ['renotify_interval'], `must be at least dedup_window (${a.dedup_window}s)`);
      }
      if (a.delivery?.retry_initial !== undefined && a.delivery.retry_max !== undefined && a.delivery.retry_max < a.delivery.retry_initial) {
        issueAt(ctx, ['delivery', 'retry_max'], 'must be at least retry_initial');
      }
    })
    .nullish();
}

function historySchema() {
  return section({ retention: optional(checkDuration(3600)), prune_schedule: optional(checkCronSchedule) });
}

/** A single country, as an override places an address: an ISO 3166-1 code, not a group. */
export const checkCountryCode: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a country code', value);
  const code = value.trim().toUpperCase();
  if (isCountryCode(code)) return accept(code);
  const hint = RESERVED_CODE_HINTS[code];
  return reject(`${showValue(value)} is not an ISO 3166-1 alpha-2 code${hint ? ` (${hint})` : ''}`);
};

/** `host:port` or `[v6]:port` of a collector: like a listen address, but a host is needed and port 0 is not a port. */
export const checkCollectorAddress: Check<string> = (value) => {
  if (typeof value !== 'string') return expected('a host:port', value);
  const text = value.trim();
  const parsed = parseListenAddress(text);
  return parsed && parsed.host !== null && parsed.port !== 0
    ? accept(text)
    : reject(`${showValue(value)} is not a collector address (use host:port, e.g. 127.0.0.1:4739 or [2001:db8::1]:4739)`);
};

export const GEOIP_DECISIONS = ['any', 'all', 'majority', 'primary'] as const;

/**
 * `geoip`: one database (`country`, `asn`) or several named ones (`databases`), how their answers
 * are combined, admin overrides and the anycast list.
 */
function geoipSchema(baseDir: string) {
  const file = optional(checkExistingFile(baseDir));
  const database = z
    .object({ name: required(checkPolicyName), country: file, asn: file })
    .strict()
    .superRefine((d, ctx) => {
      if (d.country === undefined && d.asn === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'needs country or asn (or both)' });
    });
  const override = z
    .object({ cidr: optional(checkCidr), asn: optional(checkAsn), country: required(checkCountryCode), note: optional(checkText({ allowEmpty: true })) })
    .strict()
    .superRefine((o, ctx) => {
      if ((o.cidr === undefined) === (o.asn === undefined)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'needs either cidr or asn' });
    });
  return z
    .object({
      country: file,
      asn: file,
      cache_size: optional(checkPositiveInteger),
      update: geoipUpdateSchema(baseDir),
      databases: z.array(database).nullish(),
      decision: optional(checkOneOf(GEOIP_DECISIONS)),
      primary: optional(checkPolicyName),
      overrides: z.array(override).nullish(),
      anycast_asns_file: file,
    })
    .strict()
    .superRefine((g, ctx) => {
      const issue = (message: string, path: (string | number)[]) => ctx.addIssue({ code: z.ZodIssueCode.custom, message, path });
      const databases = g.databases ?? [];
      if (databases.length === 0) {
        if (g.primary !== undefined) issue('needs geoip.databases (it names one of them)', ['primary']);
        return;
      }
      if (g.country !== undefined || g.asn !== undefined) issue('set geoip.country/geoip.asn or geoip.databases, not both', ['databases']);
      const seen = new Map<string, number>();
      databases.forEach((d, i) => {
        if (typeof d.name !== 'string') return;
        const first = seen.get(d.name);
        if (first !== undefined) issue(`"${d.name}" is already the name of geoip.databases[${first}]`, ['databases', i, 'name']);
        else seen.set(d.name, i);
      });
      if (!databases.some((d) => d.country !== undefined)) issue('needs at least one entry with a country database', ['databases']);
      if (g.primary !== undefined) {
        const named = databases.find((d) => d.name === g.primary);
        if (!named) issue(`"${g.primary}" is not the name of an entry in geoip.databases (${[...seen.keys()].join(', ')})`, ['primary']);
        else if (named.country === undefined) issue(`"${g.primary}" has no country database`, ['primary']);
      }
    })
    .nullish();
}

/** `export`: where finished flows go besides Geowarden's own outputs. */
function exportSchema() {
  return section({
    ipfix: z
      .object({
        collector: required(checkCollectorAddress),
        observation_domain_id: optional(checkIntegerRange(0, 0xffffffff)),
        template_refresh: section({ interval: optional(checkDuration(1)), packets: optional(checkIntegerRange(1, 1_000_000)) }),
        // IPv6 guarantees 1280; smaller paths leave too little room for the templates.
        mtu: optional(checkIntegerRange(576, 65535)),
      })
      .strict()
      .nullish(),
  });
}

export interface SchemaContext {
  /** Group names from the jurisdictions file, in file order; null when that file could not be read. */
  jurisdictionGroups: readonly string[] | null;
  /** Directory relative paths are resolved against: the config file's. */
  baseDir: string;
}

export function buildConfigSchema(context: SchemaContext) {
  const countries = list(checkCountryEntry(context.jurisdictionGroups));
  const file = optional(checkExistingFile(context.baseDir));

  const inventoryEntry = z
    .object({
      mac: optional(checkMac),
      ip: optional(checkIpAddress),
      name: required(checkText({ allowEmpty: false })),
      group: optional(checkText({ allowEmpty: false })),
    })
    .strict()
    .superRefine((entry, ctx) => {
      if (entry.mac === undefined && entry.ip === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'needs a mac or an ip' });
      }
    });

  const group = z
    .object({
      name: required(checkPolicyName),
      match: z
        .object({
          inventory_groups: list(checkText({ allowEmpty: false })),
          cidrs: list(checkCidr),
          macs: list(checkMac),
        })
        .strict(),
      deny_countries: countries,
      allow_countries: countries,
      exceptions: exceptionsSchema(),
    })
    .strict()
    .superRefine((g, ctx) => {
      if (!g.match.inventory_groups?.length && !g.match.cidrs?.length && !g.match.macs?.length) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['match'],
          message: 'needs at least one of inventory_groups, cidrs, macs',
        });
      }
      if (presentBoth(g)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: BOTH_LISTS });
      else if (g.deny_countries == null && g.allow_countries == null) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'needs deny_countries or allow_countries' });
      }
    });

  const groups = z
    .array(group)
    .superRefine((entries, ctx) => {
      const seen = new Map<string, number>();
      entries.forEach((g, i) => {
        if (typeof g.name !== 'string') return;
        const first = seen.get(g.name);
        if (g.name === 'default') {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [i, 'name'],
            message: '"default" is the name of the rules outside groups; pick another',
          });
        } else if (first !== undefined) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [i, 'name'],
            message: `"${g.name}" is already the name of policy.groups[${first}]`,
          });
        } else seen.set(g.name, i);
      });
    })
    .nullish();

  return z
    .object({
      instance: optional(checkText({ allowEmpty: false })),
      capture: section({
        interfaces: list(checkText({ allowEmpty: false })),
        bpf: optional(checkText({ allowEmpty: true })),
        snaplen: optional(checkIntegerRange(64, 262144)),
        buffer_size: optional(checkSize),
        promiscuous: optional(checkBoolean),
      }),
      networks: section({
        internal: z.array(required(checkCidr)).min(1, 'needs at least one CIDR block').nullish(),
      }),
      flows: section({
        max_flows: optional(checkPositiveInteger),
        tcp_idle_timeout: optional(checkDuration(1)),
        udp_idle_timeout: optional(checkDuration(1)),
        icmp_idle_timeout: optional(checkDuration(1)),
        active_timeout: optional(checkDuration(1)),
        quic: optional(checkBoolean),
      }),
      dns: section({
        max_entries: optional(checkPositiveInteger),
        grace: optional(checkDuration(0)),
        min_ttl: optional(checkDuration(0)),
        encrypted_resolvers_file: file,
        dnstap_socket: optional(checkPath(context.baseDir)),
      }),
      devices: section({
        max_devices: optional(checkPositiveInteger),
        inventory: z.array(inventoryEntry).nullish(),
      }),
      geoip: geoipSchema(context.baseDir),
      server: section({ listen: optional(checkListenAddress), web_config_file: file }),
      daemon: z
        .object({ user: optional(checkAccountName), group: optional(checkAccountName) })
        .strict()
        .superRefine((daemon, ctx) => {
          if (daemon.group !== undefined && daemon.user === undefined) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['group'], message: 'needs daemon.user too (the group applies when switching to that user)' });
          }
        })
        .nullish(),
      log: section({ level: optional(checkOneOf(LOG_LEVELS)) }),
      metrics: section({ cardinality_limit: optional(checkPositiveInteger) }),
      export: exportSchema(),
      alerts: alertsSchema(context),
      history: historySchema(),
      policy: z
        .object({
          jurisdictions_file: file,
          unknown_country: optional(checkOneOf(['unknown', 'violation', 'allowed'] as const)),
          anycast: optional(checkOneOf(['judge', 'anycast'] as const)),
          deny_countries: countries,
          allow_countries: countries,
          exceptions: exceptionsSchema(),
          groups,
        })
        .strict()
        .superRefine((policy, ctx) => {
          if (presentBoth(policy)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: BOTH_LISTS });
        })
        .nullish(),
    })
    .strict();
}

export type RawConfig = z.output<ReturnType<typeof buildConfigSchema>>;

// ---------------------------------------------------------------------------------------------
// Turning zod issues and YAML errors into problems

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
};

const errorMap: z.ZodErrorMap = (issue, ctx) => {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    if (issue.received === 'undefined') return { message: 'is required' };
    return { message: `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${showValue(ctx.data)}` };
  }
  return { message: ctx.defaultError };
};

/** Parses with the messages this module writes instead of zod's defaults. */
export function validate<S extends z.ZodTypeAny>(schema: S, value: unknown): z.SafeParseReturnType<unknown, z.output<S>> {
  return schema.safeParse(value, { errorMap });
}

/** The schema that validates the value at `segments`, to list the keys an object accepts. */
function schemaAt(root: z.ZodTypeAny, segments: readonly (string | number)[]): z.ZodTypeAny | null {
  let schema: z.ZodTypeAny | undefined = root;
  let i = 0;
  while (schema) {
    if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) schema = schema.unwrap();
    else if (schema instanceof z.ZodEffects) schema = schema.innerType();
    else if (i === segments.length) return schema;
    else if (schema instanceof z.ZodObject) schema = (schema.shape as z.ZodRawShape)[segments[i++] as string];
    else if (schema instanceof z.ZodArray) (schema = schema.element), i++;
    else if (schema instanceof z.ZodRecord) (schema = schema.valueSchema), i++;
    else return null;
  }
  return null;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known key the admin most likely meant: same letters in another case or separator style
 * (maxFlows, max-flows), a prefix (deny), or a few typos away.
 */
export function closestKey(key: string, known: readonly string[]): string | null {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const exact = known.find((k) => squash(k) === squash(key));
  if (exact) return exact;
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    const limit = Math.max(1, Math.floor(k.length / 4));
    if (d <= limit && d < bestDistance) (best = k), (bestDistance = d);
  }
  if (best) return best;
  if (key.length >= 4) return known.find((k) => k.startsWith(key.toLowerCase())) ?? null;
  return null;
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const hint = closestKey(key, known);
  return hint ? `unknown key (did you mean "${hint}"?)` : `unknown key (known keys: ${known.join(', ')})`;
}

/** Byte offset of the YAML node nearest to `segments`, so problems come out in file order. */
function offsetOf(doc: Document | null, segments: readonly (string | number)[]): number {
  if (!doc) return 0;
  for (let n = segments.length; n > 0; n--) {
    const node: unknown = doc.getIn(segments.slice(0, n), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return 0;
}

export function problemsFromZod(
  file: string,
  error: z.ZodError,
  schema: z.ZodTypeAny,
  doc: Document | null,
): ConfigProblem[] {
  const located: { offset: number; depth: number; problem: ConfigProblem }[] = [];
  for (const issue of error.issues) {
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      const owner = schemaAt(schema, issue.path);
      const known = owner instanceof z.ZodObject ? Object.keys(owner.shape as z.ZodRawShape) : [];
      for (const key of issue.keys) {
        const segments = [...issue.path, key];
        located.push({
          offset: offsetOf(doc, segments),
          depth: segments.length,
          problem: { file, path: formatPath(segments), message: unknownKeyMessage(key, known) },
        });
      }
    } else {
      located.push({
        offset: offsetOf(doc, issue.path),
        depth: issue.path.length,
        problem: { file, path: formatPath(issue.path), message: issue.message },
      });
    }
  }
  // A missing key has no node of its own and borrows its mapping's offset; at equal offsets the
  // mapping's own problem reads better first. The sort is stable, so ties beyond that keep zod's order.
  return located.sort((a, b) => a.offset - b.offset || a.depth - b.depth).map((l) => l.problem);
}

export interface YamlSource {
  doc: Document | null;
  /** The document as plain data (an empty file is an empty mapping); undefined when unreadable. */
  value: unknown;
  problems: ConfigProblem[];
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
};

export function readYamlFile(file: string): YamlSource {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const message = `cannot read the file: ${READ_ERRORS[code] ?? (err as Error).message}`;
    return { doc: null, value: undefined, problems: [{ file, path: '', message }] };
  }
  return parseYamlText(file, text);
}

export function parseYamlText(file: string, text: string): YamlSource {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const at = e.linePos?.[0];
      // prettyErrors appends " at line L, column C:" and a source excerpt; the line:column goes in front instead.
      const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return { file, path: at ? `line ${at.line}, column ${at.col}` : '', message };
    });
    return { doc, value: undefined, problems };
  }
  return { doc, value: doc.toJS() ?? {}, problems: [] };
}
