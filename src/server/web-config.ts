/**
 * The web config file of the Prometheus exporter-toolkit
 * (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md), which
 * admins already write for node_exporter and friends: TLS, bcrypt basic auth, extra response
 * headers, a rate limit. Same keys, same defaults, same strictness (unknown keys are errors, as
 * with yaml.UnmarshalStrict); relative file names are resolved against the file's directory.
 * Every problem is reported at once, one line each: `FILE: dotted.key: reason`.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createSecureContext, type SecureVersion } from 'node:tls';
import { closestKey, ConfigError, readYamlFile, showValue, type ConfigProblem } from '../config/schema';

export const CLIENT_AUTH_TYPES = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = (typeof CLIENT_AUTH_TYPES)[number];

export interface WebTlsSettings {
  /** PEM text, read from cert_file / key_file / client_ca_file or given inline. */
  cert: string;
  key: string;
  clientCa: string | null;
  clientAuth: ClientAuthType;
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  /** OpenSSL cipher list for TLS ≤ 1.2, or null for Node's defaults. */
  ciphers: string | null;
  honorCipherOrder: boolean;
  /** OpenSSL curve list, or null for Node's defaults. */
  ecdhCurve: string | null;
  /** A client certificate must carry one of these SANs; null: no SAN check. */
  clientAllowedSans: readonly string[] | null;
}

export interface WebConfig {
  file: string;
  tls: WebTlsSettings | null;
  /** User name → bcrypt hash; empty: no authentication. */
  users: ReadonlyMap<string, string>;
  headers: Readonly<Record<string, string>>;
  /** Token bucket: one request per interval, bursts of `burst`; null: unlimited. */
  rateLimit: { intervalS: number; burst: number } | null;
  /** The file and the TLS files it names: a change to any of them means reloading. */
  files: readonly string[];
}

const TOP_KEYS = ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit'];
const TLS_KEYS = [
  'cert',
  'key',
  'client_ca',
  'cert_file',
  'key_file',
  'client_auth_type',
  'client_ca_file',
  'client_allowed_sans',
  'min_version',
  'max_version',
  'cipher_suites',
  'prefer_server_cipher_suites',
  'curve_preferences',
];
const HTTP_KEYS = ['http2', 'headers'];
const RATE_KEYS = ['interval', 'burst'];

const TLS_VERSIONS: Readonly<Record<string, SecureVersion>> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const VERSION_ORDER: readonly SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/**
 * Go's crypto/tls names (what the file takes) → OpenSSL names (what Node takes), for the suites
 * tls.CipherSuites() lists as secure for TLS ≤ 1.2. TLS 1.3 suites are not configurable in Go.
 */
const CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
};
/** Node drops TLS 1.3 when the cipher list names none of its suites; Go never lets the list touch them. */
const TLS13_SUITES = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

const CURVES: Readonly<Record<string, string>> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** exporter-toolkit's allow-list: header → accepted values (empty: any). */
const EXTRA_HEADERS: Readonly<Record<string, readonly string[]>> = {
  'Strict-Transport-Security': [],
  'X-Content-Type-Options': ['nosniff'],
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-XSS-Protection': [],
  'Content-Security-Policy': [],
};

/** $2a$/$2b$/$2y$ (htpasswd -B writes 2y), two-digit cost, 22 characters of salt and 31 of hash. */
const BCRYPT_HASH = /^\$2[aby]?\$(\d\d)\$[./A-Za-z0-9]{53}$/;

type Mapping = Record<string, unknown>;

