/**
 * Address primitives shared by every stage. Addresses are four 32-bit words in network order;
 * IPv4 is stored IPv4-mapped (0, 0, 0xffff, v4) so both families share one representation.
 * Strings exist only at the edges (config, output).
 */
import { isIP } from 'node:net';

export type Words = Uint32Array;

export function isV4Mapped(w: Words): boolean {
  return w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
}

export function setV4(w: Words, v4: number): void {
  w[0] = 0;
  w[1] = 0;
  w[2] = 0xffff;
  w[3] = v4 >>> 0;
}

export function formatV4(v4: number): string {
  return `${v4 >>> 24}.${(v4 >>> 16) & 255}.${(v4 >>> 8) & 255}.${v4 & 255}`;
}

/** RFC 5952 text form: lowercase, longest run of two or more zero groups compressed. */
export function formatV6(w: Words): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 4; i++) {
    groups[i * 2] = w[i]! >>> 16;
    groups[i * 2 + 1] = w[i]! & 0xffff;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

export function formatAddress(w: Words): string {
  return isV4Mapped(w) ? formatV4(w[3]!) : formatV6(w);
}

/** Dotted-quad to number without allocating (DNS answers are parsed with it per record). */
export function parseV4(text: string): number | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return null;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return (value * 256 + part) >>> 0;
}

/** Parses an IPv4 or IPv6 address into words; null when it is not an address. */
export function parseAddress(text: string): Words | null {
  const family = isIP(text);
  const w = new Uint32Array(4);
  if (family === 4) {
    setV4(w, parseV4(text)!);
    return w;
  }
  if (family !== 6) return null;
  let body = text;
  let tailV4: number | null = null;
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.', lastColon) >= 0) {
    tailV4 = parseV4(body.slice(lastColon + 1));
    if (tailV4 === null) return null;
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const [headText, tailText] = body.includes('::') ? body.split('::') : [body, undefined];
  const head = headText ? headText.split(':') : [];
  const tail = tailText === undefined ? [] : tailText ? tailText.split(':') : [];
  const groups = new Array<number>(8).fill(0);
  head.forEach((g, i) => (groups[i] = parseInt(g, 16)));
  tail.forEach((g, i) => (groups[8 - tail.length + i] = parseInt(g, 16)));
  for (let i = 0; i < 4; i++) w[i] = ((groups[i * 2]! << 16) | groups[i * 2 + 1]!) >>> 0;
  if (tailV4 !== null) w[3] = tailV4;
  return w;
}

/** A parsed CIDR block in word form; prefix length counts from the start of the 128-bit form. */
export interface Cidr {
  text: string;
  network: Words;
  /** Prefix length over 128 bits (an IPv4 /24 is stored as /120 inside ::ffff:0:0/96). */
  prefix128: number;
}

export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const addr = parseAddress(addrText);
  if (!addr) return null;
  const v4 = isIP(addrText) === 4;
  const max = v4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  const prefix128 = v4 ? prefix + 96 : prefix;
  const network = new Uint32Array(4);
  for (let i = 0; i < 4; i++) network[i] = addr[i]! & maskWord(prefix128, i);
  return { text, network, prefix128 };
}

function maskWord(prefix128: number, wordIndex: number): number {
  const bits = prefix128 - wordIndex * 32;
  if (bits >= 32) return 0xffffffff;
  if (bits <= 0) return 0;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export function cidrContains(cidr: Cidr, w: Words): boolean {
  for (let i = 0; i < 4; i++) {
    const m = maskWord(cidr.prefix128, i);
    if (m === 0) return true;
    if (((w[i]! & m) >>> 0) !== cidr.network[i]) return false;
  }
  return true;
}

/**
 * A set of CIDR blocks with a membership test that allocates nothing. Lists here are short
 * (internal networks, exceptions), so a linear scan over precomputed masks beats a trie.
 */
export class CidrSet {
  readonly cidrs: readonly Cidr[];
  private readonly masks: Uint32Array;
  private readonly nets: Uint32Array;

  constructor(cidrs: readonly Cidr[]) {
    this.cidrs = cidrs;
    this.masks = new Uint32Array(cidrs.length * 4);
    this.nets = new Uint32Array(cidrs.length * 4);
    cidrs.forEach((c, i) => {
      for (let k = 0; k < 4; k++) {
        this.masks[i * 4 + k] = maskWord(c.prefix128, k);
        this.nets[i * 4 + k] = c.network[k]!;
      }
    });
  }

  /** Parses every entry; throws an Error naming the first invalid one. */
  static parse(texts: readonly string[]): CidrSet {
    return new CidrSet(
      texts.map((t) => {
        const c = parseCidr(t);
        if (!c) throw new Error(`"${t}" is not a CIDR block or address`);
        return c;
      }),
    );
  }

  get size(): number {
    return this.cidrs.length;
  }

  contains(w: Words): boolean {
    const masks = this.masks;
    const nets = this.nets;
    for (let i = 0, n = this.cidrs.length * 4; i < n; i += 4) {
      if (
        ((w[0]! & masks[i]!) >>> 0) === nets[i] &&
        ((w[1]! & masks[i + 1]!) >>> 0) === nets[i + 1] &&
        ((w[2]! & masks[i + 2]!) >>> 0) === nets[i + 2] &&
        ((w[3]! & masks[i + 3]!) >>> 0) === nets[i + 3]
      ) {
        return true;
      }
    }
    return false;
  }

  /** The first block containing the address, for reasons like `exception: cidr 192.0.2.0/24`. */
  find(w: Words): Cidr | null {
    for (const c of this.cidrs) if (cidrContains(c, w)) return c;
    return null;
  }
}

/**
 * Internal networks when the config names none: RFC 1918, RFC 6598 (CGNAT), IPv4 link-local,
 * IPv6 ULA (RFC 4193) and link-local.
 */
export const DEFAULT_INTERNAL_NETWORKS = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
  'fc00::/7',
  'fe80::/10',
] as const;

/**
 * Addresses that are never foreign, whatever a database says: the internal defaults plus
 * "this network", loopback, multicast, broadcast and the IPv6 equivalents.
 */
export const NEVER_FOREIGN_NETWORKS = [
  ...DEFAULT_INTERNAL_NETWORKS,
  '0.0.0.0/8',
  '127.0.0.0/8',
  '224.0.0.0/4',
  '255.255.255.255/32',
  '::/128',
  '::1/128',
  'ff00::/8',
] as const;

export function formatMac(mac: number): string {
  const hex = mac.toString(16).padStart(12, '0');
  return `${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8, 10)}:${hex.slice(10, 12)}`;
}

/** Parses aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff; null when malformed. */
export function parseMac(text: string): number | null {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) return null;
  return parseInt(m.slice(1).join(''), 16);
}
