/**
 * Host-name validation for names taken from packets (TLS SNI, HTTP Host), on the raw bytes so an
 * invalid name never becomes a string.
 */

/** Longest name in text form: 255 wire octets minus the length octets (RFC 1035 §2.3.4). */
export const MAX_HOSTNAME_LENGTH = 253;

/**
 * True when buf[off, off+len) is an ASCII host name: dot-separated labels of 1..63 letters,
 * digits, hyphens (RFC 1123 §2.1) or underscores, at most 253 characters, no trailing dot.
 * Underscores are outside RFC 1123 but common in internal names (and in SRV-style labels); they
 * are harmless here. IDNs arrive as A-labels (xn--, RFC 5890) so any non-ASCII byte is invalid.
 * An IPv4 literal passes, which RFC 6066 §3 forbids in SNI but some clients send anyway.
 */
export function isHostnameBytes(buf: Buffer, off: number, len: number): boolean {
  if (len < 1 || len > MAX_HOSTNAME_LENGTH) return false;
  let labelLen = 0;
  for (let i = off, end = off + len; i < end; i++) {
    const c = buf[i];
    if (c === 0x2e) {
      if (labelLen === 0) return false; // empty label: leading dot, "..", or trailing dot
      labelLen = 0;
      continue;
    }
    const ok =
      (c >= 0x61 && c <= 0x7a) || // a-z
      (c >= 0x41 && c <= 0x5a) || // A-Z
      (c >= 0x30 && c <= 0x39) || // 0-9
      c === 0x2d || // -
      c === 0x5f; // _
    if (!ok || ++labelLen > 63) return false;
  }
  return labelLen > 0;
}

/** The validated bytes as a lowercase string (host names compare case-insensitively, RFC 4343). */
export function hostnameString(buf: Buffer, off: number, len: number): string {
  return buf.toString('latin1', off, off + len).toLowerCase();
}
