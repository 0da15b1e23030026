/**
 * GeoipUpdater against a real HTTP server on 127.0.0.1 that serves fixture databases the way the
 * providers do: DB-IP's monthly .mmdb.gz, MaxMind's tar.gz behind basic auth (archived with the
 * system's GNU tar, an independent writer for the tar reader), IPinfo's plain .mmdb behind a
 * token. Every failure must leave the file in use untouched.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ConfigError, loadConfig } from '../src/config/load';
import type { GeoipSourceConfig, GeoipUpdateConfig } from '../src/config/types';
import { GeoResolver, type GeoRole } from '../src/geo/geo-resolver';
import { MmdbWriter, type MmdbValue } from '../src/geo/mmdb-writer';
import { GeoipUpdater, type GeoipUpdaterOptions } from '../src/geo/updater/geoip-updater';
import { listTarMembers } from '../src/geo/updater/unpack';
import { FIXTURE_GEO, type FixtureGeoEntry } from './support/fixture-geo';

/** The updater's idea of "now"; fixture build dates are relative to it. */
const NOW = new Date('2026-11-25T12:00:00Z');
const DAY = 86_400;
const NOW_S = NOW.getTime() / 1000;
/** Addresses inside the fixture's documentation ranges, standing in for 8.8.8.8 and friends. */
const PROBES = ['198.51.100.1', '203.0.113.1', '192.0.2.1', '2001:db8:de::1'];

type Layout = 'dbip-country' | 'geolite2-country' | 'asn' | 'ipinfo';

function record(layout: Layout, e: FixtureGeoEntry): MmdbValue {
  switch (layout) {
    case 'dbip-country':
      return { country_code: e.country! };
    case 'geolite2-country':
      return { country: { iso_code: e.country! }, registered_country: { iso_code: e.registeredCountry! } };
    case 'asn':
      return { autonomous_system_number: e.asn!, autonomous_system_organization: e.asOrg! };
    case 'ipinfo':
      return { country_code: e.country!, asn: `AS${e.asn}`, as_name: e.asOrg! };
  }
}

const DATABASE_TYPES: Record<Layout, string> = {
  'dbip-country': 'DBIP-Country-Lite',
  'geolite2-country': 'GeoLite2-Country',
  asn: 'GeoLite2-ASN',
  ipinfo: 'ipinfo ipinfo_lite.mmdb',
};

/** A fixture database as bytes; `overrideCountry` relabels every range (to tell two builds apart). */
function fixtureDb(layout: Layout, buildEpoch: number, overrideCountry?: string): Buffer {
  const writer = new MmdbWriter({ databaseType: DATABASE_TYPES[layout], description: { en: 'geowarden updater fixture' }, buildEpoch });
  for (const e of FIXTURE_GEO) {
    if (e.country === null) continue;
    writer.insertCidr(e.cidr, record(layout, overrideCountry ? { ...e, country: overrideCountry, registeredCountry: overrideCountry } : e));
  }
  return writer.toBuffer();
}

