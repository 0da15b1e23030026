/**
 * A bounded LRU keyed by address text. A Map iterates in insertion order, so re-inserting on a
 * hit keeps the least recently used entry first, where eviction finds it in O(1).
 */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
  capacity: number;
}

export class LookupCache<V, K = string> {
  private readonly entries = new Map<K, V>();
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** A capacity of 0 disables caching; every get is then a miss. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`cache size must be a whole number >= 0, not ${capacity}`);
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    if (this.capacity === 0) return;
    // Callers set only after a miss, so the key is new: no has() probe needed.
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) {
        this.entries.delete(oldest.value);
        this.evictions++;
      }
    }
    this.entries.set(key, value);
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, size: this.entries.size, capacity: this.capacity };
  }
}
