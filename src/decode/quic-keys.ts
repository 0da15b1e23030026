/**
 * The key schedule and the cipher of QUIC Initial packets in plain TypeScript: SHA-256 (FIPS
 * 180-4), HMAC (RFC 2104), HKDF-Extract and HKDF-Expand-Label (RFC 5869, RFC 8446 §7.1) and
 * AES-128 encryption (FIPS 197) for the header protection mask (RFC 9001 §5.4.3) and the
 * keystream of the payload (AES-CTR, as AEAD_AES_128_GCM makes it, NIST SP 800-38D §6.5).
 *
 * Why not node:crypto: every new QUIC flow derives fresh keys from its own connection ID, and a
 * node:crypto Hmac, Cipher or hkdfSync call costs microseconds of set-up (measured on Node 20:
 * createHmac ~3 us, hkdfSync ~15 us, createDecipheriv('aes-128-gcm') + update + final ~5 us),
 * which is most of the work for inputs of one block. Here the whole client key schedule is 14
 * SHA-256 compressions on preallocated words, with everything that depends only on the QUIC
 * version (the salt's HMAC pads, the message schedules of the label blocks) computed once, and
 * the payload keystream is made only for the bytes the reader looks at. These keys protect
 * nothing (anyone can derive them from the packet, RFC 9001 §7). Tests check every function
 * against node:crypto and the RFC 9001/9369 vectors.
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

/**
 * K + W for the 16-word block M[mo, mo + 16): the message schedule (FIPS 180-4 §6.2.2 step 1)
 * plus the round constants, all of a compression that depends on the block alone. Made once for
 * the constant blocks of the key schedule (the HKDF labels), whose compressions are then
 * rounds() alone.
 */
function schedule(M: Int32Array, mo: number, kw: Int32Array): void {
  for (let i = 0; i < 16; i++) kw[i] = M[mo + i]!;
  for (let i = 16; i < 64; i++) {
    const x = kw[i - 15]!;
    const y = kw[i - 2]!;
    kw[i] = (kw[i - 16]! + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) + kw[i - 7]! + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
  }
  for (let i = 0; i < 64; i++) kw[i] = (kw[i]! + K[i]!) | 0;
}

/**
 * The 64 rounds of one compression (FIPS 180-4 §6.2.2 steps 2-4) from the state S[so, so + 8)
 * with a block scheduled by schedule(), into out[oo, oo + 8) (which may be S itself). Eight
 * rounds per iteration, so the working variables change roles instead of being shifted.
 */
function rounds(S: Int32Array, so: number, kw: Int32Array, out: Int32Array, oo: number): void {
  let a = S[so]!;
  let b = S[so + 1]!;
  let c = S[so + 2]!;
  let d = S[so + 3]!;
  let e = S[so + 4]!;
  let f = S[so + 5]!;
  let g = S[so + 6]!;
  let h = S[so + 7]!;
  for (let i = 0; i < 64; i += 8) {
    h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + (g ^ (e & (f ^ g))) + kw[i]!) | 0;
    d = (d + h) | 0;
    h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) | (c & (a | b)))) | 0;
    g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + (f ^ (d & (e ^ f))) + kw[i + 1]!) | 0;
    c = (c + g) | 0;
    g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) | (b & (h | a)))) | 0;
    f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + (e ^ (c & (d ^ e))) + kw[i + 2]!) | 0;
    b = (b + f) | 0;
    f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) | (a & (g | h)))) | 0;
    e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + (d ^ (b & (c ^ d))) + kw[i + 3]!) | 0;
    a = (a + e) | 0;
    e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) | (h & (f | g)))) | 0;
    d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + (c ^ (a & (b ^ c))) + kw[i + 4]!) | 0;
    h = (h + d) | 0;
    d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) | (g & (e | f)))) | 0;
    c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + (b ^ (h & (a ^ b))) + kw[i + 5]!) | 0;
    g = (g + c) | 0;
    c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) | (f & (d | e)))) | 0;
    b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + (a ^ (g & (h ^ a))) + kw[i + 6]!) | 0;
    f = (f + b) | 0;
    b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) | (e & (c | d)))) | 0;
    a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + (h ^ (f & (g ^ h))) + kw[i + 7]!) | 0;
    e = (e + a) | 0;
    a = (a + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) | (d & (b | c)))) | 0;
  }
  out[oo] = (S[so]! + a) | 0;
  out[oo + 1] = (S[so + 1]! + b) | 0;
  out[oo + 2] = (S[so + 2]! + c) | 0;
  out[oo + 3] = (S[so + 3]! + d) | 0;
  out[oo + 4] = (S[so + 4]! + e) | 0;
  out[oo + 5] = (S[so + 5]! + f) | 0;
  out[oo + 6] = (S[so + 6]! + g) | 0;
  out[oo + 7] = (S[so + 7]! + h) | 0;
}

