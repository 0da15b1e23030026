/**
 * The key schedule of QUIC Initial packets in plain TypeScript: HMAC-SHA-256 (RFC 2104, FIPS
 * 180-4), HKDF-Extract and HKDF-Expand-Label (RFC 5869, RFC 8446 §7.1), and one AES-128 block
 * (FIPS 197) for the header protection mask (RFC 9001 §5.4.3).
 *
 * Why not node:crypto: every new QUIC flow derives fresh keys from its own connection ID, and a
 * node:crypto Hmac or Cipher object costs microseconds to create, which is most of the work for
 * inputs of one or two blocks (five HMACs and one AES block per flow). Done here, with the salt's
 * HMAC pads hashed once per process, the schedule takes a third of the time. These keys protect
 * nothing (anyone can derive them from the packet, RFC 9001 §7); the AEAD itself stays with
 * node:crypto. Tests check every function against node:crypto and the RFC 9001/9369 vectors.
 */

// ---------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4 §6.2) on 32-bit words
// ---------------------------------------------------------------------------------------------

/** FIPS 180-4 §4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
/** FIPS 180-4 §5.3.3: initial hash value. */
const H0 = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Int32Array(64);
const BLOCK = new Int32Array(16);

/** One SHA-256 compression of BLOCK into the state H (FIPS 180-4 §6.2.2). */
function compress(H: Int32Array): void {
  for (let i = 0; i < 16; i++) W[i] = BLOCK[i]!;
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15]!;
    const b = W[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  let f = H[5]!;
  let g = H[6]!;
  let h = H[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] = (H[0]! + a) | 0;
  H[1] = (H[1]! + b) | 0;
  H[2] = (H[2]! + c) | 0;
  H[3] = (H[3]! + d) | 0;
  H[4] = (H[4]! + e) | 0;
  H[5] = (H[5]! + f) | 0;
  H[6] = (H[6]! + g) | 0;
  H[7] = (H[7]! + h) | 0;
}

/** An HMAC key (RFC 2104): the SHA-256 states after absorbing K ^ ipad and K ^ opad. */
export interface HmacKey {
  inner: Int32Array;
  outer: Int32Array;
}

/** Keys of at most 64 bytes (all QUIC needs: a 20-byte salt, 32-byte secrets). */
export function hmacKey(key: Buffer): HmacKey {
  if (key.length > 64) throw new RangeError('hmacKey: keys longer than one SHA-256 block are not supported');
  BLOCK.fill(0);
  for (let i = 0; i < key.length; i++) BLOCK[i >> 2]! |= key[i]! << (24 - 8 * (i & 3));
  return padKey();
}

/** The same for a 32-byte key given as eight big-endian words (a secret still in words). */
function hmacKeyFromWords(words: Int32Array): HmacKey {
  BLOCK.fill(0);
  for (let i = 0; i < 8; i++) BLOCK[i] = words[i]!;
  return padKey();
}

const KEY_WORDS = new Int32Array(16);

/** From the key in BLOCK: the inner and outer states (RFC 2104 §2: ipad 0x36, opad 0x5c). */
function padKey(): HmacKey {
  KEY_WORDS.set(BLOCK);
  const inner = Int32Array.from(H0);
  const outer = Int32Array.from(H0);
  for (let i = 0; i < 16; i++) BLOCK[i] = KEY_WORDS[i]! ^ 0x36363636;
  compress(inner);
  for (let i = 0; i < 16; i++) BLOCK[i] = KEY_WORDS[i]! ^ 0x5c5c5c5c;
  compress(outer);
  return { inner, outer };
}

const STATE = new Int32Array(8);

/**
 * HMAC-SHA-256(key, msg) into `out` (eight words) for messages of at most 55 bytes: one block
 * after the key's.
 */
