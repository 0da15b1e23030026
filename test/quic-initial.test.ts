/**
 * QUIC Initial decryption: RFC 9001 Appendix A and RFC 9369 Appendix A vectors (keys, header
 * protection, the protected client Initial), the test encoder sealing those same packets byte for
 * byte, the frames an Initial may carry, the bare-ClientHello entry point of the TLS parser, and
 * the per-flow inspector (coalesced packets, a ClientHello over two datagrams, Retry, budgets).
 * The payload is decrypted with the GCM keystream and no tag check, so node:crypto's own
 * AES-GCM open is the oracle for the plaintext, and damaged packets are checked for what the
 * structure catches and what it cannot (a flipped bit inside the name).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import {
  collectCryptoFrames,
  deriveClientKeyWords,
  deriveInitialKeys,
  FrameWalk,
  InitialReader,
  headerProtectionMask,
  initialSecret,
  LongPacketType,
  looksLikeInitial,
  openPacket,
  packetNonce,
  parseLongHeader,
  QUIC_V1,
  QUIC_V2,
  type LongHeader,
} from '../src/decode/quic-initial';
import { aes128Ctr, aes128EncryptBlock, aes128ExpandKey, HP_RK, hkdfExpandLabel, hmacKey, hmacSha256, IV_WORDS, KEY_RK, KEY_WORDS, keyBytes } from '../src/decode/quic-keys';
import { parseClientHelloMessage, parseClientHelloSni } from '../src/decode/tls-client-hello';
import { newDecodeErrorCounts, newDecodedPacket } from '../src/decode/types';
import { Flow } from '../src/flows/flow';
import { QUIC_PACKET_BUDGET, QuicHandshake, QuicInspector } from '../src/flows/quic-inspector';
import { quicAckFrame, quicClientHello, quicCryptoPieces, quicInitial, quicVarint, tlsClientHello } from './support/packets';

/** RFC 9001 Appendix A.2: the protected client Initial (1200 bytes). */
const RFC9001_A2_PACKET =
  'c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11' +
  'd242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399' +
  '1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c' +
  '8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212' +
  '30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5' +
  '457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208' +
  '4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec' +
  '4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3' +
  '485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db' +
  '059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c' +
  '7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8' +
  '9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556' +
  'be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74' +
  '68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a' +
  'c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00' +
  'f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632' +
  '291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964' +
  '25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd' +
  '14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff' +
  'ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198' +
  'e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd' +
  'c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73' +
  '203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f' +
  'cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e' +
  'fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade' +
  'a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047' +
  '90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2' +
  '162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4' +
  '40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0' +
  '6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e' +
  '8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0' +
  'be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400' +
  '54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab' +
  '760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9' +
  'f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4' +
  '056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064' +
  '7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241' +
  'e221af44860018ab0856972e194cd934';

/** RFC 9001 Appendix A.2 (and RFC 9369 A.2): the CRYPTO frame of that Initial, before PADDING. */
const RFC9001_A2_CRYPTO =
  '060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868' +
  '04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578' +
  '616d706c652e636f6dff01000100000a00080006001d00170018001000070005' +
  '04616c706e000500050100000000003300260024001d00209370b2c9caa47fba' +
  'baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400' +
  '0d0010000e0403050306030203080408050806002d00020101001c0002400100' +
  '3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000' +
  '75300901100f088394c8f03e51570806048000ffff';

/** RFC 9369 Appendix A.2: the same client Initial under QUIC version 2. */
const RFC9369_A2_PACKET =
  'd76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485' +
  'dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04' +
  '9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d' +
  '250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a' +
  '12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500' +
  'cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68' +
  '18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33' +
  '12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3' +
  'd396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd' +
  '6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520' +
  'bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045' +
  '636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f' +
  'ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12' +
  '16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5' +
  '4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4' +
  'fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b' +
  '8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7' +
  '14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9' +
  '9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91' +
  'abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd' +
  '80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db' +
  '848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18' +
  'd703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15' +
  'c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc' +
  '7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61' +
  'f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710' +
  '10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b' +
  '3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e' +
  '06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce' +
  '8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1' +
  '34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1' +
  'e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd' +
  '5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3' +
  '8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89' +
  'd5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53' +
  '6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19' +
  '9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b' +
  'a18b2faa745b6fe189cf772a9f84cbfc';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
/** RFC 9001 Appendix A: the client's Destination Connection ID. */
const DCID = hex('8394c8f03e515708');

/** node:crypto's own AEAD_AES_128_GCM open of a sealed client Initial, tag checked: the payload. */
function gcmOpen(sealed: Buffer, version: number, dcid: Buffer): { packetNumber: number; payload: Buffer } {
  const h = header(sealed);
  const keys = deriveInitialKeys(version, dcid)!;
  const mask = headerProtectionMask(keys.hp, sealed.subarray(h.pnOffset + 4, h.pnOffset + 20));
  const aad = Buffer.from(sealed.subarray(0, h.pnOffset + 4));
  aad[0]! ^= mask[0]! & 0x0f;
  const pnLength = (aad[0]! & 3) + 1;
  let pn = 0;
  for (let j = 0; j < pnLength; j++) pn = pn * 256 + (aad[h.pnOffset + j]! ^= mask[1 + j]!);
  const gcm = createDecipheriv('aes-128-gcm', keys.key, packetNonce(keys.iv, pn));
  gcm.setAAD(aad.subarray(0, h.pnOffset + pnLength));
  gcm.setAuthTag(sealed.subarray(h.end - 16, h.end));
  const payload = Buffer.concat([gcm.update(sealed.subarray(h.pnOffset + pnLength, h.end - 16)), gcm.final()]);
  return { packetNumber: pn, payload };
}

