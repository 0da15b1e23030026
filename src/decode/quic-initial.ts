/**
 * Client Initial packets of QUIC v1 (RFC 9000 §17.2.2) and v2 (RFC 9369), opened with the keys
 * anyone can derive from the client's Destination Connection ID (RFC 9001 §5.2; §7: Initial
 * packets have no confidentiality against an observer). The steps: header protection off
 * (RFC 9001 §5.4), the payload decrypted (§5.3), frames walked for CRYPTO data (RFC 9000 §19.6).
 *
 * The payload is decrypted with the AES-CTR keystream of AEAD_AES_128_GCM (NIST SP 800-38D §7.2:
 * GCTR from inc32(J0), J0 = nonce || 0x00000001) and the tag is not checked. Authentication buys
 * an observer nothing here: the keys come from the packet itself, so anyone who can forge a
 * datagram can forge a valid tag. What the tag did catch (other keys, bytes that are not QUIC)
 * the reader catches by structure: the frames must be ones an Initial may carry, their lengths
 * must fit, and a ClientHello taken before the end of the packet must parse whole. A bit flipped
 * in transit inside the ClientHello is taken as it is, as for TLS over TCP, whose checksums the
 * decoder does not check either.
 *
 * Decryption is lazy: the reader makes keystream for the bytes the frame walk reaches, and the
 * inspector stops at the end of a whole ClientHello, so the PADDING that fills most of a first
 * Initial is never decrypted. Short stretches are decrypted here in TypeScript; a long rest goes
 * to node:crypto in one call, whose fixed cost is then worth paying. Only the first datagrams of
 * new UDP flows whose first byte and version say "Initial" get here; nothing throws.
 */
import { createDecipheriv } from 'node:crypto';
import { u32 } from './bytes';
import {
  aes128Ctr,
  aes128EncryptBlock,
  aes128EncryptWords,
  aes128ExpandKey,
  AES_IO,
  deriveInitialKeyWords,
  HP_RK,
  hkdfExpandLabel,
  hkdfExtractKey,
  hmacKey,
  initialSchedule,
  IV_WORDS,
  KEY_RK,
  KEY_WORDS,
  keyBytes,
  type InitialSchedule,
} from './quic-keys';

export const QUIC_V1 = 0x00000001;
/** RFC 9369 §3.1. */
export const QUIC_V2 = 0x6b3343cf;

/** Long-header packet types, numbered as in QUIC v1 (RFC 9000 §17.2, Table 5). */
export const enum LongPacketType {
  Initial = 0,
  ZeroRtt = 1,
  Handshake = 2,
  Retry = 3,
}

interface VersionParams {
  salt: Buffer;
  keyLabel: string;
  ivLabel: string;
  hpLabel: string;
  /** Wire value of the type bits for each LongPacketType (index). */
  typeOnWire: readonly number[];
  /** The per-version parts of the key schedule, prepared on first use. */
  client?: InitialSchedule;
  server?: InitialSchedule;
}

const V1: VersionParams = {
  // RFC 9001 §5.2: initial_salt for QUIC version 1
  salt: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'),
  // RFC 9001 §5.1
  keyLabel: 'quic key',
  ivLabel: 'quic iv',
  hpLabel: 'quic hp',
  typeOnWire: [0, 1, 2, 3],
};

const V2: VersionParams = {
  // RFC 9369 §3.3.1: initial_salt for QUIC version 2
  salt: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'),
  // RFC 9369 §3.3.2: HKDF labels
  keyLabel: 'quicv2 key',
  ivLabel: 'quicv2 iv',
  hpLabel: 'quicv2 hp',
  // RFC 9369 §3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00
  typeOnWire: [1, 2, 3, 0],
};

function paramsOf(version: number): VersionParams | null {
  return version === QUIC_V1 ? V1 : version === QUIC_V2 ? V2 : null;
}

/** RFC 9000 §17.2: "In QUIC version 1, this value MUST NOT exceed 20 bytes" (v2 keeps it). */
const MAX_CID = 20;
/** AEAD_AES_128_GCM tag (RFC 5116 §5.1) and the header protection sample (RFC 9001 §5.4.2). */
const TAG_LEN = 16;
const SAMPLE_LEN = 16;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

