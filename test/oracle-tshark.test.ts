/**
 * tshark as an independent oracle: on the scenario captures, the DNS answers, TLS SNIs and HTTP
 * hosts Geowarden reports must be exactly what Wireshark's dissectors extract.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { household, linkVariety, DOC_PLAN } from './support/scenarios';
import { ReplayWorkspace, type ReplayOutput } from './support/replay-run';

function tsharkFields(file: string, filter: string, fields: string[]): string[][] {
  const out = execFileSync(
    'tshark',
    ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=,', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

function values(rows: string[][], column: number): string[] {
  return rows.flatMap((r) => (r[column] ? r[column]!.split(',') : [])).filter(Boolean);
}

function sorted(xs: Iterable<string>): string[] {
  return [...xs].map((x) => x.toLowerCase()).sort();
}

/** What tshark sees in a capture, in the shape Geowarden reports it. */
function tsharkView(file: string) {
  const dns = tsharkFields(file, 'dns.flags.response == 1', ['dns.id', 'dns.qry.name', 'dns.a', 'dns.aaaa', 'dns.cname']);
  const sni = tsharkFields(file, 'tls.handshake.type == 1', ['tls.handshake.extensions_server_name']);
  const http = tsharkFields(file, 'http.request', ['http.host']);
  return {
    responses: values(dns, 0).length,
    qnames: sorted(values(dns, 1)),
    a: sorted(values(dns, 2)),
    aaaa: sorted(values(dns, 3)),
    cname: sorted(values(dns, 4)),
    sni: sorted(values(sni, 0)),
    // Geowarden reports the host without a port, as the name a client resolved.
    httpHost: sorted(values(http, 0).map((h) => h.replace(/:\d+$/, ''))),
  };
}

function geowardenView(out: ReplayOutput) {
  const answers = out.dns.flatMap((d) => d.answers);
  const of = (type: string) => sorted(answers.filter((a) => a.type === type).map((a) => a.data));
  return {
    responses: out.dns.length,
    qnames: sorted(out.dns.map((d) => d.qname ?? '')),
    a: of('A'),
    aaaa: of('AAAA'),
    cname: of('CNAME'),
    sni: sorted(out.flows.map((f) => f.sni).filter((s): s is string => s !== null)),
    httpHost: sorted(out.flows.map((f) => f.http_host).filter((s): s is string => s !== null)),
  };
}

describe('tshark oracle', () => {
  let ws: ReplayWorkspace;
  before(() => {
    ws = new ReplayWorkspace('dbip');
  });
  after(() => ws.cleanup());

  it('household: DNS answers, SNIs and HTTP hosts match tshark', () => {
    const file = ws.writeCapture('household.pcap', household(DOC_PLAN));
    const out = ws.replayJson(file);
    assert.equal(out.status, 0, out.stderr);
    const expected = tsharkView(file);
    assert.ok(expected.responses >= 5 && expected.sni.length >= 3, 'tshark found the scenario content');
    assert.deepEqual(geowardenView(out), expected);
  });

  for (const capture of linkVariety(DOC_PLAN)) {
    it(`link type ${capture.name}: DNS answers and HTTP host match tshark`, () => {
      const file = ws.writeCapture(`${capture.name}.pcap`, capture);
      const out = ws.replayJson(file);
      assert.equal(out.status, 0, out.stderr);
      assert.equal(out.summary!.packets, capture.frames.length);
      assert.equal(out.summary!.unsupported_linktype, 0);
      const expected = tsharkView(file);
      assert.ok(expected.responses >= 1, `tshark decoded ${capture.name}`);
      assert.deepEqual(geowardenView(out), expected);
      assert.equal(out.flows.filter((f) => f.http_host).length, 1);
    });
  }
});
