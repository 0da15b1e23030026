/**
 * The blind spot made visible: traffic to a public remote that no name explains. Names come from
 * DNS answers the gateway saw, the TLS or QUIC SNI, the HTTP Host, and, for encrypted DNS, the
 * resolver list; a flow without any of them (the device resolved over encrypted DNS, used a
 * hard-coded address, or hid the SNI) cannot be tied to a service, and its country verdict rests
 * on the address alone.
 */
import type { GeoInfo } from '../geo/types';
import type { FlowRecord } from './types';

/** True for a flow to a public (not internal, not special-purpose) remote with no name at all. */
export function isUnattributed(
  flow: Pick<FlowRecord, 'bothInternal' | 'names' | 'sni' | 'httpHost' | 'remoteIp' | 'encryptedDnsResolver'>,
  geo: Pick<GeoInfo, 'special'>,
): boolean {
  if (flow.bothInternal || geo.special || flow.names.length > 0 || flow.sni || flow.httpHost) return false;
  // A resolver the encrypted-DNS list names is a name too (the resolver is its address otherwise).
  const resolver = flow.encryptedDnsResolver;
  return !resolver || resolver === flow.remoteIp;
}