function hmacWords(key: HmacKey, msg: Buffer, out: Int32Array): void {
  if (msg.length > 55) throw new RangeError('hmacSha256: messages longer than 55 bytes are not supported');
  STATE.set(key.inner);
  BLOCK.fill(0);
  const n = msg.length;
  for (let i = 0; i < n; i++) BLOCK[i >> 2]! |= msg[i]! << (24 - 8 * (i & 3));
  BLOCK[n >> 2]! |= 0x80 << (24 - 8 * (n & 3)); // FIPS 180-4 §5.1.1 padding
  BLOCK[15] = (64 + n) * 8;
  compress(STATE);
  BLOCK.fill(0);
  for (let i = 0; i < 8; i++) BLOCK[i] = STATE[i]!;
  BLOCK[8] = 0x80000000 | 0;
  BLOCK[15] = (64 + 32) * 8;
  out.set(key.outer);
  compress(out);
}

function wordsToBuffer(words: Int32Array, length: number): Buffer {
  const out = Buffer.allocUnsafe(32);
  for (let i = 0; i < 8; i++) out.writeInt32BE(words[i]!, i * 4);
  return length === 32 ? out : out.subarray(0, length);
}

const T = new Int32Array(8);

export function hmacSha256(key: HmacKey, msg: Buffer): Buffer {
  hmacWords(key, msg, T);
  return wordsToBuffer(T, 32);
}

/**
 * HKDF-Extract (RFC 5869 §2.2) of `ikm` with a prepared salt key, returned as an HMAC key for
 * the HKDF-Expand steps that follow: PRK = HMAC-Hash(salt, IKM).
 */
export function hkdfExtractKey(salt: HmacKey, ikm: Buffer): HmacKey {
  hmacWords(salt, ikm, T);
  return hmacKeyFromWords(T);
}

/**
 * HKDF-Expand-Label (RFC 8446 §7.1) with an empty context and at most 32 bytes: HKDF-Expand
 * (RFC 5869 §2.3) is then T(1) = HMAC(PRK, HkdfLabel || 0x01), truncated.
 */
export function hkdfExpandLabel(secret: HmacKey, label: string, length: number): Buffer {
  if (length > 32) throw new RangeError('hkdfExpandLabel: at most 32 bytes with SHA-256 in one block');
  hmacWords(secret, labelInfo(label, length), T);
  return wordsToBuffer(T, length);
}

/** HKDF-Expand-Label to 32 bytes kept as an HMAC key: a secret the next expansions use. */
export function hkdfExpandLabelKey(secret: HmacKey, label: string): HmacKey {
  hmacWords(secret, labelInfo(label, 32), T);
  return hmacKeyFromWords(T);
}

/** HkdfLabel || 0x01 per (label, length): the handful QUIC uses, built once. */
const LABEL_INFO = new Map<string, Buffer>();

function labelInfo(label: string, length: number): Buffer {
  const key = `${label}/${length}`;
  let info = LABEL_INFO.get(key);
  if (!info) {
    const full = Buffer.from(`tls13 ${label}`, 'latin1');
    // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel
    info = Buffer.alloc(2 + 1 + full.length + 1 + 1);
    info.writeUInt16BE(length, 0);
    info[2] = full.length;
    full.copy(info, 3);
    info[3 + full.length] = 0; // empty context
    info[4 + full.length] = 1; // HKDF-Expand block counter
    LABEL_INFO.set(key, info);
  }
  return info;
}

// ---------------------------------------------------------------------------------------------
// AES-128, encryption of one block (FIPS 197)
// ---------------------------------------------------------------------------------------------

const SBOX = new Uint8Array(256);
/** T-tables: SubBytes, ShiftRows and MixColumns of one byte as a column word (FIPS 197 §5.1). */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);

