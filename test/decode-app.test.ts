import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { parseDhcp } from '../src/decode/dhcp';
import { decodeDnsMessage, splitTcpDnsMessages, svcbHints, type DnsMessage } from '../src/decode/dns-message';
import { parseHttpHost } from '../src/decode/http-request';
import { parseClientHelloSni, type SniResult } from '../src/decode/tls-client-hello';
import { NO_MAC } from '../src/decode/types';
import { parseMac, parseV4 } from '../src/net/address';
import * as P from './support/packets';

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

function sni(bytes: Buffer): SniResult {
  return parseClientHelloSni(bytes, 0, bytes.length);
}

/** Re-frames one ClientHello record as two handshake records split at `at` bytes of the body. */
function splitRecord(hello: Buffer, at: number): Buffer {
  const body = hello.subarray(5);
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 255]), b]);
  return Buffer.concat([rec(body.subarray(0, at)), rec(body.subarray(at))]);
}

/** Offset of the server_name extension's type field in a builder ClientHello. */
function sniExtOffset(hello: Buffer): number {
  let p = 5 + 4 + 2 + 32;
  p += 1 + hello[p]!;
  p += 2 + hello.readUInt16BE(p);
  p += 1 + hello[p]!;
  p += 2; // extensions length
  while (hello.readUInt16BE(p) !== 0) p += 4 + hello.readUInt16BE(p + 2);
  return p;
}

/** A ClientHello whose server_name extension is the last one, so every cut before it needs more. */
function helloWithSniLast(name: string): Buffer {
  const hello = P.tlsClientHello({ sni: name, alpn: ['h2', 'http/1.1'] });
  const at = sniExtOffset(hello);
  const extLen = 4 + hello.readUInt16BE(at + 2);
  const ext = Buffer.from(hello.subarray(at, at + extLen));
  return Buffer.concat([hello.subarray(0, at), hello.subarray(at + extLen), ext]);
}

