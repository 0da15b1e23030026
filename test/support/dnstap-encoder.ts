/**
 * A dnstap sender for tests, written from the published schema (dnstap.proto, proto2) and the
 * Frame Streams protocol, independently of the decoder under test: protobuf fields are encoded
 * by number and wire type here, never by calling into src/dns.
 */
import * as net from 'node:net';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return Buffer.from(out);
}

/** Protobuf field key: (number << 3) | wire type. */
const key = (num: number, wire: number): Buffer => varint(num * 8 + wire);
const fieldVarint = (num: number, v: number): Buffer => Buffer.concat([key(num, 0), varint(v)]);
const fieldBytes = (num: number, b: Buffer): Buffer => Buffer.concat([key(num, 2), varint(b.length), b]);
function fieldFixed32(num: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return Buffer.concat([key(num, 5), b]);
}

export interface DnstapMessageSpec {
  /** dnstap Message.Type: 5 CLIENT_QUERY, 6 CLIENT_RESPONSE, 4 RESOLVER_RESPONSE, ... */
  type: number;
  socketFamily?: 1 | 2;
  socketProtocol?: number;
  queryAddress?: Buffer;
  responseAddress?: Buffer;
  queryPort?: number;
  responsePort?: number;
  queryTimeSec?: number;
  responseTimeSec?: number;
  responseTimeNsec?: number;
  queryMessage?: Buffer;
  responseMessage?: Buffer;
  identity?: string;
  version?: string;
  /** Field numbers the decoder must skip (unknown to it): appended as extra fields. */
  extraFields?: Buffer[];
}

/** A `Dnstap` message (type MESSAGE) wrapping one `Message`, fields in schema order. */
export function encodeDnstap(m: DnstapMessageSpec): Buffer {
  const msg: Buffer[] = [fieldVarint(1, m.type)];
  if (m.socketFamily !== undefined) msg.push(fieldVarint(2, m.socketFamily));
  if (m.socketProtocol !== undefined) msg.push(fieldVarint(3, m.socketProtocol));
  if (m.queryAddress) msg.push(fieldBytes(4, m.queryAddress));
  if (m.responseAddress) msg.push(fieldBytes(5, m.responseAddress));
  if (m.queryPort !== undefined) msg.push(fieldVarint(6, m.queryPort));
  if (m.responsePort !== undefined) msg.push(fieldVarint(7, m.responsePort));
  if (m.queryTimeSec !== undefined) msg.push(fieldVarint(8, m.queryTimeSec), fieldFixed32(9, 0));
  if (m.queryMessage) msg.push(fieldBytes(10, m.queryMessage));
  if (m.responseTimeSec !== undefined) msg.push(fieldVarint(12, m.responseTimeSec));
  if (m.responseTimeNsec !== undefined) msg.push(fieldFixed32(13, m.responseTimeNsec));
  if (m.responseMessage) msg.push(fieldBytes(14, m.responseMessage));
  msg.push(...(m.extraFields ?? []));
  const top: Buffer[] = [];
  if (m.identity !== undefined) top.push(fieldBytes(1, Buffer.from(m.identity)));
  if (m.version !== undefined) top.push(fieldBytes(2, Buffer.from(m.version)));
  top.push(fieldBytes(14, Buffer.concat(msg)), fieldVarint(15, 1));
  return Buffer.concat(top);
}

/** A 64-bit field (wire type 1), for the decoder's skip path. */
export function fixed64Field(num: number): Buffer {
  return Buffer.concat([key(num, 1), Buffer.alloc(8, 0xab)]);
}

/** Frame Streams control frame: 4 zero bytes (escape), length, type, content-type fields (1). */
export function controlFrame(type: number, contentTypes: string[] = []): Buffer {
  const fields = contentTypes.map((t) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(1, 0);
    h.writeUInt32BE(Buffer.byteLength(t), 4);
    return Buffer.concat([h, Buffer.from(t)]);
  });
  const body = Buffer.concat([Buffer.alloc(4), ...fields]);
  body.writeUInt32BE(type, 0);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

export function dataFrame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

export const READY = 4;
export const ACCEPT = 1;
export const START = 2;
export const STOP = 3;
export const FINISH = 5;

/**
 * Plays the sender's side of the bidirectional handshake over a unix socket: READY, wait for
 * ACCEPT, START, the frames (written in the given chunk sizes), STOP, wait for FINISH. Resolves
 * with every control type the receiver sent.
 */
export async function sendDnstap(socketPath: string, payloads: Buffer[], o: { chunk?: number; contentType?: string } = {}): Promise<number[]> {
  const socket = net.createConnection(socketPath);
  const received: number[] = [];
  let pending = Buffer.alloc(0);
  const waiters: Array<{ type: number; resolve: () => void }> = [];
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 12 && pending.readUInt32BE(0) === 0 && pending.length >= 8 + pending.readUInt32BE(4)) {
      const type = pending.readUInt32BE(8);
      pending = pending.subarray(8 + pending.readUInt32BE(4));
      received.push(type);
      for (const w of waiters.splice(0).filter((x) => x.type === type)) w.resolve();
    }
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const waitFor = (type: number): Promise<void> =>
    received.includes(type) ? Promise.resolve() : new Promise((resolve) => waiters.push({ type, resolve }));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const contentType = o.contentType ?? 'protobuf:dnstap.Dnstap';
  socket.write(controlFrame(READY, [contentType]));
  await Promise.race([waitFor(ACCEPT), closed]);
  if (!received.includes(ACCEPT)) return received;
  const stream = Buffer.concat([controlFrame(START, [contentType]), ...payloads.map(dataFrame), controlFrame(STOP)]);
  const size = o.chunk ?? stream.length;
  for (let off = 0; off < stream.length; off += size) socket.write(stream.subarray(off, off + size));
  await Promise.race([waitFor(FINISH), closed]);
  socket.end();
  await closed;
  return received;
}
