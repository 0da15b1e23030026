/**
 * The daemon's HTTP endpoints on node:http / node:https, no framework: /metrics, /healthz,
 * /readyz, /api/v1/devices, plus routes other stages add. TLS, basic auth, extra headers and
 * the rate limit come from an exporter-toolkit web config file and, as there, apply to every
 * path, /healthz included (a health check behind basic auth must send credentials).
 */
import { statSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Registry } from 'prom-client';
import { parseListenAddress } from '../config/schema';
import { BasicAuthenticator } from './basic-auth';
import { TokenBucket } from './token-bucket';
import { loadWebConfig, secureContextOptions, type WebConfig, type WebTlsSettings } from './web-config';

export interface HttpRoute {
  method: 'GET' | 'POST';
  path: string;
  handler: (req: http.IncomingMessage, body: string) => Promise<{ status: number; json: unknown }>;
}

export interface HttpServerOptions {
  /** "127.0.0.1:9847", "[::1]:9847", ":9847" (every address); port 0 picks a free one. */
  listen: string;
  webConfigFile: string | null;
  registry: Registry;
  ready: () => { ok: boolean; reason: string };
  devices: () => unknown[];
  routes?: HttpRoute[];
  /** For what no response can tell: a changed web config that cannot be applied, a failing handler. */
  log?: (message: string) => void;
}

export interface HttpServer {
  /** The bound address ("127.0.0.1", "::") and port. */
  address: string;
  port: number;
  /** Base URL, e.g. https://127.0.0.1:9847 */
  url: string;
  close(): Promise<void>;
}

/** Listening failed: address in use, not local, privileged port. `code` is the errno name, when there is one. */
export class HttpListenError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpListenError';
  }
}

const MAX_BODY_BYTES = 1024 * 1024;
/** The web config and its TLS files are looked at no more often than this. */
const WEB_CONFIG_CHECK_MS = 1000;
/** Below this a gzip header costs more than it saves. */
const GZIP_MIN_BYTES = 1024;

const gzipAsync = promisify(gzip);

interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

