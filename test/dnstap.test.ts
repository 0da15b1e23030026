/**
 * dnstap as a second DNS source: the protobuf subset against frames from a test encoder written
 * from dnstap.proto, the Frame Streams handshake over a unix socket, answers reaching the DNS
 * cache for the right client, and a real unbound (Debian's is built with --enable-dnstap)
 * resolving local-data on loopback and reporting its answers to the source.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { newDecodeErrorCounts } from '../src/decode/types';
import { addressKeyOf, DnsAnswerCache } from '../src/dns/dns-answer-cache';
import { DnsObserver } from '../src/dns/dns-observer';
import { decodeDnstap, DnstapSource, FrameStreamReader, wordsFromBytes, type DnstapResponse } from '../src/dns/dnstap-source';
import type { DnsResponse } from '../src/dns/types';
import { parseAddress } from '../src/net/address';
import { addressBytes, dnsQuery, dnsResponse } from './support/packets';
import { ACCEPT, controlFrame, dataFrame, encodeDnstap, FINISH, fixed64Field, READY, sendDnstap, START } from './support/dnstap-encoder';

const CLIENT_QUERY = 5;
const CLIENT_RESPONSE = 6;
const RESOLVER_RESPONSE = 4;

const answer = dnsResponse({
  id: 0x4242,
  question: { name: 'video.example.com', type: 'A' },
  answers: [
    { name: 'video.example.com', type: 'CNAME', ttl: 300, data: 'edge.cdn.example' },
    { name: 'edge.cdn.example', type: 'A', ttl: 60, data: '203.0.113.7' },
  ],
});

function words(text: string): Uint32Array {
  const w = parseAddress(text);
  assert.ok(w, text);
  return w;
}

/** A source wired to a DnsObserver and its cache, as the daemon wires it. */
function wiredSource(socketPath: string) {
  const cache = new DnsAnswerCache({ maxEntries: 100, graceS: 0, minTtlS: 0 });
  const records: DnsResponse[] = [];
  const responses: DnstapResponse[] = [];
  const observer = new DnsObserver(cache, newDecodeErrorCounts(), (r) => records.push(r));
  const source = new DnstapSource({
    socketPath,
    onResponse: (r) => {
      responses.push(r);
      observer.observe(r.message, 0, r.message.length, r.client, r.server, 'dnstap', r.timestampUs);
    },
  });
  return { cache, records, responses, source };
}

describe('dnstap protobuf', () => {
  it('decodes type, addresses, response time and message, skipping fields it does not know', () => {
    const bytes = encodeDnstap({
      type: CLIENT_RESPONSE,
      socketFamily: 1,
      socketProtocol: 1,
      queryAddress: addressBytes('192.168.1.50'),
      responseAddress: addressBytes('192.168.1.1'),
      queryPort: 50123,
      responsePort: 53,
      queryTimeSec: 1_717_228_800,
      responseTimeSec: 1_717_228_801,
      responseTimeNsec: 250_000_000,
      queryMessage: dnsQuery({ id: 0x4242, name: 'video.example.com' }),
      responseMessage: answer,
      identity: 'gw-resolver',
      version: 'unbound 1.17.1',
      extraFields: [fixed64Field(99), Buffer.from([0xa8, 0x06, 0x01])], // field 99 (64-bit), field 101 (varint)
    });
    const m = decodeDnstap(bytes);
    assert.ok(m);
    assert.equal(m.type, CLIENT_RESPONSE);
    assert.equal(m.socketProtocol, 1);
    assert.deepEqual(m.queryAddress, addressBytes('192.168.1.50'));
    assert.deepEqual(m.responseAddress, addressBytes('192.168.1.1'));
    assert.equal(m.responseTimeSec, 1_717_228_801);
    assert.equal(m.responseTimeNsec, 250_000_000);
    assert.deepEqual(m.responseMessage, answer);
    assert.equal(m.identity?.toString(), 'gw-resolver');
    assert.deepEqual(wordsFromBytes(m.queryAddress), words('192.168.1.50'));
    assert.deepEqual(wordsFromBytes(addressBytes('2001:db8::53')), words('2001:db8::53'));
    assert.equal(wordsFromBytes(Buffer.alloc(5)), null);
  });

  it('rejects truncated bytes, groups, and payloads that are not a MESSAGE', () => {
    const good = encodeDnstap({ type: CLIENT_RESPONSE, responseMessage: answer });
    assert.equal(decodeDnstap(good.subarray(0, good.length - 1)), null);
    assert.equal(decodeDnstap(Buffer.concat([good, Buffer.from([0x0b])])), null, 'a start-group key (field 1, wire type 3)');
    assert.equal(decodeDnstap(good.subarray(0, good.length - 2)), null, 'no Dnstap.type');
    assert.equal(decodeDnstap(Buffer.from([0x78, 0x02])), null, 'type 2 is not MESSAGE');
    assert.equal(decodeDnstap(Buffer.alloc(0)), null);
  });
});

