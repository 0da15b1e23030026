/**
 * The Host of a plaintext HTTP/1.x request (RFC 9112), from the first client payload of a TCP
 * flow. Runs once per flow and may allocate the result string; never throws.
 *
 * Returns the host (lowercase, port and IPv6 brackets removed), null when the payload is not an
 * HTTP/1.x request or carries no usable Host within this segment, or 'malformed' when it is an
 * HTTP request whose request line or Host header is broken.
 */
import { hostnameString, isHostnameBytes } from './hostname';

/** Methods of RFC 9110 §9.3 plus PATCH (RFC 5789), as bytes for in-place comparison. */
const METHODS: readonly Buffer[] = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'].map(
  (m) => Buffer.from(`${m} `, 'latin1'),
);
const HTTP_1 = Buffer.from(' HTTP/1.', 'latin1');

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

export function parseHttpHost(buf: Buffer, off: number, len: number): string | null | 'malformed' {
  if (!(off >= 0) || !(len >= 0)) return null;
  const end = Math.min(off + len, buf.length);

  let method: Buffer | null = null;
  for (const m of METHODS) {
    if (end - off >= m.length && buf.compare(m, 0, m.length, off, off + m.length) === 0) {
      method = m;
      break;
    }
  }
  if (method === null) return null;

  // Request line: method SP request-target SP HTTP-version CRLF (RFC 9112 §3). A bare LF ends a
  // line too (RFC 9112 §2.2 lets recipients accept it).
  const lineEnd = buf.indexOf(LF, off);
  if (lineEnd < 0 || lineEnd >= end) return null; // the request line continues in a later segment
  const lineStop = lineEnd > off && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  const versionAt = lineStop - HTTP_1.length - 1; // " HTTP/1." then one digit
  if (
    versionAt <= off + method.length || // no request-target
    buf.compare(HTTP_1, 0, HTTP_1.length, versionAt, versionAt + HTTP_1.length) !== 0 ||
    buf[lineStop - 1] < 0x30 ||
    buf[lineStop - 1] > 0x39
  ) {
    return 'malformed';
  }

  // Header fields up to the empty line or the end of this segment; only complete lines count,
  // since a Host value cut by the segment boundary would be wrong rather than absent.
  let hostStart = -1;
  let hostStop = -1;
  let p = lineEnd + 1;
  while (p < end) {
    const nl = buf.indexOf(LF, p);
    if (nl < 0 || nl >= end) break;
    const stop = nl > p && buf[nl - 1] === CR ? nl - 1 : nl;
    if (stop === p) break; // empty line: end of the header section
    if (stop - p >= 5 && isHostName(buf, p)) {
      // RFC 9112 §3.2: a request with more than one Host field is answered 400 Bad Request.
      if (hostStart >= 0) return 'malformed';
      let a = p + 5;
      let z = stop;
      while (a < z && (buf[a] === SP || buf[a] === HTAB)) a++;
      while (z > a && (buf[z - 1] === SP || buf[z - 1] === HTAB)) z--;
      hostStart = a;
      hostStop = z;
    }
    p = nl + 1;
  }
  if (hostStart < 0 || hostStart === hostStop) return null; // absent, or empty (RFC 9112 §3.2)
  return hostValue(buf, hostStart, hostStop);
}

/** "host:" in any case at buf[p] (RFC 9110 §5.1: field names are case-insensitive). */
function isHostName(buf: Buffer, p: number): boolean {
  return (
    (buf[p] | 0x20) === 0x68 &&
    (buf[p + 1] | 0x20) === 0x6f &&
    (buf[p + 2] | 0x20) === 0x73 &&
    (buf[p + 3] | 0x20) === 0x74 &&
    buf[p + 4] === COLON
  );
}

/** Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2). */
function hostValue(buf: Buffer, a: number, z: number): string | 'malformed' {
  let hostEnd: number;
  let portAt: number;
  const ipLiteral = buf[a] === 0x5b;
  if (ipLiteral) {
    // IP-literal: "[" IPv6address "]"; returned without the brackets.
    const close = buf.indexOf(0x5d, a);
    if (close < 0 || close >= z || close === a + 1) return 'malformed';
    for (let i = a + 1; i < close; i++) {
      const c = buf[i] | 0x20;
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || c === COLON || c === 0x2e)) return 'malformed';
    }
    if (close + 1 < z && buf[close + 1] !== COLON) return 'malformed';
    hostEnd = close;
    portAt = close + 1;
    a += 1;
  } else {
    const colon = buf.indexOf(COLON, a);
    hostEnd = colon >= 0 && colon < z ? colon : z;
    portAt = hostEnd;
  }
  // The port may be empty ("example.com:") but is digits only (RFC 3986 §3.2.3).
  if (portAt < z) {
    for (let i = portAt + 1; i < z; i++) if (buf[i] < 0x30 || buf[i] > 0x39) return 'malformed';
  }
  if (ipLiteral) return buf.toString('latin1', a, hostEnd).toLowerCase();
  // A fully qualified "example.com." names the same host.
  if (hostEnd - a > 1 && buf[hostEnd - 1] === 0x2e) hostEnd--;
  if (!isHostnameBytes(buf, a, hostEnd - a)) return 'malformed';
  return hostnameString(buf, a, hostEnd - a);
}