/**
 * One SHA-256 compression of the block M[mo, mo + 16) from the state S[so, so + 8) into
 * out[oo, oo + 8) (which may be S). The message schedule runs in sixteen local words, updated in
 * place between groups of sixteen rounds, and the working variables change roles from round to
 * round: no array but the input and K is touched, which makes it about a quarter faster than a
 * schedule in a 64-word array (measured on Node 20).
 */
function compress(S: Int32Array, so: number, M: Int32Array, mo: number, out: Int32Array, oo: number): void {
  let w0 = M[mo]!;
  let w1 = M[mo + 1]!;
  let w2 = M[mo + 2]!;
  let w3 = M[mo + 3]!;
  let w4 = M[mo + 4]!;
  let w5 = M[mo + 5]!;
  let w6 = M[mo + 6]!;
  let w7 = M[mo + 7]!;
  let w8 = M[mo + 8]!;
  let w9 = M[mo + 9]!;
  let w10 = M[mo + 10]!;
  let w11 = M[mo + 11]!;
  let w12 = M[mo + 12]!;
  let w13 = M[mo + 13]!;
  let w14 = M[mo + 14]!;
  let w15 = M[mo + 15]!;
  let a = S[so]!;
  let b = S[so + 1]!;
  let c = S[so + 2]!;
  let d = S[so + 3]!;
  let e = S[so + 4]!;
  let f = S[so + 5]!;
  let g = S[so + 6]!;
  let h = S[so + 7]!;
  for (let j = 0; ; j += 16) {
    h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + (g ^ (e & (f ^ g))) + K[j]! + w0) | 0;
    d = (d + h) | 0;
    h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) | (c & (a | b)))) | 0;
    g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + (f ^ (d & (e ^ f))) + K[j + 1]! + w1) | 0;
    c = (c + g) | 0;
    g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) | (b & (h | a)))) | 0;
    f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + (e ^ (c & (d ^ e))) + K[j + 2]! + w2) | 0;
    b = (b + f) | 0;
    f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) | (a & (g | h)))) | 0;
    e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + (d ^ (b & (c ^ d))) + K[j + 3]! + w3) | 0;
    a = (a + e) | 0;
    e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) | (h & (f | g)))) | 0;
    d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + (c ^ (a & (b ^ c))) + K[j + 4]! + w4) | 0;
    h = (h + d) | 0;
    d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) | (g & (e | f)))) | 0;
    c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + (b ^ (h & (a ^ b))) + K[j + 5]! + w5) | 0;
    g = (g + c) | 0;
    c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) | (f & (d | e)))) | 0;
    b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + (a ^ (g & (h ^ a))) + K[j + 6]! + w6) | 0;
    f = (f + b) | 0;
    b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) | (e & (c | d)))) | 0;
    a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + (h ^ (f & (g ^ h))) + K[j + 7]! + w7) | 0;
    e = (e + a) | 0;
    a = (a + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) | (d & (b | c)))) | 0;
    h = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + (g ^ (e & (f ^ g))) + K[j + 8]! + w8) | 0;
    d = (d + h) | 0;
    h = (h + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) | (c & (a | b)))) | 0;
    g = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + (f ^ (d & (e ^ f))) + K[j + 9]! + w9) | 0;
    c = (c + g) | 0;
    g = (g + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) | (b & (h | a)))) | 0;
    f = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + (e ^ (c & (d ^ e))) + K[j + 10]! + w10) | 0;
    b = (b + f) | 0;
    f = (f + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) | (a & (g | h)))) | 0;
    e = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + (d ^ (b & (c ^ d))) + K[j + 11]! + w11) | 0;
    a = (a + e) | 0;
    e = (e + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) | (h & (f | g)))) | 0;
    d = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + (c ^ (a & (b ^ c))) + K[j + 12]! + w12) | 0;
    h = (h + d) | 0;
    d = (d + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) | (g & (e | f)))) | 0;
    c = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + (b ^ (h & (a ^ b))) + K[j + 13]! + w13) | 0;
    g = (g + c) | 0;
    c = (c + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) | (f & (d | e)))) | 0;
    b = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + (a ^ (g & (h ^ a))) + K[j + 14]! + w14) | 0;
    f = (f + b) | 0;
    b = (b + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) | (e & (c | d)))) | 0;
    a = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + (h ^ (f & (g ^ h))) + K[j + 15]! + w15) | 0;
    e = (e + a) | 0;
    a = (a + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) | (d & (b | c)))) | 0;
    if (j === 48) break;
    // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], in place in the 16 words.
    w0 = (w0 + (((w1 >>> 7) | (w1 << 25)) ^ ((w1 >>> 18) | (w1 << 14)) ^ (w1 >>> 3)) + w9 + (((w14 >>> 17) | (w14 << 15)) ^ ((w14 >>> 19) | (w14 << 13)) ^ (w14 >>> 10))) | 0;
    w1 = (w1 + (((w2 >>> 7) | (w2 << 25)) ^ ((w2 >>> 18) | (w2 << 14)) ^ (w2 >>> 3)) + w10 + (((w15 >>> 17) | (w15 << 15)) ^ ((w15 >>> 19) | (w15 << 13)) ^ (w15 >>> 10))) | 0;
    w2 = (w2 + (((w3 >>> 7) | (w3 << 25)) ^ ((w3 >>> 18) | (w3 << 14)) ^ (w3 >>> 3)) + w11 + (((w0 >>> 17) | (w0 << 15)) ^ ((w0 >>> 19) | (w0 << 13)) ^ (w0 >>> 10))) | 0;
    w3 = (w3 + (((w4 >>> 7) | (w4 << 25)) ^ ((w4 >>> 18) | (w4 << 14)) ^ (w4 >>> 3)) + w12 + (((w1 >>> 17) | (w1 << 15)) ^ ((w1 >>> 19) | (w1 << 13)) ^ (w1 >>> 10))) | 0;
    w4 = (w4 + (((w5 >>> 7) | (w5 << 25)) ^ ((w5 >>> 18) | (w5 << 14)) ^ (w5 >>> 3)) + w13 + (((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10))) | 0;
    w5 = (w5 + (((w6 >>> 7) | (w6 << 25)) ^ ((w6 >>> 18) | (w6 << 14)) ^ (w6 >>> 3)) + w14 + (((w3 >>> 17) | (w3 << 15)) ^ ((w3 >>> 19) | (w3 << 13)) ^ (w3 >>> 10))) | 0;
    w6 = (w6 + (((w7 >>> 7) | (w7 << 25)) ^ ((w7 >>> 18) | (w7 << 14)) ^ (w7 >>> 3)) + w15 + (((w4 >>> 17) | (w4 << 15)) ^ ((w4 >>> 19) | (w4 << 13)) ^ (w4 >>> 10))) | 0;
    w7 = (w7 + (((w8 >>> 7) | (w8 << 25)) ^ ((w8 >>> 18) | (w8 << 14)) ^ (w8 >>> 3)) + w0 + (((w5 >>> 17) | (w5 << 15)) ^ ((w5 >>> 19) | (w5 << 13)) ^ (w5 >>> 10))) | 0;
    w8 = (w8 + (((w9 >>> 7) | (w9 << 25)) ^ ((w9 >>> 18) | (w9 << 14)) ^ (w9 >>> 3)) + w1 + (((w6 >>> 17) | (w6 << 15)) ^ ((w6 >>> 19) | (w6 << 13)) ^ (w6 >>> 10))) | 0;
    w9 = (w9 + (((w10 >>> 7) | (w10 << 25)) ^ ((w10 >>> 18) | (w10 << 14)) ^ (w10 >>> 3)) + w2 + (((w7 >>> 17) | (w7 << 15)) ^ ((w7 >>> 19) | (w7 << 13)) ^ (w7 >>> 10))) | 0;
    w10 = (w10 + (((w11 >>> 7) | (w11 << 25)) ^ ((w11 >>> 18) | (w11 << 14)) ^ (w11 >>> 3)) + w3 + (((w8 >>> 17) | (w8 << 15)) ^ ((w8 >>> 19) | (w8 << 13)) ^ (w8 >>> 10))) | 0;
    w11 = (w11 + (((w12 >>> 7) | (w12 << 25)) ^ ((w12 >>> 18) | (w12 << 14)) ^ (w12 >>> 3)) + w4 + (((w9 >>> 17) | (w9 << 15)) ^ ((w9 >>> 19) | (w9 << 13)) ^ (w9 >>> 10))) | 0;
    w12 = (w12 + (((w13 >>> 7) | (w13 << 25)) ^ ((w13 >>> 18) | (w13 << 14)) ^ (w13 >>> 3)) + w5 + (((w10 >>> 17) | (w10 << 15)) ^ ((w10 >>> 19) | (w10 << 13)) ^ (w10 >>> 10))) | 0;
    w13 = (w13 + (((w14 >>> 7) | (w14 << 25)) ^ ((w14 >>> 18) | (w14 << 14)) ^ (w14 >>> 3)) + w6 + (((w11 >>> 17) | (w11 << 15)) ^ ((w11 >>> 19) | (w11 << 13)) ^ (w11 >>> 10))) | 0;
    w14 = (w14 + (((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)) + w7 + (((w12 >>> 17) | (w12 << 15)) ^ ((w12 >>> 19) | (w12 << 13)) ^ (w12 >>> 10))) | 0;
    w15 = (w15 + (((w0 >>> 7) | (w0 << 25)) ^ ((w0 >>> 18) | (w0 << 14)) ^ (w0 >>> 3)) + w8 + (((w13 >>> 17) | (w13 << 15)) ^ ((w13 >>> 19) | (w13 << 13)) ^ (w13 >>> 10))) | 0;
  }
  out[oo] = (S[so]! + a) | 0;
  out[oo + 1] = (S[so + 1]! + b) | 0;
  out[oo + 2] = (S[so + 2]! + c) | 0;
  out[oo + 3] = (S[so + 3]! + d) | 0;
  out[oo + 4] = (S[so + 4]! + e) | 0;
  out[oo + 5] = (S[so + 5]! + f) | 0;
  out[oo + 6] = (S[so + 6]! + g) | 0;
  out[oo + 7] = (S[so + 7]! + h) | 0;
}

