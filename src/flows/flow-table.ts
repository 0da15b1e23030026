import type { Words } from '../net/address';
import { Flow, TIMEOUT_CLASSES, TimeoutClass } from './flow';

/** murmur3's 32-bit finaliser: cheap and mixes every input bit into every output bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Per-process random seed: without it, a sender who knows the hash could aim many flows at one
 * bucket chain (hash flooding) and make every lookup a long walk.
 */
const SEED = (Math.random() * 0x100000000) >>> 0;

function hashEndpoint(w: Words, port: number): number {
  // Multiply-xor over the four words, one finaliser at the end: as well mixed for bucket
  // selection as finalising every word, at a third of the cost on the per-packet path.
  let h = Math.imul(w[0]! ^ SEED, 0x9e3779b1);
  h = Math.imul(h ^ w[1]!, 0x85ebca6b);
  h = Math.imul(h ^ w[2]!, 0xc2b2ae35);
  h = Math.imul(h ^ w[3]!, 0x27d4eb2f);
  return fmix32(h ^ port);
}

export interface FlowTableStats {
  active: number;
  capacity: number;
  created: number;
  evicted: number;
  /** Ended flows kept for reuse by allocate(). */
  pooled: number;
}

/**
 * Bidirectional flows keyed by 5-tuple without building keys: a symmetric hash (the XOR of both
 * endpoints' hashes) picks a bucket in a power-of-two array, and a chain compares fields.
 * Each timeout class keeps an LRU list (least recently seen at the head); when the table is full,
 * the least recently seen flow of all classes is evicted.
 *
 * Flow objects are pooled: allocate() hands out an ended flow when there is one, release() takes
 * one back once its record has been emitted. A flow outlives V8's young generation (it lives
 * seconds to minutes), so a fresh object per flow became old-generation garbage once the flow
 * ended; at 50k packets/s that garbage made the heap, and the RSS, grow to several times the live
 * tables between major GCs. With the pool, the number of Flow objects ever allocated is the
 * highest number of flows active at once (at most `capacity`), and they are reused in place.
 */
