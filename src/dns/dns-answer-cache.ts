import { formatAddress, isV4Mapped, type Words } from '../net/address';
import type { DnsAnswer, ResolvedNames } from './types';

/**
 * Address key: an IPv4 address as its 32-bit number, an IPv6 address as its text form.
 * Numbers keep the common case free of string building.
 */
export type AddressKey = number | string;

export function addressKeyOf(w: Words): AddressKey {
  return isV4Mapped(w) ? w[3]! : formatAddress(w);
}

interface ClientAnswer {
  client: AddressKey;
  names: string[];
  expiresUs: number;
}

/** Most resolvers' clients number a handful per address; more than this and the oldest goes. */
const CLIENTS_PER_ADDRESS = 4;

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
 * full, the address refreshed least recently is evicted (a Map iterates in insertion order and
 * every refresh re-inserts). Flows look it up once, when they start.
 */
export class DnsAnswerCache {
  private readonly entries = new Map<AddressKey, ClientAnswer[]>();
  private readonly opts: DnsAnswerCacheOptions;
  private readonly counters = { inserts: 0, evictions: 0, expirations: 0, hits: 0, misses: 0 };

  constructor(opts: DnsAnswerCacheOptions) {
    this.opts = opts;
  }

  /**
   * Records that `client` was told that `names` (query name first, then the CNAME chain) lead to
   * the address `key`, with the record's TTL.
   */
  remember(key: AddressKey, client: AddressKey, names: string[], ttlS: number, nowUs: number): void {
    const keepS = Math.max(ttlS, this.opts.minTtlS) + this.opts.graceS;
    const expiresUs = nowUs + keepS * 1_000_000;
    let list = this.entries.get(key);
    if (list) {
      this.entries.delete(key);
      let existing: ClientAnswer | null = null;
      for (const a of list) {
        if (a.client === client) {
          existing = a;
          break;
        }
      }
      if (existing) {
        existing.names = names;
        existing.expiresUs = expiresUs;
      } else {
        if (list.length >= CLIENTS_PER_ADDRESS) list.shift();
        list.push({ client, names, expiresUs });
      }
    } else {
      list = [{ client, names, expiresUs }];
      if (this.entries.size >= this.opts.maxEntries) this.evictOldest();
    }
    this.entries.set(key, list);
    this.counters.inserts++;
  }

  /** Names for `key`, preferring what `client` itself was told; null when nothing live is known. */
  lookup(key: AddressKey, client: AddressKey, nowUs: number): ResolvedNames | null {
    const list = this.entries.get(key);
    if (!list) {
      this.counters.misses++;
      return null;
    }
    let best: ClientAnswer | null = null;
    for (const a of list) {
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
    for (const [key, list] of this.entries) {
      const live = list.filter((a) => a.expiresUs >= nowUs);
      if (live.length === list.length) continue;
      this.counters.expirations += list.length - live.length;
      if (live.length === 0) this.entries.delete(key);
      else list.splice(0, list.length, ...live);
    }
  }

  stats(): DnsAnswerCacheStats {
    return { entries: this.entries.size, ...this.counters };
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (oldest.done) return;
    this.entries.delete(oldest.value);
    this.counters.evictions++;
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
