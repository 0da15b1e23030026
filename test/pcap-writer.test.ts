/**
 * The capture-file generator checked against an independent reader: tshark must read every
 * scenario without malformed packets, bad checksums or warnings, and must see exactly the
 * packets, names and byte counts the scenarios claim.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PcapngWriter, PcapWriter, StreamingPcapWriter } from './support/pcap-writer';
import { frame, ipv4, ipv6, ipv6FragmentHeader, tcp, udp, IPPROTO_UDP } from './support/packets';
import { DOC_PLAN, household, HouseholdScenario, linkVariety, PUBLIC_PLAN, writeScenario } from './support/scenarios';
import { generateGatewayCapture } from '../bench/gateway-capture';

const TSHARK = '/usr/bin/tshark';
const haveTshark = existsSync(TSHARK);

/** Checksum validation is off by default in Wireshark; turn it on so bad sums become errors. */
const CHECKSUM_PREFS = [
  '-o', 'ip.check_checksum:TRUE',
  '-o', 'tcp.check_checksum:TRUE',
  '-o', 'udp.check_checksum:TRUE',
];

/** Expert severities (epan/proto.h): warnings and errors fail a scenario; notes and chats do not. */
const PI_WARN = 0x00600000;

function tshark(args: string[]): string {
  return execFileSync(TSHARK, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
}

/** One row per frame, one cell per field; multi-valued fields keep tshark's comma join. */
function fields(file: string, names: string[], extra: string[] = []): string[][] {
  const out = tshark(['-r', file, ...CHECKSUM_PREFS, ...extra, '-T', 'fields', '-E', 'separator=\t', ...names.flatMap((n) => ['-e', n])]);
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

function column(rows: string[][], i: number): string[] {
  return rows.flatMap((r) => (r[i] ? r[i]!.split(',') : []));
}

/** Frames that carry a warning or error expert item, or a malformed marker. */
function problems(file: string): string[] {
  const rows = fields(file, ['frame.number', '_ws.expert.severity', '_ws.malformed', '_ws.expert.message']);
  return rows
    .filter((r) => (r[1] ?? '').split(',').some((s) => s !== '' && Number(s) >= PI_WARN) || (r[2] ?? '') !== '')
    .map((r) => `frame ${r[0]}: ${r[3]}`);
}

describe('capture files read back by tshark', { skip: !haveTshark && 'tshark not installed' }, () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'geowarden-pcap-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('link variety', () => {
    for (const cap of linkVariety()) {
      it(`${cap.name} (linktype ${cap.linkType}) decodes cleanly with the right content`, () => {
        const file = join(dir, `lv-${cap.name}.pcap`);
        writeScenario(cap, file);
        assert.deepEqual(problems(file), []);
        const rows = fields(file, ['frame.protocols', 'dns.a', 'dns.aaaa', 'http.host', 'vlan.id', 'ieee8021ad.id', 'dns.qry.name']);
        assert.equal(rows.length, cap.expected.packets);
        const answers = [...column(rows, 1), ...column(rows, 2)];
        assert.deepEqual(answers, [cap.expected.answer]);
        assert.deepEqual(column(rows, 3), [cap.expected.httpHost]);
        assert.deepEqual([...new Set(column(rows, 6))], [cap.expected.qname]);
        // Every frame reaches the transport layer, i.e. the link layer was understood.
        for (const r of rows) assert.match(r[0]!, /:(tcp|udp)/, `frame not decoded to transport: ${r[0]}`);
        const tags = [...column(rows, 5), ...column(rows, 4)];
        if (cap.expected.vlans.length > 0) {
          assert.deepEqual([...new Set(tags)].map(Number).sort(), [...cap.expected.vlans].sort());
          if (cap.name === 'qinq') assert.ok(rows.every((r) => r[0]!.includes('ieee8021ad:ethertype:vlan')));
        } else assert.deepEqual(tags, []);
      });
    }
  });

  describe('household', () => {
    let scn: HouseholdScenario;
    let file = '';
    before(() => {
      scn = household(DOC_PLAN);
      file = join(dir, 'household.pcap');
      writeScenario(scn, file);
    });

    it('has no malformed packets, bad checksums or warnings', () => {
      assert.deepEqual(problems(file), []);
    });

    it('has the packet count, DNS answers, SNIs, HTTP host, DHCP hostnames and VLAN the scenario says', () => {
      const rows = fields(file, [
        'frame.number',
        'dns.a',
        'dns.aaaa',
        'dns.cname',
        'tls.handshake.extensions_server_name',
        'http.host',
        'dhcp.option.hostname',
        'vlan.id',
        'dns.svcb.svcparam.ipv6hint.ip',
      ]);
      const e = scn.expected;
      assert.equal(rows.length, scn.frames.length);
      assert.equal(rows.length, e.totals.packets);

      const want = { a: new Set<string>(), aaaa: new Set<string>(), cname: new Set<string>() };
      for (const t of e.dns) {
        for (const a of t.answers) {
          if (a.type === 'A') want.a.add(a.data as string);
          if (a.type === 'AAAA') want.aaaa.add(a.data as string);
          if (a.type === 'CNAME') want.cname.add(a.data as string);
        }
      }
      assert.deepEqual(new Set(column(rows, 1)), want.a);
      assert.deepEqual(new Set(column(rows, 2)), want.aaaa);
      assert.deepEqual(new Set(column(rows, 3)), want.cname);
      assert.deepEqual(column(rows, 8), [DOC_PLAN.us6]);

      const snis = e.flows.filter((f) => f.sni).map((f) => f.sni!);
      assert.deepEqual(column(rows, 4).sort(), snis.sort());
      assert.deepEqual(column(rows, 5), e.flows.filter((f) => f.httpHost).map((f) => f.httpHost!));

      // Clients send option 12 in DISCOVER and REQUEST (RFC 2132 §3.14).
      const hostnames = column(rows, 6);
      assert.deepEqual([...new Set(hostnames)].sort(), e.devices.map((d) => d.hostname).sort());
      for (const d of e.devices) assert.equal(hostnames.filter((h) => h === d.hostname).length, 2);
      assert.deepEqual(
        e.devices.map((d) => d.hostname),
        ['alice-laptop', 'livingroom-tv', 'plug-kitchen', 'plug-garage', 'redmi-note'],
      );

      assert.equal(column(rows, 7).filter((v) => v === '30').length, e.totals.vlanTagged);
      assert.equal(e.totals.vlanTagged, 2);
    });

    it('matches the expected bytes and packets per flow, counted at the IP layer', () => {
      // Without defragmentation every fragment stays its own frame; later fragments have no ports.
      const rows = fields(
        file,
        ['ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'ip.len', 'ipv6.plen', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport', 'icmp.type', 'ip.proto', 'dhcp.type'],
        ['-o', 'ip.defragment:FALSE'],
      );
      const e = scn.expected;
      const all = [...e.flows, ...e.lanFlows];
      const got = new Map(all.map((f) => [f, { bytesUp: 0, packetsUp: 0, bytesDown: 0, packetsDown: 0 }]));
      let dhcpFrames = 0;
      for (const r of rows) {
        if (r[12]) {
          dhcpFrames++;
          continue;
        }
        const src = r[0] || r[2]!;
        const dst = r[1] || r[3]!;
        const len = r[0] ? Number(r[4]) : Number(r[5]) + 40;
        const proto = r[6] ? 'tcp' : r[8] ? 'udp' : r[10] ? 'icmp' : r[11] === '17' ? 'udp' : '?';
        const sp = Number(r[6] || r[8] || 0);
        const dp = Number(r[7] || r[9] || 0);
        const hasPorts = Boolean(r[6] || r[8]);
        const match = all.filter((f) => {
          if (f.proto !== proto) return false;
          const up = f.deviceIp === src && f.remoteIp === dst;
          const down = f.deviceIp === dst && f.remoteIp === src;
          if (!up && !down) return false;
          if (!hasPorts) return true;
          return up ? sp === f.localPort && dp === f.port : sp === f.port && dp === f.localPort;
        });
        assert.equal(match.length, 1, `frame ${src} → ${dst} ${proto} ${sp}/${dp} matches ${match.length} flows`);
        const f = match[0]!;
        const g = got.get(f)!;
        if (f.deviceIp === src) {
          g.bytesUp += len;
          g.packetsUp++;
        } else {
          g.bytesDown += len;
          g.packetsDown++;
        }
      }
      assert.equal(dhcpFrames, e.dhcp.length * 4);
      for (const f of all) {
        const { bytesUp, packetsUp, bytesDown, packetsDown } = f;
        assert.deepEqual(got.get(f), { bytesUp, packetsUp, bytesDown, packetsDown }, `${f.device} → ${f.remoteIp}:${f.port}/${f.proto}`);
      }
    });

    it('describes the flows the scenario promises', () => {
      const e = scn.expected;
      const phone = e.flows.find((f) => f.device === 'redmi-note')!;
      assert.equal(phone.remoteIp, DOC_PLAN.cn);
      assert.equal(phone.country, 'CN');
      assert.deepEqual(phone.names, ['metrics.phone-vendor.example', 'collect.analytics-cdn.example', 'edge7.telemetry.example']);
      assert.ok(phone.bytesUp > 5 * phone.bytesDown && phone.bytesUp > 8000);
      const tv = e.flows.find((f) => f.device === 'livingroom-tv' && f.proto === 'tcp')!;
      assert.equal(tv.remoteIp, DOC_PLAN.us6);
      const frag = e.flows.filter((f) => f.fragments > 0);
      assert.equal(frag.length, 1);
      assert.equal(frag[0]!.fragments, 2);
      assert.deepEqual(new Set(e.flows.map((f) => f.country)), new Set(['DE', 'US', 'FR', 'CN', 'RU', null]));
      // The same traffic works with real public addresses for the demo.
      const pub = household(PUBLIC_PLAN).expected;
      assert.equal(pub.totals.packets, e.totals.packets);
      assert.equal(pub.flows.find((f) => f.device === 'redmi-note')!.remoteIp, PUBLIC_PLAN.cn);
    });

    it('reads back identically from pcap and pcapng', () => {
      const ng = join(dir, 'household.pcapng');
      writeScenario(scn, ng, 'pcapng');
      const args = (f: string): string[] => ['-r', f, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.protocols', '-e', 'tcp.seq_raw', '-e', 'dns.qry.name'];
      const a = tshark(args(file));
      assert.equal(tshark(args(ng)), a);
      assert.equal(a.trim().split('\n').length, scn.frames.length);
      assert.equal(tshark(['-r', ng, '-T', 'fields', '-e', 'frame.interface_id']).trim().split('\n').length, scn.frames.length);
    });
  });

  describe('writers', () => {
    it('writes nanosecond pcap and pcapng timestamps exactly', () => {
      const ip = ipv4({ src: '192.168.1.10', dst: '198.51.100.10', protocol: IPPROTO_UDP, payload: udp({ src: '192.168.1.10', dst: '198.51.100.10', srcPort: 1000, dstPort: 2000, payload: Buffer.from('x') }) });
      const stamps = [1717228800123456789n, 1717228800999999999n, 1717228801000000001n];
      for (const Writer of [PcapWriter, PcapngWriter]) {
        const w = new Writer(1, { nanosecond: true });
        for (const ns of stamps) w.add(0, frame({ ip }), { timestampNs: ns });
        w.add(1_717_228_802_500_001, frame({ ip })); // microseconds scale to ...001000 ns
        const file = join(dir, `ns-${Writer.name}`);
        w.writeFile(file);
        const got = tshark(['-r', file, '-T', 'fields', '-e', 'frame.time_epoch']).trim().split('\n');
        assert.deepEqual(got, ['1717228800.123456789', '1717228800.999999999', '1717228801.000000001', '1717228802.500001000']);
      }
      const buf = new PcapWriter(1, { nanosecond: true }).toBuffer();
      assert.equal(buf.readUInt32LE(0), 0xa1b23c4d);
      assert.equal(new PcapWriter(1).toBuffer().readUInt32LE(0), 0xa1b2c3d4);
    });

    it('truncates like a snaplen and keeps the wire length', () => {
      const payload = Buffer.alloc(600, 0x61);
      const ip = ipv4({ src: '192.168.1.10', dst: '198.51.100.10', protocol: 6, payload: tcp({ src: '192.168.1.10', dst: '198.51.100.10', srcPort: 1, dstPort: 2, flags: 'PA', seq: 1, ack: 1, payload }) });
      const f = frame({ ip });
      for (const [name, w] of [['pcap', new PcapWriter(1)], ['pcapng', new PcapngWriter(1, { snaplen: 100 })]] as const) {
        w.add(1_717_228_800_000_000, f, { captureLength: 96 });
        w.add(1_717_228_800_000_001, f, { wireLength: f.length + 4 });
        const file = join(dir, `trunc.${name}`);
        w.writeFile(file);
        const rows = tshark(['-r', file, '-T', 'fields', '-e', 'frame.cap_len', '-e', 'frame.len']).trim().split('\n');
        const second = name === 'pcap' ? `${f.length}\t${f.length + 4}` : `100\t${f.length + 4}`;
        assert.deepEqual(rows, [`96\t${f.length}`, second]);
      }
    });

    it('streams byte-identical classic pcap', async () => {
      const scn = household(DOC_PLAN);
      const file = join(dir, 'stream.pcap');
      const s = new StreamingPcapWriter(file, scn.linkType, 262144, 4096); // tiny chunks force many flushes
      for (const f of scn.frames) s.add(f.timestampUs, f.frame);
      await s.close();
      const w = new PcapWriter(scn.linkType);
      for (const f of scn.frames) w.add(f.timestampUs, f.frame);
      assert.ok(readFileSync(file).equals(w.toBuffer()));
      assert.equal(s.packets, scn.frames.length);
    });

    it('builds IPv6 extension chains tshark can walk', () => {
      const src = 'fd00:1::10';
      const dst = '2001:db8:de::1';
      const u = udp({ src, dst, srcPort: 5000, dstPort: 6000, payload: Buffer.from('extension chain') });
      const ip = ipv6({
        src,
        dst,
        nextHeader: IPPROTO_UDP,
        payload: u,
        extensions: [
          { type: 0, data: Buffer.alloc(0) },
          { type: 60, data: Buffer.alloc(0) },
          ipv6FragmentHeader(0, false, 0x1234),
        ],
      });
      const w = new PcapWriter(101);
      w.add(1_717_228_800_000_000, ip);
      const file = join(dir, 'ext6.pcap');
      w.writeFile(file);
      assert.deepEqual(problems(file), []);
      const [row] = fields(file, ['frame.protocols', 'udp.srcport', 'udp.dstport', 'ipv6.fraghdr.ident']);
      assert.match(row![0]!, /ipv6:ipv6\.hopopts:ipv6\.dstopts:ipv6\.fraghdr:udp/);
      assert.deepEqual(row!.slice(1), ['5000', '6000', '0x00001234']);
    });
  });

  describe('benchmark capture', () => {
    it('generates a deterministic capture with valid checksums and the requested mix', async () => {
      const a = join(dir, 'bench-a.pcap');
      const b = join(dir, 'bench-b.pcap');
      const r = await generateGatewayCapture(a, { packets: 20_000, seed: 7 });
      await generateGatewayCapture(b, { packets: 20_000, seed: 7 });
      assert.equal(r.packets, 20_000);
      assert.ok(readFileSync(a).equals(readFileSync(b)));
      const rows = fields(a, ['ip.checksum.status', 'tcp.checksum.status', 'udp.checksum.status', 'dns.flags.response', 'ipv6.src']);
      assert.equal(rows.length, 20_000);
      // checksum status: 0 bad, 1 good, 2 unverified
      for (let i = 0; i < 3; i++) assert.equal(rows.filter((x) => x[i] === '0').length, 0, `bad checksums in column ${i}`);
      const dns = rows.filter((x) => x[3] !== '').length / rows.length;
      const v6 = rows.filter((x) => x[4] !== '').length / rows.length;
      assert.ok(dns > 0.02 && dns < 0.045, `DNS share ${dns}`);
      assert.ok(v6 > 0.03 && v6 < 0.08, `IPv6 share ${v6}`);
    });
  });
});