function scheduleOf(p: VersionParams, sender: 'client' | 'server'): InitialSchedule {
  if (sender === 'client') return (p.client ??= initialSchedule(p.salt, 'client in', p.keyLabel, p.ivLabel, p.hpLabel));
  return (p.server ??= initialSchedule(p.salt, 'server in', p.keyLabel, p.ivLabel, p.hpLabel));
}

/**
 * The client's Initial keys for the connection ID buf[off, off + len) into out[oo, oo + KEY_WORDS)
 * (layout: quic-keys.ts). false: not QUIC v1 or v2, or a connection ID longer than QUIC allows.
 * Allocates nothing.
 */
export function deriveClientKeyWords(version: number, buf: Uint8Array, off: number, len: number, out: Int32Array, oo = 0): boolean {
  const p = paramsOf(version);
  if (!p || len > MAX_CID) return false;
  deriveInitialKeyWords(scheduleOf(p, 'client'), buf, off, len, out, oo);
  return true;
}

/** Initial packet protection keys as bytes (RFC 9001 §5.1, §5.2; RFC 9369 §3.3). */
export interface InitialKeys {
  version: number;
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** The client's (or server's) Initial secret, RFC 9001 §5.2 (tests; the reader never needs it). */
export function initialSecret(version: number, dcid: Buffer, sender: 'client' | 'server'): Buffer | null {
  const p = paramsOf(version);
  if (!p || dcid.length > MAX_CID) return null;
  return hkdfExpandLabel(hkdfExtractKey(hmacKey(p.salt), dcid), sender === 'client' ? 'client in' : 'server in', 32);
}

/** Packet protection keys for Initial packets as bytes (RFC 9001 §5.1, §5.2; RFC 9369 §3.3). */
export function deriveInitialKeys(version: number, dcid: Buffer, sender: 'client' | 'server' = 'client'): InitialKeys | null {
  const p = paramsOf(version);
  if (!p || dcid.length > MAX_CID) return null;
  const w = new Int32Array(KEY_WORDS);
  deriveInitialKeyWords(scheduleOf(p, sender), dcid, 0, dcid.length, w, 0);
  return { version, key: keyBytes(w, KEY_RK, 16), iv: keyBytes(w, IV_WORDS, 12), hp: keyBytes(w, HP_RK, 16) };
}

/** The same keys in the reader's form (round keys and IV words). */
export function keyWordsOf(keys: InitialKeys): Int32Array {
  const w = new Int32Array(KEY_WORDS);
  const k = new Int32Array(4);
  for (let i = 0; i < 4; i++) k[i] = keys.key.readInt32BE(4 * i);
  aes128ExpandKey(k, 0, w, KEY_RK);
  for (let i = 0; i < 4; i++) k[i] = keys.hp.readInt32BE(4 * i);
  aes128ExpandKey(k, 0, w, HP_RK);
  for (let i = 0; i < 3; i++) w[IV_WORDS + i] = keys.iv.readInt32BE(4 * i);
  return w;
}

/** AES-ECB of one block with the header protection key: the mask of RFC 9001 §5.4.3. */
export function headerProtectionMask(hp: Buffer, sample: Buffer): Buffer {
  return aes128EncryptBlock(hp, sample);
}

/** RFC 9001 §5.3: the packet number, left-padded to the IV length, XORed with the IV. */
export function packetNonce(iv: Buffer, packetNumber: number): Buffer {
  const nonce = Buffer.from(iv);
  let pn = packetNumber;
  for (let i = nonce.length - 1; i >= nonce.length - 6 && pn > 0; i--) {
    nonce[i] ^= pn % 256;
    pn = Math.floor(pn / 256);
  }
  return nonce;
}

// ---------------------------------------------------------------------------------------------
// Long header
// ---------------------------------------------------------------------------------------------

/** Bytes a variable-length integer takes, from its first byte (RFC 9000 §16). */
export function varintLength(first: number): number {
  return 1 << (first >> 6);
}

