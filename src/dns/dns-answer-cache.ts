import { formatAddress, isV4Mapped, type Words } from '../net/address';
import type { DnsAnswer, ResolvedNames } from './types';
import { RecencyList } from '../tables/recency-list';

/**
 * Address key: an IPv4 address as its 32-bit number, an IPv6 address as its text form.
 * Numbers keep the common case free of string building.
 */
export type AddressKey = number | string;

export function addressKeyOf(w: Words): AddressKey {
  return isV4Mapped(w) ? w[3]! : formatAddress(w);
}

/**
 * What one client was told about one address. The answers for an address form a short list
 * (oldest first, linked through `next`) instead of an array, and ended answers are reused: an
 * answer lives for its TTL plus grace (minutes to an hour), long enough for V8 to promote it, so
 * fresh objects per answer became old-generation garbage once replaced, evicted or expired.
 */
class ClientAnswer {
  client: AddressKey = 0;
  names: string[] = NO_NAMES;
  expiresUs = 0;
  next: ClientAnswer | null = null;
}

/** One address: its answers, and its place in the refresh order (least recently refreshed first). */
class AddressEntry {
  key: AddressKey = 0;
  first: ClientAnswer | null = null;
  older: AddressEntry | null = null;
  newer: AddressEntry | null = null;
}

const NO_NAMES: string[] = [];

/** Most resolvers' clients number a handful per address; more than this and the oldest goes. */
const CLIENTS_PER_ADDRESS = 4;

/**
 * IPv4 keys as signed 32-bit numbers: V8 stores those inline (small integers), whereas an
 * unsigned address above 2^31 is a separate heap number that a Map key keeps alive.
 */