type Handler = (req: http.IncomingMessage, body: string) => Promise<Reply>;

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const listen = parseListenAddress(opts.listen.trim());
  if (!listen) {
    throw new HttpListenError(`listen address ${JSON.stringify(opts.listen)} is not host:port (use 127.0.0.1:9847, [::1]:9847 or :9847)`);
  }
  const log = opts.log ?? (() => {});
  const web = new WebSettings(opts.webConfigFile, log);
  const routes = buildRoutes(opts);
  const tls = web.config?.tls ?? null;

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    serve(req, res, web, routes, log).catch((err: unknown) => {
      log(`http: ${req.method} ${req.url}: ${(err as Error).message}`);
      if (!res.headersSent) send(res, jsonReply(500, { error: 'internal error' }));
      else res.destroy();
    });
  };
  const server = tls
    ? https.createServer(
        {
          ...secureContextOptions(tls),
          requestCert: tls.clientAuth !== 'NoClientCert',
          // Node drops an unverified client only with rejectUnauthorized; RequireAnyClientCert,
          // VerifyClientCertIfGiven and client_allowed_sans are enforced on secureConnection below.
          rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
        },
        onRequest,
      )
    : http.createServer(onRequest);
  if (tls) server.on('secureConnection', (socket: TLSSocket) => enforceClientCertificate(socket, web.config?.tls ?? tls));
  // Ahead of the listener that wraps the socket in TLS, so a renewed certificate is already used
  // for the handshake of the connection that notices it (as exporter-toolkit's GetConfigForClient).
  server.prependListener('connection', () => web.refresh());
  web.onTlsChange = (t) => (server as https.Server).setSecureContext(secureContextOptions(t));
  // Bounded waits for slow or stalled clients.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(new HttpListenError(`cannot listen on ${opts.listen}: ${listenReason(err)}`, err.code));
    server.once('error', onError);
    server.listen({ host: listen.host ?? undefined, port: listen.port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log(`http: ${err.message}`));

  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new HttpListenError(`cannot listen on ${opts.listen}: no TCP address`);
  const host = bound.family === 'IPv6' || bound.address.includes(':') ? `[${bound.address}]` : bound.address;
  let closing: Promise<void> | null = null;
  return {
    address: bound.address,
    port: bound.port,
    url: `${tls ? 'https' : 'http'}://${host}:${bound.port}`,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Prometheus keeps its scrape connection alive; close() alone would wait for it.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function serve(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  web: WebSettings,
  routes: Map<string, Map<string, Handler>>,
  log: (m: string) => void,
): Promise<void> {
  web.refresh();
  if (web.error !== null) {
    // As exporter-toolkit: a web config that cannot be used fails closed, it is not ignored.
    return send(res, textReply(500, 'Internal Server Error: the web config file is invalid; see the log\n'));
  }
  for (const [name, value] of Object.entries(web.config?.headers ?? {})) res.setHeader(name, value);
  if (web.bucket && !web.bucket.take()) return send(res, textReply(429, 'Too Many Requests\n'));
  if (web.auth?.enabled && !(await web.auth.verify(req.headers.authorization))) {
    return send(res, { ...textReply(401, 'Unauthorized\n'), headers: { 'WWW-Authenticate': 'Basic realm="geowarden", charset="UTF-8"' } });
  }

  const path = (req.url ?? '/').split('?')[0]!;
  const byMethod = routes.get(path);
  if (!byMethod) return send(res, jsonReply(404, { error: 'not found', path }));
  const method = req.method === 'HEAD' && byMethod.has('GET') ? 'GET' : (req.method ?? '');
  const handler = byMethod.get(method);
  if (!handler) {
    const allow = [...byMethod.keys(), ...(byMethod.has('GET') ? ['HEAD'] : [])].join(', ');
    return send(res, { ...jsonReply(405, { error: 'method not allowed', allow }), headers: { Allow: allow } });
  }
  let body = '';
  if (method === 'POST') {
    const text = await readBody(req);
    if (text === null) return send(res, jsonReply(413, { error: `request body over ${MAX_BODY_BYTES} bytes` }));
    body = text;
  } else {
    req.resume(); // a GET body is ignored, but must be drained for keep-alive
  }
  let reply: Reply;
  try {
    reply = await handler(req, body);
  } catch (err) {
    log(`http: ${method} ${path}: ${(err as Error).message}`);
    reply = jsonReply(500, { error: 'internal error' });
  }
  if (reply.body.length >= GZIP_MIN_BYTES && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
    const zipped = await gzipAsync(reply.body);
    res.writeHead(reply.status, {
      ...reply.headers,
      'Content-Type': reply.contentType,
      'Content-Encoding': 'gzip',
      'Content-Length': zipped.length,
      Vary: 'Accept-Encoding',
    });
    res.end(zipped);
    return;
  }
  send(res, reply);
}

function buildRoutes(opts: HttpServerOptions): Map<string, Map<string, Handler>> {
  const routes = new Map<string, Map<string, Handler>>();
  const add = (method: string, path: string, handler: Handler): void => {
    let byMethod = routes.get(path);
    if (!byMethod) routes.set(path, (byMethod = new Map()));
    if (byMethod.has(method)) throw new Error(`route ${method} ${path} is defined twice`);
    byMethod.set(method, handler);
  };
  add('GET', '/metrics', async () => ({ status: 200, contentType: opts.registry.contentType, body: await opts.registry.metrics() }));
  add('GET', '/healthz', async () => textReply(200, 'ok\n'));
  add('GET', '/readyz', async () => {
    const r = opts.ready();
    return r.ok ? textReply(200, 'ok\n') : textReply(503, `not ready: ${r.reason}\n`);
  });
  add('GET', '/api/v1/devices', async () => jsonReply(200, { devices: opts.devices() }));
  for (const route of opts.routes ?? []) {
    add(route.method, route.path, async (req, body) => {
      const r = await route.handler(req, body);
      return jsonReply(r.status, r.json);
    });
  }
  return routes;
}

function textReply(status: number, body: string): Reply {
  return { status, contentType: 'text/plain; charset=utf-8', body };
}

function jsonReply(status: number, json: unknown): Reply {
  return { status, contentType: 'application/json; charset=utf-8', body: `${JSON.stringify(json)}\n`, headers: { 'Cache-Control': 'no-store' } };
}

function send(res: http.ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { ...reply.headers, 'Content-Type': reply.contentType, 'Content-Length': Buffer.byteLength(reply.body) });
  res.end(reply.body);
}

/** The body as text, or null when it exceeds MAX_BODY_BYTES. */
function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve(null);
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function listenReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'address already in use (another geowarden or exporter on this port?)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
    case 'EADDRNOTAVAIL':
      return 'no such address on this machine';
    case 'ENOTFOUND':
      return 'host name does not resolve';
    default:
      return err.message;
  }
}

