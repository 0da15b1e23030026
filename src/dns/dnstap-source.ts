/**
 * dnstap as a second DNS source, for gateways that run their own resolver (unbound, Knot
 * Resolver, CoreDNS, BIND): the resolver reports every answer it gives its clients, so names are
 * known even when its upstream is encrypted and nothing readable crosses the capture interface.
 *
 * Transport: Frame Streams (fstrm, https://github.com/farsightsec/fstrm, "Frame Streams
 * Protocol") over a unix socket this source listens on, bidirectional: the resolver connects and
 * sends READY with its content types, we ACCEPT "protobuf:dnstap.Dnstap", it sends START, then
 * data frames, and STOP, which we answer with FINISH. Each data frame is one protobuf `Dnstap`
 * message (dnstap.proto, https://dnstap.info); the few fields used here are decoded by hand.
 */
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import * as net from 'node:net';
import { setV4, type Words } from '../net/address';

export const DNSTAP_CONTENT_TYPE = 'protobuf:dnstap.Dnstap';

/** Frame Streams control frame types and the content-type field. */
export const FSTRM_CONTROL_ACCEPT = 0x01;
export const FSTRM_CONTROL_START = 0x02;
export const FSTRM_CONTROL_STOP = 0x03;
export const FSTRM_CONTROL_READY = 0x04;
export const FSTRM_CONTROL_FINISH = 0x05;
export const FSTRM_FIELD_CONTENT_TYPE = 0x01;
/** fstrm's FSTRM_CONTROL_FRAME_LENGTH_MAX. */
const MAX_CONTROL_FRAME = 512;
/** A DNS message is at most 65535 bytes; room for it, the query and the metadata. */
const MAX_DATA_FRAME = 256 * 1024;

/** dnstap.proto Message.Type values this source uses. */
export const DNSTAP_RESOLVER_RESPONSE = 4;
export const DNSTAP_CLIENT_RESPONSE = 6;
export const DNSTAP_FORWARDER_RESPONSE = 8;
/** dnstap.proto Dnstap.Type MESSAGE. */
const DNSTAP_TYPE_MESSAGE = 1;

/** The fields of a dnstap `Message` that Geowarden reads. Absent fields are null. */
export interface DnstapMessage {
  /** Message.Type (1 AUTH_QUERY ... 14 UPDATE_RESPONSE). */
  type: number;
  /** SocketProtocol: 1 UDP, 2 TCP, 3 DOT, 4 DOH, 7 DOQ. */
  socketProtocol: number | null;
  queryAddress: Buffer | null;
  responseAddress: Buffer | null;
  responseTimeSec: number | null;
  responseTimeNsec: number | null;
  responseMessage: Buffer | null;
  /** Dnstap.identity: the server's name for itself, if it sends one. */
  identity: Buffer | null;
}

// ---------------------------------------------------------------------------------------------
// Protobuf (https://protobuf.dev/programming-guides/encoding/): the subset dnstap needs.
// ---------------------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Walks the fields of one protobuf message; calls `field` with (number, wire type, value start, value end, varint). */
function walkFields(
  buf: Buffer,
  start: number,
  end: number,
  field: (num: number, wire: number, vStart: number, vEnd: number, varint: number) => void,
): boolean {
  let p = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= end) return -1;
      const b = buf[p++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return v;
    }
    return -1;
  };
  while (p < end) {
    const key = varint();
    if (key < 0) return false;
    const num = Math.floor(key / 8);
    const wire = key % 8;
    if (num === 0) return false;
    switch (wire) {
      case WIRE_VARINT: {
        const v = varint();
        if (v < 0) return false;
        field(num, wire, p, p, v);
        break;
      }
      case WIRE_I64:
        if (p + 8 > end) return false;
        field(num, wire, p, p + 8, 0);
        p += 8;
        break;
      case WIRE_LEN: {
        const n = varint();
        if (n < 0 || p + n > end) return false;
        field(num, wire, p, p + n, 0);
        p += n;
        break;
      }
      case WIRE_I32:
        if (p + 4 > end) return false;
        field(num, wire, p, p + 4, buf.readUInt32LE(p));
        p += 4;
        break;
      default:
        return false; // groups (3, 4) are not in dnstap.proto
    }
  }
  return true;
}

/**
 * Decodes a `Dnstap` protobuf message (dnstap.proto) carrying a `Message`; null when the bytes
 * are not one (malformed, or another payload type). Copies nothing: Buffers are views of `buf`.
 */
