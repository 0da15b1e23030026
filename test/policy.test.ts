import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/load';
import type { DeviceGroupPolicy, PolicyConfig } from '../src/config/types';
import type { DeviceRef, FlowRecord } from '../src/flows/types';
import type { GeoInfo } from '../src/geo/types';
import { CountryPolicy } from '../src/policy/country-policy';
import { ISO_3166_1_ALPHA2, isIsoCountryCode } from '../src/policy/iso3166';
import {
  DEFAULT_JURISDICTIONS_FILE,
  type Jurisdictions,
  loadJurisdictions,
  parseJurisdictions,
} from '../src/policy/jurisdictions';

const ROOT = path.resolve(__dirname, '../..');

function flow(fields: Partial<Omit<FlowRecord, 'device'>> & { device?: Partial<DeviceRef> } = {}): FlowRecord {
  const { device, ...rest } = fields;
  return {
    proto: 'tcp',
    protocolNumber: 6,
    device: { ip: '192.168.1.10', mac: 'aa:bb:cc:00:00:01', hostname: null, group: null, ...device },
    localPort: 50000,
    remoteIp: '203.0.113.7',
    remotePort: 443,
    bothInternal: false,
    names: [],
    sni: null,
    httpHost: null,
    bytesOut: 1000,
    bytesIn: 5000,
    packetsOut: 10,
    packetsIn: 12,
    firstSeenUs: 1_700_000_000_000_000,
    lastSeenUs: 1_700_000_001_000_000,
    endReason: 'fin',
    ...rest,
  };
}

function geo(fields: Partial<GeoInfo> = {}): GeoInfo {
  return { country: 'FR', registeredCountry: null, asn: 64500, asOrg: null, special: false, ...fields };
}

// Small hand-made groups keep these tests about the policy, not about the shipped data.
const JURISDICTIONS: Jurisdictions = {
  asOf: '2026-11-01',
  groups: new Map([
    ['EU', new Set(['AT', 'DE', 'FR', 'IE'])],
    ['FIVE_EYES', new Set(['AU', 'CA', 'GB', 'NZ', 'US'])],
  ]),
  sources: new Map(),
};

const NO_EXCEPTIONS = { domains: [], asns: [], cidrs: [] };

function group(fields: Partial<DeviceGroupPolicy> & { name: string }): DeviceGroupPolicy {
  return {
    match: { inventoryGroups: [], cidrs: [], macs: [] },
    denyCountries: null,
    allowCountries: ['EU'],
    exceptions: NO_EXCEPTIONS,
    ...fields,
  };
}

function policyConfig(fields: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    jurisdictionsFile: null,
    unknownCountry: 'unknown',
    default: { denyCountries: ['CN', 'FIVE_EYES'], allowCountries: null },
    exceptions: NO_EXCEPTIONS,
    groups: [],
    ...fields,
  };
}

const judge = (config: PolicyConfig, f: FlowRecord, g: GeoInfo) => CountryPolicy.fromConfig(config, JURISDICTIONS).judge(f, g);

describe('CountryPolicy: local flows', () => {
  it('judges flows with both ends internal as local, before anything else', () => {
    const config = policyConfig({ exceptions: { domains: ['example.com'], asns: [], cidrs: [] } });
    assert.deepEqual(judge(config, flow({ bothInternal: true, names: ['example.com'] }), geo({ country: 'CN', special: true })), {
      verdict: 'local',
      reason: 'both ends internal',
      policy: 'default',
    });
  });

  it('judges special-purpose remotes as local, before exceptions and countries', () => {
    const config = policyConfig({ exceptions: { domains: ['example.com'], asns: [], cidrs: [] } });
    assert.deepEqual(judge(config, flow({ names: ['example.com'] }), geo({ country: 'CN', special: true })), {
      verdict: 'local',
      reason: 'remote is a private/special-purpose address',
      policy: 'default',
    });
  });

  it('names the device group even for local flows', () => {
    const config = policyConfig({ groups: [group({ name: 'iot', match: { inventoryGroups: ['iot'], cidrs: [], macs: [] } })] });
    assert.equal(judge(config, flow({ bothInternal: true, device: { group: 'iot' } }), geo()).policy, 'iot');
  });
});

