import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainsFromAnswers, DnsAnswerCache } from '../src/dns/dns-answer-cache';
import type { DnsAnswer } from '../src/dns/types';
import { DeviceTable } from '../src/devices/device-table';

const S = 1_000_000;
const noHints = (): string[] => [];
const a = (name: string, type: string, data: string, ttl = 300): DnsAnswer => ({ name, type, data, ttl });

describe('chainsFromAnswers', () => {
  it('follows the CNAME chain from the query name to each address', () => {
    const facts = chainsFromAnswers(
      'Metrics.Vendor.example.',
      [a('metrics.vendor.example', 'CNAME', 'collect.cdn.example'), a('collect.cdn.example', 'CNAME', 'edge7.t.example'), a('edge7.t.example', 'A', '203.0.113.5', 60), a('edge7.t.example', 'A', '203.0.113.6', 60)],
      noHints,
    );
    assert.deepEqual(facts, [
      { address: '203.0.113.5', names: ['metrics.vendor.example', 'collect.cdn.example', 'edge7.t.example'], ttl: 60 },
      { address: '203.0.113.6', names: ['metrics.vendor.example', 'collect.cdn.example', 'edge7.t.example'], ttl: 60 },
    ]);
  });

  it('survives a CNAME loop and attributes records outside the chain to their owner', () => {
    const facts = chainsFromAnswers(
      'a.example',
      [a('a.example', 'CNAME', 'b.example'), a('b.example', 'CNAME', 'a.example'), a('other.example', 'AAAA', '2001:db8::1')],
      noHints,
    );
    assert.deepEqual(facts, [{ address: '2001:db8::1', names: ['other.example'], ttl: 300 }]);
  });

  it('takes addresses from HTTPS ipv4hint/ipv6hint', () => {
    const facts = chainsFromAnswers('svc.example', [a('svc.example', 'HTTPS', '1 . alpn=h2 ipv6hint=2001:db8::5')], (ans) =>
      ans.type === 'HTTPS' ? ['2001:db8::5'] : [],
    );
    assert.deepEqual(facts, [{ address: '2001:db8::5', names: ['svc.example'], ttl: 300 }]);
  });
});

describe('DnsAnswerCache', () => {
  const dev1 = 0xc0a8010a;
  const dev2 = 0xc0a8010b;
  const remote = 0xcb007105;

  it('prefers what the same client was told, else another client, and keeps TTL + grace', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 100, minTtlS: 0 });
    cache.remember(remote, dev1, ['mine.example'], 50, 0);
    cache.remember(remote, dev2, ['theirs.example'], 50, 1 * S);
    assert.deepEqual(cache.lookup(remote, dev1, 10 * S), { names: ['mine.example'], sameClient: true });
    assert.deepEqual(cache.lookup(remote, 0x01020304, 10 * S), { names: ['theirs.example'], sameClient: false });
    // dev1's answer lives 50 s TTL + 100 s grace from t=0.
    assert.deepEqual(cache.lookup(remote, dev1, 150 * S), { names: ['mine.example'], sameClient: true });
    assert.deepEqual(cache.lookup(remote, dev1, 150.5 * S), { names: ['theirs.example'], sameClient: false });
    assert.equal(cache.lookup(remote, dev1, 152 * S), null);
  });

  it('keeps short-TTL answers for at least min_ttl', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 0, minTtlS: 60 });
    cache.remember(remote, dev1, ['cdn.example'], 0, 0);
    assert.ok(cache.lookup(remote, dev1, 59 * S));
    assert.equal(cache.lookup(remote, dev1, 61 * S), null);
  });

  it('is bounded: the address refreshed least recently is evicted first', () => {
    const cache = new DnsAnswerCache({ maxEntries: 3, graceS: 3600, minTtlS: 0 });
    for (let i = 1; i <= 3; i++) cache.remember(i, dev1, [`n${i}.example`], 300, 0);
    cache.remember(1, dev1, ['n1.example'], 300, 1); // refresh 1
    cache.remember(4, dev1, ['n4.example'], 300, 2);
    assert.equal(cache.lookup(2, dev1, 3), null);
    assert.ok(cache.lookup(1, dev1, 3));
    for (let i = 0; i < 10_000; i++) cache.remember(1000 + i, dev1, ['flood.example'], 300, 5);
    const st = cache.stats();
    assert.equal(st.entries, 3);
    assert.equal(st.evictions, 10_001);
  });

  it('expire() drops answers past TTL + grace and counts them', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 10, minTtlS: 0 });
    cache.remember(1, dev1, ['a.example'], 10, 0);
    cache.remember(2, dev1, ['b.example'], 1000, 0);
    cache.expire(30 * S);
    const st = cache.stats();
    assert.equal(st.entries, 1);
    assert.equal(st.expirations, 1);
  });
});

