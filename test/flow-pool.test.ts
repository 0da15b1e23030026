/**
 * Flow objects are recycled (FlowTable.allocate/release): a reused flow must start exactly like a
 * new one, records of ended flows must not change when their object is reused, and the pool is
 * bounded by the table's capacity.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder } from '../src/decode/frame-decoder';
import { newDecodedPacket } from '../src/decode/types';
import { DeviceTable } from '../src/devices/device-table';
import { DnsAnswerCache } from '../src/dns/dns-answer-cache';
import { Flow, TimeoutClass } from '../src/flows/flow';
import { FlowTable, type FlowTableStats } from '../src/flows/flow-table';
import { FlowTracker } from '../src/flows/flow-tracker';
import { PayloadInspector } from '../src/flows/payload-inspector';
import type { FlowRecord } from '../src/flows/types';
import { CidrSet, DEFAULT_INTERNAL_NETWORKS, parseAddress } from '../src/net/address';
import { frame, ipv4, tcp, tlsClientHello, IPPROTO_TCP } from './support/packets';

const S = 1_000_000;
const DEV = '192.168.1.10';

/** Every field of a flow, as plain data (references compared by identity where they matter). */
function fields(f: Flow): Record<string, unknown> {
  return Object.fromEntries(Object.entries(f));
}

describe('FlowTable pool', () => {
  it('hands out new flows until one is released, then the released one, reset to the state of new Flow()', () => {
    const table = new FlowTable(4);
    const a = table.allocate();
    assert.ok(a instanceof Flow);
    // Dirty every field a flow may carry.
    Object.assign(a, {
      a0: 1, a1: 2, a2: 0xffff, a3: 0xc0a8010a, b3: 0xcb007114, aPort: 40000, bPort: 443, protocol: 6,
      deviceIsA: false, bothInternal: true, packetsAB: 5, bytesAB: 500, packetsBA: 3, bytesBA: 3000,
      firstUs: 1.7e15, lastUs: 1.7e15 + 1, deviceMac: 0x3c22fb4a1001, finFromA: true, finFromB: true,
      endReason: 'fin', names: ['x.example'], sni: 'x.example', httpHost: 'x.example', appProtocol: 'quic',
      alpn: ['h3'], inspectBudget: 3,
      app: { clientBytes: Buffer.alloc(4), clientNextSeq: 7, dnsBytes: null, dnsNextSeq: 0, quic: null },
    });
    const w = parseAddress('192.168.1.10')!;
    table.find(w, 40000, parseAddress('203.0.113.20')!, 443, 6);
    table.insert(a, TimeoutClass.Tcp);
    table.remove(a);
    table.release(a);
    assert.equal(table.stats().pooled, 1);
    const b = table.allocate();
    assert.equal(b, a, 'the released object comes back');
    assert.deepEqual(fields(b), fields(new Flow()));
    assert.equal(table.stats().pooled, 0);
    assert.notEqual(table.allocate(), a, 'an empty pool makes a new flow');
  });

  it('keeps at most `capacity` released flows', () => {
    const table = new FlowTable(3);
    for (let i = 0; i < 10; i++) table.release(new Flow());
    assert.equal(table.stats().pooled, 3);
  });
});

/** The tracker's stats carry the table's, pool size included (FlowTableStats.pooled). */
const pooled = (tracker: FlowTracker): number => (tracker.stats() as unknown as FlowTableStats).pooled;

describe('FlowTracker with recycled flows', () => {
  it('emits each record from its own flow, and a reused flow starts without the names, SNI or counts of the last', () => {
    const decoder = new FrameDecoder();
    const records: FlowRecord[] = [];
    const dnsCache = new DnsAnswerCache({ maxEntries: 100, graceS: 60, minTtlS: 0 });
    const tracker = new FlowTracker({
      config: { maxFlows: 2, tcpIdleTimeoutS: 30, udpIdleTimeoutS: 30, icmpIdleTimeoutS: 30, activeTimeoutS: 1800 },
      internal: CidrSet.parse([...DEFAULT_INTERNAL_NETWORKS]),
      devices: new DeviceTable({ maxDevices: 100, inventory: [] }),
      dnsCache,
      inspector: new PayloadInspector(decoder.errors, () => {}),
      onFlowEnd: (r) => records.push(r),
    });
    const pkt = newDecodedPacket();
    const send = (remote: string, port: number, flags: string, tsUs: number, payload: Buffer = Buffer.alloc(0)): void => {
      const ip = ipv4({ src: DEV, dst: remote, protocol: IPPROTO_TCP, payload: tcp({ src: DEV, dst: remote, srcPort: port, dstPort: 443, flags, payload, seq: 1 }) });
      const buf = frame({ ip, srcMac: '3c:22:fb:4a:10:01', dstMac: '02:00:00:00:00:01' });
      assert.ok(decoder.decode({ buf, offset: 0, capturedLength: buf.length, wireLength: buf.length, timestampUs: tsUs, linkType: 1 }, pkt));
      tracker.observe(pkt);
    };
    // The first flow has a DNS name and an SNI, then idles out.
    dnsCache.remember(parseAddress('203.0.113.20')![3]!, parseAddress(DEV)![3]!, ['named.example'], 300, 0);
    send('203.0.113.20', 40000, 'S', 1 * S);
    send('203.0.113.20', 40000, 'PA', 1.1 * S, tlsClientHello({ sni: 'sni.named.example' }));
    tracker.expire(40 * S);
    assert.equal(records.length, 1);
    assert.equal(pooled(tracker), 1);
    // Ten more flows to nameless addresses: each reuses the pooled object (two at most in use).
    for (let i = 0; i < 10; i++) {
      send(`198.51.100.${i + 1}`, 41000 + i, 'S', (50 + i) * S);
      send(`198.51.100.${i + 1}`, 41000 + i, 'A', (50 + i) * S + 1000);
      send(`198.51.100.${i + 1}`, 41000 + i, 'R', (50 + i) * S + 2000);
      tracker.expire((50 + i) * S + 3 * S);
    }
    assert.equal(records.length, 11);
    assert.ok(pooled(tracker) <= 2);
    const first = records[0]!;
    assert.deepEqual([first.remoteIp, first.names, first.sni, first.packetsOut, first.endReason], ['203.0.113.20', ['named.example'], 'sni.named.example', 2, 'idle-timeout']);
    records.slice(1).forEach((r, i) => {
      assert.deepEqual(
        [r.remoteIp, r.localPort, r.names, r.sni, r.httpHost, r.alpn, r.packetsOut, r.packetsIn, r.endReason],
        [`198.51.100.${i + 1}`, 41000 + i, [], null, null, null, 3, 0, 'rst'],
      );
    });
  });
});
