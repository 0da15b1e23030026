/** A DNS response as seen on the wire, in the shape of the replay JSON `dns` record. */
export interface DnsAnswer {
  name: string;
  /** Record type mnemonic: A, AAAA, CNAME, HTTPS, SVCB, ... */
  type: string;
  /** A/AAAA: the address; CNAME: the target; HTTPS/SVCB: "prio target ipv4hint=.. ipv6hint=.."; else a short text form. */
  data: string;
  ttl: number;
}

export interface DnsResponse {
  timestampUs: number;
  /** The client that asked (destination of the response). */
  client: string;
  /** The server that answered (source of the response). */
  server: string;
  /** How the response reached Geowarden: on the wire (udp, tcp), or reported by the resolver (dnstap). */
  transport: 'udp' | 'tcp' | 'dnstap';
  qname: string | null;
  qtype: string | null;
  /** RCODE mnemonic: NOERROR, NXDOMAIN, SERVFAIL, ... */
  rcode: string;
  answers: DnsAnswer[];
}

/** Names learned for one address: the queried name and every CNAME in the chain, query first. */
export interface ResolvedNames {
  names: string[];
  /** True when the answer was given to the same client that opened the flow. */
  sameClient: boolean;
}