/**
 * The variable-length integer at buf[p] (RFC 9000 §16), whose length the caller has checked.
 * Values beyond 2^53 come back as Infinity: no length or offset in a datagram is that large.
 */
export function varintAt(buf: Buffer, p: number): number {
  const n = varintLength(buf[p]!);
  let v = buf[p]! & 0x3f;
  for (let i = 1; i < n; i++) v = v * 256 + buf[p + i]!;
  return v > Number.MAX_SAFE_INTEGER ? Infinity : v;
}

export interface LongHeader {
  version: number;
  type: LongPacketType;
  /** Where the packet starts and ends in the buffer (coalesced packets follow at `end`). */
  start: number;
  end: number;
  dcidOffset: number;
  dcidLength: number;
  scidOffset: number;
  scidLength: number;
  /** Initial only: the token's place (RFC 9000 §17.2.2); 0-length otherwise. */
  tokenOffset: number;
  tokenLength: number;
  /** Start of the (protected) packet number. */
  pnOffset: number;
}

/**
 * The long header of a QUIC v1/v2 packet at buf[off] whose Length field (RFC 9000 §17.2) places it
 * within buf[off, end). null: not a long-header packet of those versions (a short header, padding
 * after the last coalesced packet, Version Negotiation, another version, Retry, which has no
 * Length). 'truncated': the lengths run past `end`.
 */
export function parseLongHeader(buf: Buffer, off: number, end: number): LongHeader | 'truncated' | null {
  if (end - off < 7) return null;
  const b0 = buf[off]!;
  if ((b0 & 0x80) === 0) return null;
  const version = u32(buf, off + 1);
  const params = paramsOf(version);
  if (!params) return null;
  const type = params.typeOnWire.indexOf((b0 >> 4) & 0x03) as LongPacketType;
  if (type === LongPacketType.Retry) return null;
  let p = off + 5;
  const dcidLength = buf[p++]!;
  if (dcidLength > MAX_CID) return null;
  const dcidOffset = p;
  p += dcidLength;
  if (p >= end) return 'truncated';
  const scidLength = buf[p++]!;
  if (scidLength > MAX_CID) return null;
  const scidOffset = p;
  p += scidLength;
  let tokenOffset = p;
  let tokenLength = 0;
  if (type === LongPacketType.Initial) {
    if (p >= end || p + varintLength(buf[p]!) > end) return 'truncated';
    tokenLength = varintAt(buf, p);
    p += varintLength(buf[p]!);
    tokenOffset = p;
    p += tokenLength;
  }
  if (p >= end || p + varintLength(buf[p]!) > end) return 'truncated';
  const length = varintAt(buf, p);
  p += varintLength(buf[p]!);
  if (p + length > end) return 'truncated';
  return { version, type, start: off, end: p + length, dcidOffset, dcidLength, scidOffset, scidLength, tokenOffset, tokenLength, pnOffset: p };
}

// ---------------------------------------------------------------------------------------------
// Reading a protected Initial
// ---------------------------------------------------------------------------------------------

/** Frame types allowed in Initial packets (RFC 9000 §12.4, Table 3). */
const FRAME_PADDING = 0x00;
const FRAME_PING = 0x01;
const FRAME_ACK = 0x02;
const FRAME_ACK_ECN = 0x03;
const FRAME_CRYPTO = 0x06;
const FRAME_CONNECTION_CLOSE = 0x1c;

/** TLS extensions the ClientHello parser reads: server_name (RFC 6066 §3), ALPN (RFC 7301 §3.1). */
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** What InitialReader.next() found. */
export const enum FrameWalk {
  /**
   * A CRYPTO frame: cryptoOffset, cryptoStart, cryptoLength. Its data is not decrypted yet:
   * reveal() all of it, or revealClientHello() the parts a ClientHello parser reads.
   */
  Crypto = 1,
  /** The end of the payload; every frame was well formed. */
  End = 0,
  /** A frame an Initial may not carry, or a length past the payload: other keys, or not QUIC. */
  Malformed = -1,
}

