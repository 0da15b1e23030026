/**
 * DHCP (RFC 2131) messages on UDP 67/68: who asked for which address under which host name. Runs
 * on rare packets, so it may allocate the result; never throws.
 */
import { u32, mac48 } from './bytes';
import { NO_MAC } from './types';

export interface DhcpMessage {
  /** 1 BOOTREQUEST, 2 BOOTREPLY. */
  op: number;
  /** Option 53 (RFC 2132 §9.6): 1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, ...; null when absent. */
  messageType: number | null;
  /** chaddr as a 48-bit integer when htype is Ethernet (1) with hlen 6, else NO_MAC. */
  clientMac: number;
  /** Option 12 (RFC 2132 §3.14), control characters removed; null when absent or empty. */
  hostname: string | null;
  /** Option 50 (RFC 2132 §9.1) as an unsigned 32-bit integer; null when absent. */
  requestedIp: number | null;
  /** yiaddr: the address the server assigns (unsigned 32-bit). */
  yourIp: number;
  /** ciaddr: the client's current address, when it has one. */
  clientIp: number;
  xid: number;
}

/** op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file. */
const BOOTP_FIXED = 236;
/** RFC 2131 §3: 99.130.83.99 starts the options field. */
const MAGIC_COOKIE = 0x63825363;

const OPT_PAD = 0;
const OPT_HOSTNAME = 12;
const OPT_REQUESTED_IP = 50;
const OPT_MESSAGE_TYPE = 53;
const OPT_END = 255;

/**
 * Returns the message, null for a plain BOOTP message without the DHCP magic cookie (RFC 951:
 * nothing to learn, not an error), or 'malformed'.
 *
 * Option overload (52, RFC 2132 §9.3) would continue the options in the sname/file fields; it is
 * ignored: clients put host names and message types in the main options field in practice, and
 * following it would only add ways to read garbage.
 */
export function parseDhcp(buf: Buffer, off: number, len: number): DhcpMessage | 'malformed' | null {
  if (!(off >= 0) || !(len >= 0)) return 'malformed';
  const end = Math.min(off + len, buf.length);
  if (end - off < BOOTP_FIXED) return 'malformed';
  const op = buf[off];
  if (op !== 1 && op !== 2) return 'malformed';
  if (end - off < BOOTP_FIXED + 4 || u32(buf, off + BOOTP_FIXED) !== MAGIC_COOKIE) return null;

  const htype = buf[off + 1];
  const hlen = buf[off + 2];
  const msg: DhcpMessage = {
    op,
    messageType: null,
    clientMac: htype === 1 && hlen === 6 ? mac48(buf, off + 28) : NO_MAC,
    hostname: null,
    requestedIp: null,
    yourIp: u32(buf, off + 16),
    clientIp: u32(buf, off + 12),
    xid: u32(buf, off + 4),
  };

  // Options: code, length, data; pad (0) and end (255) are single bytes (RFC 2132 §2, §3.1).
  // Anything after end is padding. Options that run past the datagram are malformed; a missing
  // end option at the very end of the datagram is tolerated, as most servers do.
  let p = off + BOOTP_FIXED + 4;
  while (p < end) {
    const code = buf[p];
    if (code === OPT_PAD) {
      p++;
      continue;
    }
    if (code === OPT_END) break;
    if (p + 2 > end) return 'malformed';
    const olen = buf[p + 1];
    const data = p + 2;
    if (data + olen > end) return 'malformed';
    // The first instance of each option wins. (RFC 3396 concatenates repeated instances of long
    // options; none of the three read here is ever long enough to be split.)
    if (code === OPT_MESSAGE_TYPE && msg.messageType === null) {
      if (olen !== 1) return 'malformed';
      msg.messageType = buf[data];
    } else if (code === OPT_REQUESTED_IP && msg.requestedIp === null) {
      if (olen !== 4) return 'malformed';
      msg.requestedIp = u32(buf, data);
    } else if (code === OPT_HOSTNAME && msg.hostname === null && olen > 0) {
      // RFC 2132 says minimum length 1; zero-length options of any code are skipped. Some
      // clients include a trailing NUL or send UTF-8; control characters are dropped.
      const name = buf.toString('utf8', data, data + olen).replace(/[\u0000-\u001f\u007f]/g, '').trim();
      if (name.length > 0) msg.hostname = name;
    }
    p = data + olen;
  }
  return msg;
}
