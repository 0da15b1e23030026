/**
 * IPFIX encoding (RFC 7011) byte by byte, the message builder's packing, padding, sequence
 * numbers and template refresh, and the exporter's records. tshark's IPFIX dissector is the
 * independent reader of the exporter's output; nfdump reads it in ipfix-nfdump.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FlowRecord } from '../src/flows/types';
import type { GeoInfo } from '../src/geo/types';
import { GEOWARDEN_PEN, VARIABLE_LENGTH } from '../src/sinks/ipfix/information-elements';
import { FLOW_TEMPLATES, IpfixExporter, TEMPLATE_ID_IPV4, TEMPLATE_ID_IPV6, truncatedUtf8 } from '../src/sinks/ipfix/ipfix-exporter';
import {
  IpfixMessageBuilder,
  type Template,
  type TemplateRefresh,
  writeRecord,
  writeTemplateSet,
  writeVariableLength,
} from '../src/sinks/ipfix/ipfix-message';
import type { TransportReport } from '../src/sinks/ipfix/udp-transport';
import type { Verdict } from '../src/policy/types';
import { PcapWriter } from './support/pcap-writer';
import { frame, ipv4, udp } from './support/packets';

// ---------------------------------------------------------------------------------------------
// A small reader, enough to look inside what the builder wrote.

interface DecodedSet {
  id: number;
  length: number;
  /** Template Sets: the templates; Data Sets: one array of raw field values per record. */
  templates?: Template[];
  records?: Buffer[][];
  padding?: Buffer;
}

interface DecodedMessage {
  version: number;
  length: number;
  exportTime: number;
  sequenceNumber: number;
  observationDomainId: number;
  sets: DecodedSet[];
}

function decodeMessage(buf: Buffer, known: Map<number, Template>): DecodedMessage {
  const m: DecodedMessage = {
    version: buf.readUInt16BE(0),
    length: buf.readUInt16BE(2),
    exportTime: buf.readUInt32BE(4),
    sequenceNumber: buf.readUInt32BE(8),
    observationDomainId: buf.readUInt32BE(12),
    sets: [],
  };
  let off = 16;
  while (off < m.length) {
    const id = buf.readUInt16BE(off);
    const length = buf.readUInt16BE(off + 2);
    const end = off + length;
    const set: DecodedSet = { id, length };
    let p = off + 4;
    if (id === 2) {
      set.templates = [];
      while (p < end) {
        const t: Template = { id: buf.readUInt16BE(p), fields: [] };
        const count = buf.readUInt16BE(p + 2);
        p += 4;
        const fields: Template['fields'][number][] = [];
        for (let i = 0; i < count; i++) {
          const raw = buf.readUInt16BE(p);
          const len = buf.readUInt16BE(p + 2);
          if (raw & 0x8000) {
            fields.push({ id: raw & 0x7fff, length: len, enterprise: buf.readUInt32BE(p + 4) });
            p += 8;
          } else {
            fields.push({ id: raw, length: len });
            p += 4;
          }
        }
        set.templates.push({ id: t.id, fields });
        known.set(t.id, { id: t.id, fields });
      }
    } else {
      const t = known.get(id)!;
      set.records = [];
      const minimum = t.fields.reduce((n, f) => n + (f.length === VARIABLE_LENGTH ? 1 : f.length), 0);
      while (end - p >= minimum) {
        const values: Buffer[] = [];
        for (const f of t.fields) {
          let len = f.length;
          if (len === VARIABLE_LENGTH) {
            len = buf[p]!;
            p += 1;
            if (len === 255) {
              len = buf.readUInt16BE(p);
              p += 2;
            }
          }
          values.push(buf.subarray(p, p + len));
          p += len;
        }
        set.records.push(values);
      }
      set.padding = buf.subarray(p, end);
    }
    m.sets.push(set);
    off = end;
  }
  return m;
}

function decodeAll(messages: Buffer[]): DecodedMessage[] {
  const known = new Map<number, Template>();
  return messages.map((m) => decodeMessage(m, known));
}

const T_SMALL: Template = { id: 301, fields: [{ id: 4, length: 1 }, { id: 8, length: 4 }] };
const REFRESH_RARELY: TemplateRefresh = { intervalMs: 3_600_000, messages: 1_000_000 };