(function buildTables(): void {
  // FIPS 197 §5.1.1: the S-box is the multiplicative inverse in GF(2^8) followed by an affine map.
  const xtime = (x: number): number => ((x << 1) ^ (x & 0x80 ? 0x1b : 0)) & 0xff;
  let p = 1;
  let q = 1;
  SBOX[0] = 0x63;
  do {
    // p walks the powers of 3, q those of its inverse 0xf6; q = p^-1 at each step.
    p = p ^ xtime(p);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4));
    SBOX[p] = (x ^ 0x63) & 0xff;
  } while (p !== 1);
  for (let i = 0; i < 256; i++) {
    const s = SBOX[i]!;
    const s2 = xtime(s);
    const s3 = s2 ^ s;
    const t = (s2 << 24) | (s << 16) | (s << 8) | s3;
    T0[i] = t;
    T1[i] = (t >>> 8) | (t << 24);
    T2[i] = (t >>> 16) | (t << 16);
    T3[i] = (t >>> 24) | (t << 8);
  }
})();

const RCON = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36];
const ROUND_KEYS = new Int32Array(44);

/** AES-128(key, block) for one 16-byte block: the header protection mask of RFC 9001 §5.4.3. */
export function aes128EncryptBlock(key: Buffer, block: Buffer): Buffer {
  if (key.length !== 16 || block.length < 16) throw new RangeError('aes128EncryptBlock: a 16-byte key and a 16-byte block');
  const rk = ROUND_KEYS;
  // FIPS 197 §5.2: key expansion.
  for (let i = 0; i < 4; i++) rk[i] = key.readInt32BE(i * 4);
  for (let i = 4; i < 44; i++) {
    let t = rk[i - 1]!;
    if (i % 4 === 0) {
      t = (SBOX[(t >>> 16) & 0xff]! << 24) | (SBOX[(t >>> 8) & 0xff]! << 16) | (SBOX[t & 0xff]! << 8) | SBOX[t >>> 24]!;
      t ^= RCON[i / 4 - 1]! << 24;
    }
    rk[i] = rk[i - 4]! ^ t;
  }
  let s0 = block.readInt32BE(0) ^ rk[0]!;
  let s1 = block.readInt32BE(4) ^ rk[1]!;
  let s2 = block.readInt32BE(8) ^ rk[2]!;
  let s3 = block.readInt32BE(12) ^ rk[3]!;
  for (let r = 1; r < 10; r++) {
    const k = r * 4;
    const t0 = T0[s0 >>> 24]! ^ T1[(s1 >>> 16) & 0xff]! ^ T2[(s2 >>> 8) & 0xff]! ^ T3[s3 & 0xff]! ^ rk[k]!;
    const t1 = T0[s1 >>> 24]! ^ T1[(s2 >>> 16) & 0xff]! ^ T2[(s3 >>> 8) & 0xff]! ^ T3[s0 & 0xff]! ^ rk[k + 1]!;
    const t2 = T0[s2 >>> 24]! ^ T1[(s3 >>> 16) & 0xff]! ^ T2[(s0 >>> 8) & 0xff]! ^ T3[s1 & 0xff]! ^ rk[k + 2]!;
    const t3 = T0[s3 >>> 24]! ^ T1[(s0 >>> 16) & 0xff]! ^ T2[(s1 >>> 8) & 0xff]! ^ T3[s2 & 0xff]! ^ rk[k + 3]!;
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  // Final round: SubBytes and ShiftRows, no MixColumns.
  const out = Buffer.allocUnsafe(16);
  const last = (a: number, b: number, c: number, d: number, k: number): number =>
    ((SBOX[a >>> 24]! << 24) | (SBOX[(b >>> 16) & 0xff]! << 16) | (SBOX[(c >>> 8) & 0xff]! << 8) | SBOX[d & 0xff]!) ^ rk[k]!;
  out.writeInt32BE(last(s0, s1, s2, s3, 40), 0);
  out.writeInt32BE(last(s1, s2, s3, s0, 41), 4);
  out.writeInt32BE(last(s2, s3, s0, s1, 42), 8);
  out.writeInt32BE(last(s3, s0, s1, s2, 43), 12);
  return out;
}