/** Scratch block for the compressions below. */
const BLOCK = new Int32Array(16);

/**
 * The inner and outer states of an HMAC key (RFC 2104 §2: ipad 0x36, opad 0x5c) whose first
 * eight words are K[ko, ko + 8) and whose other eight are zero: a 32-byte key, as every key of
 * the schedule after the salt is. Into out[oo, oo + 8) (inner) and out[oo + 8, oo + 16) (outer).
 */
function padKey32(k: Int32Array, ko: number, out: Int32Array, oo: number): void {
  for (let i = 0; i < 8; i++) BLOCK[i] = k[ko + i]! ^ 0x36363636;
  for (let i = 8; i < 16; i++) BLOCK[i] = 0x36363636;
  compress(H0, 0, BLOCK, 0, out, oo);
  for (let i = 0; i < 8; i++) BLOCK[i] = k[ko + i]! ^ 0x5c5c5c5c;
  for (let i = 8; i < 16; i++) BLOCK[i] = 0x5c5c5c5c;
  compress(H0, 0, BLOCK, 0, out, oo + 8);
}

/**
 * The outer hash of an HMAC: compression of the 32-byte inner hash in T[to, to + 8), padded
 * (FIPS 180-4 §5.1.1; 64 + 32 bytes in all), from the outer state S[so..], into out[oo..].
 */
