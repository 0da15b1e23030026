/**
 * SVCB (type 64) and HTTPS (type 65) RDATA, RFC 9460 §2.2. dns-packet 5.6 does not know these
 * types (it returns the raw RDATA as UNKNOWN_65), so they are parsed here. Only the address hints
 * matter to Geowarden: a client may connect to an ipv4hint/ipv6hint address without ever asking
 * for A/AAAA, so the DNS cache must learn names from them too.
 */
import type { DnsAnswer } from '../dns/types';
import { formatV4, formatV6 } from '../net/address';
import { u16, u32 } from './bytes';
import { NameCursor, readName } from './dns-name';

const KEY_IPV4HINT = 4; // RFC 9460 §7.3
const KEY_IPV6HINT = 6;

/**
 * Text form "<priority> <target> ipv4hint=a,b ipv6hint=c" (hints omitted when absent; other
 * SvcParams are left out). Returns null when the RDATA is malformed: a compressed or overrunning
 * TargetName, keys not strictly increasing (RFC 9460 §2.2 makes such an RR malformed), a param
 * overrunning the RDATA, or hint lengths that are not a non-zero multiple of the address size.
 */
export function svcbText(buf: Buffer, base: number, rdStart: number, rdEnd: number): string | null {
  if (rdEnd - rdStart < 3) return null;
  const priority = u16(buf, rdStart);
  const cur = new NameCursor();
  // TargetName "MUST NOT be compressed" (RFC 9460 §2.2).
  const target = readName(buf, base, rdEnd, rdStart + 2, cur, false);
  if (target === null) return null;
  let text = `${priority} ${target}`;
  let p = cur.next;
  let lastKey = -1;
  const words = new Uint32Array(4);
  while (p < rdEnd) {
    if (p + 4 > rdEnd) return null;
    const key = u16(buf, p);
    const len = u16(buf, p + 2);
    p += 4;
    if (key <= lastKey || p + len > rdEnd) return null;
    lastKey = key;
    if (key === KEY_IPV4HINT) {
      if (len === 0 || len % 4 !== 0) return null;
      const list: string[] = [];
      for (let i = p; i < p + len; i += 4) list.push(formatV4(u32(buf, i)));
      text += ` ipv4hint=${list.join(',')}`;
    } else if (key === KEY_IPV6HINT) {
      if (len === 0 || len % 16 !== 0) return null;
      const list: string[] = [];
      for (let i = p; i < p + len; i += 16) {
        for (let k = 0; k < 4; k++) words[k] = u32(buf, i + k * 4);
        list.push(formatV6(words));
      }
      text += ` ipv6hint=${list.join(',')}`;
    }
    p += len;
  }
  return text;
}

/**
 * The ipv4hint and ipv6hint addresses of an HTTPS/SVCB answer (from its text form), in order;
 * [] for other types. For the DNS cache, which maps these addresses to the answer's name.
 */
export function svcbHints(answer: DnsAnswer): string[] {
  if (answer.type !== 'HTTPS' && answer.type !== 'SVCB') return [];
  const out: string[] = [];
  for (const token of answer.data.split(' ')) {
    if (token.startsWith('ipv4hint=') || token.startsWith('ipv6hint=')) {
      for (const a of token.slice(9).split(',')) if (a !== '') out.push(a);
    }
  }
  return out;
}