/**
 * Where the keystream is made. In TypeScript a 16-byte block costs about 0.12 us; node:crypto
 * decrypts the rest of a payload in one call for about 3.5 us, whatever its length (Node 20,
 * the reference machine). So TypeScript makes the first block (the first frame's header), the
 * blocks revealClientHello() picks (up to JS_SPARSE_BLOCKS of them) and short tails; a frame
 * walk that goes past the first block is reading the whole packet, and gets node:crypto.
 */
const JS_SPARSE_BLOCKS = 24;
const JS_TAIL = 64;

/**
 * One protected Initial packet at a time: header protection off (RFC 9001 §5.4), then the
 * payload decrypted as far as the frame walk reaches. `plain[0, decrypted)` is plaintext, and
 * so are the blocks revealClientHello() decrypted past it; the rest is scratch left by earlier
 * packets.
 */
export class InitialReader {
  plain: Buffer = Buffer.allocUnsafeSlow(2048);
  /** Payload bytes, the tag excluded. */
  length = 0;
  decrypted = 0;
  packetNumber = 0;
  /** After next() === FrameWalk.Crypto: the stream offset and the data's place in `plain`. */
  cryptoOffset = 0;
  cryptoStart = 0;
  cryptoLength = 0;
  private pos = 0;
  private src: Buffer = this.plain;
  private srcOff = 0;
  private keys: Int32Array = new Int32Array(KEY_WORDS);
  private ko = 0;
  private n0 = 0;
  private n1 = 0;
  private n2 = 0;
  /** The key and first counter block for node:crypto. */
  private readonly keyBuf = Buffer.alloc(16);
  private readonly ivBuf = Buffer.alloc(16);
  /** Blocks decrypted out of order: blockGen[i] === gen for block i of this packet. */
  private blockGen = new Int32Array(128);
  private gen = 0;
  /** Blocks revealRange() decrypted in this packet. */
  private sparseBlocks = 0;
  /** The value of the varint varint() just read. */
  private v = 0;

  /**
   * Removes header protection from the packet `h` in `buf` (which is not modified) with the keys
   * keys[ko, ko + KEY_WORDS), and gets ready to decrypt. false: too short for the sample
   * (RFC 9001 §5.4.2) or for a tag.
   */
  begin(buf: Buffer, h: LongHeader, keys: Int32Array, ko: number): boolean {
    // The sample starts 4 bytes after the start of the packet number, as if it were 4 bytes long.
    const sample = h.pnOffset + 4;
    if (sample + SAMPLE_LEN > h.end) return false;
    AES_IO[0] = u32(buf, sample) | 0;
    AES_IO[1] = u32(buf, sample + 4) | 0;
    AES_IO[2] = u32(buf, sample + 8) | 0;
    AES_IO[3] = u32(buf, sample + 12) | 0;
    aes128EncryptWords(keys, ko + HP_RK);
    const mask = AES_IO[0]!;
    const m1 = AES_IO[1]!;
    // Long header: the low 4 bits of the first byte are protected (reserved bits, pn length).
    const b0 = buf[h.start]! ^ ((mask >>> 24) & 0x0f);
    const pnLength = (b0 & 0x03) + 1;
    const payload = h.pnOffset + pnLength;
    if (payload + TAG_LEN > h.end) return false;
    // The mask bytes after the first: mask[1..4] unmask the packet number.
    let pn = 0;
    for (let i = 0; i < pnLength; i++) {
      const m = i < 3 ? (mask >>> (16 - 8 * i)) & 0xff : m1 >>> 24;
      pn = pn * 256 + (buf[h.pnOffset + i]! ^ m);
    }
    // RFC 9000 §17.1 / Appendix A.3 with no packet received yet in this space: the expected
    // packet number is 0, so the truncated value is the packet number (client Initials count
    // from 0). RFC 9001 §5.3: nonce = iv XOR the packet number (at most 32 bits here).
    this.packetNumber = pn;
    this.n0 = keys[ko + IV_WORDS]!;
    this.n1 = keys[ko + IV_WORDS + 1]!;
    this.n2 = keys[ko + IV_WORDS + 2]! ^ pn;
    this.keys = keys;
    this.ko = ko;
    this.src = buf;
    this.srcOff = payload;
    this.length = h.end - TAG_LEN - payload;
    this.decrypted = 0;
    this.pos = 0;
    this.sparseBlocks = 0;
    this.gen = (this.gen + 1) | 0;
    if (this.gen === 0) {
      // 2^32 packets later: marks that old must not pass for this packet's.
      this.blockGen.fill(0);
      this.gen = 1;
    }
    if (this.plain.length < this.length) {
      this.plain = Buffer.allocUnsafeSlow(Math.max(this.length, 2 * this.plain.length));
      this.blockGen = new Int32Array((this.plain.length >> 4) + 1);
    }
    return true;
  }