/** What MaxMind serves: a gzip'd tar holding a dated directory with the .mmdb and text files. */
function maxmindTarGz(workDir: string, edition: string, db: Buffer, format: 'gnu' | 'pax' = 'gnu', dirName = `${edition}_20261120`): Buffer {
  const root = mkdtempSync(join(workDir, 'tar-'));
  mkdirSync(join(root, dirName));
  writeFileSync(join(root, dirName, 'COPYRIGHT.txt'), 'Database and Contents Copyright (c) MaxMind, Inc.\n');
  writeFileSync(join(root, dirName, 'LICENSE.txt'), 'fixture\n');
  writeFileSync(join(root, dirName, `${edition}.mmdb`), db);
  const out = join(root, 'out.tar.gz');
  const r = spawnSync('tar', [`--format=${format}`, '-czf', out, '-C', root, dirName], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tar failed: ${r.stderr}`);
  return readFileSync(out);
}

interface Hit {
  url: string;
  authorization: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

class FixtureServer {
  readonly hits: Hit[] = [];
  private readonly routes = new Map<string, Handler>();
  private server!: Server;
  base = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.hits.push({ url: req.url ?? '', authorization: req.headers.authorization });
      const handler = this.routes.get((req.url ?? '').split('?')[0]!);
      if (handler) handler(req, res);
      else res.writeHead(404, 'Not Found').end();
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  route(path: string, handler: Handler): void {
    this.routes.set(path, handler);
  }

  /** Serves `body` with Content-Length, like a static file server. */
  file(path: string, body: Buffer): void {
    this.route(path, (_req, res) => res.writeHead(200, { 'content-length': body.length }).end(body));
  }

  reset(): void {
    this.routes.clear();
    this.hits.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Harness {
  updater: GeoipUpdater;
  dir: string;
  swaps: { role: GeoRole; path: string }[];
  results: { role: GeoRole; ok: boolean; error?: string }[];
  warnings: string[];
  infos: { msg: string; fields: Readonly<Record<string, unknown>> }[];
  failures(role: GeoRole): number;
}

let root: string;
const server = new FixtureServer();
let harnessCount = 0;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'geowarden-updater-'));
  await server.start();
});
after(async () => {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});

function harness(sources: GeoipSourceConfig[], extra: Partial<GeoipUpdateConfig> = {}, options: Partial<GeoipUpdaterOptions> = {}): Harness {
  const dir = join(root, `case-${++harnessCount}`);
  const swaps: Harness['swaps'] = [];
  const results: Harness['results'] = [];
  const warnings: string[] = [];
  const infos: Harness['infos'] = [];
  const updater = new GeoipUpdater({
    update: { schedule: '17 4 * * 3', directory: dir, sources, watchFiles: false, timeoutS: 10, maxSizeBytes: 16 * 1024 * 1024, ...extra },
    configured: { country: null, asn: null },
    onSwap: (role, path) => {
      swaps.push({ role, path });
    },
    onResult: (role, ok, _when, error) => {
      results.push(error === undefined ? { role, ok } : { role, ok, error });
    },
    log: { info: (msg, fields = {}) => infos.push({ msg, fields }), warn: (msg) => warnings.push(msg) },
    probeAddresses: PROBES,
    now: () => NOW,
    retryDelaysMs: [],
    ...options,
  });
  return { updater, dir, swaps, results, warnings, infos, failures: (role) => results.filter((r) => r.role === role && !r.ok).length };
}

const dbipCountry = (base: string): GeoipSourceConfig => ({ role: 'country', kind: 'dbip', baseUrl: `${base}/free` });

/** Installs a first database through the updater, so the failure cases have something to keep. */
async function withInstalledCountry(): Promise<{ h: Harness; live: string; before: Buffer }> {
  server.reset();
  server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S - 20 * DAY)));
  const h = harness([dbipCountry(server.base)]);
  const [first] = await h.updater.updateNow();
  assert.equal(first?.ok, true, first?.detail);
  const live = h.updater.livePath('country');
  return { h, live, before: readFileSync(live) };
}

/** The database in use must be byte for byte the one installed before. */
function assertKept(h: Harness, live: string, before: Buffer): void {
  assert.ok(readFileSync(live).equals(before), 'the live database changed');
  assert.equal(h.swaps.length, 1, 'onSwap was called for a failed update');
  const leftovers = readdirSync(h.dir).filter((n) => n !== 'country.mmdb');
  assert.deepEqual(leftovers, [], 'temp files were left behind');
}

describe('GeoipUpdater downloads', () => {
  it('DB-IP: downloads this month\'s .mmdb.gz, swaps it in and calls onSwap', async () => {
    server.reset();
    server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S - 20 * DAY)));
    const h = harness([dbipCountry(server.base)]);
    assert.equal(h.updater.databasePaths().country, null, 'before a download the configured (bundled) database is used');
    const [outcome] = await h.updater.updateNow();
    assert.deepEqual(outcome, { role: 'country', ok: true, swapped: true, path: join(h.dir, 'country.mmdb'), detail: 'replaced' });
    assert.deepEqual(h.swaps, [{ role: 'country', path: join(h.dir, 'country.mmdb') }]);
    assert.deepEqual(h.results, [{ role: 'country', ok: true }]);
    assert.deepEqual(server.hits.map((x) => x.url), ['/free/dbip-country-lite-2026-11.mmdb.gz']);
    assert.equal(h.updater.databasePaths().country, join(h.dir, 'country.mmdb'));
    const resolver = GeoResolver.open({ countryDbPath: h.updater.databasePaths().country, asnDbPath: null, cacheSize: 0 });
    assert.equal(resolver.lookup('203.0.113.9').country, 'CN');
    assert.deepEqual(readdirSync(h.dir), ['country.mmdb']);
  });

  it('DB-IP: falls back to last month\'s file when this month\'s is not published yet', async () => {
    server.reset();
    server.file('/free/dbip-asn-lite-2026-10.mmdb.gz', gzipSync(fixtureDb('asn', NOW_S - 30 * DAY)));
    const h = harness([{ role: 'asn', kind: 'dbip', baseUrl: `${server.base}/free` }]);
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.ok, true, outcome?.detail);
    assert.deepEqual(server.hits.map((x) => x.url), ['/free/dbip-asn-lite-2026-11.mmdb.gz', '/free/dbip-asn-lite-2026-10.mmdb.gz']);
  });

  it('MaxMind: sends account ID and licence key as basic auth and takes the .mmdb out of the tar.gz', async () => {
    server.reset();
    const body = maxmindTarGz(root, 'GeoLite2-ASN', fixtureDb('asn', NOW_S - 3 * DAY));
    const expected = `Basic ${Buffer.from('123456:test_licence_key').toString('base64')}`;
    server.route('/geoip/databases/GeoLite2-ASN/download', (req, res) => {
      if (req.headers.authorization !== expected) res.writeHead(401, 'Unauthorized').end();
      else res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    const keyFile = join(root, 'maxmind-license-key');
    writeFileSync(keyFile, 'test_licence_key\n');
    const source = (file: string): GeoipSourceConfig => ({ role: 'asn', kind: 'maxmind', editionId: 'GeoLite2-ASN', accountId: '123456', licenseKey: { file }, baseUrl: server.base });

    const h = harness([source(keyFile)]);
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.ok, true, outcome?.detail);
    assert.equal(server.hits[0]?.url, '/geoip/databases/GeoLite2-ASN/download?suffix=tar.gz');
    const resolver = GeoResolver.open({ countryDbPath: null, asnDbPath: h.updater.livePath('asn'), cacheSize: 0 });
    assert.equal(resolver.lookup('198.51.100.200').asn, 64501);

    writeFileSync(keyFile, 'revoked_key\n');
    const [denied] = await h.updater.updateNow();
    assert.equal(denied?.ok, false);
    assert.match(denied!.detail, /^HTTP 401 Unauthorized \(check the account ID, licence key or token\)$/);
    assert.equal(h.failures('asn'), 1);

    const [missing] = await harness([source(join(root, 'no-such-key'))]).updater.updateNow();
    assert.match(missing!.detail, /^license_key_file .*no-such-key cannot be read \(ENOENT\)$/);
  });

  it('tar reader: pax long names, as written by tar --format=pax', async () => {
    const longDir = `GeoLite2-Country_20261120_${'x'.repeat(120)}`;
    const body = maxmindTarGz(root, 'GeoLite2-Country', fixtureDb('geolite2-country', NOW_S - DAY), 'pax', longDir);
    const tarPath = join(root, 'long.tar');
    writeFileSync(tarPath, (await import('node:zlib')).gunzipSync(body));
    const names = (await listTarMembers(tarPath)).map((m) => m.name).sort();
    assert.deepEqual(names, [`${longDir}/`, `${longDir}/COPYRIGHT.txt`, `${longDir}/GeoLite2-Country.mmdb`, `${longDir}/LICENSE.txt`]);

    server.reset();
    server.file('/geoip/databases/GeoLite2-Country/download', body);
    const h = harness([{ role: 'country', kind: 'maxmind', editionId: 'GeoLite2-Country', accountId: '1', licenseKey: { value: 'k' }, baseUrl: server.base }]);
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.ok, true, outcome?.detail);
  });

  it('IPinfo: passes the token and installs the plain .mmdb', async () => {
    server.reset();
    const db = fixtureDb('ipinfo', NOW_S - DAY);
    server.route('/data/ipinfo_lite.mmdb', (req, res) => {
      if (new URL(req.url ?? '', server.base).searchParams.get('token') !== 'tok123') res.writeHead(403, 'Forbidden').end();
      else res.writeHead(200, { 'content-length': db.length }).end(db);
    });
    const h = harness([{ role: 'country', kind: 'ipinfo', token: { value: 'tok123' }, baseUrl: `${server.base}/data` }]);
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.ok, true, outcome?.detail);
    const resolver = GeoResolver.open({ countryDbPath: h.updater.livePath('country'), asnDbPath: null, cacheSize: 0 });
    const { country, registeredCountry, asn, asOrg, special } = resolver.lookup('2001:db8:c0::1');
    assert.deepEqual({ country, registeredCountry, asn, asOrg, special }, { country: 'CN', registeredCountry: null, asn: 64510, asOrg: 'Example Telemetry Co', special: false });
    // The token never reaches the log.
    const bad = harness([{ role: 'country', kind: 'ipinfo', token: { value: 'wrong-secret' }, baseUrl: `${server.base}/data` }]);
    await bad.updater.updateNow();
    assert.equal(bad.warnings.length, 1);
    assert.doesNotMatch(bad.warnings[0]!, /wrong-secret/);
    assert.match(bad.warnings[0]!, /ipinfo_lite\.mmdb\?token=\*\*\* failed: HTTP 403 Forbidden/);
  });

  it('kind url: fills {yyyy}-{mm} and unpacks by content, whatever the name', async () => {
    server.reset();
    server.file('/mirror/asn-2026-11.bin', gzipSync(fixtureDb('asn', NOW_S - DAY)));
    const h = harness([{ role: 'asn', kind: 'url', url: `${server.base}/mirror/asn-{yyyy}-{mm}.bin` }]);
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.ok, true, outcome?.detail);
  });
});

describe('GeoipUpdater keeps the database in use on failure', () => {
  const failing: [string, (live: string) => void, RegExp][] = [
    ['HTTP 500', () => server.route('/free/dbip-country-lite-2026-11.mmdb.gz', (_q, r) => r.writeHead(500, 'Internal Server Error').end()), /^HTTP 500 Internal Server Error$/],
    ['HTTP 404 for both months', () => undefined, /^HTTP 404 Not Found$/],
    [
      'a truncated gzip',
      () => {
        const gz = gzipSync(fixtureDb('dbip-country', NOW_S - DAY));
        server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gz.subarray(0, gz.length >> 1));
      },
      /^the gzip data is damaged or truncated \(unexpected end of file\)$/,
    ],
    [
      'a connection closed before Content-Length bytes',
      () => {
        const gz = gzipSync(fixtureDb('dbip-country', NOW_S - DAY));
        server.route('/free/dbip-country-lite-2026-11.mmdb.gz', (_q, res) => {
          res.writeHead(200, { 'content-length': gz.length });
          res.write(gz.subarray(0, 100), () => res.socket?.destroy());
        });
      },
      // Which side notices first depends on timing: undici's body stream or the length check.
      /^(the connection closed mid-download: other side closed|ended after 100 of \d+ bytes)$/,
    ],
    ['corrupt bytes', () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', Buffer.from('<html>maintenance</html>')), /^the file is not a MaxMind DB file \(no metadata marker\)$/],
    ['an ASN database offered as country', () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('asn', NOW_S - DAY))), /^the file has no country data \(its records are geolite2-asn\)$/],
    ['a database built 500 days ago', () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S - 500 * DAY))), /^the database was built on 2025-07-13, more than 400 days ago/],
    ['a database built next week', () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S + 7 * DAY))), /^the database claims to be built on 2026-12-02, in the future$/],
    [
      'a database older than the one in use',
      () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S - 60 * DAY))),
      /^the download was built 2026-09-26, before the database in use \(2026-11-05\)$/,
    ],
    [
      'a database without the sample addresses',
      () => {
        const writer = new MmdbWriter({ databaseType: 'DBIP-Country-Lite', description: { en: 'partial' }, buildEpoch: NOW_S - DAY });
        writer.insertCidr('192.0.2.0/25', { country_code: 'US' });
        server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(writer.toBuffer()));
      },
      /^only 1 of 4 sample addresses .* have a country; the database looks incomplete$/,
    ],
    ['a download over max_size', () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', Buffer.alloc(17 * 1024 * 1024)), /^announces 17825792 bytes, more than max_size \(16777216\)$/],
    [
      'a gzip that unpacks past max_size',
      () => server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(Buffer.alloc(20 * 1024 * 1024))),
      /^the unpacked file is larger than max_size \(16777216 bytes\)$/,
    ],
  ];

  for (const [name, arrange, reason] of failing) {
    it(`${name}: old file kept, failure counted and logged`, async () => {
      const { h, live, before } = await withInstalledCountry();
      server.reset();
      arrange(live);
      const [outcome] = await h.updater.updateNow();
      assert.equal(outcome?.ok, false);
      assert.match(outcome!.detail, reason);
      assert.equal(h.failures('country'), 1);
      assert.equal(h.warnings.length, 1);
      assert.match(h.warnings[0]!, new RegExp(`^geoip update of the country database from http://127\\.0\\.0\\.1:\\d+/free/dbip-country-lite-2026-1[01]\\.mmdb\\.gz failed: .+; keeping ${live.replace(/[.]/g, '\\.')}$`));
      assertKept(h, live, before);
    });
  }

  it('a server that never answers is given up after the timeout', async () => {
    const { h, live, before } = await withInstalledCountry();
    const quick = harness([dbipCountry(server.base)], { directory: h.dir, timeoutS: 0.5 });
    server.reset();
    server.route('/free/dbip-country-lite-2026-11.mmdb.gz', () => undefined);
    const started = Date.now();
    const [outcome] = await quick.updater.updateNow();
    const took = Date.now() - started;
    assert.equal(outcome?.detail, 'timed out after 0.5s');
    assert.ok(took >= 450 && took < 3000, `took ${took} ms`);
    assert.equal(quick.failures('country'), 1);
    assertKept(h, live, before);
  });

  it('HTTP 304 (If-Modified-Since) counts as success without a swap', async () => {
    const { h, live, before } = await withInstalledCountry();
    server.reset();
    server.route('/free/dbip-country-lite-2026-11.mmdb.gz', (req, res) => {
      res.writeHead(req.headers['if-modified-since'] ? 304 : 500).end();
    });
    const [outcome] = await h.updater.updateNow();
    assert.deepEqual(outcome, { role: 'country', ok: true, swapped: false, path: live, detail: 'not modified' });
    assertKept(h, live, before);
  });

  it('a newer build replaces the older one', async () => {
    const { h, live } = await withInstalledCountry();
    server.reset();
    server.file('/free/dbip-country-lite-2026-11.mmdb.gz', gzipSync(fixtureDb('dbip-country', NOW_S - DAY, 'FR')));
    const [outcome] = await h.updater.updateNow();
    assert.equal(outcome?.swapped, true, outcome?.detail);
    assert.equal(h.swaps.length, 2);
    const resolver = GeoResolver.open({ countryDbPath: live, asnDbPath: null, cacheSize: 0 });
    assert.equal(resolver.lookup('203.0.113.9').country, 'FR');
  });
});