describe('Frame Streams reader', () => {
  it('gives the same frames however the stream is cut', () => {
    const stream = Buffer.concat([controlFrame(READY, ['protobuf:dnstap.Dnstap', 'x']), dataFrame(Buffer.from('one')), dataFrame(Buffer.alloc(300, 7)), controlFrame(3)]);
    for (const size of [1, 2, 3, 5, 7, 64, stream.length]) {
      const reader = new FrameStreamReader();
      const kinds: string[] = [];
      for (let off = 0; off < stream.length; off += size) {
        const events = reader.push(stream.subarray(off, off + size));
        assert.notEqual(events, 'malformed');
        for (const e of events as Exclude<typeof events, 'malformed'>) {
          kinds.push(e.kind === 'control' ? `control ${e.type} ${e.contentTypes.join('|')}` : `data ${e.payload.length}`);
        }
      }
      assert.deepEqual(kinds, ['control 4 protobuf:dnstap.Dnstap|x', 'data 3', 'data 300', 'control 3 '], `chunks of ${size}`);
    }
  });

  it('refuses control frames over 512 bytes and data frames over the limit', () => {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(513, 4);
    assert.equal(new FrameStreamReader().push(big), 'malformed');
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(16 * 1024 * 1024, 0);
    assert.equal(new FrameStreamReader().push(huge), 'malformed');
  });
});

describe('DnstapSource over a unix socket (test encoder)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-dnstap-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('handshake READY/ACCEPT, START, data, STOP/FINISH; responses reach the DNS cache for their client', async () => {
    const socketPath = path.join(dir, 'tap.sock');
    const w = wiredSource(socketPath);
    await w.source.start();
    try {
      const v6answer = dnsResponse({ id: 7, question: { name: 'printer.lan.example', type: 'AAAA' }, answers: [{ name: 'printer.lan.example', type: 'AAAA', ttl: 300, data: '2001:db8:5::99' }] });
      const control = await sendDnstap(
        socketPath,
        [
          encodeDnstap({ type: CLIENT_QUERY, queryAddress: addressBytes('192.168.1.50'), queryMessage: dnsQuery({ id: 0x4242, name: 'video.example.com' }) }),
          encodeDnstap({ type: CLIENT_RESPONSE, socketFamily: 1, queryAddress: addressBytes('192.168.1.50'), responseAddress: addressBytes('192.168.1.1'), responseTimeSec: 1_717_228_801, responseTimeNsec: 500_000, responseMessage: answer }),
          encodeDnstap({ type: CLIENT_RESPONSE, socketFamily: 2, queryAddress: addressBytes('fd00:1::20'), responseAddress: addressBytes('fd00:1::1'), responseTimeSec: 1_717_228_802, responseMessage: v6answer }),
          Buffer.from('not protobuf at all'),
        ],
        { chunk: 11 },
      );
      assert.deepEqual(control, [ACCEPT, FINISH]);
      assert.deepEqual(w.source.stats(), { connections: 1, frames: 4, responses: 2, errors: 1 });
      assert.equal(w.responses[0]!.timestampUs, 1_717_228_801_000_500);
      const found = w.cache.lookup(addressKeyOf(words('203.0.113.7')), addressKeyOf(words('192.168.1.50')), 1_717_228_801_000_500);
      assert.deepEqual(found, { names: ['video.example.com', 'edge.cdn.example'], sameClient: true });
      const found6 = w.cache.lookup(addressKeyOf(words('2001:db8:5::99')), addressKeyOf(words('fd00:1::20')), 1_717_228_802_000_000);
      assert.deepEqual(found6, { names: ['printer.lan.example'], sameClient: true });
      assert.deepEqual(
        w.records.map((r) => [r.transport, r.client, r.server, r.qname]),
        [
          ['dnstap', '192.168.1.50', '192.168.1.1', 'video.example.com'],
          ['dnstap', 'fd00:1::20', 'fd00:1::1', 'printer.lan.example'],
        ],
      );
    } finally {
      await w.source.stop();
    }
  });

  it('a resolver response without addresses is remembered for any client', async () => {
    const socketPath = path.join(dir, 'resolver.sock');
    const w = wiredSource(socketPath);
    await w.source.start();
    try {
      await sendDnstap(socketPath, [encodeDnstap({ type: RESOLVER_RESPONSE, responseTimeSec: 1_717_228_801, responseMessage: answer })]);
      const found = w.cache.lookup(addressKeyOf(words('203.0.113.7')), addressKeyOf(words('192.168.1.77')), 1_717_228_801_000_000);
      assert.deepEqual(found?.names, ['video.example.com', 'edge.cdn.example']);
    } finally {
      await w.source.stop();
    }
  });

  it('refuses another content type, and data before START; a stale socket file is replaced', async () => {
    const socketPath = path.join(dir, 'strict.sock');
    const first = wiredSource(socketPath);
    await first.source.start();
    await first.source.stop();
    const w = wiredSource(socketPath); // the file the first one left behind
    await w.source.start();
    try {
      assert.deepEqual(await sendDnstap(socketPath, [encodeDnstap({ type: CLIENT_RESPONSE, responseMessage: answer })], { contentType: 'protobuf:other.Thing' }), []);
      const early = await new Promise<boolean>((resolve) => {
        const s = net.createConnection(socketPath, () => s.write(Buffer.concat([controlFrame(READY, ['protobuf:dnstap.Dnstap']), dataFrame(encodeDnstap({ type: CLIENT_RESPONSE, responseMessage: answer })), controlFrame(START)])));
        s.on('data', () => {});
        s.on('close', () => resolve(true));
      });
      assert.ok(early, 'the connection was closed');
      assert.equal(w.source.stats().responses, 0);
      assert.equal(w.source.stats().errors, 2);
    } finally {
      await w.source.stop();
    }
  });
});

