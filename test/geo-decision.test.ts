/**
 * Countries you can defend: several databases at once and the rule that turns their answers into
 * a verdict, admin overrides, and anycast networks. The databases are fixture MMDBs that
 * disagree (test/support/disagreeing-geo.ts), opened through the real GeoResolver.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConfigError, loadConfig } from '../src/config/load';
import type { GeoDecisionRule, GeoOverrideConfig, PolicyConfig } from '../src/config/types';
import type { FlowRecord } from '../src/flows/types';
import { DEFAULT_ANYCAST_ASNS_FILE, loadAnycastAsns, parseAnycastAsns } from '../src/geo/anycast-asns';
import { GeoResolver, type GeoDatabaseSpec } from '../src/geo/geo-resolver';
import { GeowardenMetrics } from '../src/metrics/geowarden-metrics';
import { CountryPolicy } from '../src/policy/country-policy';
import type { Jurisdictions } from '../src/policy/jurisdictions';
import type { JudgedFlow } from '../src/policy/types';
import { buildDisagreeingGeo, DBIP_BUILD_EPOCH, GEOLITE2_BUILD_EPOCH, type DisagreeingGeo } from './support/disagreeing-geo';
import { parseJsonLines, runCli } from './support/replay-run';
import { DOC_PLAN, household, writeScenario } from './support/scenarios';

const JURISDICTIONS: Jurisdictions = {
  asOf: '2026-11-01',
  groups: new Map([['EU', new Set(['AT', 'DE', 'FR', 'IE', 'CY'])]]),
  sources: new Map(),
};

function flow(remoteIp: string): FlowRecord {
  return {
    proto: 'tcp',
    protocolNumber: 6,
    device: { ip: '192.168.1.40', mac: '64:cc:2e:7b:40:05', hostname: 'redmi-note', group: null },
    localPort: 38001,
    remoteIp,
    remotePort: 443,
    bothInternal: false,
    names: ['metrics.phone-vendor.example'],
    sni: null,
    httpHost: null,
    bytesOut: 21700,
    bytesIn: 2080,
    packetsOut: 25,
    packetsIn: 14,
    firstSeenUs: 1_717_228_804_000_000,
    lastSeenUs: 1_717_228_806_000_000,
    endReason: 'fin',
  };
}

function policy(fields: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    jurisdictionsFile: null,
    unknownCountry: 'unknown',
    default: { denyCountries: ['CN', 'RU'], allowCountries: null },
    exceptions: { domains: [], asns: [], cidrs: [] },
    groups: [],
    ...fields,
  };
}

let dir: string;
let dbs: DisagreeingGeo;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'geowarden-geo-decision-'));
  dbs = buildDisagreeingGeo(join(dir, 'geo'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function specs(names: Array<'dbip' | 'geolite2' | 'ipinfo'>): GeoDatabaseSpec[] {
  return names.map((name) =>
    name === 'ipinfo'
      ? { name, countryDbPath: dbs.ipinfo.country, asnDbPath: null }
      : { name, countryDbPath: dbs[name].country, asnDbPath: dbs[name].asn },
  );
}

function resolver(names: Array<'dbip' | 'geolite2' | 'ipinfo'>, o: { primary?: string; overrides?: GeoOverrideConfig[]; anycast?: number[] } = {}): GeoResolver {
  return GeoResolver.open({
    countryDbPath: null,
    asnDbPath: null,
    cacheSize: 100,
    databases: specs(names),
    primary: o.primary ?? null,
    overrides: o.overrides ?? [],
    anycast: o.anycast ? { asOf: '2026-11-25', asns: new Map(o.anycast.map((a) => [a, `AS${a}`])) } : null,
  });
}

function judge(geo: GeoResolver, ip: string, decision: GeoDecisionRule, p: PolicyConfig = policy()) {
  return CountryPolicy.fromConfig(p, JURISDICTIONS, { decision }).judge(flow(ip), geo.lookup(ip));
}

describe('several databases: every answer is recorded', () => {
  it('keeps each database answer, registered country and build date, in config order', () => {
    const geo = resolver(['dbip', 'geolite2']);
    const info = geo.lookup('203.0.113.10');
    assert.deepEqual(info.sources, [
      { database: 'dbip', country: 'CN', registeredCountry: null, buildEpoch: DBIP_BUILD_EPOCH, primary: true },
      { database: 'geolite2', country: 'HK', registeredCountry: 'CN', buildEpoch: GEOLITE2_BUILD_EPOCH, primary: false },
    ]);
    assert.equal(info.country, 'CN', 'the primary (first) database gives the country');
    assert.equal(info.asn, 64510);
    assert.equal(info.asOrg, 'Example Telemetry Co');
    // A database without the address still answers, with nothing.
    assert.deepEqual(
      geo.lookup('192.0.2.10').sources?.map((s) => [s.database, s.country]),
      [
        ['dbip', 'US'],
        ['geolite2', null],
      ],
    );
    assert.deepEqual(
      geo.databases().map((d) => [d.name, d.role]),
      [
        ['dbip', 'country'],
        ['dbip', 'asn'],
        ['geolite2', 'country'],
        ['geolite2', 'asn'],
      ],
    );
  });

  it('geoip.primary picks whose answer is the country; IPv6 works the same', () => {
    const geo = resolver(['dbip', 'geolite2', 'ipinfo'], { primary: 'geolite2' });
    const info = geo.lookup('2001:db8:c0::7');
    assert.equal(info.country, 'HK');
    assert.equal(info.registeredCountry, 'CN');
    assert.deepEqual(
      info.sources?.map((s) => [s.database, s.country, s.primary]),
      [
        ['dbip', 'CN', false],
        ['geolite2', 'HK', true],
        ['ipinfo', 'HK', false],
      ],
    );
  });
});

describe('geoip.decision', () => {
  it('any: one database placing the remote in a denied country is enough, and it is named', () => {
    const v = judge(resolver(['dbip', 'geolite2']), '203.0.113.10', 'any');
    assert.equal(v.verdict, 'violation');
    assert.deepEqual(v.decidedBy, ['dbip']);
    assert.equal(v.country, undefined, 'the blamed answer is the primary one: no other country to report');
    assert.equal(v.reason, 'deny_countries: CN (policy "default"); geoip.decision any, 1 of 2 databases object: dbip says CN, geolite2 says HK');
  });

  it('any: the blamed country may come from a database that is not the primary', () => {
    const v = judge(resolver(['dbip', 'geolite2'], { primary: 'geolite2' }), '203.0.113.10', 'any');
    assert.equal(v.verdict, 'violation');
    assert.deepEqual(v.decidedBy, ['dbip']);
    assert.equal(v.country, 'CN', 'the pipeline shows CN, not the primary answer HK');
  });

  it('all: only a violation when every database that knows the address objects', () => {
    const geo = resolver(['dbip', 'geolite2']);
    const v = judge(geo, '203.0.113.10', 'all');
    assert.equal(v.verdict, 'allowed');
    assert.deepEqual(v.decidedBy, ['geolite2']);
    assert.equal(v.country, 'HK');
    const ru = judge(geo, '203.0.113.140', 'all');
    assert.equal(ru.verdict, 'violation');
    assert.deepEqual(ru.decidedBy, ['dbip', 'geolite2']);
    assert.equal(ru.reason, 'deny_countries: RU (policy "default"); geoip.decision all, 2 of 2 databases object');
    // geolite2 has no answer for 192.0.2.x: dbip alone decides, and the reason says who knew nothing.
    const us = judge(geo, '192.0.2.10', 'all', policy({ default: { denyCountries: ['US'], allowCountries: null } }));
    assert.equal(us.verdict, 'violation');
    assert.deepEqual(us.decidedBy, ['dbip']);
    assert.match(us.reason, /1 of 1 database objects: dbip says US, geolite2 says unknown$/);
  });

  it('majority: more than half; a tie is not a majority', () => {
    const two = judge(resolver(['dbip', 'geolite2']), '203.0.113.10', 'majority');
    assert.equal(two.verdict, 'allowed', two.reason);
    const three = judge(resolver(['dbip', 'geolite2', 'ipinfo']), '203.0.113.10', 'majority');
    assert.equal(three.verdict, 'violation');
    assert.deepEqual(three.decidedBy, ['dbip', 'ipinfo']);
    assert.match(three.reason, /2 of 3 databases object: dbip says CN, geolite2 says HK, ipinfo says CN$/);
    const v6 = judge(resolver(['dbip', 'geolite2', 'ipinfo']), '2001:db8:c0::7', 'majority');
    assert.equal(v6.verdict, 'allowed');
    assert.deepEqual(v6.decidedBy, ['geolite2', 'ipinfo']);
    assert.equal(v6.country, 'HK');
  });

  it('primary: the primary decides, the others are shown in the reason', () => {
    const dbipFirst = judge(resolver(['dbip', 'geolite2']), '203.0.113.10', 'primary');
    assert.equal(dbipFirst.verdict, 'violation');
    assert.deepEqual(dbipFirst.decidedBy, ['dbip']);
    assert.equal(dbipFirst.reason, 'deny_countries: CN (policy "default"); databases disagree (primary decides): dbip says CN, geolite2 says HK');
    const geolite2 = judge(resolver(['dbip', 'geolite2'], { primary: 'geolite2' }), '203.0.113.10', 'primary');
    assert.equal(geolite2.verdict, 'allowed');
    assert.deepEqual(geolite2.decidedBy, ['geolite2']);
  });

  it('allow lists: any database placing the remote outside the list objects', () => {
    const eu = policy({ default: { denyCountries: null, allowCountries: ['EU'] } });
    const geo = resolver(['dbip', 'geolite2']);
    assert.equal(judge(geo, '198.51.100.10', 'any', eu).verdict, 'allowed');
    const v = judge(geo, '203.0.113.10', 'any', eu);
    assert.equal(v.verdict, 'violation');
    assert.deepEqual(v.decidedBy, ['dbip', 'geolite2']);
    assert.match(v.reason, /^not in allow_countries \(policy "default"\)/);
  });

  it('agreeing databases leave the single-database reason as it was', () => {
    const v = judge(resolver(['dbip', 'geolite2']), '198.51.100.10', 'primary');
    assert.deepEqual(v, { verdict: 'allowed', reason: 'not in deny_countries (policy "default")', policy: 'default', decidedBy: ['dbip'] });
  });
});

describe('geoip.overrides', () => {
  const overrides: GeoOverrideConfig[] = [
    { cidr: '203.0.113.0/25', asn: null, country: 'FR', note: 'partner range' },
    { cidr: '203.0.113.0/28', asn: null, country: 'DE', note: 'corporate VPN exit' },
    { cidr: null, asn: 64511, country: 'CY', note: 'checked with the provider' },
  ];

  it('places the address before any database, the most specific block first, then by AS', () => {
    const geo = resolver(['dbip', 'geolite2'], { overrides });
    const vpn = geo.lookup('203.0.113.5');
    assert.equal(vpn.country, 'DE');
    assert.deepEqual(vpn.override, { match: 'cidr 203.0.113.0/28', country: 'DE', note: 'corporate VPN exit' });
    assert.equal(vpn.sources?.length, 2, 'the databases are still asked, for the record');
    assert.equal(geo.lookup('203.0.113.100').override?.match, 'cidr 203.0.113.0/25');
    assert.deepEqual(geo.lookup('203.0.113.140').override, { match: 'asn 64511', country: 'CY', note: 'checked with the provider' });
    assert.equal(geo.lookup('198.51.100.10').override, null);
  });

  it('shares one result between addresses the databases answer alike, never with an overridden one', () => {
    const geo = resolver(['dbip', 'geolite2'], { overrides: [{ cidr: '198.51.100.0/28', asn: null, country: 'FR', note: 'lab' }] });
    const plain = geo.lookup('198.51.100.100');
    const overridden = geo.lookup('198.51.100.5');
    const neighbour = geo.lookup('198.51.100.101');
    assert.equal(neighbour, plain, 'same records, same frozen result');
    assert.equal(plain.override, null);
    assert.equal(plain.country, 'DE');
    assert.equal(overridden.country, 'FR');
    assert.equal(overridden.override?.match, 'cidr 198.51.100.0/28');
    assert.deepEqual(overridden.sources, plain.sources, 'the databases still answer for the overridden address');
    assert.equal(geo.lookup('198.51.100.6').override?.match, 'cidr 198.51.100.0/28');
    assert.equal(geo.lookup('198.51.100.102').override, null);
  });

  it('the verdict follows the override whatever the rule, and the reason says so', () => {
    const geo = resolver(['dbip', 'geolite2'], { overrides });
    for (const rule of ['any', 'all', 'majority', 'primary'] as const) {
      const v = judge(geo, '203.0.113.5', rule);
      assert.equal(v.verdict, 'allowed', rule);
      assert.equal(v.reason, 'not in deny_countries (policy "default"); country from override cidr 203.0.113.0/28 (corporate VPN exit)');
      assert.equal(v.decidedBy, undefined);
    }
    const denied = judge(geo, '203.0.113.140', 'any', policy({ default: { denyCountries: ['CY'], allowCountries: null } }));
    assert.equal(denied.verdict, 'violation');
    assert.equal(denied.reason, 'deny_countries: CY (policy "default"); country from override asn 64511 (checked with the provider)');
  });
});

describe('anycast networks', () => {
  it('flags remotes of a listed AS; policy.anycast decides whether to blame a country', () => {
    const geo = resolver(['dbip'], { anycast: [64510] });
    const info = geo.lookup('203.0.113.10');
    assert.equal(info.anycast, true);
    assert.equal(geo.lookup('198.51.100.10').anycast, false);
    const judged = judge(geo, '203.0.113.10', 'primary');
    assert.equal(judged.verdict, 'violation', 'judge (the default) still blames CN');
    const v = judge(geo, '203.0.113.10', 'primary', policy({ anycast: 'anycast' }));
    assert.deepEqual(v, { verdict: 'anycast', reason: 'anycast network: AS64510 Example Telemetry Co (policy "default")', policy: 'default' });
  });

  it('an exception or an override still comes first', () => {
    const geo = resolver(['dbip'], { anycast: [64510], overrides: [{ cidr: '203.0.113.0/28', asn: null, country: 'DE', note: 'VPN' }] });
    assert.equal(judge(geo, '203.0.113.5', 'primary', policy({ anycast: 'anycast' })).verdict, 'allowed');
    const excepted = policy({ anycast: 'anycast', exceptions: { domains: [], asns: [64510], cidrs: [] } });
    assert.match(judge(geo, '203.0.113.10', 'primary', excepted).reason, /^exception: asn 64510/);
  });

  it('the shipped list loads, is dated and holds the networks it promises', () => {
    const list = loadAnycastAsns();
    assert.match(list.asOf, /^\d{4}-\d{2}-\d{2}$/);
    for (const asn of [13335, 15169, 20940, 16625, 54113, 16509, 8075, 714, 32934, 19281]) assert.ok(list.asns.has(asn), `AS${asn}`);
    assert.equal(loadAnycastAsns(DEFAULT_ANYCAST_ASNS_FILE).asns.get(13335), 'Cloudflare, Inc.');
  });

  it('a broken list names the file, path and problem', () => {
    assert.throws(
      () => parseAnycastAsns('mine.yaml', 'as_of: 2026-11-25\nsources: x\nnetworks:\n  - { asn: 13335, name: A }\n  - { asn: AS13335, name: B }\n  - { asn: x, name: C }\n'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message === 'mine.yaml: networks[1].asn: AS13335 is already listed at networks[0]\nmine.yaml: networks[2].asn: "x" is not an AS number (use 13335 or AS13335)',
    );
  });
});

describe('geoip config keys', () => {
  function withConfig(yaml: string): string {
    const file = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return file;
  }
  const databases = () => `geoip:
  databases:
    - { name: dbip, country: ${dbs.dbip.country}, asn: ${dbs.dbip.asn} }
    - { name: geolite2, country: ${dbs.geolite2.country} }
`;

  it('loads databases, decision, primary, overrides, the anycast file and policy.anycast', () => {
    const anycast = withConfig('as_of: 2026-11-25\nsources: mine\nnetworks:\n  - { asn: 64510, name: Example }\n');
    const config = loadConfig(
      withConfig(`${databases()}  decision: majority
  primary: geolite2
  overrides:
    - { cidr: 203.0.113.0/28, country: de, note: VPN exit }
    - { asn: AS64511, country: CY }
  anycast_asns_file: ${anycast}
policy:
  anycast: anycast
`),
    );
    assert.deepEqual(config.geoip.databases, [
      { name: 'dbip', country: dbs.dbip.country, asn: dbs.dbip.asn },
      { name: 'geolite2', country: dbs.geolite2.country, asn: null },
    ]);
    assert.equal(config.geoip.decision, 'majority');
    assert.equal(config.geoip.primary, 'geolite2');
    assert.deepEqual(config.geoip.overrides, [
      { cidr: '203.0.113.0/28', asn: null, country: 'DE', note: 'VPN exit' },
      { cidr: null, asn: 64511, country: 'CY', note: '' },
    ]);
    assert.equal(config.geoip.anycastAsnsFile, anycast);
    assert.equal(config.policy.anycast, 'anycast');
    assert.equal(GeoResolver.fromConfig(config.geoip).lookup('203.0.113.10').anycast, true);
  });

  it('reports every mistake with its path', () => {
    const file = withConfig(`geoip:
  country: ${dbs.dbip.country}
  databases:
    - { name: dbip, country: ${dbs.dbip.country} }
    - { name: dbip, asn: ${dbs.dbip.asn} }
    - { name: empty }
  primary: nowhere
  decision: some
  overrides:
    - { cidr: 192.0.2.0/24, asn: 64500, country: DE }
    - { cidr: 192.0.2.0/24, country: EU }
`);
    assert.throws(
      () => loadConfig(file),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.map((p) => `${p.path}: ${p.message}`).join('\n') ===
          [
            'geoip.databases: set geoip.country/geoip.asn or geoip.databases, not both',
            'geoip.databases[1].name: "dbip" is already the name of geoip.databases[0]',
            'geoip.databases[2]: needs country or asn (or both)',
            'geoip.primary: "nowhere" is not the name of an entry in geoip.databases (dbip, empty)',
            'geoip.decision: "some" is not one of any, all, majority, primary',
            'geoip.overrides[0]: needs either cidr or asn',
            'geoip.overrides[1].country: "EU" is not an ISO 3166-1 alpha-2 code',
          ].join('\n'),
    );
  });
});

describe('disagreement metric', () => {
  it('counts flows per pair of databases that placed the remote in different countries', async () => {
    const registry = new Registry();
    const metrics = new GeowardenMetrics(registry, { instance: 'gw-test', version: '9.9.9' });
    const geo = resolver(['dbip', 'geolite2', 'ipinfo']);
    const p = CountryPolicy.fromConfig(policy(), JURISDICTIONS, { decision: 'any' });
    for (const ip of ['203.0.113.10', '203.0.113.11', '2001:db8:c0::7', '198.51.100.10']) {
      const f = flow(ip);
      const judged: JudgedFlow = { flow: f, geo: geo.lookup(ip), verdict: p.judge(f, geo.lookup(ip)) };
      metrics.sink.onFlow(judged);
    }
    const values = (await registry.getSingleMetric('geowarden_geoip_disagreements_total')!.get()).values;
    const byPair = Object.fromEntries(values.map((v) => [v.labels['databases'], v.value]));
    // 203.0.113.x: CN, HK, CN twice; 2001:db8:c0::: CN, HK, HK; 198.51.100.x agrees.
    assert.deepEqual(byPair, { 'dbip,geolite2': 3, 'geolite2,ipinfo': 2, 'dbip,ipinfo': 1 });
  });
});

describe('replay with two databases that disagree', () => {
  function replay(extra: string[], decision: GeoDecisionRule) {
    const capture = join(dir, 'household.pcap');
    writeScenario(household(DOC_PLAN), capture);
    const config = join(dir, `two-databases-${decision}.yaml`);
    writeFileSync(
      config,
      `geoip:
  databases:
    - { name: dbip, country: ${dbs.dbip.country}, asn: ${dbs.dbip.asn} }
    - { name: geolite2, country: ${dbs.geolite2.country}, asn: ${dbs.geolite2.asn} }
  decision: ${decision}
  primary: geolite2
policy:
  deny_countries: [CN, RU]
`,
    );
    return runCli(['replay', capture, '-c', config, ...extra]);
  }

  it('JSON: the violation rests on the DB-IP answer, and every answer is in remote.geo_sources', () => {
    const r = replay(['--json'], 'any');
    assert.equal(r.status, 0, r.stderr);
    const flows = parseJsonLines(r.stdout).flows;
    const phone = flows.find((f) => f.remote.ip === DOC_PLAN.cn)!;
    assert.equal(phone.verdict, 'violation');
    assert.equal(phone.remote.country, 'CN', 'the country the verdict rests on, not the primary answer HK');
    assert.deepEqual(phone.remote.geo_sources, [
      { database: 'dbip', country: 'CN', registered_country: null, built: '2023-11-14T22:13:20Z', primary: false, decided: true },
      { database: 'geolite2', country: 'HK', registered_country: 'CN', built: '2024-03-09T16:00:00Z', primary: true, decided: false },
    ]);
    const de = flows.find((f) => f.remote.ip === DOC_PLAN.de)!;
    assert.equal(de.verdict, 'allowed');
    assert.deepEqual(
      de.remote.geo_sources.map((s) => s.decided),
      [true, true],
    );
    const lan = flows.find((f) => f.verdict === 'local')!;
    assert.deepEqual(lan.remote.geo_sources, []);
  });

  it('the report names the deciding database and build dates, and lists the disagreement', () => {
    const r = replay([], 'any');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /CN {2}203\.0\.113\.10:443\/tcp {2}AS64510 Example Telemetry Co\n/);
    assert.match(
      r.stdout,
      /\n {6}geo: dbip says CN \(built 2023-11-14\), geolite2 says HK \(registered CN\) \(built 2024-03-09\); decided by dbip\n/,
    );
    assert.match(r.stdout, /\ngeo databases disagree on 1 flow:\n {2}203\.0\.113\.10:443\/tcp \(redmi-note, 1 flow\): dbip says CN, geolite2 says HK; violation by dbip\n/);
  });

  it('with all, the same flow is allowed on the GeoLite2 answer, and the reason says so', () => {
    const r = replay(['--json'], 'all');
    const phone = parseJsonLines(r.stdout).flows.find((f) => f.remote.ip === DOC_PLAN.cn)!;
    assert.equal(phone.verdict, 'allowed');
    assert.equal(phone.remote.country, 'HK');
    assert.match(phone.reason, /geoip\.decision all, 1 of 2 databases object: dbip says CN, geolite2 says HK$/);
  });
});