describe('CountryPolicy: deny and allow lists', () => {
  it('deny list: a listed country is a violation', () => {
    assert.deepEqual(judge(policyConfig(), flow(), geo({ country: 'CN' })), {
      verdict: 'violation',
      reason: 'deny_countries: CN (policy "default")',
      policy: 'default',
    });
  });

  it('deny list: a country listed through a group names the group', () => {
    assert.deepEqual(judge(policyConfig(), flow(), geo({ country: 'GB' })), {
      verdict: 'violation',
      reason: 'deny_countries: GB via FIVE_EYES (policy "default")',
      policy: 'default',
    });
  });

  it('deny list: a country named directly is reported directly, even after its group', () => {
    const config = policyConfig({ default: { denyCountries: ['FIVE_EYES', 'US'], allowCountries: null } });
    assert.equal(judge(config, flow(), geo({ country: 'US' })).reason, 'deny_countries: US (policy "default")');
    assert.equal(judge(config, flow(), geo({ country: 'CA' })).reason, 'deny_countries: CA via FIVE_EYES (policy "default")');
  });

  it('deny list: any other country is allowed', () => {
    assert.deepEqual(judge(policyConfig(), flow(), geo({ country: 'FR' })), {
      verdict: 'allowed',
      reason: 'not in deny_countries (policy "default")',
      policy: 'default',
    });
  });

  it('an empty deny list (the default) allows every country', () => {
    const config = policyConfig({ default: { denyCountries: [], allowCountries: null } });
    assert.equal(judge(config, flow(), geo({ country: 'KP' })).verdict, 'allowed');
  });

  it('allow list: a country in a listed group is allowed', () => {
    const config = policyConfig({ default: { denyCountries: null, allowCountries: ['EU', 'CH'] } });
    assert.deepEqual(judge(config, flow(), geo({ country: 'DE' })), {
      verdict: 'allowed',
      reason: 'allow_countries: DE via EU (policy "default")',
      policy: 'default',
    });
    assert.equal(judge(config, flow(), geo({ country: 'CH' })).reason, 'allow_countries: CH (policy "default")');
  });

  it('allow list: any other country is a violation', () => {
    const config = policyConfig({ default: { denyCountries: null, allowCountries: ['EU'] } });
    assert.deepEqual(judge(config, flow(), geo({ country: 'US' })), {
      verdict: 'violation',
      reason: 'not in allow_countries (policy "default")',
      policy: 'default',
    });
  });

  it('accepts a lowercase country from the geo stage', () => {
    assert.equal(judge(policyConfig(), flow(), geo({ country: 'cn' })).verdict, 'violation');
  });
});

describe('CountryPolicy: unknown country', () => {
  for (const setting of ['unknown', 'violation', 'allowed'] as const) {
    it(`gives the unknown_country setting (${setting})`, () => {
      assert.deepEqual(judge(policyConfig({ unknownCountry: setting }), flow(), geo({ country: null })), {
        verdict: setting,
        reason: 'country unknown',
        policy: 'default',
      });
    });
  }

  it('ignores the registered country', () => {
    assert.equal(judge(policyConfig(), flow(), geo({ country: null, registeredCountry: 'CN' })).verdict, 'unknown');
  });
});