  /** Makes plain[0, min(n, length)) plaintext. */
  reveal(n: number): void {
    const from = this.decrypted;
    const to = Math.min(this.length, n);
    if (to <= from) return;
    // GCTR counters: inc32(J0) = 2 for the first block (NIST SP 800-38D §7.2).
    const counter = 2 + (from >> 4);
    if (to <= 16 || this.length - from <= JS_TAIL) {
      const end = Math.min(this.length, (to + 15) & ~15);
      aes128Ctr(this.keys, this.ko + KEY_RK, this.n0, this.n1, this.n2, counter, this.src, this.srcOff + from, this.plain, from, end - from);
      this.decrypted = end;
      return;
    }
    // The rest of the payload in one call. OpenSSL's CTR counts in all 128 bits, GCM's in the
    // low 32: the same here, where a payload has far fewer than 2^32 blocks.
    const kb = this.keyBuf;
    for (let i = 0; i < 4; i++) kb.writeInt32BE(this.keys[this.ko + KEY_RK + i]!, 4 * i);
    const iv = this.ivBuf;
    iv.writeInt32BE(this.n0, 0);
    iv.writeInt32BE(this.n1, 4);
    iv.writeInt32BE(this.n2, 8);
    iv.writeInt32BE(counter | 0, 12);
    const out = createDecipheriv('aes-128-ctr', kb, iv).update(this.src.subarray(this.srcOff + from, this.srcOff + this.length));
    out.copy(this.plain, from);
    this.decrypted = this.length;
  }

  /**
   * Makes plain[a, b) plaintext, one block at a time, leaving the blocks around it as they are;
   * past JS_SPARSE_BLOCKS blocks, all of plain[0, b) in one go.
   */
  private revealRange(a: number, b: number): void {
    const last = (Math.min(b, this.length) - 1) >> 4;
    for (let i = Math.max(a, this.decrypted) >> 4; i <= last; i++) {
      if (this.blockGen[i] === this.gen) continue;
      if (++this.sparseBlocks > JS_SPARSE_BLOCKS) return this.reveal(b);
      this.blockGen[i] = this.gen;
      const at = i << 4;
      aes128Ctr(this.keys, this.ko + KEY_RK, this.n0, this.n1, this.n2, 2 + i, this.src, this.srcOff + at, this.plain, at, Math.min(16, this.length - at));
    }
  }

  /**
   * Decrypts, of the ClientHello message in plain[start, start + len) (RFC 8446 §4.1.2), what a
   * parser of its server name and ALPN reads (parseClientHelloMessage in tls-client-hello.ts):
   * the lengths that lead to the extensions, each extension's type and length, and the bodies of
   * server_name (RFC 6066 §3) and ALPN (RFC 7301 §3.1). The random, the session ID, the cipher
   * suites and other extensions' bodies (key shares: 1.2 KB with ML-KEM) stay encrypted. When a
   * length does not fit, all of it is decrypted, for the parser to judge.
   */
  revealClientHello(start: number, len: number): void {
    const b = this.plain;
    const end = start + len;
    let p = start;
    this.revealRange(p, p + 4); // msg_type, length
    const bodyEnd = p + 4 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
    if (bodyEnd > end) return this.reveal(end);
    p += 4 + 34; // legacy_version, random
    if (p + 1 > bodyEnd) return this.reveal(end);
    this.revealRange(p, p + 1);
    p += 1 + b[p]!; // legacy_session_id
    if (p + 2 > bodyEnd) return this.reveal(end);
    this.revealRange(p, p + 2);
    p += 2 + ((b[p]! << 8) | b[p + 1]!); // cipher_suites
    if (p + 1 > bodyEnd) return this.reveal(end);
    this.revealRange(p, p + 1);
    p += 1 + b[p]!; // legacy_compression_methods
    if (p + 2 > bodyEnd) return this.reveal(end);
    this.revealRange(p, p + 2);
    p += 2; // extensions length, then the extensions
    while (p < bodyEnd) {
      if (p + 4 > bodyEnd) return this.reveal(end);
      this.revealRange(p, p + 4);
      const type = (b[p]! << 8) | b[p + 1]!;
      const extLen = (b[p + 2]! << 8) | b[p + 3]!;
      p += 4;
      if (p + extLen > bodyEnd) return this.reveal(end);
      if (type === EXT_SERVER_NAME || type === EXT_ALPN) this.revealRange(p, p + extLen);
      p += extLen;
    }
  }

