/**
 * Big-endian reads straight from the frame buffer for the hot path. They do no bounds checks:
 * every caller has already checked `off + n <= end` against the captured length. (Buffer's own
 * readUInt16BE would throw a RangeError instead, and the decoder must never throw.)
 */

export function u16(buf: Buffer, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function u32(buf: Buffer, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** A 48-bit MAC address as an integer (fits a double exactly: 2^48 < 2^53). */
export function mac48(buf: Buffer, off: number): number {
  return u16(buf, off) * 0x100000000 + u32(buf, off + 2);
}