describe('DnsAnswerCache internals that keep its garbage down', () => {
  const dev = (i: number): number => 0xc0a80100 + i;

  it('keeps four clients per address, the oldest going first, and answers the rest correctly', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 0, minTtlS: 0 });
    for (let i = 1; i <= 5; i++) cache.remember(0xcb007105, dev(i), [`c${i}.example`], 100 + i, 0);
    // Client 1 was told first and went when the fifth arrived; nobody else's answer is lost.
    assert.deepEqual(cache.lookup(0xcb007105, dev(1), 1), { names: ['c5.example'], sameClient: false });
    for (let i = 2; i <= 5; i++) assert.deepEqual(cache.lookup(0xcb007105, dev(i), 1), { names: [`c${i}.example`], sameClient: true });
    // A refresh of client 3 changes its names in place.
    cache.remember(0xcb007105, dev(3), ['c3-new.example'], 300, 2);
    assert.deepEqual(cache.lookup(0xcb007105, dev(3), 3), { names: ['c3-new.example'], sameClient: true });
  });

  it('shares one names array between the answers that repeat it', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 60, minTtlS: 0 });
    const chain = (): string[] => ['www.example', 'edge.cdn.example'];
    // The address records of one response, then another client told the same.
    cache.remember(1, dev(1), chain(), 60, 0);
    cache.remember(2, dev(1), chain(), 60, 0);
    cache.remember(1, dev(2), chain(), 60, 0);
    const a = cache.lookup(1, dev(1), 1)!.names;
    assert.deepEqual(a, ['www.example', 'edge.cdn.example']);
    assert.equal(cache.lookup(2, dev(1), 1)!.names, a);
    assert.equal(cache.lookup(1, dev(2), 1)!.names, a);
  });

  it('finds IPv4 keys and clients above 2^31 whether given signed or unsigned', () => {
    const cache = new DnsAnswerCache({ maxEntries: 10, graceS: 60, minTtlS: 0 });
    cache.remember(0xcb007105, 0xc0a8010a, ['high.example'], 60, 0);
    assert.deepEqual(cache.lookup(0xcb007105 | 0, 0xc0a8010a | 0, 1), { names: ['high.example'], sameClient: true });
    cache.remember(0x0a000001 | 0, -1, ['low.example'], 60, 0);
    assert.deepEqual(cache.lookup(0x0a000001, 0xffffffff, 1), { names: ['low.example'], sameClient: true });
    assert.equal(cache.stats().entries, 2);
  });

  it('expires single answers inside a list and reuses expired and evicted entries without mixing them up', () => {
    const cache = new DnsAnswerCache({ maxEntries: 3, graceS: 0, minTtlS: 0 });
    cache.remember(7, dev(1), ['short.example'], 10, 0);
    cache.remember(7, dev(2), ['long.example'], 1000, 0);
    cache.remember(7, dev(3), ['short2.example'], 10, 0);
    cache.expire(20 * S);
    assert.equal(cache.stats().expirations, 2);
    assert.deepEqual(cache.lookup(7, dev(1), 20 * S), { names: ['long.example'], sameClient: false });
    // Evictions and expiries hand their objects to new addresses: each must read as its own.
    for (let i = 100; i < 120; i++) {
      cache.remember(i, dev(i), [`n${i}.example`], 5, 30 * S);
      if (i % 5 === 0) cache.expire(40 * S);
    }
    cache.expire(35 * S);
    for (let i = 117; i < 120; i++) assert.deepEqual(cache.lookup(i, dev(i), 35 * S), { names: [`n${i}.example`], sameClient: true });
    assert.equal(cache.lookup(116, dev(116), 35 * S), null);
    assert.equal(cache.stats().entries, 3);
  });
});

describe('DeviceTable', () => {
  it('names devices from the inventory first, then DHCP, and follows DHCP learned later', () => {
    const t = new DeviceTable({ maxDevices: 10, inventory: [{ mac: 'aa:bb:cc:00:00:01', ip: null, name: 'printer', group: 'office' }] });
    const printer = t.touch('192.168.1.5', 0xaabbcc000001, 1);
    assert.equal(printer.hostname, 'printer');
    assert.equal(printer.group, 'office');
    t.learnDhcp({ clientMac: 0xaabbcc000001, hostname: 'HP-1234', ip: '192.168.1.5' });
    assert.equal(t.touch('192.168.1.5', 0xaabbcc000001, 2).hostname, 'printer');
    const phone = t.touch('192.168.1.40', 0x64cc2e7b4005, 3);
    assert.equal(phone.hostname, null);
    t.learnDhcp({ clientMac: 0x64cc2e7b4005, hostname: 'redmi-note', ip: '192.168.1.40' });
    assert.equal(t.touch('192.168.1.40', -1, 4).hostname, 'redmi-note');
    assert.equal(t.touch('192.168.1.40', -1, 4).mac, '64:cc:2e:7b:40:05');
  });

  it('is bounded with evictions counted', () => {
    const t = new DeviceTable({ maxDevices: 50, inventory: [] });
    for (let i = 0; i < 1000; i++) t.touch(`10.0.${i >> 8}.${i & 255}`, -1, i);
    assert.equal(t.stats().devices, 50);
    assert.equal(t.stats().evictions, 950);
  });

  it('evicts the device seen least recently, as a Map re-inserted on every touch would', () => {
    const t = new DeviceTable({ maxDevices: 20, inventory: [] });
    const reference = new Map<string, true>();
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      const ip = `10.1.0.${seed % 37}`;
      t.touch(ip, -1, i);
      reference.delete(ip);
      if (reference.size >= 20) reference.delete(reference.keys().next().value!);
      reference.set(ip, true);
      if (i % 97 === 0) assert.deepEqual(t.all().map((d) => d.ip), [...reference.keys()], `after touch ${i}`);
    }
    assert.deepEqual(t.all().map((d) => d.ip), [...reference.keys()]);
  });
});