describe('parseClientHelloSni', () => {
  it('returns the SNI, lowercased', () => {
    assert.deepEqual(sni(P.tlsClientHello({ sni: 'WWW.Example.ORG', alpn: ['h2'] })), { kind: 'sni', name: 'www.example.org' });
  });

  it('works at an offset inside a larger buffer (the frame)', () => {
    const hello = P.tlsClientHello({ sni: 'api.example.net' });
    const buf = Buffer.concat([Buffer.alloc(54, 0xff), hello, Buffer.alloc(10, 0xee)]);
    assert.deepEqual(parseClientHelloSni(buf, 54, hello.length), { kind: 'sni', name: 'api.example.net' });
  });

  it('no server_name extension: no-sni', () => {
    assert.deepEqual(sni(P.tlsClientHello({})), { kind: 'no-sni' });
  });

  it('a ClientHello without any extensions (TLS 1.0 style) is no-sni', () => {
    const body = Buffer.concat([Buffer.from([3, 1]), Buffer.alloc(32, 1), Buffer.from([0, 0, 2, 0, 0x2f, 1, 0])]);
    const hs = Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]);
    assert.deepEqual(sni(Buffer.concat([Buffer.from([22, 3, 1, 0, hs.length]), hs])), { kind: 'no-sni' });
  });

  it('not TLS: HTTP, SSH, application data, a ServerHello', () => {
    assert.equal(sni(Buffer.from('GET / HTTP/1.1\r\n')).kind, 'not-tls');
    assert.equal(sni(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')).kind, 'not-tls');
    assert.equal(sni(P.tlsApplicationData(100)).kind, 'not-tls');
    assert.equal(sni(P.tlsServerHello()).kind, 'not-tls');
    assert.equal(sni(Buffer.from([22, 2, 0, 0, 10])).kind, 'not-tls'); // record version 2.0
  });

  it('a ClientHello spanning two TLS records', () => {
    const hello = P.tlsClientHello({ sni: 'split.example.com', padTo: 600 });
    for (const at of [1, 3, 4, 50, 300, hello.length - 6]) {
      assert.deepEqual(sni(splitRecord(hello, at)), { kind: 'sni', name: 'split.example.com' }, `split at ${at}`);
    }
  });

  it('every cut of a single-record hello: need-more with the exact record size, until the SNI is there', () => {
    const hello = helloWithSniLast('late.example.com');
    for (let n = 0; n < hello.length; n++) {
      const r = parseClientHelloSni(hello, 0, n);
      assert.equal(r.kind, 'need-more', `cut at ${n}`);
      if (r.kind === 'need-more') {
        assert.ok(r.needed > n, `needed ${r.needed} > ${n}`);
        if (n >= 5) assert.equal(r.needed, hello.length);
      }
    }
    assert.deepEqual(sni(hello), { kind: 'sni', name: 'late.example.com' });
  });

  it('every cut of a two-record hello: need-more (never malformed), and `needed` converges', () => {
    const hello = splitRecord(helloWithSniLast('two.example.com'), 100);
    for (let n = 0; n < hello.length; n++) {
      const r = parseClientHelloSni(hello, 0, n);
      assert.equal(r.kind, 'need-more', `cut at ${n}`);
      if (r.kind === 'need-more') assert.ok(r.needed > n && r.needed <= hello.length, `cut at ${n}: needed ${r.needed}`);
    }
    // A caller that waits for `needed` bytes each time gets there.
    let have = 0;
    let r: SniResult = { kind: 'need-more', needed: 1 };
    for (let rounds = 0; r.kind === 'need-more' && rounds < 10; rounds++) {
      have = Math.min(hello.length, r.needed);
      r = parseClientHelloSni(hello, 0, have);
    }
    assert.deepEqual(r, { kind: 'sni', name: 'two.example.com' });
  });

  it('an SNI that is present before the end of a cut hello is returned early', () => {
    const hello = P.tlsClientHello({ sni: 'early.example.com', padTo: 1500 });
    const at = sniExtOffset(hello);
    assert.deepEqual(parseClientHelloSni(hello, 0, at + 9 + 'early.example.com'.length), { kind: 'sni', name: 'early.example.com' });
  });

  describe('lying lengths and bad names are malformed', () => {
    const name = 'lie.example.com';
    const base = P.tlsClientHello({ sni: name });
    const at = sniExtOffset(base);
    const mutate = (f: (b: Buffer) => void): SniResult => {
      const b = Buffer.from(base);
      f(b);
      return sni(b);
    };
    it('server_name extension length past the extensions block', () => {
      assert.equal(mutate((b) => b.writeUInt16BE(5000, at + 2)).kind, 'malformed');
    });
    it('server name list length not matching the extension', () => {
      assert.equal(mutate((b) => b.writeUInt16BE(b.readUInt16BE(at + 4) + 1, at + 4)).kind, 'malformed');
      assert.equal(mutate((b) => b.writeUInt16BE(b.readUInt16BE(at + 4) - 1, at + 4)).kind, 'malformed');
    });
    it('host name length past the list', () => {
      assert.equal(mutate((b) => b.writeUInt16BE(name.length + 1, at + 7)).kind, 'malformed');
    });
    it('extensions block length not filling the message', () => {
      assert.equal(mutate((b) => b.writeUInt16BE(b.readUInt16BE(at - 2) - 1, at - 2)).kind, 'malformed');
    });
    it('record length 0, record beyond 2^14, handshake length beyond any ClientHello', () => {
      assert.equal(mutate((b) => b.writeUInt16BE(0, 3)).kind, 'malformed');
      assert.equal(mutate((b) => b.writeUInt16BE(16385, 3)).kind, 'malformed');
      assert.equal(mutate((b) => b.writeUIntBE(0xffffff, 6, 3)).kind, 'malformed');
    });
    it('cipher suites length odd, session id longer than 32', () => {
      assert.equal(mutate((b) => (b[43] = 33)).kind, 'malformed');
      assert.equal(mutate((b) => b.writeUInt16BE(b.readUInt16BE(44 + 32) + 1, 44 + 32)).kind, 'malformed');
    });
    it('a handshake length shorter than the body it contains', () => {
      assert.equal(mutate((b) => b.writeUIntBE(b.readUIntBE(6, 3) - 10, 6, 3)).kind, 'malformed');
    });
    it('a second record of another content type in the middle of a split hello', () => {
      const split = splitRecord(base, 40);
      split[5 + 40] = 23;
      assert.equal(sni(split).kind, 'malformed');
    });
    it('invalid host names', () => {
      for (const bad of ['exa mple.com', 'a..b.com', 'trailing.dot.', '.lead.com', `${'a'.repeat(64)}.com`, 'caf\u00e9.com', 'x/y.com']) {
        const hostBytes = Buffer.from(bad, 'latin1');
        const h = P.tlsClientHello({ sni: 'p'.repeat(hostBytes.length) });
        const off = h.indexOf(Buffer.from('p'.repeat(hostBytes.length)));
        hostBytes.copy(h, off);
        assert.equal(sni(h).kind, 'malformed', bad);
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

function host(text: string): string | null | 'malformed' {
  const b = Buffer.from(text, 'latin1');
  return parseHttpHost(b, 0, b.length);
}

describe('parseHttpHost', () => {
  it('finds Host, strips the port, lowercases', () => {
    const req = P.httpRequest({ host: 'WWW.Example.com:8080', path: '/a?b=c' });
    assert.equal(parseHttpHost(req, 0, req.length), 'www.example.com');
  });

  it('accepts every known method', () => {
    for (const method of ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE']) {
      const req = P.httpRequest({ method, host: 'm.example.com' });
      assert.equal(parseHttpHost(req, 0, req.length), 'm.example.com', method);
    }
  });

  it('header name in any case, value with surrounding whitespace, bare LF line ends', () => {
    assert.equal(host('GET / HTTP/1.1\r\nuser-agent: x\r\nhOsT: \t Mixed.Example \t\r\n\r\n'), 'mixed.example');
    assert.equal(host('GET / HTTP/1.0\nHost: lf.example\n\n'), 'lf.example');
  });

  it('IPv6 literal and IPv4 literal hosts, trailing-dot FQDN', () => {
    assert.equal(host('GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8443\r\n\r\n'), '2001:db8::1');
    assert.equal(host('GET / HTTP/1.1\r\nHost: 192.0.2.7:80\r\n\r\n'), '192.0.2.7');
    assert.equal(host('GET / HTTP/1.1\r\nHost: fqdn.example.\r\n\r\n'), 'fqdn.example');
  });

  it('not HTTP/1.x requests: null', () => {
    assert.equal(host('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), null);
    assert.equal(host('get / HTTP/1.1\r\nHost: a\r\n\r\n'), null); // methods are case-sensitive (RFC 9110 §9.1)
    assert.equal(host('FOO / HTTP/1.1\r\nHost: a\r\n\r\n'), null);
    assert.equal(host('HTTP/1.1 200 OK\r\n\r\n'), null);
    assert.equal(host(''), null);
    assert.equal(parseHttpHost(P.tlsClientHello({ sni: 'x.example' }), 0, 100), null);
  });

  it('no Host, empty Host, or a Host line cut by the segment: null', () => {
    assert.equal(host('GET / HTTP/1.0\r\nAccept: */*\r\n\r\n'), null);
    assert.equal(host('GET / HTTP/1.1\r\nHost:\r\n\r\n'), null);
    assert.equal(host('GET / HTTP/1.1\r\nHost: cut.exam'), null);
    assert.equal(host('GET /very-long-url-continues'), null);
    assert.equal(host('GET / HTTP/1.1\r\n\r\nHost: body.example\r\n'), null); // after the header section
  });

  it('broken requests: malformed', () => {
    assert.equal(host('GET /\r\nHost: a\r\n\r\n'), 'malformed'); // HTTP/0.9-style, no version
    assert.equal(host('GET / HTTP/2\r\nHost: a\r\n\r\n'), 'malformed');
    assert.equal(host('GET  HTTP/1.1\r\nHost: a\r\n\r\n'), 'malformed'); // no request-target
    assert.equal(host('GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n'), 'malformed');
    assert.equal(host('GET / HTTP/1.1\r\nHost: bad host\r\n\r\n'), 'malformed');
    assert.equal(host('GET / HTTP/1.1\r\nHost: a.example:80x\r\n\r\n'), 'malformed');
    assert.equal(host('GET / HTTP/1.1\r\nHost: [zz::1]\r\n\r\n'), 'malformed');
    assert.equal(host('GET / HTTP/1.1\r\nHost: [::1\r\n\r\n'), 'malformed');
  });

  it('only looks inside [off, off+len)', () => {
    const b = Buffer.from('xxGET / HTTP/1.1\r\nHost: in.example\r\nHost: out.example\r\n', 'latin1');
    const inner = 'GET / HTTP/1.1\r\nHost: in.example\r\n'.length;
    assert.equal(parseHttpHost(b, 2, inner), 'in.example');
  });
});

// ---------------------------------------------------------------------------------------------
// DHCP
// ---------------------------------------------------------------------------------------------

/** A DHCP message with hand-written options after the cookie (no end option unless given). */
function dhcpWithOptions(options: number[]): Buffer {
  const base = P.dhcp({ messageType: 'discover', clientMac: '11:22:33:44:55:66' });
  return Buffer.concat([base.subarray(0, 240), Buffer.from(options)]);
}

describe('parseDhcp', () => {
  it('a request with host name and requested address', () => {
    const m = P.dhcp({ messageType: 'request', clientMac: 'a4:83:e7:12:34:56', xid: 0xdeadbeef, hostname: 'Alices-MacBook', requestedIp: '192.168.1.77' });
    assert.deepEqual(parseDhcp(m, 0, m.length), {
      op: 1,
      messageType: 3,
      clientMac: parseMac('a4:83:e7:12:34:56'),
      hostname: 'Alices-MacBook',
      requestedIp: parseV4('192.168.1.77'),
      yourIp: 0,
      clientIp: 0,
      xid: 0xdeadbeef,
    });
  });

  it('an ACK: op 2, yiaddr and ciaddr', () => {
    const m = P.dhcp({ messageType: 'ack', clientMac: '02:00:00:00:00:33', yiaddr: '10.1.2.3', ciaddr: '10.1.2.3', serverId: '10.1.0.1' });
    const r = parseDhcp(m, 0, m.length);
    assert.ok(r !== null && r !== 'malformed');
    assert.equal(r.op, 2);
    assert.equal(r.messageType, 5);
    assert.equal(r.yourIp, parseV4('10.1.2.3'));
    assert.equal(r.clientIp, parseV4('10.1.2.3'));
    assert.equal(r.hostname, null);
    assert.equal(r.requestedIp, null);
  });

  it('pad options, zero-length options, a NUL-terminated host name, no end option', () => {
    const r = parseDhcp(...args(dhcpWithOptions([0, 0, 53, 1, 1, 77, 0, 12, 0, 12, 5, 0x68, 0x6f, 0x73, 0x74, 0, 0])));
    assert.ok(r !== null && r !== 'malformed');
    assert.equal(r.messageType, 1);
    assert.equal(r.hostname, 'host');
  });

  it('stops at the end option; garbage after it is padding', () => {
    const r = parseDhcp(...args(dhcpWithOptions([53, 1, 2, 255, 12, 200, 1])));
    assert.ok(r !== null && r !== 'malformed');
    assert.equal(r.messageType, 2);
  });

  it('options running past the end, a missing length byte, bad fixed lengths: malformed', () => {
    assert.equal(parseDhcp(...args(dhcpWithOptions([53, 1, 1, 12, 10, 0x61, 0x62]))), 'malformed');
    assert.equal(parseDhcp(...args(dhcpWithOptions([53, 1, 1, 12]))), 'malformed');
    assert.equal(parseDhcp(...args(dhcpWithOptions([53, 2, 1, 1, 255]))), 'malformed');
    assert.equal(parseDhcp(...args(dhcpWithOptions([50, 3, 1, 2, 3, 255]))), 'malformed');
  });

  it('short BOOTP header or unknown op: malformed; no magic cookie (plain BOOTP): null', () => {
    const m = P.dhcp({ messageType: 'discover', clientMac: '02:00:00:00:00:01' });
    assert.equal(parseDhcp(m, 0, 235), 'malformed');
    const op3 = Buffer.from(m);
    op3[0] = 3;
    assert.equal(parseDhcp(...args(op3)), 'malformed');
    const bootp = Buffer.from(m);
    bootp.writeUInt32BE(0, 236);
    assert.equal(parseDhcp(...args(bootp)), null);
    assert.equal(parseDhcp(m, 0, 238), null);
  });

  it('non-Ethernet hardware: no client MAC', () => {
    const m = P.dhcp({ messageType: 'discover', clientMac: '02:00:00:00:00:01' });
    m[1] = 6; // IEEE 802
    m[2] = 8;
    const r = parseDhcp(...args(m));
    assert.ok(r !== null && r !== 'malformed');
    assert.equal(r.clientMac, NO_MAC);
  });
});

function args(b: Buffer): [Buffer, number, number] {
  return [b, 0, b.length];
}

// ---------------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------------

function dns(b: Buffer): DnsMessage | 'malformed' {
  return decodeDnsMessage(b, 0, b.length);
}

function msg(b: Buffer): DnsMessage {
  const r = dns(b);
  assert.notEqual(r, 'malformed');
  return r as DnsMessage;
}

/** Header (response, NOERROR) followed by raw bytes. */
function rawDns(counts: { qd?: number; an?: number; ns?: number; ar?: number; flags?: number }, body: number[]): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x4242, 0);
  h.writeUInt16BE(counts.flags ?? 0x8180, 2);
  h.writeUInt16BE(counts.qd ?? 0, 4);
  h.writeUInt16BE(counts.an ?? 0, 6);
  h.writeUInt16BE(counts.ns ?? 0, 8);
  h.writeUInt16BE(counts.ar ?? 0, 10);
  return Buffer.concat([h, Buffer.from(body)]);
}

const Q_A_EXAMPLE = [7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1]; // at offset 12
/** An A record for the name at offset 12 with the given RDATA. */
const aRecord = (rdata: number[], rdlen = rdata.length): number[] => [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, rdlen >> 8, rdlen & 255, ...rdata];

describe('decodeDnsMessage', () => {
  const chain = P.dnsResponse({
    id: 0x1234,
    question: { name: 'WWW.Example.COM', type: 'A' },
    answers: [
      { name: 'www.example.com', type: 'CNAME', ttl: 300, data: 'www.example.com.cdn.net' },
      { name: 'www.example.com.cdn.net', type: 'A', ttl: 20, data: '93.184.216.34' },
      { name: 'www.example.com.cdn.net', type: 'AAAA', ttl: 20, data: '2606:2800:220:1:248:1893:25c8:1946' },
    ],
  });

  it('a CNAME chain with A and AAAA answers', () => {
    assert.deepEqual(msg(chain), {
      id: 0x1234,
      isResponse: true,
      qname: 'www.example.com',
      qtype: 'A',
      rcode: 'NOERROR',
      answers: [
        { name: 'www.example.com', type: 'CNAME', data: 'www.example.com.cdn.net', ttl: 300 },
        { name: 'www.example.com.cdn.net', type: 'A', data: '93.184.216.34', ttl: 20 },
        { name: 'www.example.com.cdn.net', type: 'AAAA', data: '2606:2800:220:1:248:1893:25c8:1946', ttl: 20 },
      ],
    });
  });

  it('agrees with dns-packet on valid messages (names compared lowercase)', () => {
    for (const b of [chain, P.dnsQuery({ id: 9, name: 'q.example', type: 'AAAA' }), P.dnsResponse({ id: 1, question: { name: 'x.example', type: 'TXT' }, answers: [{ name: 'x.example', type: 'TXT', ttl: 5, data: 'v=spf1 -all' }] })]) {
      const ours = msg(b);
      const theirs = dnsPacket.decode(b);
      assert.equal(ours.id, theirs.id);
      assert.equal(ours.qname, theirs.questions?.[0]?.name.toLowerCase());
      assert.equal(ours.answers.length, theirs.answers?.length ?? 0);
      (theirs.answers ?? []).forEach((a, i) => {
        assert.equal(ours.answers[i]!.name, a.name.toLowerCase());
        assert.equal(ours.answers[i]!.type, a.type);
        if (a.type === 'A' || a.type === 'AAAA' || a.type === 'CNAME') assert.equal(ours.answers[i]!.data, String(a.data).toLowerCase());
      });
    }
  });

  it('a query: not a response, no answers', () => {
    const q = msg(P.dnsQuery({ id: 77, name: 'Query.Example', type: 'HTTPS' }));
    assert.equal(q.isResponse, false);
    assert.equal(q.qname, 'query.example');
    assert.equal(q.qtype, 'HTTPS');
    assert.deepEqual(q.answers, []);
  });

  it('NXDOMAIN, and no question at all', () => {
    assert.equal(msg(P.dnsResponse({ id: 2, question: { name: 'nope.example', type: 'A' }, answers: [], rcode: 'NXDOMAIN' })).rcode, 'NXDOMAIN');
    const none = msg(rawDns({}, []));
    assert.equal(none.qname, null);
    assert.equal(none.qtype, null);
  });

  it('HTTPS answers: priority, target and address hints; svcbHints() lists them', () => {
    const b = P.dnsResponse({
      id: 3,
      question: { name: 'svc.example', type: 'HTTPS' },
      answers: [
        { name: 'svc.example', type: 'HTTPS', ttl: 60, data: { priority: 1, target: '.', alpn: ['h3', 'h2'], ipv4hint: ['192.0.2.1', '192.0.2.2'], ipv6hint: ['2001:db8::1'] } },
        { name: 'svc.example', type: 'SVCB', ttl: 60, data: { priority: 0, target: 'Alias.Example.net' } },
      ],
    });
    const m = msg(b);
    assert.equal(m.answers[0]!.type, 'HTTPS');
    assert.equal(m.answers[0]!.data, '1 . ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1');
    assert.deepEqual(svcbHints(m.answers[0]!), ['192.0.2.1', '192.0.2.2', '2001:db8::1']);
    assert.equal(m.answers[1]!.data, '0 alias.example.net');
    assert.deepEqual(svcbHints(m.answers[1]!), []);
    assert.deepEqual(svcbHints({ name: 'a', type: 'A', data: '1.2.3.4', ttl: 1 }), []);
  });

  it('malformed HTTPS RDATA: keys out of order, bad hint length, compressed target', () => {
    const svcb = (rdata: number[]): Buffer =>
      rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, 0xc0, 12, 0, 65, 0, 1, 0, 0, 0, 60, 0, rdata.length, ...rdata]);
    assert.equal(msg(svcb([0, 1, 0, 0, 4, 0, 4, 1, 2, 3, 4])).answers[0]!.data, '1 . ipv4hint=1.2.3.4');
    assert.equal(dns(svcb([0, 1, 0, 0, 6, 0, 0, 0, 4, 0, 4, 1, 2, 3, 4])), 'malformed'); // 6 then 4
    assert.equal(dns(svcb([0, 1, 0, 0, 4, 0, 5, 1, 2, 3, 4, 5])), 'malformed');
    assert.equal(dns(svcb([0, 1, 0xc0, 12])), 'malformed');
    assert.equal(dns(svcb([0, 1, 0, 0, 4, 0, 8, 1, 2, 3, 4])), 'malformed'); // param past RDATA
  });

  it('other types get a short text form', () => {
    const b = P.dnsResponse({ id: 4, question: { name: 't.example', type: 'TXT' }, answers: [{ name: 't.example', type: 'TXT', ttl: 1, data: 'hello "world"' }] });
    assert.equal(msg(b).answers[0]!.data, '"hello \\"world\\""');
    const unknown = rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, 0xc0, 12, 0x12, 0x34, 0, 1, 0, 0, 0, 60, 0, 3, 0xab, 0xcd, 0xef]);
    assert.deepEqual(msg(unknown).answers[0], { name: 'example.com', type: 'TYPE4660', data: '\\# 3 abcdef', ttl: 60 });
    const mx = rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, 0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 7, 0, 10, 2, 0x6d, 0x78, 0xc0, 12]);
    assert.equal(msg(mx).answers[0]!.data, '10 mx.example.com');
  });

  it('escapes dots, backslashes and binary bytes inside labels, lowercases', () => {
    const b = rawDns({ qd: 1 }, [3, 0x41, 0x2e, 0x42, 2, 0x5c, 0x01, 3, ...Buffer.from('COM'), 0, 0, 1, 0, 1]);
    assert.equal(msg(b).qname, 'a\\.b.\\\\\\001.com');
  });

  it('TTLs with the top bit set count as 0 (RFC 2181 §8)', () => {
    const b = rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, 0xc0, 12, 0, 1, 0, 1, 0x80, 0, 0, 1, 0, 4, 1, 2, 3, 4]);
    assert.equal(msg(b).answers[0]!.ttl, 0);
  });

  it('extended RCODE from OPT (BADCOOKIE = 23, RFC 7873)', () => {
    const b = rawDns({ qd: 1, ar: 1, flags: 0x8187 }, [...Q_A_EXAMPLE, 0, 0, 41, 0x10, 0x00, 1, 0, 0, 0, 0, 0]);
    assert.equal(msg(b).rcode, 'BADCOOKIE');
  });

  it('answers survive a truncated additional section', () => {
    const b = rawDns({ qd: 1, an: 1, ar: 2 }, [...Q_A_EXAMPLE, ...aRecord([1, 2, 3, 4]), 0, 0, 41, 0x10]);
    assert.equal(msg(b).answers[0]!.data, '1.2.3.4');
  });

  it('UPDATE (opcode 5) messages yield no answers', () => {
    const b = rawDns({ qd: 1, an: 1, flags: 0xa800 }, [...Q_A_EXAMPLE, ...aRecord([1, 2, 3, 4])]);
    assert.deepEqual(msg(b).answers, []);
  });

  describe('hostile names and records', () => {
    it('dns-packet 5.6 itself rejects pointer loops (backward-only pointers) — verified', () => {
      assert.throws(() => dnsPacket.decode(rawDns({ qd: 1 }, [0xc0, 12, 0, 1, 0, 1])), /bad pointer/);
      assert.throws(() => dnsPacket.decode(rawDns({ qd: 1 }, [1, 0x61, 0xc0, 12, 0, 1, 0, 1])), /bad pointer/);
    });

    it('dns-packet 5.6 ignores RDLENGTH (why framing is ours): a 2-byte A record decodes without error', () => {
      const b = rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, ...aRecord([1, 2])]);
      assert.equal((dnsPacket.decode(b).answers?.[0] as { data?: unknown } | undefined)?.data, '1.2.undefined.undefined');
      assert.equal(dns(b), 'malformed');
    });

    it('pointer to itself, two-name loop, forward pointer: malformed', () => {
      assert.equal(dns(rawDns({ qd: 1 }, [0xc0, 12, 0, 1, 0, 1])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1 }, [1, 0x61, 0xc0, 12, 0, 1, 0, 1])), 'malformed');
      // answer name at 29 points to 31, which points back to 29: A -> B -> A
      assert.equal(dns(rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, 0xc0, 31, 0xc0, 29, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1 }, [0xc0, 20, 0, 1, 0, 1, 0, 0, 1, 0x61, 0])), 'malformed');
    });

    it('a long chain of backward pointers ends quickly (hop cap)', () => {
      // Question "a" at 12; answer 1 (unknown type) carries a chain of pointers in its RDATA,
      // each pointing at the previous one; answer 2's name enters the chain at its far end.
      const chainOf = (hops: number): Buffer => {
        const rdata: number[] = [];
        for (let i = 0; i < hops; i++) {
          const target = i === 0 ? 12 : 31 + 2 * (i - 1);
          rdata.push(0xc0 | (target >> 8), target & 255);
        }
        const last = 31 + 2 * (hops - 1);
        return rawDns({ qd: 1, an: 2 }, [
          1, 0x61, 0, 0, 1, 0, 1, // question at 12..18
          0xc0, 12, 0x12, 0x34, 0, 1, 0, 0, 0, 60, rdata.length >> 8, rdata.length & 255, ...rdata, // answer 1 at 19
          0xc0 | (last >> 8), last & 255, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4, // answer 2
        ]);
      };
      assert.equal(msg(chainOf(100)).answers[1]!.name, 'a');
      const t0 = process.hrtime.bigint();
      assert.equal(dns(chainOf(3000)), 'malformed');
      assert.ok(process.hrtime.bigint() - t0 < 50_000_000n);
    });

    it('label length past the end, names over 255 octets, extended label types', () => {
      assert.equal(dns(rawDns({ qd: 1 }, [20, 0x61, 0x62])), 'malformed');
      const long: number[] = [];
      for (let i = 0; i < 5; i++) long.push(63, ...Buffer.alloc(63, 0x61));
      assert.equal(dns(rawDns({ qd: 1 }, [...long, 0, 0, 1, 0, 1])), 'malformed');
      // 4 x 64 = 256 octets only when following a pointer to a 128-octet suffix
      const suffix: number[] = [];
      for (let i = 0; i < 2; i++) suffix.push(63, ...Buffer.alloc(63, 0x62));
      const q1 = [...suffix, 0, 0, 1, 0, 1]; // 129-octet name at 12
      const q2 = [63, ...Buffer.alloc(63, 0x63), 63, ...Buffer.alloc(63, 0x64), 0xc0, 12, 0, 1, 0, 1];
      assert.equal(dns(rawDns({ qd: 2 }, [...q1, ...q2])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1 }, [0x41, 0x61, 0, 0, 1, 0, 1])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1 }, [0x81, 0x61, 0, 0, 1, 0, 1])), 'malformed');
    });

    it('counts larger than the records present, RDATA past the end, A of 5 bytes, CNAME not filling its RDATA', () => {
      assert.equal(dns(rawDns({ qd: 2 }, Q_A_EXAMPLE)), 'malformed');
      assert.equal(dns(rawDns({ qd: 1, an: 0xffff }, [...Q_A_EXAMPLE, ...aRecord([1, 2, 3, 4])])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, ...aRecord([1, 2, 3, 4], 9)])), 'malformed');
      assert.equal(dns(rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, ...aRecord([1, 2, 3, 4, 5])])), 'malformed');
      const cname = [0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 4, 0xc0, 12, 0, 0];
      assert.equal(dns(rawDns({ qd: 1, an: 1 }, [...Q_A_EXAMPLE, ...cname])), 'malformed');
      assert.equal(dns(Buffer.alloc(11)), 'malformed');
    });

    it('every prefix of a valid response: no throw; complete answers needed', () => {
      for (let n = 0; n <= chain.length; n++) {
        const r = decodeDnsMessage(chain, 0, n);
        if (n < chain.length) assert.equal(r, 'malformed', `cut at ${n}`);
        else assert.notEqual(r, 'malformed');
      }
    });

    it('a snaplen-cut response (truncated = true) keeps the answers before the cut', () => {
      const full = msg(chain);
      const questionEnd = 12 + 17 + 4; // "www.example.com" + QTYPE/QCLASS
      for (let n = 0; n <= chain.length; n++) {
        const r = decodeDnsMessage(chain, 0, n, true);
        if (n < questionEnd) {
          assert.equal(r, 'malformed', `cut at ${n}`);
          continue;
        }
        assert.notEqual(r, 'malformed', `cut at ${n}`);
        const answers = (r as DnsMessage).answers;
        assert.deepEqual(answers, full.answers.slice(0, answers.length), `cut at ${n}`);
      }
      assert.equal((decodeDnsMessage(chain, 0, chain.length - 1, true) as DnsMessage).answers.length, 2);
    });
  });
});

