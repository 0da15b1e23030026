/**
 * IPFIX export into a real collector: Debian nfdump's nfcapd listens on a loopback port, the CLI
 * replays the household scenario with --ipfix and --json, and nfdump must read back the same
 * flows, packets and bytes that the JSON reports, per 5-tuple and direction, with the flow
 * times, the device's MAC and the direction.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatAddress, parseAddress } from '../src/net/address';
import { household, DOC_PLAN } from './support/scenarios';
import { ReplayWorkspace, type FlowLine, type ReplayOutput } from './support/replay-run';

/** One unidirectional record as nfdump 1.7 prints it with `-o json`. */
interface NfdumpRecord {
  type: string;
  first: string;
  last: string;
  in_packets: number;
  in_bytes: number;
  proto: number;
  src_port?: number;
  dst_port?: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
  direction: number;
  in_src_mac: string;
  in_dst_mac: string;
}

interface Tally {
  packets: number;
  bytes: number;
}

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };

function canonical(ip: string): string {
  return formatAddress(parseAddress(ip)!);
}

function key(proto: number, src: string, sport: number, dst: string, dport: number): string {
  // nfdump shows ICMP type/code instead of ports; Geowarden sends 0 for flows without ports.
  const ports = proto === 1 || proto === 58 ? '' : `:${sport}>${dport}`;
  return `${proto} ${canonical(src)}>${canonical(dst)}${ports}`;
}

function add(map: Map<string, Tally>, k: string, packets: number, bytes: number): void {
  const t = map.get(k) ?? { packets: 0, bytes: 0 };
  t.packets += packets;
  t.bytes += bytes;
  map.set(k, t);
}

/** What the JSON says went each way, summed per 5-tuple and direction. */
function fromJson(flows: FlowLine[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const f of flows) {
    const proto = PROTOCOLS[f.proto]!;
    const lp = f.local_port ?? 0;
    const rp = f.remote.port ?? 0;
    if (f.packets_out > 0) add(out, key(proto, f.device.ip, lp, f.remote.ip, rp), f.packets_out, f.bytes_out);
    if (f.packets_in > 0) add(out, key(proto, f.remote.ip, rp, f.device.ip, lp), f.packets_in, f.bytes_in);
  }
  return out;
}

function fromNfdump(records: NfdumpRecord[]): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const r of records) {
    const src = r.src4_addr ?? r.src6_addr!;
    const dst = r.dst4_addr ?? r.dst6_addr!;
    add(out, key(r.proto, src, r.src_port ?? 0, dst, r.dst_port ?? 0), r.in_packets, r.in_bytes);
  }
  return out;
}

/** A UDP port free on loopback right now (nfcapd binds it a moment later). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Starts nfcapd in the foreground and resolves once it says it is listening. */
function startNfcapd(port: number, dir: string): Promise<ChildProcess> {
  // -t: rotate hourly (the test ends long before); no -D, so SIGTERM reaches it and it flushes.
  const child = spawn('nfcapd', ['-b', '127.0.0.1', '-p', String(port), '-w', dir, '-t', '3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`nfcapd did not start: ${seen}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (/Startup/.test(seen)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`nfcapd could not be started (${err.message}); install Debian's nfdump package`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nfcapd exited with ${code}: ${seen}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('IPFIX export read back by nfdump', () => {
  let ws: ReplayWorkspace;
  let out: ReplayOutput;
  let records: NfdumpRecord[];

  before(async () => {
    ws = new ReplayWorkspace('dbip');
    const capture = ws.writeCapture('household.pcap', household(DOC_PLAN));
    const flowDir = join(ws.dir, 'nfcapd');
    mkdirSync(flowDir);
    const port = await freeUdpPort();
    const nfcapd = await startNfcapd(port, flowDir);
    try {
      out = ws.replayJson(capture, ['--deny-countries', 'CN,RU', '--ipfix', `127.0.0.1:${port}`]);
    } finally {
      await stop(nfcapd);
    }
    const json = execFileSync('nfdump', ['-R', flowDir, '-o', 'json'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
    records = (JSON.parse(json) as NfdumpRecord[]).filter((r) => r.type === 'FLOW');
  });
  after(() => ws.cleanup());

  it('the replay succeeds quietly with the export on', () => {
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stderr, '');
    assert.ok(out.flows.length >= 15);
  });

  it('nfdump reads back the same flows, packets and bytes per 5-tuple and direction', () => {
    const expected = fromJson(out.flows);
    assert.deepEqual(fromNfdump(records), expected);
    assert.equal(records.length, expected.size, 'one record per direction with packets');
    const total = (m: Map<string, Tally>) => [...m.values()].reduce((a, t) => [a[0]! + t.packets, a[1]! + t.bytes], [0, 0]);
    const [packets, bytes] = total(expected);
    assert.deepEqual(total(fromNfdump(records)), [packets, bytes]);
  });

  it('keeps the flow times to the millisecond, the device MAC on its side, and the direction', () => {
    for (const f of out.flows) {
      const proto = PROTOCOLS[f.proto]!;
      const outbound = records.find((r) => key(r.proto, r.src4_addr ?? r.src6_addr!, r.src_port ?? 0, r.dst4_addr ?? r.dst6_addr!, r.dst_port ?? 0) === key(proto, f.device.ip, f.local_port ?? 0, f.remote.ip, f.remote.port ?? 0));
      assert.ok(outbound, `${f.device.ip} -> ${f.remote.ip}`);
      // JSON has microseconds (2024-06-01T08:00:03.027123Z), nfdump milliseconds.
      assert.equal(outbound.first, f.first_seen.slice(0, 23));
      assert.equal(outbound.last, f.last_seen.slice(0, 23));
      assert.equal(outbound.direction, 0);
      assert.equal(outbound.in_src_mac, f.device.mac ?? '00:00:00:00:00:00');
      const inbound = records.find((r) => r !== outbound && r.proto === outbound.proto && r.src_port === outbound.dst_port && r.dst_port === outbound.src_port && (r.src4_addr ?? r.src6_addr) === (outbound.dst4_addr ?? outbound.dst6_addr) && (r.dst4_addr ?? r.dst6_addr) === (outbound.src4_addr ?? outbound.src6_addr));
      if (f.packets_in > 0) {
        assert.ok(inbound, `${f.remote.ip} -> ${f.device.ip}`);
        assert.equal(inbound.direction, 1);
        assert.equal(inbound.in_dst_mac, f.device.mac ?? '00:00:00:00:00:00');
      }
    }
  });

  it('a collector that is not there is a warning, not a failed replay', async () => {
    const port = await freeUdpPort();
    const r = ws.replayJson(ws.writeCapture('again.pcap', household(DOC_PLAN)), ['--ipfix', `127.0.0.1:${port}`]);
    assert.equal(r.status, 0);
    assert.match(r.stderr, new RegExp(`^geowarden: warning: IPFIX export to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    assert.deepEqual(r.flows.length, out.flows.length);
  });
});
