/**
 * How big the daemon's V8 heap may grow, set once at startup.
 *
 * The daemon's live heap is its tables (flows, DNS answers, the GeoIP cache, devices), which are
 * bounded by the config. What V8 adds on top is (1) garbage waiting for the next major GC: V8
 * starts one when the old generation reaches the live size times a growing factor, and on a
 * machine with a few GiB of memory it allows a factor of up to 4; at 50k packets/s that let a
 * heap with about 110 MiB live grow to 400 MiB before each collection; and (2) fragmentation:
 * objects that live minutes (cached GeoIP answers, SNI strings of open flows) die scattered over
 * old-space pages, and a latency-oriented major GC moves at most a few MiB of survivors out of
 * such pages, so the pages V8 keeps committed grew for ten minutes after the tables were full.
 *
 * `geowarden run` therefore sets two V8 flags at startup, before the tables exist:
 *   --heap-growing-percent=25  the next major GC starts at 1.25 times what the last one left
 *                              alive (plus the young generation), instead of up to 4 times;
 *   --optimize-for-size        every major GC is a memory-reducing one: it compacts pages that
 *                              are more than 20 % free (up to 12 MiB of survivors per GC) and
 *                              shrinks the young generation back when it can.
 * V8 reads both whenever it plans a GC, so setting them at runtime works (unlike
 * --max-old-space-size, which V8 reads only when the process starts; measured: test/
 * daemon-heap.test.ts, and the soak of bench/live-bench.ts). The cost is more frequent, shorter
 * GCs: at 50k packets/s a major GC every 10 s with pauses up to ~50 ms, and scavenges every 0.2 s.
 *
 * The heap then stays proportional to the live tables, which tablesHeapBytes() estimates from the
 * configured sizes; the daemon logs that estimate and warns when an admin's hard limit
 * (NODE_OPTIONS=--max-old-space-size=MiB) is too small for it, since a full heap ends the process
 * with "JavaScript heap out of memory".
 *
 * Overrides: GEOWARDEN_HEAP_GROWING_PERCENT=N in the environment sets another percent (0: the
 * daemon sets no V8 flag at all and V8 sizes the heap as it would anywhere else); either flag on
 * node's own command line (node does not take them in NODE_OPTIONS) means the admin tunes V8
 * directly, and the daemon then sets neither.
 */
import v8 from 'node:v8';
import type { Config } from '../config/types';

export const DEFAULT_HEAP_GROWING_PERCENT = 25;
export const HEAP_GROWING_ENV = 'GEOWARDEN_HEAP_GROWING_PERCENT';

const MiB = 1024 * 1024;

/**
 * Live heap per table entry at its fullest, measured on Node 20 (x64) by filling each table and
 * comparing the heap after full GCs, rounded up:
 *   flow       370 B measured (Flow object with its boxed numbers), + 50 for an SNI string
 *   DNS        226 B per address (entry, answer, a share of a 2-name chain from a 3-address answer)
 *   GeoIP      444 B per cached address (the lookup result and its Map slot)
 *   device     1.3 KiB (device table + /api/v1/devices state) + 50 names at 97 B (the per-device cap)
 * BASE is the heap after startup with empty tables (code, config, policy, metrics), plus room
 * for the metrics series and the per-country state that grow with traffic.
 */
export const HEAP_BYTES_PER = {
  flow: 420,
  dnsAddress: 240,
  geoCacheEntry: 450,
  device: 6_200,
} as const;
const BASE_BYTES = 24 * MiB;
/** V8's young generation on 64-bit: two 16 MiB semi-spaces, committed once the daemon is busy. */
export const YOUNG_GENERATION_BYTES = 32 * MiB;

