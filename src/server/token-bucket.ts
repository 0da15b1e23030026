/**
 * The web config's rate_limit, with the semantics of Go's rate.NewLimiter(rate.Every(interval),
 * burst) that exporter-toolkit uses: the bucket starts full with `burst` tokens and gains one
 * token per interval.
 */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly intervalMs: number,
    private readonly burst: number,
    nowMs: number = Date.now(),
  ) {
    this.tokens = burst;
    this.lastMs = nowMs;
  }

  /** Takes a token if one is available. */
  take(nowMs: number = Date.now()): boolean {
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.tokens = Math.min(this.burst, this.tokens + elapsed / this.intervalMs);
    this.lastMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