function outerHash(S: Int32Array, so: number, T: Int32Array, to: number, out: Int32Array, oo: number): void {
  for (let i = 0; i < 8; i++) BLOCK[i] = T[to + i]!;
  BLOCK[8] = 0x80000000 | 0;
  for (let i = 9; i < 15; i++) BLOCK[i] = 0;
  BLOCK[15] = (64 + 32) * 8;
  compress(S, so, BLOCK, 0, out, oo);
}

/**
 * The padded final block of a message of at most 55 bytes that follows one 64-byte block (the
 * HMAC key's), as 16 words into `block`: bytes, 0x80, zeros, the 64-bit bit length.
 */
function messageBlock(msg: Uint8Array, off: number, n: number, block: Int32Array): void {
  block.fill(0);
  for (let i = 0; i < n; i++) block[i >> 2]! |= msg[off + i]! << (24 - 8 * (i & 3));
  block[n >> 2]! |= 0x80 << (24 - 8 * (n & 3));
  block[15] = (64 + n) * 8;
}

/** An HMAC-SHA-256 key (RFC 2104): the states after absorbing K ^ ipad and K ^ opad. */
export interface HmacKey {
  inner: Int32Array;
  outer: Int32Array;
}

/** Keys of at most 64 bytes (all QUIC needs: a 20-byte salt, 32-byte secrets). */
export function hmacKey(key: Uint8Array): HmacKey {
  if (key.length > 64) throw new RangeError('hmacKey: keys longer than one SHA-256 block are not supported');
  const words = new Int32Array(16);
  for (let i = 0; i < key.length; i++) words[i >> 2]! |= key[i]! << (24 - 8 * (i & 3));
  const inner = new Int32Array(8);
  const outer = new Int32Array(8);
  for (let i = 0; i < 16; i++) BLOCK[i] = words[i]! ^ 0x36363636;
  compress(H0, 0, BLOCK, 0, inner, 0);
  for (let i = 0; i < 16; i++) BLOCK[i] = words[i]! ^ 0x5c5c5c5c;
  compress(H0, 0, BLOCK, 0, outer, 0);
  return { inner, outer };
}