function normalizeKey(key: AddressKey): AddressKey {
  return typeof key === 'number' ? key | 0 : key;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface DnsAnswerCacheOptions {
  maxEntries: number;
  graceS: number;
  minTtlS: number;
}

export interface DnsAnswerCacheStats {
  entries: number;
  inserts: number;
  evictions: number;
  expirations: number;
  hits: number;
  misses: number;
}

/**
 * Remembers which names resolved to which address, per client, for TTL + grace. Bounded: when
 * full, the address refreshed least recently is evicted. Flows look it up once, when they start.
 *
 * Memory: the refresh order is a linked list through the entries, so a refresh moves two
 * pointers instead of deleting and re-inserting the Map key (which left a deleted slot per
 * answer and had V8 rebuild the whole table every few thousand answers, in the old generation).
 * Names lists the cache already holds are reused when an answer repeats them (a refresh, another
 * client told the same, the next address record of the same response), so the arrays and strings
 * decoded from each response die young; entries and answers are recycled.
 */
export class DnsAnswerCache {
  private readonly entries = new Map<AddressKey, AddressEntry>();
  private readonly opts: DnsAnswerCacheOptions;
  private readonly counters = { inserts: 0, evictions: 0, expirations: 0, hits: 0, misses: 0 };
  private readonly recency = new RecencyList<AddressEntry>();
  /** Recycled answers and entries (linked through `next` / `newer`), each at most maxEntries. */
  private spareAnswers: ClientAnswer | null = null;
  private spareAnswerCount = 0;
  private spareEntries: AddressEntry | null = null;
  private spareEntryCount = 0;
  /** The names stored last: a response with several address records repeats them for each. */
  private lastNames: string[] = NO_NAMES;

  constructor(opts: DnsAnswerCacheOptions) {
    this.opts = opts;
  }

  /**
   * Records that `client` was told that `names` (query name first, then the CNAME chain) lead to
   * the address `key`, with the record's TTL. `names` is not modified; the cache may keep it.
   */
  remember(key: AddressKey, client: AddressKey, names: string[], ttlS: number, nowUs: number): void {
    key = normalizeKey(key);
    client = normalizeKey(client);
    const keepS = Math.max(ttlS, this.opts.minTtlS) + this.opts.graceS;
    const expiresUs = nowUs + keepS * 1_000_000;
    let entry = this.entries.get(key);
    if (entry !== undefined) {
      this.recency.remove(entry);
      let found: ClientAnswer | null = null;
      let tail: ClientAnswer | null = null;
      let count = 0;
      let shared: string[] | null = null;
      for (let a = entry.first; a !== null; a = a.next) {
        if (a.client === client) found = a;
        if (shared === null && sameNames(a.names, names)) shared = a.names;
        tail = a;
        count++;
      }
      const kept = shared ?? this.keep(names);
      if (found !== null) {
        found.names = kept;
        found.expiresUs = expiresUs;
      } else if (count >= CLIENTS_PER_ADDRESS) {
        // The oldest client's answer goes; its object carries the new one, at the end.
        const oldest = entry.first!;
        entry.first = oldest.next;
        oldest.next = null;
        oldest.client = client;
        oldest.names = kept;
        oldest.expiresUs = expiresUs;
        tail!.next = oldest;
      } else {
        const added = this.answer(client, kept, expiresUs);
        if (tail === null) entry.first = added;
        else tail.next = added;
      }
    } else {
      if (this.entries.size >= this.opts.maxEntries && this.recency.oldest !== null) {
        this.drop(this.recency.oldest);
        this.counters.evictions++;
      }
      entry = this.entry(key);
      entry.first = this.answer(client, this.keep(names), expiresUs);
      this.entries.set(key, entry);
    }
    this.recency.append(entry);
    this.counters.inserts++;
  }

  /** Names for `key`, preferring what `client` itself was told; null when nothing live is known. */
  lookup(key: AddressKey, client: AddressKey, nowUs: number): ResolvedNames | null {
    const entry = this.entries.get(normalizeKey(key));
    if (entry === undefined) {
      this.counters.misses++;
      return null;
    }
    client = normalizeKey(client);
    let best: ClientAnswer | null = null;
    for (let a = entry.first; a !== null; a = a.next) {
      if (a.expiresUs < nowUs) continue;
      if (a.client === client) {
        this.counters.hits++;
        return { names: a.names, sameClient: true };
      }
      if (!best || a.expiresUs > best.expiresUs) best = a;
    }
    if (best) {
      this.counters.hits++;
      return { names: best.names, sameClient: false };
    }
    this.counters.misses++;
    return null;
  }

  /** Drops answers past TTL + grace. Called on the pipeline's housekeeping tick, not per packet. */
  expire(nowUs: number): void {
    for (let entry = this.recency.oldest; entry !== null; ) {
      const newer = entry.newer;
      let prev: ClientAnswer | null = null;
      for (let a = entry.first; a !== null; ) {
        const next: ClientAnswer | null = a.next;
        if (a.expiresUs < nowUs) {
          if (prev === null) entry.first = next;
          else prev.next = next;
          this.recycleAnswer(a);
          this.counters.expirations++;
        } else {
          prev = a;
        }
        a = next;
      }
      if (entry.first === null) this.drop(entry);
      entry = newer;
    }
  }

  stats(): DnsAnswerCacheStats {
    return { entries: this.entries.size, ...this.counters };
  }

  /** Removes an address with its answers; both go back to the spares. */
  private drop(entry: AddressEntry): void {
    this.entries.delete(entry.key);
    this.recency.remove(entry);
    for (let a = entry.first; a !== null; ) {
      const next: ClientAnswer | null = a.next;
      this.recycleAnswer(a);
      a = next;
    }
    entry.first = null;
    entry.key = 0;
    if (this.spareEntryCount < this.opts.maxEntries) {
      entry.newer = this.spareEntries;
      this.spareEntries = entry;
      this.spareEntryCount++;
    }
  }

  private entry(key: AddressKey): AddressEntry {
    let e = this.spareEntries;
    if (e !== null) {
      this.spareEntries = e.newer;
      this.spareEntryCount--;
      e.newer = null;
    } else {
      e = new AddressEntry();
    }
    e.key = key;
    return e;
  }

  /** A new answer, recycled when one is spare. */
  private answer(client: AddressKey, names: string[], expiresUs: number): ClientAnswer {
    let a = this.spareAnswers;
    if (a !== null) {
      this.spareAnswers = a.next;
      this.spareAnswerCount--;
      a.next = null;
    } else {
      a = new ClientAnswer();
    }
    a.client = client;
    a.names = names;
    a.expiresUs = expiresUs;
    return a;
  }

  private recycleAnswer(a: ClientAnswer): void {
    a.names = NO_NAMES;
    a.client = 0;
    a.next = null;
    if (this.spareAnswerCount >= this.opts.maxEntries) return;
    a.next = this.spareAnswers;
    this.spareAnswers = a;
    this.spareAnswerCount++;
  }

  /**
   * The array to store for `names`: the one stored last when equal (the other address records of
   * the same response), else a copy of exactly its length (an array grown by push reserves room
   * for 17 entries, which a long-lived list need not carry).
   */
  private keep(names: string[]): string[] {
    if (sameNames(this.lastNames, names)) return this.lastNames;
    const kept = names.length > 1 ? names.slice() : names;
    this.lastNames = kept;
    return kept;
  }
}

/**
 * Turns a response's answers into (address, names, ttl) facts: for each address record, the chain
 * of names from the query name through the CNAMEs to the record's owner. Addresses from
 * HTTPS/SVCB ipv4hint/ipv6hint (RFC 9460 §7.3) count too, since clients connect to them directly.
 */
export function chainsFromAnswers(
  qname: string | null,
  answers: readonly DnsAnswer[],
  hints: (answer: DnsAnswer) => readonly string[],
): Array<{ address: string; names: string[]; ttl: number }> {
  // The chain from the query name through the CNAMEs, followed once per message (most answers
  // share it); a record's names are the chain up to its owner, or the owner alone when the
  // chain does not reach it (a record outside the chain, or a CNAME loop).
  let chain: string[] | null = null;
  const chainTo = (owner: string): string[] => {
    if (qname === null) return [owner];
    chain ??= followCnames(normalizeName(qname), answers);
    const at = chain.indexOf(owner);
    return at >= 0 ? chain.slice(0, at + 1) : [owner];
  };
  const facts: Array<{ address: string; names: string[]; ttl: number }> = [];
  for (const a of answers) {
    if (a.type === 'A' || a.type === 'AAAA') {
      facts.push({ address: a.data, names: chainTo(normalizeName(a.name)), ttl: a.ttl });
    } else if (a.type === 'HTTPS' || a.type === 'SVCB') {
      const owner = normalizeName(a.name);
      for (const address of hints(a)) facts.push({ address, names: chainTo(owner), ttl: a.ttl });
    }
  }
  return facts;
}

/** `start`, then each CNAME target in turn; stops at a name without a CNAME or at a loop. */
function followCnames(start: string, answers: readonly DnsAnswer[]): string[] {
  let cnameTarget: Map<string, string> | null = null;
  for (const a of answers) {
    if (a.type === 'CNAME') (cnameTarget ??= new Map()).set(normalizeName(a.name), normalizeName(a.data));
  }
  const chain = [start];
  if (cnameTarget === null) return chain;
  for (let next = cnameTarget.get(start); next !== undefined && !chain.includes(next); next = cnameTarget.get(next)) chain.push(next);
  return chain;
}

export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') && lower.length > 1 ? lower.slice(0, -1) : lower;
}
