/**
 * Encrypted DNS: flows that carry DNS where the gateway cannot read it, so names the device
 * resolves that way never reach the DnsAnswerCache. DNS over TLS (RFC 7858) and over QUIC
 * (RFC 9250) have their own port; DNS over HTTPS (RFC 8484) looks like any HTTPS and is known only
 * by its resolver, from a dated list of well-known ones (config/doh-resolvers.yaml) by address
 * and SNI. Classification runs once per finished flow.
 */
import * as path from 'node:path';
import { z } from 'zod';
import {
  type Check,
  checkDomainSuffix,
  checkIpAddress,
  checkIsoDate,
  checkText,
  ConfigError,
  parseYamlText,
  problemsFromZod,
  readYamlFile,
  required,
  validate,
  type YamlSource,
} from '../config/schema';
import { IPPROTO_TCP, IPPROTO_UDP } from '../decode/types';
import type { EncryptedDnsKind, FlowRecord } from './types';

export interface EncryptedResolver {
  /** The resolver's host name, as reports and metrics show it. */
  name: string;
  provider: string;
  /** Canonical text form (as the flow stage prints addresses). */
  addresses: string[];
  /** Lowercase server names; "*.example.net" stands for every name below example.net. */
  sni: string[];
}

export interface EncryptedResolverList {
  /** Date (YYYY-MM-DD) the list was last checked. */
  asOf: string;
  resolvers: EncryptedResolver[];
}

/** The shipped list; compiled code runs from dist/src/flows/, the file sits in config/. */
export const DEFAULT_ENCRYPTED_RESOLVERS_FILE = path.resolve(__dirname, '../../../config/doh-resolvers.yaml');

/** RFC 7858 §3.1 (DoT) and RFC 9250 §4.1.1 (DoQ): port 853. */
export const ENCRYPTED_DNS_PORT = 853;
/** RFC 9250 §4.1.1: the ALPN token of DNS over QUIC. */
export const DOQ_ALPN = 'doq';
const HTTPS_PORT = 443;

const checkSniPattern: Check<string> = (value) => {
  if (typeof value === 'string' && value.trim().startsWith('*.')) {
    const r = checkDomainSuffix(value.trim().slice(2));
    return r.ok ? { ok: true, value: `*.${r.value}` } : r;
  }
  return checkDomainSuffix(value);
};

const resolversSchema = z
  .object({
    as_of: required(checkIsoDate),
    resolvers: z
      .array(
        z
          .object({
            name: required(checkSniPattern),
            provider: required(checkText({ allowEmpty: false })),
            addresses: z.array(required(checkIpAddress)).nullish(),
            sni: z.array(required(checkSniPattern)).nullish(),
          })
          .strict(),
      )
      .min(1, 'lists no resolver'),
  })
  .strict()
  .superRefine((file, ctx) => {
    const owner = new Map<string, number>();
    file.resolvers.forEach((r, i) => {
      if (!r.addresses?.length && !r.sni?.length) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['resolvers', i], message: 'needs addresses or sni' });
      }
      const claim = (key: string, what: string, at: (string | number)[]) => {
        const first = owner.get(key);
        if (first !== undefined) {
          ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['resolvers', i, ...at], message: `${what} is already listed under resolvers[${first}]` });
        } else owner.set(key, i);
      };
      r.addresses?.forEach((a, j) => typeof a === 'string' && claim(`a:${a}`, `address ${a}`, ['addresses', j]));
      r.sni?.forEach((s, j) => typeof s === 'string' && claim(`s:${s}`, `server name ${s}`, ['sni', j]));
    });
  });

function toList(file: string, source: YamlSource): EncryptedResolverList {
  if (source.problems.length > 0) throw new ConfigError(source.problems);
  const parsed = validate(resolversSchema, source.value);
  if (!parsed.success) throw new ConfigError(problemsFromZod(file, parsed.error, resolversSchema, source.doc));
  return {
    asOf: parsed.data.as_of,
    resolvers: parsed.data.resolvers.map((r) => ({ name: r.name, provider: r.provider, addresses: r.addresses ?? [], sni: r.sni ?? [] })),
  };
}

/** Reads and validates a resolver list (the shipped one when `file` is null); throws ConfigError. */
export function loadEncryptedResolvers(file: string | null = null): EncryptedResolverList {
  const target = file ?? DEFAULT_ENCRYPTED_RESOLVERS_FILE;
  return toList(target, readYamlFile(target));
}

/** Same as loadEncryptedResolvers for text already in memory; `file` names it in problems. */
export function parseEncryptedResolvers(file: string, text: string): EncryptedResolverList {
  return toList(file, parseYamlText(file, text));
}

export interface EncryptedDnsVerdict {
  kind: EncryptedDnsKind;
  /** The listed resolver's name, else the SNI, else the remote address. */
  resolver: string;
}

/** What classification reads from a flow record. */
export type EncryptedDnsInput = Pick<FlowRecord, 'protocolNumber' | 'remotePort' | 'remoteIp' | 'sni' | 'names' | 'alpn' | 'appProtocol'>;