describe('CountryPolicy: exceptions', () => {
  const config = policyConfig({
    exceptions: { domains: ['example.com'], asns: [13335], cidrs: ['198.51.100.0/24', '2001:db8::/32'] },
  });
  const cn = geo({ country: 'CN' });
  const domainReason = 'exception: domain suffix example.com (policy "default")';

  it('matches a domain suffix in the DNS names, SNI or HTTP Host', () => {
    for (const f of [
      flow({ names: ['cdn.other.net', 'api.example.com'] }),
      flow({ sni: 'api.example.com' }),
      flow({ httpHost: 'api.example.com:8080' }),
    ]) {
      assert.deepEqual(judge(config, f, cn), { verdict: 'allowed', reason: domainReason, policy: 'default' });
    }
  });

  it('matches on label boundaries only', () => {
    assert.equal(judge(config, flow({ names: ['example.com'] }), cn).reason, domainReason);
    assert.equal(judge(config, flow({ names: ['a.b.example.com'] }), cn).reason, domainReason);
    assert.equal(judge(config, flow({ names: ['API.Example.COM.'] }), cn).reason, domainReason);
    assert.equal(judge(config, flow({ names: ['badexample.com'] }), cn).verdict, 'violation');
    assert.equal(judge(config, flow({ sni: 'example.com.evil.net' }), cn).verdict, 'violation');
    assert.equal(judge(config, flow({ httpHost: 'xexample.com' }), cn).verdict, 'violation');
  });

  it('matches the remote AS number', () => {
    assert.deepEqual(judge(config, flow(), geo({ country: 'CN', asn: 13335 })), {
      verdict: 'allowed',
      reason: 'exception: asn 13335 (policy "default")',
      policy: 'default',
    });
  });

  it('matches the remote address against CIDR blocks, IPv4 and IPv6', () => {
    assert.equal(judge(config, flow({ remoteIp: '198.51.100.99' }), cn).reason, 'exception: cidr 198.51.100.0/24 (policy "default")');
    assert.equal(judge(config, flow({ remoteIp: '2001:db8:1::5' }), cn).reason, 'exception: cidr 2001:db8::/32 (policy "default")');
    assert.equal(judge(config, flow({ remoteIp: '198.51.101.1' }), cn).verdict, 'violation');
  });

  it('apply before the unknown-country rule', () => {
    assert.equal(judge(config, flow({ sni: 'www.example.com' }), geo({ country: null })).reason, domainReason);
  });

  it("tries the group's exceptions before the global ones, and names where each is defined", () => {
    const withGroup = policyConfig({
      exceptions: { domains: ['example.com'], asns: [], cidrs: [] },
      groups: [
        group({
          name: 'iot',
          match: { inventoryGroups: ['iot'], cidrs: [], macs: [] },
          exceptions: { domains: ['vendor.example.com'], asns: [64501], cidrs: [] },
        }),
      ],
    });
    const device = { group: 'iot' };
    assert.deepEqual(judge(withGroup, flow({ device, sni: 'fw.vendor.example.com' }), cn), {
      verdict: 'allowed',
      reason: 'exception: domain suffix vendor.example.com (policy "iot")',
      policy: 'iot',
    });
    assert.deepEqual(judge(withGroup, flow({ device, sni: 'www.example.com' }), cn), {
      verdict: 'allowed',
      reason: 'exception: domain suffix example.com (policy "default")',
      policy: 'iot',
    });
    assert.equal(judge(withGroup, flow({ device }), geo({ country: 'CN', asn: 64501 })).reason, 'exception: asn 64501 (policy "iot")');
    // A group's exceptions do not leak to devices outside it.
    assert.equal(judge(withGroup, flow({ sni: 'fw.vendor.example.com' }), geo({ country: 'CN', asn: 64501 })).reason, domainReason);
    assert.equal(judge(withGroup, flow(), geo({ country: 'CN', asn: 64501 })).verdict, 'violation');
  });
});

