/**
 * Encrypted DNS and unattributed traffic: the shipped resolver list loads and rejects bad copies
 * with the path of the problem; classification by port, address, SNI, DNS name and ALPN; the
 * unattributed rule; the per-device tally; the metrics the sink exports for both.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { ConfigError, formatProblem, loadConfig } from '../src/config/load';
import {
  EncryptedDnsClassifier,
  loadEncryptedResolvers,
  parseEncryptedResolvers,
  type EncryptedDnsInput,
} from '../src/flows/encrypted-dns';
import type { FlowRecord } from '../src/flows/types';
import { isUnattributed } from '../src/flows/unattributed';
import { GeowardenMetrics } from '../src/metrics/geowarden-metrics';
import { countBlindSpots, describeEncryptedDns, newBlindSpots } from '../src/sinks/blind-spots';

const TCP = 6;
const UDP = 17;

function input(o: Partial<EncryptedDnsInput>): EncryptedDnsInput {
  return { protocolNumber: TCP, remotePort: 443, remoteIp: '192.0.2.10', sni: null, names: [], alpn: null, appProtocol: null, ...o };
}

function problems(text: string): string[] {
  try {
    parseEncryptedResolvers('list.yaml', text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map(formatProblem);
  }
  return [];
}

describe('resolver list', () => {
  it('the shipped list loads, is dated, and names the well-known resolvers', () => {
    const list = loadEncryptedResolvers();
    assert.match(list.asOf, /^\d{4}-\d{2}-\d{2}$/);
    const names = list.resolvers.map((r) => r.name);
    for (const n of ['cloudflare-dns.com', 'dns.google', 'dns.quad9.net', 'dns.adguard-dns.com', 'dns.nextdns.io', 'doh.opendns.com', 'dns.mullvad.net']) {
      assert.ok(names.includes(n), n);
    }
    const cf = list.resolvers.find((r) => r.name === 'cloudflare-dns.com')!;
    assert.ok(cf.addresses.includes('1.1.1.1') && cf.addresses.includes('2606:4700:4700::1111'));
  });

  it('reports bad entries with their path', () => {
    const found = problems(`as_of: 2026-13-01
resolvers:
  - name: a.example
    provider: A
    addresses: [1.2.3.4, not-an-address]
    sni: ["*.b.example", "bad name!"]
  - name: c.example
    provider: C
    addresses: [1.2.3.4]
  - name: d.example
    provider: D
    color: blue
`);
    for (const want of [
      'list.yaml: as_of: "2026-13-01" is not a date (use YYYY-MM-DD)',
      'list.yaml: resolvers[0].addresses[1]: "not-an-address" is not an IP address',
      'list.yaml: resolvers[0].sni[1]: "bad name!" is not a domain suffix',
      'list.yaml: resolvers[2].color: unknown key (known keys: name, provider, addresses, sni)',
    ]) {
      assert.ok(found.includes(want), `${want}\n  in: ${found.join('\n      ')}`);
    }
    assert.deepEqual(problems('as_of: 2026-01-01\nresolvers: []\n'), ['list.yaml: resolvers: lists no resolver']);
  });

  it('rejects an address listed twice and an entry with neither addresses nor SNI', () => {
    const found = problems(`as_of: 2026-01-01
resolvers:
  - { name: a.example, provider: A, addresses: [1.2.3.4] }
  - { name: c.example, provider: C, addresses: ["1.2.3.4"] }
  - { name: d.example, provider: D }
`);
    assert.deepEqual(found, [
      'list.yaml: resolvers[1].addresses[0]: address 1.2.3.4 is already listed under resolvers[0]',
      'list.yaml: resolvers[2]: needs addresses or sni',
    ]);
  });

  it('a config naming a broken list fails check-config with the list file and path', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'geowarden-doh-'));
    try {
      writeFileSync(path.join(dir, 'mine.yaml'), 'as_of: 2026-01-01\nresolvers:\n  - { name: x.example, provider: X, addresses: [999.1.1.1] }\n');
      writeFileSync(path.join(dir, 'geowarden.yaml'), 'dns:\n  encrypted_resolvers_file: mine.yaml\nflows:\n  quic: false\n');
      assert.throws(
        () => loadConfig(path.join(dir, 'geowarden.yaml')),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.problems.map(formatProblem).join('\n') === `${path.join(dir, 'mine.yaml')}: resolvers[0].addresses[0]: "999.1.1.1" is not an IP address`,
      );
      writeFileSync(path.join(dir, 'mine.yaml'), 'as_of: 2026-01-01\nresolvers:\n  - { name: x.example, provider: X, addresses: [192.0.2.53] }\n');
      const config = loadConfig(path.join(dir, 'geowarden.yaml'));
      assert.equal(config.dns.encryptedResolversFile, path.join(dir, 'mine.yaml'));
      assert.equal(config.flows.quic, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EncryptedDnsClassifier', () => {
  const c = new EncryptedDnsClassifier(
    parseEncryptedResolvers(
      'test.yaml',
      `as_of: 2026-01-01
resolvers:
  - { name: cloudflare-dns.com, provider: Cloudflare, addresses: [1.1.1.1, "2606:4700:4700::1111"], sni: ["*.cloudflare-dns.com", one.one.one.one] }
  - { name: dns.nextdns.io, provider: NextDNS, sni: [dns.nextdns.io, "*.dns.nextdns.io"] }
`,
    ),
  );

  it('DoT: any TCP/853 (RFC 7858 §3.1), named by the list, else the SNI, else the address', () => {
    assert.deepEqual(c.classify(input({ remotePort: 853, remoteIp: '1.1.1.1' })), { kind: 'dot', resolver: 'cloudflare-dns.com' });
    assert.deepEqual(c.classify(input({ remotePort: 853, sni: 'abc123.dns.nextdns.io' })), { kind: 'dot', resolver: 'dns.nextdns.io' });
    assert.deepEqual(c.classify(input({ remotePort: 853, sni: 'dot.example.org' })), { kind: 'dot', resolver: 'dot.example.org' });
    assert.deepEqual(c.classify(input({ remotePort: 853 })), { kind: 'dot', resolver: '192.0.2.10' });
  });

  it('DoQ: UDP/853, or QUIC offering ALPN "doq" on another port (RFC 9250 §4.1.1)', () => {
    assert.deepEqual(c.classify(input({ protocolNumber: UDP, remotePort: 853 })), { kind: 'doq', resolver: '192.0.2.10' });
    assert.deepEqual(c.classify(input({ protocolNumber: UDP, remotePort: 8853, appProtocol: 'quic', alpn: ['doq'], sni: 'doq.example' })), { kind: 'doq', resolver: 'doq.example' });
    assert.equal(c.classify(input({ protocolNumber: UDP, remotePort: 8853, appProtocol: 'quic', alpn: ['h3'] })), null);
  });

  it('DoH: TCP or UDP/443 to a listed address, SNI or DNS name; other HTTPS is not', () => {
    assert.deepEqual(c.classify(input({ remoteIp: '2606:4700:4700::1111' })), { kind: 'doh', resolver: 'cloudflare-dns.com' });
    assert.deepEqual(c.classify(input({ sni: 'Mozilla.Cloudflare-DNS.com' })), { kind: 'doh', resolver: 'cloudflare-dns.com' });
    assert.deepEqual(c.classify(input({ names: ['one.one.one.one'] })), { kind: 'doh', resolver: 'cloudflare-dns.com' });
    assert.deepEqual(c.classify(input({ protocolNumber: UDP, appProtocol: 'quic', sni: 'dns.nextdns.io' })), { kind: 'doh', resolver: 'dns.nextdns.io' });
    assert.equal(c.classify(input({ sni: 'cloudflare-dns.com.evil.example' })), null);
    assert.equal(c.classify(input({ sni: 'www.example.com' })), null);
    assert.equal(c.classify(input({ remotePort: 8443, remoteIp: '1.1.1.1' })), null);
    assert.equal(c.classify(input({ protocolNumber: 1, remotePort: null, remoteIp: '1.1.1.1' })), null);
  });

  it('server names: exact entry first, then the longest listed suffix, case-insensitively, as a plain walk over the dots would', () => {
    const list = parseEncryptedResolvers(
      'nested.yaml',
      `as_of: 2026-01-01
resolvers:
  - { name: outer.example, provider: A, sni: ["*.example.net"] }
  - { name: inner.example, provider: B, sni: ["*.dns.example.net"] }
  - { name: exact.example, provider: C, sni: [dns.example.net, x.dns.example.net] }
`,
    );
    const nested = new EncryptedDnsClassifier(list);
    const reference = (name: string): string | null => {
      const lower = name.toLowerCase();
      for (const r of list.resolvers) if (r.name === lower || r.sni.includes(lower)) return r.name;
      for (let dot = lower.indexOf('.'); dot >= 0; dot = lower.indexOf('.', dot + 1)) {
        const suffix = `*.${lower.slice(dot + 1)}`;
        for (const r of list.resolvers) if (r.sni.includes(suffix)) return r.name;
      }
      return null;
    };
    const labels = ['x', 'dns', 'example', 'net', 'DNS', 'Example', 'org', 'a-b', ''];
    let named = 0;
    for (let n = 0; n < 4000; n++) {
      // Deterministic mix of 1 to 5 labels, some empty (double dots), to cover odd names too.
      const parts: string[] = [];
      for (let k = 0, v = n; k <= n % 5; k++, v = Math.floor(v / labels.length)) parts.push(labels[(v + k) % labels.length]!);
      const name = parts.join('.');
      const got = nested.resolverOf({ remoteIp: '192.0.2.1', sni: name, names: [] })?.name ?? null;
      assert.equal(got, reference(name), name);
      if (got !== null) named++;
    }
    assert.ok(named > 40, `only ${named} names matched a resolver: the sample does not exercise matching`);
    assert.equal(nested.resolverOf({ remoteIp: '192.0.2.1', sni: 'a.x.dns.example.net', names: [] })?.name, 'inner.example');
    assert.equal(nested.resolverOf({ remoteIp: '192.0.2.1', sni: 'X.DNS.example.NET', names: [] })?.name, 'exact.example');
    assert.equal(nested.resolverOf({ remoteIp: '192.0.2.1', sni: 'y.example.net', names: [] })?.name, 'outer.example');
    assert.equal(nested.resolverOf({ remoteIp: '192.0.2.1', sni: 'example.net', names: [] }), null);
  });
});

describe('unattributed', () => {
  const base = { bothInternal: false, names: [] as string[], sni: null, httpHost: null, remoteIp: '203.0.113.5', encryptedDnsResolver: null };
  it('a public remote with no DNS name, SNI, Host or listed resolver', () => {
    assert.equal(isUnattributed(base, { special: false }), true);
    assert.equal(isUnattributed({ ...base, names: ['a.example'] }, { special: false }), false);
    assert.equal(isUnattributed({ ...base, sni: 'a.example' }, { special: false }), false);
    assert.equal(isUnattributed({ ...base, httpHost: 'a.example' }, { special: false }), false);
    assert.equal(isUnattributed({ ...base, encryptedDnsResolver: 'cloudflare-dns.com' }, { special: false }), false);
    assert.equal(isUnattributed({ ...base, encryptedDnsResolver: '203.0.113.5' }, { special: false }), true, 'a DoT server known only by its address');
  });
  it('LAN and special-purpose remotes are never unattributed', () => {
    assert.equal(isUnattributed({ ...base, bothInternal: true }, { special: false }), false);
    assert.equal(isUnattributed(base, { special: true }), false);
  });
});

function record(o: Partial<FlowRecord>): FlowRecord {
  return {
    proto: 'tcp',
    protocolNumber: TCP,
    device: { ip: '192.168.1.50', mac: '64:cc:2e:7b:50:07', hostname: 'pixel-7', group: null },
    localPort: 50000,
    remoteIp: '1.1.1.1',
    remotePort: 443,
    bothInternal: false,
    names: [],
    sni: null,
    httpHost: null,
    bytesOut: 300,
    bytesIn: 700,
    packetsOut: 4,
    packetsIn: 5,
    firstSeenUs: 1_717_228_800_000_000,
    lastSeenUs: 1_717_228_801_000_000,
    endReason: 'fin',
    ...o,
  };
}

describe('per-device tally and metrics', () => {
  const flows = [
    record({ encryptedDns: 'doh', encryptedDnsResolver: 'cloudflare-dns.com' }),
    record({ encryptedDns: 'doh', encryptedDnsResolver: 'cloudflare-dns.com' }),
    record({ encryptedDns: 'doh', encryptedDnsResolver: 'cloudflare-dns.com' }),
    record({ remotePort: 853, encryptedDns: 'dot', encryptedDnsResolver: 'dns.quad9.net', remoteIp: '9.9.9.9' }),
    record({ remoteIp: '203.0.113.9', remotePort: 8443, unattributed: true, bytesOut: 4000, bytesIn: 2000 }),
    record({ remoteIp: '203.0.113.9', remotePort: 8443 }), // an older record without the new fields
  ];

  it('the report line: resolvers by flows, "doh via cloudflare-dns.com (3 flows)"', () => {
    const b = newBlindSpots();
    for (const f of flows) countBlindSpots(b, f);
    assert.equal(describeEncryptedDns(b), 'doh via cloudflare-dns.com (3 flows), dot via dns.quad9.net (1 flow)');
    assert.deepEqual(b.unattributed, { bytesOut: 4000, bytesIn: 2000, flows: 1 });
    assert.equal(describeEncryptedDns(newBlindSpots()), null);
  });

  it('caps the resolvers kept per device', () => {
    const b = newBlindSpots();
    for (let i = 0; i < 20; i++) countBlindSpots(b, record({ encryptedDns: 'dot', encryptedDnsResolver: `r${i}.example` }));
    assert.equal(b.encryptedDns.length, 16);
    assert.equal(b.encryptedDnsOtherFlows, 4);
    assert.match(describeEncryptedDns(b)!, /others \(4 flows\)$/);
  });

  it('geowarden_encrypted_dns_flows_total and geowarden_unattributed_bytes_total', async () => {
    const registry = new Registry();
    const metrics = new GeowardenMetrics(registry, { instance: 'gw-test', version: '9.9.9' });
    const geo = { country: null, registeredCountry: null, asn: null, asOrg: null, special: false };
    for (const f of flows) metrics.sink.onFlow({ flow: f, geo, verdict: { verdict: 'unknown', reason: 'test', policy: 'default' } });
    const text = await registry.metrics();
    assert.match(text, /^geowarden_encrypted_dns_flows_total\{device="pixel-7",kind="doh",resolver="cloudflare-dns.com"\} 3$/m);
    assert.match(text, /^geowarden_encrypted_dns_flows_total\{device="pixel-7",kind="dot",resolver="dns.quad9.net"\} 1$/m);
    assert.match(text, /^geowarden_unattributed_bytes_total\{device="pixel-7",direction="out"\} 4000$/m);
    assert.match(text, /^geowarden_unattributed_bytes_total\{device="pixel-7",direction="in"\} 2000$/m);
  });
});