const T = new Int32Array(8);
const MSG = new Int32Array(16);

/** HMAC-SHA-256(key, msg) into out[oo, oo + 8) for messages of at most 55 bytes. */
function hmacWords(key: HmacKey, msg: Uint8Array, out: Int32Array, oo: number): void {
  if (msg.length > 55) throw new RangeError('hmacSha256: messages longer than 55 bytes are not supported');
  messageBlock(msg, 0, msg.length, MSG);
  compress(key.inner, 0, MSG, 0, T, 0);
  outerHash(key.outer, 0, T, 0, out, oo);
}

function wordsToBuffer(words: Int32Array, wo: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = words[wo + (i >> 2)]! >>> (24 - 8 * (i & 3));
  return out;
}

const OUT = new Int32Array(8);

export function hmacSha256(key: HmacKey, msg: Uint8Array): Buffer {
  hmacWords(key, msg, OUT, 0);
  return wordsToBuffer(OUT, 0, 32);
}

/** HKDF-Extract (RFC 5869 §2.2), PRK = HMAC-Hash(salt, IKM), kept as an HMAC key for the expansions. */
export function hkdfExtractKey(salt: HmacKey, ikm: Uint8Array): HmacKey {
  hmacWords(salt, ikm, OUT, 0);
  return hmacKey(wordsToBuffer(OUT, 0, 32));
}

/**
 * HKDF-Expand-Label (RFC 8446 §7.1) with an empty context and at most 32 bytes: HKDF-Expand
 * (RFC 5869 §2.3) is then T(1) = HMAC(PRK, HkdfLabel || 0x01), truncated.
 */
export function hkdfExpandLabel(secret: HmacKey, label: string, length: number): Buffer {
  if (length > 32) throw new RangeError('hkdfExpandLabel: at most 32 bytes with SHA-256 in one block');
  hmacWords(secret, labelInfo(label, length), OUT, 0);
  return wordsToBuffer(OUT, 0, length);
}

/** HKDF-Expand-Label to 32 bytes kept as an HMAC key: a secret the next expansions use. */
export function hkdfExpandLabelKey(secret: HmacKey, label: string): HmacKey {
  return hmacKey(hkdfExpandLabel(secret, label, 32));
}

/** HkdfLabel || 0x01 (RFC 8446 §7.1, RFC 5869 §2.3) for an empty context. */
function labelInfo(label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  // struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel
  const info = Buffer.alloc(2 + 1 + full.length + 1 + 1);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  full.copy(info, 3);
  info[3 + full.length] = 0; // empty context
  info[4 + full.length] = 1; // HKDF-Expand block counter
  return info;
}

// ---------------------------------------------------------------------------------------------
// The Initial key schedule (RFC 9001 §5.1, §5.2; RFC 9369 §3.3) in 14 compressions
// ---------------------------------------------------------------------------------------------

/**
 * What one direction of one QUIC version's Initial schedule shares across connections: the
 * salt's HMAC states and the scheduled blocks HMAC hashes for each label. The labels are
 * constant, so their blocks' message schedules are made once and each expansion that uses them
 * costs the rounds alone.
 */
export interface InitialSchedule {
  /** HMAC states of the salt: inner [0, 8), outer [8, 16). */
  salt: Int32Array;
  /** K + W of the blocks "tls13 client in"/"server in" (32 bytes), key (16), iv (12), hp (16). */
  secretLabel: Int32Array;
  keyLabel: Int32Array;
  ivLabel: Int32Array;
  hpLabel: Int32Array;
}

function scheduledLabel(label: string, length: number): Int32Array {
  const info = labelInfo(label, length);
  const block = new Int32Array(16);
  messageBlock(info, 0, info.length, block);
  const kw = new Int32Array(64);
  schedule(block, 0, kw);
  return kw;
}

export function initialSchedule(salt: Uint8Array, secretLabel: string, keyLabel: string, ivLabel: string, hpLabel: string): InitialSchedule {
  const s = hmacKey(salt);
  const both = new Int32Array(16);
  both.set(s.inner, 0);
  both.set(s.outer, 8);
  return {
    salt: both,
    secretLabel: scheduledLabel(secretLabel, 32),
    keyLabel: scheduledLabel(keyLabel, 16),
    ivLabel: scheduledLabel(ivLabel, 12),
    hpLabel: scheduledLabel(hpLabel, 16),
  };
}

