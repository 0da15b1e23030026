/** What every benchmark script shares: flags, child runs, medians and the cached capture. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateGatewayCapture, type GatewayCaptureOptions } from './gateway-capture';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const BENCH_OUT = path.join(PROJECT_ROOT, 'bench-out');

/** `--name N` from the command line, or `def`. */
export function numberFlag(name: string, def: number): number {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Runs one measured child (a script in dist/bench/) in its own process, so that its peak RSS is
 * its own, and returns the JSON figures it prints as its last stderr line.
 */
export function runChild<T>(script: string, args: string[]): T {
  const r = spawnSync(process.execPath, [path.join(__dirname, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`${script} ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return JSON.parse(last) as T;
}

export interface GeneratedCapture {
  packets: number;
  bytes: number;
  seconds: number;
}

/** bench-out/NAME, generated once with `opts` and reused while its stamp file is there. */
export async function cachedCapture(name: string, opts: GatewayCaptureOptions): Promise<{ file: string; gen: GeneratedCapture }> {
  mkdirSync(BENCH_OUT, { recursive: true });
  const file = path.join(BENCH_OUT, name);
  const stamp = `${file}.json`;
  if (existsSync(file) && existsSync(stamp)) {
    process.stderr.write(`reusing ${path.relative(PROJECT_ROOT, file)}\n`);
    return { file, gen: JSON.parse(readFileSync(stamp, 'utf8')) as GeneratedCapture };
  }
  process.stderr.write(`generating ${path.relative(PROJECT_ROOT, file)} ...\n`);
  const gen = await generateGatewayCapture(file, opts);
  writeFileSync(stamp, JSON.stringify(gen));
  return { file, gen };
}
