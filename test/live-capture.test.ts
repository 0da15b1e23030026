/**
 * LiveCaptureSource on a real veth in a test namespace, through the native binding's live path
 * (open_live, start_polling, dispatch into reused buffers, pcap_stats). The source runs in
 * test/support/live-capture-probe.ts under `ip netns exec`, since a Node process cannot enter a
 * namespace itself; traffic comes from the device namespace through real DNS and TCP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ProbePlan, ProbeReport } from './support/live-capture-probe';
import { DENIED_IP, GATEWAY_IP, NetnsLab, netnsSkipReason, nodeScript, OutputLines, SERVICE_PORT, waitFor } from './support/netns-lab';

const skip = netnsSkipReason(['dnsmasq']);
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
/** Long enough for libpcap's 100 ms block timeout to hand over the last packets. */
const SETTLE_MS = 400;

describe('LiveCaptureSource', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();

  before(async () => {
    await lab.setUp('geowarden-live-');
  });

  after(() => {
    lab.tearDown();
  });

  /** One DNS query through the CNAME and one TCP exchange from the device. */
  const traffic = (): void => {
    lab.client({ dns: GATEWAY_IP, steps: [{ query: 'cdn.denied.example' }, { connect: DENIED_IP, port: SERVICE_PORT, send: 3000 }] });
  };

  /** Runs the probe with `plan`; calls `during` once the capture is open; returns its report. */
  const probe = async (plan: Omit<ProbePlan, 'maxMs'>, during?: () => void): Promise<ProbeReport> => {
    const child = lab.spawn(lab.net, ...nodeScript('live-capture-probe', [JSON.stringify({ ...plan, maxMs: 20_000 })]));
    const out = new OutputLines(child.stdout);
    const err = new OutputLines(child.stderr);
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    await waitFor('the probe to open the capture', () => (out.lines.length > 0 ? true : exited() ? fail(err.text()) : null));
    if (out.lines[0] !== 'ready') return JSON.parse(out.lines[0]!) as ProbeReport;
    during?.();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    child.kill('SIGINT');
    return waitFor('the probe report', () => (out.lines[1] ? (JSON.parse(out.lines[1]) as ProbeReport) : exited() ? fail(err.text()) : null));
  };

  it('delivers Ethernet frames with sane headers, and libpcap counts them', async () => {
    const r = await probe({ interfaces: [lab.netIf], bpf: '' }, traffic);
    assert.equal(r.error, null);
    assert.deepEqual(r.linkTypes, [LINKTYPE_ETHERNET]);
    // A DNS exchange and a TCP connection with 3000 bytes: at least a dozen frames.
    assert.ok(r.frames >= 12, `${r.frames} frames`);
    assert.equal(r.badHeaders, 0);
    assert.ok(r.udpPorts.includes(53), 'the DNS query');
    assert.equal(r.framesRead, r.frames);
    assert.equal(r.framesAfterClose, 0, 'nothing reaches the handler after close()');
    assert.equal(r.stats.length, 1);
    assert.equal(r.stats[0]!.interface, lab.netIf);
    assert.ok(r.stats[0]!.received >= r.frames, `pcap_stats received ${r.stats[0]!.received} >= ${r.frames} delivered`);
    assert.equal(r.stats[0]!.dropped, 0);
  });

  it('applies the BPF filter in the kernel', async () => {
    const r = await probe({ interfaces: [lab.netIf], bpf: `tcp port ${SERVICE_PORT}` }, traffic);
    assert.equal(r.error, null);
    assert.ok(r.frames >= 6, `${r.frames} TCP frames`);
    assert.deepEqual(r.udpPorts, [], 'no DNS frame passed the filter');
  });

  it('cuts frames at the snaplen and keeps the wire length', async () => {
    const r = await probe({ interfaces: [lab.netIf], bpf: '', snaplen: 96 }, traffic);
    assert.equal(r.error, null);
    assert.equal(r.maxCaptured, 96);
    assert.ok(r.maxWire > 1000, `largest frame on the wire ${r.maxWire}`);
    assert.equal(r.badHeaders, 0);
  });

  it('"any" captures every interface as Linux cooked frames', async () => {
    const r = await probe({ interfaces: ['any'], bpf: 'udp port 53' }, traffic);
    assert.equal(r.error, null);
    assert.deepEqual(r.linkTypes, [LINKTYPE_LINUX_SLL]);
    assert.ok(r.udpPorts.includes(53), `UDP destination ports ${r.udpPorts.join(', ')}: the query`);
  });

  it('one session per interface, each with its own statistics; duplicates opened once', async () => {
    const r = await probe({ interfaces: [lab.netIf, 'lo', lab.netIf], bpf: '' }, traffic);
    assert.equal(r.error, null);
    assert.deepEqual(r.stats.map((s) => s.interface), [lab.netIf, 'lo']);
    assert.ok(r.stats[0]!.received > 0);
  });

  it('errors name the interface and the fix', async () => {
    const missing = await probe({ interfaces: ['gwnone0'], bpf: '' });
    assert.equal(missing.errorClass, 'LiveCaptureError');
    // libpcap's order (interfaces that are up first), without dbus/bluetooth/nflog pseudo-devices.
    assert.match(missing.error!, /^interface gwnone0 not found: available: /);
    assert.deepEqual(missing.error!.replace(/^.*available: /, '').split(', ').sort(), ['any', lab.netIf, 'lo'].sort());

    const down = `gwx${process.pid}`;
    // A second veth pair inside the namespace, left down (the dummy driver may not be loaded).
    const added = lab.run(lab.net, 'ip', ['link', 'add', down, 'type', 'veth', 'peer', 'name', `gwy${process.pid}`]);
    assert.equal(added.status, 0, added.stderr);
    const r = await probe({ interfaces: [down], bpf: '' });
    assert.equal(r.error, `interface ${down} is down: bring it up (ip link set ${down} up)`);

    const bpf = await probe({ interfaces: [lab.netIf], bpf: 'tcp port' });
    assert.equal(bpf.error, `capture.bpf: syntax error in "tcp port" (interface ${lab.netIf})`);
    const flag = await probe({ interfaces: [lab.netIf], bpf: 'ether host 1.2.3', filterLabel: '--bpf' });
    assert.equal(flag.error, `--bpf: illegal link layer address in "ether host 1.2.3" (interface ${lab.netIf})`);

    const none = await probe({ interfaces: [], bpf: '' });
    assert.match(none.error!, /^no interface to capture on: set capture\.interfaces in the config or pass --interface \(available: .*\bany\b.*\)$/);
  });
});

function fail(message: string): never {
  throw new Error(message);
}
