/** Why a flow record was emitted. */
export type FlowEndReason = 'fin' | 'rst' | 'idle-timeout' | 'active-timeout' | 'evicted' | 'end-of-capture' | 'shutdown';

export type TransportName = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | string;

/** Application protocol recognised from the payload (beyond the port number). */
export type AppProtocol = 'quic';

/** DNS over TLS (RFC 7858), over QUIC (RFC 9250), over HTTPS (RFC 8484). */
export type EncryptedDnsKind = 'dot' | 'doq' | 'doh';

/** A device on the LAN as the flow saw it. */
export interface DeviceRef {
  ip: string;
  mac: string | null;
  hostname: string | null;
  /** Device group from the inventory or group rules, or null. */
  group: string | null;
}

/**
 * A finished (or exported) flow, oriented: `device` is the endpoint inside the internal networks,
 * `remote` the other one. Created once per flow end, so strings are fine here.
 */
export interface FlowRecord {
  proto: TransportName;
  protocolNumber: number;
  device: DeviceRef;
  localPort: number | null;
  remoteIp: string;
  remotePort: number | null;
  /** True when both ends are internal. */
  bothInternal: boolean;
  /** Queried names and CNAME chain that resolved to remoteIp, query name first. */
  names: string[];
  sni: string | null;
  httpHost: string | null;
  bytesOut: number;
  bytesIn: number;
  packetsOut: number;
  packetsIn: number;
  firstSeenUs: number;
  lastSeenUs: number;
  endReason: FlowEndReason;
  // The fields below are optional so that records built before they existed stay valid; the
  // flow stage always sets them, sinks read a missing one as null / false.
  /** 'quic' when a client Initial of the flow was decrypted. */
  appProtocol?: AppProtocol | null;
  /** ALPN protocols the client offered (QUIC flows; TLS over TCP is not parsed for them). */
  alpn?: string[] | null;
  /** Encrypted DNS to a resolver: DoT on TCP/853, DoQ on UDP/853, DoH to a listed resolver. */
  encryptedDns?: EncryptedDnsKind | null;
  /** The resolver's name from the list, else its SNI, else its address; null when encryptedDns is. */
  encryptedDnsResolver?: string | null;
  /** A public remote, and no name from DNS, SNI or HTTP Host: traffic nobody can put a name on. */
  unattributed?: boolean;
}
