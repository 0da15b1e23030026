/**
 * End to end through `geowarden replay`: QUIC SNI (v1, v2, coalesced, split, reordered), DoH /
 * DoT / DoQ flags, unattributed traffic, the `device` JSON records and the report lines, on the
 * blind-spot scenario. tshark, which decrypts QUIC Initials by itself, is the oracle for the SNIs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { blindSpotScenario, type BlindSpotScenario } from './support/blind-spot-scenario';
import { ReplayWorkspace, runCli, type FlowLine, type ReplayOutput } from './support/replay-run';
import { DOC_PLAN } from './support/scenarios';

function flowOf(out: ReplayOutput, remoteIp: string, port: number, proto: string): FlowLine[] {
  return out.flows.filter((f) => f.remote.ip === remoteIp && f.remote.port === port && f.proto === proto);
}

describe('replay: names beyond plaintext DNS', () => {
  let ws: ReplayWorkspace;
  let scenario: BlindSpotScenario;
  let file: string;
  let out: ReplayOutput;
  before(() => {
    ws = new ReplayWorkspace('dbip');
    scenario = blindSpotScenario(DOC_PLAN);
    file = ws.writeCapture('blind.pcap', scenario);
    out = ws.replayJson(file);
  });
  after(() => ws.cleanup());

  it('exits 0, counts the forged Initial as a quic decode error and nothing else', () => {
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.summary!.packets, scenario.frames.length);
    for (const [layer, n] of Object.entries(out.summary!.decode_errors)) {
      assert.equal(n, layer === 'quic' ? scenario.expected.undecryptable : 0, `decode_errors.${layer}`);
    }
  });

  it('every QUIC flow carries its ClientHello SNI and app_protocol "quic"', () => {
    for (const q of scenario.expected.quic) {
      const [f, ...more] = flowOf(out, q.remoteIp, q.port, 'udp').filter((x) => x.sni === q.sni);
      assert.ok(f && more.length === 0, `${q.what}: one flow with SNI ${q.sni}`);
      assert.equal(f.app_protocol, 'quic', q.what);
      assert.equal(f.unattributed, false, q.what);
    }
    const quicFlows = out.flows.filter((f) => f.app_protocol === 'quic');
    assert.equal(quicFlows.length, scenario.expected.quic.length, 'no other flow is taken for QUIC');
  });

  it('bytes and packets of every flow are what the scenario sent', () => {
    for (const e of scenario.expected.flows) {
      const [f] = flowOf(out, e.remoteIp, e.port, e.proto).filter((x) => x.local_port === e.localPort);
      assert.ok(f, `${e.proto} ${e.remoteIp}:${e.port} from ${e.localPort}`);
      assert.deepEqual([f.bytes_out, f.packets_out, f.bytes_in, f.packets_in], [e.bytesUp, e.packetsUp, e.bytesDown, e.packetsDown]);
    }
  });

  it('flags DoH, DoT and DoQ with their resolver', () => {
    const flagged = out.flows.filter((f) => f.encrypted_dns).map((f) => `${f.proto} ${f.remote.ip}:${f.remote.port} ${f.encrypted_dns} ${f.encrypted_dns_resolver}`);
    const expected = scenario.expected.encryptedDns.map((e) => `${e.proto} ${e.remoteIp}:${e.port} ${e.kind} ${e.resolver}`);
    assert.deepEqual(flagged.sort(), expected.sort());
  });

  it('marks exactly the unnamed flows to public remotes unattributed', () => {
    const marked = out.flows.filter((f) => f.unattributed).map((f) => `${f.proto} ${f.remote.ip}:${f.remote.port}`);
    assert.deepEqual(marked.sort(), scenario.expected.unattributed.map((u) => `${u.proto} ${u.remoteIp}:${u.port}`).sort());
  });

  it('writes one device record per device, before the summary, with the encrypted resolvers and unattributed bytes', () => {
    const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    const firstDevice = lines.findIndex((l) => l.type === 'device');
    assert.ok(firstDevice > 0 && lines.slice(firstDevice, -1).every((l) => l.type === 'device'), 'device records come last, before the summary');
    const devices = out.devices ?? [];
    assert.deepEqual(devices.map((d) => d.hostname).sort(), ['bob-laptop', 'pixel-7']);
    const phone = devices.find((d) => d.hostname === 'pixel-7')!;
    assert.deepEqual([phone.doh, phone.dot, phone.doq], [true, true, false]);
    assert.deepEqual(phone.encrypted_dns, [
      { kind: 'doh', resolver: 'cloudflare-dns.com', flows: 3 },
      { kind: 'dot', resolver: 'dns.quad9.net', flows: 1 },
      { kind: 'dot', resolver: DOC_PLAN.fr, flows: 1 },
    ]);
    const laptop = devices.find((d) => d.hostname === 'bob-laptop')!;
    assert.deepEqual([laptop.doh, laptop.dot, laptop.doq], [true, false, true]);
    for (const d of devices) {
      const mine = out.flows.filter((f) => f.device.hostname === d.hostname);
      assert.equal(d.flows, mine.length);
      const u = mine.filter((f) => f.unattributed);
      assert.deepEqual(d.unattributed, {
        bytes_out: u.reduce((n, f) => n + f.bytes_out, 0),
        bytes_in: u.reduce((n, f) => n + f.bytes_in, 0),
        flows: u.length,
      });
      assert.ok(d.unattributed.flows > 0);
    }
  });

  it('the report shows encrypted DNS and unattributed traffic per device', () => {
    const r = runCli(['replay', file, ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    const block = r.stdout.split('\n\n').find((b) => b.startsWith('pixel-7'))!;
    assert.match(block, /^ {2}encrypted DNS: doh via cloudflare-dns\.com \(3 flows\), dot via dns\.quad9\.net \(1 flow\), dot via 198\.51\.100\.140 \(1 flow\)$/m);
    assert.match(block, /^ {2}unattributed: up [\d.]+ kB, down [\d.]+ kB in 2 flows \(no DNS name, SNI or Host\)$/m);
    assert.match(r.stdout, /skipped malformed: quic 1/);
  });

  it('tshark decrypts the same Initials and finds the same SNIs', () => {
    const text = execFileSync(
      'tshark',
      ['-n', '-r', file, '-d', 'udp.port==853,quic', '-Y', 'tls.handshake.type == 1', '-T', 'fields', '-e', 'udp.srcport', '-e', 'tcp.srcport', '-e', 'tls.handshake.extensions_server_name', '-e', 'tls.handshake.extensions_alpn_str'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const theirs = text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.split('\t'))
      .filter((c) => c[2])
      .map((c) => `${c[0] ? 'udp' : 'tcp'} ${c[0] || c[1]} ${c[2]} ${c[0] ? c[3] : ''}`);
    const ours = out.flows
      .filter((f) => f.sni)
      .map((f) => {
        const q = f.proto === 'udp' ? scenario.expected.quic.find((x) => x.sni === f.sni) : null;
        return `${f.proto} ${f.local_port} ${f.sni} ${q ? q.alpn.join(',') : ''}`;
      });
    assert.ok(theirs.filter((t) => t.startsWith('udp')).length === scenario.expected.quic.length, `tshark found the QUIC ClientHellos: ${theirs.join('; ')}`);
    assert.deepEqual(ours.sort(), theirs.sort());
  });

  it('flows.quic: false leaves QUIC flows unnamed and decrypts nothing', () => {
    const config = path.join(ws.dir, 'no-quic.yaml');
    writeFileSync(config, 'flows:\n  quic: false\n');
    const off = ws.replayJson(file, ['--config', config]);
    assert.equal(off.status, 0, off.stderr);
    assert.equal(off.summary!.decode_errors['quic'], 0);
    for (const q of scenario.expected.quic) {
      const [f] = flowOf(off, q.remoteIp, q.port, 'udp');
      assert.ok(f);
      assert.equal(f.sni, null);
      assert.equal(f.app_protocol, null);
    }
    // DoQ is still known by its port; DoH and DoT do not depend on QUIC.
    assert.equal(off.flows.filter((f) => f.encrypted_dns).length, scenario.expected.encryptedDns.length);
  });
});
