/**
 * How big the daemon's V8 heap may grow, set once at startup.
 *
 * The daemon's live heap is its tables (flows, DNS answers, the GeoIP cache, devices), which are
 * bounded by the config. What V8 adds on top is garbage waiting for the next major GC: V8 starts
 * one when the old generation reaches the live size times a growing factor, and on a machine
 * with a few GiB of memory it allows a factor of up to 4. At 50k packets/s that let a heap with
 * about 110 MiB live grow to 400 MiB before each collection, and the RSS with it.
 *
 * `geowarden run` therefore sets V8's --heap-growing-percent (default 25: the next major GC
 * starts at 1.25 times what the last one left alive, plus V8's young generation). V8 reads that
 * flag whenever it computes the next limit, so it takes effect when set at startup (unlike
 * --max-old-space-size, which V8 reads only when the process starts). The heap then stays
 * proportional to the live tables, which tablesHeapBytes() estimates from the configured sizes:
 * that estimate is logged, and compared with the hard limit an admin may set with
 * NODE_OPTIONS=--max-old-space-size=MiB (a limit the full tables would not fit in ends in
 * "JavaScript heap out of memory", so the daemon warns at startup).
 *
 * Overrides: GEOWARDEN_HEAP_GROWING_PERCENT=N in the environment (0: leave the factor to V8), or
 * node's own --heap-growing-percent=N on the command line (node does not take it in
 * NODE_OPTIONS), which the daemon then leaves alone.
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
  /** V8 flag the daemon sets, or null when it leaves V8 alone. */
  flag: string | null;
  tablesBytes: number;
  /** The heap the full tables need with the growing percent (null: V8's factor, up to 4x). */
  ceilingBytes: number | null;
  /** V8's hard limit (heap_size_limit: --max-old-space-size plus the young generation). */
  limitBytes: number;
  /** Reasons to warn the admin, one line each. */
  problems: string[];
}

const NODE_FLAG = /^--heap[-_]growing[-_]percent(?:=(\d+))?$/;

export function planHeap(
  config: Pick<Config, 'flows' | 'dns' | 'geoip' | 'devices'>,
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
  limitBytes: number = v8.getHeapStatistics().heap_size_limit,
): HeapPlan {
  const problems: string[] = [];
  let growingPercent: number | null = DEFAULT_HEAP_GROWING_PERCENT;
  let source: HeapPlan['source'] = 'default';
  let flag: string | null = null;
  const nodeFlag = execArgv.map((a) => NODE_FLAG.exec(a)).find((m) => m !== null);
  const fromEnv = env[HEAP_GROWING_ENV];
  if (nodeFlag) {
    source = 'node-flag';
    const n = Number(nodeFlag[1] ?? 0);
    growingPercent = n > 0 ? n : null;
  } else {
    if (fromEnv !== undefined && fromEnv.trim() !== '') {
      const n = Number(fromEnv);
      if (Number.isInteger(n) && n >= 0 && n <= 1000) {
        source = 'environment';
        growingPercent = n > 0 ? n : null;
      } else {
        problems.push(`${HEAP_GROWING_ENV}=${JSON.stringify(fromEnv)} is not a whole number from 0 to 1000: using ${DEFAULT_HEAP_GROWING_PERCENT}`);
      }
    }
    if (growingPercent !== null) flag = `--heap-growing-percent=${growingPercent}`;
  }
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
  return { growingPercent, source, flag, tablesBytes, ceilingBytes, limitBytes, problems };
}

/** Applies the plan's flag to this process's V8. */
export function applyHeapPlan(plan: HeapPlan): void {
  if (plan.flag) v8.setFlagsFromString(plan.flag);
}