describe('splitTcpDnsMessages', () => {
  const a = P.dnsQuery({ id: 1, name: 'a.example' });
  const b = P.dnsQuery({ id: 2, name: 'b.example', type: 'AAAA' });

  it('splits complete messages and leaves a partial one', () => {
    const stream = P.dnsOverTcp([a, b, a]);
    const cut = stream.length - 5;
    const r = splitTcpDnsMessages(stream, 0, cut);
    assert.deepEqual(r.messages, [
      [2, a.length],
      [4 + a.length, b.length],
    ]);
    assert.equal(r.consumed, 4 + a.length + b.length);
    for (const [o, l] of r.messages) assert.notEqual(decodeDnsMessage(stream, o, l), 'malformed');
    assert.equal((decodeDnsMessage(stream, r.messages[1]![0], r.messages[1]![1]) as DnsMessage).qname, 'b.example');
  });

  it('nothing complete: nothing consumed; zero-length messages are passed on (and are malformed)', () => {
    assert.deepEqual(splitTcpDnsMessages(Buffer.from([0]), 0, 1), { messages: [], consumed: 0 });
    assert.deepEqual(splitTcpDnsMessages(Buffer.from([0, 10, 1, 2]), 0, 4), { messages: [], consumed: 0 });
    const z = splitTcpDnsMessages(Buffer.from([0, 0]), 0, 2);
    assert.deepEqual(z, { messages: [[2, 0]], consumed: 2 });
    assert.equal(decodeDnsMessage(Buffer.from([0, 0]), 2, 0), 'malformed');
  });
});
