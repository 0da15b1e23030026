/**
 * A bounded LRU keyed by address (a number for IPv4, text otherwise). Recency is kept in a
 * linked list through the entries, not in the Map's insertion order: re-inserting into a Map on
 * every hit (delete + set) leaves holes that make V8 rehash the whole table again and again,
 * which cost ~1 µs per hit, more than most lookups it saved. A hit now only relinks an entry.
 */
import { RecencyList, type RecencyLinks } from '../tables/recency-list';

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
  capacity: number;
}

interface Entry<K, V> extends RecencyLinks<Entry<K, V>> {
  readonly key: K;
  readonly value: V;
}

export class LookupCache<V, K = string> {
  private readonly entries = new Map<K, Entry<K, V>>();
  private readonly recency = new RecencyList<Entry<K, V>>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** A capacity of 0 disables caching; every get is then a miss. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache size must be a whole number >= 0, not ${capacity}`);
  }

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.recency.touch(entry);
    return entry.value;
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    // Callers set only after a miss, so the key is new: no has() probe needed.
    if (this.entries.size >= this.capacity) {
      const oldest = this.recency.oldest;
      if (oldest !== null) {
        this.recency.remove(oldest);
        this.entries.delete(oldest.key);
        this.evictions++;
      }
    }
    const entry: Entry<K, V> = { key, value, newer: null, older: null };
    this.recency.append(entry);
    this.entries.set(key, entry);
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, size: this.entries.size, capacity: this.capacity };
  }

}
