/**
 * Counters read at scrape time come from stage statistics that can go backwards: libpcap's
 * pcap_stats fields are 32-bit `u_int`s that wrap (about 6 h at 200k packets/s), a reopened
 * capture starts again from zero, and a rebound stage (a GeoIP resolver swapped in by the updater)
 * brings its own counts. Prometheus reads any decrease as a process restart, so rate() would be
 * wrong around it. This turns such readings into one non-decreasing series per key.
 */

const WRAP_32 = 2 ** 32;

export class MonotonicReading {
  private readonly last = new Map<string, number>();
  private readonly base = new Map<string, number>();

  /**
   * The exposed value for `raw` under `key`. A decrease is a 32-bit wrap when `wraps32` is set and
   * the previous reading was in the upper half of the range (a genuine reset then is too unlikely
   * to matter); otherwise it is a restart of the source, and counting continues from the last value.
   */
  read(key: string, raw: number, wraps32 = false): number {
    const previous = this.last.get(key);
    let base = this.base.get(key) ?? 0;
    if (previous !== undefined && raw < previous) {
      base += wraps32 && previous >= WRAP_32 / 2 ? WRAP_32 : previous;
      this.base.set(key, base);
    }
    this.last.set(key, raw);
    return base + raw;
  }

  /** The source was replaced: whatever it reads next counts on top of what was exposed so far. */
  rebase(): void {
    for (const [key, raw] of this.last) this.base.set(key, (this.base.get(key) ?? 0) + raw);
    this.last.clear();
  }
}
