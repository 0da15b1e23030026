import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration, parseSize } from '../src/config/duration';
import { applyOverrides, ConfigError, defaultConfig, loadConfig } from '../src/config/load';
import { buildConfigSchema, closestKey } from '../src/config/schema';
import type { Config } from '../src/config/types';
import { DEFAULT_INTERNAL_NETWORKS } from '../src/net/address';

// Tests run from dist/test/; data files stay in the source tree.
const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/config');
const EXAMPLE = path.join(ROOT, 'config/geowarden.example.yaml');
const fixture = (name: string) => path.join(FIXTURES, name);

const GROUPS = '(groups: EU, EEA, EU_ADEQUACY, FIVE_EYES)';

/**
 * The exact lines each invalid fixture must produce. `{file}` is the fixture's path as passed to
 * loadConfig, `{dir}` the fixtures directory.
 */
const EXPECTED: Record<string, string[]> = {
  'invalid-country.yaml': [
    `{file}: policy.deny_countries[2]: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group ${GROUPS}`,
  ],
  'invalid-group-name.yaml': [
    `{file}: policy.groups[0].allow_countries[1]: "EUROPE" is not an ISO 3166-1 alpha-2 code or a jurisdiction group ${GROUPS}`,
  ],
  'invalid-cidr.yaml': ['{file}: networks.internal[0]: "10.0.0.0/33" is not a CIDR block'],
  'invalid-duration.yaml': [
    '{file}: flows.tcp_idle_timeout: "5 minutes" is not a duration (use 90s, 5m, 1h)',
    '{file}: flows.udp_idle_timeout: 0 is too short (at least 1s)',
    '{file}: dns.grace: -1 is not a duration (use 90s, 5m, 1h)',
  ],
  'invalid-unknown-key.yaml': [
    '{file}: flows.tcp_idle_timout: unknown key (did you mean "tcp_idle_timeout"?)',
    '{file}: flows.maxFlows: unknown key (did you mean "max_flows"?)',
    '{file}: flows.colour: unknown key (known keys: max_flows, tcp_idle_timeout, udp_idle_timeout, icmp_idle_timeout, active_timeout, quic)',
    '{file}: polcy: unknown key (did you mean "policy"?)',
  ],
  'invalid-deny-and-allow.yaml': ['{file}: policy: set either deny_countries or allow_countries, not both'],
  'invalid-inventory-entry.yaml': [
    '{file}: devices.inventory[1]: needs a mac or an ip',
    '{file}: devices.inventory[2].name: is required',
  ],
  'invalid-yaml-syntax.yaml': [
    '{file}: line 5, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ],
  'invalid-duplicate-key.yaml': ['{file}: line 4, column 3: Map keys must be unique'],
  'invalid-wrong-type.yaml': [
    '{file}: capture.interfaces: expected a list, got "eth1"',
    '{file}: capture.promiscuous: expected true or false, got "yes"',
    '{file}: capture.snaplen: "1500" is not an integer from 64 to 262144',
    '{file}: dns: expected a mapping, got a list',
  ],
  'invalid-negative-max-flows.yaml': [
    '{file}: flows.max_flows: -5 is not a positive integer',
    '{file}: devices.max_devices: 1.5 is not a positive integer',
  ],
  'invalid-size.yaml': [
    '{file}: capture.buffer_size: "32M" is not a size (use a number of bytes or 512KiB, 32MiB, 1GiB)',
  ],
  'invalid-size-large.yaml': ['{file}: capture.buffer_size: "4GiB" is more than libpcap accepts (2147483647 bytes)'],
  'invalid-reserved-code.yaml': [
    '{file}: policy.allow_countries[0]: "uk" is not an ISO 3166-1 alpha-2 code (the United Kingdom is GB)',
    '{file}: policy.allow_countries[1]: "EL" is not an ISO 3166-1 alpha-2 code (Greece is GR)',
  ],
  'invalid-groups.yaml': [
    '{file}: policy.groups[0].name: "default" is the name of the rules outside groups; pick another',
    '{file}: policy.groups[1].match: needs at least one of inventory_groups, cidrs, macs',
    '{file}: policy.groups[2]: needs deny_countries or allow_countries',
    '{file}: policy.groups[2].name: "iot" is already the name of policy.groups[1]',
    '{file}: policy.groups[3]: set either deny_countries or allow_countries, not both',
    '{file}: policy.groups[3].name: "lab devices" is not a policy name (use letters, digits, _ . -)',
  ],
  'invalid-values.yaml': [
    '{file}: devices.inventory[0].mac: "3c:22:fb:12:34" is not a MAC address (use aa:bb:cc:dd:ee:ff)',
    '{file}: devices.inventory[0].ip: "192.168.1.300" is not an IP address',
    '{file}: devices.inventory[0].name: must not be empty',
    '{file}: policy.unknown_country: "deny" is not one of unknown, violation, allowed',
    '{file}: policy.exceptions.domains[0]: "*.example.com" is not a domain suffix (write example.com; it also matches subdomains)',
    '{file}: policy.exceptions.domains[1]: "exa mple.com" is not a domain suffix',
    '{file}: policy.exceptions.asns[0]: "AS-13335" is not an AS number (use 13335 or AS13335)',
    '{file}: policy.exceptions.asns[1]: -1 is not an AS number (use 13335 or AS13335)',
    '{file}: policy.exceptions.cidrs[1]: "2001:db8::/129" is not a CIDR block',
  ],
  'invalid-top-level.yaml': ['{file}: expected a mapping, got a list'],
  // The broken file's own problems carry its name; NORDICS in the config is not reported
  // because the groups it could refer to are unknown.
  'invalid-jurisdictions-file.yaml': [
    '{dir}/jurisdictions-broken.yaml: as_of: "2026-13-45" is not a date (use YYYY-MM-DD)',
    '{dir}/jurisdictions-broken.yaml: groups.NORDICS.countries[2]: "is" is not an ISO 3166-1 alpha-2 code (codes are uppercase)',
    '{dir}/jurisdictions-broken.yaml: groups.NORDICS.countries[5]: "DK" is listed twice',
    '{dir}/jurisdictions-broken.yaml: groups.nordics: "nordics" is not a group name (use uppercase letters, digits and _, starting with a letter)',
    '{dir}/jurisdictions-broken.yaml: groups.DE: "DE" is a country code; a group name must not be one',
    '{dir}/jurisdictions-broken.yaml: groups.EMPTY.countries: a group needs at least one country',
  ],
  'invalid-jurisdictions-missing.yaml': [
    '{file}: policy.jurisdictions_file: "no-such-jurisdictions.yaml" does not exist (resolved to {dir}/no-such-jurisdictions.yaml)',
  ],
  'invalid-multiple.yaml': [
    '{file}: capture.buffer_size: "lots" is not a size (use a number of bytes or 512KiB, 32MiB, 1GiB)',
    '{file}: networks.internal: needs at least one CIDR block',
    '{file}: flows.max_flows: 0 is not a positive integer',
    '{file}: flows.active_timeout: "30 min" is not a duration (use 90s, 5m, 1h)',
    '{file}: geoip.country: "missing-country.mmdb" does not exist (resolved to {dir}/missing-country.mmdb)',
    `{file}: policy.deny_countries[1]: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group ${GROUPS}`,
    '{file}: policy.exeptions: unknown key (did you mean "exceptions"?)',
  ],
};

function problemLines(load: () => unknown): string[] {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

/** A scratch directory with the given files, removed after the callback. */
function withFiles<T>(files: Record<string, string>, use: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geowarden-config-'));
  try {
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return use(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('invalid config fixtures', () => {
  it('has an expectation for every invalid-*.yaml fixture', () => {
    const files = fs.readdirSync(FIXTURES).filter((f) => /^invalid-.*\.yaml$/.test(f)).sort();
    assert.deepEqual(files, Object.keys(EXPECTED).sort());
    assert.ok(files.length >= 10);
  });

  for (const [name, lines] of Object.entries(EXPECTED)) {
    it(`${name} fails with the expected lines`, () => {
      const file = fixture(name);
      const expected = lines.map((l) => l.replaceAll('{file}', file).replaceAll('{dir}', FIXTURES));
      assert.deepEqual(problemLines(() => loadConfig(file)), expected);
    });
  }

  it('exposes each line as a problem with file, path and message', () => {
    const file = fixture('invalid-inventory-entry.yaml');
    try {
      loadConfig(file);
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [
        { file, path: 'devices.inventory[1]', message: 'needs a mac or an ip' },
        { file, path: 'devices.inventory[2].name', message: 'is required' },
      ]);
    }
  });

  it('names the file as given, relative or not', () => {
    const relative = path.relative(process.cwd(), fixture('invalid-cidr.yaml'));
    assert.deepEqual(problemLines(() => loadConfig(relative)), [
      `${relative}: networks.internal[0]: "10.0.0.0/33" is not a CIDR block`,
    ]);
  });

  it('reports a file that cannot be read', () => {
    const file = fixture('does-not-exist.yaml');
    assert.deepEqual(problemLines(() => loadConfig(file)), [`${file}: cannot read the file: no such file`]);
  });
});

describe('example config', () => {
  it('loads with the values it documents', () => {
    const config = loadConfig(EXAMPLE);
    assert.equal(config.sourceFile, EXAMPLE);
    assert.equal(config.instance, 'gw-office-1');
    assert.deepEqual(config.capture, {
      interfaces: ['eth1'],
      bpf: '',
      snaplen: 262144,
      bufferSizeBytes: 128 * 1024 * 1024,
      promiscuous: true,
    });
    assert.deepEqual(config.flows, {
      maxFlows: 200000,
      tcpIdleTimeoutS: 300,
      udpIdleTimeoutS: 60,
      icmpIdleTimeoutS: 60,
      activeTimeoutS: 1800,
      quic: true,
    });
    assert.deepEqual(config.dns, { maxEntries: 200000, graceS: 3600, minTtlS: 60 });
    assert.deepEqual(config.devices.inventory, [
      { mac: '3c:22:fb:12:34:56', ip: '192.168.1.20', name: 'nas', group: 'servers' },
      { mac: 'b8:27:eb:0a:1b:2c', ip: null, name: 'thermostat', group: 'iot' },
    ]);
    assert.deepEqual(config.policy.default, { denyCountries: ['CN', 'RU', 'KP', 'IR', 'BY'], allowCountries: null });
    assert.deepEqual(config.policy.exceptions, { domains: ['ntp.org'], asns: [13335], cidrs: ['192.0.2.0/24'] });
    assert.equal(config.policy.groups.length, 1);
    const iot = config.policy.groups[0]!;
    assert.equal(iot.name, 'iot');
    assert.deepEqual(iot.match, { inventoryGroups: ['iot'], cidrs: ['192.168.20.0/24'], macs: [] });
    assert.deepEqual(iot.allowCountries, ['EU']);
    assert.equal(iot.denyCountries, null);
  });

  it('shows every key the schema accepts', () => {
    const schema = buildConfigSchema({ jurisdictionGroups: null, baseDir: ROOT });
    const text = fs.readFileSync(EXAMPLE, 'utf8');
    const document: unknown = parseYaml(text);
    // Only one of the two lists can be set; the other is shown commented out. Likewise the keys
    // of the geoip.update source kinds the example does not use (one source per role).
    const commentedOut = new Set([
      'policy.allow_countries',
      'policy.groups.deny_countries',
      ...['edition_id', 'account_id', 'license_key', 'license_key_file', 'token', 'token_file', 'url'].map((k) => `geoip.update.sources.${k}`),
      // geoip.databases replaces geoip.country/asn, so the example shows it commented out.
      ...['databases', 'databases.name', 'databases.country', 'databases.asn', 'primary'].map((k) => `geoip.${k}`),
    ]);
    const missing = keyPaths(schema).filter((keys) => {
      const dotted = keys.join('.');
      // A commented-out list entry keeps its YAML indentation and "- " after the "#".
      if (commentedOut.has(dotted)) return !new RegExp(`^\\s*#[\\s#-]*${keys.at(-1)}:`, 'm').test(text);
      return !hasPath(document, keys);
    });
    assert.deepEqual(missing.map((k) => k.join('.')), []);
  });
});

/** Every key path of an object schema; list elements are looked into without an index. */
function keyPaths(schema: z.ZodTypeAny, prefix: string[] = []): string[][] {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else if (s instanceof z.ZodArray) s = s.element;
    else break;
  }
  if (!(s instanceof z.ZodObject)) return [];
  return Object.entries(s.shape as z.ZodRawShape).flatMap(([key, child]) => [
    [...prefix, key],
    ...keyPaths(child, [...prefix, key]),
  ]);
}

/** Whether the key path exists; inside a list, in any element. */
function hasPath(value: unknown, keys: readonly string[]): boolean {
  if (keys.length === 0) return true;
  if (Array.isArray(value)) return value.some((v) => hasPath(v, keys));
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return keys[0]! in record && hasPath(record[keys[0]!], keys.slice(1));
}

describe('defaults', () => {
  it('null gives the defaults with no source file', () => {
    const config = loadConfig(null);
    assert.deepEqual(config, defaultConfig());
    assert.equal(config.sourceFile, null);
    assert.equal(config.instance, os.hostname());
    assert.deepEqual(config.internalNetworks, [...DEFAULT_INTERNAL_NETWORKS]);
    assert.deepEqual(config.flows, {
      maxFlows: 200000,
      tcpIdleTimeoutS: 300,
      udpIdleTimeoutS: 60,
      icmpIdleTimeoutS: 60,
      activeTimeoutS: 1800,
    });
    assert.deepEqual(config.dns, { maxEntries: 200000, graceS: 3600, minTtlS: 60 });
    assert.equal(config.capture.bufferSizeBytes, 134217728);
    assert.deepEqual(config.devices, { maxDevices: 10000, inventory: [] });
    assert.deepEqual(config.geoip, { country: null, asn: null, cacheSize: 100000, update: null });
    assert.deepEqual(config.policy, {
      jurisdictionsFile: null,
      unknownCountry: 'unknown',
      default: { denyCountries: [], allowCountries: null },
      exceptions: { domains: [], asns: [], cidrs: [] },
      groups: [],
    });
  });

  it('returns a fresh object each time', () => {
    const a = defaultConfig();
    a.internalNetworks.push('192.0.2.0/24');
    assert.deepEqual(defaultConfig().internalNetworks, [...DEFAULT_INTERNAL_NETWORKS]);
  });

  it('an empty file, or emptied sections, give the defaults', () => {
    withFiles({ 'empty.yaml': '', 'sections.yaml': 'flows:\ndns:\npolicy:\n  deny_countries:\n' }, (dir) => {
      for (const name of ['empty.yaml', 'sections.yaml']) {
        const file = path.join(dir, name);
        assert.deepEqual(loadConfig(file), { ...defaultConfig(), sourceFile: file });
      }
    });
  });
});

describe('config values', () => {
  it('normalises codes, addresses, domains and AS numbers', () => {
    const yaml = [
      'devices:',
      '  inventory:',
      '    - {mac: "3C-22-FB-12-34-56", name: nas}',
      '    - {ip: "2001:DB8::0:1", name: laptop}',
      'policy:',
      '  allow_countries: [de, eea, "NO"]',
      '  exceptions:',
      '    domains: [.Example.COM., bücher.de]',
      '    asns: [as13335, 64512]',
    ].join('\n');
    withFiles({ 'c.yaml': yaml }, (dir) => {
      const config = loadConfig(path.join(dir, 'c.yaml'));
      assert.equal(config.devices.inventory[0]!.mac, '3c:22:fb:12:34:56');
      assert.equal(config.devices.inventory[1]!.ip, '2001:db8::1');
      assert.deepEqual(config.policy.default, { denyCountries: null, allowCountries: ['DE', 'EEA', 'NO'] });
      assert.deepEqual(config.policy.exceptions.domains, ['example.com', 'xn--bcher-kva.de']);
      assert.deepEqual(config.policy.exceptions.asns, [13335, 64512]);
    });
  });

  it('resolves relative paths against the config file directory', () => {
    const yaml = 'geoip:\n  country: db/country.mmdb\n  asn: /dev/null\npolicy:\n  jurisdictions_file: j.yaml\n  deny_countries: [NORDICS]\n';
    const jurisdictions = 'as_of: 2026-01-01\ngroups:\n  NORDICS:\n    sources: Helsinki Treaty\n    countries: [DK, FI, IS, "NO", SE]\n';
    withFiles({ 'c.yaml': yaml, 'j.yaml': jurisdictions }, (dir) => {
      fs.mkdirSync(path.join(dir, 'db'));
      fs.writeFileSync(path.join(dir, 'db/country.mmdb'), '');
      const config = loadConfig(path.join(dir, 'c.yaml'));
      assert.equal(config.geoip.country, path.join(dir, 'db/country.mmdb'));
      assert.equal(config.geoip.asn, '/dev/null');
      assert.equal(config.policy.jurisdictionsFile, path.join(dir, 'j.yaml'));
      assert.deepEqual(config.policy.default.denyCountries, ['NORDICS']);
    });
  });

  it('checks country lists against the groups of the configured jurisdictions file', () => {
    const yaml = 'policy:\n  jurisdictions_file: j.yaml\n  deny_countries: [EU]\n';
    const jurisdictions = 'as_of: 2026-01-01\ngroups:\n  NORDICS:\n    sources: Helsinki Treaty\n    countries: [DK]\n';
    withFiles({ 'c.yaml': yaml, 'j.yaml': jurisdictions }, (dir) => {
      const file = path.join(dir, 'c.yaml');
      assert.deepEqual(problemLines(() => loadConfig(file)), [
        `${file}: policy.deny_countries[0]: "EU" is not an ISO 3166-1 alpha-2 code or a jurisdiction group (groups: NORDICS)`,
      ]);
    });
  });

  it('accepts XK, the code GeoIP databases use for Kosovo', () => {
    withFiles({ 'c.yaml': 'policy:\n  deny_countries: [xk]\n' }, (dir) => {
      assert.deepEqual(loadConfig(path.join(dir, 'c.yaml')).policy.default.denyCountries, ['XK']);
    });
  });
});

describe('durations and sizes', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('5m'), 300);
    assert.equal(parseDuration('1h'), 3600);
    assert.equal(parseDuration('1d'), 86400);
    assert.equal(parseDuration('1h30m'), 5400);
    assert.equal(parseDuration(45), 45);
    assert.equal(parseDuration('45'), 45);
    assert.equal(parseDuration(0), 0);
    for (const bad of ['5 minutes', '5mm', 'm', '', '-5s', -1, Infinity, true, null, '1w']) {
      assert.equal(parseDuration(bad), null, String(bad));
    }
  });

  it('parses sizes', () => {
    assert.equal(parseSize('32MiB'), 33554432);
    assert.equal(parseSize('512KiB'), 524288);
    assert.equal(parseSize('1GiB'), 1073741824);
    assert.equal(parseSize('2MB'), 2000000);
    assert.equal(parseSize('32 MiB'), 33554432);
    assert.equal(parseSize('1.5KiB'), 1536);
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize('4096'), 4096);
    for (const bad of ['32M', '32 megs', 'MiB', -1, 1.5, '', null]) assert.equal(parseSize(bad), null, String(bad));
  });

  it('hints at the key meant', () => {
    const known = ['max_flows', 'tcp_idle_timeout', 'active_timeout'];
    assert.equal(closestKey('max-flows', known), 'max_flows');
    assert.equal(closestKey('MaxFlows', known), 'max_flows');
    assert.equal(closestKey('tcp_idle_timout', known), 'tcp_idle_timeout');
    assert.equal(closestKey('active', known), 'active_timeout');
    assert.equal(closestKey('colour', known), null);
  });
});