/**
 * Layout of a set of Initial packet keys in one Int32Array (KEY_WORDS long): the AES-128 round
 * keys of the payload key, those of the header protection key, then the 12-byte IV as three
 * words; the key itself is the first four round-key words (FIPS 197 §5.2).
 */
export const KEY_RK = 0;
export const HP_RK = 44;
export const IV_WORDS = 88;
export const KEY_WORDS = 91;

/** Scratch of the schedule: PRK, its HMAC states, the secret and its states, one HMAC result. */
const S = new Int32Array(8 + 16 + 8 + 16 + 8);
const PRK = 0;
const PRK_PADS = 8;
const SECRET = 24;
const SECRET_PADS = 32;
const RESULT = 48;

/**
 * The Initial keys for the connection ID buf[off, off + len) (len <= 55; QUIC allows 20) into
 * out[oo, oo + KEY_WORDS):
 *   initial_secret = HKDF-Extract(salt, cid)            2 compressions (the salt's pads are ready)
 *   secret = HKDF-Expand-Label(initial_secret, "client in", "", 32)   2 for PRK's pads, 2
 *   key, iv, hp = HKDF-Expand-Label(secret, label, "", 16 | 12 | 16)  2 for its pads, 2 each
 */
export function deriveInitialKeyWords(sch: InitialSchedule, buf: Uint8Array, off: number, len: number, out: Int32Array, oo: number): void {
  messageBlock(buf, off, len, MSG);
  compress(sch.salt, 0, MSG, 0, T, 0);
  outerHash(sch.salt, 8, T, 0, S, PRK);
  padKey32(S, PRK, S, PRK_PADS);
  rounds(S, PRK_PADS, sch.secretLabel, T, 0);
  outerHash(S, PRK_PADS + 8, T, 0, S, SECRET);
  padKey32(S, SECRET, S, SECRET_PADS);
  rounds(S, SECRET_PADS, sch.keyLabel, T, 0);
  outerHash(S, SECRET_PADS + 8, T, 0, S, RESULT);
  aes128ExpandKey(S, RESULT, out, oo + KEY_RK);
  rounds(S, SECRET_PADS, sch.hpLabel, T, 0);
  outerHash(S, SECRET_PADS + 8, T, 0, S, RESULT);
  aes128ExpandKey(S, RESULT, out, oo + HP_RK);
  rounds(S, SECRET_PADS, sch.ivLabel, T, 0);
  outerHash(S, SECRET_PADS + 8, T, 0, S, RESULT);
  out[oo + IV_WORDS] = S[RESULT]!;
  out[oo + IV_WORDS + 1] = S[RESULT + 1]!;
  out[oo + IV_WORDS + 2] = S[RESULT + 2]!;
}

/** Bytes of words[wo, ...) as a new Buffer of `length` bytes (big-endian words). */
export function keyBytes(words: Int32Array, wo: number, length: number): Buffer {
  return wordsToBuffer(words, wo, length);
}

// ---------------------------------------------------------------------------------------------
// AES-128 encryption (FIPS 197)
// ---------------------------------------------------------------------------------------------

const SBOX = new Uint8Array(256);
/**
 * T-tables: SubBytes, ShiftRows and MixColumns of one byte as a column word (FIPS 197 §5.1),
 * the four rotations one after the other in one array.
 */
const TT = new Int32Array(1024);

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
    TT[i] = t;
    TT[256 + i] = (t >>> 8) | (t << 24);
    TT[512 + i] = (t >>> 16) | (t << 16);
    TT[768 + i] = (t >>> 24) | (t << 8);
  }
})();

const RCON = new Int32Array([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36]);

/** FIPS 197 §5.2: the 44 round-key words of the key k[ko, ko + 4) into rk[ro, ro + 44), four at a time. */
export function aes128ExpandKey(k: Int32Array, ko: number, rk: Int32Array, ro: number): void {
  let w0 = k[ko]!;
  let w1 = k[ko + 1]!;
  let w2 = k[ko + 2]!;
  let w3 = k[ko + 3]!;
  rk[ro] = w0;
  rk[ro + 1] = w1;
  rk[ro + 2] = w2;
  rk[ro + 3] = w3;
  for (let r = 0; r < 10; r++) {
    // SubWord(RotWord(w3)) XOR Rcon
    w0 ^= ((SBOX[(w3 >>> 16) & 0xff]! << 24) | (SBOX[(w3 >>> 8) & 0xff]! << 16) | (SBOX[w3 & 0xff]! << 8) | SBOX[w3 >>> 24]!) ^ (RCON[r]! << 24);
    w1 ^= w0;
    w2 ^= w1;
    w3 ^= w2;
    const o = ro + 4 * r + 4;
    rk[o] = w0;
    rk[o + 1] = w1;
    rk[o + 2] = w2;
    rk[o + 3] = w3;
  }
}