export function decodeDnstap(buf: Buffer, off = 0, len = buf.length - off): DnstapMessage | null {
  const end = Math.min(off + len, buf.length);
  let type = -1;
  let identity: Buffer | null = null;
  let msgStart = -1;
  let msgEnd = -1;
  const ok = walkFields(buf, off, end, (num, wire, s, e, v) => {
    if (num === 15 && wire === WIRE_VARINT) type = v; // Dnstap.type
    else if (num === 1 && wire === WIRE_LEN) identity = buf.subarray(s, e);
    else if (num === 14 && wire === WIRE_LEN) (msgStart = s), (msgEnd = e); // Dnstap.message
  });
  if (!ok || type !== DNSTAP_TYPE_MESSAGE || msgStart < 0) return null;
  const m: DnstapMessage = {
    type: -1,
    socketProtocol: null,
    queryAddress: null,
    responseAddress: null,
    responseTimeSec: null,
    responseTimeNsec: null,
    responseMessage: null,
    identity,
  };
  const okMessage = walkFields(buf, msgStart, msgEnd, (num, wire, s, e, v) => {
    if (wire === WIRE_VARINT) {
      if (num === 1) m.type = v;
      else if (num === 3) m.socketProtocol = v;
      else if (num === 12) m.responseTimeSec = v;
    } else if (wire === WIRE_LEN) {
      if (num === 4) m.queryAddress = buf.subarray(s, e);
      else if (num === 5) m.responseAddress = buf.subarray(s, e);
      else if (num === 14) m.responseMessage = buf.subarray(s, e);
    } else if (wire === WIRE_I32 && num === 13) m.responseTimeNsec = v;
  });
  return okMessage && m.type > 0 ? m : null;
}

/** 4 or 16 address bytes as address words; null for any other length. */
export function wordsFromBytes(b: Buffer | null): Words | null {
  if (!b) return null;
  const w = new Uint32Array(4);
  if (b.length === 4) setV4(w, b.readUInt32BE(0));
  else if (b.length === 16) for (let i = 0; i < 4; i++) w[i] = b.readUInt32BE(i * 4);
  else return null;
  return w;
}

// ---------------------------------------------------------------------------------------------
// Frame Streams
// ---------------------------------------------------------------------------------------------

/** A control frame: escape (4 zero bytes), length, type, then content-type fields. */
export function encodeControlFrame(type: number, contentTypes: readonly string[] = []): Buffer {
  const fields = contentTypes.map((t) => {
    const v = Buffer.from(t, 'utf8');
    const h = Buffer.alloc(8);
    h.writeUInt32BE(FSTRM_FIELD_CONTENT_TYPE, 0);
    h.writeUInt32BE(v.length, 4);
    return Buffer.concat([h, v]);
  });
  const body = Buffer.concat([Buffer.alloc(4), ...fields]);
  body.writeUInt32BE(type, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 4); // bytes 0-3: the zero escape
  return Buffer.concat([head, body]);
}

/** A data frame: 32-bit big-endian length, then the payload. */
export function encodeDataFrame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length, 0);
  return Buffer.concat([h, payload]);
}

export type FrameEvent =
  | { kind: 'control'; type: number; contentTypes: string[] }
  | { kind: 'data'; payload: Buffer };

/**
 * Splits a Frame Streams byte stream into frames as chunks arrive. Returns the complete frames;
 * 'malformed' when a length is out of bounds (the connection is then closed).
 */
export class FrameStreamReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): FrameEvent[] | 'malformed' {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const events: FrameEvent[] = [];
    let p = 0;
    for (;;) {
      if (buf.length - p < 4) break;
      const len = buf.readUInt32BE(p);
      if (len === 0) {
        if (buf.length - p < 8) break;
        const clen = buf.readUInt32BE(p + 4);
        if (clen < 4 || clen > MAX_CONTROL_FRAME) return 'malformed';
        if (buf.length - p < 8 + clen) break;
        const c = this.parseControl(buf, p + 8, p + 8 + clen);
        if (c === null) return 'malformed';
        events.push(c);
        p += 8 + clen;
      } else {
        if (len > MAX_DATA_FRAME) return 'malformed';
        if (buf.length - p < 4 + len) break;
        events.push({ kind: 'data', payload: buf.subarray(p + 4, p + 4 + len) });
        p += 4 + len;
      }
    }
    // Keep the incomplete tail; copy so the chunk's memory is not pinned by a small remainder.
    this.pending = p === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(p));
    return events;
  }

  private parseControl(buf: Buffer, start: number, end: number): FrameEvent | null {
    const type = buf.readUInt32BE(start);
    const contentTypes: string[] = [];
    let p = start + 4;
    while (p < end) {
      if (end - p < 8) return null;
      const fieldType = buf.readUInt32BE(p);
      const n = buf.readUInt32BE(p + 4);
      if (p + 8 + n > end) return null;
      if (fieldType === FSTRM_FIELD_CONTENT_TYPE) contentTypes.push(buf.toString('utf8', p + 8, p + 8 + n));
      p += 8 + n;
    }
    return { kind: 'control', type, contentTypes };
  }
}

