/**
 * The flow stage on hand-built packets: orientation, counting, every way a flow ends, bounds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder } from '../src/decode/frame-decoder';
import { newDecodedPacket } from '../src/decode/types';
import { DeviceTable } from '../src/devices/device-table';
import { DnsAnswerCache } from '../src/dns/dns-answer-cache';
import { FlowTracker } from '../src/flows/flow-tracker';
import { PayloadInspector } from '../src/flows/payload-inspector';
import type { FlowRecord } from '../src/flows/types';
import type { FlowsConfig } from '../src/config/types';
import { CidrSet, DEFAULT_INTERNAL_NETWORKS } from '../src/net/address';
import { frame, icmpEcho, ipv4, ipv4Fragments, tcp, udp, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './support/packets';

const DEV = '192.168.1.10';
const DEV_MAC = '3c:22:fb:4a:10:01';
const GW_MAC = '02:00:00:00:00:01';
const REMOTE = '203.0.113.20';
const S = 1_000_000;

function harness(flows: Partial<FlowsConfig> = {}) {
  const config: FlowsConfig = {
    maxFlows: 1000,
    tcpIdleTimeoutS: 300,
    udpIdleTimeoutS: 60,
    icmpIdleTimeoutS: 60,
    activeTimeoutS: 1800,
    ...flows,
  };
  const decoder = new FrameDecoder();
  const records: FlowRecord[] = [];
  const tracker = new FlowTracker({
    config,
    internal: CidrSet.parse([...DEFAULT_INTERNAL_NETWORKS]),
    devices: new DeviceTable({ maxDevices: 100, inventory: [] }),
    dnsCache: new DnsAnswerCache({ maxEntries: 100, graceS: 60, minTtlS: 0 }),
    inspector: new PayloadInspector(decoder.errors, () => {}),
    onFlowEnd: (r) => records.push(r),
  });
  const pkt = newDecodedPacket();
  const feed = (ip: Buffer, tsUs: number, fromDevice = true): void => {
    const buf = frame({ ip, srcMac: fromDevice ? DEV_MAC : GW_MAC, dstMac: fromDevice ? GW_MAC : DEV_MAC });
    assert.ok(decoder.decode({ buf, offset: 0, capturedLength: buf.length, wireLength: buf.length, timestampUs: tsUs, linkType: 1 }, pkt));
    tracker.observe(pkt);
  };
  const seg = (src: string, dst: string, sp: number, dp: number, flags: string, payload = Buffer.alloc(0), seq = 1) =>
    ipv4({ src, dst, protocol: IPPROTO_TCP, payload: tcp({ src, dst, srcPort: sp, dstPort: dp, flags, payload, seq }) });
  return { tracker, records, feed, seg };
}

describe('FlowTracker', () => {
  it('counts a TCP connection both ways and ends it on FIN after the linger', () => {
    const { tracker, records, feed, seg } = harness();
    const up = [seg(DEV, REMOTE, 40000, 443, 'S'), seg(DEV, REMOTE, 40000, 443, 'A'), seg(DEV, REMOTE, 40000, 443, 'PA', Buffer.alloc(500)), seg(DEV, REMOTE, 40000, 443, 'FA')];
    const down = [seg(REMOTE, DEV, 443, 40000, 'SA'), seg(REMOTE, DEV, 443, 40000, 'PA', Buffer.alloc(1200)), seg(REMOTE, DEV, 443, 40000, 'FA')];
    feed(up[0]!, 1 * S);
    feed(down[0]!, 1.01 * S, false);
    feed(up[1]!, 1.02 * S);
    feed(up[2]!, 1.03 * S);
    feed(down[1]!, 1.04 * S, false);
    feed(up[3]!, 1.05 * S);
    feed(down[2]!, 1.06 * S, false);
    tracker.expire(2 * S);
    assert.equal(records.length, 0, 'still lingering for trailing ACKs');
    feed(seg(DEV, REMOTE, 40000, 443, 'A'), 1.07 * S);
    tracker.expire(4 * S);
    assert.equal(records.length, 1);
    const r = records[0]!;
    assert.equal(r.endReason, 'fin');
    assert.equal(r.device.ip, DEV);
    assert.equal(r.device.mac, DEV_MAC);
    assert.equal(r.localPort, 40000);
    assert.equal(r.remoteIp, REMOTE);
    assert.equal(r.remotePort, 443);
    assert.equal(r.packetsOut, 5);
    assert.equal(r.packetsIn, 3);
    const len = (b: Buffer) => b.readUInt16BE(2);
    assert.equal(r.bytesOut, [...up, seg(DEV, REMOTE, 40000, 443, 'A')].reduce((n, b) => n + len(b), 0));
    assert.equal(r.bytesIn, down.reduce((n, b) => n + len(b), 0));
    assert.equal(r.firstSeenUs, 1 * S);
    assert.equal(r.lastSeenUs, 1.07 * S);
  });

  it('orients a flow whose SYN was missed by the SYN-ACK', () => {
    const { tracker, records, feed, seg } = harness();
    feed(seg(REMOTE, DEV, 443, 40001, 'SA'), 1 * S, false);
    feed(seg(DEV, REMOTE, 40001, 443, 'A'), 1.1 * S);
    tracker.flushAll('end-of-capture');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.localPort, 40001);
    assert.equal(records[0]!.remotePort, 443);
    assert.equal(records[0]!.packetsIn, 1);
    assert.equal(records[0]!.endReason, 'end-of-capture');
  });

  it('uses the initiator as the device when neither end is internal, and marks LAN-only flows', () => {
    const { tracker, records, feed, seg } = harness();
    feed(seg('198.51.100.7', REMOTE, 5555, 80, 'S'), 1 * S);
    feed(seg(DEV, '192.168.1.1', 5556, 53, 'S'), 1 * S);
    tracker.flushAll('end-of-capture');
    const transit = records.find((r) => r.remoteIp === REMOTE)!;
    assert.equal(transit.device.ip, '198.51.100.7');
    assert.equal(transit.bothInternal, false);
    const lan = records.find((r) => r.remoteIp === '192.168.1.1')!;
    assert.equal(lan.bothInternal, true);
  });

  it('ends idle UDP after its timeout while TCP stays', () => {
    const { tracker, records, feed, seg } = harness({ udpIdleTimeoutS: 60, tcpIdleTimeoutS: 300 });
    feed(ipv4({ src: DEV, dst: REMOTE, protocol: IPPROTO_UDP, payload: udp({ src: DEV, dst: REMOTE, srcPort: 5000, dstPort: 5683, payload: Buffer.alloc(10) }) }), 1 * S);
    feed(seg(DEV, REMOTE, 40002, 443, 'S'), 1 * S);
    tracker.expire(62 * S);
    assert.deepEqual(records.map((r) => [r.proto, r.endReason]), [['udp', 'idle-timeout']]);
    tracker.expire(302 * S);
    assert.deepEqual(records.map((r) => [r.proto, r.endReason]), [['udp', 'idle-timeout'], ['tcp', 'idle-timeout']]);
  });

  it('splits a long flow at the active timeout without losing a byte', () => {
    const { tracker, records, feed } = harness({ activeTimeoutS: 10, udpIdleTimeoutS: 60 });
    const p = ipv4({ src: DEV, dst: REMOTE, protocol: IPPROTO_UDP, payload: udp({ src: DEV, dst: REMOTE, srcPort: 5000, dstPort: 9000, payload: Buffer.alloc(100) }) });
    for (let t = 0; t < 25; t++) feed(p, (1 + t) * S);
    tracker.flushAll('end-of-capture');
    assert.deepEqual(records.map((r) => r.endReason), ['active-timeout', 'active-timeout', 'end-of-capture']);
    assert.equal(records.reduce((n, r) => n + r.packetsOut, 0), 25);
    assert.equal(records.reduce((n, r) => n + r.bytesOut, 0), 25 * p.length);
  });

  it('evicts the least recently seen flow when the table is full', () => {
    const { tracker, records, feed, seg } = harness({ maxFlows: 3 });
    feed(seg(DEV, REMOTE, 1001, 443, 'S'), 1 * S);
    feed(seg(DEV, REMOTE, 1002, 443, 'S'), 2 * S);
    feed(seg(DEV, REMOTE, 1003, 443, 'S'), 3 * S);
    feed(seg(DEV, REMOTE, 1001, 443, 'A'), 4 * S); // 1001 is now the most recent
    feed(seg(DEV, REMOTE, 1004, 443, 'S'), 5 * S);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.localPort, 1002);
    assert.equal(records[0]!.endReason, 'evicted');
    const st = tracker.stats();
    assert.equal(st.evicted, 1);
    assert.equal(st.active, 3);
    assert.equal(st.capacity, 3);
  });

  it('ends on RST and starts a new flow when the 5-tuple is reused', () => {
    const { tracker, records, feed, seg } = harness();
    feed(seg(DEV, REMOTE, 2000, 443, 'S'), 1 * S);
    feed(seg(REMOTE, DEV, 443, 2000, 'R'), 1.1 * S, false);
    feed(seg(DEV, REMOTE, 2000, 443, 'S'), 1.2 * S);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.endReason, 'rst');
    tracker.flushAll('end-of-capture');
    assert.equal(records.length, 2);
    assert.equal(records[1]!.packetsOut, 1);
  });

  it('counts later IPv4 fragments to the flow of their first fragment', () => {
    const { tracker, records, feed } = harness();
    const payload = udp({ src: DEV, dst: REMOTE, srcPort: 5001, dstPort: 5683, payload: Buffer.alloc(2000, 7) });
    const frags = ipv4Fragments({ src: DEV, dst: REMOTE, protocol: IPPROTO_UDP, payload, id: 77 }, 1400);
    assert.equal(frags.length, 2);
    feed(frags[0]!, 1 * S);
    feed(frags[1]!, 1.001 * S);
    tracker.flushAll('end-of-capture');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.packetsOut, 2);
    assert.equal(records[0]!.bytesOut, frags[0]!.readUInt16BE(2) + frags[1]!.readUInt16BE(2));
    assert.equal(records[0]!.remotePort, 5683);
  });

  it('keeps the bytes of a later fragment whose first fragment was never seen', () => {
    const { tracker, records, feed } = harness();
    const payload = udp({ src: DEV, dst: REMOTE, srcPort: 5001, dstPort: 5683, payload: Buffer.alloc(2000, 7) });
    const frags = ipv4Fragments({ src: DEV, dst: REMOTE, protocol: IPPROTO_UDP, payload, id: 78 }, 1400);
    feed(frags[1]!, 1 * S);
    tracker.flushAll('end-of-capture');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.bytesOut, frags[1]!.readUInt16BE(2));
    assert.equal(tracker.stats().fragmentsUnmatched, 1);
  });

  it('treats ICMP echo request and reply as one host-pair flow', () => {
    const { tracker, records, feed } = harness();
    feed(ipv4({ src: DEV, dst: REMOTE, protocol: IPPROTO_ICMP, payload: icmpEcho({ id: 1, seq: 1 }) }), 1 * S);
    feed(ipv4({ src: REMOTE, dst: DEV, protocol: IPPROTO_ICMP, payload: icmpEcho({ type: 0, id: 1, seq: 1 }) }), 1.01 * S, false);
    tracker.flushAll('end-of-capture');
    assert.equal(records.length, 1);
    assert.equal(records[0]!.proto, 'icmp');
    assert.equal(records[0]!.localPort, null);
    assert.equal(records[0]!.remotePort, null);
    assert.equal(records[0]!.packetsIn, 1);
  });

  it('stays within its bound under a flood of distinct flows', () => {
    const { tracker, records, feed, seg } = harness({ maxFlows: 500 });
    for (let i = 0; i < 5000; i++) feed(seg(DEV, REMOTE, 10000 + i, 443, 'S'), 1 * S + i);
    assert.equal(tracker.stats().active, 500);
    assert.equal(records.length, 4500);
    assert.ok(records.every((r) => r.endReason === 'evicted'));
  });
});