describe('CountryPolicy: device groups', () => {
  const config = policyConfig({
    groups: [
      group({ name: 'cameras', match: { inventoryGroups: [], cidrs: [], macs: ['B8-27-EB-0A-1B-2C'] }, allowCountries: ['DE'] }),
      group({ name: 'iot', match: { inventoryGroups: ['iot', 'plugs'], cidrs: ['192.168.20.0/24', 'fd00:20::/64'], macs: [] } }),
      group({ name: 'servers', match: { inventoryGroups: ['servers'], cidrs: [], macs: [] }, denyCountries: ['US'], allowCountries: null }),
    ],
  });
  const us = geo({ country: 'US' });

  it('selects a group by inventory group', () => {
    assert.deepEqual(judge(config, flow({ device: { group: 'plugs' } }), us), {
      verdict: 'violation',
      reason: 'not in allow_countries (policy "iot")',
      policy: 'iot',
    });
    assert.deepEqual(judge(config, flow({ device: { group: 'servers' } }), us), {
      verdict: 'violation',
      reason: 'deny_countries: US (policy "servers")',
      policy: 'servers',
    });
  });

  it('selects a group by device address, IPv4 or IPv6', () => {
    assert.equal(judge(config, flow({ device: { ip: '192.168.20.31' } }), us).policy, 'iot');
    assert.equal(judge(config, flow({ device: { ip: 'fd00:20::abcd' } }), us).policy, 'iot');
    assert.deepEqual(judge(config, flow({ device: { ip: '192.168.20.31' } }), geo({ country: 'AT' })), {
      verdict: 'allowed',
      reason: 'allow_countries: AT via EU (policy "iot")',
      policy: 'iot',
    });
  });

  it('selects a group by MAC, whatever its spelling', () => {
    assert.deepEqual(judge(config, flow({ device: { mac: 'b8:27:eb:0a:1b:2c' } }), geo({ country: 'DE' })), {
      verdict: 'allowed',
      reason: 'allow_countries: DE (policy "cameras")',
      policy: 'cameras',
    });
  });

  it('takes the first group that matches', () => {
    // In both "cameras" (by MAC) and "iot" (by address and inventory group).
    const device = { mac: 'b8:27:eb:0a:1b:2c', ip: '192.168.20.31', group: 'iot' };
    assert.equal(judge(config, flow({ device }), us).policy, 'cameras');
  });

  it('falls back to the default policy', () => {
    const device = { mac: null, ip: '192.168.1.50', group: 'printers' };
    assert.deepEqual(judge(config, flow({ device }), us), {
      verdict: 'violation',
      reason: 'deny_countries: US via FIVE_EYES (policy "default")',
      policy: 'default',
    });
  });
});

describe('CountryPolicy.fromConfig', () => {
  it('refuses a list entry that is neither a country nor a known group', () => {
    const config = policyConfig({ default: { denyCountries: ['CN', 'EEA'], allowCountries: null } });
    assert.throws(() => CountryPolicy.fromConfig(config, JURISDICTIONS), /"EEA" is neither a country code nor a jurisdiction group/);
  });

  it('judges the example config with the shipped jurisdictions', () => {
    const config = loadConfig(path.join(ROOT, 'config/geowarden.example.yaml'));
    const policy = CountryPolicy.fromConfig(config.policy, loadJurisdictions(config.policy.jurisdictionsFile));
    const camera = { ip: '192.168.20.40' };
    assert.equal(policy.judge(flow({ device: camera }), geo({ country: 'PT' })).reason, 'allow_countries: PT via EU (policy "iot")');
    assert.equal(policy.judge(flow({ device: camera }), geo({ country: 'NO' })).reason, 'not in allow_countries (policy "iot")');
    assert.equal(policy.judge(flow(), geo({ country: 'RU' })).reason, 'deny_countries: RU (policy "default")');
    assert.equal(
      policy.judge(flow({ device: camera, names: ['2.pool.ntp.org'] }), geo({ country: 'RU' })).reason,
      'exception: domain suffix ntp.org (policy "default")',
    );
  });
});