function builder(o: { max?: number; refresh?: TemplateRefresh; templates?: Template[] } = {}) {
  const messages: Buffer[] = [];
  const b = new IpfixMessageBuilder({
    observationDomainId: 42,
    maxMessageLength: o.max ?? 1472,
    templates: o.templates ?? [T_SMALL],
    refresh: o.refresh ?? REFRESH_RARELY,
    onMessage: (m) => messages.push(m),
  });
  return { b, messages };
}

const ip4 = (text: string): Buffer => Buffer.from(text.split('.').map(Number));

describe('IPFIX encoding (RFC 7011)', () => {
  it('writes a Template Set with standard and enterprise-specific field specifiers', () => {
    const t: Template = { id: 300, fields: [{ id: 8, length: 4 }, { id: 3, length: VARIABLE_LENGTH, enterprise: GEOWARDEN_PEN }] };
    const buf = Buffer.alloc(64);
    const end = writeTemplateSet(buf, 0, [t]);
    // Set ID 2, length 20 | template 300, 2 fields | sourceIPv4Address, 4 | E-bit + 3, 65535, PEN 32473
    assert.equal(buf.subarray(0, end).toString('hex'), '00020014' + '012c0002' + '00080004' + '8003ffff00007ed9');
    assert.throws(() => writeTemplateSet(buf, 0, [{ id: 255, fields: [] }]), /outside 256-65535/);
  });

  it('encodes variable-length fields with a one- or three-octet length (RFC 7011 §7)', () => {
    const buf = Buffer.alloc(400);
    assert.equal(writeVariableLength(buf, 0, new Uint8Array(0)), 1);
    assert.equal(buf[0], 0);
    assert.equal(writeVariableLength(buf, 0, Buffer.alloc(254, 0x61)), 255);
    assert.equal(buf[0], 254);
    assert.equal(writeVariableLength(buf, 0, Buffer.alloc(255, 0x62)), 258);
    assert.equal(buf.subarray(0, 4).toString('hex'), 'ff00ff62');
    assert.equal(writeVariableLength(buf, 0, Buffer.alloc(300, 0x63)), 303);
    assert.equal(buf.subarray(0, 3).toString('hex'), 'ff012c');
    assert.throws(() => writeVariableLength(Buffer.alloc(70_000), 0, Buffer.alloc(65_536)), /exceeds 65535/);
  });

  it('writes unsigned integers in network byte order, also beyond 32 bits and in reduced size', () => {
    const t: Template = { id: 302, fields: [{ id: 1, length: 8 }, { id: 2, length: 8 }, { id: 85, length: 3 }, { id: 7, length: 2 }] };
    const buf = Buffer.alloc(32);
    const end = writeRecord(buf, 0, t, [2 ** 40 + 5, 2n ** 63n + 1n, 0x010203, 443]);
    assert.equal(buf.subarray(0, end).toString('hex'), '0000010000000005' + '8000000000000001' + '010203' + '01bb');
    assert.throws(() => writeRecord(buf, 0, t, [1, 2, 3]), /has 4 fields, got 3 values/);
    assert.throws(() => writeRecord(buf, 0, { id: 303, fields: [{ id: 8, length: 4 }] }, [Buffer.alloc(16)]), /is 4 octets, got 16/);
  });

  it('pads a Data Set with zeros to four octets and says so in its length (RFC 7011 §3.3.1)', () => {
    const { b, messages } = builder();
    b.add(301, [6, ip4('192.0.2.1')], 1_000_000);
    b.flush(1_000_000);
    const [m] = decodeAll(messages);
    // 16 header + 16 Template Set + (4 set header + 5 record + 3 padding)
    assert.equal(m!.length, 44);
    assert.equal(messages[0]!.length, 44);
    const data = m!.sets[1]!;
    assert.equal(data.id, 301);
    assert.equal(data.length, 12);
    assert.equal(data.records!.length, 1);
    assert.deepEqual([...data.padding!], [0, 0, 0]);
    // Two records: 4 + 10 + 2 padding.
    const two = builder();
    two.b.add(301, [6, ip4('192.0.2.1')], 0);
    two.b.add(301, [17, ip4('192.0.2.2')], 0);
    two.b.flush(0);
    assert.equal(decodeAll(two.messages)[0]!.sets[1]!.length, 16);
  });

  it('puts runs of one template in one set and starts a new set for another template', () => {
    const t2: Template = { id: 310, fields: [{ id: 7, length: 2 }] };
    const { b, messages } = builder({ templates: [T_SMALL, t2] });
    b.add(301, [6, ip4('192.0.2.1')], 0);
    b.add(301, [6, ip4('192.0.2.2')], 0);
    b.add(310, [443], 0);
    b.add(301, [6, ip4('192.0.2.3')], 0);
    b.flush(0);
    const sets = decodeAll(messages)[0]!.sets;
    assert.deepEqual(
      sets.map((s) => [s.id, s.records?.length ?? s.templates!.length, s.length]),
      [
        [2, 2, 4 + 12 + 8],
        [301, 2, 4 + 10 + 2],
        // A 2-octet record: 2 octets of padding would read as another record, so none is added.
        [310, 1, 4 + 2],
        [301, 1, 4 + 5 + 3],
      ],
    );
  });

  it('numbers messages by Data Records sent before them and stamps the export time in seconds', () => {
    const { b, messages } = builder();
    for (let i = 0; i < 3; i++) b.add(301, [6, ip4(`192.0.2.${i}`)], 0);
    b.flush(1_717_228_800_999);
    b.add(301, [6, ip4('192.0.2.9')], 0);
    b.flush(1_717_228_801_000);
    const [first, second] = decodeAll(messages);
    assert.deepEqual([first!.version, first!.sequenceNumber, first!.exportTime, first!.observationDomainId], [10, 0, 1_717_228_800, 42]);
    assert.deepEqual([second!.sequenceNumber, second!.exportTime], [3, 1_717_228_801]);
    assert.deepEqual(b.stats(), { messages: 2, records: 4, templateMessages: 1 });
    b.flush(0);
    assert.equal(messages.length, 2, 'flushing with nothing open sends nothing');
  });

  it('refreshes templates every N messages (RFC 7011 §8.4)', () => {
    const { b, messages } = builder({ refresh: { intervalMs: 3_600_000, messages: 3 } });
    for (let i = 0; i < 7; i++) {
      b.add(301, [6, ip4('192.0.2.1')], 0);
      b.flush(0);
    }
    assert.deepEqual(
      decodeAll(messages).map((m) => m.sets[0]!.id === 2),
      [true, false, false, true, false, false, true],
    );
  });

  it('refreshes templates in the first message after the interval', () => {
    const { b, messages } = builder({ refresh: { intervalMs: 1000, messages: 1_000_000 } });
    for (const t of [0, 500, 999, 1000, 1500, 2100]) {
      b.add(301, [6, ip4('192.0.2.1')], t);
      b.flush(t);
    }
    assert.deepEqual(
      decodeAll(messages).map((m) => m.sets[0]!.id === 2),
      [true, false, false, true, false, true],
    );
  });

  it('never writes a message larger than the limit, and loses no record on the way', () => {
    const { b, messages } = builder({ max: 120 });
    for (let i = 0; i < 100; i++) b.add(301, [i, ip4(`198.51.100.${i}`)], 0);
    b.flush(0);
    assert.ok(messages.length > 5);
    for (const m of messages) assert.ok(m.length <= 120, `${m.length} octets`);
    const decoded = decodeAll(messages);
    const protocols = decoded.flatMap((m) => m.sets.flatMap((s) => s.records ?? [])).map((r) => r[0]![0]);
    assert.deepEqual(protocols, [...Array(100).keys()]);
    // Sequence numbers count the records of all earlier messages.
    let seen = 0;
    for (const m of decoded) {
      assert.equal(m.sequenceNumber, seen);
      seen += m.sets.reduce((n, s) => n + (s.records?.length ?? 0), 0);
    }
  });

  it('refuses a record larger than what always fits, and a message too small for the templates', () => {
    const t: Template = { id: 320, fields: [{ id: 3, length: VARIABLE_LENGTH, enterprise: GEOWARDEN_PEN }] };
    const { b } = builder({ max: 100, templates: [t] });
    assert.equal(b.recordBudget, 100 - 16 - 16 - 4 - 3);
    assert.throws(() => b.add(320, [Buffer.alloc(80)], 0), /exceeds the 61-octet budget/);
    assert.throws(() => builder({ max: 30, templates: [t] }), /cannot hold/);
  });
});