export class FlowTable {
  private readonly buckets: Array<Flow | null>;
  private readonly mask: number;
  private readonly heads: Array<Flow | null> = new Array<Flow | null>(TIMEOUT_CLASSES).fill(null);
  private readonly tails: Array<Flow | null> = new Array<Flow | null>(TIMEOUT_CLASSES).fill(null);
  private activeCount = 0;
  private createdCount = 0;
  private evictedCount = 0;
  readonly capacity: number;
  /** Set by find(): true when the packet travels from A to B. Avoids returning a tuple. */
  lastFromA = true;
  /** Hash of the last find(), reused by insert(). */
  private lastHash = 0;
  /** Released flows, linked through lruNext; at most `capacity` of them. */
  private freeHead: Flow | null = null;
  private freeCount = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    let size = 1024;
    while (size < capacity * 2) size *= 2;
    this.buckets = new Array<Flow | null>(size).fill(null);
    this.mask = size - 1;
  }

  get size(): number {
    return this.activeCount;
  }

  /** A flow in the state of `new Flow()`: a released one when the pool has one. */
  allocate(): Flow {
    const flow = this.freeHead;
    if (flow === null) return new Flow();
    this.freeHead = flow.lruNext;
    flow.lruNext = null;
    this.freeCount--;
    return flow;
  }

  /**
   * Gives an ended flow back for reuse. Call it after remove() and after everything that reads
   * the flow is done with it (the record is built from it first): the next allocate() may hand
   * out this very object. References the flow held (names, SNI, inspector state) are dropped now.
   */
  release(flow: Flow): void {
    flow.reset();
    // Never more than the table can hold at once: a burst's worth of ended flows is enough.
    if (this.freeCount >= this.capacity) return;
    flow.lruNext = this.freeHead;
    this.freeHead = flow;
    this.freeCount++;
  }

  find(src: Words, srcPort: number, dst: Words, dstPort: number, protocol: number): Flow | null {
    const h = fmix32(hashEndpoint(src, srcPort) ^ hashEndpoint(dst, dstPort) ^ protocol);
    this.lastHash = h;
    for (let f: Flow | null = this.buckets[h & this.mask]!; f !== null; f = f.bucketNext) {
      if (f.hash !== h || f.protocol !== protocol) continue;
      if (
        f.aPort === srcPort &&
        f.bPort === dstPort &&
        f.a3 === src[3] &&
        f.b3 === dst[3] &&
        f.a2 === src[2] &&
        f.b2 === dst[2] &&
        f.a1 === src[1] &&
        f.b1 === dst[1] &&
        f.a0 === src[0] &&
        f.b0 === dst[0]
      ) {
        this.lastFromA = true;
        return f;
      }
      if (
        f.aPort === dstPort &&
        f.bPort === srcPort &&
        f.a3 === dst[3] &&
        f.b3 === src[3] &&
        f.a2 === dst[2] &&
        f.b2 === src[2] &&
        f.a1 === dst[1] &&
        f.b1 === src[1] &&
        f.a0 === dst[0] &&
        f.b0 === src[0]
      ) {
        this.lastFromA = false;
        return f;
      }
    }
    return null;
  }

  /**
   * Inserts a flow whose endpoints are already set, using the hash of the find() that missed
   * (the hash is symmetric, so swapping A and B before inserting is fine).
   */
  insert(flow: Flow, timeoutClass: TimeoutClass): void {
    flow.hash = this.lastHash;
    const slot = flow.hash & this.mask;
    flow.bucketNext = this.buckets[slot]!;
    this.buckets[slot] = flow;
    flow.timeoutClass = timeoutClass;
    this.append(flow);
    this.activeCount++;
    this.createdCount++;
  }

  /** The flow was just seen: move it to the tail of its (possibly new) class list. */
  touch(flow: Flow, timeoutClass: TimeoutClass): void {
    if (this.tails[timeoutClass] === flow) return;
    this.unlink(flow);
    flow.timeoutClass = timeoutClass;
    this.append(flow);
  }

  remove(flow: Flow): void {
    const slot = flow.hash & this.mask;
    let prev: Flow | null = null;
    for (let f: Flow | null = this.buckets[slot]!; f !== null; prev = f, f = f.bucketNext) {
      if (f !== flow) continue;
      if (prev) prev.bucketNext = f.bucketNext;
      else this.buckets[slot] = f.bucketNext;
      break;
    }
    flow.bucketNext = null;
    this.unlink(flow);
    this.activeCount--;
  }

  /** The least recently seen flow over all classes, for eviction when the table is full. */
  oldest(): Flow | null {
    let best: Flow | null = null;
    for (const h of this.heads) if (h && (!best || h.lastUs < best.lastUs)) best = h;
    return best;
  }

  noteEviction(): void {
    this.evictedCount++;
  }

  /** The least recently seen flow of one class (expiry walks from here). */
  head(timeoutClass: TimeoutClass): Flow | null {
    return this.heads[timeoutClass]!;
  }

  *all(): IterableIterator<Flow> {
    for (let c = 0; c < TIMEOUT_CLASSES; c++) {
      for (let f: Flow | null = this.heads[c]!; f !== null; f = f.lruNext) yield f;
    }
  }

  stats(): FlowTableStats {
    return { active: this.activeCount, capacity: this.capacity, created: this.createdCount, evicted: this.evictedCount, pooled: this.freeCount };
  }

  private append(flow: Flow): void {
    const c = flow.timeoutClass;
    const tail = this.tails[c]!;
    flow.lruPrev = tail;
    flow.lruNext = null;
    if (tail) tail.lruNext = flow;
    else this.heads[c] = flow;
    this.tails[c] = flow;
  }

  private unlink(flow: Flow): void {
    const c = flow.timeoutClass;
    if (flow.lruPrev) flow.lruPrev.lruNext = flow.lruNext;
    else if (this.heads[c] === flow) this.heads[c] = flow.lruNext;
    if (flow.lruNext) flow.lruNext.lruPrev = flow.lruPrev;
    else if (this.tails[c] === flow) this.tails[c] = flow.lruPrev;
    flow.lruPrev = null;
    flow.lruNext = null;
  }
}

export { TimeoutClass };
