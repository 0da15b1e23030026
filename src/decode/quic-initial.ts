/**
 * Client Initial packets of QUIC v1 (RFC 9000 §17.2.2) and v2 (RFC 9369), opened with the keys
 * anyone can derive from the client's Destination Connection ID (RFC 9001 §5.2; §7: Initial
 * packets have no confidentiality against an observer). The steps: header protection off
 * (RFC 9001 §5.4), AEAD_AES_128_GCM open (§5.3), frames walked for CRYPTO data (RFC 9000 §19.6).
 * Only the first datagrams of new UDP flows whose first byte and version say "Initial" get here,
 * so this may allocate; it never throws.
 */
import { createDecipheriv } from 'node:crypto';
import { u32 } from './bytes';
import { aes128EncryptBlock, hkdfExpandLabel, hkdfExpandLabelKey, hkdfExtractKey, hmacKey, type HmacKey } from './quic-keys';

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
  /** The salt as an HMAC key, prepared on first use. */
  saltKey?: HmacKey;
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

export interface InitialKeys {
  version: number;
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** HKDF-Extract (RFC 5869 §2.2): PRK = HMAC-SHA-256(salt, IKM), with the salt's pads hashed once. */
function hkdfExtract(p: VersionParams, ikm: Buffer): HmacKey {
  p.saltKey ??= hmacKey(p.salt);
  return hkdfExtractKey(p.saltKey, ikm);
}

/** The client's (or server's) Initial secret, RFC 9001 §5.2. */
export function initialSecret(version: number, dcid: Buffer, sender: 'client' | 'server'): Buffer | null {
  const p = paramsOf(version);
  if (!p || dcid.length > MAX_CID) return null;
  return hkdfExpandLabel(hkdfExtract(p, dcid), sender === 'client' ? 'client in' : 'server in', 32);
}

/** Packet protection keys for Initial packets (RFC 9001 §5.1, §5.2; RFC 9369 §3.3). */
export function deriveInitialKeys(version: number, dcid: Buffer, sender: 'client' | 'server' = 'client'): InitialKeys | null {
  const p = paramsOf(version);
  if (!p || dcid.length > MAX_CID) return null;
  const secret = hkdfExpandLabelKey(hkdfExtract(p, dcid), sender === 'client' ? 'client in' : 'server in');
  return {
    version,
    key: hkdfExpandLabel(secret, p.keyLabel, 16),
    iv: hkdfExpandLabel(secret, p.ivLabel, 12),
    hp: hkdfExpandLabel(secret, p.hpLabel, 16),
  };
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

export interface OpenedPacket {
  packetNumber: number;
  /** The decrypted frames (a fresh buffer). */
  payload: Buffer;
}

/**
 * Removes header protection (RFC 9001 §5.4.1, AES-based §5.4.3) and opens the payload (§5.3)
 * of the packet `h` in `buf`, which is not modified. null: the packet is too short for a sample
 * (§5.4.2), or authentication fails: these are not the keys, or the bytes are not QUIC.
 */
export function openPacket(buf: Buffer, h: LongHeader, keys: InitialKeys): OpenedPacket | null {
  // The sample starts 4 bytes after the start of the packet number, as if it were 4 bytes long.
  const sampleOffset = h.pnOffset + 4;
  if (sampleOffset + SAMPLE_LEN > h.end) return null;
  const mask = headerProtectionMask(keys.hp, buf.subarray(sampleOffset, sampleOffset + SAMPLE_LEN));
  // Long header: the low 4 bits of the first byte are protected (reserved bits, pn length).
  const b0 = buf[h.start]! ^ (mask[0]! & 0x0f);
  const pnLength = (b0 & 0x03) + 1;
  const payloadOffset = h.pnOffset + pnLength;
  if (payloadOffset + TAG_LEN > h.end) return null;
  const header = Buffer.from(buf.subarray(h.start, payloadOffset));
  header[0] = b0;
  let truncatedPn = 0;
  for (let i = 0; i < pnLength; i++) {
    const v = buf[h.pnOffset + i]! ^ mask[1 + i]!;
    header[h.pnOffset - h.start + i] = v;
    truncatedPn = truncatedPn * 256 + v;
  }
  // RFC 9000 §17.1 / Appendix A.3 with no packet received yet in this space: the expected
  // packet number is 0, so the truncated value is the packet number (client Initials count from 0).
  const packetNumber = truncatedPn;
  const decipher = createDecipheriv('aes-128-gcm', keys.key, packetNonce(keys.iv, packetNumber), { authTagLength: TAG_LEN });
  // RFC 9001 §5.3: the associated data is the header, from the first byte to the packet number.
  decipher.setAAD(header);
  decipher.setAuthTag(buf.subarray(h.end - TAG_LEN, h.end));
  try {
    const first = decipher.update(buf.subarray(payloadOffset, h.end - TAG_LEN));
    const last = decipher.final();
    return { packetNumber, payload: last.length ? Buffer.concat([first, last]) : first };
  } catch {
    // node:crypto reports a failed tag check by throwing: the one exception in this decoder.
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

/** Frame types allowed in Initial packets (RFC 9000 §12.4, Table 3). */
const FRAME_PADDING = 0x00;
const FRAME_PING = 0x01;
const FRAME_ACK = 0x02;
const FRAME_ACK_ECN = 0x03;
const FRAME_CRYPTO = 0x06;
const FRAME_CONNECTION_CLOSE = 0x1c;

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
