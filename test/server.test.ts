/**
 * The HTTP endpoints over real loopback sockets: routes and status codes, the exporter-toolkit
 * web config (validation messages, bcrypt basic auth, TLS with certificates made by openssl,
 * client certificates, headers, rate limit, reload on change).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { hashSync } from 'bcryptjs';
import { Counter, Registry } from 'prom-client';
import { ConfigError } from '../src/config/schema';
import { HttpListenError, startHttpServer, type HttpServer, type HttpServerOptions } from '../src/server/http-server';
import { loadWebConfig, parseGoDuration } from '../src/server/web-config';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
}

function request(url: string, o: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const headers: Record<string, string> = { ...o.headers };
  if (o.user !== undefined) headers.Authorization = `Basic ${Buffer.from(`${o.user}:${o.password ?? ''}`).toString('base64')}`;
  const options: https.RequestOptions = {
    method: o.method ?? 'GET',
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port,
    path: u.pathname + u.search,
    headers,
    agent: false,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert ? { cert: o.cert, key: o.key } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'geowarden-server-'));
}

function baseOptions(over: Partial<HttpServerOptions> = {}): HttpServerOptions {
  return { listen: '127.0.0.1:0', webConfigFile: null, registry: new Registry(), ready: () => ({ ok: true, reason: '' }), devices: () => [], ...over };
}

/** A self-signed certificate for 127.0.0.1, made by openssl (an independent issuer). */
function selfSigned(dir: string, name: string, cn = '127.0.0.1', san = 'IP:127.0.0.1'): { cert: string; key: string; certFile: string; keyFile: string } {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

describe('HTTP endpoints', () => {
  let server: HttpServer;
  let ready = { ok: false, reason: 'capture not open' };
  const registry = new Registry();
  const posted: string[] = [];

  before(async () => {
    const c = new Counter({ name: 'test_requests_total', help: 'A counter for the endpoint test.', labelNames: ['path'], registers: [registry] });
    for (let i = 0; i < 200; i++) c.inc({ path: `/p${i}` }); // enough text to be worth compressing
    server = await startHttpServer(
      baseOptions({
        registry,
        ready: () => ready,
        devices: () => [{ ip: '192.168.1.40', hostname: 'redmi-note' }],
        routes: [
          {
            method: 'POST',
            path: '/api/v1/echo',
            handler: async (_req, body) => {
              posted.push(body);
              return { status: 201, json: { received: body.length } };
            },
          },
          {
            method: 'GET',
            path: '/api/v1/broken',
            handler: async () => {
              throw new Error('handler failed');
            },
          },
        ],
      }),
    );
  });
  after(() => server.close());

  it('answers /healthz with 200 ok, also to HEAD', async () => {
    const r = await request(`${server.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok\n');
    const head = await request(`${server.url}/healthz`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
  });

  it('answers /readyz with 503 and the reason until ready, then 200', async () => {
    const before = await request(`${server.url}/readyz`);
    assert.equal(before.status, 503);
    assert.equal(before.text, 'not ready: capture not open\n');
    ready = { ok: true, reason: '' };
    const after = await request(`${server.url}/readyz`);
    assert.equal(after.status, 200);
    assert.equal(after.text, 'ok\n');
  });

  it('serves /metrics in the Prometheus text format, gzipped when asked', async () => {
    const plain = await request(`${server.url}/metrics?ignored=1`);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(plain.text, /^# HELP test_requests_total A counter for the endpoint test\.$/m);
    assert.match(plain.text, /^test_requests_total\{path="\/p7"\} 1$/m);
    const zipped = await request(`${server.url}/metrics`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(zipped.body).toString('utf8'), plain.text);
  });

  it('serves the devices as JSON', async () => {
    const r = await request(`${server.url}/api/v1/devices`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(r.text), { devices: [{ ip: '192.168.1.40', hostname: 'redmi-note' }] });
  });

  it('answers unknown paths with 404 JSON and wrong methods with 405 and Allow', async () => {
    const missing = await request(`${server.url}/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(missing.text), { error: 'not found', path: '/nope' });
    const wrong = await request(`${server.url}/metrics`, { method: 'POST', body: 'x' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET, HEAD');
    assert.equal(JSON.parse(wrong.text).error, 'method not allowed');
    const wrongRoute = await request(`${server.url}/api/v1/echo`);
    assert.equal(wrongRoute.status, 405);
    assert.equal(wrongRoute.headers.allow, 'POST');
  });

  it('passes POST bodies to added routes, refuses oversized ones, and turns a throwing handler into 500', async () => {
    const ok = await request(`${server.url}/api/v1/echo`, { method: 'POST', body: '{"a":1}', headers: { 'Content-Type': 'application/json' } });
    assert.equal(ok.status, 201);
    assert.deepEqual(JSON.parse(ok.text), { received: 7 });
    assert.deepEqual(posted, ['{"a":1}']);
    const big = await request(`${server.url}/api/v1/echo`, { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1, 0x61) });
    assert.equal(big.status, 413);
    const broken = await request(`${server.url}/api/v1/broken`);
    assert.equal(broken.status, 500);
    assert.deepEqual(JSON.parse(broken.text), { error: 'internal error' });
  });
});

describe('HTTP listening', () => {
  it('refuses a malformed listen address and a port in use with one line', async () => {
    await assert.rejects(startHttpServer(baseOptions({ listen: '127.0.0.1' })), (err: Error) => err instanceof HttpListenError && /is not host:port/.test(err.message));
    const first = await startHttpServer(baseOptions());
    try {
      await assert.rejects(startHttpServer(baseOptions({ listen: `127.0.0.1:${first.port}` })), (err: unknown) => {
        assert.ok(err instanceof HttpListenError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.equal(err.message, `cannot listen on 127.0.0.1:${first.port}: address already in use (another geowarden or exporter on this port?)`);
        return true;
      });
    } finally {
      await first.close();
    }
  });

  it('listens on every address for ":PORT" and on [::1] when the machine has IPv6 loopback', async (t) => {
    const all = await startHttpServer(baseOptions({ listen: ':0' }));
    try {
      assert.ok(['::', '0.0.0.0'].includes(all.address), all.address);
      assert.equal((await request(`http://127.0.0.1:${all.port}/healthz`)).status, 200);
    } finally {
      await all.close();
    }
    const v6 = await startHttpServer(baseOptions({ listen: '[::1]:0' })).catch((err: Error) => err);
    if (v6 instanceof Error) return t.skip(`no IPv6 loopback here: ${v6.message}`);
    try {
      assert.equal(v6.url, `http://[::1]:${v6.port}`);
      assert.equal((await request(`${v6.url}/healthz`)).status, 200);
    } finally {
      await v6.close();
    }
  });

  it('closes promptly while a client holds a keep-alive connection', async () => {
    const server = await startHttpServer(baseOptions());
    const socket = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000);
    socket.destroy();
  });
});

describe('web config file', () => {
  let dir: string;
  before(() => (dir = tempDir()));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function problemsOf(yaml: string): string[] {
    const file = path.join(dir, 'web.yml');
    writeFileSync(file, yaml);
    try {
      loadWebConfig(file);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message.split('\n').map((line) => line.replace(`${file}: `, ''));
    }
    return [];
  }

  it('accepts an empty file and the documented example', () => {
    assert.deepEqual(problemsOf(''), []);
    const { certFile, keyFile } = selfSigned(dir, 'ok');
    const hash = hashSync('secret', 4);
    assert.deepEqual(
      problemsOf(
        [
          'tls_server_config:',
          `  cert_file: ${path.basename(certFile)}`, // relative to the web config file
          `  key_file: ${keyFile}`,
          '  min_version: TLS12',
          '  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]',
          '  curve_preferences: [X25519, CurveP256]',
          'http_server_config:',
          '  http2: false',
          '  headers:',
          '    X-Frame-Options: deny',
          '    Content-Security-Policy: ""',
          'basic_auth_users:',
          `  alice: ${hash}`,
          `  bob: ${hash.replace(/^\$2b\$/, '$2y$')}`,
          'rate_limit:',
          '  interval: 500ms',
          '  burst: 20',
        ].join('\n'),
      ),
      [],
    );
  });

  it('reports every problem on its own line with the key path', () => {
    const problems = problemsOf(
      [
        'tls_server_config:',
        '  cert_file: /nonexistent/server.crt',
        '  min_version: TLS14',
        '  client_ca_file: /nonexistent/ca.crt',
        'http_server_config:',
        '  headers:',
        '    X-Frame-Options: allow',
        '    Server: geowarden',
        'basic_auth_users:',
        '  alice: hunter2',
        '  "bo:b": $2b$04$abcdefghijklmnopqrstuuJdU3oQ2G9Q4sZ9cPpW9N3Gz9w7Q1x9a',
        'rate_limit:',
        '  interval: 1 second',
        '  burst: 0',
        'basic_auth_user: {}',
      ].join('\n'),
    );
    assert.deepEqual(problems, [
      'basic_auth_user: unknown key (did you mean "basic_auth_users"?)',
      'tls_server_config.cert_file: cannot read "/nonexistent/server.crt": no such file',
      'tls_server_config.client_ca_file: cannot read "/nonexistent/ca.crt": no such file',
      'tls_server_config: missing one of key or key_file',
      'tls_server_config.client_auth_type: a client CA is configured but client_auth_type is NoClientCert (use RequireAndVerifyClientCert)',
      'tls_server_config.min_version: "TLS14" is not one of TLS10, TLS11, TLS12, TLS13',
      'http_server_config.headers.Server: unknown key (known keys: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy)',
      'http_server_config.headers.X-Frame-Options: "allow" is not one of deny, sameorigin',
      `basic_auth_users.alice: is not a bcrypt hash (make one with: htpasswd -nBC 10 "" | tr -d ':\\n')`,
      'basic_auth_users.bo:b: a user name must be non-empty and cannot contain ":"',
      'rate_limit.interval: "1 second" is not a duration such as "1s" or "500ms"',
    ]);
  });

  it('checks TLS consistency: key matches certificate, versions in order, SANs need a required client certificate', () => {
    const a = selfSigned(dir, 'a');
    const b = selfSigned(dir, 'b');
    const mismatch = problemsOf(`tls_server_config:\n  cert_file: ${a.certFile}\n  key_file: ${b.keyFile}\n`);
    assert.equal(mismatch.length, 1);
    assert.match(mismatch[0]!, /^tls_server_config: certificate, key or client CA cannot be used: .*key values mismatch/);
    assert.deepEqual(problemsOf(`tls_server_config:\n  cert_file: ${a.certFile}\n  key_file: ${a.keyFile}\n  min_version: TLS13\n  max_version: TLS12\n  client_allowed_sans: [x]\n`), [
      'tls_server_config.client_allowed_sans: needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert (otherwise a client may send no certificate to match)',
      'tls_server_config.min_version: is above max_version',
    ]);
    assert.deepEqual(problemsOf(`tls_server_config:\n  cert: x\n  cert_file: ${a.certFile}\n  key_file: ${a.keyFile}\n  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`), [
      'tls_server_config.cert: set either cert or cert_file, not both',
      'tls_server_config.cipher_suites[0]: "TLS_RSA_WITH_RC4_128_SHA" is not a supported cipher suite (one of TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA)',
    ]);
    assert.deepEqual(problemsOf('tls_server_config:\n  min_version: TLS13\n'), ['tls_server_config: TLS options without cert_file and key_file (or inline cert and key)']);
  });

  it('reports YAML syntax errors and unreadable files with the file name', () => {
    assert.match(problemsOf('basic_auth_users: [\n')[0]!, /^line \d+, column \d+: /);
    assert.throws(() => loadWebConfig(path.join(dir, 'missing.yml')), /missing\.yml: cannot read the file: no such file/);
  });

  it('parses Go durations as exporter-toolkit does', () => {
    assert.equal(parseGoDuration('1s'), 1);
    assert.equal(parseGoDuration('1m30s'), 90);
    assert.equal(parseGoDuration('250ms'), 0.25);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('1d'), null);
    assert.equal(parseGoDuration('-1s'), null);
  });

  it('stops startHttpServer with the same problems', async () => {
    const file = path.join(dir, 'bad.yml');
    writeFileSync(file, 'basic_auth_users:\n  alice: plain\n');
    await assert.rejects(startHttpServer(baseOptions({ webConfigFile: file })), (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${file}: basic_auth_users.alice: is not a bcrypt hash`));
  });
});

describe('basic auth, headers and rate limit', () => {
  let dir: string;
  let server: HttpServer;
  let file: string;
  const logged: string[] = [];

  before(async () => {
    dir = tempDir();
    file = path.join(dir, 'web.yml');
    writeFileSync(
      file,
      [
        'basic_auth_users:',
        `  prometheus: ${hashSync('scrape-secret', 10)}`,
        // htpasswd -B writes $2y$; the algorithm is the same as $2b$.
        `  grafana: ${hashSync('dash', 4).replace(/^\$2b\$/, '$2y$')}`,
        'http_server_config:',
        '  headers:',
        '    X-Content-Type-Options: nosniff',
      ].join('\n'),
    );
    server = await startHttpServer(baseOptions({ webConfigFile: file, log: (m) => logged.push(m) }));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a configured user in and adds the configured headers', async () => {
    const r = await request(`${server.url}/metrics`, { user: 'prometheus', password: 'scrape-secret' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal((await request(`${server.url}/healthz`, { user: 'grafana', password: 'dash' })).status, 200, '$2y$ hash');
  });

  it('answers 401 with WWW-Authenticate for a wrong password, an unknown user or no credentials, on every path', async () => {
    for (const creds of [{ user: 'prometheus', password: 'wrong' }, { user: 'mallory', password: 'scrape-secret' }, {}, { headers: { Authorization: 'Bearer abc' } }]) {
      for (const p of ['/metrics', '/healthz', '/nope']) {
        const r = await request(`${server.url}${p}`, creds);
        assert.equal(r.status, 401, `${p} ${JSON.stringify(creds)}`);
        assert.equal(r.headers['www-authenticate'], 'Basic realm="geowarden", charset="UTF-8"');
      }
    }
  });

  it('remembers a verified password instead of running bcrypt on every scrape', async () => {
    const t0 = process.hrtime.bigint();
    assert.equal((await request(`${server.url}/healthz`, { user: 'prometheus', password: 'fresh-wrong-1' })).status, 401);
    const uncached = Number(process.hrtime.bigint() - t0) / 1e6;
    const t1 = process.hrtime.bigint();
    for (let i = 0; i < 5; i++) assert.equal((await request(`${server.url}/healthz`, { user: 'prometheus', password: 'scrape-secret' })).status, 200);
    const cached = Number(process.hrtime.bigint() - t1) / 1e6 / 5;
    // Cost 10 takes tens of milliseconds in bcryptjs; a cached check is a hash lookup.
    assert.ok(cached * 4 < uncached, `cached ${cached.toFixed(1)} ms vs bcrypt ${uncached.toFixed(1)} ms`);
  });

  it('picks up a changed file, fails closed while it is invalid, and recovers', async () => {
    const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
    writeFileSync(file, `basic_auth_users:\n  carol: ${hashSync('new', 4)}\nrate_limit:\n  interval: 1h\n  burst: 2\n`);
    await wait(1100);
    assert.equal((await request(`${server.url}/healthz`, { user: 'carol', password: 'new' })).status, 200);
    assert.equal((await request(`${server.url}/healthz`, { user: 'prometheus', password: 'scrape-secret' })).status, 401, 'removed user');
    assert.equal((await request(`${server.url}/healthz`, { user: 'carol', password: 'new' })).status, 429, 'burst of 2 used up');

    writeFileSync(file, 'basic_auth_users:\n  carol: not-a-hash\n');
    await wait(1100);
    const broken = await request(`${server.url}/healthz`, { user: 'carol', password: 'new' });
    assert.equal(broken.status, 500);
    assert.ok(logged.some((m) => m.includes('basic_auth_users.carol: is not a bcrypt hash')), logged.join('\n'));

    writeFileSync(file, `basic_auth_users:\n  carol: ${hashSync('new', 4)}\n`);
    await wait(1100);
    assert.equal((await request(`${server.url}/healthz`, { user: 'carol', password: 'new' })).status, 200);
  });
});

describe('TLS', () => {
  let dir: string;
  before(() => (dir = tempDir()));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves HTTPS with the configured certificate and combines it with basic auth', async () => {
    const srv = selfSigned(dir, 'server');
    const file = path.join(dir, 'tls.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  alice: ${hashSync('pw', 4)}\n`);
    const server = await startHttpServer(baseOptions({ webConfigFile: file }));
    try {
      assert.equal(server.url, `https://127.0.0.1:${server.port}`);
      const r = await request(`${server.url}/healthz`, { ca: srv.cert, user: 'alice', password: 'pw' });
      assert.equal(r.status, 200);
      assert.equal((await request(`${server.url}/healthz`, { ca: srv.cert })).status, 401);
      await assert.rejects(request(`${server.url}/healthz`), /self[- ]signed/i, 'a client that does not trust the certificate refuses it');
      await assert.rejects(request(`http://127.0.0.1:${server.port}/healthz`), 'plain HTTP is not served');
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: srv.cert }, () => {
          resolve(socket.getProtocol());
          socket.end();
        });
        socket.on('error', reject);
      });
      assert.equal(protocol, 'TLSv1.3');
    } finally {
      await server.close();
    }
  });

  it('uses a renewed certificate without a restart', async () => {
    const first = selfSigned(dir, 'rotating');
    const file = path.join(dir, 'rotate.yml');
    writeFileSync(file, `tls_server_config:\n  cert_file: rotating.crt\n  key_file: rotating.key\n`);
    const server = await startHttpServer(baseOptions({ webConfigFile: file }));
    try {
      assert.equal((await request(`${server.url}/healthz`, { ca: first.cert })).status, 200);
      const renewed = selfSigned(dir, 'rotating'); // same file names, new key and certificate
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await request(`${server.url}/healthz`, { ca: renewed.cert })).status, 200, 'the first handshake after renewal');
      await assert.rejects(request(`${server.url}/healthz`, { ca: first.cert }), 'the old certificate is gone');
    } finally {
      await server.close();
    }
  });

  it('requires and verifies a client certificate with RequireAndVerifyClientCert, and checks allowed SANs', async () => {
    const srv = selfSigned(dir, 'server2');
    const good = selfSigned(dir, 'client-good', 'prometheus', 'DNS:prometheus.example');
    const other = selfSigned(dir, 'client-other', 'someone', 'DNS:someone.example');
    const file = path.join(dir, 'mtls.yml');
    // Both client certificates are trusted CAs; only one carries the allowed SAN.
    writeFileSync(path.join(dir, 'clients.pem'), good.cert + other.cert);
    writeFileSync(
      file,
      [
        'tls_server_config:',
        `  cert_file: ${srv.certFile}`,
        `  key_file: ${srv.keyFile}`,
        '  client_auth_type: RequireAndVerifyClientCert',
        '  client_ca_file: clients.pem',
        '  client_allowed_sans: [prometheus.example]',
      ].join('\n'),
    );
    const server = await startHttpServer(baseOptions({ webConfigFile: file }));
    try {
      const ok = await request(`${server.url}/healthz`, { ca: srv.cert, cert: good.cert, key: good.key });
      assert.equal(ok.status, 200);
      await assert.rejects(request(`${server.url}/healthz`, { ca: srv.cert }), 'no client certificate');
      await assert.rejects(request(`${server.url}/healthz`, { ca: srv.cert, cert: other.cert, key: other.key }), 'certificate without an allowed SAN');
      const stranger = selfSigned(dir, 'client-stranger', 'prometheus', 'DNS:prometheus.example');
      await assert.rejects(request(`${server.url}/healthz`, { ca: srv.cert, cert: stranger.cert, key: stranger.key }), 'certificate from an untrusted issuer');
    } finally {
      await server.close();
    }
  });
});