/**
 * The client_auth_type policies Node's requestCert/rejectUnauthorized pair cannot express, and
 * client_allowed_sans. The handshake has completed; dropping the connection refuses the client.
 */
function enforceClientCertificate(socket: TLSSocket, tls: WebTlsSettings): void {
  const cert = socket.getPeerCertificate();
  const present = cert !== null && Object.keys(cert).length > 0;
  let refuse = false;
  if (tls.clientAuth === 'RequireAnyClientCert' && !present) refuse = true;
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && present && !socket.authorized) refuse = true;
  if (tls.clientAllowedSans !== null) refuse ||= !present || !sanMatches(cert.subjectaltname ?? '', tls.clientAllowedSans);
  if (refuse) socket.destroy();
}

/** Node renders SANs as "DNS:a.example, IP Address:10.0.0.1, email:x@y, URI:spiffe://..". */
function sanMatches(subjectAltName: string, allowed: readonly string[]): boolean {
  for (const entry of subjectAltName.split(', ')) {
    const value = entry.slice(entry.indexOf(':') + 1);
    if (allowed.includes(value)) return true;
  }
  return false;
}

/**
 * The web config in force. exporter-toolkit rereads the file on every request, so a renewed
 * certificate or a new user needs no restart; here the file and the TLS files it names are
 * checked (mtime, size) at most once a second and reloaded when they change. A change that the
 * running server cannot take (TLS on/off, client_auth_type) or a file that no longer validates
 * makes every request fail with 500 until fixed, rather than silently keeping the old settings.
 */
class WebSettings {
  config: WebConfig | null;
  auth: BasicAuthenticator | null;
  bucket: TokenBucket | null;
  error: string | null = null;
  onTlsChange: ((tls: WebTlsSettings) => void) | null = null;
  private signature: string;
  private checkedAtMs = Date.now();

  constructor(
    private readonly file: string | null,
    private readonly log: (message: string) => void,
  ) {
    // Startup: an invalid file is the caller's error to report (ConfigError), not a 500.
    this.config = file === null ? null : loadWebConfig(file);
    this.signature = this.config ? fileSignature(this.config.files) : '';
    this.auth = this.config ? new BasicAuthenticator(this.config.users) : null;
    this.bucket = makeBucket(this.config);
  }

  refresh(): void {
    if (this.file === null) return;
    const now = Date.now();
    if (now - this.checkedAtMs < WEB_CONFIG_CHECK_MS) return;
    this.checkedAtMs = now;
    const files = this.config?.files ?? [this.file];
    const signature = fileSignature(files);
    // While in error, retry every check: the fix may be a file the broken config names but we don't watch yet.
    if (signature === this.signature && this.error === null) return;
    this.signature = signature;
    let next: WebConfig;
    try {
      next = loadWebConfig(this.file);
    } catch (err) {
      this.fail(`web config not reloaded, requests fail until it is fixed: ${(err as Error).message.replace(/\n/g, '; ')}`);
      return;
    }
    // Files the new config names are watched from now on.
    this.signature = fileSignature(next.files);
    const before = this.config?.tls ?? null;
    if ((before === null) !== (next.tls === null) || (before && next.tls && before.clientAuth !== next.tls.clientAuth)) {
      this.fail(`${this.file}: turning TLS on or off or changing client_auth_type needs a restart of geowarden`);
      return;
    }
    if (next.tls) {
      try {
        this.onTlsChange?.(next.tls);
      } catch (err) {
        this.fail(`${this.file}: tls_server_config: cannot be applied: ${(err as Error).message}`);
        return;
      }
    }
    this.config = next;
    this.auth = new BasicAuthenticator(next.users);
    this.bucket = makeBucket(next);
    if (this.error !== null) this.log(`${this.file}: web config reloaded, serving again`);
    this.error = null;
  }

  private fail(message: string): void {
    if (message !== this.error) this.log(message);
    this.error = message;
  }
}

function makeBucket(config: WebConfig | null): TokenBucket | null {
  return config?.rateLimit ? new TokenBucket(config.rateLimit.intervalS * 1000, config.rateLimit.burst) : null;
}

function fileSignature(files: readonly string[]): string {
  return files
    .map((f) => {
      try {
        const st = statSync(f);
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}
