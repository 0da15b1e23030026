/**
 * The CLI's contract with an admin: unusable input is one clear line on stderr and exit 2;
 * malformed packets or a truncated file still give a report and exit 0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { household, DOC_PLAN } from './support/scenarios';
import { PcapWriter } from './support/pcap-writer';
import { PROJECT_ROOT, ReplayWorkspace, runCli } from './support/replay-run';

describe('geowarden CLI', () => {
  let ws: ReplayWorkspace;
  let capture: string;
  before(() => {
    ws = new ReplayWorkspace('dbip');
    capture = ws.writeCapture('household.pcap', household(DOC_PLAN));
  });
  after(() => ws.cleanup());

  const oneLine = (stderr: string): string => {
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
    return lines[0]!;
  };

  it('--help lists the commands and exits 0', () => {
    const r = runCli(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /replay/);
    assert.match(r.stdout, /check-config/);
  });

  it('an unknown command or option exits 2', () => {
    assert.equal(runCli(['frobnicate']).status, 2);
    assert.equal(runCli(['replay', capture, '--no-such-flag']).status, 2);
  });

  it('a missing capture file: one line, exit 2', () => {
    const r = runCli(['replay', path.join(ws.dir, 'nope.pcap'), ...ws.geoArgs()]);
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /nope\.pcap: no such file/);
    assert.equal(r.stdout, '');
  });

  it('a file that is not a capture: one line, exit 2', () => {
    const notPcap = path.join(ws.dir, 'notes.txt');
    writeFileSync(notPcap, 'this is not a capture file at all\n');
    const r = runCli(['replay', notPcap, ...ws.geoArgs()]);
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /notes\.txt: not a capture file/);
  });

  it('a missing database: one line naming the setting and the fix, exit 2', () => {
    const r = runCli(['replay', capture, '--geoip-country', path.join(ws.dir, 'missing.mmdb')]);
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /missing\.mmdb/);
  });

  it('a bad flag value: exit 2 naming the flag', () => {
    const r = runCli(['replay', capture, '--deny-countries', 'CN,XX', ...ws.geoArgs()]);
    assert.equal(r.status, 2);
    assert.match(oneLine(r.stderr), /--deny-countries.*"XX"/);
  });

  it('a bad config file: every problem with file and path, exit 2', () => {
    const cfg = path.join(ws.dir, 'bad.yaml');
    writeFileSync(cfg, 'flows:\n  max_flows: -1\npolicy:\n  deny_countries: [CN, XX]\n');
    const r = runCli(['replay', capture, '--config', cfg, ...ws.geoArgs()]);
    assert.equal(r.status, 2);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 2, r.stderr);
    assert.ok(lines.some((l) => l.includes('bad.yaml: flows.max_flows')));
    assert.ok(lines.some((l) => l.includes('bad.yaml: policy.deny_countries[1]')));
  });

  it('a truncated capture: report of what was read, a warning, exit 0', () => {
    const whole = readFileSync(capture);
    const cut = path.join(ws.dir, 'truncated.pcap');
    writeFileSync(cut, whole.subarray(0, whole.length - 10));
    const r = runCli(['replay', cut, '--json', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(oneLine(r.stderr), /truncated or corrupt after frame \d+/);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.type, 'summary');
    assert.equal(summary.packets, household(DOC_PLAN).frames.length - 1);
  });

  it('garbage frames are counted per layer and skipped, exit 0', () => {
    const w = new PcapWriter(1);
    // An Ethernet header announcing IPv4 followed by a header with IHL 2, and one too short for Ethernet.
    w.add(1_000_000, Buffer.concat([Buffer.alloc(12, 1), Buffer.from([0x08, 0x00, 0x42, 0, 0, 20])]));
    w.add(1_000_001, Buffer.alloc(5, 0xff));
    const f = path.join(ws.dir, 'garbage.pcap');
    w.writeFile(f);
    const r = runCli(['replay', f, '--json', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.equal(summary.packets, 2);
    assert.equal(summary.decode_errors.ipv4, 1);
    assert.equal(summary.decode_errors.ethernet, 1);
  });

  it('an unsupported link type is counted, not fatal', () => {
    const w = new PcapWriter(147); // LINKTYPE_USER0
    w.add(1_000_000, Buffer.alloc(60, 0xab));
    const f = path.join(ws.dir, 'user0.pcap');
    w.writeFile(f);
    const r = runCli(['replay', f, '--json', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()).unsupported_linktype, 1);
  });

  it('the human report lists the violating device first, with the DB-IP attribution when it is used', () => {
    const r = runCli(['replay', capture, '--deny-countries', 'CN', ...ws.geoArgs()]);
    assert.equal(r.status, 0, r.stderr);
    const devices = r.stdout.split('\n\n').slice(1);
    assert.match(devices[0]!, /^redmi-note .*\[VIOLATION\]/);
    assert.match(devices[0]!, /CN {2}203\.0\.113\.\d+:443\/tcp {2}AS64510 Example Telemetry Co/);
    assert.match(devices[0]!, /names: metrics\.phone-vendor\.example -> collect\.analytics-cdn\.example -> edge7\.telemetry\.example/);
    const bundled = runCli(['replay', capture]);
    assert.equal(bundled.status, 0, bundled.stderr);
    assert.match(bundled.stdout, /IP geolocation by DB-IP \(https:\/\/db-ip\.com\)/);
  });

  it('check-config accepts the annotated example and rejects a bad file', () => {
    const example = path.join(PROJECT_ROOT, 'config', 'geowarden.example.yaml');
    const ok = runCli(['check-config', example]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /ok/);
    const bad = path.join(ws.dir, 'bad2.yaml');
    writeFileSync(bad, 'flowz: {}\n');
    const r = runCli(['check-config', bad]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad2\.yaml: flowz: unknown key/);
  });
});
