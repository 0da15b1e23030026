/** Why a flow record was emitted. */
export type FlowEndReason = 'fin' | 'rst' | 'idle-timeout' | 'active-timeout' | 'evicted' | 'end-of-capture' | 'shutdown';

export type TransportName = 'tcp' | 'udp' | 'icmp' | 'icmpv6' | string;

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
}