/** The block AES-128 encrypts, and then its result, as four big-endian words. */
export const AES_IO = new Int32Array(4);

/** AES_IO = AES-128(rk[ro, ro + 44), AES_IO) (FIPS 197 §5.1). */
export function aes128EncryptWords(rk: Int32Array, ro: number): void {
  const T = TT;
  let s0 = AES_IO[0]! ^ rk[ro]!;
  let s1 = AES_IO[1]! ^ rk[ro + 1]!;
  let s2 = AES_IO[2]! ^ rk[ro + 2]!;
  let s3 = AES_IO[3]! ^ rk[ro + 3]!;
  let k = ro + 4;
  for (let r = 1; r < 10; r++, k += 4) {
    const t0 = T[s0 >>> 24]! ^ T[256 | ((s1 >>> 16) & 0xff)]! ^ T[512 | ((s2 >>> 8) & 0xff)]! ^ T[768 | (s3 & 0xff)]! ^ rk[k]!;
    const t1 = T[s1 >>> 24]! ^ T[256 | ((s2 >>> 16) & 0xff)]! ^ T[512 | ((s3 >>> 8) & 0xff)]! ^ T[768 | (s0 & 0xff)]! ^ rk[k + 1]!;
    const t2 = T[s2 >>> 24]! ^ T[256 | ((s3 >>> 16) & 0xff)]! ^ T[512 | ((s0 >>> 8) & 0xff)]! ^ T[768 | (s1 & 0xff)]! ^ rk[k + 2]!;
    const t3 = T[s3 >>> 24]! ^ T[256 | ((s0 >>> 16) & 0xff)]! ^ T[512 | ((s1 >>> 8) & 0xff)]! ^ T[768 | (s2 & 0xff)]! ^ rk[k + 3]!;
    s0 = t0;
    s1 = t1;
    s2 = t2;
    s3 = t3;
  }
  // Final round: SubBytes and ShiftRows, no MixColumns.
  const B = SBOX;
  AES_IO[0] = ((B[s0 >>> 24]! << 24) | (B[(s1 >>> 16) & 0xff]! << 16) | (B[(s2 >>> 8) & 0xff]! << 8) | B[s3 & 0xff]!) ^ rk[k]!;
  AES_IO[1] = ((B[s1 >>> 24]! << 24) | (B[(s2 >>> 16) & 0xff]! << 16) | (B[(s3 >>> 8) & 0xff]! << 8) | B[s0 & 0xff]!) ^ rk[k + 1]!;
  AES_IO[2] = ((B[s2 >>> 24]! << 24) | (B[(s3 >>> 16) & 0xff]! << 16) | (B[(s0 >>> 8) & 0xff]! << 8) | B[s1 & 0xff]!) ^ rk[k + 2]!;
  AES_IO[3] = ((B[s3 >>> 24]! << 24) | (B[(s0 >>> 16) & 0xff]! << 16) | (B[(s1 >>> 8) & 0xff]! << 8) | B[s2 & 0xff]!) ^ rk[k + 3]!;
}

/**
 * AES-128-CTR with a 32-bit counter (NIST SP 800-38D §6.5, GCTR): dst[d, d + n) = src[s, s + n)
 * XOR the keystream of the counter blocks n0 n1 n2 (counter), (counter + 1), ... The rounds are
 * those of aes128EncryptWords(), written out again here: kept in locals, about 15% faster.
 */
