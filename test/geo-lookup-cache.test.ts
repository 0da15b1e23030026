/**
 * The geo lookup cache (src/geo/lookup-cache.ts): a bounded LRU whose recency lives in a linked
 * list beside the Map, so a hit must move exactly like a delete + re-insert would have.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LookupCache } from '../src/geo/lookup-cache';

/** Which of `keys` are still cached after `history`. */
function survivors<K>(capacity: number, history: Array<['get' | 'set', K]>, keys: readonly K[]): K[] {
  const cache = new LookupCache<string, K>(capacity);
  for (const [op, key] of history) {
    if (op === 'get') cache.get(key);
    else cache.set(key, `v${String(key)}`);
  }
  return keys.filter((k) => cache.get(k) !== undefined);
}

describe('LookupCache', () => {
  it('evicts the least recently used entry, a hit counting as use', () => {
    const cache = new LookupCache<string, number>(3);
    cache.set(1, 'a');
    cache.set(2, 'b');
    cache.set(3, 'c');
    assert.equal(cache.get(1), 'a'); // 2 is now the oldest
    cache.set(4, 'd');
    assert.equal(cache.get(2), undefined);
    assert.equal(cache.get(3), 'c');
    assert.equal(cache.get(1), 'a');
    assert.equal(cache.get(4), 'd');
    cache.set(5, 'e'); // 3 was used before 1 and 4
    assert.equal(cache.get(3), undefined);
    assert.deepEqual(cache.stats(), { hits: 4, misses: 2, evictions: 2, size: 3, capacity: 3 });
  });

  it('keeps the same entries as a Map-ordered LRU over a long mixed history', () => {
    // Reference: the Map insertion-order LRU this cache replaced (delete + set on every hit).
    const capacity = 50;
    const reference = new Map<number, string>();
    const cache = new LookupCache<string, number | string>(capacity);
    let x = 12345;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      // Mixed key types, as the resolver uses: numbers for IPv4, text otherwise.
      const n = x % 120;
      const key = n % 7 === 0 ? `k${n}` : n;
      const refKey = n;
      const hit = reference.get(refKey);
      if (hit !== undefined) {
        reference.delete(refKey);
        reference.set(refKey, hit);
      }
      const got = cache.get(key);
      assert.equal(got, hit, `step ${i}`);
      if (got === undefined) {
        if (reference.size >= capacity) reference.delete(reference.keys().next().value!);
        reference.set(refKey, `v${n}`);
        cache.set(key, `v${n}`);
      }
      assert.equal(cache.stats().size, reference.size);
    }
  });

  it('handles a capacity of one and of zero', () => {
    assert.deepEqual(survivors(1, [['set', 'a'], ['get', 'a'], ['set', 'b']], ['a', 'b']), ['b']);
    const off = new LookupCache<string>(0);
    off.set('a', 'x');
    assert.equal(off.get('a'), undefined);
    assert.deepEqual(off.stats(), { hits: 0, misses: 1, evictions: 0, size: 0, capacity: 0 });
    assert.throws(() => new LookupCache(-1), RangeError);
  });
});