function isMapping(v: unknown): v is Mapping {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Collects problems at dotted paths, so the admin sees every mistake in one run. */
class Problems {
  readonly list: ConfigProblem[] = [];
  constructor(private readonly file: string) {}

  add(at: string, message: string): void {
    this.list.push({ file: this.file, path: at, message });
  }

  /** The mapping under `at`, or null when absent/empty; unknown keys are reported. */
  section(value: unknown, at: string, known: readonly string[]): Mapping | null {
    if (value === undefined || value === null) return null;
    if (!isMapping(value)) {
      this.add(at, `expected a mapping, got ${showValue(value)}`);
      return null;
    }
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const hint = closestKey(key, known);
      this.add(join(at, key), hint ? `unknown key (did you mean "${hint}"?)` : `unknown key (known keys: ${known.join(', ')})`);
    }
    return value;
  }

  text(m: Mapping, key: string, at: string): string | null {
    const v = m[key];
    if (v === undefined || v === null || v === '') return null;
    if (typeof v !== 'string') {
      this.add(join(at, key), `expected a string, got ${showValue(v)}`);
      return null;
    }
    return v;
  }

  textList(m: Mapping, key: string, at: string): string[] | null {
    const v = m[key];
    if (v === undefined || v === null) return null;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      this.add(join(at, key), `expected a list of strings, got ${showValue(v)}`);
      return null;
    }
    return v as string[];
  }

  bool(m: Mapping, key: string, at: string, fallback: boolean): boolean {
    const v = m[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.add(join(at, key), `expected true or false, got ${showValue(v)}`);
      return fallback;
    }
    return v;
  }
}

function join(at: string, key: string): string {
  return at ? `${at}.${key}` : key;
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
};