/** A QuicInspector and one UDP flow, fed UDP payloads. */
function inspectorHarness(inspector?: QuicInspector) {
  const errors = newDecodeErrorCounts();
  const insp = inspector ?? new QuicInspector(errors);
  const flow = new Flow();
  flow.protocol = 17;
  flow.inspectBudget = QUIC_PACKET_BUDGET;
  const feed = (payload: Buffer, fromClient = true): void => {
    const pkt = newDecodedPacket();
    pkt.buf = Buffer.concat([Buffer.alloc(42), payload]); // where the UDP payload sits in a frame
    pkt.payloadOffset = 42;
    pkt.payloadLength = payload.length;
    pkt.capturedLength = pkt.wireLength = pkt.buf.length;
    if (flow.inspectBudget > 0) insp.inspect(flow, pkt, fromClient);
  };
  return { errors, inspector: insp, flow, feed };
}

function header(buf: Buffer): LongHeader {
  const h = parseLongHeader(buf, 0, buf.length);
  assert.ok(h !== null && h !== 'truncated', 'a long header');
  return h;
}

describe('key schedule primitives (checked against node:crypto)', () => {
  it('HMAC-SHA-256 for keys up to 64 bytes and messages up to 55', () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(i % 65);
      const msg = randomBytes((i * 7) % 56);
      assert.equal(hmacSha256(hmacKey(key), msg).toString('hex'), createHmac('sha256', key).update(msg).digest('hex'), `key ${key.length}, msg ${msg.length}`);
    }
    assert.throws(() => hmacKey(Buffer.alloc(65)), RangeError);
    assert.throws(() => hmacSha256(hmacKey(Buffer.alloc(1)), Buffer.alloc(56)), RangeError);
  });

  it('HKDF-Expand-Label: the RFC 9001 A.1 "quic hp" from the client secret', () => {
    const secret = hmacKey(hex('c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea'));
    assert.equal(hkdfExpandLabel(secret, 'quic hp', 16).toString('hex'), '9f50449e04a0e810283a1e9933adedd2');
    assert.throws(() => hkdfExpandLabel(secret, 'quic hp', 33), RangeError);
  });

  it('AES-128 on one block, FIPS 197 Appendix B and random keys', () => {
    assert.equal(aes128EncryptBlock(hex('2b7e151628aed2a6abf7158809cf4f3c'), hex('3243f6a8885a308d313198a2e0370734')).toString('hex'), '3925841d02dc09fbdc118597196a0b32');
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(16);
      const block = randomBytes(16);
      const ecb = createCipheriv('aes-128-ecb', key, null);
      ecb.setAutoPadding(false);
      assert.equal(aes128EncryptBlock(key, block).toString('hex'), ecb.update(block).toString('hex'));
    }
  });

  it('AES-128-CTR: the keystream of node:crypto for any length and starting counter', () => {
    const rk = new Int32Array(44);
    for (let i = 0; i < 100; i++) {
      const key = randomBytes(16);
      const iv = randomBytes(16);
      iv.writeUInt32BE(i * 7919, 12); // the 32-bit counter, far from wrapping
      const data = randomBytes((i * 37) % 300);
      aes128ExpandKey(new Int32Array([key.readInt32BE(0), key.readInt32BE(4), key.readInt32BE(8), key.readInt32BE(12)]), 0, rk, 0);
      const out = Buffer.alloc(data.length + 8, 0xee);
      aes128Ctr(rk, 0, iv.readInt32BE(0), iv.readInt32BE(4), iv.readInt32BE(8), iv.readInt32BE(12), data, 0, out, 4, data.length);
      assert.equal(out.subarray(4, 4 + data.length).toString('hex'), createDecipheriv('aes-128-ctr', key, iv).update(data).toString('hex'), `${data.length} bytes`);
      assert.ok(out.subarray(0, 4).every((b) => b === 0xee) && out.subarray(4 + data.length).every((b) => b === 0xee), 'nothing written outside');
    }
  });
});

