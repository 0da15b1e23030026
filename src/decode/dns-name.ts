/**
 * Domain names in DNS messages (RFC 1035 §3.1, §4.1.4), read defensively: every byte is bounds
 * checked, compression pointers must point strictly before the run of labels that contains them
 * (so each jump goes further back and a pointer loop is impossible), jumps are capped anyway, and
 * a name longer than 255 wire octets is rejected. Rare-path code: it allocates the name string.
 *
 * dns-packet 5.6 applies the same backward-only rule (verified in test/decode-app.test.ts), but
 * it ignores RDLENGTH for A/AAAA/CNAME (a short A record decodes as "1.2.undefined.undefined")
 * and neither escapes nor lowercases labels, so names are read here.
 */

/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, length octets and root included. */
export const MAX_NAME_WIRE_LENGTH = 255;
/** A legitimate name needs at most one jump per label; 127 labels fit in 255 octets. */
const MAX_POINTER_HOPS = 127;

export class NameCursor {
  /** Offset just past the name as it appears at its position (after the first pointer, if any). */
  next = 0;
}

/**
 * Reads the name at `pos` of the message that starts at `base` and ends at `end`. Returns it in
 * presentation form, lowercase (RFC 4343: names compare case-insensitively, and resolvers
 * randomise case, draft-vixie-dnsext-dns0x20), without the trailing dot; the root is ".". Bytes that
 * would be ambiguous in text are escaped as in RFC 1035 §5.1 ("\." inside a label, "\DDD").
 * Returns null when the name is malformed. `compression` false forbids pointers (RFC 9460 §2.2
 * TargetName, RFC 3597 §4 for unknown types).
 */
export function readName(buf: Buffer, base: number, end: number, pos: number, cur: NameCursor, compression = true): string | null {
  let p = pos;
  let runStart = pos;
  let jumped = false;
  let hops = 0;
  let wire = 1; // the root octet
  let text = '';
  for (;;) {
    if (p >= end) return null;
    const l = buf[p];
    if (l === 0) {
      if (!jumped) cur.next = p + 1;
      return text === '' ? '.' : text;
    }
    const kind = l & 0xc0;
    if (kind === 0xc0) {
      if (!compression || p + 2 > end) return null;
      const target = base + (((l & 0x3f) << 8) | buf[p + 1]);
      if (target >= runStart || ++hops > MAX_POINTER_HOPS) return null;
      if (!jumped) cur.next = p + 2;
      jumped = true;
      p = target;
      runStart = target;
      continue;
    }
    // 0x40 and 0x80 are the extended label types of RFC 2671, withdrawn by RFC 6891 §5.
    if (kind !== 0) return null;
    wire += l + 1;
    if (wire > MAX_NAME_WIRE_LENGTH || p + 1 + l > end) return null;
    if (text !== '') text += '.';
    text += labelText(buf, p + 1, p + 1 + l);
    p += 1 + l;
  }
}

function labelText(buf: Buffer, from: number, to: number): string {
  let plain = true;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c || (c >= 0x41 && c <= 0x5a)) {
      plain = false;
      break;
    }
  }
  if (plain) return buf.toString('latin1', from, to);
  let s = '';
  for (let i = from; i < to; i++) {
    let c = buf[i];
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c === 0x2e || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c <= 0x20 || c >= 0x7f) s += `\\${String(c).padStart(3, '0')}`;
    else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Skips the name at `pos` without decoding it (for records whose owner is not needed). Checks
 * only the bytes at this position; a pointer ends the name. Returns the offset after it, or -1.
 */
export function skipName(buf: Buffer, end: number, pos: number): number {
  let p = pos;
  let wire = 1;
  for (;;) {
    if (p >= end) return -1;
    const l = buf[p];
    if (l === 0) return p + 1;
    if ((l & 0xc0) === 0xc0) return p + 2 <= end ? p + 2 : -1;
    if ((l & 0xc0) !== 0) return -1;
    wire += l + 1;
    if (wire > MAX_NAME_WIRE_LENGTH) return -1;
    p += 1 + l;
  }
}