// ---------------------------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------------------------

/** One DNS response reported by the resolver, ready for DnsObserver.observe. */
export interface DnstapResponse {
  /** Who asked: the LAN client for CLIENT_RESPONSE, the resolver itself for RESOLVER/FORWARDER_RESPONSE. */
  client: Words;
  /** Who answered; 0.0.0.0 when the resolver did not say. */
  server: Words;
  message: Buffer;
  timestampUs: number;
  messageType: number;
}

export interface DnstapSourceStats {
  connections: number;
  frames: number;
  responses: number;
  /** Frames that are not a dnstap message, and connections closed for a protocol error. */
  errors: number;
}

export interface DnstapSourceOptions {
  socketPath: string;
  onResponse: (r: DnstapResponse) => void;
  /** Resolvers connected at once (default 4): one per resolver process is normal. */
  maxConnections?: number;
  /** Clock for responses without a response time, in microseconds. */
  nowUs?: () => number;
  log?: (message: string) => void;
}

const ANY = new Uint32Array([0, 0, 0xffff, 0]);
const RESPONSE_TYPES = new Set([DNSTAP_CLIENT_RESPONSE, DNSTAP_RESOLVER_RESPONSE, DNSTAP_FORWARDER_RESPONSE]);

/**
 * Listens on a unix socket for dnstap senders (lifecycle: start, stop). Responses of type
 * CLIENT_RESPONSE, RESOLVER_RESPONSE and FORWARDER_RESPONSE go to `onResponse`; queries and the
 * rest are ignored.
 */
export class DnstapSource {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly counters: DnstapSourceStats = { connections: 0, frames: 0, responses: 0, errors: 0 };

  constructor(private readonly opts: DnstapSourceOptions) {}

  /** Listens on the socket path, replacing a stale socket file left by an earlier run. */
  start(): Promise<void> {
    const path = this.opts.socketPath;
    if (existsSync(path) && lstatSync(path).isSocket()) unlinkSync(path);
    const server = net.createServer((socket) => this.accept(socket));
    server.maxConnections = this.opts.maxConnections ?? 4;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.log?.(`dnstap socket ${path}: ${err.message}`));
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  stats(): DnstapSourceStats {
    return { ...this.counters };
  }

  private accept(socket: net.Socket): void {
    this.counters.connections++;
    this.sockets.add(socket);
    const reader = new FrameStreamReader();
    let started = false;
    const fail = (why: string): void => {
      this.counters.errors++;
      this.opts.log?.(`dnstap: closing a connection: ${why}`);
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      const events = reader.push(chunk);
      if (events === 'malformed') return fail('a frame length is out of bounds');
      for (const ev of events) {
        if (ev.kind === 'control') {
          if (ev.type === FSTRM_CONTROL_READY) {
            if (!ev.contentTypes.includes(DNSTAP_CONTENT_TYPE)) return fail(`no ${DNSTAP_CONTENT_TYPE} among the offered content types`);
            socket.write(encodeControlFrame(FSTRM_CONTROL_ACCEPT, [DNSTAP_CONTENT_TYPE]));
          } else if (ev.type === FSTRM_CONTROL_START) {
            if (ev.contentTypes.length > 0 && !ev.contentTypes.includes(DNSTAP_CONTENT_TYPE)) return fail('START with another content type');
            started = true;
          } else if (ev.type === FSTRM_CONTROL_STOP) {
            socket.end(encodeControlFrame(FSTRM_CONTROL_FINISH));
            return;
          }
        } else if (started) {
          this.counters.frames++;
          this.handleData(ev.payload);
        } else {
          return fail('a data frame before START');
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handleData(payload: Buffer): void {
    const m = decodeDnstap(payload);
    if (m === null) {
      this.counters.errors++;
      return;
    }
    if (!RESPONSE_TYPES.has(m.type) || m.responseMessage === null) return;
    const client = wordsFromBytes(m.queryAddress) ?? ANY;
    const server = wordsFromBytes(m.responseAddress) ?? ANY;
    const timestampUs =
      m.responseTimeSec !== null ? m.responseTimeSec * 1e6 + Math.floor((m.responseTimeNsec ?? 0) / 1000) : (this.opts.nowUs?.() ?? Date.now() * 1000);
    this.counters.responses++;
    this.opts.onResponse({ client, server, message: m.responseMessage, timestampUs, messageType: m.type });
  }
}