describe('QUIC Initial keys', () => {
  it('v1: client and server secrets and keys of RFC 9001 A.1', () => {
    assert.equal(initialSecret(QUIC_V1, DCID, 'client')!.toString('hex'), 'c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea');
    assert.equal(initialSecret(QUIC_V1, DCID, 'server')!.toString('hex'), '3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b');
    const c = deriveInitialKeys(QUIC_V1, DCID, 'client')!;
    assert.deepEqual([c.key, c.iv, c.hp].map((b) => b.toString('hex')), ['1f369613dd76d5467730efcbe3b1a22d', 'fa044b2f42a3fd3b46fb255c', '9f50449e04a0e810283a1e9933adedd2']);
    const s = deriveInitialKeys(QUIC_V1, DCID, 'server')!;
    assert.deepEqual([s.key, s.iv, s.hp].map((b) => b.toString('hex')), ['cf3a5331653c364c88f0f379b6067e37', '0ac1493ca1905853b0bba03e', 'c206b8d9b9f0f37644430b490eeaa314']);
  });

  it('v2: salt and "quicv2" labels of RFC 9369 A.1', () => {
    assert.equal(initialSecret(QUIC_V2, DCID, 'client')!.toString('hex'), '14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b');
    assert.equal(initialSecret(QUIC_V2, DCID, 'server')!.toString('hex'), '0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1');
    const c = deriveInitialKeys(QUIC_V2, DCID, 'client')!;
    assert.deepEqual([c.key, c.iv, c.hp].map((b) => b.toString('hex')), ['8b1a0bc121284290a29e0971b5cd045d', '91f73e2351d8fa91660e909f', '45b95e15235d6f45a6b19cbcb0294ba9']);
    const s = deriveInitialKeys(QUIC_V2, DCID, 'server')!;
    assert.deepEqual([s.key, s.iv, s.hp].map((b) => b.toString('hex')), ['82db637861d55e1d011f19ea71d5d2a7', 'dd13c276499c0249d3310652', 'edf6d05c83121201b436e16877593c3a']);
  });

  it('the header protection masks of the A.2 samples', () => {
    const v1 = deriveInitialKeys(QUIC_V1, DCID)!;
    assert.equal(headerProtectionMask(v1.hp, hex('d1b1c98dd7689fb8ec11d242b123dc9b')).subarray(0, 5).toString('hex'), '437b9aec36');
    const v2 = deriveInitialKeys(QUIC_V2, DCID)!;
    assert.equal(headerProtectionMask(v2.hp, hex('ffe67b6abcdb4298b485dd04de806071')).subarray(0, 5).toString('hex'), '94a0c95e80');
  });

  it('the client key schedule in words matches one built on node:crypto HKDF, for connection IDs of 0 to 20 bytes', () => {
    // The reference: the client secret from node:crypto's hkdfSync (Extract with the salt, then
    // Expand, RFC 5869 §2.2, §2.3); key, iv and hp are one-block HKDF-Expand-Label (RFC 8446
    // §7.1, empty context): HMAC(secret, HkdfLabel || 0x01) with node:crypto's HMAC.
    const expand = (secret: Buffer, label: string, length: number): Buffer => {
      const full = Buffer.from(`tls13 ${label}`);
      const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
      return createHmac('sha256', secret).update(info).digest().subarray(0, length);
    };
    const salts: Array<[number, string, string]> = [
      [QUIC_V1, '38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'quic'],
      [QUIC_V2, '0dede3def700a6db819381be6e269dcbf9bd2ed9', 'quicv2'],
    ];
    const words = new Int32Array(KEY_WORDS + 3);
    for (const [version, salt, prefix] of salts) {
      for (let len = 0; len <= 20; len++) {
        const dcid = randomBytes(len);
        // HKDF-Extract and the "client in" expansion in one node:crypto call (RFC 5869 §2.2, §2.3).
        const full = Buffer.from('tls13 client in');
        const info = Buffer.concat([Buffer.from([0, 32, full.length]), full, Buffer.from([0])]);
        const secret = Buffer.from(hkdfSync('sha256', dcid, hex(salt), info, 32));
        const frame = Buffer.concat([randomBytes(5), dcid, randomBytes(3)]);
        assert.ok(deriveClientKeyWords(version, frame, 5, len, words, 3));
        assert.equal(keyBytes(words, 3 + KEY_RK, 16).toString('hex'), expand(secret, `${prefix} key`, 16).toString('hex'), `v${version} key, cid ${len}`);
        assert.equal(keyBytes(words, 3 + IV_WORDS, 12).toString('hex'), expand(secret, `${prefix} iv`, 12).toString('hex'), `iv, cid ${len}`);
        assert.equal(keyBytes(words, 3 + HP_RK, 16).toString('hex'), expand(secret, `${prefix} hp`, 16).toString('hex'), `hp, cid ${len}`);
        const asBytes = deriveInitialKeys(version, dcid)!;
        assert.deepEqual([asBytes.key, asBytes.iv, asBytes.hp], [expand(secret, `${prefix} key`, 16), expand(secret, `${prefix} iv`, 12), expand(secret, `${prefix} hp`, 16)]);
      }
    }
    assert.equal(deriveClientKeyWords(0xff00001d, DCID, 0, 8, words), false);
    assert.equal(deriveClientKeyWords(QUIC_V1, Buffer.alloc(21), 0, 21, words), false);
  });

  it('no keys for other versions (draft-29, Version Negotiation)', () => {
    assert.equal(deriveInitialKeys(0xff00001d, DCID), null);
    assert.equal(deriveInitialKeys(0, DCID), null);
  });
});

describe('opening a client Initial', () => {
  for (const [name, version, packet] of [
    ['RFC 9001 A.2 (v1)', QUIC_V1, RFC9001_A2_PACKET],
    ['RFC 9369 A.2 (v2)', QUIC_V2, RFC9369_A2_PACKET],
  ] as const) {
    it(`${name}: header fields, packet number 2, the CRYPTO frame and 917 bytes of PADDING`, () => {
      const buf = hex(packet);
      assert.equal(buf.length, 1200);
      assert.ok(looksLikeInitial(buf, 0, buf.length));
      const h = header(buf);
      assert.equal(h.version, version);
      assert.equal(h.type, LongPacketType.Initial);
      assert.deepEqual(buf.subarray(h.dcidOffset, h.dcidOffset + h.dcidLength), DCID);
      assert.equal(h.scidLength, 0);
      assert.equal(h.tokenLength, 0);
      assert.equal(h.pnOffset, 18);
      assert.equal(h.end, 1200);
      const opened = openPacket(buf, h, deriveInitialKeys(version, DCID)!);
      assert.ok(opened);
      assert.equal(opened.packetNumber, 2);
      assert.equal(opened.payload.length, 1162);
      const crypto = hex(RFC9001_A2_CRYPTO);
      assert.deepEqual(opened.payload.subarray(0, crypto.length), crypto);
      assert.ok(opened.payload.subarray(crypto.length).every((b) => b === 0));
      const frames: number[] = [];
      assert.ok(collectCryptoFrames(opened.payload, frames));
      assert.deepEqual(frames, [0, 4, 241]);
    });

    it(`${name}: the test encoder seals the same packet byte for byte`, () => {
      const crypto = hex(RFC9001_A2_CRYPTO);
      const sealed = quicInitial({ version, dcid: DCID, packetNumber: 2, packetNumberLength: 4, cryptoFrames: [{ offset: 0, data: crypto.subarray(4) }], padTo: 1200 });
      assert.equal(sealed.toString('hex'), packet);
    });
  }

  it('the A.2 ClientHello names example.com and offers ALPN "alpn"', () => {
    const crypto = hex(RFC9001_A2_CRYPTO);
    const alpn: string[] = [];
    assert.deepEqual(parseClientHelloMessage(crypto, 4, 241, alpn), { kind: 'sni', name: 'example.com' });
    assert.deepEqual(alpn, ['alpn']);
  });

  it('the payload is the plaintext AEAD_AES_128_GCM seals, from the keystream alone, for payloads of any length', () => {
    for (let i = 0; i < 40; i++) {
      const dcid = randomBytes(1 + (i % 20));
      const version = i % 2 ? QUIC_V2 : QUIC_V1;
      const frames = [Buffer.from([0x01]), Buffer.alloc(1 + ((i * 53) % 500), 0)]; // PING, PADDING
      const sealed = quicInitial({ version, dcid, packetNumber: i * 97, cryptoFrames: [{ offset: 0, data: randomBytes(10 + ((i * 131) % 1400)) }], frames });
      const opened = openPacket(sealed, header(sealed), deriveInitialKeys(version, dcid)!);
      assert.ok(opened, `packet ${i}`);
      assert.equal(opened.packetNumber, i * 97);
      const plain = gcmOpen(sealed, version, dcid).payload;
      assert.equal(opened.payload.toString('hex'), plain.toString('hex'), `packet ${i}`);
    }
  });

  it('the lazy frame walk finds the CRYPTO frames of the whole plaintext, whatever the frames and sizes (TypeScript and node:crypto keystream)', () => {
    const reader = new InitialReader();
    for (let i = 0; i < 60; i++) {
      const dcid = randomBytes(8);
      // Chrome-like: CRYPTO pieces out of order between PING, ACK and PADDING runs.
      const data = randomBytes(50 + ((i * 211) % 1900));
      const pieces = quicCryptoPieces(data, 40 + ((i * 37) % 300), i % 2 ? 'reverse' : 'forward');
      const frames: Buffer[] = [];
      for (const [k, piece] of pieces.entries()) {
        if (k % 3 === 0) frames.push(Buffer.from([0x01]));
        if (k % 4 === 1) frames.push(Buffer.alloc(1 + ((i * k) % 90), 0));
        if (k === 2) frames.push(quicAckFrame(5, 1));
        frames.push(Buffer.concat([Buffer.from([0x06]), quicVarint(piece.offset), quicVarint(piece.data.length), piece.data]));
      }
      const sealed = quicInitial({ dcid, packetNumber: i, frames, padTo: 1200 });
      const expected: number[] = [];
      const plain = gcmOpen(sealed, QUIC_V1, dcid).payload;
      assert.ok(collectCryptoFrames(plain, expected));
      const words = new Int32Array(KEY_WORDS);
      assert.ok(deriveClientKeyWords(QUIC_V1, dcid, 0, dcid.length, words));
      reader.plain.fill(0xa5); // what earlier packets leave behind
      assert.ok(reader.begin(sealed, header(sealed), words, 0));
      assert.equal(reader.packetNumber, i);
      const got: number[] = [];
      let walk: FrameWalk;
      while ((walk = reader.next()) === FrameWalk.Crypto) {
        reader.reveal(reader.cryptoStart + reader.cryptoLength);
        got.push(reader.cryptoOffset, reader.cryptoStart, reader.cryptoLength);
        assert.deepEqual(reader.plain.subarray(reader.cryptoStart, reader.cryptoStart + reader.cryptoLength), plain.subarray(reader.cryptoStart, reader.cryptoStart + reader.cryptoLength));
      }
      assert.equal(walk, FrameWalk.End, `packet ${i}`);
      assert.deepEqual(got, expected, `packet ${i}`);
    }
  });

  it('revealClientHello decrypts every byte the ClientHello parser reads: the same answers as full decryption, whatever is left encrypted', () => {
    const reader = new InitialReader();
    const ext = (type: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([type >> 8, type & 0xff, body.length >> 8, body.length & 0xff]), body]);
    const sniExt = (name: string): Buffer => {
      const n = Buffer.from(name);
      return ext(0, Buffer.concat([Buffer.from([0, n.length + 3, 0, n.length >> 8, n.length & 0xff]), n]));
    };
    const alpnExt = (...ps: string[]): Buffer => {
      const list = Buffer.concat(ps.map((x) => Buffer.concat([Buffer.from([x.length]), Buffer.from(x)])));
      return ext(16, Buffer.concat([Buffer.from([list.length >> 8, list.length & 0xff]), list]));
    };
    const hello = (o: { sid?: number; suites?: number; exts: Buffer[] }): Buffer => {
      const exts = Buffer.concat(o.exts);
      const body = Buffer.concat([
        Buffer.from([3, 3]),
        randomBytes(32),
        Buffer.from([o.sid ?? 32]),
        randomBytes(o.sid ?? 32),
        Buffer.from([0, 2 * (o.suites ?? 3)]),
        randomBytes(2 * (o.suites ?? 3)),
        Buffer.from([1, 0]),
        Buffer.from([exts.length >> 8, exts.length & 0xff]),
        exts,
      ]);
      return Buffer.concat([Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
    };
    const grease = (k: number): Buffer => ext(0x0a0a + 0x1010 * (k % 16), randomBytes(k % 5));
    const corpus: Buffer[] = [
      hello({ exts: [sniExt('a.example'), alpnExt('h3')] }),
      hello({ sid: 0, suites: 1, exts: [alpnExt('h3', 'h3-29'), grease(1), ext(51, randomBytes(1220)), sniExt('after.key-share.example.org')] }),
      hello({ exts: [grease(2), ext(43, randomBytes(3)), ext(13, randomBytes(18)), ext(65037, randomBytes(200)), sniExt('ech.example'), ext(21, Buffer.alloc(300))] }),
      hello({ exts: [ext(51, randomBytes(40)), alpnExt('doq')] }), // no SNI
      hello({ exts: [] }),
      Buffer.concat([hello({ exts: [sniExt('trailing.example')] }), randomBytes(7)]).fill(0xff, 1, 4), // lengths that lie
    ];
    // Shuffled extension orders (Chrome permutes them), session IDs and suites of every size.
    for (let k = 0; k < 30; k++) {
      const exts = [sniExt(`n${k}.example.net`), alpnExt('h3'), grease(k), ext(51, randomBytes(k * 40)), ext(10, randomBytes(8)), ext(41, randomBytes(k))];
      for (let j = exts.length - 1; j > 0; j--) {
        const r = (k * 7 + j * 13) % (j + 1);
        [exts[j], exts[r]] = [exts[r]!, exts[j]!];
      }
      corpus.push(hello({ sid: k, suites: 1 + k, exts }));
    }
    // A damaged length anywhere in a few of them.
    for (let k = 0; k < 40; k++) {
      const h = Buffer.from(corpus[k % 4]!);
      h[(k * 29) % Math.min(h.length, 200)]! ^= 1 << (k % 8);
      corpus.push(h);
    }
    for (const [i, msg] of corpus.entries()) {
      const dcid = randomBytes(8);
      const sealed = quicInitial({ dcid, cryptoFrames: [{ offset: 0, data: msg }], padTo: 1200 });
      const words = new Int32Array(KEY_WORDS);
      deriveClientKeyWords(QUIC_V1, dcid, 0, 8, words);
      const answers: string[] = [];
      for (const poison of [-1, 0x00, 0xff, 0x41]) {
        if (poison >= 0) reader.plain.fill(poison);
        reader.begin(sealed, header(sealed), words, 0);
        assert.equal(reader.next(), FrameWalk.Crypto);
        if (poison < 0) reader.reveal(reader.cryptoStart + reader.cryptoLength);
        else {
          reader.reveal(reader.cryptoStart + 4);
          reader.revealClientHello(reader.cryptoStart, reader.cryptoLength);
        }
        const alpn: string[] = [];
        answers.push(JSON.stringify([parseClientHelloMessage(reader.plain, reader.cryptoStart, reader.cryptoLength, alpn), alpn]));
      }
      assert.equal(new Set(answers).size, 1, `hello ${i}: ${answers.join(' / ')}`);
    }
  });

  it('a flipped bit anywhere (no tag check): no crash; in the header, packet number or sample no name; elsewhere the name or a one-letter change inside it', () => {
    const clean = hex(RFC9001_A2_PACKET);
    const name = Buffer.from('example.com');
    // 22: the payload after the 4-byte packet number; the name inside the CRYPTO frame.
    const nameAt = 22 + hex(RFC9001_A2_CRYPTO).indexOf(name);
    let named = 0;
    let changed = 0;
    for (let at = 0; at < clean.length; at++) {
      for (const bit of [0x01, 0x10, 0x80]) {
        const buf = Buffer.from(clean);
        buf[at]! ^= bit;
        const h = inspectorHarness();
        h.feed(buf);
        const where = `byte ${at} bit ${bit}`;
        const sni = h.flow.sni;
        if (at >= 18 && at < 38) {
          // Packet number (18-21) and header protection sample (22-37): another nonce, another
          // mask, garbage that no frame walk takes: a quic decode error, as a failed tag was.
          assert.equal(sni, null, where);
          assert.equal(h.errors.byLayer.quic, 1, where);
          assert.equal(h.flow.appProtocol, null, where);
        } else if (at >= 6 && at < 14) {
          // The DCID: other keys.
          assert.equal(sni, null, where);
          assert.equal(h.errors.byLayer.quic, 1, where);
        } else if (sni !== null && sni !== 'example.com') {
          // Within the name the flip is taken as it is, as it would be for TLS over TCP; so is a
          // shorter name length (the ClientHello parser takes the first host_name without
          // checking that it fills the ServerNameList).
          if (at === nameAt - 1) assert.ok('example.com'.startsWith(sni), `${where}: ${sni}`);
          else {
            assert.ok(at >= nameAt && at < nameAt + name.length, `${where}: ${sni}`);
            assert.equal(sni.length, name.length, where);
          }
          changed++;
        } else if (sni === 'example.com') named++;
        if (at >= 1200 - 16) assert.equal(sni, 'example.com', `${where}: the tag is not checked`);
        if (at > nameAt + 300 && at < 1200 - 16) assert.equal(sni, 'example.com', `${where}: PADDING after the ClientHello is not even decrypted`);
      }
    }
    assert.ok(changed > 0 && changed <= 3 * name.length, `${changed} changed names`);
    assert.ok(named > 3 * 900, `${named} flips still give example.com`);
  });

  it('keys from another connection ID, or the other version, do not open it', () => {
    const buf = hex(RFC9001_A2_PACKET);
    assert.equal(openPacket(buf, header(buf), deriveInitialKeys(QUIC_V1, hex('0001020304050607'))!), null);
    assert.equal(openPacket(buf, header(buf), deriveInitialKeys(QUIC_V2, DCID)!), null);
    assert.equal(openPacket(buf, header(buf), deriveInitialKeys(QUIC_V1, DCID, 'server')!), null);
  });

  it('long headers: truncated lengths, short headers, Version Negotiation, Retry and other versions', () => {
    const buf = hex(RFC9001_A2_PACKET);
    assert.equal(parseLongHeader(buf, 0, 1199), 'truncated');
    assert.equal(parseLongHeader(buf, 0, 17), 'truncated');
    assert.equal(parseLongHeader(hex('40' + '00'.repeat(30)), 0, 31), null); // 1-RTT
    assert.equal(parseLongHeader(hex('c000000000' + '08'.repeat(26)), 0, 31), null); // version 0: VN
    assert.equal(parseLongHeader(hex('f000000001' + '08'.repeat(26)), 0, 31), null); // v1 Retry
    assert.equal(parseLongHeader(hex('c0ff00001d' + '08'.repeat(26)), 0, 31), null); // draft-29
    assert.equal(parseLongHeader(hex('c00000000115' + '00'.repeat(40)), 0, 46), null); // DCID of 21 bytes
    assert.ok(!looksLikeInitial(hex('e0000000010800'), 0, 7));
    assert.ok(!looksLikeInitial(hex('c06b3343cf0800'), 0, 7), 'v2 numbers Initial 0b01');
    assert.ok(looksLikeInitial(hex('d06b3343cf0800'), 0, 7));
    assert.ok(!looksLikeInitial(hex('c0000000010800'), 0, 6), 'too short for a long header');
  });
});

describe('frames of an Initial', () => {
  const collect = (payload: Buffer): number[] | false => {
    const out: number[] = [];
    return collectCryptoFrames(payload, out) ? out : false;
  };
  const crypto = (offset: number, data: string): Buffer => Buffer.concat([Buffer.from([0x06]), quicVarint(offset), quicVarint(data.length), Buffer.from(data)]);

  it('PADDING, PING, ACK (with ranges and ECN counts), CRYPTO and CONNECTION_CLOSE', () => {
    const ack = Buffer.concat([Buffer.from([0x02]), quicVarint(9), quicVarint(25), quicVarint(2), quicVarint(3), quicVarint(1), quicVarint(0), quicVarint(0), quicVarint(1)]);
    const ackEcn = Buffer.concat([Buffer.from([0x03]), quicVarint(1), quicVarint(0), quicVarint(0), quicVarint(1), quicVarint(5), quicVarint(0), quicVarint(70000)]);
    const close = Buffer.concat([Buffer.from([0x1c]), quicVarint(0x0a), quicVarint(0x06), quicVarint(3), Buffer.from('bye')]);
    const payload = Buffer.concat([Buffer.from([0x00, 0x01]), ack, crypto(1000, 'world'), ackEcn, quicAckFrame(3), crypto(0, 'hello'), close, Buffer.alloc(20)]);
    const out = collect(payload);
    assert.ok(out);
    assert.equal(out.length, 6);
    assert.deepEqual([out[0], payload.toString('latin1', out[1]!, out[1]! + out[2]!)], [1000, 'world']);
    assert.deepEqual([out[3], payload.toString('latin1', out[4]!, out[4]! + out[5]!)], [0, 'hello']);
  });

  it('rejects frames an Initial may not carry and lengths that run past the payload', () => {
    assert.equal(collect(Buffer.from([0x08, 0x00, 0x01, 0x41])), false); // STREAM
    assert.equal(collect(Buffer.from([0x1d, 0x00, 0x00])), false); // application CONNECTION_CLOSE
    assert.equal(collect(Buffer.concat([Buffer.from([0x06, 0x00, 0x10]), Buffer.from('short')])), false);
    assert.equal(collect(Buffer.from([0x06, 0x40])), false); // a varint cut in half
    assert.equal(collect(Buffer.from([0x02, 0x00, 0x00, 0x3f, 0x00])), false); // 63 ACK ranges in 0 bytes
    assert.equal(collect(Buffer.from([0x1c, 0x00, 0x00, 0x09, 0x41])), false);
  });
});

describe('parseClientHelloMessage (CRYPTO data: no TLS record)', () => {
  const bare = (o: Parameters<typeof tlsClientHello>[0]) => tlsClientHello(o).subarray(5);

  it('finds the same SNI as the record parser, and every ALPN protocol in order', () => {
    const record = tlsClientHello({ sni: 'Mixed.Example.COM', alpn: ['h3', 'h3-29', 'doq'] });
    const alpn: string[] = [];
    assert.deepEqual(parseClientHelloMessage(record, 5, record.length - 5, alpn), parseClientHelloSni(record, 0, record.length));
    assert.deepEqual(parseClientHelloMessage(record, 5, record.length - 5), { kind: 'sni', name: 'mixed.example.com' });
    assert.deepEqual(alpn, ['h3', 'h3-29', 'doq']);
  });

  it('no SNI, no ALPN', () => {
    const alpn: string[] = [];
    const hello = bare({});
    assert.deepEqual(parseClientHelloMessage(hello, 0, hello.length, alpn), { kind: 'no-sni' });
    assert.deepEqual(alpn, []);
  });

  it('a prefix: the SNI as soon as it is in, need-more before', () => {
    const hello = bare({ sni: 'early.example.org', alpn: ['h3'] });
    assert.deepEqual(parseClientHelloMessage(hello, 0, 3), { kind: 'need-more', needed: 4 });
    assert.deepEqual(parseClientHelloMessage(hello, 0, 60), { kind: 'need-more', needed: hello.length });
    const at = hello.indexOf('early.example.org') + 'early.example.org'.length;
    assert.deepEqual(parseClientHelloMessage(hello, 0, at), { kind: 'sni', name: 'early.example.org' });
  });

  it('not a ClientHello, or lengths that lie', () => {
    assert.deepEqual(parseClientHelloMessage(Buffer.from([2, 0, 0, 4, 3, 3, 0, 0]), 0, 8), { kind: 'not-tls' });
    const hello = Buffer.from(bare({ sni: 'x.example' }));
    hello.writeUIntBE(hello.length, 1, 3); // 4 bytes longer than its extensions (RFC 8446 §4.1.2: they end it)
    assert.deepEqual(parseClientHelloMessage(hello, 0, hello.length), { kind: 'malformed' });
    const lying = Buffer.from(bare({ sni: 'x.example' }));
    lying.writeUInt16BE(0xffff, lying.indexOf('x.example') - 2); // the name's length
    assert.deepEqual(parseClientHelloMessage(lying, 0, lying.length), { kind: 'malformed' });
  });
});

describe('QuicInspector', () => {
  const harness = inspectorHarness;
  const dcid = hex('0011223344556677');
  const hello = quicClientHello({ sni: 'media.example.net', alpn: ['h3'] });
  const big = quicClientHello({ sni: 'big.example.net', alpn: ['h3'], padTo: 2600 });

  it('one Initial: SNI, ALPN, QUIC, and nothing more looked at', () => {
    const h = harness();
    h.feed(quicInitial({ dcid, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 }));
    assert.equal(h.flow.sni, 'media.example.net');
    assert.deepEqual(h.flow.alpn, ['h3']);
    assert.equal(h.flow.appProtocol, 'quic');
    assert.equal(h.flow.inspectBudget, 0);
    assert.equal(h.flow.app, null);
    assert.equal(h.errors.byLayer.quic, 0);
    assert.deepEqual(h.inspector.stats(), { initialsOpened: 1, names: 1 });
  });

  it('a ClientHello over two datagrams, the second with the server-chosen DCID (keys stay, RFC 9001 §5.2)', () => {
    const h = harness();
    h.feed(quicInitial({ dcid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: big.subarray(0, 1150) }], padTo: 1200 }));
    assert.equal(h.flow.sni, null, 'the ClientHello is not whole yet');
    assert.ok(h.flow.inspectBudget > 0);
    h.feed(quicInitial({ dcid: Buffer.alloc(0), scid: dcid, packetNumber: 0, sender: 'server', keyDcid: dcid, cryptoFrames: [{ offset: 0, data: Buffer.alloc(90, 2) }] }), false);
    const serverCid = hex('aabbccdd');
    h.feed(quicInitial({ dcid: serverCid, keyDcid: dcid, packetNumber: 1, cryptoFrames: quicCryptoPieces(big.subarray(1150), 300, 'reverse').map((p) => ({ offset: p.offset + 1150, data: p.data })), padTo: 1600 }));
    assert.equal(h.flow.sni, 'big.example.net');
    assert.deepEqual(h.flow.alpn, ['h3']);
    assert.equal(h.errors.byLayer.quic, 0);
  });

  it('after a Retry the keys come from the new DCID (RFC 9001 §5.2)', () => {
    const h = harness();
    // The first Initial is lost from the capture but its keys were derived from `dcid`; the
    // client's next Initial (after the Retry) uses the Retry's SCID as DCID and keys from it.
    h.feed(quicInitial({ dcid, packetNumber: 0, frames: [Buffer.from([0x01])], padTo: 1200 }));
    assert.equal(h.flow.sni, null);
    const retryScid = hex('5eed5eed5eed5eed');
    h.feed(quicInitial({ dcid: retryScid, token: Buffer.from('retry-token'), packetNumber: 1, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 }));
    assert.equal(h.flow.sni, 'media.example.net');
    assert.equal(h.errors.byLayer.quic, 0);
  });

  it('one inspector, flows interleaved: a flow that waits keeps its own state, the others share a spare', () => {
    const inspector = new QuicInspector(newDecodeErrorCounts());
    const split = inspectorHarness(inspector);
    const other = hex('1020304050607080');
    split.feed(quicInitial({ dcid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: big.subarray(0, 1150) }], padTo: 1200 }));
    assert.ok(split.flow.app?.quic, 'waiting with its keys and first half');
    for (let i = 0; i < 3; i++) {
      const single = inspectorHarness(inspector);
      single.feed(quicInitial({ dcid: Buffer.from([i, ...other]), cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 }));
      assert.equal(single.flow.sni, 'media.example.net');
      const noise = inspectorHarness(inspector);
      const bad = quicInitial({ dcid: other, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 });
      bad[30]! ^= 0x40; // the header protection sample: another mask
      noise.feed(bad);
      assert.equal(noise.flow.sni, null);
    }
    split.feed(quicInitial({ dcid: hex('aabbccdd'), keyDcid: dcid, packetNumber: 1, cryptoFrames: [{ offset: 1150, data: big.subarray(1150) }], padTo: 1200 }));
    assert.equal(split.flow.sni, 'big.example.net');
    assert.deepEqual(split.flow.alpn, ['h3']);
  });

  it('CRYPTO stream reassembly: the filled ranges and bytes, whatever the order and overlaps of the pieces', () => {
    for (let round = 0; round < 50; round++) {
      const st = new QuicHandshake();
      const stream = randomBytes(3000);
      const filled = new Uint8Array(stream.length);
      for (let k = 0; k < 1 + (round % 12); k++) {
        const at = (round * 577 + k * 1319) % 2900;
        const len = 1 + ((round * 31 + k * 97) % 400);
        const end = Math.min(at + len, stream.length);
        st.add(stream, at, end - at, at);
        filled.fill(1, at, end);
        const want: number[] = [];
        for (let i = 0; i < filled.length; i++) {
          if (filled[i] && (i === 0 || !filled[i - 1])) want.push(i);
          if (filled[i] && (i === filled.length - 1 || !filled[i + 1])) want.push(i + 1);
        }
        assert.deepEqual(st.ranges, want, `round ${round}, piece ${k}`);
        for (let r = 0; r < want.length; r += 2) assert.deepEqual(st.data!.subarray(want[r]!, want[r + 1]!), stream.subarray(want[r]!, want[r + 1]!));
        assert.equal(st.contiguous(), want[0] === 0 ? want[1] : 0);
      }
    }
  });

  it('UDP that is not QUIC costs one look', () => {
    const h = harness();
    h.feed(Buffer.from('8a01000001b2c3d4e5f60000', 'hex')); // RTP-like, high bit set, another "version"
    assert.equal(h.flow.inspectBudget, 0);
    assert.equal(h.flow.appProtocol, null);
    assert.equal(h.errors.byLayer.quic, 0);
  });

  it('noise behind a v1 Initial header: counted once per packet, no name, gives up within the budget', () => {
    const h = harness();
    const noise = quicInitial({ dcid, cryptoFrames: [{ offset: 0, data: hello }], padTo: 1200 });
    const h0 = parseLongHeader(noise, 0, noise.length) as LongHeader;
    randomBytes(noise.length - h0.pnOffset).copy(noise, h0.pnOffset);
    for (let i = 0; i < 10; i++) h.feed(noise);
    assert.equal(h.flow.sni, null);
    assert.equal(h.flow.appProtocol, null);
    assert.equal(h.flow.inspectBudget, 0);
    assert.ok(h.errors.byLayer.quic >= 1 && h.errors.byLayer.quic <= QUIC_PACKET_BUDGET, `${h.errors.byLayer.quic} errors`);
  });

  it('the server talking alone uses up the budget', () => {
    const h = harness();
    for (let i = 0; i < QUIC_PACKET_BUDGET; i++) h.feed(Buffer.alloc(100, 0x40), false);
    assert.equal(h.flow.inspectBudget, 0);
  });

  it('a ClientHello whose second half never comes still gives the SNI at the end of the budget', () => {
    const h = harness();
    h.feed(quicInitial({ dcid, packetNumber: 0, cryptoFrames: [{ offset: 0, data: big.subarray(0, 1150) }], padTo: 1200 }));
    for (let i = 0; i < QUIC_PACKET_BUDGET && h.flow.inspectBudget > 0; i++) h.feed(Buffer.alloc(60, 0x41), false);
    assert.equal(h.flow.sni, 'big.example.net');
    assert.equal(h.flow.inspectBudget, 0);
  });

  it('CRYPTO offsets far beyond a ClientHello are dropped, not allocated', () => {
    const h = harness();
    h.feed(quicInitial({ dcid, cryptoFrames: [{ offset: 2 ** 40, data: Buffer.alloc(100, 1) }, { offset: 0, data: hello }], padTo: 1200 }));
    assert.equal(h.flow.sni, 'media.example.net');
  });
});