  /**
   * The next CRYPTO frame, past the PADDING, PING, ACK and CONNECTION_CLOSE frames before it
   * (RFC 9000 §12.4), or the end of the payload, or Malformed.
   */
  next(): FrameWalk {
    const end = this.length;
    const b = this.plain;
    let p = this.pos;
    while (p < end) {
      if (p >= this.decrypted) this.reveal(p + 1);
      const type = b[p]!;
      p++;
      if (type === FRAME_PADDING) {
        // A run of zeros: scan what is decrypted, then decrypt on.
        for (;;) {
          const stop = this.decrypted;
          while (p < stop && b[p] === 0) p++;
          if (p < stop || p >= end) break;
          this.reveal(p + 1);
        }
        continue;
      }
      switch (type) {
        case FRAME_PING:
          break;
        case FRAME_ACK:
        case FRAME_ACK_ECN: {
          // RFC 9000 §19.3: largest acknowledged, ACK delay, range count, first range, ranges, [ECN counts]
          if ((p = this.varint(p)) < 0 || (p = this.varint(p)) < 0 || (p = this.varint(p)) < 0) return this.fail();
          const ranges = this.v;
          if ((p = this.varint(p)) < 0) return this.fail();
          if (ranges > (end - p) / 2) return this.fail(); // each range takes at least two bytes
          for (let i = 0; i < ranges; i++) if ((p = this.varint(p)) < 0 || (p = this.varint(p)) < 0) return this.fail();
          if (type === FRAME_ACK_ECN && ((p = this.varint(p)) < 0 || (p = this.varint(p)) < 0 || (p = this.varint(p)) < 0)) return this.fail();
          break;
        }
        case FRAME_CRYPTO: {
          // RFC 9000 §19.6: offset, length, data
          if ((p = this.varint(p)) < 0) return this.fail();
          const offset = this.v;
          if ((p = this.varint(p)) < 0) return this.fail();
          const length = this.v;
          if (length > end - p) return this.fail();
          this.cryptoOffset = offset;
          this.cryptoStart = p;
          this.cryptoLength = length;
          this.pos = p + length;
          return FrameWalk.Crypto;
        }
        case FRAME_CONNECTION_CLOSE: {
          // RFC 9000 §19.19: error code, frame type, reason phrase length, reason phrase
          if ((p = this.varint(p)) < 0 || (p = this.varint(p)) < 0 || (p = this.varint(p)) < 0) return this.fail();
          if (this.v > end - p) return this.fail();
          p += this.v;
          break;
        }
        default:
          // Any other type, or a type written in more than one byte (RFC 9000 §12.4 forbids both).
          return this.fail();
      }
    }
    this.pos = end;
    return FrameWalk.End;
  }

  private fail(): FrameWalk {
    this.pos = this.length;
    return FrameWalk.Malformed;
  }

  /** The varint at p into this.v (RFC 9000 §16); the position after it, or -1 past the payload. */
  private varint(p: number): number {
    if (p >= this.length) return -1;
    if (p >= this.decrypted) this.reveal(p + 1);
    const b = this.plain;
    const n = 1 << (b[p]! >> 6);
    if (p + n > this.length) return -1;
    if (p + n > this.decrypted) this.reveal(p + n);
    let v = b[p]! & 0x3f;
    for (let i = 1; i < n; i++) v = v * 256 + b[p + i]!;
    this.v = v;
    return p + n;
  }
}

