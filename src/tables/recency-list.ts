/**
 * The recency order of a bounded table, kept in a doubly linked list through the table's own
 * entries. Re-inserting a key into a Map on every use (delete + set) would keep the order too,
 * but the deleted slots make V8 rebuild the Map again and again, about a microsecond each time;
 * relinking one entry costs a few pointer writes. Used by the tables that evict the entry used
 * least recently (GeoIP cache, DNS answers, devices, per-device activity).
 */
export interface RecencyLinks<T> {
  /** Toward the least recently used end; null at that end or outside the list. */
  older: T | null;
  /** Toward the most recently used end; null at that end or outside the list. */
  newer: T | null;
}

export class RecencyList<T extends RecencyLinks<T>> {
  private oldestItem: T | null = null;
  private newestItem: T | null = null;

  /** Used least recently: the next to evict. */
  get oldest(): T | null {
    return this.oldestItem;
  }

  /** Used most recently. */
  get newest(): T | null {
    return this.newestItem;
  }

  /** Makes `item`, which is not in the list, the most recently used. */
  append(item: T): void {
    item.older = this.newestItem;
    item.newer = null;
    if (this.newestItem) this.newestItem.newer = item;
    else this.oldestItem = item;
    this.newestItem = item;
  }

  /** Takes `item` out of the list; an item not in it is left as it is. */
  remove(item: T): void {
    if (item.older) item.older.newer = item.newer;
    else if (this.oldestItem === item) this.oldestItem = item.newer;
    if (item.newer) item.newer.older = item.older;
    else if (this.newestItem === item) this.newestItem = item.older;
    item.older = null;
    item.newer = null;
  }

  /** Marks `item`, which is in the list, as used now. */
  touch(item: T): void {
    if (item === this.newestItem) return;
    this.remove(item);
    this.append(item);
  }
}
