/**
 * QUIC Initial decryption must not cost the hot path: on a gateway capture where 30% of the
 * flows are QUIC with real client Initials, `geowarden replay` with `flows.quic: true` (the
 * default) must stay within 10% of the same replay with `flows.quic: false`. Each run is its own
 * process (bench/replay-child.js); runs alternate on/off so drift hits both alike. The verdict
 * compares CPU time (user + system of the replay process), which a busy machine disturbs far
 * less than wall time; both are printed.
 *
 * Other work in the pipeline getting faster makes the same QUIC cost a larger share, so the
 * absolute cost is printed too: CPU per QUIC flow of the QuicInspector alone, in this process
 * with warm code, on Initials like the capture's (a fresh connection ID, so fresh keys, per
 * flow) and on Chrome-like flows (a 1.8 KB ClientHello in shuffled CRYPTO pieces between PING
 * and PADDING, over two Initials). `--inspector-only` prints just that.
 *
 *   node dist/bench/quic-bench.js [--packets N] [--runs N] [--share 0.3] [--keep] [--inspector-only]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newDecodeErrorCounts, newDecodedPacket, type DecodedPacket } from '../src/decode/types';
import { Flow } from '../src/flows/flow';
import { QUIC_PACKET_BUDGET, QuicInspector } from '../src/flows/quic-inspector';
import { quicClientHello, quicCryptoPieces, quicInitial, quicVarint } from '../test/support/packets';
import { BENCH_OUT, PROJECT_ROOT, cachedCapture, median, numberFlag, runChild } from './bench-support';

interface ChildResult {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
}

const args = process.argv.slice(2);
const packets = numberFlag('--packets', 1_000_000);
const runs = numberFlag('--runs', 5);
const share = numberFlag('--share', 0.3);
/** The budget the issue sets: QUIC parsing on costs at most 10% of throughput. */
const MAX_SLOWDOWN = 0.1;

function measure(file: string, config: string): ChildResult {
  return runChild<ChildResult>('replay-child.js', ['pipeline', file, config]);
}

/** Flows and QUIC-named flows in the capture, from one JSON replay (not timed). */
function census(file: string): { flows: number; udp: number; quic: number; quicWithSni: number } {
  const cli = path.join(PROJECT_ROOT, 'dist', 'src', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'replay', file, '--json'], { encoding: 'utf8', maxBuffer: 2 * 1024 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`census replay failed: ${r.stderr}`);
  const c = { flows: 0, udp: 0, quic: 0, quicWithSni: 0 };
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{"type":"flow"')) continue;
    const f = JSON.parse(line) as { proto: string; app_protocol?: string | null; sni: string | null; remote: { ip: string } };
    c.flows++;
    if (f.proto === 'udp' && f.remote.ip !== '192.168.1.1') c.udp++;
    if (f.app_protocol === 'quic') {
      c.quic++;
      if (f.sni) c.quicWithSni++;
    }
  }
  return c;
}

/** A UDP payload as the decoder hands it to the inspector (behind Ethernet, IPv4 and UDP headers). */
function udpPacket(payload: Buffer): DecodedPacket {
  const pkt = newDecodedPacket();
  pkt.buf = Buffer.concat([Buffer.alloc(42), payload]);
  pkt.payloadOffset = 42;
  pkt.payloadLength = payload.length;
  pkt.capturedLength = pkt.wireLength = pkt.buf.length;
  return pkt;
}