// ---------------------------------------------------------------------------------------------
// The exporter

class ArrayTransport {
  readonly messages: Buffer[] = [];
  send(m: Buffer): void {
    this.messages.push(m);
  }
  async close(): Promise<TransportReport> {
    return { sent: this.messages.length, failed: 0, firstError: null };
  }
}

function flow(fields: Partial<FlowRecord> = {}): FlowRecord {
  return {
    proto: 'tcp',
    protocolNumber: 6,
    device: { ip: '192.168.1.40', mac: '64:cc:2e:7b:40:05', hostname: 'redmi-note', group: null },
    localPort: 38001,
    remoteIp: '203.0.113.10',
    remotePort: 443,
    bothInternal: false,
    names: ['metrics.phone-vendor.example', 'collect.analytics-cdn.example'],
    sni: 'metrics.phone-vendor.example',
    httpHost: null,
    bytesOut: 21719,
    bytesIn: 2079,
    packetsOut: 23,
    packetsIn: 14,
    firstSeenUs: 1_717_228_808_853_123,
    lastSeenUs: 1_717_228_809_000_999,
    endReason: 'fin',
    ...fields,
  };
}

const CN: GeoInfo = { country: 'CN', registeredCountry: null, asn: 64510, asOrg: 'Example Telemetry Co', special: false };
const VIOLATION: Verdict = { verdict: 'violation', reason: 'deny_countries: CN (policy "default")', policy: 'default' };

