/**
 * Keeps labels with unbounded values (device, ASN, domain) from growing a metric without limit:
 * every distinct value set is a time series Prometheus stores for weeks, and a scan of the LAN or
 * a busy CDN would otherwise mint thousands. The first `limit` distinct value sets of a metric keep
 * their own series; later ones are folded into OTHER, and the fold is counted so that it shows.
 */

/** The label value that folded label sets share. */
export const OTHER = 'other';

export class CardinalityGuard {
  private readonly kept = new Set<string>();
  private foldedCount = 0;

  /** `metric` is the full metric name, as it appears in geowarden_label_sets{metric}. */
  constructor(
    readonly metric: string,
    readonly limit: number,
  ) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`cardinality limit for ${metric} must be a non-negative integer, got ${limit}`);
  }

  /**
   * True when the value set identified by `key` keeps its own series; false when the caller must
   * replace the unbounded values by OTHER. Kept sets stay kept for the life of the process, so a
   * series never flips between its own name and "other".
   */
  admit(key: string): boolean {
    if (this.kept.has(key)) return true;
    if (this.kept.size < this.limit) {
      this.kept.add(key);
      return true;
    }
    this.foldedCount++;
    return false;
  }

  /** Distinct value sets with their own series. */
  get size(): number {
    return this.kept.size;
  }

  /** Observations folded into OTHER so far. */
  get folded(): number {
    return this.foldedCount;
  }
}

/** One guard per metric, created on first use with the shared limit. */
export class CardinalityGuards {
  private readonly guards = new Map<string, CardinalityGuard>();

  constructor(readonly limit: number) {}

  for(metric: string): CardinalityGuard {
    let guard = this.guards.get(metric);
    if (!guard) {
      guard = new CardinalityGuard(metric, this.limit);
      this.guards.set(metric, guard);
    }
    return guard;
  }

  all(): CardinalityGuard[] {
    return [...this.guards.values()];
  }
}