/** Estimated live heap with every table full at the configured sizes. */
export function tablesHeapBytes(config: Pick<Config, 'flows' | 'dns' | 'geoip' | 'devices'>): number {
  // The flow table's bucket array: a power of two of at least twice the capacity, 8 B a slot.
  let buckets = 1024;
  while (buckets < config.flows.maxFlows * 2) buckets *= 2;
  return (
    BASE_BYTES +
    buckets * 8 +
    config.flows.maxFlows * HEAP_BYTES_PER.flow +
    config.dns.maxEntries * HEAP_BYTES_PER.dnsAddress +
    config.geoip.cacheSize * HEAP_BYTES_PER.geoCacheEntry +
    config.devices.maxDevices * HEAP_BYTES_PER.device
  );
}

export interface HeapPlan {
  /** The growing percent in effect; null when V8 chooses the factor itself. */
  growingPercent: number | null;
  /** Where it comes from: the daemon's default, the environment, or node's command line. */
  source: 'default' | 'environment' | 'node-flag';
  /** V8 flags the daemon sets; none when the admin tunes V8 or turned it off. */
  flags: string[];
  tablesBytes: number;
  /** The heap the full tables need with the growing percent (null: V8's factor, up to 4x). */
  ceilingBytes: number | null;
  /** V8's hard limit (heap_size_limit: --max-old-space-size plus the young generation). */
  limitBytes: number;
  /** Reasons to warn the admin, one line each. */
  problems: string[];
}

const NODE_GROWING_FLAG = /^--heap[-_]growing[-_]percent(?:=(\d+))?$/;
const NODE_SIZE_FLAG = /^--(?:no[-_])?optimize[-_]for[-_]size$/;

export function planHeap(
  config: Pick<Config, 'flows' | 'dns' | 'geoip' | 'devices'>,
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
  limitBytes: number = v8.getHeapStatistics().heap_size_limit,
): HeapPlan {
  const problems: string[] = [];
  let growingPercent: number | null = DEFAULT_HEAP_GROWING_PERCENT;
  let source: HeapPlan['source'] = 'default';
  const growingFlag = execArgv.map((a) => NODE_GROWING_FLAG.exec(a)).find((m) => m !== null);
  const fromEnv = env[HEAP_GROWING_ENV];
  if (growingFlag || execArgv.some((a) => NODE_SIZE_FLAG.test(a))) {
    source = 'node-flag';
    const n = growingFlag ? Number(growingFlag[1] ?? 0) : 0;
    growingPercent = n > 0 ? n : null;
  } else if (fromEnv !== undefined && fromEnv.trim() !== '') {
    const n = Number(fromEnv);
    if (Number.isInteger(n) && n >= 0 && n <= 1000) {
      source = 'environment';
      growingPercent = n > 0 ? n : null;
    } else {
      problems.push(`${HEAP_GROWING_ENV}=${JSON.stringify(fromEnv)} is not a whole number from 0 to 1000: using ${DEFAULT_HEAP_GROWING_PERCENT}`);
    }
  }
  const flags = source !== 'node-flag' && growingPercent !== null ? [`--heap-growing-percent=${growingPercent}`, '--optimize-for-size'] : [];
  const tablesBytes = tablesHeapBytes(config);
  const ceilingBytes = growingPercent === null ? null : Math.ceil(tablesBytes * (1 + growingPercent / 100)) + YOUNG_GENERATION_BYTES;
  // Below the full tables plus V8's minimum headroom (8 MiB and the young generation) the heap
  // cannot hold what the config allows: V8 ends the process with "heap out of memory".
  const needed = tablesBytes + 8 * MiB + YOUNG_GENERATION_BYTES;
  if (limitBytes < needed) {
    problems.push(
      `the V8 heap limit (${Math.round(limitBytes / MiB)} MiB, from --max-old-space-size) is below the ${Math.round(needed / MiB)} MiB the tables need when full ` +
        `(flows.max_flows, dns.max_entries, geoip.cache_size, devices.max_devices): raise it or lower those, or the daemon may run out of heap`,
    );
  }
  return { growingPercent, source, flags, tablesBytes, ceilingBytes, limitBytes, problems };
}

/** Applies the plan's flags to this process's V8. */
export function applyHeapPlan(plan: HeapPlan): void {
  for (const flag of plan.flags) v8.setFlagsFromString(flag);
}