function exporter(maxMessageLength = 1472) {
  const transport = new ArrayTransport();
  const e = new IpfixExporter({
    observationDomainId: 7,
    maxMessageLength,
    refresh: { intervalMs: 60_000, messages: 100 },
    transport,
    now: () => 1_764_000_000_000,
    flushDelayMs: 0,
  });
  return { e, transport };
}

const text = (b: Buffer): string => b.toString('utf8');

describe('IpfixExporter', () => {
  it('sends a flow as two unidirectional records, device first, with Geowarden elements', async () => {
    const { e, transport } = exporter();
    e.onFlow({ flow: flow(), geo: CN, verdict: VIOLATION });
    const report = await e.close();
    assert.deepEqual(report, { sent: 1, failed: 0, firstError: null, messages: 1, records: 2, templateMessages: 1 });
    const [m] = decodeAll(transport.messages);
    assert.deepEqual(
      m!.sets[0]!.templates!.map((t) => t.id),
      [TEMPLATE_ID_IPV4, TEMPLATE_ID_IPV6],
    );
    assert.deepEqual(m!.sets[0]!.templates, FLOW_TEMPLATES);
    const [out, back] = m!.sets[1]!.records!;
    const fields = (r: Buffer[]) => ({
      src: [...r[0]!].join('.'),
      dst: [...r[1]!].join('.'),
      ports: [r[2]!.readUInt16BE(0), r[3]!.readUInt16BE(0)],
      proto: r[4]![0],
      octets: Number(r[5]!.readBigUInt64BE(0)),
      packets: Number(r[6]!.readBigUInt64BE(0)),
      startMs: Number(r[7]!.readBigUInt64BE(0)),
      endMs: Number(r[8]!.readBigUInt64BE(0)),
      macs: [r[9]!.toString('hex'), r[10]!.toString('hex')],
      direction: r[11]![0],
      endReason: r[12]![0],
      country: text(r[13]!),
      asn: r[14]!.readUInt32BE(0),
      names: text(r[15]!),
      verdict: text(r[16]!),
    });
    const common = {
      proto: 6,
      startMs: 1_717_228_808_853,
      endMs: 1_717_228_809_000,
      endReason: 3,
      country: 'CN',
      asn: 64510,
      names: 'metrics.phone-vendor.example,collect.analytics-cdn.example',
      verdict: 'violation',
    };
    assert.deepEqual(fields(out!), {
      ...common,
      src: '192.168.1.40',
      dst: '203.0.113.10',
      ports: [38001, 443],
      octets: 21719,
      packets: 23,
      macs: ['64cc2e7b4005', '000000000000'],
      direction: 0,
    });
    assert.deepEqual(fields(back!), {
      ...common,
      src: '203.0.113.10',
      dst: '192.168.1.40',
      ports: [443, 38001],
      octets: 2079,
      packets: 14,
      macs: ['000000000000', '64cc2e7b4005'],
      direction: 1,
    });
  });

  it('leaves out a direction without packets, uses the IPv6 template, and sends no country for local flows', async () => {
    const { e, transport } = exporter();
    e.onFlow({ flow: flow({ packetsIn: 0, bytesIn: 0, endReason: 'idle-timeout' }), geo: CN, verdict: VIOLATION });
    e.onFlow({
      flow: flow({ device: { ip: 'fd00:1::20', mac: null, hostname: null, group: null }, remoteIp: '2001:db8:5::10', proto: 'udp', protocolNumber: 17, names: [], sni: null, endReason: 'evicted' }),
      geo: { country: 'US', registeredCountry: null, asn: null, asOrg: null, special: false },
      verdict: { verdict: 'allowed', reason: 'x', policy: 'default' },
    });
    e.onFlow({
      flow: flow({ remoteIp: '192.168.1.1', remotePort: 53, bothInternal: true, names: [], sni: null, endReason: 'end-of-capture' }),
      geo: { country: null, registeredCountry: null, asn: null, asOrg: null, special: true },
      verdict: { verdict: 'local', reason: 'both ends internal', policy: 'default' },
    });
    await e.close();
    const sets = decodeAll(transport.messages)[0]!.sets.slice(1);
    assert.deepEqual(
      sets.map((s) => [s.id, s.records!.length]),
      [
        [TEMPLATE_ID_IPV4, 1],
        [TEMPLATE_ID_IPV6, 2],
        [TEMPLATE_ID_IPV4, 2],
      ],
    );
    const [idle] = sets[0]!.records!;
    assert.equal(idle![12]![0], 1, 'idle timeout');
    const [v6out] = sets[1]!.records!;
    assert.equal(v6out![0]!.toString('hex'), 'fd000001000000000000000000000020');
    assert.equal(v6out![9]!.toString('hex'), '000000000000', 'no MAC known');
    assert.equal(v6out![12]![0], 5, 'evicted: lack of resources');
    assert.equal(v6out![14]!.readUInt32BE(0), 0, 'unknown AS');
    const [local] = sets[2]!.records!;
    assert.equal(local![13]!.length, 0, 'no country for a local flow');
    assert.equal(text(local![16]!), 'local');
    assert.equal(local![12]![0], 4, 'end of capture: forced end');
  });

  it('cuts the names so a record always fits a small message, never inside a character', async () => {
    const { e, transport } = exporter(576 - 28);
    const names = Array.from({ length: 60 }, (_, i) => `host-${i}.très-long-nom.example`);
    e.onFlow({ flow: flow({ names }), geo: CN, verdict: VIOLATION });
    for (let i = 0; i < 20; i++) e.onFlow({ flow: flow({ localPort: 40000 + i }), geo: CN, verdict: VIOLATION });
    await e.close();
    for (const m of transport.messages) assert.ok(m.length <= 548, `${m.length}`);
    const records = decodeAll(transport.messages).flatMap((m) => m.sets.flatMap((s) => s.records ?? []));
    assert.equal(records.length, 42);
    const cut = text(records[0]![15]!);
    assert.ok(cut.length > 100 && names.join(',').startsWith(cut), cut);
    assert.ok(!cut.includes('\ufffd'), 'no broken character');
    assert.deepEqual([...truncatedUtf8('aé', 2)], [0x61]);
    assert.deepEqual([...truncatedUtf8('aé', 3)], [0x61, 0xc3, 0xa9]);
  });

  it('tshark decodes the same records, enterprise elements included', async (t) => {
    const { e, transport } = exporter();
    e.onFlow({ flow: flow(), geo: CN, verdict: VIOLATION });
    const long = Array.from({ length: 20 }, (_, i) => `n${i}.telemetry.example`);
    e.onFlow({ flow: flow({ localPort: 38002, names: long, sni: null }), geo: CN, verdict: VIOLATION });
    await e.close();
    const dir = mkdtempSync(join(tmpdir(), 'geowarden-ipfix-tshark-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const w = new PcapWriter(1);
    for (const m of transport.messages) {
      const payload = udp({ src: '127.0.0.1', dst: '127.0.0.1', srcPort: 40000, dstPort: 4739, payload: m });
      w.add(1_764_000_000_000_000, frame({ ip: ipv4({ src: '127.0.0.1', dst: '127.0.0.1', protocol: 17, payload }) }));
    }
    const file = join(dir, 'ipfix.pcap');
    writeFileSync(file, w.toBuffer());
    const fields = ['cflow.od_id', 'cflow.sequence', 'cflow.template_id', 'cflow.srcaddr', 'cflow.dstaddr', 'cflow.srcport', 'cflow.dstport', 'cflow.octets', 'cflow.packets', 'cflow.srcmac', 'cflow.dstmac', 'cflow.direction', 'cflow.flow_end_reason', 'cflow.enterprise_private_entry', 'cflow.string_len_short', 'cflow.string_len_long'];
    const out = execFileSync(
      'tshark',
      ['-n', '-r', file, '-d', 'udp.port==4739,cflow', '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=|', '-E', 'occurrence=a', ...fields.flatMap((f) => ['-e', f])],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    // One line per message; the long names push the last record into a second message.
    const rows = out.trim().split('\n').map((line) => line.split('\t'));
    assert.equal(rows.length, transport.messages.length);
    const col = (name: string): string[] => rows.flatMap((r) => (r[fields.indexOf(name)] ? r[fields.indexOf(name)]!.split('|') : []));
    assert.deepEqual(col('cflow.od_id'), rows.map(() => '7'));
    assert.deepEqual(col('cflow.sequence'), ['0', '3'].slice(0, rows.length));
    assert.deepEqual(col('cflow.template_id').slice(0, 2), ['256', '257']);
    assert.deepEqual(col('cflow.srcaddr'), ['192.168.1.40', '203.0.113.10', '192.168.1.40', '203.0.113.10']);
    assert.deepEqual(col('cflow.srcport'), ['38001', '443', '38002', '443']);
    assert.deepEqual(col('cflow.octets'), ['21719', '2079', '21719', '2079']);
    assert.deepEqual(col('cflow.packets'), ['23', '14', '23', '14']);
    assert.deepEqual(col('cflow.srcmac'), ['64:cc:2e:7b:40:05', '00:00:00:00:00:00', '64:cc:2e:7b:40:05', '00:00:00:00:00:00']);
    assert.deepEqual(col('cflow.direction'), ['0', '1', '0', '1']);
    assert.deepEqual(col('cflow.flow_end_reason'), ['3', '3', '3', '3']);
    // Four enterprise elements per record: country, AS, names, verdict (tshark shows them as hex).
    const pie = col('cflow.enterprise_private_entry').map((h) => Buffer.from(h.replace(/:/g, ''), 'hex'));
    assert.equal(pie.length, 16);
    assert.deepEqual(
      pie.slice(0, 4).map((b, i) => (i === 1 ? b.readUInt32BE(0) : b.toString('utf8'))),
      ['CN', 64510, 'metrics.phone-vendor.example,collect.analytics-cdn.example', 'violation'],
    );
    // The third record's names need the three-octet length form (RFC 7011 §7): tshark read it as such.
    assert.equal(pie[10]!.toString('utf8'), long.join(','));
    assert.ok(long.join(',').length >= 255);
    // tshark shows the three-octet form as a short length of 255 followed by the long length.
    assert.equal(col('cflow.string_len_short').filter((n) => n === '255').length, 2);
    assert.deepEqual(col('cflow.string_len_long'), [String(long.join(',').length), String(long.join(',').length)]);
  });
});