describe('applyOverrides', () => {
  const base = (): Config => loadConfig(EXAMPLE);

  it('replaces the default allow list with a deny list, leaving groups alone', () => {
    const config = base();
    config.policy.default = { denyCountries: null, allowCountries: ['EEA'] };
    const next = applyOverrides(config, { denyCountries: ['ru', 'FIVE_EYES'] });
    assert.deepEqual(next.policy.default, { denyCountries: ['RU', 'FIVE_EYES'], allowCountries: null });
    assert.deepEqual(next.policy.groups, config.policy.groups);
    assert.deepEqual(config.policy.default, { denyCountries: null, allowCountries: ['EEA'] }, 'input untouched');
  });

  it('replaces the default deny list with an allow list', () => {
    const next = applyOverrides(base(), { allowCountries: ['EEA,EU_ADEQUACY'] });
    assert.deepEqual(next.policy.default, { denyCountries: null, allowCountries: ['EEA', 'EU_ADEQUACY'] });
  });

  it('replaces networks, databases, interfaces and the filter', () => {
    withFiles({ 'country.mmdb': '' }, (dir) => {
      const db = path.join(dir, 'country.mmdb');
      const next = applyOverrides(base(), {
        internal: ['10.1.0.0/16', '2001:db8::/32'],
        geoipCountry: db,
        interfaces: ['eth1,eth2'],
        bpf: 'not port 22',
      });
      assert.deepEqual(next.internalNetworks, ['10.1.0.0/16', '2001:db8::/32']);
      assert.equal(next.geoip.country, db);
      assert.equal(next.geoip.asn, null);
      assert.deepEqual(next.capture.interfaces, ['eth1', 'eth2']);
      assert.equal(next.capture.bpf, 'not port 22');
    });
  });

  it('reports bad values with the flag as the file', () => {
    const missing = path.resolve('no-such.mmdb');
    assert.deepEqual(
      problemLines(() =>
        applyOverrides(base(), {
          denyCountries: ['CN', 'XX', 'uk'],
          internal: ['10.0.0.0/33'],
          geoipAsn: 'no-such.mmdb',
        }),
      ),
      [
        `--deny-countries: "XX" is not an ISO 3166-1 alpha-2 code or a jurisdiction group ${GROUPS}`,
        '--deny-countries: "uk" is not an ISO 3166-1 alpha-2 code (the United Kingdom is GB)',
        '--internal: "10.0.0.0/33" is not a CIDR block',
        `--geoip-asn: "no-such.mmdb" does not exist (resolved to ${missing})`,
      ],
    );
  });

  it('refuses a deny and an allow list together, and an empty internal list', () => {
    assert.deepEqual(problemLines(() => applyOverrides(base(), { denyCountries: ['CN'], allowCountries: ['EU'], internal: [] })), [
      '--deny-countries: cannot be combined with --allow-countries',
      '--internal: needs at least one CIDR block',
    ]);
  });

  it('changes nothing without overrides', () => {
    assert.deepEqual(applyOverrides(base(), {}), base());
  });
});