describe('GeoipUpdater lifecycle', () => {
  it('start() downloads a missing database at once and retries a failure on its schedule', async () => {
    server.reset();
    let calls = 0;
    const gz = gzipSync(fixtureDb('dbip-country', NOW_S - DAY));
    server.route('/free/dbip-country-lite-2026-11.mmdb.gz', (_q, res) => {
      if (++calls < 3) res.writeHead(503, 'Service Unavailable').end();
      else res.writeHead(200).end(gz);
    });
    const h = harness([dbipCountry(server.base)], {}, { retryDelaysMs: [50, 50, 50] });
    await h.updater.start();
    try {
      await waitFor(() => h.swaps.length === 1, 5000);
      assert.deepEqual(h.results.map((r) => r.ok), [false, false, true]);
      assert.equal(calls, 3);
      // The cron schedule is armed: "17 4 * * 3" is next due on a Wednesday at 04:17 local time.
      const scheduled = h.infos.find((i) => i.msg === 'geoip updates scheduled');
      const next = new Date(String(scheduled?.fields['next_run']));
      assert.deepEqual([next.getDay(), next.getHours(), next.getMinutes()], [3, 4, 17]);
      assert.ok(next.getTime() > Date.now() && next.getTime() <= Date.now() + 7 * DAY * 1000);
      assert.equal(scheduled?.fields['sources'], 'country=dbip');
    } finally {
      await h.updater.stop();
    }
  });

  it('start() reports a database downloaded earlier as the last success, and removes stale temp files', async () => {
    const { h, live } = await withInstalledCountry();
    writeFileSync(join(h.dir, '.country.123-abcd.download.geowarden-tmp'), 'left by a killed run');
    const again = harness([dbipCountry(server.base)], { directory: h.dir });
    await again.updater.start();
    await again.updater.stop();
    assert.deepEqual(again.results, [{ role: 'country', ok: true }]);
    assert.deepEqual(readdirSync(h.dir), ['country.mmdb']);
    assert.equal(again.swaps.length, 0);
    assert.ok(existsSync(live));
  });

  it('watch_files: a configured database replaced on disk is verified and reopened', async () => {
    const dir = join(root, 'watched');
    mkdirSync(dir);
    const path = join(dir, 'GeoLite2-Country.mmdb');
    writeFileSync(path, fixtureDb('geolite2-country', NOW_S - 10 * DAY));
    const h = harness([], { watchFiles: true }, { configured: { country: path, asn: null }, watchDebounceMs: 100 });
    await h.updater.start();
    try {
      // What geoipupdate does: write a temp file next to it, then rename over.
      writeFileSync(`${path}.tmp`, fixtureDb('geolite2-country', NOW_S - DAY, 'FR'));
      renameSync(`${path}.tmp`, path);
      await waitFor(() => h.swaps.length === 1, 5000);
      assert.deepEqual(h.swaps, [{ role: 'country', path }]);
      assert.deepEqual(h.results, [{ role: 'country', ok: true }]);

      // A broken replacement is reported and not reopened.
      writeFileSync(`${path}.tmp`, fixtureDb('asn', NOW_S - DAY));
      renameSync(`${path}.tmp`, path);
      await waitFor(() => h.results.length === 2, 5000);
      assert.equal(h.results[1]?.ok, false);
      assert.match(h.results[1]?.error ?? '', /has no country data/);
      assert.equal(h.swaps.length, 1);
    } finally {
      await h.updater.stop();
    }
    const mtime = statSync(path).mtimeMs;
    assert.ok(mtime > 0);
  });

  it('stop() aborts a download in progress and keeps the old file', async () => {
    const { h, live, before } = await withInstalledCountry();
    const slow = harness([dbipCountry(server.base)], { directory: h.dir, timeoutS: 60 });
    server.reset();
    server.route('/free/dbip-country-lite-2026-11.mmdb.gz', () => undefined);
    const pending = slow.updater.updateNow();
    await waitFor(() => server.hits.length === 1, 5000);
    const started = Date.now();
    await slow.updater.stop();
    const [outcome] = await pending;
    assert.equal(outcome?.detail, 'aborted: the updater is stopping');
    assert.ok(Date.now() - started < 2000);
    assertKept(h, live, before);
  });

  it('fromConfig: null without geoip.update', () => {
    const noop = { onSwap: () => undefined };
    assert.equal(GeoipUpdater.fromConfig({ country: null, asn: null, cacheSize: 1, update: null }, noop), null);
  });
});

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('geoip.update config', () => {
  function problems(yaml: string): string[] {
    const dir = mkdtempSync(join(root, 'config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, yaml);
    try {
      loadConfig(file);
      return [];
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  }

  it('loads sources with defaults filled in', () => {
    const dir = mkdtempSync(join(root, 'config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(
      file,
      [
        'geoip:',
        '  update:',
        '    sources:',
        '      - { role: country, kind: maxmind, account_id: 42, license_key_file: keys/maxmind }',
        '      - { role: asn, kind: ipinfo, token: abc }',
      ].join('\n'),
    );
    assert.deepEqual(loadConfig(file).geoip.update, {
      schedule: '17 4 * * 3',
      directory: '/var/lib/geowarden/geoip',
      watchFiles: true,
      timeoutS: 300,
      maxSizeBytes: 256 * 1024 * 1024,
      sources: [
        { role: 'country', kind: 'maxmind', editionId: 'GeoLite2-Country', accountId: '42', licenseKey: { file: join(dir, 'keys/maxmind') }, baseUrl: null },
        { role: 'asn', kind: 'ipinfo', token: { value: 'abc' }, baseUrl: null },
      ],
    });
    assert.equal(loadConfig(null).geoip.update, null);
  });

  it('reports a bad cron expression with its path', () => {
    assert.deepEqual(problems('geoip:\n  update:\n    schedule: "61 4 * * 3"\n'), [
      'geoip.update.schedule: "61 4 * * 3" is not a cron expression (minute "61" is out of range or malformed)',
    ]);
    assert.deepEqual(problems('geoip:\n  update:\n    schedule: "weekly"\n'), [
      'geoip.update.schedule: "weekly" is not a cron expression (use 5 fields: minute hour day-of-month month day-of-week, e.g. "17 4 * * 3")',
    ]);
    assert.deepEqual(problems('geoip:\n  update:\n    schedule: "*/5 * * * *"\n'), [
      'geoip.update.schedule: "*/5 * * * *" runs more than once an hour; give a single minute, e.g. "17 4 * * 3"',
    ]);
  });

  it('reports source mistakes per key', () => {
    const yaml = [
      'geoip:',
      '  update:',
      '    sources:',
      '      - { role: country, kind: maxmind, account_id: abc, license_key: k, license_key_file: f }',
      '      - { role: asn, kind: dbip, token: t }',
      '      - { role: asn, kind: url }',
      '      - { role: city, kind: ftp, url: "ftp://x/{dd}" }',
      '      - { role: country, kind: ipinfo }',
    ].join('\n');
    assert.deepEqual(problems(yaml), [
      'geoip.update.sources[0]: set license_key or license_key_file, not both',
      'geoip.update.sources[0].account_id: "abc" is not a MaxMind account ID (a number)',
      'geoip.update.sources[1].token: is not used by kind dbip',
      // A missing key has no position of its own; it is reported where its mapping starts.
      'geoip.update.sources[2].url: is required for kind url',
      'geoip.update.sources[2].role: the asn database already comes from geoip.update.sources[1]',
      'geoip.update.sources[3].role: "city" is not one of country, asn',
      'geoip.update.sources[3].kind: "ftp" is not one of maxmind, dbip, ipinfo, url',
      'geoip.update.sources[3].url: "ftp://x/{dd}" has an unknown placeholder {dd} (use {yyyy} and {mm})',
      'geoip.update.sources[4]: kind ipinfo needs token or token_file',
      'geoip.update.sources[4].role: the country database already comes from geoip.update.sources[0]',
    ]);
  });
});