const DOT = 0x2e;

/** One step of a right-to-left string hash, ASCII case folded (names compare case-insensitively). */
function foldChar(h: number, code: number): number {
  return (Math.imul(h, 31) + (code >= 0x41 && code <= 0x5a ? code + 0x20 : code)) | 0;
}

function hashName(name: string): number {
  let h = 0;
  for (let i = name.length - 1; i >= 0; i--) h = foldChar(h, name.charCodeAt(i));
  return h;
}

/** Decides whether a finished flow is encrypted DNS, and to which resolver. */
export class EncryptedDnsClassifier {
  private readonly byAddress = new Map<string, EncryptedResolver>();
  private readonly byName = new Map<string, EncryptedResolver>();
  /** "*.example.net" entries, keyed by "example.net". */
  private readonly bySuffix = new Map<string, EncryptedResolver>();
  private readonly nameHashes = new Set<number>();
  private readonly suffixHashes = new Set<number>();
  private readonly suffixCandidates = new Int32Array(128);
  /** Keyed weakly, so lists dropped by the DNS cache go with their entries. */
  private readonly namesMemo = new WeakMap<string[], EncryptedResolver | null>();

  constructor(list: EncryptedResolverList) {
    for (const r of list.resolvers) {
      for (const a of r.addresses) this.byAddress.set(a, r);
      for (const s of [r.name, ...r.sni]) {
        if (s.startsWith('*.')) this.bySuffix.set(s.slice(2), r);
        else if (!this.byName.has(s)) this.byName.set(s, r);
      }
    }
    for (const n of this.byName.keys()) this.nameHashes.add(hashName(n));
    for (const n of this.bySuffix.keys()) this.suffixHashes.add(hashName(n));
  }

  classify(flow: EncryptedDnsInput): EncryptedDnsVerdict | null {
    const port = flow.remotePort;
    if (port !== ENCRYPTED_DNS_PORT && port !== HTTPS_PORT && !flow.alpn?.includes(DOQ_ALPN)) return null;
    const listed = this.resolverOf(flow);
    const resolver = listed?.name ?? flow.sni ?? flow.remoteIp;
    if (flow.protocolNumber === IPPROTO_TCP) {
      if (port === ENCRYPTED_DNS_PORT) return { kind: 'dot', resolver };
      if (port === HTTPS_PORT && listed) return { kind: 'doh', resolver };
    } else if (flow.protocolNumber === IPPROTO_UDP) {
      if (port === ENCRYPTED_DNS_PORT || (flow.appProtocol === 'quic' && flow.alpn?.includes(DOQ_ALPN))) return { kind: 'doq', resolver };
      // HTTP/3 (RFC 9114) on UDP/443: DoH over QUIC.
      if (port === HTTPS_PORT && listed) return { kind: 'doh', resolver };
    }
    return null;
  }

  /** The listed resolver by remote address, SNI, or a DNS name that led to the address. */
  resolverOf(flow: Pick<FlowRecord, 'remoteIp' | 'sni' | 'names'>): EncryptedResolver | null {
    const byAddress = this.byAddress.get(flow.remoteIp);
    if (byAddress) return byAddress;
    if (flow.sni) {
      const r = this.byServerName(flow.sni);
      if (r) return r;
    }
    return flow.names.length === 0 ? null : this.byNames(flow.names);
  }

  /**
   * A flow's names list is the DNS cache's own array, shared by every flow to that address since
   * the answer (names lists are replaced, never changed in place): match each list once.
   */
  private byNames(names: string[]): EncryptedResolver | null {
    const known = this.namesMemo.get(names);
    if (known !== undefined) return known;
    let found: EncryptedResolver | null = null;
    for (const n of names) {
      found = this.byServerName(n);
      if (found) break;
    }
    this.namesMemo.set(names, found);
    return found;
  }

  /**
   * Every HTTPS flow's names pass through here and almost none is a resolver. One right-to-left
   * pass hashes each dot-delimited suffix without building it; only a suffix whose hash is listed
   * is cut out and looked up.
   */
  private byServerName(name: string): EncryptedResolver | null {
    // Exact name first, then the longest listed suffix: candidates are found right to left and
    // tried from the last one found.
    const candidates = this.suffixCandidates;
    let found = 0;
    let h = 0;
    for (let i = name.length - 1; i >= 0; i--) {
      h = foldChar(h, name.charCodeAt(i));
      if (i > 0 && name.charCodeAt(i - 1) === DOT && this.suffixHashes.has(h) && found < candidates.length) candidates[found++] = i;
    }
    if (this.nameHashes.has(h)) {
      const exact = this.byName.get(name.toLowerCase());
      if (exact) return exact;
    }
    while (found > 0) {
      const r = this.bySuffix.get(name.slice(candidates[--found]!).toLowerCase());
      if (r) return r;
    }
    return null;
  }
}
