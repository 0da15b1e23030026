/**
 * End to end through the CLI: the household scenario (DHCP, DNS over UDP and TCP with CNAME
 * chains, TLS SNI, HTTP Host, IPv6, VLAN, fragments, ICMP) replayed against the fixture
 * databases. Every device, name, country, byte count and verdict must be exactly what the
 * scenario emitted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { household, DOC_PLAN, type ExpectedFlow, type HouseholdScenario } from './support/scenarios';
import { FIXTURE_GEO } from './support/fixture-geo';
import { ReplayWorkspace, type FlowLine, type ReplayOutput } from './support/replay-run';
import { parseCidr, parseAddress, cidrContains } from '../src/net/address';

function fixtureEntry(ip: string) {
  const w = parseAddress(ip)!;
  return FIXTURE_GEO.find((e) => cidrContains(parseCidr(e.cidr)!, w)) ?? null;
}

function findFlow(flows: FlowLine[], e: ExpectedFlow): FlowLine {
  const matches = flows.filter(
    (f) =>
      f.device.ip === e.deviceIp &&
      f.remote.ip === e.remoteIp &&
      f.proto === e.proto &&
      (e.proto === 'tcp' || e.proto === 'udp' ? f.local_port === e.localPort && f.remote.port === e.port : true),
  );
  assert.equal(matches.length, 1, `exactly one flow ${e.deviceIp}:${e.localPort} -> ${e.remoteIp}:${e.port}/${e.proto}, got ${matches.length}`);
  return matches[0]!;
}

describe('replay of the household scenario', () => {
  let ws: ReplayWorkspace;
  let scenario: HouseholdScenario;
  let out: ReplayOutput;

  before(() => {
    ws = new ReplayWorkspace('dbip');
    scenario = household(DOC_PLAN);
    out = ws.replayJson(ws.writeCapture('household.pcap', scenario), ['--deny-countries', 'CN,RU']);
  });
  after(() => ws.cleanup());

  it('exits 0 with nothing on stderr and a summary last', () => {
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stderr, '');
    const lines = out.stdout.trim().split('\n');
    assert.equal(JSON.parse(lines.at(-1)!).type, 'summary');
  });

  it('counts every packet and reports no decode errors', () => {
    const s = out.summary!;
    assert.equal(s.packets, scenario.frames.length);
    assert.equal(s.bytes, scenario.frames.reduce((n, f) => n + f.frame.length, 0));
    for (const [layer, n] of Object.entries(s.decode_errors)) assert.equal(n, 0, `decode_errors.${layer}`);
    assert.equal(s.unsupported_linktype, 0);
    assert.equal(s.flows, out.flows.length);
  });

  it('reports each remote flow with exact names, bytes, packets, geo and verdict', () => {
    for (const e of scenario.expected.flows) {
      const f = findFlow(out.flows, e);
      const what = `${e.device} -> ${e.remoteIp}:${e.port}/${e.proto}`;
      assert.equal(f.device.hostname, e.device, what);
      const dev = scenario.expected.devices.find((d) => d.hostname === e.device)!;
      assert.equal(f.device.mac, dev.mac, what);
      assert.deepEqual(f.names, e.names, `${what} names`);
      assert.equal(f.sni, e.sni ?? null, `${what} sni`);
      assert.equal(f.http_host, e.httpHost ?? null, `${what} http_host`);
      assert.equal(f.bytes_out, e.bytesUp, `${what} bytes_out`);
      assert.equal(f.bytes_in, e.bytesDown, `${what} bytes_in`);
      assert.equal(f.packets_out, e.packetsUp, `${what} packets_out`);
      assert.equal(f.packets_in, e.packetsDown, `${what} packets_in`);
      const geo = fixtureEntry(e.remoteIp);
      assert.equal(f.remote.country, e.country, `${what} country`);
      assert.equal(f.remote.asn, geo?.asn ?? null, `${what} asn`);
      assert.equal(f.remote.as_org, geo?.asOrg ?? null, `${what} as_org`);
      const verdict = e.country === null ? 'unknown' : ['CN', 'RU'].includes(e.country) ? 'violation' : 'allowed';
      assert.equal(f.verdict, verdict, `${what} verdict (${f.reason})`);
      assert.ok(f.reason.length > 0);
      assert.ok(Date.parse(f.first_seen) <= Date.parse(f.last_seen));
    }
  });

  it('marks flows to the gateway local and keeps DHCP out of flows', () => {
    for (const e of scenario.expected.lanFlows) {
      const f = findFlow(out.flows, e);
      assert.equal(f.verdict, 'local');
      assert.equal(f.bytes_out, e.bytesUp);
      assert.equal(f.bytes_in, e.bytesDown);
    }
    assert.equal(out.flows.length, scenario.expected.flows.length + scenario.expected.lanFlows.length);
    assert.ok(!out.flows.some((f) => f.remote.port === 67 || f.local_port === 67));
  });

  it('names every device from DHCP', () => {
    for (const d of scenario.expected.devices) {
      const mine = out.flows.filter((f) => f.device.ip === d.ip || f.device.ip === d.ip6);
      assert.ok(mine.length > 0, `flows for ${d.hostname}`);
      for (const f of mine) {
        assert.equal(f.device.hostname, d.hostname);
        assert.equal(f.device.mac, d.mac);
      }
    }
  });

  it('emits one dns record per response, over UDP and TCP, with CNAME chains and HTTPS hints', () => {
    assert.equal(out.dns.length, scenario.expected.dns.length);
    for (const e of scenario.expected.dns) {
      const r = out.dns.find((d) => d.qname === e.qname && d.qtype === e.qtype && d.transport === e.transport);
      assert.ok(r, `dns ${e.qname} ${e.qtype} over ${e.transport}`);
      assert.equal(r.rcode, 'NOERROR');
      assert.deepEqual(
        r.answers.map((a) => [a.name, a.type, a.ttl]),
        e.answers.map((a) => [a.name, a.type, a.ttl]),
      );
      for (const [i, a] of e.answers.entries()) {
        if (typeof a.data === 'string') assert.equal(r.answers[i]!.data, a.data);
      }
    }
  });

  it('the phone reporting home through a CNAME chain is a violation for CN', () => {
    const phone = out.flows.filter((f) => f.device.hostname === 'redmi-note' && f.verdict === 'violation');
    assert.equal(phone.length, 1);
    assert.equal(phone[0]!.remote.country, 'CN');
    assert.deepEqual(phone[0]!.names, ['metrics.phone-vendor.example', 'collect.analytics-cdn.example', 'edge7.telemetry.example']);
    assert.match(phone[0]!.reason, /deny_countries: CN/);
    assert.ok(phone[0]!.bytes_out > 10 * phone[0]!.bytes_in);
  });

  it('an allow-list of EU turns US into a violation and keeps DE/FR allowed', () => {
    const eu = ws.replayJson(ws.writeCapture('household-eu.pcap', scenario), ['--allow-countries', 'EU']);
    assert.equal(eu.status, 0, eu.stderr);
    for (const f of eu.flows) {
      if (f.verdict === 'local') continue;
      if (f.remote.country === 'US' || f.remote.country === 'CN' || f.remote.country === 'RU') assert.equal(f.verdict, 'violation');
      if (f.remote.country === 'DE' || f.remote.country === 'FR') assert.equal(f.verdict, 'allowed', f.reason);
    }
  });

  it('pcapng gives the same records as pcap', () => {
    const ng = ws.replayJson(ws.writeCapture('household.pcapng', scenario, 'pcapng'), ['--deny-countries', 'CN,RU']);
    assert.equal(ng.status, 0, ng.stderr);
    assert.deepEqual(ng.flows, out.flows);
    assert.deepEqual(ng.dns, out.dns);
    assert.deepEqual(ng.summary, out.summary);
  });
});