export interface OpenedPacket {
  packetNumber: number;
  /** The decrypted frames (a fresh buffer). */
  payload: Buffer;
}

const openReader = new InitialReader();

/**
 * Removes header protection and decrypts the whole payload of the packet `h` in `buf`, which is
 * not modified. null: the packet is too short for a sample (RFC 9001 §5.4.2), or its plaintext
 * is not a sequence of frames an Initial may carry (RFC 9000 §12.4): these are not the keys, or
 * the bytes are not QUIC. There is no tag check (see the top of this file).
 */
export function openPacket(buf: Buffer, h: LongHeader, keys: InitialKeys): OpenedPacket | null {
  const r = openReader;
  if (!r.begin(buf, h, keyWordsOf(keys), 0)) return null;
  r.reveal(r.length);
  const payload = Buffer.from(r.plain.subarray(0, r.length));
  return collectCryptoFrames(payload, []) ? { packetNumber: r.packetNumber, payload } : null;
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/**
 * Walks the frames of a decrypted Initial payload and pushes each CRYPTO frame as three numbers
 * onto `crypto`: stream offset, start of its data in `payload`, data length. Returns false when
 * a frame is malformed or not allowed in an Initial packet (RFC 9000 §12.4).
 */
export function collectCryptoFrames(payload: Buffer, crypto: number[]): boolean {
  const end = payload.length;
  let p = 0;
  // Reads the varint at p into `v` and advances p; false when it runs past the payload.
  let v = 0;
  const next = (): boolean => {
    if (p >= end) return false;
    const n = 1 << (payload[p]! >> 6);
    if (p + n > end) return false;
    v = payload[p]! & 0x3f;
    for (let i = 1; i < n; i++) v = v * 256 + payload[p + i]!;
    p += n;
    return true;
  };
  while (p < end) {
    const type = payload[p]!;
    // Frame types in an Initial all fit one byte; PADDING (a run of zeros) fills most of it.
    if (type === FRAME_PADDING) {
      p++;
      while (p < end && payload[p] === 0) p++;
      continue;
    }
    p++;
    switch (type) {
      case FRAME_PING:
        break;
      case FRAME_ACK:
      case FRAME_ACK_ECN: {
        // RFC 9000 §19.3: largest acknowledged, ACK delay, range count, first range, ranges, [ECN counts]
        if (!next() || !next() || !next()) return false;
        const ranges = v;
        if (!next()) return false;
        if (ranges > (end - p) / 2) return false; // each range takes at least two bytes
        for (let i = 0; i < ranges; i++) if (!next() || !next()) return false;
        if (type === FRAME_ACK_ECN && (!next() || !next() || !next())) return false;
        break;
      }
      case FRAME_CRYPTO: {
        // RFC 9000 §19.6: offset, length, data
        if (!next()) return false;
        const offset = v;
        if (!next()) return false;
        const length = v;
        if (length > end - p) return false;
        crypto.push(offset, p, length);
        p += length;
        break;
      }
      case FRAME_CONNECTION_CLOSE: {
        // RFC 9000 §19.19: error code, frame type, reason phrase length, reason phrase
        if (!next() || !next() || !next()) return false;
        if (v > end - p) return false;
        p += v;
        break;
      }
      default:
        // Any other type, or a type written in more than one byte (RFC 9000 §12.4 forbids both).
        return false;
    }
  }
  return true;
}

/** Cheap test on a UDP payload: could it start with a client Initial of QUIC v1 or v2? */
export function looksLikeInitial(buf: Buffer, off: number, len: number): boolean {
  if (len < 7) return false;
  const b0 = buf[off]!;
  if ((b0 & 0x80) === 0) return false;
  const version = u32(buf, off + 1);
  if (version === QUIC_V1) return (b0 & 0x30) === 0x00;
  if (version === QUIC_V2) return (b0 & 0x30) === 0x10;
  return false;
}