describe('ISO 3166-1', () => {
  it('has the 249 officially assigned codes', () => {
    assert.equal(ISO_3166_1_ALPHA2.size, 249);
    assert.ok(isIsoCountryCode('GB') && isIsoCountryCode('SS') && isIsoCountryCode('BQ'));
    assert.ok(!isIsoCountryCode('UK') && !isIsoCountryCode('EU') && !isIsoCountryCode('XK') && !isIsoCountryCode('gb'));
  });

  // tzdata's table is maintained independently of this code; compare when the system has it.
  const tab = '/usr/share/zoneinfo/iso3166.tab';
  it('agrees with the system tzdata table', { skip: !fs.existsSync(tab) && 'no tzdata iso3166.tab' }, () => {
    const codes = fs
      .readFileSync(tab, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z]{2}\t/.test(line))
      .map((line) => line.slice(0, 2));
    assert.deepEqual([...ISO_3166_1_ALPHA2].sort(), codes.sort());
  });
});

describe('jurisdictions', () => {
  it('ships a dated file with the expected groups', () => {
    assert.equal(DEFAULT_JURISDICTIONS_FILE, path.join(ROOT, 'config/jurisdictions.yaml'));
    const j = loadJurisdictions();
    assert.equal(j.asOf, '2026-11-01');
    assert.deepEqual([...j.groups.keys()], ['EU', 'EEA', 'EU_ADEQUACY', 'FIVE_EYES']);
    const eu = j.groups.get('EU')!;
    assert.equal(eu.size, 27);
    assert.ok(!eu.has('GB') && eu.has('HR') && eu.has('GR'));
    assert.deepEqual([...j.groups.get('EEA')!].sort(), [...eu, 'IS', 'LI', 'NO'].sort());
    assert.deepEqual(
      [...j.groups.get('EU_ADEQUACY')!].sort(),
      ['AD', 'AR', 'CA', 'CH', 'FO', 'GB', 'GG', 'IL', 'IM', 'JE', 'JP', 'KR', 'NZ', 'US', 'UY'],
    );
    assert.deepEqual([...j.groups.get('FIVE_EYES')!].sort(), ['AU', 'CA', 'GB', 'NZ', 'US']);
    for (const name of j.groups.keys()) assert.ok((j.sources.get(name) ?? '').length > 20, `sources for ${name}`);
  });

  function problemLines(text: string): string[] {
    try {
      parseJurisdictions('j.yaml', text);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message.split('\n');
    }
    assert.fail('expected a ConfigError');
  }

  it('reports every problem of a jurisdictions file', () => {
    const text = [
      'as_of: 2026-11-01',
      'groups:',
      '  BENELUX:',
      '    sources: Benelux Union treaty',
      '    countries: [BE, NL, LU, NL, XX, 7]',
      '  Nordic:',
      '    countries: [DK]',
      '  IT:',
      '    sources: a country code as a group name',
      '    countries: [IT]',
      '    members: [SM]',
      'version: 2',
    ].join('\n');
    assert.deepEqual(problemLines(text), [
      'j.yaml: groups.BENELUX.countries[3]: "NL" is listed twice',
      'j.yaml: groups.BENELUX.countries[4]: "XX" is not an ISO 3166-1 alpha-2 code',
      'j.yaml: groups.BENELUX.countries[5]: expected a country code, got 7',
      'j.yaml: groups.Nordic: "Nordic" is not a group name (use uppercase letters, digits and _, starting with a letter)',
      'j.yaml: groups.Nordic.sources: is required',
      'j.yaml: groups.IT: "IT" is a country code; a group name must not be one',
      'j.yaml: groups.IT.members: unknown key (known keys: sources, countries)',
      'j.yaml: version: unknown key (known keys: as_of, groups)',
    ]);
  });

  it('requires a date and at least one group', () => {
    assert.deepEqual(problemLines('groups: {}\n'), ['j.yaml: as_of: is required', 'j.yaml: groups: defines no group']);
    assert.deepEqual(problemLines('as_of: soon\ngroups: [EU]\n'), [
      'j.yaml: as_of: "soon" is not a date (use YYYY-MM-DD)',
      'j.yaml: groups: expected a mapping, got a list',
    ]);
  });
});
