/** DeviceActivity, the sink behind /api/v1/devices: aggregation per device and its bounds. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowRecord } from '../src/flows/types';
import type { GeoInfo } from '../src/geo/types';
import type { VerdictKind } from '../src/policy/types';
import { DeviceActivity } from '../src/server/device-activity';

const T0 = Date.parse('2024-06-01T08:00:00Z') * 1000;

function geo(country: string | null, special = false): GeoInfo {
  return { country, registeredCountry: country, asn: null, asOrg: null, special };
}

function flow(o: Partial<FlowRecord> & { ip?: string; mac?: string | null; hostname?: string | null; at?: number } = {}): FlowRecord {
  const at = o.at ?? 0;
  return {
    proto: 'tcp',
    protocolNumber: 6,
    device: { ip: o.ip ?? '192.168.1.40', mac: o.mac === undefined ? '64:cc:2e:7b:40:05' : o.mac, hostname: o.hostname === undefined ? 'redmi-note' : o.hostname, group: 'phones' },
    localPort: 38000,
    remoteIp: '203.0.113.10',
    remotePort: 443,
    bothInternal: false,
    names: [],
    sni: null,
    httpHost: null,
    bytesOut: 100,
    bytesIn: 10,
    packetsOut: 1,
    packetsIn: 1,
    firstSeenUs: T0 + at * 1e6,
    lastSeenUs: T0 + (at + 1) * 1e6,
    endReason: 'fin',
    ...o,
  };
}

function feed(a: DeviceActivity, f: FlowRecord, g: GeoInfo, verdict: VerdictKind = 'allowed', reason = 'not listed'): void {
  a.onFlow({ flow: f, geo: g, verdict: { verdict, reason, policy: 'default' } });
}

describe('DeviceActivity', () => {
  it('sums bytes per device and country, lists names most recent first, and keeps the latest violation', () => {
    const a = new DeviceActivity();
    feed(a, flow({ at: 0, names: ['metrics.phone-vendor.example', 'edge7.telemetry.example'], sni: 'metrics.phone-vendor.example', bytesOut: 20_000, bytesIn: 1500 }), geo('CN'), 'violation', 'deny_countries: CN');
    feed(a, flow({ at: 5, remoteIp: '198.51.100.10', names: ['www.zeitung.example'], bytesOut: 300, bytesIn: 9000 }), geo('DE'));
    feed(a, flow({ at: 9, remoteIp: '203.0.113.20', remotePort: 80, httpHost: 'cn.example', bytesOut: 1, bytesIn: 1 }), geo('CN'), 'violation', 'deny_countries: CN');
    feed(a, flow({ at: 2, bothInternal: true, remoteIp: '192.168.1.1', remotePort: 53, bytesOut: 70, bytesIn: 90 }), geo(null, true), 'local');
    const [d, ...rest] = a.snapshot();
    assert.equal(rest.length, 0);
    assert.deepEqual(d, {
      ips: ['192.168.1.40'],
      mac: '64:cc:2e:7b:40:05',
      hostname: 'redmi-note',
      group: 'phones',
      first_seen: '2024-06-01T08:00:00.000Z',
      last_seen: '2024-06-01T08:00:10.000Z',
      flows: 4,
      violations: 2,
      bytes_up: 20_371,
      bytes_down: 10_591,
      countries: [
        { country: 'CN', bytes_up: 20_001, bytes_down: 1501, flows: 2 },
        { country: 'DE', bytes_up: 300, bytes_down: 9000, flows: 1 },
        { country: 'local', bytes_up: 70, bytes_down: 90, flows: 1 },
      ],
      names: ['cn.example', 'www.zeitung.example', 'metrics.phone-vendor.example', 'edge7.telemetry.example'],
      last_violation: { time: '2024-06-01T08:00:10.000Z', country: 'CN', remote: '203.0.113.20', remote_port: 80, name: 'cn.example', reason: 'deny_countries: CN' },
    });
  });

  it('treats a named MAC with IPv4 and IPv6 addresses as one device, adopting what was seen before the name', () => {
    const a = new DeviceActivity();
    feed(a, flow({ ip: '192.168.1.20', mac: 'b8:bc:5b:2c:20:02', hostname: null, at: 0 }), geo('US'));
    feed(a, flow({ ip: 'fd00:1::20', mac: 'b8:bc:5b:2c:20:02', hostname: 'livingroom-tv', at: 1 }), geo('US'));
    feed(a, flow({ ip: '192.168.1.20', mac: 'b8:bc:5b:2c:20:02', hostname: 'livingroom-tv', at: 2 }), geo('US'));
    // Unnamed devices stay per IP: a router behind one MAC hides many hosts.
    feed(a, flow({ ip: '192.168.1.77', mac: '02:00:00:00:00:99', hostname: null, at: 3 }), geo('US'));
    feed(a, flow({ ip: '192.168.1.78', mac: '02:00:00:00:00:99', hostname: null, at: 4 }), geo('US'));
    const devices = a.snapshot();
    assert.deepEqual(
      devices.map((d) => [d.hostname, d.ips, d.flows]),
      [
        [null, ['192.168.1.78'], 1],
        [null, ['192.168.1.77'], 1],
        ['livingroom-tv', ['192.168.1.20', 'fd00:1::20'], 3],
      ],
    );
  });

  it('stays bounded: least recently active devices, oldest names and addresses go first; extra countries become "other"', () => {
    const a = new DeviceActivity({ maxDevices: 2, maxNamesPerDevice: 2, maxCountriesPerDevice: 2, maxAddressesPerDevice: 1 });
    feed(a, flow({ hostname: 'a', at: 0, names: ['one.example', 'two.example', 'three.example'] }), geo('DE'));
    feed(a, flow({ hostname: 'a', at: 1 }), geo('FR'));
    feed(a, flow({ hostname: 'a', at: 2 }), geo('US'));
    feed(a, flow({ hostname: 'a', at: 3 }), geo('CN'));
    feed(a, flow({ hostname: 'a', at: 4, ip: 'fd00::40' }), geo('DE'));
    const [d] = a.snapshot();
    assert.deepEqual(d!.names, ['three.example', 'two.example']);
    assert.deepEqual(d!.ips, ['fd00::40']);
    assert.deepEqual(d!.countries.map((c) => [c.country, c.flows]), [['DE', 2], ['other', 2], ['FR', 1]]);

    feed(a, flow({ hostname: 'b', mac: '02:00:00:00:00:0b', at: 5 }), geo('DE'));
    feed(a, flow({ hostname: 'a', at: 6 }), geo('DE'));
    feed(a, flow({ hostname: 'c', mac: '02:00:00:00:00:0c', at: 7 }), geo('DE'));
    assert.equal(a.size, 2);
    assert.deepEqual(a.snapshot().map((x) => x.hostname), ['c', 'a'], 'b was the least recently active');
  });
});
