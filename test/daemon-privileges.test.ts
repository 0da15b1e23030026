/**
 * Started as root with daemon.user set, the daemon opens the capture and then runs as that user
 * for good: the kernel's view (/proc/PID/status) shows the new ids and no capabilities, and
 * packets keep arriving through the capture opened before the switch.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildFixtureGeo } from './support/fixture-geo';
import { startDaemon } from './support/daemon-run';
import { DENIED_IP, DEVICE_IP, NetnsLab, netnsSkipReason, SERVICE_PORT, waitFor } from './support/netns-lab';

const skip = netnsSkipReason(['getent']);

/** The four ids of a "Uid:"/"Gid:" line (real, effective, saved, filesystem) and the effective capabilities. */
function procStatus(pid: number): { uid: number[]; gid: number[]; capEff: string; groups: number[] } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const ids = (name: string): number[] => field(name).split(/\s+/).filter(Boolean).map(Number);
  return { uid: ids('Uid'), gid: ids('Gid'), capEff: field('CapEff'), groups: ids('Groups') };
}

describe('geowarden run: dropping root after the capture is open', { skip: skip ?? false }, () => {
  const lab = new NetnsLab();
  let dir: string;

  before(async () => {
    dir = await lab.setUp('geowarden-privdrop-', { dns: false });
  });

  after(() => {
    lab.tearDown();
  });

  it('runs as nobody:nogroup with no capabilities, and still captures', async (t) => {
    const geo = buildFixtureGeo(path.join(dir, 'geo'));
    const config = path.join(dir, 'geowarden.yaml');
    writeFileSync(config, ['daemon:', '  user: nobody', '  group: nogroup', 'policy:', '  deny_countries: [CN]', ''].join('\n'));
    const daemon = await startDaemon(lab, [
      '--config', config,
      '--interface', lab.netIf,
      '--internal', '192.0.2.0/24',
      '--geoip-country', geo.countryDb,
      '--geoip-asn', geo.asnDb!,
    ]);
    const switched = await daemon.waitForLog('"switched to user"', (r) => r.msg === 'switched to user nobody');
    assert.deepEqual([switched.uid, switched.gid], [65534, 65534]);

    const status = procStatus(daemon.pid);
    assert.match(readFileSync(`/proc/${daemon.pid}/cmdline`, 'utf8'), /main\.js\0run\0/, 'the pid is the daemon itself');
    assert.deepEqual(status.uid, [65534, 65534, 65534, 65534]);
    assert.deepEqual(status.gid, [65534, 65534, 65534, 65534]);
    assert.equal(status.capEff, '0000000000000000', 'no capabilities left: the capture cannot be reopened');
    assert.ok(!status.groups.includes(0), `no root group among ${status.groups.join(',')}`);
    assert.ok(!daemon.logs().some((r) => /running as root/.test(r.msg)));

    // The capture opened as root keeps delivering packets to the unprivileged process.
    lab.client({ dns: '192.0.2.1', steps: [{ connect: DENIED_IP, port: SERVICE_PORT, send: 5000 }] });
    const metrics = await waitFor('the flow in /metrics', () => {
      const m = daemon.metrics();
      return m.sum('geowarden_violations_total', { device: DEVICE_IP, country: 'CN' }) === 1 ? m : null;
    }, 15_000);
    assert.ok(metrics.sum('geowarden_device_bytes_total', { device: DEVICE_IP, direction: 'out' }) >= 5000);
    assert.ok(metrics.sum('geowarden_capture_packets_received_total', { interface: lab.netIf }) > 0, 'pcap_stats still readable');
    assert.equal(daemon.get('/readyz').status, 200);

    const stopped = await daemon.stop('SIGTERM');
    assert.equal(stopped.code, 0);
    t.diagnostic(`exit 0 ${stopped.ms} ms after SIGTERM, as uid 65534`);
  });
});
