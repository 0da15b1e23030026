import type { DecodeErrorCounts } from '../decode/types';
import { decodeDnsMessage, svcbHints } from '../decode/dns-message';
import { formatAddress, parseAddress, parseV4, type Words } from '../net/address';
import { addressKeyOf, chainsFromAnswers, type AddressKey, type DnsAnswerCache } from './dns-answer-cache';
import type { DnsResponse } from './types';

export interface DnsObserverStats {
  responses: number;
  byRcode: Map<string, number>;
}

/**
 * The DNS half of correlation: decodes responses seen on the wire, feeds their address → names
 * facts to the DnsAnswerCache, and hands each response to whoever wants the `dns` records.
 */
export class DnsObserver {
  private responses = 0;
  private readonly byRcode = new Map<string, number>();

  constructor(
    private readonly cache: DnsAnswerCache,
    private readonly errors: DecodeErrorCounts,
    private readonly onResponse: ((r: DnsResponse) => void) | null,
  ) {}

  /**
   * One DNS message from `server` to `client` (only responses matter). `truncated`: the snaplen
   * cut the message, so answers before the cut are used and the rest is not an error.
   */
  observe(
    buf: Buffer,
    off: number,
    len: number,
    client: Words,
    server: Words,
    transport: DnsResponse['transport'],
    timestampUs: number,
    truncated = false,
  ): void {
    const msg = decodeDnsMessage(buf, off, len, truncated);
    if (msg === 'malformed') {
      this.errors.byLayer.dns++;
      return;
    }
    if (!msg.isResponse) return;
    this.responses++;
    this.byRcode.set(msg.rcode, (this.byRcode.get(msg.rcode) ?? 0) + 1);
    const clientKey = addressKeyOf(client);
    for (const fact of chainsFromAnswers(msg.qname, msg.answers, svcbHints)) {
      const key = textAddressKey(fact.address);
      if (key !== null) this.cache.remember(key, clientKey, fact.names, fact.ttl, timestampUs);
    }
    this.onResponse?.({
      timestampUs,
      client: formatAddress(client),
      server: formatAddress(server),
      transport,
      qname: msg.qname,
      qtype: msg.qtype,
      rcode: msg.rcode,
      answers: msg.answers,
    });
  }

  stats(): DnsObserverStats {
    return { responses: this.responses, byRcode: new Map(this.byRcode) };
  }
}

/** Same key the flow stage derives from packet addresses, so answers and flows meet. */
function textAddressKey(text: string): AddressKey | null {
  if (text.indexOf(':') < 0) return parseV4(text);
  const w = parseAddress(text);
  return w ? addressKeyOf(w) : null;
}