/** Median CPU microseconds per flow of QuicInspector.inspect over `flows` (each a flow's client datagrams). */
function inspectorCpuPerFlow(flows: DecodedPacket[][], names: string[]): number {
  const inspector = new QuicInspector(newDecodeErrorCounts());
  const pass = (): number => {
    const start = process.cpuUsage();
    for (let i = 0; i < flows.length; i++) {
      const flow = new Flow();
      flow.protocol = 17;
      flow.inspectBudget = QUIC_PACKET_BUDGET;
      for (const pkt of flows[i]!) if (flow.inspectBudget > 0) inspector.inspect(flow, pkt, true);
      if (flow.sni !== names[i]) throw new Error(`inspector bench: flow ${i} named ${flow.sni}, not ${names[i]}`);
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / flows.length;
  };
  for (let i = 0; i < 20; i++) pass(); // past JIT warm-up
  return median(Array.from({ length: 15 }, pass));
}

function inspectorAlone(): { captureLike: number; chromeLike: number } {
  const n = 2000;
  const names = Array.from({ length: n }, (_, i) => `host${i}.example${i % 50}.com`);
  const captureLike = names.map((sni, i) => {
    const cid = createHash('sha256').update(`inspector-bench:${i}`).digest();
    return [udpPacket(quicInitial({ dcid: cid.subarray(0, 8), scid: cid.subarray(8, 16), cryptoFrames: [{ offset: 0, data: quicClientHello({ sni, alpn: ['h3'] }) }], padTo: 1200 }))];
  });
  const chromeLike = names.map((sni, i) => {
    const cid = createHash('sha256').update(`inspector-bench-chrome:${i}`).digest();
    const pieces = quicCryptoPieces(quicClientHello({ sni, alpn: ['h3'], padTo: 1800 }), 150 + (i % 7) * 20);
    for (let j = pieces.length - 1; j > 0; j--) {
      const r = (i * 31 + j * 17) % (j + 1);
      [pieces[j], pieces[r]] = [pieces[r]!, pieces[j]!];
    }
    const halves: Buffer[][] = [[], []];
    pieces.forEach((p, k) => {
      const half = halves[p.offset < 1000 ? 0 : 1]!;
      half.push(Buffer.concat([Buffer.from([0x06]), quicVarint(p.offset), quicVarint(p.data.length), p.data]));
      if (k % 3 === 0) half.push(Buffer.from([0x01])); // PING
      if (k % 4 === 1) half.push(Buffer.alloc(20)); // PADDING
    });
    return halves.map((frames, packetNumber) => udpPacket(quicInitial({ dcid: cid.subarray(0, 8), scid: cid.subarray(8, 16), packetNumber, frames, padTo: 1250 })));
  });
  return { captureLike: inspectorCpuPerFlow(captureLike, names), chromeLike: inspectorCpuPerFlow(chromeLike, names) };
}

function inspectorLine(): string {
  const alone = inspectorAlone();
  return (
    `  QUIC inspector alone (warm, in process): ${alone.captureLike.toFixed(1)} us of CPU per QUIC flow like the capture's, ` +
    `${alone.chromeLike.toFixed(1)} us per Chrome-like flow (1.8 KB ClientHello over two Initials)`
  );
}

async function main(): Promise<void> {
  if (args.includes('--inspector-only')) {
    process.stdout.write(`${inspectorLine()}\n`);
    return;
  }
  const dir = BENCH_OUT;
  const { file, gen } = await cachedCapture(`gateway-quic${Math.round(share * 100)}-${packets}.pcap`, { packets, quicShare: share });
  const on = path.join(dir, 'quic-on.yaml');
  const off = path.join(dir, 'quic-off.yaml');
  writeFileSync(on, 'flows:\n  quic: true\n');
  writeFileSync(off, 'flows:\n  quic: false\n');
  const c = census(file);
  const onRuns: ChildResult[] = [];
  const offRuns: ChildResult[] = [];
  measure(file, off); // warm the page cache
  for (let i = 0; i < runs; i++) {
    offRuns.push(measure(file, off));
    onRuns.push(measure(file, on));
  }
  const secsOn = median(onRuns.map((r) => r.seconds));
  const secsOff = median(offRuns.map((r) => r.seconds));
  const cpuOn = median(onRuns.map((r) => r.cpuSeconds));
  const cpuOff = median(offRuns.map((r) => r.cpuSeconds));
  const ppsOn = gen.packets / cpuOn;
  const ppsOff = gen.packets / cpuOff;
  const slowdown = 1 - ppsOn / ppsOff;
  const lines = [
    `Geowarden QUIC benchmark (${os.cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}, ${runs} runs each, median)`,
    `  capture: ${gen.packets.toLocaleString('en-US')} packets, ${(gen.bytes / 1e6).toFixed(0)} MB; ${c.flows.toLocaleString('en-US')} flows, ` +
      `${c.quic.toLocaleString('en-US')} QUIC (${((100 * c.quic) / c.flows).toFixed(1)}% of all flows, ${c.quicWithSni.toLocaleString('en-US')} with SNI), ` +
      `${c.udp.toLocaleString('en-US')} UDP to the outside`,
    `  flows.quic: false  ${(ppsOff / 1e6).toFixed(3)} M packets per CPU second  (CPU ${cpuOff.toFixed(2)} s, wall ${secsOff.toFixed(2)} s, peak RSS ${Math.max(...offRuns.map((r) => r.maxRssMiB)).toFixed(0)} MiB)`,
    `  flows.quic: true   ${(ppsOn / 1e6).toFixed(3)} M packets per CPU second  (CPU ${cpuOn.toFixed(2)} s, wall ${secsOn.toFixed(2)} s, peak RSS ${Math.max(...onRuns.map((r) => r.maxRssMiB)).toFixed(0)} MiB)`,
    `  cost of QUIC parsing: ${(100 * slowdown).toFixed(1)}% of throughput, ${((1e6 * (cpuOn - cpuOff)) / Math.max(1, c.quic)).toFixed(0)} us of CPU per QUIC flow (budget ${(100 * MAX_SLOWDOWN).toFixed(0)}%): ${slowdown <= MAX_SLOWDOWN ? 'within' : 'OVER'}`,
    inspectorLine(),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!args.includes('--keep')) rmSync(file, { force: true }), rmSync(`${file}.json`, { force: true });
  if (slowdown > MAX_SLOWDOWN) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`quic bench failed: ${err.message}\n`);
  process.exitCode = 1;
});