describe('dnstap from a real unbound', () => {
  let dir: string;
  let unbound: ChildProcess | null = null;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'geowarden-unbound-'));
  });
  after(async () => {
    if (unbound && unbound.exitCode === null) {
      unbound.kill('SIGTERM');
      await new Promise((r) => unbound!.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('unbound is built with dnstap', () => {
    const version = execFileSync('unbound', ['-V'], { encoding: 'utf8' });
    assert.match(version, /--enable-dnstap/);
  });

  it("answers local-data on loopback and reports each answer: the client's address and names reach the cache", async () => {
    const port = await freeUdpPort();
    const socketPath = path.join(dir, 'dnstap.sock');
    const conf = path.join(dir, 'unbound.conf');
    writeFileSync(
      conf,
      `server:
  interface: 127.0.0.1
  port: ${port}
  do-daemonize: no
  chroot: ""
  username: ""
  directory: "${dir}"
  pidfile: "${dir}/unbound.pid"
  use-syslog: no
  logfile: ""
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "lan.example." static
  local-data: "printer.lan.example. 300 IN A 192.0.2.55"
  local-data: "printer.lan.example. 300 IN AAAA 2001:db8:5::55"
remote-control:
  control-enable: no
dnstap:
  dnstap-enable: yes
  dnstap-bidirectional: yes
  dnstap-socket-path: "${socketPath}"
  dnstap-send-identity: yes
  dnstap-log-client-query-messages: yes
  dnstap-log-client-response-messages: yes
`,
    );
    const w = wiredSource(socketPath);
    await w.source.start();
    try {
      unbound = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      unbound.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await waitFor(() => w.source.stats().connections > 0, 10_000, () => `unbound never connected to the dnstap socket: ${stderr}`);
      for (const [id, type] of [[1, 'A'], [2, 'AAAA']] as const) {
        const reply = await query(port, dnsQuery({ id, name: 'printer.lan.example', type }));
        assert.equal(reply.readUInt16BE(0), id);
      }
      await waitFor(() => w.source.stats().responses >= 2, 10_000, () => `responses ${JSON.stringify(w.source.stats())}: ${stderr}`);
      const now = w.responses[0]!.timestampUs;
      assert.ok(Math.abs(now / 1000 - Date.now()) < 60_000, 'response times are unbound\'s wall clock');
      assert.deepEqual(
        w.records.map((r) => [r.transport, r.client, r.server, r.qname, r.qtype, r.answers.map((a) => a.data).join(',')]),
        [
          ['dnstap', '127.0.0.1', '127.0.0.1', 'printer.lan.example', 'A', '192.0.2.55'],
          ['dnstap', '127.0.0.1', '127.0.0.1', 'printer.lan.example', 'AAAA', '2001:db8:5::55'],
        ],
      );
      const found = w.cache.lookup(addressKeyOf(words('192.0.2.55')), addressKeyOf(words('127.0.0.1')), now);
      assert.deepEqual(found, { names: ['printer.lan.example'], sameClient: true });
      assert.equal(w.source.stats().errors, 0);
    } finally {
      unbound?.kill('SIGTERM');
      if (unbound && unbound.exitCode === null) await new Promise((r) => unbound!.once('exit', r));
      await w.source.stop();
    }
  });
});

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

async function query(port: number, message: Buffer): Promise<Buffer> {
  const s = createSocket('udp4');
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      const reply = await new Promise<Buffer | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 250);
        s.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        s.send(message, port, '127.0.0.1');
      });
      if (reply) return reply;
    }
    throw new Error(`no answer from unbound on 127.0.0.1:${port}`);
  } finally {
    s.close();
  }
}

async function waitFor(ok: () => boolean, ms: number, why: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(why());
    await new Promise((r) => setTimeout(r, 50));
  }
}