export function aes128Ctr(rk: Int32Array, ro: number, n0: number, n1: number, n2: number, counter: number, src: Uint8Array, s: number, dst: Uint8Array, d: number, n: number): void {
  const T = TT;
  const B = SBOX;
  for (let at = 0; at < n; at += 16) {
    let s0 = n0 ^ rk[ro]!;
    let s1 = n1 ^ rk[ro + 1]!;
    let s2 = n2 ^ rk[ro + 2]!;
    let s3 = counter ^ rk[ro + 3]!;
    counter = (counter + 1) | 0;
    let k = ro + 4;
    for (let r = 1; r < 10; r++, k += 4) {
      const t0 = T[s0 >>> 24]! ^ T[256 | ((s1 >>> 16) & 0xff)]! ^ T[512 | ((s2 >>> 8) & 0xff)]! ^ T[768 | (s3 & 0xff)]! ^ rk[k]!;
      const t1 = T[s1 >>> 24]! ^ T[256 | ((s2 >>> 16) & 0xff)]! ^ T[512 | ((s3 >>> 8) & 0xff)]! ^ T[768 | (s0 & 0xff)]! ^ rk[k + 1]!;
      const t2 = T[s2 >>> 24]! ^ T[256 | ((s3 >>> 16) & 0xff)]! ^ T[512 | ((s0 >>> 8) & 0xff)]! ^ T[768 | (s1 & 0xff)]! ^ rk[k + 2]!;
      const t3 = T[s3 >>> 24]! ^ T[256 | ((s0 >>> 16) & 0xff)]! ^ T[512 | ((s1 >>> 8) & 0xff)]! ^ T[768 | (s2 & 0xff)]! ^ rk[k + 3]!;
      s0 = t0;
      s1 = t1;
      s2 = t2;
      s3 = t3;
    }
    const x0 = ((B[s0 >>> 24]! << 24) | (B[(s1 >>> 16) & 0xff]! << 16) | (B[(s2 >>> 8) & 0xff]! << 8) | B[s3 & 0xff]!) ^ rk[k]!;
    const x1 = ((B[s1 >>> 24]! << 24) | (B[(s2 >>> 16) & 0xff]! << 16) | (B[(s3 >>> 8) & 0xff]! << 8) | B[s0 & 0xff]!) ^ rk[k + 1]!;
    const x2 = ((B[s2 >>> 24]! << 24) | (B[(s3 >>> 16) & 0xff]! << 16) | (B[(s0 >>> 8) & 0xff]! << 8) | B[s1 & 0xff]!) ^ rk[k + 2]!;
    const x3 = ((B[s3 >>> 24]! << 24) | (B[(s0 >>> 16) & 0xff]! << 16) | (B[(s1 >>> 8) & 0xff]! << 8) | B[s2 & 0xff]!) ^ rk[k + 3]!;
    const a = s + at;
    const b = d + at;
    if (n - at >= 16) {
      dst[b] = src[a]! ^ (x0 >>> 24);
      dst[b + 1] = src[a + 1]! ^ (x0 >>> 16);
      dst[b + 2] = src[a + 2]! ^ (x0 >>> 8);
      dst[b + 3] = src[a + 3]! ^ x0;
      dst[b + 4] = src[a + 4]! ^ (x1 >>> 24);
      dst[b + 5] = src[a + 5]! ^ (x1 >>> 16);
      dst[b + 6] = src[a + 6]! ^ (x1 >>> 8);
      dst[b + 7] = src[a + 7]! ^ x1;
      dst[b + 8] = src[a + 8]! ^ (x2 >>> 24);
      dst[b + 9] = src[a + 9]! ^ (x2 >>> 16);
      dst[b + 10] = src[a + 10]! ^ (x2 >>> 8);
      dst[b + 11] = src[a + 11]! ^ x2;
      dst[b + 12] = src[a + 12]! ^ (x3 >>> 24);
      dst[b + 13] = src[a + 13]! ^ (x3 >>> 16);
      dst[b + 14] = src[a + 14]! ^ (x3 >>> 8);
      dst[b + 15] = src[a + 15]! ^ x3;
    } else {
      for (let i = 0; i < n - at; i++) {
        const x = i < 4 ? x0 : i < 8 ? x1 : i < 12 ? x2 : x3;
        dst[b + i] = src[a + i]! ^ (x >>> (24 - 8 * (i & 3)));
      }
    }
  }
}

/** AES-128(key, block) for one 16-byte block: the header protection mask of RFC 9001 §5.4.3. */
export function aes128EncryptBlock(key: Buffer, block: Buffer): Buffer {
  if (key.length !== 16 || block.length < 16) throw new RangeError('aes128EncryptBlock: a 16-byte key and a 16-byte block');
  const k = new Int32Array(4);
  for (let i = 0; i < 4; i++) k[i] = key.readInt32BE(i * 4);
  const rk = new Int32Array(44);
  aes128ExpandKey(k, 0, rk, 0);
  for (let i = 0; i < 4; i++) AES_IO[i] = block.readInt32BE(i * 4);
  aes128EncryptWords(rk, 0);
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 4; i++) out.writeInt32BE(AES_IO[i]!, i * 4);
  return out;
}
