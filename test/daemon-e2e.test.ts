/**
 * `geowarden run` end to end with real components: a device namespace resolves names through a
 * real dnsmasq and opens TCP connections to addresses the fixture GeoIP database puts in Germany
 * (allowed) and China (denied); the daemon captures on the gateway side of the veth and the test
 * reads the result where an admin would: /metrics, /api/v1/devices, /readyz, the exit code.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFixtureGeo } from './support/fixture-geo';
import { DAEMON_URL, startDaemon } from './support/daemon-run';
import { ALLOWED_IP, DENIED_IP, DEVICE_IP, GATEWAY_IP, NetnsLab, netnsSkipReason, SERVICE_PORT, waitFor } from './support/netns-lab';
import { assertThroughPrometheus } from './support/prometheus-hook';

const skip = netnsSkipReason(['dnsmasq']);

describe('geowarden run, end to end', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir: string;

  before(async () => {
    dir = await lab.setUp('geowarden-e2e-');
  });

  after(() => {
    lab.tearDown();
  });

  it('counts the denied-country bytes and the violation of the device that sent them', async (t) => {
    const geo = buildFixtureGeo(path.join(dir, 'geo'));
    const daemon = await startDaemon(lab, [
      '--interface', lab.netIf,
      '--internal', '192.0.2.0/24',
      '--deny-countries', 'CN',
      '--geoip-country', geo.countryDb,
      '--geoip-asn', geo.asnDb!,
    ]);
    assert.equal(daemon.get('/readyz').status, 200, 'ready once the capture is open and the databases loaded');

    const report = lab.client({
      dns: GATEWAY_IP,
      steps: [
        { query: 'cdn.denied.example' },
        { query: 'allowed.example' },
        { connect: 'cdn.denied.example', port: SERVICE_PORT, send: 8192 },
        { connect: 'allowed.example', port: SERVICE_PORT, send: 4096 },
      ],
    });
    // dnsmasq answered as configured, and the peers answered: the traffic really happened.
    assert.deepEqual(report.answers['cdn.denied.example'], { rcode: 'NOERROR', addresses: [DENIED_IP], cnames: ['denied.example'] });
    assert.deepEqual(report.answers['allowed.example']?.addresses, [ALLOWED_IP]);
    assert.deepEqual(report.connections.map((c) => [c.address, c.sent, c.received]), [[DENIED_IP, 8192, 2048], [ALLOWED_IP, 4096, 2048]]);

    // Flows end on FIN plus a short linger; the one-second tick ends them on a now quiet link.
    const metrics = await waitFor('both flows in /metrics', () => {
      const m = daemon.metrics();
      return m.sum('geowarden_flows_total', { country: 'CN' }) >= 1 && m.sum('geowarden_flows_total', { country: 'DE' }) >= 1 ? m : null;
    }, 15_000);
    assert.equal(metrics.sum('geowarden_violations_total', { device: DEVICE_IP, country: 'CN' }), 1);
    assert.equal(metrics.sum('geowarden_violations_total', { country: 'DE' }), 0);
    // IP-layer bytes: the 8192 payload bytes plus IP and TCP headers, never less.
    const deniedOut = metrics.sum('geowarden_traffic_bytes_total', { direction: 'out', country: 'CN', verdict: 'violation' });
    assert.ok(deniedOut >= 8192 && deniedOut < 8192 + 2048, `CN bytes out ${deniedOut}`);
    const deniedIn = metrics.sum('geowarden_traffic_bytes_total', { direction: 'in', country: 'CN', verdict: 'violation' });
    assert.ok(deniedIn >= 2048 && deniedIn < 2048 + 1024, `CN bytes in ${deniedIn}`);
    assert.ok(metrics.sum('geowarden_traffic_bytes_total', { direction: 'out', country: 'DE', verdict: 'allowed' }) >= 4096);
    assert.ok(metrics.sum('geowarden_device_bytes_total', { device: DEVICE_IP, direction: 'out' }) >= 8192 + 4096);
    assert.ok(metrics.sum('geowarden_capture_packets_received_total', { interface: lab.netIf }) > 0, 'libpcap statistics per interface');
    assert.equal(metrics.sum('geowarden_capture_packets_dropped_total', { interface: lab.netIf }), 0);
    assert.ok(metrics.sum('geowarden_dns_responses_total', { rcode: 'NOERROR' }) >= 2, 'DNS answers decoded from the live capture');

    // The device API ties the violation to the name the device asked for, through the CNAME.
    const api = daemon.get('/api/v1/devices');
    assert.equal(api.status, 200);
    const { devices } = JSON.parse(api.body) as { devices: Array<{ ips: string[]; violations: number; names: string[]; last_violation: { country: string; remote: string; name: string | null } | null }> };
    const device = devices.find((d) => d.ips.includes(DEVICE_IP));
    assert.ok(device, `device ${DEVICE_IP} in ${api.body}`);
    assert.equal(device.violations, 1);
    assert.deepEqual(
      { country: device.last_violation?.country, remote: device.last_violation?.remote, name: device.last_violation?.name },
      { country: 'CN', remote: DENIED_IP, name: 'cdn.denied.example' },
    );
    assert.ok(device.names.includes('allowed.example'));

    const checked = await assertThroughPrometheus({
      lab,
      daemon,
      target: new URL(DAEMON_URL).host,
      workDir: dir,
      expected: { device: DEVICE_IP, deniedCountry: 'CN', allowedCountry: 'DE' },
    });
    t.diagnostic(checked ?? 'no real-Prometheus assertion yet (test/support/prometheus-hook.ts)');

    const stopped = await daemon.stop('SIGTERM');
    assert.deepEqual([stopped.code, stopped.signal], [0, null], daemon.stderr.text());
    assert.ok(stopped.ms < 5000, `exited ${stopped.ms} ms after SIGTERM`);
    t.diagnostic(`exit 0 ${stopped.ms} ms after SIGTERM`);
    const logs = daemon.logs();
    const final = logs.find((r) => r.msg === 'stopped');
    assert.ok(final, 'a final "stopped" line with the totals');
    assert.equal(final.violations, 1);
    assert.ok(logs.some((r) => r.level === 'warn' && /running as root/.test(r.msg)), 'root without daemon.user is allowed, with a warning');
    // The heap grows with the live tables, not V8's default factor of up to 4 (src/daemon/heap.ts).
    const heap = logs.find((r) => r.msg === 'started');
    assert.deepEqual([heap?.heap_growing_percent, heap?.heap_growing_from], [25, 'default'], JSON.stringify(heap));
    assert.ok(Number(heap?.heap_tables_full_mib) > 0 && Number(heap?.heap_ceiling_mib) > Number(heap?.heap_tables_full_mib));
    // Nothing but JSON on stderr: a log shipper can parse every line.
    assert.deepEqual(daemon.stderr.lines.filter((l) => l && !l.startsWith('{')), []);
  });
});
