/**
 * The Information Elements Geowarden exports. Standard ones are from the IANA "IPFIX Information
 * Elements" registry (RFC 7012 defines the registry and the data types; the elements themselves
 * were first specified in RFC 5102). Geowarden's own are enterprise-specific (RFC 7011 §3.2).
 */

/** RFC 7011 §7: a field length of 65535 in a template marks a variable-length field. */
export const VARIABLE_LENGTH = 0xffff;

/** Standard elements (IANA registry element IDs). */
export const IE = {
  octetDeltaCount: 1, // unsigned64
  packetDeltaCount: 2, // unsigned64
  protocolIdentifier: 4, // unsigned8
  sourceTransportPort: 7, // unsigned16
  sourceIPv4Address: 8, // ipv4Address
  destinationTransportPort: 11, // unsigned16
  destinationIPv4Address: 12, // ipv4Address
  sourceIPv6Address: 27, // ipv6Address
  destinationIPv6Address: 28, // ipv6Address
  sourceMacAddress: 56, // macAddress
  flowDirection: 61, // unsigned8: 0x00 ingress, 0x01 egress
  destinationMacAddress: 80, // macAddress
  flowEndReason: 136, // unsigned8
  flowStartMilliseconds: 152, // dateTimeMilliseconds
  flowEndMilliseconds: 153, // dateTimeMilliseconds
} as const;

/**
 * Private Enterprise Number of Geowarden's own elements. 32473 is the number IANA reserves for
 * documentation (RFC 5612). It must be replaced by a registered PEN before these records leave
 * a lab: collectors key enterprise elements by PEN, and 32473 promises nothing to anybody.
 */
export const GEOWARDEN_PEN = 32473;

/** Geowarden's enterprise-specific elements (element IDs under GEOWARDEN_PEN). */
export const GEOWARDEN_IE = {
  /** string: ISO 3166-1 alpha-2 code of the country the verdict rests on; empty when unknown or local. */
  remoteCountry: 1,
  /** unsigned32: AS number of the remote address; 0 (RFC 7607: not a routable AS) when unknown. */
  remoteAsn: 2,
  /** string: DNS names (query, then CNAME chain), TLS SNI and HTTP Host, comma-separated. */
  remoteNames: 3,
  /** string: the verdict, `violation`, `allowed`, `local`, `unknown` or `anycast`. */
  verdict: 4,
} as const;

/** flowEndReason (element 136) values from the IANA registry (RFC 5102): why the flow was ended. */
export const FLOW_END_REASON = {
  idleTimeout: 0x01,
  activeTimeout: 0x02,
  endOfFlowDetected: 0x03,
  forcedEnd: 0x04,
  lackOfResources: 0x05,
} as const;

/** flowDirection (element 61) values from the IANA registry (RFC 5102): relative to the Observation Point. */
export const FLOW_DIRECTION = { ingress: 0x00, egress: 0x01 } as const;
