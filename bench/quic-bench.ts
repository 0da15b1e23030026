/**
 * QUIC Initial decryption must not cost the hot path: on a gateway capture where 30% of the
 * flows are QUIC with real client Initials, `geowarden replay` with `flows.quic: true` (the
 * default) must stay within 10% of the same replay with `flows.quic: false`. Each run is its own
 * process (bench/replay-child.js); runs alternate on/off so drift hits both alike. The verdict
 * compares CPU time (user + system of the replay process), which a busy machine disturbs far
 * less than wall time; both are printed.
 *
 *   node dist/bench/quic-bench.js [--packets N] [--runs N] [--share 0.3] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

async function main(): Promise<void> {
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
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!args.includes('--keep')) rmSync(file, { force: true }), rmSync(`${file}.json`, { force: true });
  if (slowdown > MAX_SLOWDOWN) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`quic bench failed: ${err.message}\n`);
  process.exitCode = 1;
});