/** Loads and checks `file`; throws ConfigError listing every problem. */
export function loadWebConfig(file: string): WebConfig {
  const source = readYamlFile(file);
  if (source.problems.length > 0) throw new ConfigError(source.problems);
  const problems = new Problems(file);
  const baseDir = path.dirname(path.resolve(file));
  const files = [path.resolve(file)];
  const root = problems.section(source.value, '', TOP_KEYS) ?? {};

  const readPem = (m: Mapping, key: string, at: string): string | null => {
    const name = problems.text(m, key, at);
    if (name === null) return null;
    const full = path.resolve(baseDir, name);
    files.push(full);
    try {
      return readFileSync(full, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      problems.add(join(at, key), `cannot read ${JSON.stringify(full)}: ${READ_ERRORS[code] ?? (err as Error).message}`);
      return null;
    }
  };

  const tls = checkTls(problems, problems.section(root.tls_server_config, 'tls_server_config', TLS_KEYS), readPem);
  const headers = checkHttp(problems, problems.section(root.http_server_config, 'http_server_config', HTTP_KEYS));
  const users = checkUsers(problems, root.basic_auth_users);
  const rateLimit = checkRateLimit(problems, problems.section(root.rate_limit, 'rate_limit', RATE_KEYS));

  if (problems.list.length > 0) throw new ConfigError(problems.list);
  return { file, tls, users, headers, rateLimit, files };
}

function checkTls(
  problems: Problems,
  m: Mapping | null,
  readPem: (m: Mapping, key: string, at: string) => string | null,
): WebTlsSettings | null {
  const at = 'tls_server_config';
  // exporter-toolkit's TLSConfig.IsEnabled: any certificate, key, CA or client auth setting.
  const enabling = ['cert', 'key', 'client_ca', 'cert_file', 'key_file', 'client_ca_file', 'client_auth_type'];
  if (m === null || !enabling.some((k) => m[k] !== undefined && m[k] !== null && m[k] !== '')) {
    if (m !== null && Object.keys(m).some((k) => m[k] !== undefined && m[k] !== null)) {
      problems.add(at, 'TLS options without cert_file and key_file (or inline cert and key)');
    }
    return null;
  }
  const pair = (inline: string, fileKey: string): string | null => {
    const text = problems.text(m, inline, at);
    const fromFile = m[fileKey] !== undefined && m[fileKey] !== null && m[fileKey] !== '';
    if (text !== null && fromFile) {
      problems.add(join(at, inline), `set either ${inline} or ${fileKey}, not both`);
      return null;
    }
    if (text !== null) return text;
    return fromFile ? readPem(m, fileKey, at) : null;
  };
  const cert = pair('cert', 'cert_file');
  const key = pair('key', 'key_file');
  const clientCa = pair('client_ca', 'client_ca_file');
  if (cert === null && !hasAny(m, 'cert', 'cert_file')) problems.add(at, 'missing one of cert or cert_file');
  if (key === null && !hasAny(m, 'key', 'key_file')) problems.add(at, 'missing one of key or key_file');

  let clientAuth: ClientAuthType = 'NoClientCert';
  const authText = problems.text(m, 'client_auth_type', at);
  if (authText !== null) {
    // "RequireClientCert" is exporter-toolkit's old spelling, still accepted there.
    const normalized = authText === 'RequireClientCert' ? 'RequireAnyClientCert' : authText;
    if ((CLIENT_AUTH_TYPES as readonly string[]).includes(normalized)) clientAuth = normalized as ClientAuthType;
    else problems.add(join(at, 'client_auth_type'), `${showValue(authText)} is not one of ${CLIENT_AUTH_TYPES.join(', ')}`);
  }
  if (hasAny(m, 'client_ca', 'client_ca_file') && clientAuth === 'NoClientCert') {
    problems.add(join(at, 'client_auth_type'), 'a client CA is configured but client_auth_type is NoClientCert (use RequireAndVerifyClientCert)');
  }
  const sans = problems.textList(m, 'client_allowed_sans', at);
  if (sans !== null && clientAuth !== 'RequireAnyClientCert' && clientAuth !== 'RequireAndVerifyClientCert') {
    problems.add(
      join(at, 'client_allowed_sans'),
      'needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert (otherwise a client may send no certificate to match)',
    );
  }

  const version = (k: string, fallback: SecureVersion): SecureVersion => {
    const text = problems.text(m, k, at);
    if (text === null) return fallback;
    const v = TLS_VERSIONS[text];
    if (!v) problems.add(join(at, k), `${showValue(text)} is not one of ${Object.keys(TLS_VERSIONS).join(', ')}`);
    return v ?? fallback;
  };
  const minVersion = version('min_version', 'TLSv1.2');
  const maxVersion = version('max_version', 'TLSv1.3');
  if (VERSION_ORDER.indexOf(minVersion) > VERSION_ORDER.indexOf(maxVersion)) {
    problems.add(join(at, 'min_version'), 'is above max_version');
  }

  const suites = problems.textList(m, 'cipher_suites', at);
  const openSslSuites: string[] = [];
  suites?.forEach((name, i) => {
    const mapped = CIPHER_SUITES[name];
    if (mapped) {
      openSslSuites.push(mapped);
    } else {
      const known = Object.keys(CIPHER_SUITES).join(', ');
      problems.add(`${join(at, 'cipher_suites')}[${i}]`, `${showValue(name)} is not a supported cipher suite (one of ${known})`);
    }
  });
  const curves = problems.textList(m, 'curve_preferences', at);
  const openSslCurves: string[] = [];
  curves?.forEach((name, i) => {
    const mapped = CURVES[name];
    if (mapped) openSslCurves.push(mapped);
    else problems.add(`${join(at, 'curve_preferences')}[${i}]`, `${showValue(name)} is not one of ${Object.keys(CURVES).join(', ')}`);
  });
  const honorCipherOrder = problems.bool(m, 'prefer_server_cipher_suites', at, true);

  if (cert === null || key === null) return null;
  const settings: WebTlsSettings = {
    cert,
    key,
    clientCa,
    clientAuth,
    minVersion,
    maxVersion,
    ciphers: openSslSuites.length ? `${TLS13_SUITES}:${openSslSuites.join(':')}` : null,
    honorCipherOrder,
    ecdhCurve: openSslCurves.length ? openSslCurves.join(':') : null,
    clientAllowedSans: sans,
  };
  try {
    // What the server will do on every handshake; a key that does not match the certificate,
    // or a PEM that is not one, fails here instead of at the first scrape.
    createSecureContext(secureContextOptions(settings));
  } catch (err) {
    problems.add(at, `certificate, key or client CA cannot be used: ${opensslReason(err)}`);
  }
  return settings;
}

function hasAny(m: Mapping, ...keys: string[]): boolean {
  return keys.some((k) => m[k] !== undefined && m[k] !== null && m[k] !== '');
}

/** OpenSSL errors read "error:0A00018F:SSL routines::ee key too small"; the reason is the useful part. */
function opensslReason(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const m = /^error:[0-9A-F]+:[^:]*:[^:]*:(.+)$/.exec(message);
  return m ? m[1]! : message;
}

/** Options for tls.createSecureContext / https.createServer / server.setSecureContext. */
export function secureContextOptions(t: WebTlsSettings): {
  cert: string;
  key: string;
  ca?: string;
  minVersion: SecureVersion;
  maxVersion: SecureVersion;
  ciphers?: string;
  honorCipherOrder: boolean;
  ecdhCurve?: string;
} {
  return {
    cert: t.cert,
    key: t.key,
    ...(t.clientCa !== null ? { ca: t.clientCa } : {}),
    minVersion: t.minVersion,
    maxVersion: t.maxVersion,
    ...(t.ciphers !== null ? { ciphers: t.ciphers } : {}),
    honorCipherOrder: t.honorCipherOrder,
    ...(t.ecdhCurve !== null ? { ecdhCurve: t.ecdhCurve } : {}),
  };
}

function checkHttp(problems: Problems, m: Mapping | null): Record<string, string> {
  const at = 'http_server_config';
  if (m === null) return {};
  // Accepted for compatibility: node:https serves HTTP/1.1 only, which every Prometheus speaks.
  problems.bool(m, 'http2', at, true);
  const headers = problems.section(m.headers, join(at, 'headers'), Object.keys(EXTRA_HEADERS));
  const out: Record<string, string> = {};
  if (headers === null) return out;
  for (const [name, value] of Object.entries(headers)) {
    const allowed = EXTRA_HEADERS[name];
    if (!allowed) continue; // reported as an unknown key by section()
    if (value === null || value === undefined || value === '') continue; // "Unset if blank"
    if (typeof value !== 'string') {
      problems.add(`${at}.headers.${name}`, `expected a string, got ${showValue(value)}`);
    } else if (allowed.length > 0 && !allowed.includes(value)) {
      problems.add(`${at}.headers.${name}`, `${showValue(value)} is not one of ${allowed.join(', ')}`);
    } else {
      out[name] = value;
    }
  }
  return out;
}

function checkUsers(problems: Problems, value: unknown): Map<string, string> {
  const at = 'basic_auth_users';
  const users = new Map<string, string>();
  if (value === undefined || value === null) return users;
  if (!isMapping(value)) {
    problems.add(at, `expected a mapping of user names to bcrypt hashes, got ${showValue(value)}`);
    return users;
  }
  for (const [user, hash] of Object.entries(value)) {
    const where = `${at}.${user}`;
    if (user === '' || user.includes(':')) {
      // RFC 7617 §2: the user-id ends at the first colon, so such a user could never log in.
      problems.add(where, 'a user name must be non-empty and cannot contain ":"');
    } else if (typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) {
      const what = typeof hash === 'string' ? 'is not a bcrypt hash' : `expected a bcrypt hash, got ${showValue(hash)}`;
      problems.add(where, `${what} (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`);
    } else {
      const cost = Number(BCRYPT_HASH.exec(hash)![1]);
      if (cost < 4 || cost > 31) problems.add(where, `bcrypt cost ${cost} is outside 4..31`);
      else users.set(user, hash);
    }
  }
  return users;
}

function checkRateLimit(problems: Problems, m: Mapping | null): { intervalS: number; burst: number } | null {
  const at = 'rate_limit';
  if (m === null) return null;
  let intervalS = 0;
  if (m.interval !== undefined && m.interval !== null) {
    const parsed = typeof m.interval === 'string' ? parseGoDuration(m.interval) : m.interval === 0 ? 0 : null;
    if (parsed === null) problems.add(`${at}.interval`, `${showValue(m.interval)} is not a duration such as "1s" or "500ms"`);
    else intervalS = parsed;
  }
  let burst = 0;
  if (m.burst !== undefined && m.burst !== null) {
    if (typeof m.burst === 'number' && Number.isInteger(m.burst) && m.burst >= 0) burst = m.burst;
    else problems.add(`${at}.burst`, `expected a non-negative integer, got ${showValue(m.burst)}`);
  }
  if (intervalS === 0) return null; // "set to 0 to disable rate limiter"
  if (burst < 1) {
    problems.add(`${at}.burst`, 'must be at least 1 when interval is set (a bucket of 0 refuses every request)');
    return null;
  }
  return { intervalS, burst };
}

const GO_DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Go's time.ParseDuration format ("1s", "1m30s", "250ms", "0"), in seconds; null when malformed. */
export function parseGoDuration(text: string): number | null {
  const t = text.trim();
  if (t === '0') return 0;
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(t)) return null;
  let seconds = 0;
  for (const [, amount, unit] of t.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) seconds += Number(amount) * GO_DURATION_UNITS[unit!]!;
  return seconds;
}
