/**
 * `npm run bench`: generates a synthetic gateway capture (1M packets, 200 devices, 50k remote
 * addresses, ~3% DNS, ~5% IPv6) and measures `geowarden replay` on it: packets/s and peak RSS,
 * next to the bare libpcap read loop. Options: --packets N, --runs N, --keep.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_OUT, cachedCapture, median, numberFlag, runChild } from './bench-support';

interface ChildResult {
  mode: string;
  frames: number;
  seconds: number;
  maxRssMiB: number;
}

const args = process.argv.slice(2);
const packets = numberFlag('--packets', 1_000_000);
// `npm run bench -- --live [options]` is `npm run bench:live -- [options]` (bench/live-bench.ts).
if (args.includes('--live')) {
  const live = spawnSync(process.execPath, [path.join(__dirname, 'live-bench.js'), ...args.filter((a) => a !== '--live')], { stdio: 'inherit' });
  process.exit(live.status ?? 1);
}
const runs = numberFlag('--runs', 3);

function measure(mode: 'pipeline' | 'raw', file: string): ChildResult {
  return runChild<ChildResult>('replay-child.js', [mode, file]);
}

async function main(): Promise<void> {
  const { file, gen } = await cachedCapture(`gateway-${packets}.pcap`, { packets });
  const raw: ChildResult[] = [];
  const pipe: ChildResult[] = [];
  for (let i = 0; i < runs; i++) {
    raw.push(measure('raw', file));
    pipe.push(measure('pipeline', file));
  }
  const rawSecs = median(raw.map((r) => r.seconds));
  const pipeSecs = median(pipe.map((r) => r.seconds));
  const lines = [
    `Geowarden replay benchmark (${os.cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}, ${runs} runs, median)`,
    `  capture: ${gen.packets.toLocaleString('en-US')} packets, ${(gen.bytes / 1e6).toFixed(0)} MB (generated in ${gen.seconds.toFixed(1)} s)`,
    `  libpcap read loop only:   ${(gen.packets / rawSecs / 1e6).toFixed(2)} M packets/s  (${rawSecs.toFixed(2)} s, peak RSS ${Math.max(...raw.map((r) => r.maxRssMiB)).toFixed(0)} MiB)`,
    `  geowarden replay report:  ${(gen.packets / pipeSecs / 1e6).toFixed(2)} M packets/s  (${pipeSecs.toFixed(2)} s, peak RSS ${Math.max(...pipe.map((r) => r.maxRssMiB)).toFixed(0)} MiB)`,
    `  targets: >= 1.00 M packets/s, peak RSS < 300 MiB`,
    `  live capture (root, tcpreplay over a private veth pair, 10-minute soak): npm run bench:live (--quick for a short run)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.includes('--clean')) rmSync(BENCH_OUT, { recursive: true, force: true });
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.message}\n`);
  process.exitCode = 1;
});
